"""search (PostgreSQL): an inverted index with positions, search_postings, in place of the token arrays (2026-12-07).

Each row of search_text held its six columns' FTS5 tokens as arrays, found through a GIN index on their union;
every match was then checked and counted on the row (its arrays read, phrase by phrase): ~38 µs a matching row,
so a word in thousands of datasets cost 300–700 ms at 100,000 datasets (bench/RESULTS.md). Now, as FTS5 keeps
its own index: one row per token and dataset, ``search_postings(token, n, c0 … c5, pos)`` — how often the token
stands in each column, and where (``pos``: column × 100,000,000 + the token's place in the column, from 0).
A phrase of one token is read from the primary key alone (token, n, and the counts it includes); a phrase of
several is found by joining its tokens' rows on the dataset and their places one apart, in the same column.
search_text keeps each dataset's number of tokens (``ntok``, for bm25's lengths); its arrays, their GIN index
and the function that counted phrases in them go. The rows are made here from the arrays, in SQL.

Revision ID: search_0007
Revises: search_0006
"""

from alembic import op

revision = "search_0007"
down_revision = "search_0006"
branch_labels = None
depends_on = None

COLUMNS = ("title_t", "desc_t", "kw_t", "title_c", "desc_c", "kw_c")  # c0 … c5, in this order
PLACE = 100_000_000  # pos = column × PLACE + place (server/search.py POSTING_PLACE)
PHRASE_COUNT = """CREATE OR REPLACE FUNCTION wodp_phrase_count(arr text[], phrase text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN arr IS NULL OR phrase IS NULL OR cardinality(phrase) = 0 THEN 0
              WHEN cardinality(phrase) = 1 THEN cardinality(array_positions(arr, phrase[1]))
              ELSE (SELECT count(*)::integer FROM unnest(array_positions(arr, phrase[1])) AS i
                    WHERE arr[i:i + cardinality(phrase) - 1] = phrase) END $$"""  # search_0005's, for a downgrade


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE search_postings (token text NOT NULL, n integer NOT NULL, "
               + ", ".join(f"c{i} integer NOT NULL" for i in range(6)) + ", pos integer[] NOT NULL)")
    each = " UNION ALL ".join(f"SELECT {i} AS col, a.tok, a.i FROM unnest(t.{c}) WITH ORDINALITY AS a(tok, i)"
                              for i, c in enumerate(COLUMNS))
    counts = ", ".join(f"count(*) FILTER (WHERE u.col = {i})" for i in range(6))
    op.execute(f"INSERT INTO search_postings SELECT u.tok, t.n, {counts}, "
               f"array_agg(u.col * {PLACE} + u.i::integer - 1 ORDER BY u.col, u.i) "
               f"FROM search_text t CROSS JOIN LATERAL ({each}) u GROUP BY u.tok, t.n")
    op.execute("ALTER TABLE search_postings ADD CONSTRAINT search_postings_pkey PRIMARY KEY (token, n) "
               "INCLUDE (c0, c1, c2, c3, c4, c5)")
    op.execute("CREATE INDEX search_postings_n ON search_postings (n)")
    op.execute("ANALYZE search_postings")  # the planner's figures: a phrase's joins are planned from them
    op.execute("DROP INDEX IF EXISTS search_text_terms")
    for column in (*COLUMNS, "terms"):
        op.execute(f"ALTER TABLE search_text DROP COLUMN {column}")
    op.execute("DROP FUNCTION IF EXISTS wodp_phrase_count(text[], text[])")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in (*COLUMNS, "terms"):
        op.execute(f"ALTER TABLE search_text ADD COLUMN {column} text[] NOT NULL DEFAULT '{{}}'")
    for i, column in enumerate(COLUMNS):
        op.execute(f"UPDATE search_text t SET {column} = s.tokens FROM (SELECT p.n, array_agg(p.token ORDER BY x) "
                   f"AS tokens FROM search_postings p, unnest(p.pos) AS x WHERE x / {PLACE} = {i} GROUP BY p.n) s "
                   "WHERE s.n = t.n")
    op.execute("UPDATE search_text t SET terms = s.terms FROM (SELECT n, array_agg(token ORDER BY token) AS terms "
               "FROM search_postings GROUP BY n) s WHERE s.n = t.n")
    op.execute("CREATE INDEX search_text_terms ON search_text USING gin (terms)")
    op.execute(PHRASE_COUNT)
    op.execute("DROP TABLE search_postings")
