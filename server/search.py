"""Keep the portal's full-text index: a SQLite FTS5 file derived from the store, Chinese-aware.

Chinese text is indexed the CJKAnalyzer way: each run of CJK characters becomes its overlapping character
bigrams (in the columns title, description, keywords) and its single characters (in the *_c columns), so
two-character words such as 交通 match, and a longer query matches as a phrase of consecutive bigrams.
Latin words are kept as words (case-insensitive, Porter-stemmed by FTS5).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from server.search_query import (FACETS, SearchResult, Transaction, index_text, matching_page, matching_uris,
                                 run_search,
                                 vocabulary_labels)
from core.sqlite import ThreadConnections
from sparql.followers import Follower

__all__ = ["FACETS", "SearchIndex", "SearchResult", "read_datasets", "read_labels"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
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
                wodp:openType, dct:modified, dct:issued, wodp:spatializationStatus, dct:spatial)) }"""
DISTRIBUTIONS = """SELECT ?d ?x ?f ?dl WHERE { %s GRAPH ?d { ?d a dcat:Dataset ; dcat:distribution ?x .
  OPTIONAL { ?x dct:format ?f } OPTIONAL { ?x dcat:downloadURL ?dl } } }"""
LABELS = """SELECT ?g ?s ?p ?l WHERE { VALUES ?p { skos:prefLabel foaf:name } GRAPH ?g { ?s ?p ?l }
  FILTER(isLiteral(?l) && STRSTARTS(STR(?s), "%s")) }""" % DEF
