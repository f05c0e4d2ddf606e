"""Compare our /sparql with Oxigraph's own server on the same catalogue, side by side in one run.

Usage:  .venv/bin/python bench/sparql_vs_oxigraph.py [--seconds 5] [--clients 4] [--processes 2]

Builds the demo catalogue into bench/out/home, exports it as N-Quads, loads it into `oxigraph`
(the PyPI package of the same version as pyoxigraph) and serves it with --union-default-graph;
then, for each query of the mix, alternates rounds against both servers and prints our throughput
as a ratio of theirs and the latency percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparql.saved import bind, saved_queries  # noqa: E402

OUT = ROOT / "bench" / "out"
OURS_PORT, THEIRS_PORT = 18000, 18001


def wait_for(url: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=2)
            conn.request("GET", urlsplit(url).path + "?" + urlsplit(url).query)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def start_servers(env: dict[str, str]) -> tuple[subprocess.Popen, subprocess.Popen]:
    home = OUT / "home"
    shutil.rmtree(OUT, ignore_errors=True)
    home.mkdir(parents=True)
    wodp = [sys.executable, "-m", "server.cli"]
    subprocess.run(wodp + ["demo", "--build-only"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(wodp + ["export", "-o", str(OUT / "catalog.nq")], env=env, cwd=ROOT, check=True)
    oxigraph = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or "oxigraph"
    subprocess.run([oxigraph, "load", "--location", str(OUT / "oxigraph"), "--file", str(OUT / "catalog.nq")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours = subprocess.Popen(wodp + ["serve", "--port", str(OURS_PORT)], env=env, cwd=ROOT,
                            stdout=open(OUT / "ours.log", "wb"), stderr=subprocess.STDOUT)
    theirs = subprocess.Popen([oxigraph, "serve-read-only", "--location", str(OUT / "oxigraph"),
                               "--bind", f"127.0.0.1:{THEIRS_PORT}", "--union-default-graph"],
                              stdout=open(OUT / "theirs.log", "wb"), stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{OURS_PORT}/catalog.ttl?page_size=1")
    wait_for(f"http://127.0.0.1:{THEIRS_PORT}/query?query=ASK%7B%7D")
    return ours, theirs


def run_round(base: str, path: str, query: str | list[str], seconds: float, clients: int) -> list[float]:
    """Send the query (or cycle through the queries) from `clients` keep-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    bodies = [urlencode({"query": q}) for q in ([query] if isinstance(query, str) else query)]
    headers = {"Accept": "application/sparql-results+json", "Content-Type": "application/x-www-form-urlencoded"}

    def client():
        conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
        mine = []
        n = 0
        while time.monotonic() < stop:
            body = bodies[n % len(bodies)]
            n += 1
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise SystemExit(f"{base}{path}: {response.status} {data[:200]!r}")
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per query and server")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1, help="server.processes of ours (web processes)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(OUT / "home"), WODP_SITE__BASE_URI=f"http://127.0.0.1:{OURS_PORT}",
               PYTHONPATH=str(ROOT), WODP_LOGGING__LEVEL="WARNING", WODP_SERVER__PROCESSES=str(args.processes),
               WODP_RATE_LIMITS__ENABLED="false",  # one client address sends thousands of queries a minute
               # the demo's first start checks every data file (~90 s of CPU) and loads every table for the data
               # API, in the background: measured, they share the cores with the queries (not what is compared)
               WODP_DATA_CHECKS__DAILY="false", WODP_DATA_API__LOAD_AT_PUBLICATION="false")
    ours, theirs = start_servers(env)
    try:
        base = f"http://127.0.0.1:{OURS_PORT}"
        dataset = f"<{base}/datasets/demo.D004-00003>"
        queries = saved_queries()
        mix = {
            "dataset-description": bind(queries["dataset-description"], dataset=dataset),
            "department-newest": bind(queries["department-newest"],
                                      department="<https://data.wuhan.gov.cn/def/department/D004>"),
            "theme-counts": queries["theme-counts"],
            "keyword": bind(queries["keyword"], keyword='"交通"@zh-CN'),
        }
        rows = []
        mix["mix (all four in turn)"] = list(mix.values())
        plan = [(name, query, args.clients) for name, query in mix.items()]
        plan.append(("dataset-description", mix["dataset-description"], 1))
        for name, query, clients in plan:
            name = f"{name} x{clients}"
            lat = {"ours": [], "oxigraph": []}
            secs = {"ours": 0.0, "oxigraph": 0.0}
            for _ in range(args.rounds):
                for who, url, path in (("ours", base, "/sparql"),
                                       ("oxigraph", f"http://127.0.0.1:{THEIRS_PORT}", "/query")):
                    got = run_round(url, path, query, args.seconds, clients)
                    lat[who] += got
                    secs[who] += args.seconds
            rate = {w: len(lat[w]) / secs[w] for w in lat}
            rows.append((name, rate["ours"], rate["oxigraph"], rate["ours"] / rate["oxigraph"],
                         pct(lat["ours"], 0.5), pct(lat["oxigraph"], 0.5), pct(lat["ours"], 0.95)))
        print(f"{'query (x clients)':<28}{'ours q/s':>10}{'oxigraph q/s':>14}{'ratio':>8}{'p50 ours ms':>13}"
              f"{'p50 oxi ms':>12}{'p95 ours ms':>13}")
        for r in rows:
            print(f"{r[0]:<28}{r[1]:>10.0f}{r[2]:>14.0f}{r[3]:>8.2f}{r[4]:>13.2f}{r[5]:>12.2f}{r[6]:>13.2f}")
        mix_ratio = statistics.geometric_mean([r[3] for r in rows[:4]])
        print(f"geometric mean of the four ratios: {mix_ratio:.2f}")
    finally:
        for proc in (ours, theirs):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
