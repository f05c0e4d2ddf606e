"""Keep the order of the /catalog pages: each dataset's catalogue-record time, indexed, with the count kept (issue 11).

A /catalog page used to count and sort every dataset in the store (~10 s a page at 100,000 datasets). This derived
index keeps one row per dataset, ``(modified, uri)``, where ``modified`` is the ``dct:modified`` of the dataset's
catalogue record (sparql/records.py) as a fixed-width UTC key; pages are read from its index in that order, by
offset (``page=N``) or by keyset (``after=``, what the ``next`` links carry), and the number of datasets is kept in
the same transaction as the rows. Every put of a dataset stamps its record with a time strictly later than any
before (sparql/store.py ``_next_stamp``), so a dataset added or changed while a harvester pages through the
catalogue goes to the end: a harvester following the ``next`` links sees every dataset that was there when it
started exactly once, and those added since once at the end.

It follows the store's publish events like every derived index (sparql/followers.py): the start-up check compares
the digests it followed with the store's and repairs what differs; a missing or older file is built from the store.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from core.sqlite import ThreadConnections, rollback
from sparql import records
from sparql.followers import Follower

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(uri TEXT PRIMARY KEY, modified TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_order ON entries(modified, uri);
"""
NO_RECORD = ""  # a dataset without a catalogue record: first in the order, never "modified since"
ALL_RECORDS = """SELECT ?d ?m WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> .
  OPTIONAL { ?r <http://xmlns.com/foaf/0.1/primaryTopic> ?d ; <http://purl.org/dc/terms/modified> ?m } } }"""


def order_key(moment: datetime | None) -> str:
    """Return the sortable text of a record time: UTC, microseconds, fixed width (``NO_RECORD`` for None)."""
    if moment is None:
        return NO_RECORD
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record_key(triples, uri: str) -> str:
    return order_key(records.parse_datetime(records.record_dates(triples, uri)[1]))


class CatalogOrder(Follower):
    """The datasets of /catalog in page order, and their number."""

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
                conn.executescript("DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS meta;")
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._db.close()

    # -- reads -----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db.get().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def count(self, since: str | None = None) -> int:
        """Return the number of datasets (kept), or of those whose record changed at or after ``since`` (a key)."""
        conn = self._db.get()
        if since is None:
            return int(self._meta("count") or 0)
        return conn.execute("SELECT COUNT(*) FROM entries WHERE modified >= ? AND modified != ''",
                            (since,)).fetchone()[0]

    def page(self, size: int, offset: int = 0, since: str | None = None,
             after: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        """Return up to ``size`` (modified, uri) in order, after ``offset`` rows or after the key ``after``."""
        clauses, params = [], []
        if since is not None:
            clauses.append("modified >= ? AND modified != ''")
            params.append(since)
        if after is not None:
            clauses.append("(modified, uri) > (?, ?)")
            params += list(after)
            offset = 0
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._db.get().execute(
            f"SELECT modified, uri FROM entries INDEXED BY entries_order{where} ORDER BY modified, uri"
            " LIMIT ? OFFSET ?", (*params, size, offset))
        return [(m, u) for m, u in rows]

    # -- the follower contract ---------------------------------------------------------------
    def in_step_with(self, store) -> bool:
        """Built once (the start-up check mends single datasets); a new or emptied file is built whole."""
        return self._meta("built") is not None

    def rebuild(self, store) -> None:
        """Read every dataset's record time from the store and replace the table in one transaction."""
        with self._write_lock:
            rows = {}
            for row in store.query(ALL_RECORDS):
                key = order_key(records.parse_datetime(row["m"]))
                uri = row["d"].value
                rows[uri] = max(rows.get(uri, NO_RECORD), key)
            self._write(lambda conn: self._replace_all(conn, rows))
        log.info("catalogue order rebuilt: %d datasets", len(rows))

    @staticmethod
    def _replace_all(conn: sqlite3.Connection, rows: dict[str, str]) -> None:
        conn.execute("DELETE FROM entries")
        conn.executemany("INSERT INTO entries VALUES (?, ?)", rows.items())
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('count', ?)", (str(len(rows)),))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('built', '1')")

    def follow(self, store, event) -> None:
        """Apply one publish event: the datasets it put take their record's time, those it removed go."""
        if event.reset:
            self.rebuild(store)
            return
        put = {uri: _record_key(event.triples(store, uri), uri) for uri in event.put}
        with self._write_lock:
            self._write(lambda conn: self._apply(conn, put, event.removed))

    @staticmethod
    def _apply(conn: sqlite3.Connection, put: dict[str, str], removed: Iterable[str]) -> None:
        change = 0
        for uri in removed:
            change -= conn.execute("DELETE FROM entries WHERE uri = ?", (uri,)).rowcount
        for uri, key in put.items():
            known = conn.execute("SELECT 1 FROM entries WHERE uri = ?", (uri,)).fetchone() is not None
            conn.execute("INSERT OR REPLACE INTO entries VALUES (?, ?)", (uri, key))
            change += not known
        if change:
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'count'", (change,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('count', ?)", (str(max(change, 0)),))

    def _write(self, work) -> None:
        conn = self._db.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            work(conn)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
