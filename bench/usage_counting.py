"""What counting costs a request (services/usage.py): record() per call, and one flush of the buffer.

Run: PYTHONPATH=. .venv/bin/python bench/usage_counting.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from services.usage import UsageCounter


def main(n: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        counter = UsageCounter(Path(tmp) / "usage.sqlite", flush_s=0, department_of=lambda _d: "D001")
        agents = [f"Mozilla/5.0 (X11; Linux x86_64) Chrome/{v}.0" for v in range(100, 130)]
        start = time.perf_counter()
        for i in range(n):
            counter.record("view", f"demo.D001-{i % 500:05d}", user_agent=agents[i % len(agents)],
                           address=f"10.{i % 250}.{i % 7}.{i % 200}")
        recorded = time.perf_counter()
        written = counter.flush()
        flushed = time.perf_counter()
        counter.close()
    print(f"record: {(recorded - start) / n * 1e6:.1f} µs per request ({n} requests, 500 datasets)")
    print(f"flush: {written} increments in {(flushed - recorded) * 1000:.0f} ms (one transaction)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
