"""Turn user text into safe FTS5 queries and run faceted, paged searches over the index tables."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from core.sqlite import rollback

FACETS = ("department", "theme", "format", "open_type")
SORTS = ("relevance", "modified", "title")
MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_PAGE = 10**9
MAX_PAGE_SIZE = 100
MAX_FILTER_VALUES = 50
WEIGHTS = (10.0, 1.0, 4.0, 10.0, 1.0, 4.0)  # bm25: title, description, keywords (bigram, char columns)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_RUN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")


@dataclass(frozen=True)
class SearchResult:
    """One page of hits with the facet counts of the whole result."""

    total: int
    page: int
    page_size: int
    hits: list[dict] = field(default_factory=list)
    facets: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# -- text ----------------------------------------------------------------------------------------
def _is_cjk(run: str) -> bool:
    return _IS_CJK.match(run) is not None


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


def index_text(text: str) -> tuple[str, str]:
    """Return the bigram-and-word column text and the single-character column text of a string."""
    grams: list[str] = []
    chars: list[str] = []
    for run in _RUN.findall(text or ""):
        if _is_cjk(run):
            grams += _bigrams(run)
            chars += list(run)
        else:
            grams.append(run)
    return " ".join(grams), " ".join(chars)


def _term(runs: list[str]) -> list[str]:
    """Turn the runs of one query word into FTS5 terms: one phrase, or one term per run."""
    words = "{title description keywords}"
    if any(_is_cjk(r) and len(r) == 1 for r in runs) and len(runs) > 1:
        return [t for r in runs for t in _term([r])]
    if len(runs) == 1 and _is_cjk(runs[0]) and len(runs[0]) == 1:
        return ['{title_c description_c keywords_c} : "%s"' % runs[0]]
    tokens = [g for r in runs for g in (_bigrams(r) if _is_cjk(r) else [r])]
    return ['%s : "%s"' % (words, " ".join(tokens))]


def match_expression(q: str) -> str | None:
    """Make a safe FTS5 query from user text: words ANDed, CJK runs as bigram phrases; None if empty."""
    terms: list[str] = []
    for word in (q or "")[:MAX_QUERY_CHARS].split():
        runs = _RUN.findall(word)
        if runs:
            terms += _term(runs)
    return " AND ".join(terms[:MAX_TERMS]) or None


def query_words(q: str) -> list[str]:
    """Return the plain words of a query (for snippets and highlighting)."""
    return [r for r in _RUN.findall((q or "")[:MAX_QUERY_CHARS])][:MAX_TERMS]


def snippet(text: str, words: Iterable[str], width: int = 120) -> str:
    """Cut text to about width characters around the first word found in it."""
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    lower = text.lower()
    found = [i for i in (lower.find(w.lower()) for w in words) if i >= 0]
    start = max(0, min(found) - width // 4) if found else 0
    start = min(start, len(text) - width)
    return ("…" if start else "") + text[start:start + width] + ("…" if start + width < len(text) else "")


# -- running a search ---------------------------------------------------------------------------
def _clamp(value, low: int, high: int, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return max(low, min(high, number))


def clean_filters(filters: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """Keep known facets with their distinct, non-empty, short values."""
    out: dict[str, list[str]] = {}
    for facet in FACETS:
        raw = (filters or {}).get(facet) or []
        if isinstance(raw, str):
            raw = [raw]
        values = [v.strip() for v in raw if isinstance(v, str) and v.strip() and len(v) <= 100]
        values = list(dict.fromkeys(values))[:MAX_FILTER_VALUES]
        if values:
            out[facet] = values
    return out


MATCHED = "temp.matched"  # the datasets matching the words of the search being run (one FTS pass per search)


def _where(match: str | None, filters: dict[str, list[str]], skip: str | None = None) -> tuple[str, list]:
    """The WHERE of a search: ``match`` is an FTS expression, or MATCHED (the words were matched once already)."""
    clauses: list[str] = []
    params: list = []
    if match == MATCHED:
        clauses.append(f"d.n IN (SELECT n FROM {MATCHED})")
    elif match:
        clauses.append("d.n IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
        params.append(match)
    for facet, values in filters.items():
        if facet != skip:
            marks = ",".join("?" * len(values))
            clauses.append(f"d.n IN (SELECT n FROM facets WHERE facet = ? AND value IN ({marks}))")
            params += [facet, *values]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _match_once(conn: sqlite3.Connection, match: str, ranked: bool) -> None:
    """Run the words' FTS query once into a temporary table (with bm25 when the hits are ordered by it)."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS matched(n INTEGER PRIMARY KEY, rank REAL)")
    conn.execute(f"DELETE FROM {MATCHED}")
    rank = "bm25(fts, %s)" % ", ".join(str(w) for w in WEIGHTS) if ranked else "0"
    conn.execute(f"INSERT INTO {MATCHED} SELECT rowid, {rank} FROM fts WHERE fts MATCH ?", (match,))


