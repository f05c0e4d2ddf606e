"""Keep each publisher's mean quality score, maintained on every publish and withdrawal (issue 11).

A dataset's page shows the mean quality score of its publisher's datasets. Asked of the store on every view, that
mean read every dataset of the publisher (6.3 s a page for a publisher of 100,000 datasets). This derived index
keeps, per dataset graph, the (publisher, score) pairs the page's query would join in it (a subject with
``dct:publisher`` and a ``dqv:hasQualityMeasurement`` of ``wodp:qualityScore`` with its ``dqv:value``), and per
publisher the number of pairs and their exact decimal sum, both changed in the transaction that changes the pairs:
a view reads one row. The mean is the query's (``server/portal/dataset_page.py`` DEPARTMENT_SCORE, which stays
the reference and the answer of a platform without this index): a value that is not an ``xsd:decimal`` makes the
query's average unbound, so it makes the kept one None too (counted in ``bad``).

Its tables are a part of the data layer (core/database.py, part ``quality_scores``): quality-scores.sqlite by
default, PostgreSQL with ``database.url``.
"""

from __future__ import annotations

import decimal
import logging
import threading
from pathlib import Path
from typing import Iterable, Sequence

import pyoxigraph as ox
from sqlalchemy import text

from core.database import Database, as_database, in_lists
from sparql.followers import Follower

log = logging.getLogger(__name__)

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

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "quality_scores")
        self.path = self.db.path
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    # -- reads -----------------------------------------------------------------------------
    def score(self, publisher: str) -> float | None:
        """Return the publisher's mean score rounded to one decimal (None: nothing measured, or a bad value)."""
        rows = self.db.rows("SELECT n, total, bad FROM quality_publishers WHERE publisher = :p", {"p": publisher})
        if not rows or rows[0][0] == 0 or rows[0][2]:
            return None
        n, total, _ = rows[0]
        return round(float(_EXACT.divide(decimal.Decimal(total), int(n))), 1)

    def counts(self) -> dict[str, tuple[int, decimal.Decimal, int]]:
        """Return publisher → (pairs, exact sum, bad values): what the tests compare with a recomputation."""
        return {p: (int(n), decimal.Decimal(t), int(b))
                for p, n, t, b in self.db.rows("SELECT publisher, n, total, bad FROM quality_publishers")}

    # -- the follower contract ---------------------------------------------------------------
    def in_step_with(self, store) -> bool:
        return bool(self.db.rows("SELECT 1 FROM quality_meta WHERE key = 'built'"))

    def rebuild(self, store) -> None:
        """Read the pairs of every graph with a publisher from the store; replace the tables in one transaction."""
        with self._write_lock:
            pairs: dict[str, list] = {}
            for row in store.query(ALL_PAIRS):  # score_pairs of every graph, in one query
                pairs.setdefault(row["g"].value, []).append((row["p"].value, _decimal(row["v"])))
            with self.db.write(serial=True) as conn:
                self._replace_all(conn, pairs)
        log.info("publisher quality scores rebuilt from %d graphs", len(pairs))

    def _replace_all(self, conn, pairs: dict) -> None:
        conn.execute(text("DELETE FROM quality_pairs"))
        conn.execute(text("DELETE FROM quality_publishers"))
        self._apply(conn, pairs, ())
        conn.execute(text("INSERT INTO quality_meta (key, value) VALUES ('built', '1') "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value"))

    def follow(self, store, event) -> None:
        """Apply one publish event: the graphs it put or removed take their new pairs, the sums follow."""
        if event.reset:
            self.rebuild(store)
            return
        pairs = {uri: score_pairs(event.triples(store, uri)) for uri in event.put}
        with self._write_lock:
            with self.db.write(serial=True) as conn:
                self._apply(conn, pairs, event.removed)

    @staticmethod
    def _apply(conn, put: dict[str, list], removed: Iterable[str]) -> None:
        delta: dict[str, list] = {}  # publisher -> [pairs, sum, bad]

        def add(publisher: str, value: str | None, sign: int) -> None:
            d = delta.setdefault(publisher, [0, decimal.Decimal(0), 0])
            d[0] += sign
            if value is None:
                d[2] += sign
            else:
                d[1] = _EXACT.add(d[1], _EXACT.multiply(decimal.Decimal(value), sign))

        graphs = list(dict.fromkeys((*removed, *put)))
        for listed, names in in_lists(graphs):  # the pairs they had: one query per 500 graphs, not two each
            for publisher, value in conn.execute(text(
                    f"SELECT publisher, value FROM quality_pairs WHERE graph IN ({listed})"), names).fetchall():
                add(publisher, value, -1)
            conn.execute(text(f"DELETE FROM quality_pairs WHERE graph IN ({listed})"), names)
        rows = [{"g": graph, "p": p, "v": v} for graph, pairs in put.items() for p, v in pairs]
        if rows:  # one statement for the batch
            conn.execute(text("INSERT INTO quality_pairs (graph, publisher, value) VALUES (:g, :p, :v)"), rows)
        for pairs in put.values():
            for publisher, value in pairs:
                add(publisher, value, 1)
        for publisher, (n, total, bad) in delta.items():
            row = conn.execute(text("SELECT n, total, bad FROM quality_publishers WHERE publisher = :p"),
                               {"p": publisher}).fetchone()
            if row is not None:
                n, total, bad = n + row[0], _EXACT.add(total, decimal.Decimal(row[1])), bad + row[2]
            if n == 0:
                conn.execute(text("DELETE FROM quality_publishers WHERE publisher = :p"), {"p": publisher})
            else:
                conn.execute(text("INSERT INTO quality_publishers (publisher, n, total, bad) VALUES (:p, :n, :t, :b) "
                                  "ON CONFLICT (publisher) DO UPDATE SET n = excluded.n, total = excluded.total, "
                                  "bad = excluded.bad"), {"p": publisher, "n": n, "t": str(total), "b": bad})
