"""Keep a pool of killable query worker processes over fresh read-only snapshots of the store."""

from __future__ import annotations

import logging
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from config.settings import SparqlSettings
from core import errors as core_errors
from sparql import errors
from sparql.snapshots import Snapshots
from sparql.store import OxigraphStore
from sparql.worker import HEADER, QueryAnswer, QueryRequest

log = logging.getLogger(__name__)


class _Worker:
    """One worker process and the snapshot it has open."""

    def __init__(self, nice: int) -> None:
        env = dict(os.environ, WODP_WORKER_NICE=str(nice), PYTHONUNBUFFERED="1")
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparql.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.snapshot = ""
        if self._read(time.monotonic() + 60) != b"ready":
            self.kill()
            raise errors.StoreError("a SPARQL worker process failed to start")

    def _read(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        buffer = b""
        need = HEADER.size
        header_done = False
        while len(buffer) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, min(1 << 20, need - len(buffer)))
            if not chunk:
                raise errors.StoreError("a SPARQL worker process died")
            buffer += chunk
            if not header_done and len(buffer) >= HEADER.size:
                need = HEADER.size + HEADER.unpack(buffer[: HEADER.size])[0]
                header_done = True
        return buffer[HEADER.size:]

    def ask(self, request: QueryRequest, timeout: float) -> QueryAnswer | None:
        """Send a request; return the answer, or None when the time limit passed."""
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()
        payload = self._read(time.monotonic() + timeout)
        if payload is None:
            return None
        self.snapshot = request.snapshot
        return pickle.loads(payload)

    def kill(self) -> None:
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


@dataclass(frozen=True)
class QueryResult:
    media_type: str
    body: bytes
    elapsed_s: float


class QueryPool:
    """Answer user queries in worker processes; a query past its limit is killed with its worker."""

    def __init__(self, store: OxigraphStore, settings: SparqlSettings, snapshot_root: Path,
                 snapshots: Snapshots | None = None) -> None:
        self.store = store
        self.settings = settings
        self.root = snapshot_root
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._starting = 0
        # one snapshot per generation, shared with the web processes when the platform serves them
        self.snapshots = snapshots or Snapshots(store, snapshot_root)
        self.snapshots.holders.append(self._in_use)

    def start(self) -> None:
        """Start the worker processes (in the background after the first)."""
        self._add_worker()
        for _ in range(self.settings.workers - 1):
            threading.Thread(target=self._add_worker, daemon=True).start()

    def _add_worker(self) -> None:
        if self._closed:
            return
        try:
            worker = _Worker(self.settings.worker_nice)
        except Exception:
            log.exception("cannot start a SPARQL worker")
            return
        with self._lock:
            if self._closed:
                worker.kill()
                return
            self._all.add(worker)
        self._idle.put(worker)

    def _current_snapshot(self) -> str:
        return self.snapshots.current()[1]

    def _in_use(self) -> set[str]:
        with self._lock:
            return {w.snapshot for w in self._all}

    def run(self, query: str, accept: str | None = None, format_name: str | None = None,
            default_graphs: tuple[str, ...] = (), named_graphs: tuple[str, ...] = ()) -> QueryResult:
        """Answer one query within the time and size limits, or raise a WodpError."""
        if len(query) > self.settings.max_query_chars:
            raise errors.QueryRefusedError(
                f"the query has {len(query)} characters; at most {self.settings.max_query_chars} are accepted"
            )
        started = time.monotonic()
        snapshot = self._current_snapshot()  # before taking a worker: on a full disk this fails (507)
        worker = self._take_worker()
        request = QueryRequest(
            snapshot=snapshot, query=query, accept=accept, format_name=format_name,
            max_results=self.settings.max_results, max_bytes=self.settings.max_result_bytes,
            default_graphs=default_graphs, named_graphs=named_graphs,
        )
        left = self.settings.timeout_s - (time.monotonic() - started)
        try:
            answer = worker.ask(request, max(left, 0.001))
        except (errors.StoreError, OSError, EOFError, pickle.UnpicklingError):
            self._replace(worker)
            raise errors.StoreError("the query worker failed; the query was not answered")
        if answer is None:
            self._replace(worker)
            raise errors.QueryTimeoutError(
                f"the query ran past the time limit of {self.settings.timeout_s:g} s and was stopped"
            )
        self._idle.put(worker)
        if answer.error_class:
            # the worker names its error's class: one of the store's, or a generic one of core.errors
            name = answer.error_class
            cls = getattr(errors, name, None) or getattr(core_errors, name, errors.WodpError)
            raise cls(answer.error_message)
        return QueryResult(answer.media_type, answer.body, time.monotonic() - started)

    def _take_worker(self) -> _Worker:
        """Take an idle worker; when none is idle, start one more up to max_workers, else wait."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = len(self._all) + self._starting < self.settings.max_workers
            if grow:
                self._starting += 1
        if grow:
            try:
                worker = _Worker(self.settings.worker_nice)
            finally:
                with self._lock:
                    self._starting -= 1
            with self._lock:
                self._all.add(worker)
            return worker
        try:
            return self._idle.get(timeout=self.settings.queue_timeout_s)
        except queue.Empty:
            raise errors.ServiceBusyError(
                f"all {self.settings.max_workers} SPARQL workers are busy; try again shortly") from None

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            below = len(self._all) + self._starting < self.settings.workers
        if below:
            threading.Thread(target=self._add_worker, daemon=True).start()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all]

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()
        self.snapshots.close()
