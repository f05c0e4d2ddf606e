"""Time the steps of a long job (a harvest): each step's seconds, added up across the layers that do them.

The job opens a clock (``with StepClock() as clock``); code below it, in the same thread, times its part with
``with step("validate"):`` — nothing at all when no clock is open (a push, a web request). Times are exclusive:
a step inside another (the search index following a store write) is taken out of the outer one, so the steps
add up to the time they cover and none is counted twice.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_clock: ContextVar["StepClock | None"] = ContextVar("step_clock", default=None)


class StepClock:
    """Seconds spent in each named step while the clock is open (in the thread that opened it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []   # per open step: seconds of the steps inside it
        self._token = None

    def __enter__(self) -> "StepClock":
        self._token = _clock.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _clock.reset(self._token)

    def add(self, name: str, seconds: float) -> None:
        """Add seconds to a step (e.g. measured by another process)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def as_json(self) -> dict[str, float]:
        """Return each step's seconds, rounded to the millisecond, in the order first met."""
        return {name: round(s, 3) for name, s in self.seconds.items()}


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time a step on the open clock, if any (exclusive of the steps timed inside it)."""
    clock = _clock.get()
    if clock is None:
        yield
        return
    clock._inner.append(0.0)
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        inner = clock._inner.pop()
        clock.add(name, elapsed - inner)
        if clock._inner:
            clock._inner[-1] += elapsed
