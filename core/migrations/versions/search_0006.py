"""search (PostgreSQL): the index's total of tokens is kept, as its count of datasets is (2026-12-06).

bm25 needs the number of rows and their average length in tokens; on PostgreSQL every word search counted them
(``SELECT COUNT(*), SUM(ntok) FROM search_text``: 52–64 ms at 100,000 datasets, growing with the catalogue).
The count of datasets is already kept (search_doc_totals 'datasets', search_0002); the tokens are now kept in
search_text_totals ('tokens'; PostgreSQL only, like search_text), by the index in the same transaction as its
rows (server/search.py), and counted here once for an index already held. SQLite's FTS5 keeps both itself.

Revision ID: search_0006
Revises: search_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "search_0006"
down_revision = "search_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_table("search_text_totals", sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("n", sa.BigInteger, nullable=False))
        op.execute("INSERT INTO search_text_totals (key, n) SELECT 'tokens', COALESCE(SUM(ntok), 0) FROM search_text")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("search_text_totals")