def matching_uris(conn: sqlite3.Connection, q: str) -> set[str] | None:
    """Return the URIs of the datasets whose text matches q as the portal search matches it (None: no words)."""
    match = match_expression(q)
    if match is None:
        return None
    with Transaction(conn):
        where, params = _where(match, {})
        return {row[0] for row in conn.execute(f"SELECT d.uri FROM docs d{where}", params)}


def matching_page(conn: sqlite3.Connection, q: str, offset: int, limit: int) -> tuple[list[str], int] | None:
    """Return the URIs of one page of the datasets matching q (in the index's row order) and how many match,
    as ``matching_uris`` matches them; None when q has no words. FTS5 gives its matches in row order, so a page
    reads its own rows, and counts the matches in its index."""
    match = match_expression(q)
    if match is None:
        return None
    with Transaction(conn):
        total = conn.execute("SELECT COUNT(*) FROM fts WHERE fts MATCH ?", (match,)).fetchone()[0]
        rows = conn.execute("SELECT d.uri FROM (SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT ? OFFSET ?)"
                            " m JOIN docs d ON d.n = m.rowid ORDER BY m.rowid", (match, limit, offset)).fetchall()
    return [r[0] for r in rows], total


def vocabulary_labels(conn: sqlite3.Connection, kind: str, lang: str) -> dict[str, str]:
    rows = conn.execute("SELECT code, lang, label FROM labels WHERE kind = ? ORDER BY lang = ?", (kind, lang))
    return {code: label for code, _, label in rows}


def _facet(conn: sqlite3.Connection, facet: str, match: str | None, filters: dict[str, list[str]],
           labels: dict[str, str]) -> list[tuple[str, str, int]]:
    where, params = _where(match, filters, skip=facet)
    rows = conn.execute(
        f"SELECT f.value, COUNT(*) FROM docs d JOIN facets f ON f.n = d.n AND f.facet = ?{where}"
        " GROUP BY f.value ORDER BY COUNT(*) DESC, f.value", [facet, *params]).fetchall()
    return _facet_rows(rows, facet, filters, labels)


def _facet_rows(rows, facet: str, filters: dict[str, list[str]], labels: dict[str, str]) -> list[tuple[str, str, int]]:
    out = [(value, labels.get(value, value), count) for value, count in rows]
    seen = {value for value, _ in rows}
    out += [(v, labels.get(v, v), 0) for v in filters.get(facet, []) if v not in seen]
    return out


def _facets(conn: sqlite3.Connection, match: str | None, filters: dict[str, list[str]],
            labels: dict[str, dict[str, str]]) -> dict[str, list[tuple[str, str, int]]]:
    """Count every facet: the kept counts when at most one value of one facet is chosen and no words are
    searched (the portal's home and facet links), else from the matching datasets, in one pass for the
    facets that have no value chosen."""
    if match is None and len(filters) <= 1 and all(len(v) == 1 for v in filters.values()):
        return {f: _facet_rows(rows, f, filters, labels.get(f, {})) for f, rows in _kept_facets(conn, filters).items()}
    out: dict[str, list] = {f: _facet(conn, f, match, filters, labels.get(f, {})) for f in FACETS if f in filters}
    free = [f for f in FACETS if f not in filters]
    if free:
        marks = ",".join("?" * len(free))
        if match == MATCHED:  # from the matching datasets to their facet rows (CROSS JOIN: in that order)
            where, params = _where(None, filters)
            source = f"{MATCHED} m CROSS JOIN docs d ON d.n = m.n CROSS JOIN facets f ON f.n = d.n"
        else:
            where, params = _where(match, filters)
            source = "docs d JOIN facets f ON f.n = d.n"
        where = (where + " AND" if where else " WHERE") + f" f.facet IN ({marks})"
        rows = conn.execute(f"SELECT f.facet, f.value, COUNT(*) FROM {source}{where} GROUP BY f.facet, f.value",
                            [*params, *free]).fetchall()
        for f in free:
            mine = sorted(((v, c) for facet, v, c in rows if facet == f), key=lambda r: (-r[1], r[0]))
            out[f] = _facet_rows(mine, f, filters, labels.get(f, {}))
    return {f: out[f] for f in FACETS}


def _kept_facets(conn: sqlite3.Connection, filters: dict[str, list[str]]) -> dict[str, list[tuple[str, int]]]:
    """Read facet counts kept by the index: of the whole catalogue, or under one chosen value (its pairs)."""
    order = " ORDER BY n DESC, value"
    whole = lambda f: conn.execute(  # noqa: E731
        f"SELECT value, n FROM facet_totals WHERE facet = ? AND n > 0{order}", (f,)).fetchall()
    if not filters:
        return {f: whole(f) for f in FACETS}
    (chosen, (value,)), = filters.items()
    return {f: whole(f) if f == chosen else conn.execute(
        f"SELECT other_value AS value, n FROM facet_pairs WHERE facet = ? AND value = ? AND other = ? AND n > 0"
        f"{order}", (chosen, value, f)).fetchall() for f in FACETS}


