"""Write pycsw's repository rows in a worker process, in publish order, beside the publisher.

Building a record (its ISO 19139 document above all) costs about a millisecond per dataset; a harvest of
10,000 datasets would spend ten seconds of its one Python thread on it. So from the first large publish on,
``CswRepository`` hands each publish event to this worker as N-Quads (serialised by pyoxigraph, cheap) and
goes on; the worker, on the second core, builds the rows and writes them in one transaction per event, in
the order received. ``flush()`` waits until every event handed over is written: the repository calls it
before it answers anything (counts, CSW requests), so no reader sees the index behind a finished publish.

The worker opens the repository's database itself: an SQLite path in its arguments, or, on PostgreSQL, the
URL in the environment variable ``CSW_REPOSITORY_DATABASE`` (a secret never goes in a command line).

Protocol (our stdin → worker, worker → our stdout): frames of a 4-byte big-endian length and a pickle.
Requests: ``(seq, nquads: bytes, put: list[str], removed: list[str], digests: dict[str, str])``; answers:
``(seq, error or None)``. The digests of the versions written go in the transaction of their rows.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import time
from pathlib import Path

from core.frames import read_frame, read_frame_until, write_frame
from ogc.csw.databases import URL_ENV

ROOT = Path(__file__).resolve().parents[2]


class IndexerError(Exception):
    """The worker failed or died; the caller rebuilds the index from the store."""


class RowWorker:
    """The parent's handle on one worker process."""

    def __init__(self, database, table: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        if database.path is None:  # PostgreSQL: the URL is a secret, given through the environment, never argv
            target = database.kind
            env[URL_ENV] = database.url
        else:
            target = str(database.path)
        self.proc = subprocess.Popen([sys.executable, "-m", "ogc.csw.indexer", target, table],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        self.submitted = 0
        self.done = 0

    def submit(self, nquads: bytes, put: list[str], removed: list[str], digests: dict | None = None) -> None:
        """Hand one event over (blocks only while the worker is still busy with the one before)."""
        self.submitted += 1
        data = pickle.dumps((self.submitted, nquads, put, removed, digests or {}), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            write_frame(self.proc.stdin, data)
        except (BrokenPipeError, OSError) as exc:
            raise IndexerError("the CSW index worker is gone") from exc
        self._collect(0)

    def flush(self, timeout_s: float = 300.0) -> None:
        """Wait until every event handed over is written."""
        deadline = time.monotonic() + timeout_s
        while self.done < self.submitted:
            left = deadline - time.monotonic()
            if left <= 0:
                raise IndexerError(f"the CSW index worker did not finish within {timeout_s:.0f} s")
            self._collect(left)

    def _collect(self, wait_s: float) -> None:
        """Read the answers that are ready (waiting up to wait_s for the first)."""
        # frames are read from the descriptor itself (os.read, never past a frame): a buffered reader could hold
        # an answer select() does not see, and flush() would wait its whole timeout for it (a 306 s stop)
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], wait_s)[0]:
            try:
                payload = read_frame_until(fd, time.monotonic() + 60)
            except EOFError:
                payload = None
            if payload is None:
                raise IndexerError(f"the CSW index worker died (exit {self.proc.poll()})")
            seq, error = pickle.loads(payload)
            if error:
                raise IndexerError(f"the CSW index worker failed on event {seq}: {error}")
            self.done = seq
            wait_s = 0

    def close(self) -> None:
        """Stop the worker after it has written what it was given."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)


def _rows(nquads: bytes, put: list[str], skipped: dict) -> list[dict]:
    import pyoxigraph as ox

    from ogc.csw.repository import row_or_skip

    graphs: dict[str, list] = {uri: [] for uri in put}
    for quad in ox.parse(nquads, ox.RdfFormat.N_QUADS):
        graphs[quad.graph_name.value].append(quad.triple)
    rows = (row_or_skip(triples, uri, skipped) for uri, triples in graphs.items() if triples)
    return [row for row in rows if row is not None]


def main() -> None:
    """Serve events from the parent until our stdin closes."""
    from ogc.csw.databases import database_from_environment
    from ogc.csw.repository import CswRepository

    target, table = sys.argv[1], sys.argv[2]
    repository = CswRepository(database_from_environment(target), table)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer channel
    while (payload := read_frame(stdin)) is not None:
        seq, nquads, put, removed, digests = pickle.loads(payload)
        error = None
        try:
            skipped: dict = {}  # datasets whose record cannot be built: kept in the repository's table
            rows = _rows(nquads, put, skipped)
            gone = set(removed) | (set(put) - {row["identifier"] for row in rows})
            repository.write(rows, delete=gone, skipped=skipped, digests=digests)
        except Exception as exc:  # reported to the parent, which rebuilds from the store
            from core.text import excerpt

            error = f"{type(exc).__name__}: {excerpt(str(exc), 500)}"  # never a whole record in a message
        write_frame(stdout, pickle.dumps((seq, error), protocol=pickle.HIGHEST_PROTOCOL))
    repository.close()


if __name__ == "__main__":
    main()
