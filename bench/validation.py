"""Validate the demo catalogue with pySHACL and pyrudof side by side: whole catalogue and per dataset.

Usage:  PYTHONPATH=. python bench/validation.py [--datasets 1700] [--sample 200]

Figures printed for each engine, profile "wuhan" (DCAT-AP 3 + Wuhan profile + GeoDCAT-AP, our shapes):
- whole catalogue: all dataset graphs in one validation (the shapes already parsed);
- incremental: one dataset graph per validation (what the publication gate does), mean and p95 over a sample;
- first call: parsing and harvesting the shapes once per process.
Targets (issue 3): <= 5 ms per dataset incrementally, whole catalogue < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.generator import build_demo_catalog  # noqa: E402
from shapes.validate import ENGINES  # noqa: E402

BASE = "http://127.0.0.1:8000"


def run(engine: str, catalog, sample: int) -> dict[str, float]:
    """Time one engine: first call, whole catalogue, and per-dataset validation of a sample."""
    validator = ENGINES[engine]()
    first = catalog.datasets[0]
    start = time.perf_counter()
    validator.validate(first.triples)
    first_s = time.perf_counter() - start

    triples = [t for d in catalog.datasets for t in d.triples]
    start = time.perf_counter()
    whole = validator.validate(triples)
    whole_s = time.perf_counter() - start

    step = max(1, len(catalog.datasets) // sample)
    times, violations = [], 0
    for d in catalog.datasets[::step][:sample]:
        start = time.perf_counter()
        report = validator.validate(d.triples)
        times.append(time.perf_counter() - start)
        violations += report.count("Violation")
    times.sort()
    return {"first_s": first_s, "whole_s": whole_s, "whole_violations": whole.count("Violation"),
            "whole_warnings": whole.count("Warning"), "per_ds_mean_ms": 1000 * statistics.fmean(times),
            "per_ds_p95_ms": 1000 * times[int(0.95 * (len(times) - 1))], "sampled": len(times),
            "sample_violations": violations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1700)
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    catalog = build_demo_catalog(BASE, count=args.datasets, spatial=min(200, args.datasets // 8))
    triples = sum(len(d.triples) for d in catalog.datasets)
    print(f"demo catalogue: {len(catalog.datasets)} datasets, {triples} triples; profile 'wuhan'")
    rows = {engine: run(engine, catalog, args.sample) for engine in ENGINES}
    print(f"{'engine':10} {'first call s':>12} {'whole s':>8} {'violations':>10} {'warnings':>8} "
          f"{'per ds mean ms':>14} {'per ds p95 ms':>13} {'sample':>6}")
    for engine, r in rows.items():
        print(f"{engine:10} {r['first_s']:12.3f} {r['whole_s']:8.2f} {r['whole_violations']:10d} "
              f"{r['whole_warnings']:8d} {r['per_ds_mean_ms']:14.2f} {r['per_ds_p95_ms']:13.2f} {r['sampled']:6d}")
    for engine, r in rows.items():
        print(f"{engine}: whole catalogue < 5 s: {'met' if r['whole_s'] < 5 else 'missed'}; "
              f"<= 5 ms per dataset: {'met' if r['per_ds_mean_ms'] <= 5 else 'missed'}")


if __name__ == "__main__":
    main()
