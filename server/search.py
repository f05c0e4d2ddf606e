"""Keep the portal's full-text index, derived from the store, Chinese-aware (SQLite FTS5 or PostgreSQL).

Chinese text is indexed the CJKAnalyzer way: each run of CJK characters becomes its overlapping character
bigrams (in the columns title, description, keywords) and its single characters (in the *_c columns), so
two-character words such as 交通 match, and a longer query matches as a phrase of consecutive bigrams; jieba's
words of three characters or more follow (server.search_tokens). Latin words are kept as words (case-insensitive,
Porter-stemmed by FTS5). Queries are cut into words by jieba and expanded by synonyms (docs/search.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from sqlalchemy import text

from access.policy import RESTRICTED, open_type_of, public_view

from core.database import Database, as_database, in_lists
from server import search_tokens
from server.search_query import (FACETS, POSTINGS_SQL, RANK_CANDIDATES, RECOUNT, SearchResult, combo_key, common_tokens,
                                 index_text, matching_page, matching_uris, run_search, vocabulary_labels)
from sparql.followers import Follower

__all__ = ["FACETS", "SearchIndex", "SearchResult", "read_datasets", "read_labels"]

log = logging.getLogger(__name__)
POSTINGS_CHUNK = 5000  # PostgreSQL: datasets whose postings are written together, in token order

DEF = "https://data.wuhan.gov.cn/def/"
LABEL_KINDS = {"department/": "department", "theme/": "theme", "open-type/": "open_type",
               "update-cycle/": "update_cycle"}
SPATIAL_STATUSES = {"spatial", "spatialized"}

PREFIXES = """PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX wodp: <https://data.wuhan.gov.cn/def/wodp#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
"""
DATASET_FIELDS = """SELECT ?d ?p ?o WHERE { %s GRAPH ?d { ?d a dcat:Dataset ; ?p ?o }
  FILTER(?p IN (dct:identifier, dct:title, dct:description, dcat:keyword, dct:publisher, dcat:theme,
                wodp:openType, dct:accessRights, dct:modified, dct:issued, wodp:spatializationStatus, dct:spatial)) }"""
DISTRIBUTIONS = """SELECT ?d ?x ?f ?dl WHERE { %s GRAPH ?d { ?d a dcat:Dataset ; dcat:distribution ?x .
  OPTIONAL { ?x dct:format ?f } OPTIONAL { ?x dcat:downloadURL ?dl } } }"""
LABELS = """SELECT ?g ?s ?p ?l WHERE { VALUES ?p { skos:prefLabel foaf:name } GRAPH ?g { ?s ?p ?l }
  FILTER(isLiteral(?l) && STRSTARTS(STR(?s), "%s")) }""" % DEF
VOCABULARY_GRAPH = DEF + "graph/vocabulary"

# Kept rather than counted per request (issue 11): the counts of each facet value, of each pair of facet values
# on one dataset, and the home page's totals (search_facet_totals, search_facet_pairs, search_doc_totals; made by
# the migration search_0002). On SQLite its triggers change them with the rows they count; on PostgreSQL
# _count_in and _count_out do it in the same transaction. A rebuild counts once after its rows (RECOUNT).


# -- reading the store ---------------------------------------------------------------------------
def _local(uri: str) -> str:
    return re.split(r"[/#]", uri.rstrip("/"))[-1]


def _lang(literal) -> str:
    return "en" if (getattr(literal, "language", None) or "").lower().startswith("en") else "zh"


def _iri(uri: str) -> str | None:
    try:
        return str(ox.NamedNode(uri))
    except ValueError:
        return None


def _values(uris: Iterable[str] | None) -> str:
    if uris is None:
        return ""
    iris = [iri for iri in map(_iri, uris) if iri]  # not an IRI: not in the store either
    return "VALUES ?d { %s }" % " ".join(iris)


def _empty_doc(uri: str) -> dict:
    return {"uri": uri, "id": _local(uri), "title": {}, "description": {}, "keywords": [],
            "department": None, "open_type": None, "modified": None, "issued": None, "spatial": False,
            "themes": [], "formats": [], "distributions": set(), "downloadable": set(), "access": ([], [])}


def _add_field(doc: dict, p: str, o) -> None:
    value = o.value
    name = _local(p)
    if name in ("title", "description"):
        doc[name].setdefault(_lang(o), value)
    elif name == "keyword":
        doc["keywords"].append(value)
    elif name == "identifier":
        doc["id"] = value
    elif name == "publisher":
        doc["department"] = _local(value)
    elif name == "theme" and value.startswith(DEF + "theme/"):
        doc["themes"].append(_local(value))
    elif name == "openType":
        doc["open_type"] = _local(value)
        doc["access"][0].append(value)
    elif name == "accessRights":
        doc["access"][1].append(value)
    elif name in ("modified", "issued"):
        doc[name] = value[:10]
    elif name == "spatializationStatus":
        doc["spatial"] |= _local(value) in SPATIAL_STATUSES
    elif name == "spatial":
        doc["spatial"] = True


def read_datasets(store, uris: Iterable[str] | None = None) -> list[dict]:
    """Read the indexed fields of the given datasets (all when uris is None) from the store."""
    docs: dict[str, dict] = {}
    values = _values(uris)
    for row in store.query(PREFIXES + DATASET_FIELDS % values):
        doc = docs.setdefault(row["d"].value, _empty_doc(row["d"].value))
        _add_field(doc, row["p"].value, row["o"])
    for row in store.query(PREFIXES + DISTRIBUTIONS % values):
        doc = docs.get(row["d"].value)
        if doc is None:
            continue
        doc["distributions"].add(row["x"].value)
        if row["f"] is not None:
            fmt = _local(row["f"].value).upper()
            if fmt not in doc["formats"]:
                doc["formats"].append(fmt)
        if row["dl"] is not None:
            doc["downloadable"].add(row["x"].value)
    return list(docs.values())


_FIELDS = {"http://purl.org/dc/terms/" + n for n in ("identifier", "title", "description", "publisher", "modified",
                                                     "issued", "spatial", "accessRights")} | {
    "http://www.w3.org/ns/dcat#keyword", "http://www.w3.org/ns/dcat#theme", "https://data.wuhan.gov.cn/def/wodp#openType",
    "https://data.wuhan.gov.cn/def/wodp#spatializationStatus"}
_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_DATASET = "http://www.w3.org/ns/dcat#Dataset"
_DISTRIBUTION = "http://www.w3.org/ns/dcat#distribution"
_FORMAT = "http://purl.org/dc/terms/format"
_DOWNLOAD = "http://www.w3.org/ns/dcat#downloadURL"


def doc_from_triples(uri: str, triples) -> dict | None:
    """Read the indexed fields of one dataset from its graph, as read_datasets does from the store (which holds
    a restricted dataset's public view: sparql/public.py)."""
    triples = public_view(uri, list(triples))
    subject = ox.NamedNode(uri)
    own = [t for t in triples if t.subject == subject]
    if not any(t.predicate.value == _TYPE and t.object.value == _DATASET for t in own):
        return None
    doc = _empty_doc(uri)
    for t in own:
        if t.predicate.value in _FIELDS:
            _add_field(doc, t.predicate.value, t.object)
    dists = {t.object for t in own if t.predicate.value == _DISTRIBUTION}
    for t in triples:
        if t.subject in dists:
            if t.predicate.value == _FORMAT:
                fmt = _local(t.object.value).upper()
                if fmt not in doc["formats"]:
                    doc["formats"].append(fmt)
            elif t.predicate.value == _DOWNLOAD:
                doc["downloadable"].add(t.subject.value)
    doc["distributions"] = {d.value for d in dists}
    return doc


def read_labels(store) -> list[tuple[str, str, str, str]]:
    """Read (kind, code, lang, label) of departments, themes, open types and cycles from the store.

    The vocabulary graph's skos:prefLabel wins, then its foaf:name, then names in dataset graphs.
    """
    best: dict[tuple[str, str, str], tuple[int, str]] = {}
    for row in store.query(PREFIXES + LABELS):
        uri = row["s"].value
        kind = next((k for p, k in LABEL_KINDS.items() if uri.startswith(DEF + p)), None)
        if kind is None:
            continue
        rank = 2 * (row["g"].value != VOCABULARY_GRAPH) + (not row["p"].value.endswith("prefLabel"))
        key = (kind, _local(uri), _lang(row["l"]))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, row["l"].value)
    return [(*key, label) for key, (_, label) in best.items()]


