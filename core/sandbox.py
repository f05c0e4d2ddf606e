"""Run heavy work (reading uploads, validation, spatialization) in killable worker processes with limits.

A ``Sandbox`` keeps warm worker processes (``core.sandbox_worker``: they import the task modules once). Each
task runs in one worker under a memory limit (RLIMIT_AS, set in the worker) and a wall-time limit (the worker
is killed at the limit, SIGKILL, and replaced); a task whose client went away is killed the same way. At most
``max_tasks`` tasks run at once over every web process of one data directory: a slot is an exclusive lock on
one of ``max_tasks`` files (``flock``, released by the kernel even when a process dies). Requests wait for a
slot in a bounded queue, then get 503 with Retry-After; publications (``background``) wait longer.

Tasks are module-level functions; their arguments and results are plain picklable data. ``InlineSandbox``
runs the same functions in the calling process without limits (commands and tests without workers).
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from core.errors import WodpError
from core.frames import read_frame_until, write_frame
from core.sandbox_worker import MEMORY_EXIT, READY, resolve

log = logging.getLogger(__name__)

Gone = Callable[[], bool]  # tells whether the client of a request has gone away
POLL_S = 0.1  # how often a waiting request looks at its client and at the slots
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS}  # an allocation failed outside Python


class SandboxError(WodpError):
    """A task in a worker process failed outside the task's own errors."""

    status = 500
    code = "worker-failed"


class SandboxBusyError(SandboxError):
    """Every slot is taken and the queue is full or waited too long: 503 with Retry-After."""

    status = 503
    code = "busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SandboxMemoryError(SandboxError):
    status = 413
    code = "memory-limit"


class SandboxTimeoutError(SandboxError):
    status = 503
    code = "time-limit"


class ClientGoneError(SandboxError):
    """The client closed its connection; its task was stopped (nobody reads this answer)."""

    status = 499
    code = "client-gone"


@dataclass(frozen=True)
class Limits:
    """The sandbox's limits (settings ``sandbox``)."""

    memory_mb: int = 1500
    timeout_s: float = 60.0
    max_tasks: int = 2
    workers: int = 2
    max_queue: int = 4
    queue_timeout_s: float = 10.0
    nice: int = 10


def function_name(function: Callable) -> str:
    """Return "module:qualname" of a module-level function, which a worker can import."""
    name = f"{function.__module__}:{function.__qualname__}"
    if function.__module__ == "__main__" or "<" in function.__qualname__:
        raise ValueError(f"{name} is not a module-level function a worker process can import")
    return name


class _Slots:
    """At most ``count`` holders at once over every process of one directory: exclusive locks on files."""

    def __init__(self, directory: Path, count: int) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths = [directory / f"slot-{i}.lock" for i in range(count)]

    def try_take(self) -> int | None:
        """Return the descriptor of a free slot, locked, or None when every slot is held."""
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    @staticmethod
    def give_back(fd: int) -> None:
        os.close(fd)  # closing the descriptor releases the lock


