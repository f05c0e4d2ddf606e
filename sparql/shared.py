"""Let several processes write one shared store in turn: an exclusive lock on a file beside the home.

With a remote store (``store.url``) every process of one installation — web workers under gunicorn, harvest
workers taking tasks from the queue — may publish. The engine takes any order of requests, but the platform's
own bookkeeping must see one publication at a time: the generation (``store.state.json``), the digests of the
dataset graphs, and the derived indexes that follow each publish event in generation order. So a process takes
this lock for the whole of a publication (the ledger's intent, the engine's write, the new generation, every
derived index's follow, the ledger's row) and re-reads the generation once it holds it (docs/scale-out.md,
"Several processes"). The lock is ``fcntl.flock`` on a file: it is let go by the kernel when its process dies,
however it dies, so a killed worker never leaves the others waiting. Processes on other machines cannot share it:
they need the generation and the indexes on PostgreSQL (see docs/scale-out.md).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


class SharedWrites:
    """An exclusive lock held by one process at a time; re-entrant inside the process (its threads and nested
    calls share it, the store's own locks order them)."""

    def __init__(self, path: Path, on_acquire: Callable[[], None] | None = None) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._depth = 0
        self._guard = threading.Lock()
        self._on_acquire = on_acquire
        self.waited_s = self.held_s = 0.0  # this process's totals: waiting for the others, holding it
        self._since = 0.0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block; the first holder in this process waits for the other processes."""
        with self._guard:
            if self._depth == 0:
                asked = time.monotonic()
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                self._since = time.monotonic()
                self.waited_s += self._since - asked
                try:
                    if self._on_acquire is not None:
                        self._on_acquire()
                except BaseException:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    raise
            self._depth += 1
        try:
            yield
        finally:
            with self._guard:
                self._depth -= 1
                if self._depth == 0:
                    self.held_s += time.monotonic() - self._since
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
