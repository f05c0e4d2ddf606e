"""Turn user text into safe FTS5 queries (SQLite) or token phrases (PostgreSQL); run faceted, paged searches."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from sqlalchemy import text

FACETS = ("department", "theme", "format", "open_type")
SORTS = ("relevance", "modified", "title")
MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_PAGE = 10**9
MAX_PAGE_SIZE = 100
MAX_FILTER_VALUES = 50
WEIGHTS = (10.0, 1.0, 4.0, 10.0, 1.0, 4.0)  # bm25: title, description, keywords (bigram, char columns)
RANK_CANDIDATES = 10_000  # search.rank_candidates: the most matches a word search ranks by bm25

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
    """Return the bigram-and-word column text and the single-character column text of a string.

    Each CJK run gives its bigrams (and its characters to the second column), Latin words stay words; then, after
    all of them (so no phrase of consecutive tokens is broken), the run's words of three characters or more as
    jieba cuts them with our dictionary (server.search_tokens): a dataset holding the word itself ranks higher.
    """
    from server.search_tokens import segmenter

    grams: list[str] = []
    chars: list[str] = []
    words: list[str] = []
    for run in _RUN.findall(text or ""):
        if _is_cjk(run):
            grams += _bigrams(run)
            chars += list(run)
            if len(run) >= 3:
                words += [w for w in segmenter().cut(run) if len(w) >= 3 and _CJK_WORD.fullmatch(w)]
        else:
            grams.append(run)
    return " ".join(grams + words), " ".join(chars)


GROUPS = {"w": ("title", "description", "keywords"), "c": ("title_c", "description_c", "keywords_c")}
PG_COLUMNS = {"w": (0, 1, 2), "c": (3, 4, 5)}  # PostgreSQL: search_postings' counts c0 … c5 of each group
POSTING_PLACE = 100_000_000  # PostgreSQL: a posting's place is column × POSTING_PLACE + place in the column
# PostgreSQL: the postings of the datasets in {source} (n, the six columns' token arrays {columns}, and the
# dataset's combination of facet values and number of tokens, carried in each posting: search_0009), in token
# order (migration search_0007 has its own copy of this statement, run over search_text's arrays)
POSTINGS_SQL = ("INSERT INTO search_postings (token, n, c0, c1, c2, c3, c4, c5, pos, combo, ntok) SELECT u.tok, t.n, "
                + ", ".join(f"count(*) FILTER (WHERE u.col = {i})" for i in range(6))
                + f", array_agg(u.col * {POSTING_PLACE} + u.i::integer - 1 ORDER BY u.col, u.i), t.combo, t.ntok "
                "FROM {source} t CROSS JOIN LATERAL ("
                + " UNION ALL ".join(f"SELECT {i} AS col, a.tok, a.i FROM unnest(t.{{columns[{i}]}}) "
                                     "WITH ORDINALITY AS a(tok, i)" for i in range(6))
                + ") u GROUP BY u.tok, t.n, t.combo, t.ntok ORDER BY u.tok, t.n")
K1, B = 1.2, 0.75  # FTS5's bm25 constants
MAX_ALTERNATIVES = 8  # the most words one query word stands for (itself and its synonyms)
MAX_PHRASES = 64  # the most phrases of one query, alternatives included
_CJK_WORD = re.compile(rf"[{_CJK}]+")

Phrase = tuple[str, list[str]]  # column group ("w" words and bigrams, "c" characters) and its words, consecutive
Alternative = list[Phrase]  # phrases all required (ANDed)
Term = list[Alternative]  # one query word: any of its alternatives (ORed)


def _term(runs: list[str]) -> list[Phrase]:
    """Turn the runs of one query word into phrases (column group, words): one phrase, or one per run."""
    if any(_is_cjk(r) and len(r) == 1 for r in runs) and len(runs) > 1:
        return [t for r in runs for t in _term([r])]
    if len(runs) == 1 and _is_cjk(runs[0]) and len(runs[0]) == 1:
        return [("c", [runs[0]])]
    return [("w", [g for r in runs for g in (_bigrams(r) if _is_cjk(r) else [r])])]


def _pieces(word: str) -> list[str]:
    """The parts of one whitespace-separated query word that are each required: a Chinese run of three characters
    or more is cut into words (jieba, our dictionary; adjacent words that together are a synonym joined again),
    its one-character words (的, 坐, 查 …) dropped when longer words remain; any other word is one part."""
    from server.search_tokens import segmenter, synonyms

    runs = _RUN.findall(word)
    if not (len(runs) == 1 and _is_cjk(runs[0]) and len(runs[0]) >= 3):
        return [word]
    cut = segmenter().cut(runs[0])
    known = synonyms()
    joined, i = [], 0
    while i < len(cut):
        j = next((j for j in range(len(cut), i + 1, -1) if known.knows("".join(cut[i:j]))), i + 1)
        joined.append("".join(cut[i:j]))
        i = j
    longer = [p for p in joined if len(p) >= 2]
    return longer or [runs[0]]


def query_terms(q: str) -> list[Term]:
    """Return the terms of user text, ANDed; each term its alternatives, ORed (the word, then its synonyms);
    each alternative its phrases, ANDed (usually one)."""
    from server.search_tokens import synonyms

    terms: list[Term] = []
    phrases = 0
    for word in (q or "")[:MAX_QUERY_CHARS].split():
        if not _RUN.search(word):
            continue
        for piece in _pieces(word):
            words = synonyms().alternatives(piece)[:MAX_ALTERNATIVES]
            alts = [_term(_RUN.findall(w)) for w in words]
            if len(piece) >= 3 and _CJK_WORD.fullmatch(piece):
                alts.insert(1, [("w", [piece])])  # the word as jieba cut it in the index (index_text): ranks higher
            term: Term = []
            for alt in alts:
                if alt and alt not in term and (not term or phrases + len(alt) <= MAX_PHRASES):
                    term.append(alt)
                    phrases += len(alt)
            if term:
                terms.append(term)
    return terms[:MAX_TERMS]


def query_phrases(q: str) -> list[Phrase]:
    """Return every phrase of user text, in the order of the FTS5 expression (alternatives included)."""
    return [p for term in query_terms(q) for alt in term for p in alt]


def _fts_terms(terms: list[Term]) -> str:
    def phrase(p: Phrase) -> str:
        return '{%s} : "%s"' % (" ".join(GROUPS[p[0]]), " ".join(p[1]))

    def alternative(alt: Alternative, alone: bool) -> str:
        text_ = " AND ".join(phrase(p) for p in alt)
        return text_ if alone or len(alt) == 1 else f"({text_})"

    out = []
    for term in terms:
        if len(term) == 1:
            out.append(alternative(term[0], True))
        else:
            out.append("(" + " OR ".join(alternative(a, False) for a in term) + ")")
    return " AND ".join(out)


def match_expression(q: str) -> str | None:
    """Make a safe FTS5 query from user text: words ANDed, each word ORed with its synonyms, CJK runs as bigram
    phrases; None if empty."""
    return _fts_terms(query_terms(q)) or None


@dataclass(frozen=True)
class Match:
    """A query as FTS5 text (SQLite) and as FTS5's tokens of each phrase (PostgreSQL), with its structure: terms
    ANDed, each a tuple of alternatives ORed, each a tuple of phrase numbers ANDed."""

    fts: str
    phrases: tuple[tuple[str, tuple[str, ...]], ...]
    terms: tuple[tuple[tuple[int, ...], ...], ...] = ()

    @classmethod
    def of(cls, q: str) -> "Match | None":
        terms = query_terms(q)
        if not terms:
            return None
        from server.search_tokens import tokenizer

        flat = [p for term in terms for alt in term for p in alt]
        tokens = tokenizer().tokens([" ".join(words) for _, words in flat])
        numbered, k = [], 0
        for term in terms:
            alts = []
            for alt in term:
                alts.append(tuple(range(k, k + len(alt))))
                k += len(alt)
            numbered.append(tuple(alts))
        return cls(_fts_terms(terms), tuple((g, tuple(t)) for (g, _), t in zip(flat, tokens)), tuple(numbered))


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


MATCHED = "matched"  # the words were matched once already, into the temporary table search_matched
# the kept counts' tables (core/migrations/versions/search_0002.py) and the rows a recount puts in them
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


def _phrase_rows(k: int, group: str, tokens: tuple[str, ...], lo: bool = False, at: str | None = None,
                 combo: bool = False) -> str:
    """PostgreSQL: the datasets holding phrase k (its tokens one after the other in a column of its group) as rows
    (n, f0, f1, f2, ntok): how often it stands in each of the group's three columns (search_postings, search_0007),
    and the dataset's number of tokens (search_0009); with ``combo``, its combination of facet values too.

    A phrase of one token (most of them: jieba cuts a query into words) is read from the primary key alone;
    a longer one joins its tokens' rows on the dataset, from the places of its first token. ``lo``: only the
    datasets numbered :lo or more (the ranked candidates). (Without ``combo`` the columns are all in the primary
    key: the planner reads one token's rows from it alone, not from the heap or a partial index.)"""
    a, b, c = PG_COLUMNS[group]
    combos = ", combo" if combo else ""
    if not tokens:
        return f"SELECT NULL::integer AS n, 0 AS f0, 0 AS f1, 0 AS f2, 0 AS ntok{combos and ', 0 AS combo'} WHERE FALSE"
    if len(tokens) == 1:  # (at: the row of one dataset, looked up by key)
        return (f"SELECT n, c{a} AS f0, c{b} AS f1, c{c} AS f2, ntok{combos} FROM search_postings "
                f"WHERE token = :t{k}_0 AND c{a} + c{b} + c{c} > 0" + (" AND n >= :lo" if lo else "")
                + (f" AND n = {at}" if at else ""))
    joins = "".join(f" JOIN search_postings p{i} ON p{i}.token = :t{k}_{i} AND p{i}.n = p0.n"
                    for i in range(1, len(tokens)))
    follows = "".join(f" AND x.x + {i} = ANY(p{i}.pos)" for i in range(1, len(tokens)))
    counts = ", ".join(f"count(*) FILTER (WHERE x.x / {POSTING_PLACE} = {col}) AS f{j}"
                       for j, col in enumerate((a, b, c)))
    # the datasets holding every token first (their rows joined on n), then the places of each, once a dataset
    return (f"SELECT p0.n, s.f0, s.f1, s.f2, p0.ntok{combos and ', p0.combo'} FROM search_postings p0{joins} "
            f"CROSS JOIN LATERAL (SELECT {counts} FROM unnest(p0.pos) AS x(x) "
            f"WHERE x.x / {POSTING_PLACE} IN ({a}, {b}, {c}){follows}) s "
            f"WHERE p0.token = :t{k}_0 AND s.f0 + s.f1 + s.f2 > 0" + (" AND p0.n >= :lo" if lo else ""))


COMMON_ROWS = 20_000  # PostgreSQL: a token in more datasets than this is looked up by key in a ranking


def common_tokens(conn, rows: int = COMMON_ROWS) -> frozenset[str]:
    """PostgreSQL: the tokens its statistics say are held by more than ``rows`` datasets (the most common values
    of ``search_postings.token`` and their frequencies, as ANALYZE last found them; none without statistics)."""
    if not _pg(conn):
        return frozenset()
    found = conn.execute(text(
        "SELECT CAST(CAST(s.most_common_vals AS text) AS text[]), s.most_common_freqs, c.reltuples "
        "FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace = "
        "(SELECT oid FROM pg_namespace WHERE nspname = s.schemaname) "
        "WHERE s.schemaname = current_schema() AND s.tablename = 'search_postings' AND s.attname = 'token'"
    )).fetchone()
    if found is None or found[0] is None:
        return frozenset()
    values, freqs, total = found
    return frozenset(v for v, f in zip(values, freqs) if f * max(total, 0) > rows)


def _phrase_params(k: int, tokens: tuple[str, ...]) -> dict:
    """The parameters of phrase k: its tokens, t{k}_0 …"""
    return {f"t{k}_{i}": token for i, token in enumerate(tokens)}


def _matching_sql(pg: bool, match: Match, params: dict, common: frozenset[str] = frozenset(),
                  cols: str = "n") -> str:
    """The numbers of the datasets whose text matches: FTS5 (SQLite) or the postings (PostgreSQL: the terms'
    sets of datasets intersected, each term the union of its alternatives, each the intersection of its phrases;
    ``cols`` "n, combo": with each dataset's combination of facet values, carried in its postings)."""
    if not pg:
        params["match"] = match.fts
        return "SELECT rowid AS n FROM search_fts WHERE search_fts MATCH :match"
    for k, (_, tokens) in enumerate(match.phrases):
        params.update(_phrase_params(k, tokens))
    return _set_of(match, lambda k: f"SELECT {cols} FROM "
                   f"({_phrase_rows(k, *match.phrases[k], combo='combo' in cols)}) p{k}",
                   _common_phrases(match, common), cols)


def _all_rare(conn, match: Match, common: frozenset[str]) -> bool:
    """PostgreSQL: tell whether no phrase of the query is in more than COMMON_ROWS datasets — as its statistics
    say (``common``) and as each phrase's first token's rows, counted up to that bound from the primary key, confirm
    (statistics can be missing or old: a word in every dataset must not be ranked whole)."""
    if _common_phrases(match, common):
        return False
    firsts = sorted({tokens[0] for _, tokens in match.phrases if tokens})
    if not firsts:
        return True
    counts = ", ".join(f"(SELECT count(*) FROM (SELECT 1 FROM search_postings WHERE token = :g{i} LIMIT :most) x)"
                       for i in range(len(firsts)))
    found = conn.execute(text(f"SELECT GREATEST({counts})"),
                         {"most": COMMON_ROWS + 1, **{f"g{i}": t for i, t in enumerate(firsts)}}).scalar()
    return found <= COMMON_ROWS


def _common_phrases(match: Match, common: frozenset[str]) -> frozenset[int]:
    """The phrases that are one token PostgreSQL's statistics call common (``common_tokens``)."""
    return frozenset(k for k, (_, tokens) in enumerate(match.phrases) if len(tokens) == 1 and tokens[0] in common)


def _set_of(match: Match, phrase, common: frozenset[int] = frozenset(), cols: str = "n") -> str:
    """PostgreSQL: the datasets matching, from each phrase's (``phrase(k)``: a SELECT of n): the terms' sets
    intersected, each term the union of its alternatives, each the intersection of its phrases.

    ``common``: phrases held by very many datasets. A set with one is intersected by semi-joins with the common
    ones last (the planner may then look the others' matches up in the common word's rows by key), not by
    INTERSECT, which reads and hashes every row of both."""
    def every(sets: list[tuple[str, bool]]) -> str:
        if not any(many for _, many in sets):
            return " INTERSECT ".join(f"({sql})" for sql, _ in sets)
        (first, _), *rest = sorted(sets, key=lambda s: s[1])
        return f"SELECT {cols} FROM ({first}) s WHERE " + " AND ".join(f"n IN (SELECT n FROM ({sql}) r)"
                                                                       for sql, _ in rest) if rest else first

    terms = [(" UNION ".join(f"({every([(phrase(k), k in common) for k in alt])})" for alt in term),
              all(k in common for alt in term for k in alt)) for term in match.terms]
    return f"SELECT {cols} FROM (" + every(terms) + ") AS matched"


def _matched(pg: bool) -> str:
    return "pg_temp.search_matched" if pg else "temp.search_matched"


def _where(pg: bool, match: "Match | str | None", filters: dict[str, list[str]],
           skip: str | None = None) -> tuple[str, dict]:
    """The WHERE of a search: ``match`` is the words' Match, or MATCHED (they were matched once already)."""
    clauses: list[str] = []
    params: dict = {}
    if match == MATCHED:
        clauses.append(f"d.n IN (SELECT n FROM {_matched(pg)})")
    elif match:
        clauses.append(f"d.n IN ({_matching_sql(pg, match, params)})")
    for i, (facet, values) in enumerate(filters.items()):
        if facet != skip:
            names = [f"f{i}_{j}" for j in range(len(values))]
            params.update({f"f{i}": facet, **dict(zip(names, values))})
            marks = ", ".join(":" + n for n in names)
            clauses.append(f"d.n IN (SELECT n FROM search_facets WHERE facet = :f{i} AND value IN ({marks}))")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _pg(conn) -> bool:
    return conn.dialect.name == "postgresql"


def _match_once(conn, match: Match, ranked: bool, lo: int | None = None, matched: int | None = None,
                common: frozenset[str] = frozenset()) -> None:
    """Run the words' full-text query once into a temporary table, with the bm25 rank when the hits are ordered
    by it (then only for the matches numbered lo or more: the ranked candidates, _ranked_hits); the hits then
    read that table."""
    pg, params = _pg(conn), {}
    if pg:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS search_matched (n integer PRIMARY KEY,"
                          " rank double precision NOT NULL) ON COMMIT DELETE ROWS"))
    else:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS search_matched (n INTEGER PRIMARY KEY, rank REAL)"))
    conn.execute(text(f"DELETE FROM {_matched(pg)}"))
    if pg and ranked:  # bm25 as FTS5 computes it, computed and kept by the database (_bm25_select)
        sql, params = _bm25_select(conn, match, {}, lo, matched, common)
        conn.execute(text(f"INSERT INTO {_matched(pg)} (n, rank) {sql}"), params)
        return
    if not pg and ranked:  # FTS5 walks the matches from lo up only (a rowid range), with the whole index's IDF
        params.update(match=match.fts, lo=lo if lo is not None else -(2**62))
        rank = "bm25(search_fts, %s)" % ", ".join(str(w) for w in WEIGHTS)
        conn.execute(text(f"INSERT INTO {_matched(pg)} (n, rank) SELECT rowid, {rank} FROM search_fts "
                          "WHERE search_fts MATCH :match AND rowid >= :lo"), params)
        return
    conn.execute(text(f"INSERT INTO {_matched(pg)} (n, rank) SELECT m.n, 0 FROM ({_matching_sql(pg, match, params)}) m"),
                 params)


