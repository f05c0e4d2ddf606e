"""search: the portal's full-text index (FTS5 on SQLite; token arrays on PostgreSQL), rebuilt from the store.

The index is derived: an old search.sqlite's tables are dropped, and the index is rebuilt at start-up.

Revision ID: search_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import has_table

revision = "search_0001"
down_revision = None
branch_labels = ("search",)
depends_on = None

TOKEN_COLUMNS = ("title_t", "desc_t", "kw_t", "title_c", "desc_c", "kw_c")
PHRASE_COUNT = """CREATE OR REPLACE FUNCTION wodp_phrase_count(arr text[], phrase text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT count(*)::integer FROM generate_series(1, COALESCE(array_length(arr, 1), 0)
                                                  - COALESCE(array_length(phrase, 1), 0) + 1) AS i
  WHERE arr[i:i + array_length(phrase, 1) - 1] = phrase $$"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for old in ("fts", "docs", "facets", "labels", "meta"):  # an index made before the data layer
            if has_table(old):
                op.execute(f"DROP TABLE {old}")
    op.create_table("search_meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "search_docs", sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("uri", sa.Text, nullable=False, unique=True), sa.Column("id", sa.Text, nullable=False),
        *[sa.Column(c, sa.Text) for c in ("title_zh", "title_en", "desc_zh", "desc_en", "department",
                                          "open_type", "modified", "issued")],
        *[sa.Column(c, sa.Integer, nullable=False) for c in ("spatial", "distributions", "downloadable")],
        sa.Column("themes", sa.Text, nullable=False), sa.Column("formats", sa.Text, nullable=False))
    op.create_index("search_docs_modified", "search_docs", ["modified"])
    op.create_table("search_facets", sa.Column("facet", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, primary_key=True), sa.Column("n", sa.Integer, primary_key=True),
                    sqlite_with_rowid=False)
    op.create_index("search_facets_n", "search_facets", ["n"])
    op.create_table("search_labels", sa.Column("kind", sa.Text, primary_key=True),
                    sa.Column("code", sa.Text, primary_key=True), sa.Column("lang", sa.Text, primary_key=True),
                    sa.Column("label", sa.Text, nullable=False), sqlite_with_rowid=False)
    if sqlite:
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(title, description, keywords, title_c, "
                   "description_c, keywords_c, tokenize='porter unicode61 remove_diacritics 2')")
        return
    # PostgreSQL: the same tokens as FTS5 makes (server/search_tokens.py), one array per column
    op.create_table("search_text", sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
                    *[sa.Column(c, sa.ARRAY(sa.Text), nullable=False) for c in TOKEN_COLUMNS],
                    sa.Column("terms", sa.ARRAY(sa.Text), nullable=False),
                    sa.Column("ntok", sa.Integer, nullable=False))
    op.create_index("search_text_terms", "search_text", ["terms"], postgresql_using="gin")
    op.execute(PHRASE_COUNT)


def downgrade() -> None:
    for table in ("search_fts", "search_text", "search_labels", "search_facets", "search_docs", "search_meta"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
