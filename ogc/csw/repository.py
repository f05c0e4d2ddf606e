"""Keep pycsw's repository: the table pycsw 2.6.2 reads, written from the store's publish events.

pycsw's own loader parses every record with OWSLib and writes through SQLAlchemy (~40 records/s here); this
writes the same rows from the dataset graphs, in one transaction per publish event, to an SQLite file in WAL
mode (the embedded default) or to PostgreSQL + PostGIS (``database.url``; ogc/csw/databases.py): either way
the pycsw process reads the previous state while a publish is written.

A dataset whose record cannot be built (text XML cannot carry, from a store older than the gate's checks) is
skipped and reported, never a reason to stop: it is logged once and kept in a table of its own
(``skipped_records``: identifier, catalogue record date, reason), which ``in_step_with`` counts with the
records and ``/api/indexes`` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from core.text import excerpt
from ogc.csw import anytext
from ogc.csw.databases import PostgresDatabase, SqliteDatabase, open_database
from ogc.csw.indexer import IndexerError, RowWorker
from ogc.csw.records import COLUMNS, dataset_row
from sparql import records as store_records
from sparql.followers import Follower

log = logging.getLogger(__name__)

PARALLEL_FROM = 100  # from a publish of this many datasets on, rows are built in a worker process (indexer.py)
TABLE = SqliteDatabase.table
SKIPPED_COLUMNS = ("identifier", "insert_date", "reason")
DIGEST_COLUMNS = ("identifier", "digest")
MODIFIED_QUERY = """SELECT ?d ?m WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> .
  ?r a <http://www.w3.org/ns/dcat#CatalogRecord> ; <http://xmlns.com/foaf/0.1/primaryTopic> ?d ;
     <http://purl.org/dc/terms/modified> ?m } }"""
# what the date_modified column holds: the dataset's latest dct:modified, else its catalogue record's
DATASET_MODIFIED_QUERY = """SELECT ?d (COALESCE(MAX(STR(?dm)), MAX(STR(?rm))) AS ?m) WHERE {
  GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> .
    OPTIONAL { ?d <http://purl.org/dc/terms/modified> ?dm }
    OPTIONAL { ?r <http://xmlns.com/foaf/0.1/primaryTopic> ?d ; <http://purl.org/dc/terms/modified> ?rm } } }
GROUP BY ?d"""


def _our_ddl(database) -> list[str]:
    """Our own tables beside pycsw's: datasets left out (and why), digests of the versions written."""
    return [f"CREATE TABLE IF NOT EXISTS {database.skipped_table} (identifier TEXT PRIMARY KEY,"
            " insert_date TEXT NOT NULL, reason TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {database.digests_table} (identifier TEXT PRIMARY KEY,"
            " digest TEXT NOT NULL)"]


