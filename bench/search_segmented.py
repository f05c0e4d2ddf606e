"""Benchmark the portal search with Chinese word segmentation (jieba) and synonyms (issue 13, point 8).

Run: PYTHONPATH=. python bench/search_segmented.py [--copies 1] [--rounds 5] [--postgres URL]

Builds the 1,700-dataset demo catalogue (demo/generator.py, deterministic) in a store and its search index, in
this process (SQLite, the embedded default; or PostgreSQL with --postgres), then asks every query of the relevance
set (tests/data/relevance.yml: 74 queries, Chinese and English) ``--rounds`` times, first page of 20 by
relevance, as the portal's /datasets asks it (SearchIndex.search: total, facets and hits in one snapshot), and
prints p50/p95 of wall and CPU time per search. ``--copies N`` indexes the demo's datasets N times (N × 1,700;
59 ≈ 100,000) through the index's own rebuild, to see the same searches on a catalogue of that size.
Also times: jieba's start (its dictionary and ours) and the index's rebuild (the one-time reindex a changed
token scheme makes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="index the demo's datasets this many times")
    parser.add_argument("--rounds", type=int, default=5, help="times each query is asked (after one warm-up)")
    parser.add_argument("--postgres", default=None, help="database.url of a PostgreSQL schema (default SQLite)")
    args = parser.parse_args()

    import server.search as search_module
    from demo.generator import build_demo_catalog
    from server import search_tokens
    from server.catalogue import vocabulary_triples
    from server.search import SearchIndex
    from sparql.store import VOCABULARY_GRAPH, OxigraphStore

    home = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        started = time.process_time()
        words = search_tokens.dictionary_words()
        made = time.process_time()
        search_tokens.Segmenter(words)
        print(f"jieba start, CPU: our dictionary ({len(words)} words) {made - started:.2f} s, jieba's and ours "
              f"{time.process_time() - made:.2f} s")

        demo = build_demo_catalog("https://data.wuhan.gov.cn")
        store = OxigraphStore(home / "store")
        store.put_graph(VOCABULARY_GRAPH.value, vocabulary_triples())
        store.put_datasets({ds.uri: list(ds.triples) for ds in demo.datasets})
        if args.postgres:
            from core.database import open_database

            index = SearchIndex(open_database(args.postgres, "search", auto_migrate=True))
        else:
            index = SearchIndex(home / "search.sqlite")
        if args.copies > 1:  # the demo's documents N times over, each copy its own URIs
            docs = search_module.read_datasets(store)
            real = search_module.read_datasets

            def copies(_store, uris=None):
                out = []
                for k in range(args.copies):
                    for d in docs:
                        out.append({**d, "uri": f"{d['uri']}-{k}", "id": f"{d['id']}-{k}"})
                return out

            search_module.read_datasets = copies
        cpu, started = time.process_time(), time.monotonic()
        index.rebuild(store)
        if args.copies > 1:
            search_module.read_datasets = real
        print(f"rebuild of {index.count():,} datasets: {time.monotonic() - started:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU ({'PostgreSQL' if args.postgres else 'SQLite'})")

        queries = yaml.safe_load((ROOT / "tests" / "data" / "relevance.yml").read_text(encoding="utf-8"))["queries"]
        walls: list[float] = []
        cpus: list[float] = []
        slowest: list[tuple[float, str, int]] = []
        for case in queries:
            index.search(case["q"])  # warm-up
            for _ in range(args.rounds):
                cpu, started = time.process_time(), time.perf_counter()
                result = index.search(case["q"], page_size=20, lang="zh")
                walls.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
            slowest.append((statistics.median(walls[-args.rounds:]), case["q"], result.total))
        load = os.getloadavg()[0]
        print(f"{len(queries)} queries × {args.rounds}, {index.count():,} datasets, load average {load:.1f} "
              f"on {os.cpu_count()} cores")
        print(f"  wall ms: p50 {statistics.median(walls):.1f}  p95 {_pct(walls, 0.95):.1f}  max {max(walls):.1f}")
        print(f"  CPU ms:  p50 {statistics.median(cpus):.1f}  p95 {_pct(cpus, 0.95):.1f}  max {max(cpus):.1f}")
        print("  slowest (median wall ms, query, matches):",
              ", ".join(f"{q} {ms:.0f} ({n:,})" for ms, q, n in sorted(slowest, reverse=True)[:5]))
        index.close()
        store.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
