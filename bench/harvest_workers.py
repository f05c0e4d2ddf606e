"""Benchmark harvest throughput with 1 and with 2 queue workers on the scaled-out configuration.

Run: PYTHONPATH=. python bench/harvest_workers.py [--sources 4] [--datasets 500] [--workers 1 2 1 2]
Each round starts from nothing: a fresh PostgreSQL database (the queue, CSW's repository), a fresh Oxigraph
server, a fresh WODP_HOME; ``--sources`` local CKAN sources of ``--datasets`` each are deferred to the queue,
then ``--workers`` `wodp worker` processes take them. The clock runs from the workers' start to the last job's
end (each worker's own start-up included: a platform, the queue). Prints datasets/s per round and the ratio,
each round's per-step times summed over its jobs (the jobs' ``steps_s``, core/timings.py) in ms per dataset, and
how long each worker held the store's and the indexes' turns and waited for them (sparql/shared.py, from the
workers' logs), and the CPU seconds of the workers (with their children: sandbox, CSW indexer), of the Oxigraph
server and of PostgreSQL during the round. ``--workers 1 2 1 2`` alternates rounds (the ratio is of the means).
The shared database is migrated (`wodp db upgrade`) before the clock starts, as a deployment does.

For a long run (1.6 million datasets: ``--sources 2 --datasets 800000 --workers 2 --page-size 1000
--progress 300``), ``--progress S`` prints a line every S seconds (datasets indexed for search so far, the rate,
memory, disk, load), and each round ends with the peak memory of each worker (with its children) and of the
Oxigraph server, the disk each part takes (the Oxigraph server's folder, the PostgreSQL database, the home), the
bytes written (the workers and their children, the Oxigraph server, PostgreSQL's WAL and pages) and what every
door counts at the end (the store, the search index, the CSW repository).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


def _cpu(pid: int | None) -> float:
    """CPU seconds of a process and its descendants, those still running and those it has reaped."""
    import psutil

    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


def _postmaster(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Watch:
    """Sample, every second, the resident memory of some process trees (peak of each tree's sum) and the bytes
    each of their processes has written (children that end between two looks keep their last count)."""

    def __init__(self) -> None:
        import threading

        self.roots: dict[str, int] = {}                  # label → pid
        self.peak: dict[str, int] = {}                   # label → peak RSS of the tree, bytes
        self.now: dict[str, int] = {}
        self.written: dict[int, tuple[str, int]] = {}    # pid → (label, write_bytes at the last look)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def add(self, label: str, pid: int) -> None:
        self.roots[label] = pid

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.look()

    def look(self) -> None:
        import psutil

        for label, pid in list(self.roots.items()):
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            rss = 0
            for proc in procs:
                try:
                    rss += proc.memory_info().rss
                    self.written[proc.pid] = (label, proc.io_counters().write_bytes)
                except psutil.Error:
                    continue
            self.now[label] = rss
            self.peak[label] = max(self.peak.get(label, 0), rss)

    def written_by(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label, written in self.written.values():
            out[label] = out.get(label, 0) + written
        return out

    def stop(self) -> None:
        self._stop.set()
        self.look()


def _count(url: str, sql: str) -> int | None:
    import psycopg

    from harvesters.queue import dsn

    try:
        with psycopg.connect(dsn(url), autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]
    except psycopg.Error:
        return None


def _disk(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def _store_count(engine) -> int | None:
    """The datasets the Oxigraph server holds (a graph per dataset, as the platform writes them)."""
    import json as _json
    import urllib.parse
    import urllib.request

    query = ("SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }")
    request = urllib.request.Request(engine.query_url + "?" + urllib.parse.urlencode({"query": query}),
                                     headers={"Accept": "application/sparql-results+json"})
    try:
        with urllib.request.urlopen(request, timeout=3600) as answer:
            return int(_json.load(answer)["results"]["bindings"][0]["n"]["value"])
    except (OSError, ValueError, KeyError):
        return None


def progress_line(started: float, url: str, watch: "Watch", last: list) -> None:
    """One line of a long round: datasets in the search index, rates, memory, disk, load."""
    n = _count(url, "SELECT COUNT(*) FROM search_docs") or 0
    now = time.monotonic()
    rate_now = (n - last[0]) / max(now - last[1], 1e-9)
    last[:] = [n, now]
    free = shutil.disk_usage(tempfile.gettempdir()).free
    memory = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in watch.now.items())
    print(f"  progress {now - started:7.0f} s  {n:9d} indexed  {rate_now:6.0f}/s now  "
          f"{n / (now - started):6.0f}/s overall  RSS MB now: {memory}  free disk {free / 2**30:.1f} GB  "
          f"load {os.getloadavg()[0]:.1f}", flush=True)


def one_round(dsn: str, workers: int, sources: int, datasets: int, csw: bool, pg_data: Path,
              page_size: int = 100, progress_s: float = 0.0) -> dict:
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
    pages = max(1000, -(-datasets // page_size) + 1)  # harvest.max_pages (1,000) would end a large source early
    config.write_text(yaml.safe_dump({
        "harvest": {"sources": configured, "page_size": page_size, "max_pages": pages, "queue": "postgres"},
        "csw": {"enabled": csw},
        # the data API's loads and the daily data checks fetch each published file in the background (the
        # files.example.org links lead nowhere): off, as in bench/harvest.py and bench/scale.py
        "data_api": {"load_at_publication": False}, "data_checks": {"daily": False}}, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(root / "home"), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT),
               WODP_STORE__URL=engine.query_url, WODP_DATABASE__URL=url, WODP_LOGGING__LEVEL="INFO")
    upgrade = subprocess.run([sys.executable, "-m", "server.cli", "db", "upgrade"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    if upgrade.returncode != 0:
        raise SystemExit(f"wodp db upgrade failed: {upgrade.stderr[-2000:]}")
    queue = HarvestQueue(SimpleNamespace(database=SimpleNamespace(url=url)))
    procs, turns = [], []
    watch = Watch()
    watch.add("oxigraph", engine.proc.pid)
    try:
        for s in configured:
            queue.defer(s["name"])
        pg_cpu = _cpu(_postmaster(pg_data))
        engine_cpu = _cpu(engine.proc.pid)
        from bench.scale import _written_engines

        written_before = _written_engines(engine, SimpleNamespace(dsn=dsn))
        started = time.monotonic()
        logs = [open(root / f"worker-{i}.log", "wb") for i in range(workers)]
        procs = [subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True) for log in logs]
        for i, p in enumerate(procs):
            watch.add(f"worker {i + 1}", p.pid)
        last_line, last = time.monotonic(), [0, started]
        while True:
            time.sleep(0.5 if datasets * sources < 100_000 else 5.0)
            if progress_s and time.monotonic() - last_line >= progress_s:
                progress_line(started, url, watch, last)
                last_line = time.monotonic()
            done = [j for j in _jobs(env) if j.status == "succeeded"]
            if len(done) == sources:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker ended early: " + (root / "worker-0.log").read_text(errors="replace")[-3000:])
        wall = time.monotonic() - started
        total = sources * datasets
        watch.stop()
        written_after = _written_engines(engine, SimpleNamespace(dsn=dsn))
        by_worker = {k: v for k, v in watch.written_by().items() if k != "oxigraph"}
        written = {"workers and their children": sum(by_worker.values()),
                   "PostgreSQL WAL": written_after["PostgreSQL WAL"] - written_before["PostgreSQL WAL"],
                   "PostgreSQL pages": written_after["PostgreSQL pages"] - written_before["PostgreSQL pages"],
                   "Oxigraph server": written_after["Oxigraph server"] - written_before["Oxigraph server"]}
        database = url.rsplit("/", 1)[-1]
        disk = {"Oxigraph server": _disk(root / "oxigraph"),
                "PostgreSQL database": _count(url, f"SELECT pg_database_size('{database}')") or 0,
                "home": _disk(root / "home")}
        counts = {"store": _store_count(engine), "search": _count(url, "SELECT COUNT(*) FROM search_docs"),
                  "csw": _count(url, "SELECT COUNT(*) FROM csw_records") if csw else None}
        cpu = {"workers": sum(_cpu(p.pid) for p in procs), "oxigraph": _cpu(engine.proc.pid) - engine_cpu,
               "postgresql": _cpu(_postmaster(pg_data)) - pg_cpu}
        steps: dict[str, float] = {}
        for job in done:
            for name, seconds in (job.figures.get("steps_s") or {}).items():
                steps[name] = steps.get(name, 0.0) + seconds
        return {"workers": workers, "datasets": total, "wall_s": round(wall, 1),
                "first_job_to_last_s": round(max(j.finished for j in done) - min(j.started for j in done), 1),
                "datasets_per_s": round(total / wall, 1),
                "jobs": [(j.source, j.finished - j.started, j.pid) for j in sorted(done, key=lambda j: j.id)],
                "steps_ms_per_dataset": {k: round(1000 * v / total, 3)
                                         for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
                "turns": turns,
                "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
                "cpu_ms_per_dataset": {k: round(1000 * v / total, 2) for k, v in cpu.items()},
                "peak_rss_mb": {k: round(v / 2**20) for k, v in watch.peak.items()},
                "disk_mb": {k: round(v / 2**20) for k, v in disk.items()},
                "written_kb_per_dataset": {k: round(v / 1024 / total, 1) for k, v in written.items()},
                "counts": counts}
    finally:
        watch.stop()
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
                    turns.append(line.split(": ", 1)[-1])
        for f in fakes:
            f.close()
        shutil.rmtree(root, ignore_errors=True)  # (each round's home and engine: ~250 MB at 4 × 1,000 datasets)


def _jobs(env: dict) -> list:
    """The harvest jobs of the round, read through the job store (on database.url)."""
    from config import load_settings
    from core.database import open_part
    from harvesters.jobs import JobStore

    settings = load_settings({k: v for k, v in env.items() if k.startswith("WODP_")})
    jobs = JobStore(open_part(settings.database, "harvest", settings.path(settings.harvest.db_path)))
    try:
        return jobs.jobs(None, limit=1000)
    finally:
        jobs.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--without-csw", action="store_true")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--progress", type=float, default=0.0, metavar="S",
                        help="print the indexed count, rate, memory and disk every S seconds of a round")
    args = parser.parse_args()
    from tests.pg import start_cluster

    cluster, _ = start_cluster()
    try:
        rounds = [one_round(cluster.dsn, n, args.sources, args.datasets, not args.without_csw, cluster.data,
                            args.page_size, args.progress) for n in args.workers]
    finally:
        cluster.stop()
    for r in rounds:
        print(json.dumps({k: v for k, v in r.items() if k not in ("jobs", "steps_ms_per_dataset", "turns",
                                                                  "cpu_ms_per_dataset")}, ensure_ascii=False))
        print(f"    CPU ms per dataset: {r['cpu_ms_per_dataset']}")
        for source, seconds, pid in r["jobs"]:
            print(f"    {source}: {seconds:.1f} s in worker {pid}")
        for line in r["turns"]:
            print(f"    {line}")
        print("    steps, ms per dataset (summed over the jobs): " + ", ".join(
            f"{name} {ms:.2f}" for name, ms in r["steps_ms_per_dataset"].items()))
    if len(rounds) > 1:
        for n in sorted({r["workers"] for r in rounds}):
            rates = [r["datasets_per_s"] for r in rounds if r["workers"] == n]
            print(f"{n} workers: {', '.join(f'{x:.1f}' for x in rates)} datasets/s (mean {sum(rates) / len(rates):.1f})")
        fewest, most = min(r["workers"] for r in rounds), max(r["workers"] for r in rounds)
        one = [r["datasets_per_s"] for r in rounds if r["workers"] == fewest]
        last = [r["datasets_per_s"] for r in rounds if r["workers"] == most]
        print(f"throughput {most} workers / {fewest}: {(sum(last) / len(last)) / (sum(one) / len(one)):.2f}x (means)")


if __name__ == "__main__":
    main()
