"""search: an index in the order of the newest datasets first, the order of the home page and of every browse
without words (2026-12-07).

The lists order by ``modified DESC NULLS LAST, n`` on PostgreSQL (``modified DESC, n`` on SQLite, where NULLs
sort last when descending). search_docs_modified (ascending) cannot give that order on PostgreSQL, so every
home page sorted all the datasets for its eight newest: 33 ms at 100,000 datasets, growing with the catalogue
(bench/RESULTS.md); with this index the eight are read from its first entries (0.07 ms).

Revision ID: search_0008
Revises: search_0007
"""

from alembic import op

revision = "search_0008"
down_revision = "search_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    nulls = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"CREATE INDEX IF NOT EXISTS search_docs_newest ON search_docs (modified DESC{nulls}, n)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS search_docs_newest")