# -- counting a word search by combinations of facet values (migration search_0003) ----------------
def combo_key(pairs: Iterable[tuple[str, str]]) -> str:
    """The kept key of a dataset's facet values: the JSON list of its [facet, value] pairs, sorted."""
    return json.dumps(sorted([list(p) for p in pairs]), ensure_ascii=False)


def _one_token(match: Match) -> tuple[str, str] | None:
    """The column group and token of a query that is one phrase of one token (most searches: one word), or None."""
    if len(match.terms) == 1 and len(match.terms[0]) == 1 and len(match.terms[0][0]) == 1:
        group, tokens = match.phrases[match.terms[0][0][0]]
        if len(tokens) == 1:
            return group, tokens[0]
    return None


def _combo_counts(conn, match: "Match | str", common: frozenset[str] = frozenset()
                  ) -> list[tuple[dict[str, set[str]], int]]:
    """Return (facet → values, datasets) of each combination of facet values among the datasets matching the
    words: one pass over the matches, each counted by its kept combination number (search_doc_combos).
    ``match`` MATCHED (PostgreSQL): the matches ranked already, each combination looked up by key."""
    pg, params = _pg(conn), {}
    one = None if match == MATCHED else _one_token(match)
    if match == MATCHED:  # (LATERAL with LIMIT 1: the temporary table has no statistics, see _ranked_hits)
        source = (f"{_matched(pg)} m CROSS JOIN LATERAL (SELECT combo FROM search_doc_combos x WHERE x.n = m.n "
                  "LIMIT 1) x")
    elif pg and one is not None:  # one word of one token: the combinations in its postings, read from the group's
        group, params["t0_0"] = one  # index in combination order (search_0009), joined to nothing
        a, b, c = PG_COLUMNS[group]
        source = f"search_postings x WHERE x.token = :t0_0 AND c{a} + c{b} + c{c} > 0"
    elif pg:
        source = f"({_matching_sql(pg, match, params, common, cols='n, combo')}) x"
    else:  # FTS5 first, then each match's combination by its number
        params["match"] = match.fts
        source = "search_fts CROSS JOIN search_doc_combos x ON x.n = search_fts.rowid WHERE search_fts MATCH :match"
    counted = conn.execute(text(f"SELECT x.combo, COUNT(*) FROM {source} GROUP BY x.combo"), params).fetchall()
    if not counted:
        return []
    numbers = [int(c) for c, _ in counted]
    marks = ", ".join(f":c{i}" for i in range(len(numbers)))
    keys = dict(conn.execute(text(f"SELECT combo, key FROM search_combos WHERE combo IN ({marks})"),
                             {f"c{i}": c for i, c in enumerate(numbers)}).fetchall())
    out = []
    for combo, count in counted:
        values: dict[str, set[str]] = {}
        for facet, value in json.loads(keys[combo]):
            values.setdefault(facet, set()).add(value)
        out.append((values, int(count)))
    return out


