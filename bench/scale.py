"""Benchmark request costs at scale (issue 11): a home of N datasets, one publisher holding most of them.

Run: PYTHONPATH=. python bench/scale.py --datasets 20000 [--home /tmp/h7-home-20k] [--build-only] [--requests 30]
     PYTHONPATH=. python bench/scale.py --datasets 20000 --scaled-out [--processes 1 2] [--keep]
     WODP_STORE__URL=… WODP_DATABASE__URL=… PYTHONPATH=. python bench/scale.py --datasets 20000 --home H
       (measures again a scaled-out home that --keep left running)

The home is built through the platform's own harvest path (a local CKAN source, as bench/harvest.py serves it)
unless ``--home`` already holds that many datasets. 90% of the datasets belong to one organisation; the rest
are spread over 20 others. Then the bench starts ``wodp serve`` on a free port (the real start-up: vocabulary
install, start-up check of every derived index), times start-up to the first answer, measures p50/p95 of each
request over HTTP, times a restart (nothing changed: no index may be rebuilt) and the shutdown after SIGTERM,
and prints a table.

``--scaled-out`` measures the scaled-out configuration instead: a throwaway PostgreSQL + PostGIS cluster
(tests/pg.py: the shared data layer, search, CSW, features, jobs) and an Oxigraph server (tests/remote_engines.py:
the triple store), both started by the bench and removed at its end, so the home is built anew each run;
``--processes N`` serves with N web processes (server.processes).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

TOPICS = ("交通", "教育", "医疗", "环境", "住房", "就业", "旅游", "农业", "气象", "水务")
BASE_URI = "http://scale.bench.example"  # dataset URIs stay the same whatever port serves the home
MAIN_ORG = "武汉市数据局"
OTHER_ORGS = tuple(f"武汉市第{n}委员会" for n in range(1, 21))


def package(n: int) -> dict:
    """A CKAN package mapping to a valid dataset; 90% from one organisation."""
    topic = TOPICS[n % len(TOPICS)]
    org = MAIN_ORG if n % 10 else OTHER_ORGS[(n // 10) % len(OTHER_ORGS)]
    return {
        "id": f"pkg-{n:07d}", "name": f"dataset-{n:07d}", "title": f"武汉市{topic}统计数据 第{n}号",
        "notes": f"{topic}领域的公共数据，编号 {n}。Public data on {topic}, number {n}.",
        "metadata_created": "2021-03-04T00:00:00",
        "metadata_modified": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T00:00:00",
        "organization": {"title": org}, "maintainer": "Data Office", "maintainer_email": "opendata@example.org",
        "license_url": "http://creativecommons.org/licenses/by/4.0/",
        "tags": [{"name": topic}, {"name": f"tag{n % 7}"}],
        "resources": [{"name": "CSV file", "format": "CSV" if n % 3 else "JSON",
                       "url": f"http://files.example.org/{n}.csv", "mimetype": "text/csv"}],
    }


SCALED_OUT: dict[str, str] = {}  # WODP_STORE__URL and WODP_DATABASE__URL when --scaled-out


def _settings(home: Path, port: int, source_url: str | None = None, csw: bool = True):
    from config import load_settings

    sources = [{"name": "scale", "kind": "ckan", "url": source_url or "http://127.0.0.1:9/"}]
    return load_settings(SCALED_OUT, overrides={
        "harvest": {"page_size": 1000, "sources": sources, "scheduler": False},
        "csw": {"enabled": csw},
        # the data API's loads and the daily data checks fetch each published file in the background (the
        # bench's files.example.org links lead nowhere): off, as in bench/harvest.py
        "data_api": {"load_at_publication": False}, "data_checks": {"daily": False},
        "site": {"base_uri": BASE_URI}}, home=home)


def build(home: Path, count: int, port: int) -> None:
    """Harvest ``count`` packages into ``home`` through the harvest path (source served locally)."""
    from harvest_fixtures.fake_sources import FakeCkan, FakeSource
    from server import catalogue
    from server.platform import Platform

    source = FakeSource()
    FakeCkan(source, [package(n) for n in range(count)])
    home.mkdir(parents=True, exist_ok=True)
    settings = _settings(home, port, source.url)
    platform = Platform.open(settings, start_workers=False)
    catalogue.install(platform.store, settings)
    start = time.perf_counter()
    report = platform.harvesting.run("scale")
    elapsed = time.perf_counter() - start
    print(f"built {home}: {platform.store.count_datasets()} datasets in {elapsed:.0f} s "
          f"({count / elapsed:.0f}/s); new {report['new']} failed {report['failed']}", flush=True)
    (home / "bench-scale.json").write_text(json.dumps({"datasets": count, "port": port, "source": source.url}))
    platform.close()
    source.close()


# -- serving ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_file(home: Path, port: int, processes: int = 1) -> Path:
    path = home / "bench-scale.yml"
    path.write_text(f"site:\n  base_uri: {BASE_URI}\nserver:\n  port: {port}\n  processes: {processes}\n"
                    "  cache_bytes: 0\nharvest:\n  scheduler: false\n"  # no answer cache: the work is measured
                    # nor the background work of a first start on a home made before them: the daily check of
                    # every data file and the data API's loads fetch each dataset's file (files.example.org)
                    "data_checks:\n  daily: false\ndata_api:\n  load_at_publication: false\n", "utf-8")
    return path


class Server:
    """`wodp serve` on the home, in its own process."""

    def __init__(self, home: Path, port: int, processes: int = 1) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, WODP_HOME=str(home), WODP_CONFIG=str(_config_file(home, port, processes)),
                   PYTHONPATH=str(ROOT), **SCALED_OUT)
        self.log = open(home / "bench-serve.log", "ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 900) -> float:
        """Return the seconds from launch to the first 200 answer of the home page."""
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wodp serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("wodp serve did not answer in time")

    def stop(self) -> float:
        """Send SIGTERM; return the seconds until the process exited."""
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return float("inf")
        self.log.close()
        return time.perf_counter() - start


def _get(url: str, accept: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
            if b"ExceptionReport" in body[:2000]:  # an OWS error answered 200 (pycsw does): not an answer
                return "200 ER", body
            return r.status, body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def machine_speed() -> float:
    """Seconds a fixed pure-Python loop takes here now: these machines' speed varies 3-5x between hours, so the
    absolute times of a run are read against it (runs are compared as ratios only within one run)."""
    start = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time of a process and its live children (SPARQL workers, pycsw, sandbox workers)."""
    total = cpu_seconds(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for kid in child.read_text().split():
            try:
                total += tree_cpu_seconds(int(kid))
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    return total


ENGINE_PIDS: list[int] = []  # the scaled-out configuration's engines (Oxigraph server, PostgreSQL's postmaster)


def settle(pid: int, limit_s: float = 120.0) -> float:
    """Wait until the server and its children use under a tenth of a core over one second (the start's
    background work — query workers, pycsw, warm-ups — done), and so do the engines of the scaled-out
    configuration with theirs (RocksDB's compactions and PostgreSQL's autovacuum after a build), at most
    limit_s; return the seconds waited."""
    started = time.perf_counter()
    pids = [pid, *ENGINE_PIDS]
    while time.perf_counter() - started < limit_s:
        before = [tree_cpu_seconds(p) for p in pids]
        time.sleep(1.0)
        if all(tree_cpu_seconds(p) - b < 0.1 for p, b in zip(pids, before)):
            break
    return time.perf_counter() - started


def measure(url: str, times: int, accept: str | None = None, pid: int | None = None) -> tuple:
    """Return the first request's time, p50 and p95 of the next ``times`` in ms, the status, and the server's mean
    CPU ms per request (what a busy machine does not inflate: the requests are sent one at a time)."""
    start = time.perf_counter()
    status, body = _get(url, accept)
    first = (time.perf_counter() - start) * 1000
    cpu = cpu_seconds(pid) if pid else 0.0
    samples, failed = [], [] if status == 200 else [(status, body)]
    for _ in range(times):
        start = time.perf_counter()
        status, body = _get(url, accept)
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200 and not failed:
            failed.append((status, body))
    samples.sort()
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    cpu = (cpu_seconds(pid) - cpu) * 1000 / times if pid else float("nan")
    return first, statistics.median(samples), p95, failed[0] if failed else status, cpu


def requests_to_measure(base: str, count: int) -> list[tuple[str, str, str | None, float]]:
    """(label, url, Accept, target p95 ms) for each request of the acceptance."""
    pages = max(1, -(-count // 100))
    main = "pkg-0000001"
    other = "pkg-0000010"
    turtle = "text/turtle"
    # pycsw's CQL takes a qualified name and a lower-case operator: "AnyText LIKE …" is answered 200 with an
    # ExceptionReport ("Invalid Filter syntax"), which this bench once timed as a search
    csw = ("/csw?service=CSW&version=2.0.2&request=GetRecords&typenames=csw:Record&elementsetname=brief"
           "&resultType=results&maxRecords=10&constraintlanguage=CQL_TEXT&constraint_language_version=1.1.0"
           "&constraint=" + urllib.request.quote("csw:AnyText like '%交通%'"))
    return [
        ("home", "/", None, 100), ("search common word (数据)", "/datasets?q=数据", None, 100),
        ("search word (交通)", "/datasets?q=交通", None, 100),
        ("facet format=CSV", "/datasets?format=CSV", None, 100),
        ("search JSON", "/datasets?q=数据&format=json", None, 100),
        ("/catalog first", "/catalog", turtle, 200),
        ("/catalog middle", f"/catalog?page={max(1, pages // 2)}", turtle, 200),
        ("/catalog last", f"/catalog?page={pages}", turtle, 200),
        ("/catalog modified_since", "/catalog?modified_since=2024-06-01", turtle, 200),
        ("dataset page (big publisher)", f"/datasets/{_dataset_id(main)}", None, 50),
        ("dataset page (small publisher)", f"/datasets/{_dataset_id(other)}", None, 50),
        ("dataset Turtle", f"/datasets/{_dataset_id(main)}.ttl", None, 50),
        ("CSW GetRecords 10, text filter", csw, None, 100),
        ("Records q (交通)", "/ogc/collections/catalog/items?q=交通&limit=10&f=json", None, 100),
        ("SPARQL COUNT by theme", "/sparql?query=" + urllib.request.quote(
            "SELECT ?t (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> ; "
            "<http://www.w3.org/ns/dcat#theme> ?t } GROUP BY ?t"), "application/sparql-results+json", None),
    ]


def _dataset_id(key: str) -> str:
    from core.identifiers import dataset_id

    return dataset_id("scale", key)


def _generation(home: Path) -> int | None:
    if SCALED_OUT:
        return _shared_value("SELECT generation FROM store_state WHERE id = 1")
    from sparql.store import read_generation

    found = read_generation(home / "store")
    return None if found is None else found[0]


def _search_generation(home: Path) -> str | None:
    if SCALED_OUT:
        return _shared_value("SELECT value FROM search_meta WHERE key = 'generation'")
    import sqlite3

    with sqlite3.connect(home / "search.sqlite") as db:
        row = db.execute("SELECT value FROM search_meta WHERE key = 'generation'").fetchone()
    return row[0] if row else None


def _shared_value(sql: str):
    import psycopg

    with psycopg.connect(SCALED_OUT["WODP_DATABASE__URL"]) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def run(home: Path, count: int, times: int, processes: int = 1) -> None:
    port = _free_port()
    rows = []
    before = (_generation(home), _search_generation(home))
    server = Server(home, port, processes)
    first_start = server.wait_ready()
    first_cpu = cpu_seconds(server.proc.pid)
    settled = settle(server.proc.pid, 900.0 if ENGINE_PIDS else 120.0)  # steady state: not the start's work
    after = (_generation(home), _search_generation(home))
    for label, path, accept, target in requests_to_measure(server.url, count):
        first, p50, p95, status, cpu = measure(server.url + urllib.request.quote(path, safe="/?=&%:"), times, accept,
                                               server.proc.pid)
        rows.append((label, first, p50, p95, status, target, cpu))
    shutdown = server.stop()
    server = Server(home, port, processes)
    second_start = server.wait_ready()
    second_cpu = cpu_seconds(server.proc.pid)
    again = (_generation(home), _search_generation(home))
    shutdown2 = server.stop()
    load = os.getloadavg()[0]
    speed = machine_speed()
    where = (f"scaled out: PostgreSQL + Oxigraph server, {processes} web process(es)" if SCALED_OUT
             else f"embedded, {processes} web process(es)")
    print(f"\n{count} datasets in {home}, {where} ({times} requests each after a first; ms; machine load {load:.1f} "
          f"on {os.cpu_count()} cores; CPU/req: the web process's CPU time per request)")
    print(f"| {'request':<32} | {'first':>9} | {'p50':>9} | {'p95':>9} | {'CPU/req':>8} | status | target p95 |")
    print(f"|{'-' * 34}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 10}|--------|------------|")
    failures = []
    for label, first, p50, p95, status, target, cpu in rows:
        if isinstance(status, tuple):  # an answer other than 200: the request failed, whatever its time
            failures.append((label, *status))
            status, mark = status[0], " FAILED"
        else:
            mark = "" if target is None else (" ok" if p95 < target else " OVER")
        print(f"| {label:<32} | {first:9.1f} | {p50:9.1f} | {p95:9.1f} | {cpu:8.1f} | {status:>6} |"
              f" {str(target or '-') + mark:>10} |")
    for label, status, body in failures:
        print(f"FAILED {label}: {status} {body[:400].decode('utf-8', 'replace')!r}")
    print(f"{'start-up to first answer':<34} {first_start:9.2f} s  (restart {second_start:.2f} s; target < 10 s); "
          f"server CPU until then {first_cpu:.1f} s (restart {second_cpu:.1f} s)")
    print(f"{'shutdown after SIGTERM':<34} {shutdown:9.2f} s  (again {shutdown2:.2f} s; target < 5 s)")
    print(f"{'settled before the requests':<34} {settled:9.2f} s  (the server and its children"
          f"{', and the engines,' if ENGINE_PIDS else ''} under 0.1 core)")
    print(f"store generation / search generation: before {before}, after start {after}, after restart {again}")
    print(f"{'machine speed':<34} {speed:9.2f} s  (a 5,000,000-step Python loop, after the requests)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=20_000)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--scaled-out", action="store_true",
                        help="PostgreSQL + Oxigraph server, started by the bench (the home is built anew)")
    parser.add_argument("--written", action="store_true",
                        help="--scaled-out: the bytes the build wrote a dataset (harvest, engine, PostgreSQL)")
    parser.add_argument("--keep", action="store_true",
                        help="--scaled-out: leave the PostgreSQL cluster, the Oxigraph server and the home running")
    parser.add_argument("--processes", type=int, nargs="+", default=[1],
                        help="server.processes (web processes); several values measure each in turn on one home")
    args = parser.parse_args()
    if args.scaled_out:
        scaled_out(args)
        return
    if args.home and os.environ.get("WODP_STORE__URL") and os.environ.get("WODP_DATABASE__URL"):  # a kept one
        SCALED_OUT.update({k: os.environ[k] for k in ("WODP_STORE__URL", "WODP_DATABASE__URL")})
    home = args.home or Path(f"/tmp/wodp-bench-scale-{args.datasets}")
    marker = home / "bench-scale.json"
    if not marker.exists() or json.loads(marker.read_text())["datasets"] != args.datasets:
        build(home, args.datasets, 8000)
    if not args.build_only:
        for processes in args.processes:
            run(home, args.datasets, args.requests, processes)


def _written_engines(engine, cluster) -> dict[str, int]:
    """Bytes the engines have written so far: the Oxigraph server (/proc/PID/io) and PostgreSQL (its WAL, and
    the pages its checkpoints and writers wrote: a CHECKPOINT first, so that what the build dirtied is counted).
    The harvesting process and its children are counted by bench/harvest.py's Meter (children that end between
    two looks included)."""
    import psutil
    import psycopg

    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        wal = conn.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()[0]
        pages = conn.execute("SELECT buffers_checkpoint + buffers_clean + buffers_backend "
                             "FROM pg_stat_bgwriter").fetchone()[0]
    return {"Oxigraph server": psutil.Process(engine.proc.pid).io_counters().write_bytes,
            "PostgreSQL WAL": int(wal), "PostgreSQL pages": int(pages) * 8192}


def scaled_out(args) -> None:
    """Build and measure a home on a throwaway PostgreSQL cluster and Oxigraph server."""
    import shutil
    import tempfile

    sys.path.insert(0, str(ROOT))
    from bench.harvest_workers import _tests_package

    _tests_package()
    from tests.pg import fresh_database_url, start_cluster
    from tests.remote_engines import OxigraphServer

    root = Path(tempfile.mkdtemp(prefix="wodp-bench-scale-out-"))
    cluster, _ = start_cluster()
    engine = OxigraphServer(root / "oxigraph").start()
    try:
        SCALED_OUT.update(WODP_STORE__URL=engine.query_url,
                          WODP_DATABASE__URL=fresh_database_url(cluster.dsn, "wodp_scale"),
                          WODP_DATABASE__AUTO_MIGRATE="true")
        home = root / "home"
        if args.written:
            from bench.harvest import Meter

            meter = Meter({engine.proc.pid})
            mark, before = meter.mark(), _written_engines(engine, cluster)
        build(home, args.datasets, 8000)
        ENGINE_PIDS[:] = [engine.proc.pid, int((cluster.data / "postmaster.pid").read_text().split()[0])]
        if args.written:
            after = _written_engines(engine, cluster)
            parts = {"harvesting process and children": sum(meter.since(mark).values()),
                     **{k: after[k] - before[k] for k in after}}
            print(f"written while building, KB a dataset: " + ", ".join(
                f"{k} {v / 1024 / args.datasets:.1f}" for k, v in parts.items()) +
                f"; in all {sum(parts.values()) / 1024 / args.datasets:.1f} (this cluster runs with "
                "full_page_writes off: a production PostgreSQL writes more WAL)", flush=True)
        if not args.build_only:
            for processes in args.processes:
                run(home, args.datasets, args.requests, processes)
    finally:
        if args.keep:  # the engines run on, for a look at the home: say how to use them and stop them
            import atexit

            atexit.unregister(cluster.stop)  # (tests/pg.py stops its clusters at exit)
            print(f"kept: WODP_HOME={root / 'home'} " + " ".join(f"{k}={v}" for k, v in SCALED_OUT.items()) +
                  f"\nstop: kill {engine.proc.pid}; pg_ctl -D {cluster.data} stop; rm -rf {root}", flush=True)
        else:
            engine.stop()
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
