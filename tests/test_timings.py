"""Step times of a job: exclusive of the steps inside them, nothing recorded without an open clock."""

from __future__ import annotations

import itertools

import core.timings as timings
from core.timings import StepClock, step


def test_steps_are_exclusive_and_add_up(monkeypatch):
    ticks = itertools.count()                        # a clock that moves one second at each look
    monkeypatch.setattr(timings.time, "perf_counter", lambda: float(next(ticks)))
    with StepClock() as clock:
        with step("store"):                          # t=0
            with step("index: search"):              # t=1 … 2
                pass
            with step("index: search"):              # t=3 … 4
                pass
        with step("validate"):                       # store ended at t=5; validate 6 … 7
            pass
    assert clock.as_json() == {"index: search": 2.0, "store": 3.0, "validate": 1.0}
    assert sum(clock.seconds.values()) == 6.0       # the 5 s of store (its searches included) and 1 s of validate


def test_nothing_is_timed_without_a_clock():
    with step("store"):
        pass
    with StepClock() as clock:
        pass
    with step("store"):                              # the clock is closed: not counted
        pass
    assert clock.as_json() == {}
