"""Let each client hold at most its share of the query workers at once, so one client never blocks the others.

This bounds concurrency (how many queries of one client run at the same time); the request rate of a client
is bounded in front of the endpoint by the web's rate limits. Both name a client the same way: the address
Flask gives as request.remote_addr (the X-Forwarded-For client when site.proxies is set).
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sparql.errors import ClientBusyError


class ClientShares:
    """Count the running queries of every client; a client past its share waits briefly in its own queue."""

    def __init__(self, share: int, queue: int, wait_s: float, run_s: float) -> None:
        self.share = share  # queries one client may run at once
        self.queue = queue  # queries one client may have waiting for its share
        self.wait_s = wait_s
        self.run_s = run_s  # the longest a query runs (the time limit): when a share frees up at the latest
        self._lock = threading.Lock()
        self._running: dict[str, list[float]] = {}  # client -> start times of its running queries
        self._waiting: dict[str, int] = {}
        self._turns: dict[str, threading.Condition] = {}

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """Run the body as one of the client's running queries, or raise ClientBusyError (429)."""
        started = self._acquire(client)
        try:
            yield
        finally:
            self._release(client, started)

    def running(self, client: str) -> int:
        with self._lock:
            return len(self._running.get(client, ()))

    def _acquire(self, client: str) -> float:
        with self._lock:
            running = self._running.setdefault(client, [])
            if len(running) >= self.share:
                waiting = self._waiting.get(client, 0)
                if waiting >= self.queue:
                    raise self._busy(client, running, waiting)
                self._waiting[client] = waiting + 1
                turn = self._turns.setdefault(client, threading.Condition(self._lock))
                try:
                    free = turn.wait_for(lambda: len(running) < self.share, timeout=self.wait_s)
                finally:
                    self._waiting[client] -= 1
                    if not self._waiting[client]:
                        del self._waiting[client]
                if not free:
                    raise self._busy(client, running, self._waiting.get(client, 0))
            started = time.monotonic()
            running.append(started)
            return started

    def _release(self, client: str, started: float) -> None:
        with self._lock:
            running = self._running.get(client, [])
            running.remove(started)
            turn = self._turns.get(client)
            if turn is not None:
                turn.notify()
                if client not in self._waiting:
                    del self._turns[client]
            if not running and client not in self._waiting:
                self._running.pop(client, None)

    def _busy(self, client: str, running: list[float], waiting: int) -> ClientBusyError:
        soonest = min(running) + self.run_s - time.monotonic() if running else 1.0
        retry = max(1, math.ceil(soonest))
        queued = f" and {waiting} waiting" if waiting else ""
        return ClientBusyError(
            f"this client already has {len(running)} SPARQL queries running{queued}; at most {self.share} run at "
            f"once per client (and {self.queue} wait): try again in {retry} s", retry_after_s=retry)
