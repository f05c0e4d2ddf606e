"""Benchmark one rate-limit hit on each storage: this process's memory, and the data layer (server/throttle_store.py).

Run: PYTHONPATH=. python bench/throttle_store.py [--postgres URL] [--hits 2000]
Each strategy of the limits library (moving window, fixed window, sliding-window counter) hits a high limit
``--hits`` times over 50 clients, on memory:// and on wodp-database:// over the part ``throttle`` (an SQLite file
in a temporary directory, or the PostgreSQL database ``--postgres``), and prints µs a hit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None, help="database.url (default: an SQLite file)")
    parser.add_argument("--hits", type=int, default=2000)
    args = parser.parse_args()
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import STRATEGIES

    import server.throttle_store  # noqa: F401  (registers wodp-database://)
    from core.database import open_database

    db = open_database(args.postgres, "throttle", Path(tempfile.mkdtemp()) / "throttle.sqlite", auto_migrate=True)
    limit = parse("1000000/minute")
    where = "PostgreSQL" if args.postgres else "SQLite"
    for strategy in ("moving-window", "fixed-window", "sliding-window-counter"):
        for name, uri, options in (("memory", "memory://", {}), (f"data layer ({where})", "wodp-database://",
                                                                   {"database": db})):
            limiter = STRATEGIES[strategy](storage_from_string(uri, **options))
            started = time.perf_counter()
            for i in range(args.hits):
                limiter.hit(limit, f"client{i % 50}", "sparql")
            print(f"{strategy:24} {name:24} {(time.perf_counter() - started) / args.hits * 1e6:7.0f} µs a hit")


if __name__ == "__main__":
    main()