class _Worker:
    """One worker process, warm, answering one task at a time over framed pickles."""

    def __init__(self, limits: Limits, preload: Sequence[str]) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONUNBUFFERED="1", MALLOC_ARENA_MAX="2",
                   WODP_SANDBOX_MEMORY_MB=str(limits.memory_mb), WODP_SANDBOX_NICE=str(limits.nice),
                   WODP_SANDBOX_PRELOAD=",".join(preload))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-m", "core.sandbox_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, close_fds=True)
        try:
            ready = self.read(time.monotonic() + 120, None)
        except (EOFError, OSError):
            ready = None
        if ready != READY:
            self.kill()
            raise SandboxError("a sandbox worker process failed to start (see the server log)")

    def read(self, deadline: float, gone: Gone | None) -> bytes | None:
        """Read one frame; None when the deadline passed; ClientGoneError when the client went away."""

        def look() -> None:
            if gone is not None and gone():
                raise ClientGoneError("the client went away")

        return read_frame_until(self.proc.stdout.fileno(), deadline, POLL_S, look)

    def send(self, payload: bytes) -> None:
        write_frame(self.proc.stdin, payload)

    def kill(self) -> None:
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.forget()

    def forget(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class InlineSandbox:
    """Run tasks in the calling process, without limits (commands and tests that start no workers)."""

    limits = None

    def run(self, function: Callable, *args: Any, what: str = "the task", gone: Gone | None = None,
            background: bool = False, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    def start(self) -> None:
        pass

    def worker_pids(self) -> list[int]:
        return []

    def close(self) -> None:
        pass


class Sandbox:
    """Warm worker processes running one task each under memory and time limits, a bounded number at once."""

    def __init__(self, limits: Limits, slot_dir: Path, preload: Sequence[str] = ()) -> None:
        self.limits = limits
        self.preload = tuple(preload)
        self._slots = _Slots(slot_dir, limits.max_tasks)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._waiting = 0
        self._closed = False
        self._pid = os.getpid()

    # -- workers -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the warm workers, in the background."""
        for _ in range(self.limits.workers):
            threading.Thread(target=self._add_idle, name="sandbox-start", daemon=True).start()

    def _add_idle(self) -> None:
        try:
            worker = _Worker(self.limits, self.preload)
        except Exception:  # logged; the next task starts one itself
            log.exception("cannot start a sandbox worker")
            return
        with self._lock:
            if self._closed or len(self._all) >= max(self.limits.workers, self.limits.max_tasks):
                worker.kill()
                return
            self._all.add(worker)
            self._idle.append(worker)

    def _after_fork(self) -> None:
        """In a process forked from the one that started the workers: forget them, start our own."""
        with self._lock:
            if self._pid == os.getpid():
                return
            old, self._all, self._idle = list(self._all), set(), []
            self._pid, self._waiting = os.getpid(), 0
        for worker in old:
            worker.forget()
        self.start()

    def _take_worker(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.limits, self.preload)
        with self._lock:
            self._all.add(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        """Kill a worker (its task went over a limit, or was abandoned); start another when below the warm count."""
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            below = not self._closed and len(self._all) < self.limits.workers
        if below:
            threading.Thread(target=self._add_idle, name="sandbox-replace", daemon=True).start()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.kill()

    # -- tasks ---------------------------------------------------------------------------------------------
    def run(self, function: Callable, *args: Any, what: str = "the task", gone: Gone | None = None,
            background: bool = False, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` in a worker and return its result, or raise a WodpError.

        ``what`` names the work in messages ("the upload needed more than 1500 MB …"); ``gone`` tells whether
        the client went away (the task is then killed); ``background`` work (publications) waits longer for a
        slot and is never refused for a full queue.
        """
        self._after_fork()
        payload = pickle.dumps((function_name(function), args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        slot = self._take_slot(what, gone, background)
        try:
            return self._run_in_worker(payload, what, gone)
        finally:
            _Slots.give_back(slot)

    def _take_slot(self, what: str, gone: Gone | None, background: bool) -> int:
        slot = self._slots.try_take()
        if slot is not None:
            return slot
        limits = self.limits
        retry = max(1, math.ceil(limits.queue_timeout_s))
        with self._lock:
            if not background and self._waiting >= limits.max_queue:
                raise SandboxBusyError(f"the server is busy: all {limits.max_tasks} task slots are taken and "
                                       f"{self._waiting} requests wait; {what} was not started, try again in "
                                       f"{retry} s", retry)
            self._waiting += 1
        wait = max(limits.queue_timeout_s, 10 * limits.timeout_s) if background else limits.queue_timeout_s
        deadline = time.monotonic() + wait
        try:
            while True:
                time.sleep(POLL_S)
                if gone is not None and gone():  # before taking a slot: an abandoned request starts nothing
                    raise ClientGoneError("the client went away")
                slot = self._slots.try_take()
                if slot is not None:
                    return slot
                if time.monotonic() >= deadline:
                    raise SandboxBusyError(f"the server is busy: all {limits.max_tasks} task slots stayed taken "
                                           f"for {wait:g} s; {what} was not started, try again in {retry} s", retry)
        finally:
            with self._lock:
                self._waiting -= 1

    def _run_in_worker(self, payload: bytes, what: str, gone: Gone | None) -> Any:
        limits = self.limits
        worker = self._take_worker()
        started = time.monotonic()
        try:
            try:
                worker.send(payload)
            except OSError:  # an idle worker died (killed from outside): the task goes to a fresh one
                self._drop(worker)
                worker = self._take_worker()
                worker.send(payload)
            frame = worker.read(started + limits.timeout_s, gone)
        except ClientGoneError:
            log.info("%s: the client went away after %.1f s; its worker was stopped", what, time.monotonic() - started)
            self._drop(worker)
            raise
        except (EOFError, OSError):
            self._drop(worker)
            raise self._death(worker, what) from None
        if frame is None:
            log.warning("%s ran past %g s; its worker was stopped", what, limits.timeout_s)
            self._drop(worker)
            raise SandboxTimeoutError(f"{what} needed more than {limits.timeout_s:g} s and was stopped")
        answer = pickle.loads(frame)
        if answer[0] == "memory":
            self._drop(worker)
            raise self._memory(what)
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)
        if answer[0] == "ok":
            return answer[1]
        raise _rebuild(answer, what)

    def _memory(self, what: str) -> SandboxMemoryError:
        log.warning("%s needed more than %d MB; its worker was stopped", what, self.limits.memory_mb)
        return SandboxMemoryError(f"{what} needed more than {self.limits.memory_mb} MB of memory and was stopped")

    def _death(self, worker: _Worker, what: str) -> SandboxError:
        code = worker.proc.returncode
        if code == MEMORY_EXIT or (code is not None and code < 0 and -code in _MEMORY_SIGNALS):
            return self._memory(what)
        log.error("a sandbox worker died (exit status %s) while reading %s", code, what)
        return SandboxError(f"the worker process reading {what} stopped unexpectedly (exit status {code})")


def _rebuild(answer: tuple, what: str) -> WodpError:
    """Make the task's own error again in this process: same class, status, code and message."""
    _, module, qualname, status, code, message = answer
    try:
        cls = resolve(f"{module}:{qualname}")
    except Exception:  # noqa: BLE001 - a class we cannot import here: the generic root keeps status and message
        cls = WodpError
    if not (isinstance(cls, type) and issubclass(cls, WodpError)):
        cls = WodpError
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message or f"an internal error occurred while reading {what}; it has been logged"
    error.status, error.code = status, code
    return error
