"""Framed messages between the server and its worker processes (SPARQL workers, sandbox workers, the CSW
indexer): an 8-byte big-endian length, then the payload (a pickle), over the worker's stdin and stdout."""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Callable

HEADER = struct.Struct(">Q")


def read_exact(stream, size: int) -> bytes | None:
    """Read exactly size bytes from a pipe, or None at its end."""
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream) -> bytes | None:
    """Read one frame from a blocking stream; None at its end."""
    header = read_exact(stream, HEADER.size)
    return read_exact(stream, HEADER.unpack(header)[0]) if header else None


def write_frame(stream, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_frame_until(fd: int, deadline: float, tick: float | None = None,
                     on_tick: Callable[[], None] | None = None) -> bytes | None:
    """Read one frame from a pipe's descriptor before ``deadline`` (time.monotonic); None when it passed.

    While waiting, ``on_tick`` is called at least every ``tick`` seconds (it may raise, e.g. when the client
    went away, or lower a slow query's priority). EOFError when the pipe ends (the worker died).
    """
    buffer, need, header_done = bytearray(), HEADER.size, False
    while len(buffer) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left if tick is None else min(left, tick))
        if not ready:
            if on_tick is not None:
                on_tick()
            continue
        chunk = os.read(fd, min(1 << 20, need - len(buffer)))
        if not chunk:
            raise EOFError("the worker process closed its pipe")
        buffer += chunk
        if not header_done and len(buffer) >= HEADER.size:
            need = HEADER.size + HEADER.unpack(buffer[:HEADER.size])[0]
            header_done = True
    return bytes(buffer[HEADER.size:])