_LABEL_PREDICATES = {"http://www.w3.org/2004/02/skos/core#prefLabel", "http://xmlns.com/foaf/0.1/name"}


def labels_in(graphs) -> set[tuple[str, str, str, str]]:
    """The (kind, code, lang, label) that dataset graphs name, as ``read_labels`` reads them from the store."""
    found = set()
    for triples in graphs:
        for t in triples:
            if t.predicate.value in _LABEL_PREDICATES and isinstance(t.object, ox.Literal) \
                    and isinstance(t.subject, ox.NamedNode) and t.subject.value.startswith(DEF):
                uri = t.subject.value
                kind = next((k for p, k in LABEL_KINDS.items() if uri.startswith(DEF + p)), None)
                if kind is not None:
                    found.add((kind, _local(uri), _lang(t.object), t.object.value))
    return found


def _vocabulary_labels(store) -> set[tuple[str, str, str, str]]:
    """The winning labels of the vocabulary graph alone, as ``read_labels`` ranks them (skos:prefLabel, then
    foaf:name); a few hundred: bounded, unlike ``read_labels``."""
    rows = store.query(PREFIXES + "SELECT ?s ?p ?l WHERE { VALUES ?p { skos:prefLabel foaf:name } "
                       f"GRAPH <{VOCABULARY_GRAPH}> {{ ?s ?p ?l }} FILTER(isLiteral(?l)) }}")
    best: dict[tuple[str, str, str], tuple[int, str]] = {}
    for row in rows:
        if not isinstance(row["s"], ox.NamedNode):
            continue
        for kind, code, lang, label in labels_in([[ox.Triple(row["s"], row["p"], row["l"])]]):
            rank = 0 if row["p"].value.endswith("prefLabel") else 1
            if (kind, code, lang) not in best or rank < best[(kind, code, lang)][0]:
                best[(kind, code, lang)] = (rank, label)
    return {(*key, label) for key, (_, label) in best.items()}


