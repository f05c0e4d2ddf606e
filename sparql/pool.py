"""Keep a pool of killable query worker processes over fresh read-only snapshots of the store."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

from config.settings import SparqlSettings
from core import errors as core_errors
from sparql import errors
from sparql.snapshots import Snapshots
from sparql.fairness import ClientShares
from sparql.scan import QueryText, scan
from sparql.store import OxigraphStore
from core.frames import read_frame_until, write_frame
from sparql.worker import QueryAnswer, QueryRequest, memory_message

log = logging.getLogger(__name__)
SLOW_TICK_S = 0.05  # how often a running query's wait looks whether it became slow (then its worker is reniced)


class WorkerDied(Exception):
    """The worker process ended before it answered."""


class _Worker:
    """One worker process and the snapshot it has open."""

    def __init__(self, nice: int, memory_mb: int) -> None:
        # MALLOC_ARENA_MAX: glibc reserves 64 MB of address space per thread arena, which RLIMIT_AS would count
        env = dict(os.environ, PYTHONUNBUFFERED="1", MALLOC_ARENA_MAX="2")
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparql.worker", str(nice), str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.snapshot = ""
        self.lowered = False  # reniced while running a slow query
        try:
            ready = self._read(time.monotonic() + 60)
        except WorkerDied:
            ready = None
        if ready != b"ready":
            self.kill()
            raise errors.StoreError("a SPARQL worker process failed to start")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self, deadline: float, slow: tuple[float, int] | None = None) -> bytes | None:
        """Read one framed message; None when the deadline passed; lower the priority once at slow=(when, nice)."""

        def look() -> None:
            nonlocal slow
            if slow is not None and time.monotonic() >= slow[0]:
                self.renice(slow[1], quiet=True)
                self.lowered, slow = True, None

        try:
            return read_frame_until(self.proc.stdout.fileno(), deadline, SLOW_TICK_S if slow else None, look)
        except EOFError:
            raise WorkerDied() from None

    def ask(self, request: QueryRequest, timeout: float, slow: tuple[float, int] | None = None) -> QueryAnswer | None:
        """Send a request; return the answer, or None when the time limit passed; raise WorkerDied."""
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            write_frame(self.proc.stdin, data)
        except OSError:  # a broken pipe: the process is gone
            raise WorkerDied() from None
        payload = self._read(time.monotonic() + timeout, slow)
        if payload is None:
            return None
        self.snapshot = request.snapshot
        try:
            return pickle.loads(payload)
        except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
            raise WorkerDied() from exc

    def renice(self, nice: int, quiet: bool = False) -> None:
        """Set the niceness of every thread of the process (Linux nice is per thread); PermissionError to raise it."""
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{self.proc.pid}/task")]
        except OSError:
            tids = [self.proc.pid]
        for tid in tids:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
            except ProcessLookupError:
                pass
            except PermissionError:
                if not quiet:
                    raise

    def exit_status(self) -> int | None:
        """Wait briefly for the process to end and return its status (-N: killed by signal N)."""
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

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
        self.shares = ClientShares(settings.max_workers_per_client, settings.client_queue,
                                   settings.client_wait_s, settings.timeout_s)
        self.stats: Counter[str] = Counter()  # started, died, retried, memory, crashed, lowered, restored, retired
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._stopped: OrderedDict[str, str] = OrderedDict()  # digest of a query that stopped workers -> why
        self._deaths: Counter[str] = Counter()  # digest -> workers that died under it
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

    def _new_worker(self) -> _Worker:
        worker = _Worker(self.settings.worker_nice, self.settings.worker_memory_mb)
        self.stats["started"] += 1
        return worker

    def _add_worker(self) -> None:
        if self._closed:
            return
        try:
            worker = self._new_worker()
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

    def check(self, query: str) -> QueryText:
        """Refuse, before any worker sees it, a query too long, too deeply nested, an update, or a known killer."""
        limits = self.settings
        if len(query) > limits.max_query_chars:
            raise errors.QueryRefusedError(
                f"the query has {len(query)} characters; at most {limits.max_query_chars} are accepted")
        text = scan(query)
        if text.depth > limits.max_nesting:
            raise errors.QueryRefusedError(
                f"the query nests {text.depth} levels deep (braces, parentheses, brackets); "
                f"at most {limits.max_nesting} are accepted")
        if text.is_update:
            raise errors.QueryRefusedError("SPARQL Update is not allowed: this endpoint answers queries only")
        if text.uses_service:
            raise errors.QueryRefusedError(
                "federated queries (SERVICE) are not allowed: this endpoint reaches no other server")
        with self._lock:
            why = self._stopped.get(_digest(query))
        if why:
            raise errors.QueryCrashError(f"this query was stopped before ({why}); it is not run again")
        return text

    def run(self, query: str, accept: str | None = None, format_name: str | None = None,
            default_graphs: tuple[str, ...] = (), named_graphs: tuple[str, ...] = (),
            client: str = "") -> QueryResult:
        """Answer one query of `client` within the time, size and memory limits and its share, or raise a WodpError."""
        self.check(query)
        with self.shares.hold(client):
            started = time.monotonic()
            answer = self._answer(query, started, dict(
                accept=accept, format_name=format_name, max_results=self.settings.max_results,
                max_bytes=self.settings.max_result_bytes, default_graphs=default_graphs, named_graphs=named_graphs))
        if answer.error_class:
            # the worker names its error's class: one of the store's, or a generic one of core.errors
            name = answer.error_class
            cls = getattr(errors, name, None) or getattr(core_errors, name, errors.WodpError)
            raise cls(answer.error_message)
        return QueryResult(answer.media_type, answer.body, time.monotonic() - started)

    def _answer(self, query: str, started: float, fields: dict) -> QueryAnswer:
        """Get the answer of a worker; once more on a fresh worker when one died under it for a cause not its own."""
        limits = self.settings
        while True:
            snapshot = self._current_snapshot()  # before taking a worker: on a full disk this fails (507)
            worker = self._take_worker(started)
            request = QueryRequest(snapshot=snapshot, query=query, **fields)
            now = time.monotonic()
            left = limits.timeout_s - (now - started)
            slow = (now + limits.slow_query_ms / 1000, limits.slow_query_nice) if limits.slow_query_ms else None
            try:
                answer = worker.ask(request, max(left, 0.001), slow)
            except WorkerDied:
                self._after_death(worker, query)
                continue  # _after_death raised unless the query may run once more
            if answer is None:
                self._replace(worker)
                raise errors.QueryTimeoutError(
                    f"the query ran past the time limit of {limits.timeout_s:g} s and was stopped")
            self._give_back(worker)
            return answer

    def _after_death(self, worker: _Worker, query: str) -> None:
        """Replace a worker that died under a query; raise unless the query may be retried."""
        status = worker.exit_status()
        self._replace(worker)
        self.stats["died"] += 1
        digest = _digest(query)
        cause = -status if status is not None and status < 0 else 0
        memory = self.settings.worker_memory_mb
        with self._lock:
            self._deaths[digest] += 1
            deaths = self._deaths[digest]
            if len(self._deaths) > 1024:
                self._deaths.pop(next(iter(self._deaths)))
        log.warning("a SPARQL worker died under a query (exit status %s, %d time(s) for this query)", status, deaths)
        if cause == signal.SIGABRT and memory:  # an allocation failed under RLIMIT_AS (Rust and C++ abort)
            self.stats["memory"] += 1
            message = memory_message(memory)
            self._remember(digest, message)
            raise errors.QueryMemoryError(message)
        if cause in _QUERY_FAULTS:
            self.stats["crashed"] += 1
            self._remember(digest, f"it crashed a query worker with signal {signal.Signals(cause).name}")
            raise errors.QueryCrashError("the query crashed the query worker that ran it; it is not run again")
        if deaths >= 2:
            self._remember(digest, f"{deaths} query workers ended while running it")
            raise errors.StoreError(f"{deaths} query workers ended while running this query; it is not run again")
        self.stats["retried"] += 1  # killed from outside, or dead before it was given the query

    def _remember(self, digest: str, why: str) -> None:
        with self._lock:
            self._stopped[digest] = why
            while len(self._stopped) > 256:
                self._stopped.popitem(last=False)

    def _take_worker(self, started: float) -> _Worker:
        """Take a live idle worker; when none is idle, start one more up to max_workers, else wait."""
        deadline = started + self.settings.queue_timeout_s
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker.alive():
                return worker
            self._replace(worker)  # died while idle: never given a query
            self.stats["died"] += 1
        with self._lock:
            grow = len(self._all) + self._starting < self.settings.max_workers
            if grow:
                self._starting += 1
        if grow:
            try:
                worker = self._new_worker()
            finally:
                with self._lock:
                    self._starting -= 1
            with self._lock:
                self._all.add(worker)
            return worker
        while (left := deadline - time.monotonic()) > 0:
            try:
                worker = self._idle.get(timeout=left)
            except queue.Empty:
                break
            if worker.alive():
                return worker
            self._replace(worker)
            self.stats["died"] += 1
        raise errors.ServiceBusyError(
            f"all {self.settings.max_workers} SPARQL workers are busy; try again shortly", retry_after_s=1)

    def _give_back(self, worker: _Worker) -> None:
        """Return a worker to the idle ones at its normal priority, or replace it where that is not allowed."""
        if worker.lowered:
            self.stats["lowered"] += 1
            try:
                worker.renice(self.settings.worker_nice)
            except PermissionError:  # only root may raise priority again: a fresh worker starts at normal priority
                self.stats["retired"] += 1
                self._replace(worker)
                return
            worker.lowered = False
            self.stats["restored"] += 1
        self._idle.put(worker)

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


# signals by which a worker process dies of what the query made it do (stack overflow, bad access)
_QUERY_FAULTS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()
