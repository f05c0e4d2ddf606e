"""Let several processes write one shared store in turn: two turns, one after the other, held across processes.

With a remote store (``store.url``) every process of one installation — web workers under gunicorn, harvest
workers taking tasks from the queue — may publish. The engine takes any order of requests, but the platform's
own bookkeeping must see the publications in one order: the generation, the change log, and the derived indexes
that follow each publish event in generation order. A publication therefore takes two turns (docs/scale-out.md,
"Several processes"):

- **the store's turn**: the ledger's note ahead, the engine's write of the batch, the new generation and the
  change log's rows of that generation. One process at a time; whoever takes it re-reads the generation first.
- **the indexes' turn**: every other derived index following the event (search, ``/catalog``'s order, publisher
  scores, layers and Records, CSW) and the ledger's rows. Taken *before* the store's turn is let go (hand over
  hand), so the indexes follow the publications in generation order, while the next publication's store write
  runs beside them.

Fetching, mapping, validating, digest comparison and the reading of the previous versions happen before
either turn. A start-up's checks of the indexes take both turns (``exclusive``), so they never see a publication
half done.

Where the turns are kept: with ``database.url`` set, PostgreSQL advisory locks on dedicated sessions
(``pg_advisory_lock``), which processes on any machine share, and the generation in the table ``store_state``
of that database; otherwise ``fcntl.flock`` on files beside the home (one machine) and the generation in
``store.state.json``. Either is let go when its holder dies, however it dies (the kernel closes the file or
the socket; PostgreSQL ends the session and its locks), so a killed worker never leaves the others waiting.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from core.timings import step

log = logging.getLogger(__name__)

STORE_TURN = 7_204_117_021    # pg_advisory_lock key of the store's turn (constants of ours, as harvesters/queue.py)
INDEXES_TURN = 7_204_117_022  # ... of the indexes' turn
STATE_SCHEMA_LOCK = 7_204_117_023  # ... of the creation of store_state
APPLICATION = "wodp-turn"  # the lock sessions' application_name, followed by the pid (``holder``)


def _unavailable(doing: str, url: str, exc: Exception):
    from core.database import masked
    from sparql.errors import StoreError

    return StoreError(f"{doing} failed: the shared database {masked(url)} did not answer: "
                      f"{' '.join(str(exc).split())[:300]}", status=503)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres+psycopg://", "postgres://", 1)


class _FileLock:
    """An exclusive flock on a file (one machine)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class _PostgresLock:
    """A session-level advisory lock on a dedicated PostgreSQL session (any machine)."""

    def __init__(self, url: str, key: int) -> None:
        self.url, self.key = url, key
        self._conn = None

    def _connect(self):
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(_dsn(self.url), autocommit=True,
                                         application_name=f"{APPLICATION}-{os.getpid()}")
        return self._conn

    def acquire(self) -> None:
        import psycopg

        try:
            try:
                self._connect().execute("SELECT pg_advisory_lock(%s)", (self.key,))
            except psycopg.OperationalError:  # the session broke while idle (a database restart): one new session
                self._drop()
                self._connect().execute("SELECT pg_advisory_lock(%s)", (self.key,))
        except psycopg.Error as exc:
            self._drop()
            raise _unavailable("taking the shared store's turn", self.url, exc) from exc

    def release(self) -> None:
        try:
            self._connect().execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception as exc:  # noqa: BLE001  the session is gone, and its lock with it
            log.warning("letting the shared store's turn go failed (%s): its session is closed instead", exc)
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        self._drop()


class Turn:
    """One turn held by one process at a time; re-entrant inside the process (its threads and nested calls
    share it, the store's own locks order them)."""

    def __init__(self, lock, name: str, on_acquire: Callable[[], None] | None = None) -> None:
        self._lock, self.name, self._on_acquire = lock, name, on_acquire
        self._depth = 0
        self._guard = threading.Lock()
        self.waited_s = self.held_s = 0.0  # this process's totals: waiting for the others, holding it
        self._since = 0.0

    def enter(self) -> None:
        with self._guard:
            if self._depth == 0:
                asked = time.monotonic()
                with step(f"{self.name}: waiting for other processes"):
                    self._lock.acquire()
                self._since = time.monotonic()
                self.waited_s += self._since - asked
                try:
                    if self._on_acquire is not None:
                        self._on_acquire()
                except BaseException:
                    self._lock.release()
                    raise
            self._depth += 1

    def leave(self) -> None:
        with self._guard:
            self._depth -= 1
            if self._depth == 0:
                self.held_s += time.monotonic() - self._since
                self._lock.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def close(self) -> None:
        self._lock.close()


class _Publication:
    """Which turns one publication (in one thread) holds now."""

    def __init__(self) -> None:
        self.store = self.indexes = False


