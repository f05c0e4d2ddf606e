"""Benchmark harvest throughput with 1 and with 2 queue workers on the scaled-out configuration.

Run: PYTHONPATH=. python bench/harvest_workers.py [--sources 4] [--datasets 500] [--workers 1 2]
Each round starts from nothing: a fresh PostgreSQL database (the queue, CSW's repository), a fresh Oxigraph
server, a fresh WODP_HOME; ``--sources`` local CKAN sources of ``--datasets`` each are deferred to the queue,
then ``--workers`` `wodp worker` processes take them. The clock runs from the workers' start to the last job's
end (each worker's own start-up included: a platform, the queue). Prints datasets/s per round and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package  # noqa: E402


def _tests_package() -> None:
    """Let `tests.pg` and `tests.remote_engines` import as under pytest (tests/ has no __init__.py)."""
    import types

    if "tests" not in sys.modules:
        package = types.ModuleType("tests")
        package.__path__ = [str(ROOT / "tests")]
        sys.modules["tests"] = package


_tests_package()


def one_round(dsn: str, workers: int, sources: int, datasets: int, csw: bool) -> dict:
    import yaml

    from harvesters.queue import HarvestQueue
    from tests.pg import fresh_database_url
    from tests.remote_engines import OxigraphServer

    root = Path(tempfile.mkdtemp(prefix="wodp-bench-workers-"))
    url = fresh_database_url(dsn, "wodp_bench")
    engine = OxigraphServer(root / "oxigraph").start()
    fakes, configured = [], []
    for i in range(sources):
        source = FakeSource()
        FakeCkan(source, [ckan_package(n, f"来源 {i} 数据集 {n}") for n in range(datasets)])
        fakes.append(source)
        configured.append({"name": f"src-{i}", "kind": "ckan", "url": source.url})
    config = root / "wodp.yml"
    config.write_text(yaml.safe_dump({"harvest": {"sources": configured, "page_size": 100, "queue": "postgres"},
                                      "csw": {"enabled": csw}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(root / "home"), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT),
               WODP_STORE__URL=engine.query_url, WODP_DATABASE__URL=url, WODP_LOGGING__LEVEL="INFO")
    queue = HarvestQueue(SimpleNamespace(database=SimpleNamespace(url=url)))
    procs = []
    try:
        for s in configured:
            queue.defer(s["name"])
        started = time.monotonic()
        logs = [open(root / f"worker-{i}.log", "wb") for i in range(workers)]
        procs = [subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True) for log in logs]
        db = root / "home" / "harvest.sqlite"
        while True:
            time.sleep(0.5)
            try:
                with sqlite3.connect(db, timeout=5) as con:
                    done = con.execute("SELECT count(*), min(started), max(finished) FROM jobs "
                                       "WHERE status = 'succeeded'").fetchone()
            except sqlite3.OperationalError:
                continue
            if done[0] == sources:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker ended early")
        wall = time.monotonic() - started
        with sqlite3.connect(db) as con:
            per_job = con.execute("SELECT source, finished - started, pid FROM jobs ORDER BY id").fetchall()
        total = sources * datasets
        return {"workers": workers, "datasets": total, "wall_s": round(wall, 1),
                "first_job_to_last_s": round(done[2] - done[1], 1),
                "datasets_per_s": round(total / wall, 1), "jobs": per_job}
    finally:
        queue.close()
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        engine.stop()
        for i in range(len(procs)):
            for line in (root / f"worker-{i}.log").read_text(errors="replace").splitlines():
                if "held the store" in line:
                    print(f"    {line.split(': ', 1)[-1]}")
        for f in fakes:
            f.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--without-csw", action="store_true")
    args = parser.parse_args()
    from tests.pg import start_cluster

    cluster, _ = start_cluster()
    try:
        rounds = [one_round(cluster.dsn, n, args.sources, args.datasets, not args.without_csw) for n in args.workers]
    finally:
        cluster.stop()
    for r in rounds:
        print(json.dumps({k: v for k, v in r.items() if k != "jobs"}))
        for source, seconds, pid in r["jobs"]:
            print(f"    {source}: {seconds:.1f} s in worker {pid}")
    if len(rounds) > 1:
        print(f"throughput {rounds[-1]['workers']} workers / {rounds[0]['workers']}: "
              f"{rounds[-1]['datasets_per_s'] / rounds[0]['datasets_per_s']:.2f}x")


if __name__ == "__main__":
    main()