def _passes(values: dict[str, set[str]], filters: dict[str, list[str]], skip: str | None = None) -> bool:
    """Tell whether a dataset of these facet values is kept by the filters (any chosen value of each facet)."""
    return all(values.get(f, set()).intersection(chosen) for f, chosen in filters.items() if f != skip)


def _counted_by_combos(combos, filters: dict[str, list[str]],
                       labels: dict[str, dict[str, str]]) -> tuple[int, dict[str, list[tuple[str, str, int]]]]:
    """The total and the facets of a word search, as the SQL counts them (_total, _facets): each facet counted
    under the other facets' filters, ordered by count then value (code points: BINARY, COLLATE "C")."""
    total = sum(count for values, count in combos if _passes(values, filters))
    out = {}
    for facet in FACETS:
        counts: dict[str, int] = {}
        for values, count in combos:
            if _passes(values, filters, skip=facet):
                for value in values.get(facet, ()):
                    counts[value] = counts.get(value, 0) + count
        rows = sorted(counts.items(), key=lambda r: (-r[1], r[0]))
        out[facet] = _facet_rows(rows, facet, filters, labels.get(facet, {}))
    return total, out


def _filtered_matches(pg: bool, match: Match, filters: dict[str, list[str]], params: dict) -> tuple[str, str, str]:
    """FROM, WHERE (never empty) and number column of the matching datasets kept by the filters, to be walked by
    number (on SQLite FTS5's rowid, which FTS5 walks in either direction and stops where the LIMIT says)."""
    where, fparams = _where(pg, None, filters)
    params.update(fparams)
    if pg:
        where = where or " WHERE TRUE"
        return f"({_matching_sql(pg, match, params)}) m JOIN search_docs d ON d.n = m.n", where, "m.n"
    params["match"] = match.fts
    where = " WHERE search_fts MATCH :match" + (" AND" + where[len(" WHERE"):] if where else "")
    return "search_fts CROSS JOIN search_docs d ON d.n = search_fts.rowid", where, "search_fts.rowid"


