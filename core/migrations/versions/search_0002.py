"""search: kept counts (issue 11): facet values, pairs of facet values on one dataset, the home page's totals.

A request reads these instead of counting the catalogue. On SQLite triggers keep them with the rows they count,
in the same transaction: an insert or delete of a search_facets row counts its value and its pairs with the
dataset's other values (rows are written and deleted one at a time, so each pair is counted once and taken out
once). A rebuild pauses them (the row ``search_meta.bulk``, written and removed inside its own transaction) and
counts once after its rows. On PostgreSQL the index counts in Python in the same transaction (server/search.py).
An index already held is counted once here.

Revision ID: search_0002
Revises: search_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "search_0002"
down_revision = "search_0001"
branch_labels = None
depends_on = None

# the rows a recount puts in each kept table (also server/search.py's RECOUNT: keep them alike)
RECOUNT = {
    "search_facet_totals": "SELECT facet, value, COUNT(*) FROM search_facets GROUP BY facet, value",
    "search_facet_pairs": "SELECT a.facet, a.value, b.facet, b.value, COUNT(*) FROM search_facets a "
                          "JOIN search_facets b ON b.n = a.n AND NOT (a.facet = b.facet AND a.value = b.value) "
                          "GROUP BY a.facet, a.value, b.facet, b.value",
    "search_doc_totals": "SELECT 'datasets', COUNT(*) FROM search_docs UNION ALL "
                         "SELECT 'spatial', COALESCE(SUM(spatial), 0) FROM search_docs UNION ALL "
                         "SELECT 'distributions', COALESCE(SUM(distributions), 0) FROM search_docs UNION ALL "
                         "SELECT 'downloadable', COALESCE(SUM(CASE WHEN downloadable > 0 THEN 1 ELSE 0 END), 0) "
                         "FROM search_docs",
}
COUNTING = "WHEN NOT EXISTS (SELECT 1 FROM search_meta WHERE key = 'bulk')"
TRIGGERS = [
    f"""CREATE TRIGGER search_facets_counted AFTER INSERT ON search_facets {COUNTING} BEGIN
      INSERT INTO search_facet_totals VALUES (new.facet, new.value, 1) ON CONFLICT DO UPDATE SET n = n + 1;
      INSERT INTO search_facet_pairs SELECT new.facet, new.value, f.facet, f.value, 1 FROM search_facets f
        WHERE f.n = new.n AND NOT (f.facet = new.facet AND f.value = new.value) ON CONFLICT DO UPDATE SET n = n + 1;
      INSERT INTO search_facet_pairs SELECT f.facet, f.value, new.facet, new.value, 1 FROM search_facets f
        WHERE f.n = new.n AND NOT (f.facet = new.facet AND f.value = new.value) ON CONFLICT DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER search_facets_uncounted AFTER DELETE ON search_facets {COUNTING} BEGIN
      UPDATE search_facet_totals SET n = n - 1 WHERE facet = old.facet AND value = old.value;
      UPDATE search_facet_pairs SET n = n - 1 WHERE facet = old.facet AND value = old.value
        AND (other, other_value) IN (SELECT facet, value FROM search_facets WHERE n = old.n);
      UPDATE search_facet_pairs SET n = n - 1
        WHERE (facet, value) IN (SELECT facet, value FROM search_facets WHERE n = old.n)
        AND other = old.facet AND other_value = old.value;
    END""",
    f"""CREATE TRIGGER search_docs_counted AFTER INSERT ON search_docs {COUNTING} BEGIN
      INSERT INTO search_doc_totals VALUES ('datasets', 1), ('spatial', new.spatial),
        ('distributions', new.distributions), ('downloadable', new.downloadable > 0)
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    END""",
    f"""CREATE TRIGGER search_docs_uncounted AFTER DELETE ON search_docs {COUNTING} BEGIN
      INSERT INTO search_doc_totals VALUES ('datasets', -1), ('spatial', -old.spatial),
        ('distributions', -old.distributions), ('downloadable', -(old.downloadable > 0))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    END""",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table("search_facet_totals", sa.Column("facet", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, primary_key=True), sa.Column("n", sa.BigInteger, nullable=False),
                    sqlite_with_rowid=False)
    op.create_table("search_facet_pairs", sa.Column("facet", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, primary_key=True), sa.Column("other", sa.Text, primary_key=True),
                    sa.Column("other_value", sa.Text, primary_key=True),
                    sa.Column("n", sa.BigInteger, nullable=False), sqlite_with_rowid=False)
    op.create_table("search_doc_totals", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("n", sa.BigInteger, nullable=False), sqlite_with_rowid=False)
    for table, rows in RECOUNT.items():  # an index already held: counted once, kept from now on
        op.execute(f"INSERT INTO {table} {rows}")
    if sqlite:
        for sql in TRIGGERS:
            op.execute(sql)


def downgrade() -> None:
    for trigger in ("search_facets_counted", "search_facets_uncounted", "search_docs_counted",
                    "search_docs_uncounted"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in RECOUNT:
        op.execute(f"DROP TABLE IF EXISTS {table}")