def _public_downloads(doc: dict) -> int:
    """Return the download links the public may follow: none when the data is restricted (access.policy)."""
    return 0 if open_type_of(*doc["access"]) in RESTRICTED else len(doc["downloadable"])


# -- the index -----------------------------------------------------------------------------------
class _Counts:
    """PostgreSQL: what a write adds to or takes from the kept counts, as SQLite's triggers count it."""

    def __init__(self) -> None:
        self.values: Counter = Counter()
        self.pairs: Counter = Counter()
        self.docs: Counter = Counter()

    def add(self, spatial: int, distributions: int, downloadable: int, values: list[tuple[str, str]],
            sign: int) -> None:
        """Count one dataset in (sign 1) or out (-1): its facet values, their pairs, the home page's totals."""
        self.docs.update({"datasets": sign, "spatial": sign * spatial, "distributions": sign * distributions,
                          "downloadable": sign * (downloadable > 0)})
        for a in values:
            self.values[a] += sign
            for b in values:
                if a != b:
                    self.pairs[(*a, *b)] += sign

    def write(self, conn) -> None:
        if not self.docs:
            return
        conn.execute(text("INSERT INTO search_doc_totals (key, n) VALUES (:k, :d) ON CONFLICT (key) "
                          "DO UPDATE SET n = search_doc_totals.n + excluded.n"),
                     [{"k": k, "d": d} for k, d in sorted(self.docs.items())])
        if self.values:
            conn.execute(text("INSERT INTO search_facet_totals (facet, value, n) VALUES (:f, :v, :d) "
                              "ON CONFLICT (facet, value) DO UPDATE SET n = search_facet_totals.n + excluded.n"),
                         [{"f": f, "v": v, "d": d} for (f, v), d in sorted(self.values.items())])
        if self.pairs:
            conn.execute(text("INSERT INTO search_facet_pairs (facet, value, other, other_value, n) "
                              "VALUES (:f, :v, :o, :ov, :d) ON CONFLICT (facet, value, other, other_value) "
                              "DO UPDATE SET n = search_facet_pairs.n + excluded.n"),
                         [{"f": f, "v": v, "o": o, "ov": ov, "d": d}
                          for (f, v, o, ov), d in sorted(self.pairs.items())])