def _ranked_hits(conn, match: Match, filters: dict[str, list[str]], total: int, candidates: int,
                 limit: int, offset: int, matched: int | None = None,
                 common: frozenset[str] = frozenset(), ranked_all: bool = False) -> list[dict]:
    """One page of a word search ordered by relevance, its cost bounded by ``candidates`` whatever the number of
    matches: the candidates are the ``candidates`` matching datasets (filters applied) last added to the index
    (the highest numbers: FTS5 walks its matches backwards and stops there); they come first, by bm25 (the
    whole index's IDF and lengths), then modified (newest first) and number; the matches after them follow
    newest-added first. With at most ``candidates`` matches (nearly every search) every match is ranked by bm25.
    ``ranked_all``: every match is in the ranked matches already (run_search), with the same scores as a
    bounded ranking gives the candidates: those below the last candidate are taken out."""
    pg, params = _pg(conn), {}
    ranked = min(total, candidates)
    lo = None  # every match ranked (the filters apply below)
    if total > candidates:  # the number of the last candidate: FTS5 walks its matches from the highest down
        if filters:
            source, where, number = _filtered_matches(pg, match, filters, params)
            sql = f"SELECT d.n FROM {source}{where} ORDER BY {number} DESC LIMIT 1 OFFSET :k"
        elif pg:
            sql = f"SELECT m.n FROM ({_matching_sql(pg, match, params, common)}) m ORDER BY m.n DESC LIMIT 1 OFFSET :k"
        else:
            params["match"] = match.fts
            sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH :match ORDER BY rowid DESC LIMIT 1 OFFSET :k"
        lo = int(conn.execute(text(sql), {**params, "k": ranked - 1}).fetchone()[0])
    hits: list[dict] = []
    if offset < ranked:
        if not ranked_all:
            _match_once(conn, match, ranked=True, lo=lo, matched=matched, common=common)
        elif lo is not None:
            conn.execute(text(f"DELETE FROM {_matched(pg)} WHERE n < :lo"), {"lo": lo})
        fwhere, fparams = _where(pg, None, filters)
        # only the rows ranked at or above the page's last rank are joined to their documents and sorted by
        # (rank, modified, number): the same page as sorting every candidate (their ties included), without
        # reading 10,000 documents' rows for it (18 -> 3 ms for a word in every dataset at 100,000)
        page = min(limit, ranked - offset)
        cutoff = (f"(SELECT d.rank FROM {_matched(pg)} d{fwhere} ORDER BY d.rank LIMIT 1 OFFSET :last)")
        where = (fwhere + " AND" if fwhere else " WHERE") + f" m.rank <= COALESCE({cutoff}, :beyond)"
        # PostgreSQL: each row at or above the cutoff reads its document by the primary key (LATERAL, with LIMIT 1
        # so that it is not flattened into a join): the temporary table has no statistics, so a plain join was
        # planned as a hash join over every document (a page of 20 read 100,000 rows: 19 of a 52 ms search)
        docs = (" CROSS JOIN LATERAL (SELECT * FROM search_docs d WHERE d.n = m.n LIMIT 1) d" if pg
                else " JOIN search_docs d ON d.n = m.n")
        hits = _dicts(conn.execute(text(
            f"SELECT d.* FROM {_matched(pg)} m{docs}{where}"
            f" ORDER BY {_order(pg, 'relevance', MATCHED, 'zh')} LIMIT :limit OFFSET :offset"),
            {**fparams, "limit": page, "offset": offset, "last": offset + page - 1, "beyond": 1e308}))
    rest = limit - len(hits)
    if rest > 0 and total > ranked:
        params = {}
        source, where, number = _filtered_matches(pg, match, filters, params)
        hits += _dicts(conn.execute(text(f"SELECT d.* FROM {source}{where} AND {number} < :lo ORDER BY {number} DESC"
                                         " LIMIT :limit OFFSET :offset"),
                                    {**params, "lo": lo, "limit": rest, "offset": max(0, offset - ranked)}))
    return hits


