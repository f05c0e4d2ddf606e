"""Keep the triple store public: a dataset graph is stored as anyone may read it, its whole graph beside it.

The store is what the SPARQL door (and, on the scaled-out configuration, the engine's own endpoint) answers
from, and a SPARQL query can reach every triple of it. So a dataset whose open type keeps its data back
(有条件开放, 不予开放; access/policy.py) is stored as its public view: its distributions keep their
descriptions but not their download links (``public_view``). Its whole graph, as published, is kept beside
the store (``WithheldGraphs``: ``store.withheld.sqlite`` next to the store, or the table ``store_withheld`` of
``database.url`` for a remote store, which processes on several machines share), and ``dataset_triples``,
``quads`` and so ``wodp export`` read it from there: the values of the source are carried exactly, only not
served to those who may not read them. The digests, and so the harvest's "unchanged", are of the whole graphs.

A write takes the rows of its datasets out before the store is written and puts the new ones in after (with
the digests' settling): a process killed in between leaves a public view without its row, read back as the
public view (never as an older whole graph); its digest, pending, is recomputed at the next start-up from what
the store holds, so the next harvest stores the dataset again.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import pyoxigraph as ox

from access.policy import public_view
from core.sqlite import rollback
from ontology.namespaces import ACCESS_RIGHT, OPEN_TYPE
from sparql.engines import canonical_graphs

SCHEMA_LOCK = 7_204_117_024  # pg_advisory_xact_lock key of the creation of store_withheld (sparql/shared.py's)


# the datasets whose open type may withhold links (access.policy.open_type_of decides; this only narrows), each
# pattern bound by predicate and object (an index lookup: 1 ms at 100,000 datasets, where a scan of every
# dataset's type took 1.06 s of each start-up)
RESTRICTED_CANDIDATES = f"""SELECT DISTINCT ?g WHERE {{ VALUES (?p ?o) {{
  (<https://data.wuhan.gov.cn/def/wodp#openType> {OPEN_TYPE.conditional})
  (<https://data.wuhan.gov.cn/def/wodp#openType> {OPEN_TYPE.closed})
  (<http://purl.org/dc/terms/accessRights> {ACCESS_RIGHT.RESTRICTED})
  (<http://purl.org/dc/terms/accessRights> {ACCESS_RIGHT.NON_PUBLIC}) }}
  GRAPH ?g {{ ?g ?p ?o }} }}"""


def withhold_stored(store) -> int:
    """Store as its public view every dataset graph the store holds whole though its open type withholds links:
    a home made before the store held public views, or a catalogue loaded into the engine directly (the move to
    the scaled-out configuration, docs/scale-out.md). Run at start-up, before the digests are checked; the
    digests do not change (they are of the whole graphs). Returns how many graphs were rewritten."""
    rows = store.query(RESTRICTED_CANDIDATES, use_default_graph_as_union=False)
    kept = store._withheld.uris()
    graphs = {}
    for uri in sorted({row[0].value for row in rows} - kept):
        triples = store.stored_triples(uri)
        if public_view(uri, triples) != triples:
            graphs[uri] = triples
    if graphs:
        store.store_public_views(graphs)
    return len(graphs)


def split(graphs: Mapping[str, Sequence[ox.Triple]], canonical: bool = False
          ) -> tuple[dict[str, Sequence[ox.Triple]], dict[str, bytes]]:
    """Return the graphs to store (public views) and the whole graphs (N-Triples) of those that differ.

    canonical: the graphs are not yet in the form the store keeps (typed literals canonical); their whole
    graphs are put in that form, so that they read back as the store would have given them.
    """
    public: dict[str, Sequence[ox.Triple]] = {}
    withheld: dict[str, list[ox.Triple]] = {}
    for uri, triples in graphs.items():
        view = public_view(uri, triples)
        public[uri] = view
        if len(view) != len(triples) or view != list(triples):
            withheld[uri] = list(triples)
    if canonical and withheld:
        withheld = canonical_graphs(withheld)
    return public, {uri: ox.serialize(t, format=ox.RdfFormat.N_TRIPLES) for uri, t in withheld.items()}


def read_whole(body: bytes) -> list[ox.Triple]:
    """The triples of a kept whole graph."""
    return [q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES)]


def whole_quads(quads: Iterable[ox.Quad], wholes: Mapping[str, bytes]) -> Iterator[ox.Quad]:
    """The quads of a store with each graph kept whole (``wholes``) in place of its public view."""
    for quad in quads:
        if not (isinstance(quad.graph_name, ox.NamedNode) and quad.graph_name.value in wholes):
            yield quad
    for uri, body in wholes.items():
        node = ox.NamedNode(uri)
        for t in read_whole(body):
            yield ox.Quad(t.subject, t.predicate, t.object, node)


def _many(conn, sql: str, rows: list) -> None:
    """executemany on a sqlite3 connection, or on a cursor of a psycopg one."""
    (conn.executemany if isinstance(conn, sqlite3.Connection) else conn.cursor().executemany)(sql, rows)


class WithheldGraphs:
    """The whole graphs of the datasets a store holds as their public views: uri → N-Triples.

    On SQLite (``path``; in memory when None) beside an embedded store or a remote store's home; on PostgreSQL
    (``url``, database.url) for a remote store shared by several machines.
    """

    def __init__(self, path: Path | None = None, url: str | None = None) -> None:
        self.path, self.url = path, url
        self._lock = threading.Lock()
        self._db = None
        self._pg = None
        self._pg_ready = False
        if url is None:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False,
                                       timeout=30, isolation_level=None)
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS withheld(uri TEXT PRIMARY KEY, graph BLOB NOT NULL)")

    # -- PostgreSQL ------------------------------------------------------------------------------------------
    def _connect(self):
        import psycopg

        from sparql.shared import _dsn

        if self._pg is None or self._pg.closed:
            self._pg = psycopg.connect(_dsn(self.url), autocommit=True)
        if not self._pg_ready:
            with self._pg.transaction():
                self._pg.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                self._pg.execute("CREATE TABLE IF NOT EXISTS store_withheld (uri text PRIMARY KEY, graph bytea NOT NULL)")
            self._pg_ready = True
        return self._pg

    def _run(self, doing: str, work):
        """Run ``work(cursor-like)`` in one transaction, on SQLite or PostgreSQL."""
        with self._lock:
            if self._db is not None:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    out = work(self._db)
                    self._db.execute("COMMIT")
                    return out
                except BaseException:
                    rollback(self._db)
                    raise
            import psycopg

            from sparql.shared import _unavailable

            for attempt in (1, 2):
                try:
                    conn = self._connect()
                    with conn.transaction():
                        return work(conn)
                except psycopg.OperationalError as exc:  # a broken session: one new one
                    self._pg = None
                    if attempt == 2:
                        raise _unavailable(doing, self.url, exc) from exc
                except psycopg.Error as exc:
                    self._pg = None
                    raise _unavailable(doing, self.url, exc) from exc

    def _mark(self) -> str:
        return "?" if self._db is not None else "%s"

    # -- writes ----------------------------------------------------------------------------------------------
    def take_out(self, uris: Iterable[str]) -> None:
        """Before a store write: forget the whole graphs of the datasets it writes."""
        rows = [(u,) for u in uris]
        if rows:
            sql = f"DELETE FROM {self._table} WHERE uri = {self._mark()}"
            self._run("taking out withheld graphs", lambda c: _many(c, sql, rows))

    def put_in(self, wholes: Mapping[str, bytes]) -> None:
        """After a store write: keep the whole graphs of the datasets it stored as their public views."""
        if wholes:
            m = self._mark()
            sql = (f"INSERT INTO {self._table} (uri, graph) VALUES ({m}, {m}) "
                   "ON CONFLICT (uri) DO UPDATE SET graph = excluded.graph")
            rows = list(wholes.items())
            self._run("keeping withheld graphs", lambda c: _many(c, sql, rows))

    def keep_only(self, present: Iterable[str]) -> int:
        """Drop the rows of datasets the store does not hold (a start-up's check); return how many."""
        present = set(present)
        stray = self.uris() - present
        self.take_out(stray)
        return len(stray)

    def clear(self) -> None:
        self._run("clearing withheld graphs", lambda c: c.execute(f"DELETE FROM {self._table}"))

    # -- reads -----------------------------------------------------------------------------------------------
    @property
    def _table(self) -> str:
        return "withheld" if self._db is not None else "store_withheld"

    def whole(self, uri: str) -> bytes | None:
        """The whole graph (N-Triples) of a dataset the store holds as its public view; None for any other."""
        sql = f"SELECT graph FROM {self._table} WHERE uri = {self._mark()}"
        row = self._run("reading a withheld graph", lambda c: c.execute(sql, (uri,)).fetchone())
        return None if row is None else bytes(row[0])

    def uris(self) -> set[str]:
        """The datasets whose whole graphs are kept here."""
        sql = f"SELECT uri FROM {self._table}"
        return {r[0] for r in self._run("reading withheld graphs", lambda c: c.execute(sql).fetchall())}

    def wholes_of(self, uris: Sequence[str]) -> dict[str, bytes]:
        """The whole graphs kept of these datasets (those the store holds as public views)."""
        found: dict[str, bytes] = {}
        uris = list(uris)
        for i in range(0, len(uris), 500):
            chunk = uris[i:i + 500]
            if self._db is not None:
                sql = f"SELECT uri, graph FROM withheld WHERE uri IN ({', '.join('?' * len(chunk))})"
                rows = self._run("reading withheld graphs", lambda c: c.execute(sql, chunk).fetchall())
            else:
                sql = "SELECT uri, graph FROM store_withheld WHERE uri = ANY(%s)"
                rows = self._run("reading withheld graphs", lambda c: c.execute(sql, (chunk,)).fetchall())
            found.update((u, bytes(g)) for u, g in rows)
        return found

    def wholes(self) -> dict[str, bytes]:
        """The whole graph of every dataset the store holds as its public view."""
        sql = f"SELECT uri, graph FROM {self._table}"
        return {u: bytes(g) for u, g in self._run("reading withheld graphs", lambda c: c.execute(sql).fetchall())}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            elif self._pg is not None:
                self._pg.close()
                self._pg = None