class SharedWrites:
    """The two turns of the processes writing one shared store, and (with PostgreSQL) its shared generation.

    ``path``: the store's lock file (its sibling ``….indexes.lock`` is the indexes' turn) when ``url`` is unset;
    ``url``: the PostgreSQL database of ``database.url``. ``on_acquire`` runs when this process takes the
    store's turn (re-read the generation).
    """

    def __init__(self, path: Path | None, on_acquire: Callable[[], None] | None = None, *,
                 url: str | None = None) -> None:
        self.path, self.url = path, url
        if url:
            store_lock, index_lock = _PostgresLock(url, STORE_TURN), _PostgresLock(url, INDEXES_TURN)
            self.state = SharedState(url)
        else:
            store_lock = _FileLock(path)
            index_lock = _FileLock(path.with_name(path.name.removesuffix(".lock") + ".indexes.lock"))
            self.state = None
        self.store = Turn(store_lock, "store turn", on_acquire)
        self.indexes = Turn(index_lock, "indexes turn")
        self._local = threading.local()

    # what the first version offered: the store's turn alone, and its totals
    @property
    def waited_s(self) -> float:
        return self.store.waited_s

    @property
    def held_s(self) -> float:
        return self.store.held_s

    def held(self):
        """Hold the store's turn for the block (re-entrant)."""
        return self.store.held()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold both turns for the block: no other process publishes, nor follows a publication, meanwhile (a
        start-up's checks, a withdrawal)."""
        with self.store.held(), self.indexes.held():
            yield

    @contextmanager
    def publication(self) -> Iterator[None]:
        """One publication in this thread: the store's turn from its start (or its first write) to the hand-over
        after its write (``hand_over``), then the indexes' turn to its end. Nested: the outer one governs."""
        if getattr(self._local, "publication", None) is not None:
            yield
            return
        current = self._local.publication = _Publication()
        try:
            yield
        finally:
            self._local.publication = None
            if current.store:
                self.store.leave()
            if current.indexes:
                self.indexes.leave()

    def write_turn(self) -> None:
        """Make sure the current publication holds the store's turn for a write: taken at its first write, and
        taken again (the indexes' turn let go first, in lock order) by a write after its hand-over (an undo)."""
        current = getattr(self._local, "publication", None)
        if current is None or current.store:
            return
        if current.indexes:
            current.indexes = False
            self.indexes.leave()
        self.store.enter()
        current.store = True

    def hand_over(self) -> None:
        """After a write's generation and its in-turn followers: take the indexes' turn, then let the store's go."""
        current = getattr(self._local, "publication", None)
        if current is None or not current.store:
            return
        if not current.indexes:
            self.indexes.enter()
            current.indexes = True
        current.store = False
        self.store.leave()

    def close(self) -> None:
        self.store.close()
        self.indexes.close()
        if self.state is not None:
            self.state.close()


class SharedState:
    """The store's generation and the time of its last change, in PostgreSQL (``store_state``, one row)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = None
        self._guard = threading.Lock()
        self._ready = False

    def _connect(self):
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(_dsn(self.url), autocommit=True)
        if not self._ready:
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (STATE_SCHEMA_LOCK,))
                self._conn.execute("CREATE TABLE IF NOT EXISTS store_state (id smallint PRIMARY KEY CHECK (id = 1), "
                                   "generation bigint NOT NULL, modified double precision NOT NULL)")
            self._ready = True
        return self._conn

    def _run(self, sql: str, params=()):
        import psycopg

        with self._guard:
            try:
                try:
                    return self._connect().execute(sql, params).fetchall()
                except psycopg.OperationalError:  # a broken session: one new one
                    self._conn = None
                    return self._connect().execute(sql, params).fetchall()
            except psycopg.Error as exc:
                self._conn = None
                raise _unavailable("reading or saving the store's generation", self.url, exc) from exc

    def read(self) -> tuple[int, float] | None:
        """The generation and time the processes moved the store to (None: never written)."""
        rows = self._run("SELECT generation, modified FROM store_state WHERE id = 1")
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    def adopt(self, generation: int, modified: float) -> None:
        """Start the shared row from a home's own state (kept when the row exists)."""
        self._run("INSERT INTO store_state VALUES (1, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                  (generation, modified))

    def save(self, generation: int, modified: float) -> None:
        """Record a new generation (called by the holder of the store's turn)."""
        self._run("INSERT INTO store_state VALUES (1, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                  "generation = excluded.generation, modified = excluded.modified RETURNING id",
                  (generation, modified))

    def close(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()


def holder(database, which: str = "store") -> int | None:
    """Return the pid of the process holding a turn ("store" or "indexes") on PostgreSQL (None: nobody);
    ``database``: its URL, or an open psycopg connection (autocommit) to it."""
    import psycopg

    key = STORE_TURN if which == "store" else INDEXES_TURN
    if isinstance(database, str):
        with psycopg.connect(_dsn(database), autocommit=True) as conn:
            return holder(conn, which)
    row = database.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s", (key,)).fetchone()
    if row is None or not (row[0] or "").startswith(APPLICATION + "-"):
        return None
    return int(row[0].rsplit("-", 1)[1])