def matching_uris(conn, q: str) -> set[str] | None:
    """Return the URIs of the datasets whose text matches q as the portal search matches it (None: no words)."""
    match = Match.of(q)
    if match is None:
        return None
    where, params = _where(_pg(conn), match, {})
    return {row[0] for row in conn.execute(text(f"SELECT d.uri FROM search_docs d{where}"), params)}


def matching_page(conn, q: str, offset: int, limit: int) -> tuple[list[str], int] | None:
    """Return the URIs of one page of the datasets matching q (in the index's row order) and how many match,
    as ``matching_uris`` matches them; None when q has no words. FTS5 gives its matches in row order, so a page
    reads its own rows (on PostgreSQL the token arrays' rows, ordered by number), and counts the matches."""
    match = Match.of(q)
    if match is None:
        return None
    params: dict = {}
    matching = _matching_sql(_pg(conn), match, params)
    total = conn.execute(text(f"SELECT COUNT(*) FROM ({matching}) m"), params).fetchone()[0]
    rows = conn.execute(text(f"SELECT d.uri FROM ({matching} ORDER BY n LIMIT :limit OFFSET :offset) m"
                             " JOIN search_docs d ON d.n = m.n ORDER BY m.n"),
                        {**params, "limit": limit, "offset": offset}).fetchall()
    return [r[0] for r in rows], int(total)