class CswRepository(Follower):
    """pycsw's repository file, derived from the store: one row per published dataset."""

    keeps_digests = True  # in wodp_digests (csw_digests on PostgreSQL), written with the rows (sparql/followers.py)

    def __init__(self, target: Path | str | SqliteDatabase | PostgresDatabase, table: str | None = None) -> None:
        """Open the repository: an SQLite file (a path) or a PostgreSQL database (a postgresql:// URL)."""
        self.db = open_database(target)
        self.path = self.db.path  # the SQLite file; None on PostgreSQL
        self.table = table or self.db.table
        self._skipped, self._digests = self.db.skipped_table, self.db.digests_table
        self._lock = threading.RLock()
        with self._lock:
            self.db.prepare(self.table, _our_ddl(self.db))
        self.last_write: dict[str, float] = {}  # rows, seconds and rows/s of the last write
        self._worker: RowWorker | None = None
        self._store = None  # the store last followed, to rebuild from if the worker fails

    @property
    def pycsw_url(self) -> str:
        """The SQLAlchemy URL pycsw reads the repository from (a secret on PostgreSQL: never logged whole)."""
        return self.db.pycsw_url

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish handing over, stop the worker and close the connection (twice is harmless).

        The worker gets at most ``timeout_s`` to finish: what it has not written is found at the next start-up
        (``in_step_with`` compares every record with the store) and caught up then, so a stop stays prompt.
        """
        with self._lock:
            if self._worker is not None:
                try:
                    self._worker.flush(timeout_s)
                except IndexerError as exc:
                    log.warning("csw index worker at stop: %s; the repository catches up at the next start", exc)
                    self._worker.proc.kill()
                self._worker.close()
                self._worker = None
            if self.db is not None:
                self.db.close()
                self.db = None

    # -- state ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait until every publish handed to the worker is written (a reader never sees the index behind)."""
        with self._lock:
            if self._worker is None:
                return
            try:
                self._worker.flush()
            except IndexerError as exc:
                self._worker_failed(exc)

    def _worker_failed(self, exc: Exception) -> None:
        log.error("csw index worker: %s; rebuilding the repository from the store", exc)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.proc.kill()
        if self._store is not None:
            self.rebuild(self._store)

    def count(self) -> int:
        """Return the number of records."""
        self.flush()
        with self._lock:
            return self.db.rows(f"SELECT COUNT(*) FROM {self.table}")[0][0]

    def modified(self) -> set[tuple[str, str]]:
        """Return the (identifier, insert_date) of every record: when its catalogue record last changed.

        date_modified is the dataset's own dct:modified (what apiso:Modified and dct:modified queries compare).
        """
        self.flush()
        with self._lock:
            return set(self.db.rows(f"SELECT identifier, insert_date FROM {self.table}"))

    @staticmethod
    def store_modified(store) -> set[tuple[str, str]]:
        """Return the (dataset URI, catalogue record modified) of every dataset in the store."""
        return {(row["d"].value, row["m"].value) for row in store.query(MODIFIED_QUERY)}

    @staticmethod
    def dataset_modified(store) -> set[tuple[str, str]]:
        """Return the (dataset URI, date_modified) that dct:modified and apiso:Modified queries compare."""
        return {(row["d"].value, row["m"].value) for row in store.query(DATASET_MODIFIED_QUERY)}

    def digests(self) -> dict[str, str]:
        """Return the digest of each dataset version the repository holds (written with its rows)."""
        self.flush()
        with self._lock:
            return dict(self.db.rows(f"SELECT identifier, digest FROM {self._digests}"))

    def adopt(self, digests) -> None:
        """Note the store's digests for the records there are (a repository made before digests were kept)."""
        self.flush()
        with self._lock:
            ids = {row[0] for row in self.db.rows(f"SELECT identifier FROM {self.table}")}
            with self.db.transaction():
                self.db.many(self.db.upsert(self._digests, DIGEST_COLUMNS),
                             [(u, d) for u, d in digests.items() if u in ids])

    def skipped(self) -> dict[str, str]:
        """Return the datasets left out because their record could not be built: identifier -> reason."""
        self.flush()
        with self._lock:
            return dict(self.db.rows(f"SELECT identifier, reason FROM {self._skipped} ORDER BY identifier"))

    def in_step_with(self, store) -> bool:
        """Tell whether the repository holds (or has skipped) exactly the store's datasets at their times.

        When it keeps a digest of every record and skipped dataset, the counts decide here, and the start-up
        check compares those digests with the store's (sparql/followers.py: the record's times are in the dataset
        graph a digest covers) and repairs each difference: the store's times are not read again (2.6 s at 100,000
        datasets). A repository without them (made before digests were kept) is compared time by time.
        """
        with self._lock:
            skipped = set(self.db.rows(f"SELECT identifier, insert_date FROM {self._skipped}"))
            held = self.count() + len(skipped)
            if held != store.count_datasets():
                return False
            if self.db.rows(f"SELECT COUNT(*) FROM {self._digests}")[0][0] == held:
                return True
            return self.modified() | skipped == self.store_modified(store)

    # -- writes --------------------------------------------------------------------------------
    def rebuild(self, store) -> None:
        """Replace every record by the store's datasets in one transaction (readers see old or new)."""
        self.flush()
        with self._lock:
            started = time.perf_counter()
            skipped: dict[str, tuple[str, str]] = {}
            digests = store.digests()
            rows = list(self._rows(store, store.dataset_uris(), skipped=skipped))
            self._write(rows, delete_all=True, skipped=skipped,
                        digests={uri: digests.get(uri, "") for uri in [r["identifier"] for r in rows] + list(skipped)})
            self._measure(len(rows), started)
            if self.db.kind == "postgresql":  # statistics now, not at autovacuum's turn: pycsw's filters read them
                self.db.run(f"ANALYZE {self.table}")  # (which words the pairs' index helps: ogc/csw/anytext.py)
        log.info("csw repository rebuilt: %d records (%.0f rows/s)%s", len(rows), self.last_write["rows_per_s"],
                 f", {len(skipped)} datasets skipped (GET /api/indexes)" if skipped else "")

    def follow(self, store, event) -> None:
        """Apply one publish event: upsert the datasets it put, delete those it removed."""
        self._store = store
        if event.reset:
            self.rebuild(store)
            return
        if self._worker is not None or len(event.put) >= PARALLEL_FROM:
            self._hand_over(store, event)
            return
        with self._lock:  # read under the lock too, so an older event never overwrites a newer row
            started = time.perf_counter()
            skipped: dict[str, tuple[str, str]] = {}
            rows = list(self._rows(store, event.put, event, skipped=skipped))
            gone = set(event.removed) | (set(event.put) - {row["identifier"] for row in rows})
            self._write(rows, delete=gone, skipped=skipped, digests=_digests_of(event, rows, skipped))
            self._measure(len(rows) + len(gone), started)

    def _hand_over(self, store, event) -> None:
        """Give the event to the worker process (started on the first large publish); it writes in order."""
        with self._lock:
            try:
                if self._worker is None:
                    self._worker = RowWorker(self.db, self.table)
                quads = (ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(uri))
                         for uri in event.put for t in event.triples(store, uri))
                self._worker.submit(ox.serialize(quads, format=ox.RdfFormat.N_QUADS), list(event.put),
                                    list(event.removed), dict(getattr(event, "digests", None) or {}))
            except IndexerError as exc:
                self._worker_failed(exc)

    def write(self, rows: list[dict], *, delete: Iterable[str] = (),
              skipped: dict[str, tuple[str, str]] | None = None, digests: dict[str, str] | None = None) -> None:
        """Write rows and delete records in one transaction (the worker process's way in)."""
        with self._lock:
            started = time.perf_counter()
            self._write(rows, delete=delete, skipped=skipped, digests=digests)
            self._measure(len(rows), started)

    @staticmethod
    def _rows(store, uris: Iterable[str], event=None, *, skipped: dict[str, tuple[str, str]]):
        for uri in uris:
            triples = event.triples(store, uri) if event is not None else store.dataset_triples(uri)
            if triples:
                row = row_or_skip(triples, uri, skipped)
                if row is not None:
                    yield row

    def _write(self, rows: list[dict], *, delete: Iterable[str] = (), delete_all: bool = False,
               skipped: dict[str, tuple[str, str]] | None = None, digests: dict[str, str] | None = None) -> None:
        """Write rows, delete records, note skipped datasets and the digests of the versions written, in one
        transaction (a skipped dataset's digest is noted too: it is verified again only when it changes)."""
        delete = list(delete)
        digests = digests or {}
        skipped = skipped or {}
        db, table = self.db, self.table
        with db.transaction():
            if delete_all:
                for name in (table, self._skipped, self._digests):
                    db.run(f"DELETE FROM {name}")
            if db.kind == "sqlite":  # csw:AnyText's pairs, kept apart from the rows on SQLite (ogc/csw/anytext.py)
                db.forget_pairs(table, [row["identifier"] for row in rows] + delete, everything=delete_all)
            written = [row["identifier"] for row in rows] + list(skipped)
            gone = [(uri,) for uri in delete]
            db.many(f"DELETE FROM {table} WHERE identifier = ?", gone)
            db.many(f"DELETE FROM {self._skipped} WHERE identifier = ?", gone + [(row["identifier"],) for row in rows])
            db.many(f"DELETE FROM {self._digests} WHERE identifier = ?", gone)
            if db.kind == "postgresql":  # the character pairs of the text, for csw:AnyText (ogc/csw/anytext.py)
                db.many(db.upsert(table, (*COLUMNS, anytext.COLUMN)),
                        [(*(row[c] for c in COLUMNS), anytext.gram_codes(row["anytext"])) for row in rows])
            else:
                db.many(db.upsert(table, COLUMNS), [tuple(row[c] for c in COLUMNS) for row in rows])
                db.add_pairs(table, [(row["identifier"], row["anytext"]) for row in rows])
            db.many(db.upsert(self._skipped, SKIPPED_COLUMNS),
                    [(uri, date, reason) for uri, (date, reason) in skipped.items()])
            # a row written without a digest (a follower told nothing) loses its old one: verified again
            db.many(f"DELETE FROM {self._digests} WHERE identifier = ?",
                    [(uri,) for uri in written if not digests.get(uri)])
            db.many(db.upsert(self._digests, DIGEST_COLUMNS),
                    [(uri, digests[uri]) for uri in written if digests.get(uri)])

    def _measure(self, rows: int, started: float) -> None:
        seconds = time.perf_counter() - started
        self.last_write = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds if seconds else 0.0}


def row_or_skip(triples, uri: str, skipped: dict[str, tuple[str, str]]) -> dict | None:
    """Return the row of one dataset, or None after noting in ``skipped`` why it cannot be built (and logging it)."""
    try:
        return dataset_row(triples, uri)
    except Exception as exc:  # one bad record never stops the index: it is left out and reported
        reason = f"{type(exc).__name__}: {excerpt(str(exc), 300)}"
        _issued, modified = store_records.record_dates(triples, uri)
        skipped[uri] = (modified.value if modified is not None else "", reason)
        log.warning("csw repository: dataset %s skipped, its record cannot be built: %s", uri, reason)
        return None


def _digests_of(event, rows: list[dict], skipped: dict) -> dict[str, str]:
    """Return the event's digests of the datasets written (as rows, or noted as skipped)."""
    digests = getattr(event, "digests", None) or {}
    return {uri: digests[uri] for uri in [row["identifier"] for row in rows] + list(skipped) if uri in digests}