def _total(conn: sqlite3.Connection, match: str | None, filters: dict[str, list[str]]) -> int:
    """Count the matching datasets: kept for the whole catalogue or one chosen value, else counted."""
    if match is None and not filters:
        row = conn.execute("SELECT n FROM doc_totals WHERE key = 'datasets'").fetchone()
        return row[0] if row else 0
    if match is None and len(filters) == 1 and all(len(v) == 1 for v in filters.values()):
        (facet, (value,)), = filters.items()
        row = conn.execute("SELECT n FROM facet_totals WHERE facet = ? AND value = ?", (facet, value)).fetchone()
        return row[0] if row else 0
    where, params = _where(match, filters)
    return conn.execute(f"SELECT COUNT(*) FROM docs d{where}", params).fetchone()[0]


def _order(sort: str, match: str | None, lang: str) -> str:
    if sort == "title":
        return f"COALESCE(d.title_{lang}, d.title_zh, d.id), d.n"
    if sort == "relevance" and match == MATCHED:
        return "m.rank, d.modified DESC, d.n"
    if sort == "relevance" and match:
        return "bm25(fts, %s), d.modified DESC, d.n" % ", ".join(str(w) for w in WEIGHTS)
    return "d.modified DESC, d.n"


def _hit(row: sqlite3.Row, lang: str, words: list[str], labels: dict[str, dict[str, str]]) -> dict:
    title = row[f"title_{lang}"] or row["title_zh"] or row["id"]
    description = row[f"desc_{lang}"] or row["desc_zh"] or ""
    return {
        "id": row["id"], "uri": row["uri"], "title": title, "description": snippet(description, words),
        "department": row["department"],
        "department_label": labels["department"].get(row["department"], row["department"]),
        "themes": [{"code": t, "label": labels["theme"].get(t, t)} for t in json.loads(row["themes"])],
        "formats": json.loads(row["formats"]), "open_type": row["open_type"],
        "open_type_label": labels["open_type"].get(row["open_type"], row["open_type"]),
        "modified": row["modified"], "issued": row["issued"], "spatial": bool(row["spatial"]),
    }


def _hits(conn: sqlite3.Connection, match: str | None, filters: dict[str, list[str]], sort: str,
          lang: str, limit: int, offset: int) -> list[sqlite3.Row]:
    where, params = _where(None, filters)
    if sort == "relevance" and match == MATCHED:
        source = f"{MATCHED} m JOIN docs d ON d.n = m.n"
    elif sort == "relevance" and match:
        source = "fts JOIN docs d ON d.n = fts.rowid"
        where = (where + " AND" if where else " WHERE") + " fts MATCH ?"
        params.append(match)
    else:
        source = "docs d"
        where, params = _where(match, filters)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT d.* FROM {source}{where} ORDER BY {_order(sort, match, lang)}"
                            " LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    finally:
        conn.row_factory = None


def run_search(conn: sqlite3.Connection, q: str, filters: Mapping[str, Iterable[str]] | None, page,
               page_size, lang: str, sort: str) -> SearchResult:
    """Search the index in one read snapshot, so that total, hits and facets agree."""
    lang = "en" if str(lang or "").lower().startswith("en") else "zh"
    page = _clamp(page, 1, MAX_PAGE, 1)
    page_size = _clamp(page_size, 1, MAX_PAGE_SIZE, 20)
    sort = sort if sort in SORTS else "relevance"
    match, chosen = match_expression(q), clean_filters(filters)
    with Transaction(conn):
        labels = {kind: vocabulary_labels(conn, kind, lang) for kind in ("department", "theme", "open_type")}
        if match is not None:
            _match_once(conn, match, ranked=sort == "relevance")
            match = MATCHED
        total = _total(conn, match, chosen)
        offset = (page - 1) * page_size
        rows = _hits(conn, match, chosen, sort, lang, page_size, offset) if offset < total else []
        facets = _facets(conn, match, chosen, labels)
    hits = [_hit(row, lang, query_words(q), labels) for row in rows]
    return SearchResult(total, page, page_size, hits, facets)


class Transaction:
    """Run a block in one SQLite transaction: commit on success, roll back on error."""

    def __init__(self, conn: sqlite3.Connection, begin: str = "BEGIN") -> None:
        self.conn, self.begin = conn, begin

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute(self.begin)
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error:
                rollback(self.conn)  # e.g. SQLITE_FULL at commit: the connection must stay usable
                raise
        rollback(self.conn)