def vocabulary_labels(conn, kind: str, lang: str) -> dict[str, str]:
    rows = conn.execute(text("SELECT code, lang, label FROM search_labels WHERE kind = :kind "
                             "ORDER BY (lang = :lang)"), {"kind": kind, "lang": lang})
    return {code: label for code, _, label in rows}


def _facet(conn, facet: str, match: "Match | str | None", filters: dict[str, list[str]],
           labels: dict[str, str]) -> list[tuple[str, str, int]]:
    where, params = _where(_pg(conn), match, filters, skip=facet)
    collate = ' COLLATE "C"' if _pg(conn) else ""  # byte order, as SQLite's BINARY
    rows = conn.execute(text(
        f"SELECT f.value, COUNT(*) FROM search_docs d JOIN search_facets f ON f.n = d.n AND f.facet = :facet{where}"
        f" GROUP BY f.value ORDER BY COUNT(*) DESC, f.value{collate}"), {"facet": facet, **params}).fetchall()
    return _facet_rows(rows, facet, filters, labels)


def _facet_rows(rows, facet: str, filters: dict[str, list[str]], labels: dict[str, str]) -> list[tuple[str, str, int]]:
    out = [(value, labels.get(value, value), int(count)) for value, count in rows]
    seen = {value for value, _ in rows}
    out += [(v, labels.get(v, v), 0) for v in filters.get(facet, []) if v not in seen]
    return out


def _one_value(match, filters: dict[str, list[str]]) -> bool:
    """Tell whether a search is answered by the kept counts: no words, at most one value of one facet."""
    return match is None and len(filters) <= 1 and all(len(v) == 1 for v in filters.values())


def _facets(conn, match: "Match | str | None", filters: dict[str, list[str]],
            labels: dict[str, dict[str, str]]) -> dict[str, list[tuple[str, str, int]]]:
    """Count every facet: the kept counts when at most one value of one facet is chosen and no words are
    searched (the portal's home and facet links), else from the matching datasets, in one pass for the
    facets that have no value chosen."""
    if _one_value(match, filters):
        return {f: _facet_rows(rows, f, filters, labels.get(f, {})) for f, rows in _kept_facets(conn, filters).items()}
    pg = _pg(conn)
    out: dict[str, list] = {f: _facet(conn, f, match, filters, labels.get(f, {})) for f in FACETS if f in filters}
    free = [f for f in FACETS if f not in filters]
    if free:
        if match == MATCHED:  # from the matching datasets to their facet rows (SQLite's CROSS JOIN: in that order)
            where, params = _where(pg, None, filters)
            join = "JOIN" if pg else "CROSS JOIN"
            source = f"{_matched(pg)} m {join} search_docs d ON d.n = m.n {join} search_facets f ON f.n = d.n"
        else:
            where, params = _where(pg, match, filters)
            source = "search_docs d JOIN search_facets f ON f.n = d.n"
        names = {f"free{i}": f for i, f in enumerate(free)}
        where = (where + " AND" if where else " WHERE") + f" f.facet IN ({', '.join(':' + n for n in names)})"
        rows = conn.execute(text(f"SELECT f.facet, f.value, COUNT(*) FROM {source}{where} GROUP BY f.facet, f.value"),
                            {**params, **names}).fetchall()
        for f in free:  # Python orders str by code point: UTF-8's byte order, as BINARY and COLLATE "C"
            mine = sorted(((v, c) for facet, v, c in rows if facet == f), key=lambda r: (-r[1], r[0]))
            out[f] = _facet_rows(mine, f, filters, labels.get(f, {}))
    return {f: out[f] for f in FACETS}


def _kept_facets(conn, filters: dict[str, list[str]]) -> dict[str, list[tuple[str, int]]]:
    """Read facet counts kept by the index: of the whole catalogue, or under one chosen value (its pairs)."""
    collate = ' COLLATE "C"' if _pg(conn) else ""  # byte order, as SQLite's BINARY

    def whole(f: str) -> list:
        return conn.execute(text("SELECT value, n FROM search_facet_totals WHERE facet = :f AND n > 0"
                                 f" ORDER BY n DESC, value{collate}"), {"f": f}).fetchall()

    if not filters:
        return {f: whole(f) for f in FACETS}
    (chosen, (value,)), = filters.items()
    return {f: whole(f) if f == chosen else conn.execute(text(  # ordered by the other value (not the chosen one)
        "SELECT other_value, n FROM search_facet_pairs WHERE facet = :c AND value = :v AND other = :f AND n > 0"
        f" ORDER BY n DESC, other_value{collate}"), {"c": chosen, "v": value, "f": f}).fetchall() for f in FACETS}


