"""Create files that hold secrets readable by their owner only (0600), and their directory 0700.

A mode set after a file is written leaves a moment when others may read it, and SQLite gives its ``-wal`` and
``-shm`` files the mode of the database file when it makes them: so each file is created with its mode
(``os.open`` with 0600), before anything is written to it or SQLite opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Make a directory (and its parents) readable by its owner only when it is new; return it."""
    path = Path(path)
    if not path.exists():  # exist_ok: another process of the same new home may make it in between (several start)
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
    return path


def create_private(path: Path) -> Path:
    """Make sure a file exists with mode 0600 (created so, or set so) before it is opened for secrets."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def private_sqlite(path: Path) -> Path:
    """Prepare a SQLite file that holds secrets: the file and any side file it already has, 0600."""
    create_private(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (a temporary file created 0600, then renamed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def shared_secret(path: Path, nbytes: int = 32) -> bytes:
    """Return the secret kept in a private file, making it once (0600) when absent: every process of a home,
    started together or later, reads the same one (the first to link its file wins)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(nbytes).hex().encode())
        try:
            os.link(tmp, path)  # fails when another process made it first: then its secret is the one
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
