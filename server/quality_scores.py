"""Keep each publisher's mean quality score, maintained on every publish and withdrawal (issue 11).

A dataset's page shows the mean quality score of its publisher's datasets. Asked of the store on every view, that
mean read every dataset of the publisher (6.3 s a page for a publisher of 100,000 datasets). This derived index
keeps, per dataset graph, the (publisher, score) pairs the page's query would join in it (a subject with
``dct:publisher`` and a ``dqv:hasQualityMeasurement`` of ``wodp:qualityScore`` with its ``dqv:value``), and per
publisher the number of pairs and their exact decimal sum, both changed in the transaction that changes the pairs:
a view reads one row. The mean is the query's (``server/portal/dataset_page.py`` DEPARTMENT_SCORE, which stays
the reference and the answer of a platform without this index): a value that is not an ``xsd:decimal`` makes the
query's average unbound, so it makes the kept one None too (counted in ``bad``).
"""

from __future__ import annotations

import decimal
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

import pyoxigraph as ox

from core.sqlite import ThreadConnections, rollback
from sparql.followers import Follower

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs(graph TEXT NOT NULL, publisher TEXT NOT NULL, value TEXT);
CREATE INDEX IF NOT EXISTS pairs_graph ON pairs(graph);
CREATE TABLE IF NOT EXISTS publishers(publisher TEXT PRIMARY KEY, n INTEGER NOT NULL, total TEXT NOT NULL,
  bad INTEGER NOT NULL) WITHOUT ROWID;
