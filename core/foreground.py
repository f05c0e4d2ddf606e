"""Let background work give way to the requests its process is serving (they share one interpreter lock).

A process that serves requests also runs work of its own beside them: the daily freshness measure of every
dataset, in the one-process configuration. Python runs one thread at a time; a background thread that holds the
lock hands it over only every 5 ms (sys.getswitchinterval), so a request served beside it takes about twice as
long — at 100,000 datasets the measure took ~25 s, and the searches of those seconds missed their target.

Such work runs in short steps (~5 ms) and calls ``give_way()`` between two: while the process has requests in
hand (being served, or waiting for a thread), it waits for them, at most ``max_wait_s`` (0.1 s) at a time, so
that it still ends under a steady load (with a request always in hand, it gets ~5% of the interpreter). The
server says how many requests it has in hand (``watch``: server/cli.py, waitress's task dispatcher); a process
that serves nothing gives way to nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Foreground:
    """The requests a process has in hand, as its servers count them."""

    def __init__(self) -> None:
        self._probes: list[Callable[[], int]] = []
        self.waited_s = 0.0  # time background work spent giving way, in all

    def watch(self, probe: Callable[[], int]) -> None:
        """Count the requests a server has in hand with ``probe`` (called from background threads)."""
        self._probes.append(probe)

    def busy(self) -> int:
        """Return how many requests the process has in hand now."""
        total = 0
        for probe in list(self._probes):
            try:
                total += int(probe())
            except Exception:  # noqa: BLE001  a server closing: nothing in hand there
                continue
        return total

    def give_way(self, max_wait_s: float = 0.1, stop: threading.Event | None = None) -> float:
        """Wait while requests are in hand (at most ``max_wait_s``, or until ``stop`` is set); return the wait."""
        started = time.monotonic()
        deadline = started + max_wait_s
        while self.busy() and time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                break
            time.sleep(0.002)
        waited = time.monotonic() - started
        self.waited_s += waited
        return waited


def waitress_in_hand(dispatcher) -> Callable[[], int]:
    """Return a probe of the requests a waitress task dispatcher has in hand: served by its threads, or queued."""
    return lambda: dispatcher.active_count + len(dispatcher.queue)
