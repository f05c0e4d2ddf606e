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
the digests it followed with the store's and repairs what differs; a missing or emptied table is built from the store.
Its tables are a part of the data layer (core/database.py, part ``catalog_order``): catalog-order.sqlite by default,
PostgreSQL with ``database.url`` (byte-ordered text columns there, so both page alike).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from sqlalchemy import text

from core.database import Database, as_database, in_lists
from sparql import records
from sparql.followers import Follower

log = logging.getLogger(__name__)

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

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "catalog_order")
        self.path = self.db.path
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    # -- reads -----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        rows = self.db.rows("SELECT value FROM catalog_order_meta WHERE key = :key", {"key": key})
        return rows[0][0] if rows else None

    def count(self, since: str | None = None) -> int:
        """Return the number of datasets (kept), or of those whose record changed at or after ``since`` (a key)."""
        if since is None:
            return int(self._meta("count") or 0)
        return int(self.db.rows("SELECT COUNT(*) FROM catalog_order_entries WHERE modified >= :since"
                                " AND modified != ''", {"since": since})[0][0])

    def page(self, size: int, offset: int = 0, since: str | None = None,
             after: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        """Return up to ``size`` (modified, uri) in order, after ``offset`` rows or after the key ``after``."""
        clauses, params = [], {"size": size, "offset": offset}
        if since is not None:
            clauses.append("modified >= :since AND modified != ''")
            params["since"] = since
        if after is not None:
            clauses.append("(modified, uri) > (:after_m, :after_u)")
            params.update(after_m=after[0], after_u=after[1], offset=0)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        hint = "" if self.db.postgres else " INDEXED BY catalog_order_entries_order"
        rows = self.db.rows(f"SELECT modified, uri FROM catalog_order_entries{hint}{where} ORDER BY modified, uri"
                            " LIMIT :size OFFSET :offset", params)
        return [(m, u) for m, u in rows]

    # -- the follower contract ---------------------------------------------------------------
    def in_step_with(self, store) -> bool:
        """Built once (the start-up check mends single datasets); a new or emptied table is built whole."""
        return self._meta("built") is not None

    def rebuild(self, store) -> None:
        """Read every dataset's record time from the store and replace the table in one transaction."""
        with self._write_lock:
            rows = {}
            for row in store.query(ALL_RECORDS):
                key = order_key(records.parse_datetime(row["m"]))
                uri = row["d"].value
                rows[uri] = max(rows.get(uri, NO_RECORD), key)
            with self.db.write(serial=True) as conn:
                self._replace_all(conn, rows)
        log.info("catalogue order rebuilt: %d datasets", len(rows))

    @staticmethod
    def _set(conn, key: str, value: str) -> None:
        conn.execute(text("INSERT INTO catalog_order_meta (key, value) VALUES (:k, :v) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value"), {"k": key, "v": value})

    def _replace_all(self, conn, rows: dict[str, str]) -> None:
        conn.execute(text("DELETE FROM catalog_order_entries"))
        if rows:
            conn.execute(text("INSERT INTO catalog_order_entries (uri, modified) VALUES (:u, :m)"),
                         [{"u": u, "m": m} for u, m in rows.items()])
        self._set(conn, "count", str(len(rows)))
        self._set(conn, "built", "1")

    def follow(self, store, event) -> None:
        """Apply one publish event: the datasets it put take their record's time, those it removed go."""
        if event.reset:
            self.rebuild(store)
            return
        put = {uri: _record_key(event.triples(store, uri), uri) for uri in event.put}
        with self._write_lock:
            with self.db.write(serial=True) as conn:
                self._apply(conn, put, event.removed)

    def _apply(self, conn, put: dict[str, str], removed: Iterable[str]) -> None:
        change = 0
        for uri in removed:
            change -= conn.execute(text("DELETE FROM catalog_order_entries WHERE uri = :u"), {"u": uri}).rowcount
        uris = list(put)
        known: set[str] = set()
        for marks, params in in_lists(uris):  # which are listed already: one query per 500, not one each
            known.update(row[0] for row in conn.execute(text(
                f"SELECT uri FROM catalog_order_entries WHERE uri IN ({marks})"), params).fetchall())
        if put:
            conn.execute(text("INSERT INTO catalog_order_entries (uri, modified) VALUES (:u, :m) "
                              "ON CONFLICT (uri) DO UPDATE SET modified = excluded.modified"),
                         [{"u": uri, "m": key} for uri, key in put.items()])
        change += sum(1 for uri in put if uri not in known)
        if change:
            row = conn.execute(text("SELECT value FROM catalog_order_meta WHERE key = 'count'")).fetchone()
            self._set(conn, "count", str(int(row[0]) + change if row else max(change, 0)))
