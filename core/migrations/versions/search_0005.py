"""search (PostgreSQL): a phrase's count in a token array looks only where its first token stands (2026-12-06).

``wodp_phrase_count(arr, phrase)`` counted a phrase by comparing a slice of the array at every position
(generate_series over the array's length), for every column of every matching row and every phrase of a query:
most of a word search's time on PostgreSQL (issue 13's search bench: p95 146 ms on the demo). It now takes the
positions of the phrase's first token (``array_positions``, in C) and compares the slice at those only; a phrase
of one token is the number of those positions. Same counts (tests/test_database.py compares bm25 with FTS5's).
SQLite has no such function: FTS5 counts phrases itself.

Revision ID: search_0005
Revises: search_0004
"""

from alembic import op

revision = "search_0005"
down_revision = "search_0004"
branch_labels = None
depends_on = None

PHRASE_COUNT = """CREATE OR REPLACE FUNCTION wodp_phrase_count(arr text[], phrase text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN arr IS NULL OR phrase IS NULL OR cardinality(phrase) = 0 THEN 0
              WHEN cardinality(phrase) = 1 THEN cardinality(array_positions(arr, phrase[1]))
              ELSE (SELECT count(*)::integer FROM unnest(array_positions(arr, phrase[1])) AS i
                    WHERE arr[i:i + cardinality(phrase) - 1] = phrase) END $$"""

BEFORE = """CREATE OR REPLACE FUNCTION wodp_phrase_count(arr text[], phrase text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT count(*)::integer FROM generate_series(1, COALESCE(array_length(arr, 1), 0)
                                                  - COALESCE(array_length(phrase, 1), 0) + 1) AS i
  WHERE arr[i:i + array_length(phrase, 1) - 1] = phrase $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PHRASE_COUNT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BEFORE)
