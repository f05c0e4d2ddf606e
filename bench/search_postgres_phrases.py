"""Word searches on PostgreSQL: the phrase counts of before (search_0004), after search_0005, and with one-token
phrases counted by built-ins (server/search_query.py _count_sql), interleaved query by query in one run.

    PYTHONPATH=. .venv/bin/python bench/search_postgres_phrases.py

A throwaway cluster (tests/pg.py), the demo catalogue (1,700 datasets) in its search index, every query of
tests/data/relevance.yml asked 3 times per variant after a warm-up (first page of 20 by relevance, with total and
facets, as /datasets?q= asks). Prints p50 / p95 / max wall ms per variant.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import start_cluster, fresh_database_url
    cluster, _ = start_cluster()
    try:
        url = fresh_database_url(cluster.dsn)
        from demo.generator import build_demo_catalog
        from server.catalogue import vocabulary_triples
        from server.search import SearchIndex
        from server import search_query as sq
        from sparql.store import VOCABULARY_GRAPH, OxigraphStore
        from core.database import open_database
        from sqlalchemy import text
        from core.migrations.versions.search_0005 import BEFORE
        home = Path(tempfile.mkdtemp())
        demo = build_demo_catalog("https://data.wuhan.gov.cn")
        store = OxigraphStore(home / "store")
        store.put_graph(VOCABULARY_GRAPH.value, vocabulary_triples())
        store.put_datasets({ds.uri: list(ds.triples) for ds in demo.datasets})
        db = open_database(url, "search", auto_migrate=True)
        with db.engine.begin() as c:
            c.execute(text(BEFORE.replace("wodp_phrase_count(", "wodp_phrase_count_old(")))
        index = SearchIndex(db)
        index.rebuild(store)
        new = sq._count_sql
        variants = {"A old function": lambda col, k, toks: f"wodp_phrase_count_old(t.{col}, :p{k})",
                    "B new function": lambda col, k, toks: f"wodp_phrase_count(t.{col}, :p{k})",
                    "C built-ins + new function": new}
        queries = yaml.safe_load(open(ROOT / "tests" / "data" / "relevance.yml", encoding="utf-8"))["queries"]
        walls = {v: [] for v in variants}
        for case in queries:
            for v, f in variants.items():
                sq._count_sql = f; index.search(case["q"])
            for _ in range(3):
                for v, f in variants.items():
                    sq._count_sql = f
                    t = time.perf_counter(); index.search(case["q"], page_size=20, lang="zh")
                    walls[v].append((time.perf_counter() - t) * 1000)
        for v, w in walls.items():
            w.sort()
            print(f"{v:28s} p50 {statistics.median(w):6.1f}  p95 {w[int(0.95*len(w))-1]:6.1f}  max {w[-1]:6.1f}  (n={len(w)})")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
