"""Mixed load on the demo at concurrency 8: one process against several, side by side (issue 10).

    .venv/bin/python bench/mixed_load.py                      # build a demo home, then processes 1 and 2
    .venv/bin/python bench/mixed_load.py --home /tmp/demo --processes 1,2,3 --seconds 30

The demo home is built once (`wodp demo` on a temporary home, stopped when its first harvests are done; with
``--datasets 3282`` the catalogue holds the 3,306 datasets of the issue's measurement). Then, for each value of
``server.processes``, `wodp serve` runs on that home and ``--clients`` threads send requests for ``--seconds``
(keep-alive HTTP/1.1; each request picks one of the routes below at random, each route picks random ids, pages
and collections). Every non-2xx answer and every failed connection counts as an error. Printed: per route the
count, errors, p50 and p95 in ms, then the total rate, and the ratio of each run's rate to the first run's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["交通", "教育", "医疗", "旅游", "环境", "公交", "学校", "人口", "企业", "水务", "统计", "公园", "data", "地铁"]
LOOKUP = ("SELECT ?t WHERE { <%s> <http://purl.org/dc/terms/title> ?t }")
CSW = ("service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&resultType=results"
       "&elementSetName=brief&maxRecords=10&startPosition=%d")


def wodp(home: Path, *args: str, processes: int = 1, extra_env: dict | None = None, log=None) -> subprocess.Popen:
    env = dict(os.environ, WODP_HOME=str(home), WODP_SERVER__PROCESSES=str(processes), PYTHONPATH=str(ROOT),
               WODP_LOGGING__LEVEL="WARNING", **(extra_env or {}))
    return subprocess.Popen([str(ROOT / ".venv/bin/wodp"), *args], env=env, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.monotonic() - started


def wait_ready(base: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base} did not answer within {timeout} s")


def build_home(home: Path, datasets: int, port: int) -> None:
    """Build the demo catalogue with its harvested sources into ``home`` (`wodp demo`, stopped once warm)."""
    print(f"building the demo ({datasets} generated datasets + the demo's harvest sources) in {home}", flush=True)
    log = open(home.parent / "demo-build.log", "w")
    proc = wodp(home, "demo", "--port", str(port), extra_env={"WODP_DEMO__DATASETS": str(datasets)}, log=log)
    wait_ready(f"http://127.0.0.1:{port}", timeout=1200)  # the warm-up gate answers 503 until harvests end
    stop(proc)


class Routes:
    """The mix: each route makes a random URL of its kind."""

    def __init__(self, base: str) -> None:
        q = urllib.parse.quote("SELECT ?d WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }")
        with urllib.request.urlopen(f"{base}/sparql?query={q}&format=json", timeout=60) as r:
            self.ids = [b["d"]["value"].rsplit("/", 1)[1] for b in json.load(r)["results"]["bindings"]]
        with urllib.request.urlopen(f"{base}/ogc/collections?f=json", timeout=60) as r:
            self.collections = [c["id"] for c in json.load(r)["collections"] if c["id"] != "catalog"]
        self.pages = max(1, (len(self.ids) + 99) // 100)

    def make(self, rnd: random.Random) -> tuple[str, str, dict]:
        kind = rnd.choice(["home", "search", "dataset html", "dataset ttl", "catalog", "sparql lookup",
                           "ogc items", "csw getrecords", "records"])
        ds = rnd.choice(self.ids)
        if kind == "home":
            return kind, "/" + rnd.choice(["", "?lang=en"]), {}
        if kind == "search":
            return kind, f"/datasets?q={urllib.parse.quote(rnd.choice(WORDS))}&page={rnd.randint(1, 3)}", {}
        if kind == "dataset html":
            return kind, f"/datasets/{ds}", {"Accept": "text/html"}
        if kind == "dataset ttl":
            return kind, f"/datasets/{ds}.ttl", {}
        if kind == "catalog":
            return kind, f"/catalog.ttl?page={rnd.randint(1, self.pages)}", {}
        if kind == "sparql lookup":
            query = LOOKUP % f"{self.base_uri}/datasets/{ds}"
            return kind, f"/sparql?query={urllib.parse.quote(query)}", {"Accept": "application/sparql-results+json"}
        if kind == "ogc items":
            return kind, f"/ogc/collections/{rnd.choice(self.collections)}/items?f=json&limit=10", {}
        if kind == "csw getrecords":
            return kind, "/csw?" + CSW % rnd.randint(1, max(1, len(self.ids) - 10)), {}
        return kind, f"/ogc/collections/catalog/items?f=json&limit=10&offset={rnd.randint(0, len(self.ids) - 10)}", {}


def load(host: str, port: int, routes: Routes, clients: int, seconds: float, seed: int,
         distinct: bool = True) -> dict:
    results: dict[str, list[float]] = {}
    errors: dict[str, list[str]] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def connect(n: int) -> http.client.HTTPConnection:
        # each client is a user of its own: its own loopback address (all of 127/8 reaches the server on Linux),
        # so per-client limits (rate limits, the SPARQL share) treat them as 8 users, not one
        source = (f"127.0.0.{10 + n}", 0) if host.startswith("127.") and distinct else None
        return http.client.HTTPConnection(host, port, timeout=60, source_address=source)

    def client(n: int) -> None:
        rnd = random.Random(seed * 100 + n)
        conn = connect(n)
        mine: list[tuple[str, float, str | None]] = []
        while time.monotonic() < stop_at:
            kind, path, headers = routes.make(rnd)
            started = time.perf_counter()
            problem = None
            try:
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                answer.read()
                if answer.status >= 400:
                    problem = f"{answer.status} {path}"
                if answer.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__} {path}"
                conn.close()
                conn = connect(n)
            mine.append((kind, time.perf_counter() - started, problem))
        with lock:
            for kind, elapsed, problem in mine:
                results.setdefault(kind, []).append(elapsed)
                if problem:
                    errors.setdefault(kind, []).append(problem)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    return {"results": results, "errors": errors, "seconds": took,
            "total": sum(len(v) for v in results.values())}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a demo home to use (built when absent or empty)")
    parser.add_argument("--datasets", type=int, default=3282, help="generated demo datasets when building")
    parser.add_argument("--processes", default="1,2", help="values of server.processes to compare")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of the same load before measuring")
    parser.add_argument("--port", type=int, default=18950)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--one-address", action="store_true",
                        help="all clients from 127.0.0.1 (one user to the rate limits and the SPARQL share)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="wodp-bench-")) / "home"
    if not (home / "store").exists():
        home.mkdir(parents=True, exist_ok=True)
        build_home(home, args.datasets, args.port)
    base = f"http://127.0.0.1:{args.port}"
    runs = []
    for n in [int(x) for x in args.processes.split(",")]:
        proc = wodp(home, "serve", "--port", str(args.port), processes=n)
        try:
            wait_ready(base)
            routes = Routes(base)
            routes.base_uri = base
            if args.warmup:
                load("127.0.0.1", args.port, routes, args.clients, args.warmup, args.seed + 1,
                     not args.one_address)
            run = load("127.0.0.1", args.port, routes, args.clients, args.seconds, args.seed, not args.one_address)
        finally:
            stopped = stop(proc)
        run.update(processes=n, datasets=len(routes.ids), stop_s=stopped)
        runs.append(run)
        report(run)
    first = runs[0]["total"] / runs[0]["seconds"]
    print("\nprocesses  req/s   ratio to the first   errors   worst route p95 ms   stop s")
    ok = True
    for run in runs:
        rate = run["total"] / run["seconds"]
        worst = max(pct(v, 95) for v in run["results"].values())
        errs = sum(len(v) for v in run["errors"].values())
        print(f"{run['processes']:>9}  {rate:6.1f}  {rate / first:19.2f}   {errs:6d}   {worst:18.0f}   "
              f"{run['stop_s']:5.1f}")
    last = runs[-1]
    rate = last["total"] / last["seconds"]
    ok = (not last["errors"] and rate >= 90 and all(pct(v, 95) < 300 for v in last["results"].values()))
    print(f"targets (0 errors, every p95 < 300 ms, >= 90 req/s) with processes={last['processes']}: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def report(run: dict) -> None:
    print(f"\nprocesses={run['processes']}  datasets={run['datasets']}  {run['seconds']:.1f} s, "
          f"{run['total']} requests, {run['total'] / run['seconds']:.1f} req/s")
    print(f"{'route':<16} {'n':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for kind in sorted(run["results"]):
        values = run["results"][kind]
        print(f"{kind:<16} {len(values):6d} {len(run['errors'].get(kind, [])):6d} {statistics.median(values) * 1000:8.1f}"
              f" {pct(values, 95):8.1f}")
    for kind, problems in run["errors"].items():
        print(f"  {kind}: {problems[:3]}")


if __name__ == "__main__":
    sys.exit(main())