def _total(conn, match: "Match | str | None", filters: dict[str, list[str]]) -> int:
    """Count the matching datasets: kept for the whole catalogue or one chosen value, else counted."""
    if match is None and not filters:
        row = conn.execute(text("SELECT n FROM search_doc_totals WHERE key = 'datasets'")).fetchone()
        return int(row[0]) if row else 0
    if _one_value(match, filters):
        (facet, (value,)), = filters.items()
        row = conn.execute(text("SELECT n FROM search_facet_totals WHERE facet = :f AND value = :v"),
                           {"f": facet, "v": value}).fetchone()
        return int(row[0]) if row else 0
    where, params = _where(_pg(conn), match, filters)
    return int(conn.execute(text(f"SELECT COUNT(*) FROM search_docs d{where}"), params).fetchone()[0])


def _order(pg: bool, sort: str, match: "Match | str | None", lang: str) -> str:
    newest = "d.modified DESC NULLS LAST" if pg else "d.modified DESC"
    if sort == "title":
        return f"COALESCE(d.title_{lang}, d.title_zh, d.id){' COLLATE \"C\"' if pg else ''}, d.n"
    if sort == "relevance" and match == MATCHED:
        return f"m.rank, {newest}, d.n"
    return f"{newest}, d.n"


def _hit(row: dict, lang: str, words: list[str], labels: dict[str, dict[str, str]]) -> dict:
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


