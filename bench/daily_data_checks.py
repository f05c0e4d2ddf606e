"""The daily job's data checks over the demo catalogue: the first day reads every file, the next one none.

    PYTHONPATH=. .venv/bin/python bench/daily_data_checks.py [DATASETS]

Builds the demo (DATASETS datasets, default 300; a tenth of them spatial) in a temporary home, then runs
server.data_checks.run_daily_data_checks twice, with the platform's sandbox, and prints each run's counts and
seconds: datasets, files checked, unchanged, failed, findings per check, datasets published again.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(datasets: int) -> None:
    from config import load_settings
    from server import catalogue
    from server.data_checks import run_daily_data_checks
    from server.platform import Platform

    home = Path(tempfile.mkdtemp(prefix="wodp-bench-daily-"))
    settings = load_settings({}, overrides={"csw": {"enabled": False},
                                            "demo": {"datasets": datasets, "spatial": max(1, datasets // 10)}},
                             home=home)
    platform = Platform.open(settings, start_workers=True)
    try:
        started = time.perf_counter()
        catalogue.load_demo(platform)
        print(f"demo of {platform.store.count_datasets()} datasets built in {time.perf_counter() - started:.1f} s")
        for day in ("first day", "next day"):
            started = time.perf_counter()
            out = run_daily_data_checks(platform)
            print(f"{day}: {time.perf_counter() - started:.1f} s; datasets {out['datasets']}, checked "
                  f"{out['checked']}, unchanged {out['unchanged']}, failed {out['failed']}, republished "
                  f"{out['republished']}, held {out['held']}; findings {out['findings']}; "
                  f"work orders {out['work_orders']}")
            for why in out["failed_files"][:5]:
                print(f"  not read: {why}")
    finally:
        platform.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
