"""An index for ``csw:AnyText`` on PostgreSQL: the character pairs of each record's text, to pick candidates.

pycsw 2.6.2 answers ``csw:AnyText like '%交通%'`` on PostgreSQL by ``anytext ILIKE '%交通%'`` (databases.py says
why not its English full-text search): a scan of every record's text, ~0.8 s at 100,000 records. pg_trgm cannot
help: a Chinese word is mostly two characters, and a trigram index finds nothing to look up in a two-character
pattern. So each row also keeps ``anytext_grams``, the codes of the adjacent character pairs of its text (lower-
cased), in a GIN index, and the filter pycsw built is given a necessary condition in front of the same ILIKE:

    (anytext ILIKE :pvalue0 AND anytext_grams @> '{…pairs of 交通…}')

A record whose text contains the pattern's fixed parts contains their pairs, so the index keeps every match and
the ILIKE still decides: the answer is the scan's, found in the few records that hold the pairs. Two codes can
share a value (pairs outside the Basic Multilingual Plane): more candidates, never fewer.

The condition is added only where its folding of case is surely the database's: every character of the pattern
is ASCII or has no case (Chinese, digits, punctuation). A pattern with another cased letter (É, Σ, Ａ), with an
escape, or without two fixed characters side by side, is answered by the scan, as before; so is a word whose
every pair is in more than a quarter of the records (the database's statistics say so: "data", 统计 in the
demo), where reading the candidates through the index costs more than reading every text once.

Nothing is imported here: ``service`` uses it inside pycsw's own environment, ``repository`` in ours.
"""

from __future__ import annotations

import re

COLUMN = "anytext_grams"
FILTER = re.compile(r"\banytext ilike :(pvalue\d+)")  # what pycsw writes on PostgreSQL
SQLITE_FILTER = re.compile(r"\banytext like :(pvalue\d+)")  # and on SQLite (LIKE: ASCII case folded, as ILIKE)
UNSELECTIVE = 0.25  # above this share of records holding the rarest pair, the index is slower than the scan


def index_name(table: str) -> str:
    return f"{table}_{COLUMN}_idx"


def _folded(text: str) -> str:
    """text with each character lower-cased to one character (the first of its lower case: İ → i)."""
    low = text.lower()
    if len(low) == len(text):  # lower() never shortens: the same length means one character for one
        return low
    return "".join(c.lower()[0] for c in text)


def _code(pair: str) -> int:
    value = (ord(pair[0]) << 16 | ord(pair[1])) & 0xFFFFFFFF  # exact for two characters of the BMP
    return value - (1 << 32) if value >= 1 << 31 else value  # a PostgreSQL integer


def gram_codes(text: str) -> list[int]:
    """The sorted codes of the distinct adjacent character pairs of text, lower-cased (what a row keeps)."""
    low = _folded(text or "")
    return sorted({_code(low[i:i + 2]) for i in range(len(low) - 1)})


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


def with_grams(where: str, values: list, frequencies: dict[int, float] | None = None, *,
               table: str = "", dialect: str = "postgresql") -> str:
    """pycsw's WHERE text with the pairs' condition beside each ``anytext ilike :pvalueN`` it can help.

    frequencies: the share of records holding each pair, as the database's statistics tell it (pg_stats); a
    pattern whose every pair is in more than UNSELECTIVE of the records is left to the scan, which reads each
    text once instead of through the index. The ILIKE comes first: a scan then reads the pairs only of the
    records whose text matches (the pairs of a record are kept apart from its row, TOAST, and cost a read).
    """
    frequencies = frequencies or {}

    def condition(match: re.Match) -> str:
        number = int(match.group(1).removeprefix("pvalue"))
        value = values[number] if number < len(values) else None
        codes = pattern_codes(value) if isinstance(value, str) else []
        if not codes or min(frequencies.get(code, 0.0) for code in codes) > UNSELECTIVE:
            return match.group(0)
        if dialect == "sqlite":
            fts, numbers = sqlite_tables(table)
            return (f"({match.group(0)} AND identifier IN (SELECT identifier FROM {numbers} WHERE n IN"
                    f" (SELECT rowid FROM {fts} WHERE {fts} MATCH '{tokens(codes)}')))")
        return f"({match.group(0)} AND {COLUMN} @> '{{{','.join(map(str, codes))}}}'::integer[])"

    return (SQLITE_FILTER if dialect == "sqlite" else FILTER).sub(condition, where)