def _hits(conn, match: "Match | str | None", filters: dict[str, list[str]], sort: str,
          lang: str, limit: int, offset: int) -> list:
    pg = _pg(conn)
    if sort == "relevance" and match == MATCHED:  # ranked as the words were matched (_match_once)
        where, params = _where(pg, None, filters)
        source = f"{_matched(pg)} m JOIN search_docs d ON d.n = m.n"
    else:
        source = "search_docs d"
        where, params = _where(pg, match, filters)
    return _dicts(conn.execute(text(f"SELECT d.* FROM {source}{where} ORDER BY {_order(pg, sort, match, lang)}"
                                    " LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset}))


def _dicts(result) -> list[dict]:
    """Rows as dicts, from SQLAlchemy's result (PostgreSQL) or sqlite3's cursor (the embedded index)."""
    keys = list(result.keys()) if hasattr(result, "keys") else [d[0] for d in result.description]
    return [dict(zip(keys, row)) for row in result]


def bm25_scores(conn, match: Match, filters: dict[str, list[str]],
                lo: int | None = None, matched: int | None = None,
                common: frozenset[str] = frozenset()) -> list[tuple[int, float]]:
    """PostgreSQL: return (number, bm25) of the matching datasets (numbered lo or more when given), bm25 as
    FTS5's ``bm25()`` gives it (the statement _match_once writes into the ranked matches)."""
    sql, params = _bm25_select(conn, match, filters, lo, matched, common)
    return [(row[0], row[1]) for row in conn.execute(text(sql), params)]


def _bm25_select(conn, match: Match, filters: dict[str, list[str]],
                 lo: int | None = None, matched: int | None = None,
                 common: frozenset[str] = frozenset()) -> tuple[str, dict]:
    """PostgreSQL: the SELECT of (n, rank) of the matching datasets, rank = −bm25, computed by the database.

    The same formula as SQLite's fts5_aux.c over the same tokens, in the same order of operations on doubles
    (so the same bits as Python's, and as FTS5's to 1e-12): per phrase, the IDF of the rows holding it and its
    weighted count in the row; the row's length in tokens against the average (both of the whole index). Each
    phrase's rows are read once (numbered lo or more): the matches are sets of them, the counts come from them,
    and unbounded, their number is the phrase's IDF's — except, unbounded, a common word's (``common``), which is
    counted from the index and looked up by key for each match. Nothing of the rows comes to Python (10,000
    ranked rows were ~60 ms of the web process's CPU a search)."""
    where, params = _where(True, None, filters)  # on d, joined only for them
    bounded = lo is not None
    if bounded:
        where, params["lo"] = (where + " AND" if where else " WHERE") + " h.n >= :lo", lo
    kept = conn.execute(text("SELECT (SELECT n FROM search_doc_totals WHERE key = 'datasets'), "
                             "(SELECT n FROM search_text_totals WHERE key = 'tokens')")).fetchone()
    if kept[1] is not None:  # kept with the rows (search_0006): not counted over the whole index per search
        n_rows, n_tokens = kept[0] or 0, kept[1]
    else:
        n_rows, n_tokens = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(ntok), 0) FROM search_text")).fetchone()
    params.update(n_rows=float(n_rows), avgdl=float(n_tokens) / float(n_rows) if n_rows else 0.0,
                  k1=K1, k1p1=K1 + 1.0, b=B, b1=1.0 - B, floor=1e-6)
    single = not filters and len(match.terms) == 1
    only = match.terms[0][0][0] if single and len(match.terms[0]) == 1 and len(match.terms[0][0]) == 1 else None
    ctes, joins, terms = [], [], []
    # (bounded, the candidates' rows are few already: read once, as any phrase's)
    many = frozenset() if bounded else _common_phrases(match, common)
    # one phrase read once: its rows are the matches (h), with their counts and lengths, joined to nothing
    direct = len(match.phrases) == 1 and 0 not in many
    # the dataset's number of tokens, from any phrase's row of it (every match holds one: search_0009)
    ntok = "h.ntok" if direct else "COALESCE(" + ", ".join(f"p{k}.ntok" for k in range(len(match.phrases))) + ")"
    length = f"(:k1 * (:b1 + ((:b * CAST({ntok} AS double precision)) / :avgdl)))"
    for k, (g, tokens) in enumerate(match.phrases):
        params.update(_phrase_params(k, tokens))
        if k in many:  # a word in very many datasets: each match's counts by key, its rows counted from the index
            joins.append(f" LEFT JOIN LATERAL ({_phrase_rows(k, g, tokens, at='h.n')}) p{k} ON TRUE")
            rows = f"({_phrase_rows(k, g, tokens)}) c"
        else:  # its rows read once: matched, counted and joined from them
            ctes.append(f"p{k} AS MATERIALIZED ({_phrase_rows(k, g, tokens, lo=bounded)})")
            if not direct:
                joins.append(f" LEFT JOIN p{k} ON p{k}.n = h.n")
            rows = f"p{k}"
        if not bounded:  # every row holding the phrase: their number
            hits = f"(SELECT CAST(count(*) AS double precision) FROM {rows})"
        else:  # the query is this phrase: every match holds it; else counted apart
            params[f"h{k}"] = float(matched if k == only and matched is not None else conn.execute(
                text(f"SELECT COUNT(*) FROM ({_phrase_rows(k, g, tokens)}) p"), _phrase_params(k, tokens)).fetchone()[0])
            hits = f"(SELECT CAST(:h{k} AS double precision))"
        ctes.append(f"i{k} AS MATERIALIZED (SELECT CASE WHEN v > 0 THEN v ELSE :floor END AS idf FROM "
                    f"(SELECT ln((:n_rows - h + 0.5) / (h + 0.5)) AS v FROM {hits} AS c(h) OFFSET 0) x)")
        joins.append(f" CROSS JOIN i{k}")
        weights = WEIGHTS[:3] if g == "w" else WEIGHTS[3:]
        for j, w in enumerate(weights):
            params[f"w{k}_{j}"] = w
        p = "h" if direct else f"p{k}"
        freq = f"((:w{k}_0 * COALESCE({p}.f0, 0) + :w{k}_1 * COALESCE({p}.f1, 0)) + :w{k}_2 * COALESCE({p}.f2, 0))"
        terms.append(f"(i{k}.idf * (({freq} * :k1p1) / ({freq} + {length})))")
    score = terms[0]
    for term in terms[1:]:
        score = f"({score} + {term})"
    matching = "p0" if direct else "(" + _set_of(
        match, lambda k: f"SELECT n FROM ({_phrase_rows(k, *match.phrases[k], lo=bounded)}) p{k}"
        if k in many else f"SELECT n FROM p{k}", many) + ")"
    docs = " JOIN search_docs d ON d.n = h.n" if filters else ""
    return (f"WITH {', '.join(ctes)} SELECT h.n, -({score}) AS rank "
            f"FROM {matching} h{docs}{''.join(joins)}{where}", params)


def run_search(conn, q: str, filters: Mapping[str, Iterable[str]] | None, page,
               page_size, lang: str, sort: str, candidates: int = RANK_CANDIDATES,
               common: frozenset[str] = frozenset()) -> SearchResult:
    """Search the index in one read snapshot (the caller's transaction), so that total, hits and facets agree.

    Without words, the whole catalogue's counts and those under one facet value are read from the kept counts
    (issue 11). With words, the total and the facets are counted in one pass over the matches by their kept
    combinations of facet values (_combo_counts), and a relevance page ranks at most ``candidates`` matches
    (_ranked_hits), so a word in most of the catalogue does not make every match scored.
    """
    lang = "en" if str(lang or "").lower().startswith("en") else "zh"
    page = _clamp(page, 1, MAX_PAGE, 1)
    page_size = _clamp(page_size, 1, MAX_PAGE_SIZE, 20)
    sort = sort if sort in SORTS else "relevance"
    match, chosen = Match.of(q), clean_filters(filters)
    labels = {kind: vocabulary_labels(conn, kind, lang) for kind in ("department", "theme", "open_type")}
    offset = (page - 1) * page_size
    if match is None:
        total = _total(conn, None, chosen)
        rows = _hits(conn, None, chosen, sort, lang, page_size, offset) if offset < total else []
        facets = _facets(conn, None, chosen, labels)
    else:
        # PostgreSQL, a relevance page of several phrases, none in very many datasets: every match is ranked
        # first, once, and the facets are counted from the ranked matches, so the phrases (a word and its
        # synonyms: up to seven tokens joined on the dataset) are found once, not once for the counts and again
        # for the ranking. (One token's facets are read from its index alone: _combo_counts.)
        once = (_pg(conn) and sort == "relevance" and _one_token(match) is None
                and _all_rare(conn, match, common))
        if once:
            _match_once(conn, match, ranked=True, common=common)
        combos = _combo_counts(conn, MATCHED if once else match, common)
        total, facets = _counted_by_combos(combos, chosen, labels)
        if offset >= total:
            rows = []
        elif sort == "relevance":
            rows = _ranked_hits(conn, match, chosen, total, max(1, int(candidates)), page_size, offset,
                                matched=sum(count for _, count in combos), common=common, ranked_all=once)
        else:
            _match_once(conn, match, ranked=False)
            rows = _hits(conn, MATCHED, chosen, sort, lang, page_size, offset)
    hits = [_hit(row, lang, query_words(q), labels) for row in rows]
    return SearchResult(total, page, page_size, hits, facets)
