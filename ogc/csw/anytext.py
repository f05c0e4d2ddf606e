"""An index for ``csw:AnyText``: the character pairs of each record's text, to pick the candidates of a LIKE.

pycsw 2.6.2 answers ``csw:AnyText like '%交通%'`` with ``anytext LIKE '%交通%'`` on SQLite and ``ILIKE`` on
PostgreSQL (databases.py says why not its English full-text search): a read of every record's text, 0.5–0.9 s
at 100,000 records. Trigram indexes (SQLite FTS5's, pg_trgm) cannot help: a Chinese word is mostly two
characters, and a two-character pattern has no trigram to look up. So each record also keeps the codes of the
adjacent character pairs of its text, lower-cased: on PostgreSQL in a column ``anytext_grams`` with a GIN index,
on SQLite in an FTS5 table (one term per pair); and the filter pycsw built gets a necessary condition beside it:

    (anytext ILIKE :pvalue0 AND anytext_grams @> '{…pairs of 交通运输…}')

A record whose text contains the pattern's fixed parts holds their pairs, so the index keeps every match and the
LIKE still decides: the answer is the scan's, read from the records that hold the pairs. Two codes can share a
value (pairs outside the Basic Multilingual Plane): more candidates, never fewer. A word of two characters
without case (交通, 统计, 20) is its pair exactly: it is answered from the pairs alone, no text read.

The condition is added only where its folding of case is surely the database's: every character of the pattern
is ASCII or has no case (Chinese, digits, punctuation). A pattern with another cased letter (É, Σ, Ａ), with an
escape, or without two fixed characters side by side, is answered by the scan, as before. On PostgreSQL so is a
word whose every pair is in more than a quarter of the records (its statistics say so: "data", 统计 in the
demo): reading that many candidates through the index costs more than reading every text once.

Nothing is imported here: ``service`` uses it inside pycsw's own environment, ``repository`` in ours.
"""

from __future__ import annotations

import re
from typing import Callable

COLUMN = "anytext_grams"
FILTER = re.compile(r"\banytext ilike :(pvalue\d+)")  # what pycsw writes on PostgreSQL
SQLITE_FILTER = re.compile(r"\banytext like :(pvalue\d+)")  # and on SQLite (LIKE: ASCII case folded, as ILIKE)
# above this share of the records among the candidates, the index is slower than the scan (measured at 100,300
# records, bench/csw_postgres.py: on PostgreSQL a candidate's pairs are read from TOAST; SQLite reads its row)
UNSELECTIVE = {"postgresql": 0.25, "sqlite": 0.5}


def index_name(table: str) -> str:
    return f"{table}_{COLUMN}_idx"


def _folded(text: str) -> str:
    """text with each character lower-cased to one character (the first of its lower case: İ → i)."""
    low = text.lower()
    if len(low) == len(text):  # lower() never shortens: the same length means one character for one
        return low
    return "".join(c.lower()[0] for c in text)


def gram_codes(text: str) -> list[int]:
    """The sorted codes of the distinct adjacent character pairs of text, lower-cased (what a row keeps): the two
    code points side by side in 32 bits (exact within the BMP), as a signed PostgreSQL integer."""
    points = list(map(ord, _folded(text or "")))
    codes = {(a << 16 | b) & 0xFFFFFFFF for a, b in zip(points, points[1:])}
    return sorted(c - (1 << 32) if c >= 1 << 31 else c for c in codes)


def _surely_folded(c: str) -> bool:
    return c.isascii() or c.lower() == c == c.upper()


def pattern_codes(pattern: str) -> list[int]:
    """The codes every text matching an ILIKE pattern must hold; [] when the pattern is left to the scan."""
    if "\\" in pattern:
        return []
    fixed = [part for part in re.split(r"[%_]", pattern) if part]
    if not all(_surely_folded(c) for part in fixed for c in part):
        return []
    return sorted({code for part in fixed if len(part) > 1 for code in gram_codes(part)})


def tokens(codes: list[int]) -> str:
    """The codes as FTS5 terms (SQLite keeps the pairs in an FTS5 table: one term per pair)."""
    return " ".join(f"g{code & 0xFFFFFFFF:x}" for code in codes)


def sqlite_tables(table: str) -> tuple[str, str]:
    """SQLite's pairs: an FTS5 table of terms by number, and the records' numbers (FTS5 keeps no identifier)."""
    return f"{table}_pairs", f"{table}_pairs_rows"


def fts_match(table: str, codes: list[int]) -> str:
    """The numbers of the records holding every pair, from SQLite's FTS5 table (the terms are hexadecimal)."""
    fts = sqlite_tables(table)[0]
    return f"SELECT rowid FROM {fts} WHERE {fts} MATCH '{tokens(codes)}'"


def is_one_pair(pattern: str) -> bool:
    """Whether the pattern is a two-character word without case (%交通%, %20%): then holding the pair is the
    match itself, exactly (a character without case folds only from itself), and the LIKE has nothing to add."""
    return (len(pattern) == 4 and pattern[0] == pattern[3] == "%" and "%" not in pattern[1:3]
            and "_" not in pattern[1:3] and "\\" not in pattern
            and all(c.lower() == c == c.upper() and ord(c) < 0x10000 for c in pattern[1:3]))


def with_grams(where: str, values: list, too_common: Callable[[list[int]], bool] | None = None, *,
               table: str = "", dialect: str = "postgresql") -> str:
    """pycsw's WHERE text with the pairs' condition beside each ``anytext ilike :pvalueN`` it can help.

    too_common(codes): whether so many records hold the pairs that reading them through the index costs more
    than reading each text once (the pattern is then left to the scan); asked only where the LIKE is still
    needed after the pairs, and on PostgreSQL for a single pair too (see ``service``: each database's own
    measure). The LIKE comes first: a scan then reads the pairs only of the records whose text matches.
    """

    def condition(match: re.Match) -> str:
        number = int(match.group(1).removeprefix("pvalue"))
        value = values[number] if number < len(values) else None
        codes = pattern_codes(value) if isinstance(value, str) else []
        alone = bool(codes) and is_one_pair(value)
        if not codes or (too_common is not None and (dialect != "sqlite" or not alone) and too_common(codes)):
            return match.group(0)
        if dialect == "sqlite":
            pairs = f"identifier IN (SELECT identifier FROM {sqlite_tables(table)[1]} WHERE n IN ({fts_match(table, codes)}))"
        else:
            pairs = f"{COLUMN} @> '{{{','.join(map(str, codes))}}}'::integer[]"
        return f"({pairs})" if alone else f"({match.group(0)} AND {pairs})"

    return (SQLITE_FILTER if dialect == "sqlite" else FILTER).sub(condition, where)
