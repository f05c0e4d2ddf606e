"""Name disk-full and I/O errors, keep a reserve of free space, and recover once space is back.

Every part writes to the data directory (the store's RocksDB files, the SQLite ledger and indexes, the
quarantine, the query snapshots). When a write fails for lack of space or an I/O error, the part raises
``StorageFullError`` (507) or ``StorageIOError`` (503) with the reason, instead of a bare 500; ``storage_error``
recognises the errors of the OS, of SQLite and of RocksDB (pyoxigraph). ``DiskGuard`` refuses publications
while the data directory has less than ``storage.min_free_mb`` free, keeps a reserve file of
``storage.reserve_mb`` that is released when a publication hits a full disk half-way (so that it can be
completed or undone), and runs the recovery callbacks (reopen the store, let derived indexes catch up) when
space is back: no restart is needed (docs/architecture.md, "Disk full and other I/O errors").
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from core.errors import WodpError

log = logging.getLogger(__name__)

T = TypeVar("T")

RESERVE_NAME = ".disk-reserve"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_IO_ERRNOS = {errno.EIO, errno.EROFS}
_FULL_WORDS = ("no space left on device", "database or disk is full", "disk quota exceeded")
_IO_WORDS = ("disk i/o error", "input/output error", "read-only file system", "io error")


class StorageFullError(WodpError):
    """The data directory has no space left: nothing of the request was stored."""

    status = 507
    code = "disk-full"


class StorageIOError(WodpError):
    """A read or write of the data directory failed (an I/O error): the service is unavailable for now."""

    status = 503
    code = "io-error"


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def storage_kind(exc: BaseException) -> str | None:
    """Tell whether an exception (or one it was raised from) is a full disk ("full"), an I/O error ("io"), or None."""
    for e in _chain(exc):
        if isinstance(e, (StorageFullError, StorageIOError)):
            return "full" if isinstance(e, StorageFullError) else "io"
        number = getattr(e, "errno", None)
        if isinstance(e, OSError) and number in _FULL_ERRNOS:
            return "full"
        if isinstance(e, OSError) and number in _IO_ERRNOS:
            return "io"
        if isinstance(e, (OSError, sqlite3.DatabaseError, DBAPIError)):  # RocksDB errors come as OSError without errno
            text = str(e).lower()
            if any(w in text for w in _FULL_WORDS):
                return "full"
            if any(w in text for w in _IO_WORDS):
                return "io"
    return None


def storage_error(exc: BaseException, doing: str, outcome: str = "nothing was stored") -> WodpError | None:
    """Return the 507/503 error to raise for a storage failure while doing something, or None if it is not one."""
    for e in _chain(exc):
        if isinstance(e, (StorageFullError, StorageIOError)):
            return e
    kind = storage_kind(exc)
    if kind is None:
        return None
    if kind == "full":
        return StorageFullError(f"the server's disk is full: {doing} failed (no space left on device); {outcome}. "
                                "Try again when space has been freed")
    return StorageIOError(f"the server's disk failed: {doing} failed (an I/O error); {outcome}. "
                          "Try again later")


def guarded(doing: str, fn: Callable[[], T], outcome: str = "nothing was stored") -> T:
    """Run fn; turn a storage failure into StorageFullError / StorageIOError naming what was being done."""
    try:
        return fn()
    except WodpError as exc:
        if isinstance(exc, (StorageFullError, StorageIOError)):
            raise
        err = storage_error(exc, doing, outcome)
        if err is None:
            raise
        raise err from exc
    except (OSError, sqlite3.DatabaseError, DBAPIError) as exc:  # DBAPIError: core.database (SQLAlchemy)
        err = storage_error(exc, doing, outcome)
        if err is None:
            raise
        raise err from exc


class DiskGuard:
    """Refuse writes below a floor of free space, keep a reserve file, and recover once space is back."""

    def __init__(self, home: Path, reserve_bytes: int, min_free_bytes: int, recheck_s: float = 2.0) -> None:
        self.home = Path(home)
        self.reserve_bytes = reserve_bytes
        self.min_free_bytes = min_free_bytes
        self.recheck_s = recheck_s
        self.reserve = self.home / RESERVE_NAME
        self._recoveries: list[Callable[[], bool]] = []  # each returns True when its part is whole again
        self._lock = threading.RLock()
        self._degraded = False
        self._last_check = 0.0

    # -- space -----------------------------------------------------------------------------
    def free_bytes(self) -> int:
        st = os.statvfs(self.home)
        return st.f_bavail * st.f_frsize

    def ensure_reserve(self) -> bool:
        """Create the reserve file when it is missing and there is room for it; True when it is in place."""
        if self.reserve_bytes <= 0:
            return True
        try:
            if self.reserve.exists() and self.reserve.stat().st_size >= self.reserve_bytes:
                return True
            if self.free_bytes() < self.reserve_bytes + self.min_free_bytes:
                return False
            tmp = self.reserve.with_name(RESERVE_NAME + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
            finally:
                os.close(fd)
            tmp.replace(self.reserve)
            return True
        except OSError as exc:
            self.reserve.with_name(RESERVE_NAME + ".tmp").unlink(missing_ok=True)
            log.warning("cannot keep the disk reserve %s: %s", self.reserve, str(exc))
            return False

    def release(self) -> bool:
        """Delete the reserve file to give a half-done write room to finish or undo; True if there was one."""
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cannot release the disk reserve %s: %s", self.reserve, str(exc))
            return False
        self._degraded = True
        log.warning("the data directory is full: released the reserve of %d MB", self.reserve_bytes >> 20)
        return True

    # -- recovery --------------------------------------------------------------------------
    def on_recover(self, callback: Callable[[], bool]) -> None:
        """Run callback when the guard recovers (it reopens a handle, lets an index catch up)."""
        self._recoveries.append(callback)

    def mark_degraded(self) -> None:
        """Note that a part failed to write: recover at the next check."""
        self._degraded = True

    @property
    def degraded(self) -> bool:
        return self._degraded

    def recover(self, force: bool = False) -> bool:
        """When degraded and space is back, run every recovery callback; True when all is whole again."""
        if not self._degraded:
            return True
        now = time.monotonic()
        if not force and now - self._last_check < self.recheck_s:
            return False
        with self._lock:
            if not self._degraded:
                return True
            self._last_check = now
            if self.free_bytes() < self.min_free_bytes:
                return False
            whole = True
            for callback in self._recoveries:
                try:
                    whole = bool(callback()) and whole
                except Exception as exc:  # still failing: try again at the next check
                    log.warning("recovery of %r failed: %s", callback, str(exc))
                    whole = False
            whole = self.ensure_reserve() and whole
            if whole:
                self._degraded = False
                log.info("the data directory has space again: every part is whole")
            return whole

    def check(self, doing: str) -> None:
        """Before a write: recover if need be, then refuse with 507 when the free space is below the floor."""
        self.recover(force=True)
        free = self.free_bytes()
        if free < self.min_free_bytes:
            self._degraded = True
            raise StorageFullError(
                f"the server's disk is full: {free >> 20} MB free in the data directory, below the "
                f"{self.min_free_bytes >> 20} MB kept free (storage.min_free_mb); {doing} was refused and nothing "
                "was stored. Try again when space has been freed")
        if self._degraded:
            raise StorageFullError(
                f"the server's disk is full: a write failed for lack of space and the platform is not whole again "
                f"yet ({free >> 20} MB free); {doing} was refused and nothing was stored. Try again when space "
                "has been freed")
        self.ensure_reserve()

    def rescue(self, doing: str, fn: Callable[[], T]) -> T:
        """Run fn; when the disk is full, release the reserve and run it once more (to finish or undo a write)."""
        try:
            return fn()
        except Exception as exc:
            if storage_kind(exc) != "full":
                raise
            self._degraded = True
            if not self.release():
                raise
            log.warning("%s hit a full disk; retrying with the reserve released", doing)
            return fn()