class SearchIndex(Follower):
    """The portal's search index: its tables in the data layer (core.database), writers serialised.

    On SQLite the words are an FTS5 table; on PostgreSQL the same tokens (server.search_tokens) are arrays,
    matched and ranked by the same rules (server.search_query), so both answer a query alike.
    """

    def __init__(self, where: "Path | Database", rank_candidates: int = RANK_CANDIDATES, *,
                 synonyms: Path | None = None) -> None:
        """synonyms: the synonym file queries use (None: server/search_synonyms.yml), the process's
        (server.search_tokens.configure)."""
        search_tokens.configure(synonyms=synonyms)
        self.db = as_database(where, "search")
        self.rank_candidates = rank_candidates  # search.rank_candidates (server.search_query._ranked_hits)
        self._common: tuple[float, frozenset[str]] | None = None  # (read at, tokens in very many datasets)
        self.path = self.db.path
        self._write_lock = threading.Lock()

    def close(self) -> None:
        """Close the index's connections."""
        self.db.close()

    # -- state -----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        rows = self.db.rows("SELECT value FROM search_meta WHERE key = :key", {"key": key})
        return rows[0][0] if rows else None

    def generation(self) -> int:
        """Return the store generation the index was last brought up to."""
        return int(self._meta("generation") or -1)

    def count(self) -> int:
        """Return the number of indexed datasets."""
        return self.db.rows("SELECT COUNT(*) FROM search_docs")[0][0]

    def token_scheme(self) -> str | None:
        """Return the name of the tokens the index was built with (server.search_tokens.token_scheme)."""
        return self._meta("tokens")

    def in_step_with(self, store) -> bool:
        """Tell whether the index holds the store's generation and dataset count, made by today's tokenizer.

        An index made by another tokenizer (another jieba, our dictionary or index_text changed: a new
        token_scheme) is not: the start-up check rebuilds it once (sparql.followers.verify_follower), and the
        rebuild notes the new scheme.
        """
        return (self.token_scheme() == search_tokens.token_scheme() and self.generation() == store.generation
                and self.count() == store.count_datasets())

    def stats(self) -> dict[str, int]:
        """Return the counts the home page shows (kept with the index's rows, not counted per view)."""
        with self.db.read() as conn:
            kept = {key: int(n) for key, n in conn.execute(text("SELECT key, n FROM search_doc_totals"))}
            departments = conn.execute(text(
                "SELECT COUNT(*) FROM search_facet_totals WHERE facet = 'department' AND n > 0")).fetchone()[0]
        return {"datasets": kept.get("datasets", 0), "departments": int(departments),
                "spatial": kept.get("spatial", 0), "distributions": kept.get("distributions", 0),
                "downloadable": kept.get("downloadable", 0)}

    # -- writes ----------------------------------------------------------------------------
    def rebuild(self, store) -> None:
        """Replace the whole index by the store's datasets in one transaction (readers see old or new)."""
        started, scheme = time.monotonic(), search_tokens.token_scheme()
        with self._write_lock:  # read under the lock too, so a later event is never overwritten
            generation = store.generation
            docs, labels = read_datasets(store), read_labels(store)
            with self.db.write(serial=True) as conn:
                self._pause_counting(conn)  # every row is counted once below, not one by one
                tables = ["search_docs", "search_facets", "search_labels", "search_doc_combos", "search_combos",
                          *(["search_text", "search_postings"] if self.db.postgres else ["search_fts"]), *RECOUNT]
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
                self._insert(conn, docs, counted=False)
                for table, rows in RECOUNT.items():  # counted once after the rows, then kept with them
                    conn.execute(text(f"INSERT INTO {table} {rows}"))
                if self.db.postgres:  # and the tokens bm25 averages (search_0006); FTS5 keeps its own
                    conn.execute(text("DELETE FROM search_text_totals"))
                    conn.execute(text("INSERT INTO search_text_totals (key, n) "
                                      "SELECT 'tokens', COALESCE(SUM(ntok), 0) FROM search_text"))
                    # the planner's figures of the new postings (a phrase's joins are planned from them)
                    conn.execute(text("ANALYZE search_postings"))
                self._resume_counting(conn)
                self._write_labels(conn, labels)
                self._set_generation(conn, generation, keep_newer=False)
                conn.execute(text("INSERT INTO search_meta (key, value) VALUES ('tokens', :s) "
                                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value"), {"s": scheme})
        if self.db.postgres:
            self._vacuum_postings()
        log.info("search index rebuilt: %d datasets at generation %d (tokens %s) in %.1f s", len(docs), generation,
                 scheme, time.monotonic() - started)

    def _vacuum_postings(self) -> None:
        """PostgreSQL: mark the new postings' pages all-visible (VACUUM, outside any transaction), so that a word's
        rows and its facet counts are read from the indexes alone at once, not after autovacuum comes by."""
        try:
            with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) search_postings"))
        except Exception as exc:  # the index is whole without it; searches read the heap until autovacuum runs
            log.warning("search: VACUUM of the postings after the rebuild failed (%s)", exc)

    def graphs_changed(self, store) -> None:
        """Follower contract: the labels come from the vocabulary and catalogue graphs; read them again."""
        self.refresh_labels(store)

    def refresh_labels(self, store) -> None:
        """Read the vocabulary labels again after the vocabulary graph changed (the datasets did not).

        Called just after the start-up check found the index in step, so it takes the store's generation.
        """
        with self._write_lock:
            generation, labels = store.generation, read_labels(store)
            with self.db.write(serial=True) as conn:
                self._write_labels(conn, labels)
                self._set_generation(conn, generation, keep_newer=True)

    def follow(self, store, event) -> None:
        """Apply one publish event: re-read the datasets it put, drop those it removed."""
        if event.reset:
            self.rebuild(store)
            return
        uris = list(dict.fromkeys((*event.put, *event.removed)))
        put = list(event.put)
        carried = getattr(event, "graphs", None) or {}
        with self._write_lock:
            docs = [d for uri in put if uri in carried if (d := doc_from_triples(uri, carried[uri]))]
            rest = [uri for uri in put if uri not in carried]
            docs += [d for i in range(0, len(rest), 500) for d in read_datasets(store, rest[i:i + 500])]
            labels = self._labels_after(store, event, carried, rest)
            with self.db.write(serial=True) as conn:
                self._delete(conn, uris)
                self._insert(conn, docs)
                if labels is not None:
                    self._write_labels(conn, labels)
                self._set_generation(conn, event.generation, keep_newer=True)

    @staticmethod
    def _set_generation(conn, generation: int, *, keep_newer: bool) -> None:
        row = conn.execute(text("SELECT value FROM search_meta WHERE key = 'generation'")).fetchone()
        if keep_newer and row and int(row[0]) > generation:
            return
        conn.execute(text("INSERT INTO search_meta (key, value) VALUES ('generation', :g) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value"), {"g": str(generation)})

    def _delete(self, conn, uris: list[str]) -> None:
        words = ["DELETE FROM search_text WHERE n = :n", "DELETE FROM search_postings WHERE n = :n"] \
            if self.db.postgres else ["DELETE FROM search_fts WHERE rowid = :n"]
        counts, tokens = _Counts(), 0
        held, uris = [], list(dict.fromkeys(uris))
        for marks, params in in_lists(uris):  # which are indexed: one query per 500, not one each
            held += conn.execute(text("SELECT n, spatial, distributions, downloadable FROM search_docs "
                                      f"WHERE uri IN ({marks}) ORDER BY n"), params).fetchall()
        for row in held:
            if self.db.postgres:  # SQLite's triggers count the rows out as they go
                values = conn.execute(text("SELECT facet, value FROM search_facets WHERE n = :n"), {"n": row[0]})
                counts.add(row[1], row[2], row[3], [(f, v) for f, v in values], -1)
                ntok = conn.execute(text("SELECT ntok FROM search_text WHERE n = :n"), {"n": row[0]}).fetchone()
                tokens -= ntok[0] if ntok else 0
            for sql in ("DELETE FROM search_docs WHERE n = :n", "DELETE FROM search_facets WHERE n = :n",
                        "DELETE FROM search_doc_combos WHERE n = :n", *words):
                conn.execute(text(sql), {"n": row[0]})
        counts.write(conn)
        self._count_tokens(conn, tokens)

    def _insert(self, conn, docs: list[dict], *, counted: bool = True) -> None:
        """Add documents, numbered after the highest number held (both backends number alike).

        counted: count them into the kept counts (on PostgreSQL here; SQLite's triggers count them by themselves
        unless a rebuild paused them).
        """
        if not docs:
            return
        n = conn.execute(text("SELECT COALESCE(MAX(n), 0) FROM search_docs")).fetchone()[0]
        rows, facets, texts, combos = [], [], [], []
        counts = _Counts()
        for doc in docs:
            n += 1
            rows.append({"n": n, "uri": doc["uri"], "id": doc["id"], "title_zh": doc["title"].get("zh"),
                         "title_en": doc["title"].get("en"), "desc_zh": doc["description"].get("zh"),
                         "desc_en": doc["description"].get("en"), "department": doc["department"],
                         "open_type": doc["open_type"], "modified": doc["modified"], "issued": doc["issued"],
                         "spatial": int(doc["spatial"]), "distributions": len(doc["distributions"]),
                         "downloadable": _public_downloads(doc),
                         "themes": json.dumps(sorted(set(doc["themes"]))), "formats": json.dumps(doc["formats"])})
            values = [("department", doc["department"]), ("open_type", doc["open_type"])]
            values += [("theme", t) for t in set(doc["themes"])] + [("format", f) for f in doc["formats"]]
            mine = [(f, v) for f, v in dict.fromkeys(values) if v]
            facets += [{"f": f, "v": v, "n": n} for f, v in mine]
            combos.append((n, combo_key(mine)))
            counts.add(rows[-1]["spatial"], rows[-1]["distributions"], rows[-1]["downloadable"], mine, 1)
            columns = [index_text(" ".join(doc[k].values())) for k in ("title", "description")]
            columns.append(index_text(" ".join(doc["keywords"])))
            texts.append((n, [c[0] for c in columns] + [c[1] for c in columns]))
        conn.execute(text("INSERT INTO search_docs (n, uri, id, title_zh, title_en, desc_zh, desc_en, department,"
                          " open_type, modified, issued, spatial, distributions, downloadable, themes, formats)"
                          " VALUES (:n, :uri, :id, :title_zh, :title_en, :desc_zh, :desc_en, :department,"
                          " :open_type, :modified, :issued, :spatial, :distributions, :downloadable, :themes,"
                          " :formats)"), rows)
        if facets:
            conn.execute(text("INSERT INTO search_facets (facet, value, n) VALUES (:f, :v, :n) "
                              "ON CONFLICT DO NOTHING"), facets)
        numbers = self._write_combos(conn, combos)
        if self.db.postgres:
            tokens = self._insert_tokens(conn, texts, numbers)
            if counted:
                self._count_tokens(conn, tokens)
        else:
            conn.execute(text("INSERT INTO search_fts (rowid, title, description, keywords, title_c, description_c,"
                              " keywords_c) VALUES (:n, :c0, :c1, :c2, :c3, :c4, :c5)"),
                         [{"n": n, **{f"c{i}": c for i, c in enumerate(cols)}} for n, cols in texts])
        if counted and self.db.postgres:
            counts.write(conn)

    @staticmethod
    def _write_combos(conn, combos: list[tuple[int, str]]) -> dict[int, int]:
        """Keep each dataset's combination of facet values (migration search_0003): numbered once, kept.
        Return each dataset's combination number."""
        keys = sorted({key for _, key in combos})
        known: dict[str, int] = {}
        for marks, params in in_lists(keys):
            known.update(conn.execute(text(f"SELECT key, combo FROM search_combos WHERE key IN ({marks})"),
                                      params).fetchall())
        new = [k for k in keys if k not in known]
        if new:
            top = conn.execute(text("SELECT COALESCE(MAX(combo), 0) FROM search_combos")).fetchone()[0]
            known.update({k: top + 1 + i for i, k in enumerate(new)})
            conn.execute(text("INSERT INTO search_combos (combo, key) VALUES (:c, :k)"),
                         [{"c": known[k], "k": k} for k in new])
        if combos:
            conn.execute(text("INSERT INTO search_doc_combos (n, combo) VALUES (:n, :c)"),
                         [{"n": n, "c": known[key]} for n, key in combos])
        return {n: known[key] for n, key in combos}

    def _pause_counting(self, conn) -> None:
        """SQLite: stop the triggers counting rows one by one until _resume_counting, in this transaction only."""
        if not self.db.postgres:
            conn.execute(text("INSERT INTO search_meta (key, value) VALUES ('bulk', '1')"))

    def _resume_counting(self, conn) -> None:
        if not self.db.postgres:
            conn.execute(text("DELETE FROM search_meta WHERE key = 'bulk'"))

    def _count_tokens(self, conn, tokens: int) -> None:
        """PostgreSQL: keep the index's total of tokens with its rows (search_0006), for bm25's average."""
        if self.db.postgres and tokens:
            conn.execute(text("INSERT INTO search_text_totals (key, n) VALUES ('tokens', :d) ON CONFLICT (key) "
                              "DO UPDATE SET n = search_text_totals.n + excluded.n"), {"d": tokens})

    @staticmethod
    def _insert_tokens(conn, texts: list[tuple[int, list[str]]], combos: dict[int, int]) -> int:
        """PostgreSQL: store each dataset's postings — per FTS5 token (server.search_tokens) of its six columns,
        the count in each column and the places (search_0007), with the dataset's combination of facet values
        (``combos``) and number of tokens (search_0009) — and its number of tokens (search_text); return the tokens
        stored.

        The tokens go to PostgreSQL as one array a column (a row a dataset, as search_0006 kept them), and the
        postings are made from them there (POSTINGS_SQL, the migration's own statement), POSTINGS_CHUNK datasets
        at a time in token order, so that the rows of one token lie together on disk: a phrase's datasets are
        then read from a few pages, not one page each."""
        from server.search_tokens import tokenizer

        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS search_tokens_in (n integer NOT NULL, "
                          + ", ".join(f"c{i} text[] NOT NULL" for i in range(6))
                          + ", combo integer NOT NULL, ntok integer NOT NULL) ON COMMIT DROP"))
        total = 0
        for start in range(0, len(texts), POSTINGS_CHUNK):
            chunk = texts[start:start + POSTINGS_CHUNK]
            tokens = tokenizer().tokens([c for _, cols in chunk for c in cols])
            rows = [{"n": n, **{f"c{j}": tokens[6 * i + j] for j in range(6)}, "combo": combos[n],
                     "ntok": sum(len(t) for t in tokens[6 * i:6 * i + 6])} for i, (n, _) in enumerate(chunk)]
            total += sum(len(t) for t in tokens)
            conn.execute(text("INSERT INTO search_tokens_in (n, c0, c1, c2, c3, c4, c5, combo, ntok) "
                              "VALUES (:n, :c0, :c1, :c2, :c3, :c4, :c5, :combo, :ntok)"), rows)
            conn.execute(text(POSTINGS_SQL.format(source="search_tokens_in", columns=("c0", "c1", "c2", "c3", "c4",
                                                                                       "c5"))))
            conn.execute(text("INSERT INTO search_text (n, ntok) SELECT n, ntok FROM search_tokens_in"))
            conn.execute(text("DELETE FROM search_tokens_in"))
        return total

    def _labels_after(self, store, event, carried, uncarried) -> list | None:
        """The labels to write after an event, or None when they cannot have changed.

        Reading every label of the store (``read_labels``: every dataset graph names its department) after each
        batch grew with the catalogue: 26 % of a harvest at 600,000 datasets. It is read again only when the
        event removed datasets, carried no graphs for some, or its graphs name a label the index does not hold
        as it is. (A label a dataset no longer names stays until the next full read.)
        """
        if event.removed or uncarried:
            return read_labels(store)
        # the vocabulary graph's labels win over any dataset graph's (read_labels), and it changes without an event
        # (put_graph): each of its labels must be held as it is, or everything is read again
        vocabulary = _vocabulary_labels(store)
        keys = {v[:3] for v in vocabulary}
        named = {n for n in labels_in(carried[uri] for uri in event.put if uri in carried) if n[:3] not in keys}
        with self.db.read() as conn:
            held = {tuple(r) for r in conn.execute(text("SELECT kind, code, lang, label FROM search_labels"))}
        return None if (named | vocabulary) <= held else read_labels(store)

    @staticmethod
    def _write_labels(conn, labels: list[tuple[str, str, str, str]]) -> None:
        conn.execute(text("DELETE FROM search_labels"))
        if labels:
            conn.execute(text("INSERT INTO search_labels (kind, code, lang, label) VALUES (:k, :c, :l, :t) "
                              "ON CONFLICT DO NOTHING"),
                         [{"k": k, "c": c, "l": lang, "t": t} for k, c, lang, t in dict.fromkeys(labels)])

    # -- reads -----------------------------------------------------------------------------
    def labels(self, kind: str, lang: str = "zh") -> dict[str, str]:
        """Return code → label of one vocabulary kind, in lang with Chinese as the fallback."""
        with self.db.read() as conn:
            return vocabulary_labels(conn, kind, lang)

    def search(self, q: str = "", filters: dict[str, list[str]] | None = None, page: int = 1,
               page_size: int = 20, lang: str = "zh", sort: str = "relevance") -> SearchResult:
        """Return one page of datasets matching the words and filters, with facet counts."""
        common = self._common_tokens()
        with self.db.read() as conn:
            return run_search(conn, q, filters, page, page_size, lang, sort, self.rank_candidates, common)

    def _common_tokens(self) -> frozenset[str]:
        """The tokens in very many datasets (PostgreSQL's statistics), read again every ten minutes."""
        now = time.monotonic()
        if self.db.path is None and (self._common is None or now - self._common[0] > 600):
            try:
                with self.db.read() as conn:
                    self._common = (now, common_tokens(conn))
            except Exception as exc:  # noqa: BLE001  only a saving lost: every phrase is read whole
                log.info("search: the common tokens could not be read (%s)", exc)
                self._common = (now, frozenset())
        return self._common[1] if self._common is not None else frozenset()

    def matching(self, q: str) -> set[str] | None:
        """Return the URIs of the datasets matching q, exactly as ``search`` counts them (None: q has no words).

        OGC API Records ``q`` is answered by this (ogc.records.use_text_index): one index, the same counts.
        """
        with self.db.read() as conn:
            return matching_uris(conn, q)

    def matching_page(self, q: str, offset: int, limit: int) -> tuple[list[str], int] | None:
        """Return one page of the URIs matching q (in the index's order) and how many match; None: no words.

        OGC API Records ``q`` with nothing else pages through this: a page costs its own rows, not the catalogue.
        """
        with self.db.read() as conn:
            return matching_page(conn, q, offset, limit)
