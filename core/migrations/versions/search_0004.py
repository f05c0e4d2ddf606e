"""search: the home page's "downloadable" total counts only data the public may download (fixed 2026-12-06).

A dataset whose data is restricted (有条件开放 / 不予开放: access.policy.RESTRICTED) offers no download to the
public, so the index keeps 0 download links for it (server/search.py _public_downloads) and the kept total
(search_doc_totals) no longer counts it. An index already held: its restricted rows (by their open type) are set to
0 here and the home page's totals counted once again. A dataset restricted only by dct:accessRights (no
wodp:openType) is not known to the index's columns: it is set right when the index is rebuilt or the dataset
changes.

Revision ID: search_0004
Revises: search_0003
"""

from alembic import op

revision = "search_0004"
down_revision = "search_0003"
branch_labels = None
depends_on = None

# the same rows as server/search_query.py's RECOUNT["search_doc_totals"] (kept alike)
DOC_TOTALS = ("SELECT 'datasets', COUNT(*) FROM search_docs UNION ALL "
              "SELECT 'spatial', COALESCE(SUM(spatial), 0) FROM search_docs UNION ALL "
              "SELECT 'distributions', COALESCE(SUM(distributions), 0) FROM search_docs UNION ALL "
              "SELECT 'downloadable', COALESCE(SUM(CASE WHEN downloadable > 0 THEN 1 ELSE 0 END), 0) "
              "FROM search_docs")


def upgrade() -> None:
    op.execute("UPDATE search_docs SET downloadable = 0 WHERE open_type IN ('conditional', 'closed')")
    op.execute("DELETE FROM search_doc_totals")
    op.execute(f"INSERT INTO search_doc_totals (key, n) {DOC_TOTALS}")


def downgrade() -> None:
    """The download links of restricted rows are not kept: a rebuild of the index (search.rebuild) restores them."""