"""
DCT_PUBLISHER = "http://purl.org/dc/terms/publisher"
DQV = "http://www.w3.org/ns/dqv#"
HAS_MEASUREMENT, MEASUREMENT_OF, VALUE = DQV + "hasQualityMeasurement", DQV + "isMeasurementOf", DQV + "value"
QUALITY_SCORE = "https://data.wuhan.gov.cn/def/wodp#qualityScore"
ALL_PAIRS = f"""SELECT ?g ?p ?v WHERE {{ GRAPH ?g {{ ?s <{DCT_PUBLISHER}> ?p ; <{HAS_MEASUREMENT}> ?m .
  ?m <{MEASUREMENT_OF}> <{QUALITY_SCORE}> ; <{VALUE}> ?v }} FILTER(isIRI(?p)) }}"""
_EXACT = decimal.Context(prec=80)


def _decimal(term) -> str | None:
    """The canonical text of an xsd:decimal value (as the query's cast reads it), None when it is not one."""
    text = term.value.strip() if isinstance(term, ox.Literal) else ""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return None
    if not value.is_finite() or "e" in text.lower():
        return None
    return str(value)


def score_pairs(triples: Sequence[ox.Triple]) -> list[tuple[str, str | None]]:
    """Return the (publisher IRI, score text or None) pairs the publisher-score query joins in one graph."""
    publishers: dict = {}
    measured: dict = {}
    of_score, values = set(), {}
    for t in triples:
        p = t.predicate.value
        if p == DCT_PUBLISHER and isinstance(t.object, ox.NamedNode):
            publishers.setdefault(t.subject, []).append(t.object.value)
        elif p == HAS_MEASUREMENT:
            measured.setdefault(t.subject, []).append(t.object)
        elif p == MEASUREMENT_OF and t.object.value == QUALITY_SCORE:
            of_score.add(t.subject)
        elif p == VALUE:
            values.setdefault(t.subject, []).append(t.object)
    out = []
    for subject, names in publishers.items():
        for m in measured.get(subject, ()):
            if m in of_score:
                out += [(name, _decimal(v)) for name in names for v in values.get(m, ())]
    return out


class QualityScores(Follower):
    """Each publisher's number of measured pairs and exact score sum, kept in step with the store."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = ThreadConnections(self.path)
        self._write_lock = threading.Lock()
        conn = self._db.get()
        with self._write_lock:
            row = None
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is not None and row[0] != SCHEMA_VERSION:
                conn.executescript("DROP TABLE IF EXISTS pairs; DROP TABLE IF EXISTS publishers;"
                                   " DROP TABLE IF EXISTS meta;")
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._db.close()

    # -- reads -----------------------------------------------------------------------------
    def score(self, publisher: str) -> float | None:
        """Return the publisher's mean score rounded to one decimal (None: nothing measured, or a bad value)."""
        row = self._db.get().execute("SELECT n, total, bad FROM publishers WHERE publisher = ?",
                                     (publisher,)).fetchone()
        if row is None or row[0] == 0 or row[2]:
            return None
        return round(float(_EXACT.divide(decimal.Decimal(row[1]), row[0])), 1)

    def counts(self) -> dict[str, tuple[int, decimal.Decimal, int]]:
        """Return publisher → (pairs, exact sum, bad values): what the tests compare with a recomputation."""
        return {p: (n, decimal.Decimal(t), b) for p, n, t, b in self._db.get().execute("SELECT * FROM publishers")}

    # -- the follower contract ---------------------------------------------------------------
    def in_step_with(self, store) -> bool:
        return self._db.get().execute("SELECT 1 FROM meta WHERE key = 'built'").fetchone() is not None

    def rebuild(self, store) -> None:
        """Read the pairs of every graph with a publisher from the store; replace the tables in one transaction."""
        with self._write_lock:
            pairs: dict[str, list] = {}
            for row in store.query(ALL_PAIRS):  # score_pairs of every graph, in one query
                pairs.setdefault(row["g"].value, []).append((row["p"].value, _decimal(row["v"])))
            self._write(lambda conn: self._replace_all(conn, pairs))
        log.info("publisher quality scores rebuilt from %d graphs", len(pairs))

    def _replace_all(self, conn: sqlite3.Connection, pairs: dict) -> None:
        conn.execute("DELETE FROM pairs")
        conn.execute("DELETE FROM publishers")
        self._apply(conn, pairs, ())
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('built', '1')")

    def follow(self, store, event) -> None:
        """Apply one publish event: the graphs it put or removed take their new pairs, the sums follow."""
        if event.reset:
            self.rebuild(store)
            return
        pairs = {uri: score_pairs(event.triples(store, uri)) for uri in event.put}
        with self._write_lock:
            self._write(lambda conn: self._apply(conn, pairs, event.removed))

    @staticmethod
    def _apply(conn: sqlite3.Connection, put: dict[str, list], removed: Iterable[str]) -> None:
        delta: dict[str, list] = {}  # publisher -> [pairs, sum, bad]

        def add(publisher: str, value: str | None, sign: int) -> None:
            d = delta.setdefault(publisher, [0, decimal.Decimal(0), 0])
            d[0] += sign
            if value is None:
                d[2] += sign
            else:
                d[1] = _EXACT.add(d[1], _EXACT.multiply(decimal.Decimal(value), sign))

        for graph in (*removed, *put):
            for publisher, value in conn.execute("SELECT publisher, value FROM pairs WHERE graph = ?", (graph,)):
                add(publisher, value, -1)
            conn.execute("DELETE FROM pairs WHERE graph = ?", (graph,))
        for graph, pairs in put.items():
            conn.executemany("INSERT INTO pairs VALUES (?, ?, ?)", [(graph, p, v) for p, v in pairs])
            for publisher, value in pairs:
                add(publisher, value, 1)
        for publisher, (n, total, bad) in delta.items():
            row = conn.execute("SELECT n, total, bad FROM publishers WHERE publisher = ?", (publisher,)).fetchone()
            if row is not None:
                n, total, bad = n + row[0], _EXACT.add(total, decimal.Decimal(row[1])), bad + row[2]
            if n == 0:
                conn.execute("DELETE FROM publishers WHERE publisher = ?", (publisher,))
            else:
                conn.execute("INSERT OR REPLACE INTO publishers VALUES (?, ?, ?, ?)", (publisher, n, str(total), bad))

    def _write(self, work) -> None:
        conn = self._db.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            work(conn)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
