"""Benchmark an end-to-end harvest of a local CKAN-style source: first harvest and a no-change re-harvest.

Run: PYTHONPATH=. python bench/harvest.py [--datasets 10000] [--etags]
The clock stops when every derived index reports the store's count: the search index, and the CSW index as
pycsw itself answers it (GetRecords resultType=hits through the running pycsw process).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package  # noqa: E402


CSW_HITS = ("service=CSW&version=2.0.2&request=GetRecords&typenames=csw:Record&elementsetname=brief"
            "&resultType=hits")


def csw_hits(platform) -> int:
    """Ask pycsw (the real process behind /csw) how many records it has."""
    import re

    answer = platform.csw.forward("GET", CSW_HITS, b"", {})
    return int(re.search(rb'numberOfRecordsMatched="(\d+)"', answer.body).group(1))


def caught_up(platform) -> bool:
    """Every derived index reports the store's dataset count."""
    expected = platform.store.count_datasets()
    return platform.search.count() == expected and (platform.csw is None or csw_hits(platform) == expected)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--etags", action="store_true", help="let the source answer 304 to conditional requests")
    parser.add_argument("--profile", action="store_true", help="print where the first harvest spends its time")
    parser.add_argument("--without-csw", action="store_true", help="leave the CSW index out (to see its cost)")
    args = parser.parse_args()
    from config import load_settings
    from harvesters.service import Harvesting
    from server.platform import Platform

    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(args.datasets)])
    if not args.etags:
        source.faults = {}
        orig = source._answer

        def no_etags(h):
            h.headers.replace_header("If-None-Match", "") if "If-None-Match" in h.headers else None
            return orig(h)
        source._answer = no_etags
    home = Path(tempfile.mkdtemp(prefix="wodp-bench-harvest-"))
    settings = load_settings({}, overrides={"harvest": {"page_size": args.page_size, "sources": [
        {"name": "bench", "kind": "ckan", "url": source.url}]}, "csw": {"enabled": not args.without_csw}},
        home=home)
    platform = Platform.open(settings, start_workers=False)
    harvesting: Harvesting = platform.harvesting
    if platform.csw is not None:
        csw_hits(platform)  # start pycsw before the clock (a server has it running)
    for label in ("first harvest", "no-change re-harvest"):
        profiler = cProfile.Profile() if args.profile and label == "first harvest" else None
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        report = harvesting.run("bench")
        while not caught_up(platform):
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        print(f"{label:<22} {elapsed:8.2f} s  {args.datasets / elapsed:8.0f} datasets/s  "
              f"new {report['new']} updated {report['updated']} unchanged {report['unchanged']} "
              f"failed {report['failed']} 304s {report['conditional_hits']}  store {platform.store.count_datasets()}"
              f"  search {platform.search.count()}  csw {csw_hits(platform) if platform.csw else '-'}", flush=True)
    platform.close()
    source.close()


if __name__ == "__main__":
    main()
