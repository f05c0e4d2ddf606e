"""Give each thread its own connection to one SQLite file (WAL), and close them all at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ThreadConnections:
    """One SQLite connection per thread to the same file, for the server's small derived databases."""

    def __init__(self, path: Path, setup=None) -> None:
        self.path = Path(path)
        self._setup = setup  # called with each new connection (e.g. to register SQL functions)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it in WAL mode the first time."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if self._setup is not None:
                self._setup(conn)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection of every thread."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is open; SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR).

    Called after a failed statement or COMMIT so that the connection stays usable once space is back
    (a transaction left open would refuse every later BEGIN until a restart).
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
