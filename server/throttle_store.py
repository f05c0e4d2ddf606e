"""Keep the rate limits' counts on the data layer, so that every web process counts a client's requests together.

Flask-Limiter counts in its storage (the ``limits`` library's ``Storage``). In the memory of each process (its
default) a client of N web processes gets N times the limits; Redis, Memcached or MongoDB share them but are one
more server to run. ``DatabaseStorage`` keeps them in the platform's own data layer (part ``throttle``): the
shared PostgreSQL database when ``database.url`` is set, else ``throttle.sqlite`` in the home, which the web
processes of one machine share (server/throttle.py chooses it). Each strategy's step is one transaction:

- fixed window and sliding-window counter: a count per key until it expires (``throttle_counters``), raised by
  one upsert that starts the window again once it has expired;
- moving window (exact): one row per request until it leaves its window (``throttle_hits``); a request is
  admitted, one request of a key at a time (an advisory lock named after the key on PostgreSQL, ``BEGIN
  IMMEDIATE`` on SQLite), when fewer than ``limit`` rows of its key are in the window.

Rows whose window has ended are removed every PRUNE_EVERY steps of a process.
"""

from __future__ import annotations

import threading
import time
from math import floor

from limits.storage.base import MovingWindowSupport, SlidingWindowCounterSupport, Storage, TimestampedSlidingWindow
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

PRUNE_EVERY = 1000

_INCR = text("INSERT INTO throttle_counters (key, n, expires) VALUES (:k, :a, :e) ON CONFLICT (key) DO UPDATE SET "
             "n = CASE WHEN throttle_counters.expires <= :now THEN :a ELSE throttle_counters.n + :a END, "
             "expires = CASE WHEN throttle_counters.expires <= :now THEN :e ELSE throttle_counters.expires END "
             "RETURNING n")


class DatabaseStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """The ``limits`` storage ``wodp-database://`` over a ``core.database.Database`` (``storage_options``)."""

    STORAGE_SCHEME = ["wodp-database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, database=None, **options) -> None:
        """``database``: the part (a ``core.database.Database``), or a function that opens it — called at the
        first count, so that a shared database unreachable at start-up does not stop the web process (the
        limiter counts in memory meanwhile: Flask-Limiter's fallback)."""
        if database is None:
            raise ValueError("wodp-database:// needs the data layer's part: storage_options={'database': …}")
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._database = database
        self._db = None
        self._steps = 0
        self._lock = threading.Lock()

    @property
    def db(self):
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self._db = self._database() if callable(self._database) else self._database
        return self._db

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        from core.database import DatabaseError

        return SQLAlchemyError, DatabaseError

    def _pruned(self) -> None:
        with self._lock:
            self._steps += 1
            due = self._steps % PRUNE_EVERY == 0
        if due:
            now = time.time()
            with self.db.write() as conn:
                conn.execute(text("DELETE FROM throttle_counters WHERE expires <= :now"), {"now": now})
                conn.execute(text("DELETE FROM throttle_hits WHERE until <= :now"), {"now": now})

    # -- fixed windows -----------------------------------------------------------------------------------------
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        self._pruned()
        now = time.time()
        with self.db.write() as conn:
            return int(conn.execute(_INCR, {"k": key, "a": amount, "e": now + expiry, "now": now}).fetchone()[0])

    def decr(self, key: str, amount: int = 1) -> int:
        with self.db.write() as conn:
            row = conn.execute(text("UPDATE throttle_counters SET n = CASE WHEN n > :a THEN n - :a ELSE 0 END "
                                    "WHERE key = :k RETURNING n"), {"k": key, "a": amount}).fetchone()
        return int(row[0]) if row else 0

    def get(self, key: str) -> int:
        row = self.db.rows("SELECT n FROM throttle_counters WHERE key = :k AND expires > :now",
                           {"k": key, "now": time.time()})
        return int(row[0][0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self.db.rows("SELECT expires FROM throttle_counters WHERE key = :k AND expires > :now",
                           {"k": key, "now": time.time()})
        return float(row[0][0]) if row else time.time()

    def clear(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(text("DELETE FROM throttle_counters WHERE key = :k"), {"k": key})
            conn.execute(text("DELETE FROM throttle_hits WHERE key = :k"), {"k": key})

    def check(self) -> bool:
        try:
            self.db.rows("SELECT 1")
        except self.base_exceptions:
            return False
        return True

    def reset(self) -> int | None:
        with self.db.write() as conn:
            counters = conn.execute(text("DELETE FROM throttle_counters")).rowcount
            hits = conn.execute(text("DELETE FROM throttle_hits")).rowcount
        return max(counters, hits)

    # -- moving windows ----------------------------------------------------------------------------------------
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        self._pruned()
        now = time.time()
        with self.db.write() as conn:  # one request of a key at a time (SQLite's BEGIN IMMEDIATE: one writer)
            if self.db.postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "wodp.throttle." + key})
            held = conn.execute(text("SELECT COUNT(*) FROM throttle_hits WHERE key = :k AND at > :since"),
                                {"k": key, "since": now - expiry}).fetchone()[0]
            if held + amount > limit:
                return False
            conn.execute(text("INSERT INTO throttle_hits (key, at, until) VALUES (:k, :at, :until)"),
                         [{"k": key, "at": now, "until": now + expiry}] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        (oldest, count), = self.db.rows("SELECT MIN(at), COUNT(*) FROM throttle_hits WHERE key = :k AND at > :since",
                                        {"k": key, "since": now - expiry})
        return (float(oldest) if oldest is not None else now), int(count)

    # -- sliding-window counters (as the library's memory storage counts them) ----------------------------------
    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous_count, previous_ttl, current_count, _ = self._window(previous_key, current_key, expiry, now)
        if floor(previous_count * previous_ttl / expiry + current_count) + amount > limit:
            return False
        current_count = self.incr(current_key, 2 * expiry, amount=amount)
        if floor(previous_count * previous_ttl / expiry + current_count) > limit:
            self.decr(current_key, amount)  # another process's request came first
            return False
        return True

    def _window(self, previous_key: str, current_key: str, expiry: int, now: float) -> tuple[int, float, int, float]:
        previous_count, current_count = self.get(previous_key), self.get(current_key)
        previous_ttl = 0.0 if previous_count == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        return previous_count, previous_ttl, current_count, (1 - ((now / expiry) % 1)) * expiry + expiry

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        return self._window(*self.sliding_window_keys(key, expiry, now), expiry, now)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        for k in self.sliding_window_keys(key, expiry, time.time()):
            self.clear(k)
