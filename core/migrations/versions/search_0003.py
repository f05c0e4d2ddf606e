"""search: each dataset's facet values as one kept combination (issue 11), for counting the facets of a word search.

A word search counts the facets of its matches. Joining every match to its rows of search_facets costs ~1.2 µs a
match in SQLite (120 ms for a word in 100,000 datasets); a dataset's whole set of facet values is one of few
combinations (a department, an open type, its themes and formats), so each dataset keeps the number of its
combination in a narrow table (search_doc_combos) and the search counts combinations (~0.2 µs a match), then
the facet values in Python from the combinations' values (search_combos.key: the JSON list of [facet, value]
pairs, sorted). The index writes them with its rows on both backends (server/search.py); an index already held
gets them here.

Revision ID: search_0003
Revises: search_0002
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "search_0003"
down_revision = "search_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("search_combos", sa.Column("combo", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("key", sa.Text, nullable=False, unique=True))
    op.create_table("search_doc_combos", sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("combo", sa.Integer, nullable=False))
    bind = op.get_bind()
    values: dict[int, list] = {}
    for n, facet, value in bind.execute(sa.text("SELECT n, facet, value FROM search_facets")):
        values.setdefault(n, []).append([facet, value])
    for (n,) in bind.execute(sa.text("SELECT n FROM search_docs")):
        values.setdefault(n, [])
    combos: dict[str, int] = {}
    rows = []
    for n, pairs in values.items():
        key = json.dumps(sorted(pairs), ensure_ascii=False)
        rows.append({"n": n, "c": combos.setdefault(key, len(combos) + 1)})
    if combos:
        bind.execute(sa.text("INSERT INTO search_combos (combo, key) VALUES (:c, :k)"),
                     [{"c": c, "k": k} for k, c in combos.items()])
    if rows:
        bind.execute(sa.text("INSERT INTO search_doc_combos (n, combo) VALUES (:n, :c)"), rows)


def downgrade() -> None:
    for table in ("search_doc_combos", "search_combos"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