VOCABULARY_GRAPH = DEF + "graph/vocabulary"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(
  n INTEGER PRIMARY KEY, uri TEXT UNIQUE NOT NULL, id TEXT NOT NULL,
  title_zh TEXT, title_en TEXT, desc_zh TEXT, desc_en TEXT, department TEXT, open_type TEXT,
  modified TEXT, issued TEXT, spatial INTEGER NOT NULL, distributions INTEGER NOT NULL,
  downloadable INTEGER NOT NULL, themes TEXT NOT NULL, formats TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS docs_modified ON docs(modified);
CREATE TABLE IF NOT EXISTS facets(facet TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(facet, value, n)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facets_n ON facets(n);
CREATE TABLE IF NOT EXISTS labels(kind TEXT NOT NULL, code TEXT NOT NULL, lang TEXT NOT NULL,
  label TEXT NOT NULL, PRIMARY KEY(kind, code, lang)) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, description, keywords, title_c, description_c,
  keywords_c, tokenize='porter unicode61 remove_diacritics 2');
"""
# Kept rather than counted per request (issue 11): the counts of each facet value, of each pair of facet values
# on one dataset, and the home page's totals. SQLite's triggers change them with the rows they count, in the same
# transaction: an insert or delete of a facets row counts its value and its pairs with the dataset's other values
# (rows are written and deleted one at a time, so each pair is counted once and taken out once).
TOTALS = [
    """CREATE TABLE IF NOT EXISTS facet_totals(facet TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL,
      PRIMARY KEY(facet, value)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS facet_pairs(facet TEXT NOT NULL, value TEXT NOT NULL, other TEXT NOT NULL,
      other_value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(facet, value, other, other_value)) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS doc_totals(key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TRIGGER IF NOT EXISTS facets_counted AFTER INSERT ON facets BEGIN
      INSERT INTO facet_totals VALUES (new.facet, new.value, 1) ON CONFLICT DO UPDATE SET n = n + 1;
      INSERT INTO facet_pairs SELECT new.facet, new.value, f.facet, f.value, 1 FROM facets f
        WHERE f.n = new.n AND NOT (f.facet = new.facet AND f.value = new.value) ON CONFLICT DO UPDATE SET n = n + 1;
      INSERT INTO facet_pairs SELECT f.facet, f.value, new.facet, new.value, 1 FROM facets f
        WHERE f.n = new.n AND NOT (f.facet = new.facet AND f.value = new.value) ON CONFLICT DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER IF NOT EXISTS facets_uncounted AFTER DELETE ON facets BEGIN
      UPDATE facet_totals SET n = n - 1 WHERE facet = old.facet AND value = old.value;
      UPDATE facet_pairs SET n = n - 1 WHERE facet = old.facet AND value = old.value
        AND (other, other_value) IN (SELECT facet, value FROM facets WHERE n = old.n);
      UPDATE facet_pairs SET n = n - 1 WHERE (facet, value) IN (SELECT facet, value FROM facets WHERE n = old.n)
        AND other = old.facet AND other_value = old.value;
    END""",
    """CREATE TRIGGER IF NOT EXISTS docs_counted AFTER INSERT ON docs BEGIN
      INSERT INTO doc_totals VALUES ('datasets', 1), ('spatial', new.spatial),
        ('distributions', new.distributions), ('downloadable', new.downloadable > 0)
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    END""",
    """CREATE TRIGGER IF NOT EXISTS docs_uncounted AFTER DELETE ON docs BEGIN
      INSERT INTO doc_totals VALUES ('datasets', -1), ('spatial', -old.spatial),
        ('distributions', -old.distributions), ('downloadable', -(old.downloadable > 0))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    END""",
]
BACKFILL = [  # an index made before the totals were kept: count once what the triggers keep from now on
    "DELETE FROM facet_totals", "DELETE FROM facet_pairs", "DELETE FROM doc_totals",
    "INSERT INTO facet_totals SELECT facet, value, COUNT(*) FROM facets GROUP BY facet, value",
    """INSERT INTO facet_pairs SELECT a.facet, a.value, b.facet, b.value, COUNT(*) FROM facets a JOIN facets b
      ON b.n = a.n AND NOT (a.facet = b.facet AND a.value = b.value) GROUP BY 1, 2, 3, 4""",
    """INSERT INTO doc_totals SELECT 'datasets', COUNT(*) FROM docs UNION ALL SELECT 'spatial', COALESCE(SUM(spatial), 0)
      FROM docs UNION ALL SELECT 'distributions', COALESCE(SUM(distributions), 0) FROM docs
      UNION ALL SELECT 'downloadable', COALESCE(SUM(downloadable > 0), 0) FROM docs""",
    "INSERT OR REPLACE INTO meta VALUES ('totals', '1')",
]


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
            "themes": [], "formats": [], "distributions": set(), "downloadable": set()}


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
                                                     "issued", "spatial")} | {
    "http://www.w3.org/ns/dcat#keyword", "http://www.w3.org/ns/dcat#theme", "https://data.wuhan.gov.cn/def/wodp#openType",
    "https://data.wuhan.gov.cn/def/wodp#spatializationStatus"}
_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_DATASET = "http://www.w3.org/ns/dcat#Dataset"
_DISTRIBUTION = "http://www.w3.org/ns/dcat#distribution"
_FORMAT = "http://purl.org/dc/terms/format"
_DOWNLOAD = "http://www.w3.org/ns/dcat#downloadURL"


def doc_from_triples(uri: str, triples) -> dict | None:
    """Read the indexed fields of one dataset from its graph, as read_datasets does from the store."""
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


# -- the index -----------------------------------------------------------------------------------
class SearchIndex(Follower):
    """The portal's search index: one SQLite file, one connection per thread, writers serialised."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = ThreadConnections(self.path)
        self._write_lock = threading.Lock()
        self._prepare()

    def _conn(self) -> sqlite3.Connection:
        return self._db.get()

    def _prepare(self) -> None:
        conn = self._conn()
        with self._write_lock:
            version = None
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                version = row[0] if row else None
            if version not in (None, SCHEMA_VERSION):
                for table in ("fts", "docs", "facets", "labels", "meta"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            if conn.execute("SELECT 1 FROM meta WHERE key = 'totals'").fetchone() is None:
                with Transaction(conn, "BEGIN IMMEDIATE"):
                    for sql in TOTALS + BACKFILL:
                        conn.execute(sql)

    def close(self) -> None:
        """Close every connection of every thread."""
        self._db.close()

    # -- state -----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def generation(self) -> int:
        """Return the store generation the index was last brought up to."""
        return int(self._meta("generation") or -1)

    def count(self) -> int:
        """Return the number of indexed datasets."""
        return self._conn().execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def in_step_with(self, store) -> bool:
        """Tell whether the index holds the store's generation and dataset count."""
        return self.generation() == store.generation and self.count() == store.count_datasets()

    def stats(self) -> dict[str, int]:
        """Return the counts the home page shows (kept by the index's triggers, not counted per view)."""
        conn = self._conn()
        with Transaction(conn):
            kept = dict(conn.execute("SELECT key, n FROM doc_totals"))
            departments = conn.execute(
                "SELECT COUNT(*) FROM facet_totals WHERE facet = 'department' AND n > 0").fetchone()[0]
        return {"datasets": kept.get("datasets", 0), "departments": departments, "spatial": kept.get("spatial", 0),
                "distributions": kept.get("distributions", 0), "downloadable": kept.get("downloadable", 0)}

    # -- writes ----------------------------------------------------------------------------
    def rebuild(self, store) -> None:
        """Replace the whole index by the store's datasets in one transaction (readers see old or new)."""
        with self._write_lock:  # read under the lock too, so a later event is never overwritten
            generation = store.generation
            docs, labels = read_datasets(store), read_labels(store)
            with self._transaction() as conn:
                self._clear(conn)
                self._insert(conn, docs)
                for sql in BACKFILL + TOTALS:  # counted once after the rows, then kept by the triggers
                    conn.execute(sql)
                self._write_labels(conn, labels)
                self._set_generation(conn, generation, keep_newer=False)
        log.info("search index rebuilt: %d datasets at generation %d", len(docs), generation)

    def graphs_changed(self, store) -> None:
        """Follower contract: the labels come from the vocabulary and catalogue graphs; read them again."""
        self.refresh_labels(store)

    def refresh_labels(self, store) -> None:
        """Read the vocabulary labels again after the vocabulary graph changed (the datasets did not).

        Called just after the start-up check found the index in step, so it takes the store's generation.
        """
        with self._write_lock:
            generation, labels = store.generation, read_labels(store)
            with self._transaction() as conn:
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
            labels = read_labels(store)
            with self._transaction() as conn:
                self._delete(conn, uris)
                self._insert(conn, docs)
                self._write_labels(conn, labels)
                self._set_generation(conn, event.generation, keep_newer=True)

    def _transaction(self):
        return Transaction(self._conn(), "BEGIN IMMEDIATE")

    @staticmethod
    def _clear(conn: sqlite3.Connection) -> None:
        """Empty the index, without its triggers: they go with their tables (a row-by-row delete would count
        every row out, a row-by-row insert in); the caller counts the new rows once and makes them again."""
        for sql in ("DROP TABLE IF EXISTS facets", "DROP TABLE IF EXISTS docs"):
            conn.execute(sql)
        for table in ("fts", "labels"):
            conn.execute(f"DELETE FROM {table}")
        for sql in SCHEMA.split(";"):
            if sql.strip() and "fts5" not in sql:
                conn.execute(sql)

    @staticmethod
    def _set_generation(conn: sqlite3.Connection, generation: int, *, keep_newer: bool) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if keep_newer and row and int(row[0]) > generation:
            return
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))

    @staticmethod
    def _delete(conn: sqlite3.Connection, uris: list[str]) -> None:
        for uri in uris:
            row = conn.execute("SELECT n FROM docs WHERE uri = ?", (uri,)).fetchone()
            if row:
                for sql in ("DELETE FROM docs WHERE n = ?", "DELETE FROM facets WHERE n = ?",
                            "DELETE FROM fts WHERE rowid = ?"):
                    conn.execute(sql, row)

    @staticmethod
    def _insert(conn: sqlite3.Connection, docs: list[dict]) -> None:
        for doc in docs:
            n = conn.execute(
                "INSERT INTO docs(uri, id, title_zh, title_en, desc_zh, desc_en, department, open_type,"
                " modified, issued, spatial, distributions, downloadable, themes, formats)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (doc["uri"], doc["id"], doc["title"].get("zh"), doc["title"].get("en"),
                 doc["description"].get("zh"), doc["description"].get("en"), doc["department"],
                 doc["open_type"], doc["modified"], doc["issued"], int(doc["spatial"]),
                 len(doc["distributions"]), len(doc["downloadable"]),
                 json.dumps(sorted(set(doc["themes"]))), json.dumps(doc["formats"]))).lastrowid
            values = [("department", doc["department"]), ("open_type", doc["open_type"])]
            values += [("theme", t) for t in set(doc["themes"])] + [("format", f) for f in doc["formats"]]
            conn.executemany("INSERT OR IGNORE INTO facets VALUES (?, ?, ?)",
                             [(f, v, n) for f, v in values if v])
            columns = [index_text(" ".join(doc[k].values())) for k in ("title", "description")]
            columns.append(index_text(" ".join(doc["keywords"])))
            conn.execute("INSERT INTO fts(rowid, title, description, keywords, title_c, description_c,"
                         " keywords_c) VALUES (?,?,?,?,?,?,?)",
                         (n, *[c[0] for c in columns], *[c[1] for c in columns]))

    @staticmethod
    def _write_labels(conn: sqlite3.Connection, labels: list[tuple[str, str, str, str]]) -> None:
        conn.execute("DELETE FROM labels")
        conn.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?)", labels)

    # -- reads -----------------------------------------------------------------------------
    def labels(self, kind: str, lang: str = "zh") -> dict[str, str]:
        """Return code → label of one vocabulary kind, in lang with Chinese as the fallback."""
        return vocabulary_labels(self._conn(), kind, lang)

    def search(self, q: str = "", filters: dict[str, list[str]] | None = None, page: int = 1,
               page_size: int = 20, lang: str = "zh", sort: str = "relevance") -> SearchResult:
        """Return one page of datasets matching the words and filters, with facet counts."""
        return run_search(self._conn(), q, filters, page, page_size, lang, sort)

    def matching(self, q: str) -> set[str] | None:
        """Return the URIs of the datasets matching q, exactly as ``search`` counts them (None: q has no words).

        OGC API Records ``q`` is answered by this (ogc.records.use_text_index): one index, the same counts.
        """
        return matching_uris(self._conn(), q)

    def matching_page(self, q: str, offset: int, limit: int) -> tuple[list[str], int] | None:
        """Return one page of the URIs matching q (in the index's order) and how many match; None: no words.

        OGC API Records ``q`` with nothing else pages through this: a page costs its own rows, not the catalogue.
        """
        return matching_page(self._conn(), q, offset, limit)
