"""Measure one client's SPARQL lookups while another client keeps 10 hostile queries running (issue 10).

Usage:  .venv/bin/python bench/sparql_hostile.py [--seconds 30] [--before] [--set slow_query_ms=0 ...]

Builds the demo catalogue (1,700 datasets) into bench/out/hostile, serves it with `wodp serve`, and for
--seconds: the attacker (source address 127.0.0.2) keeps 10 cartesian-product queries in flight (each one
sent again as soon as it is answered or refused), while the other client (127.0.0.1) looks datasets up one
after the other with the saved query dataset-description. Prints the lookups' p50/p95/max and statuses, and
what the attacker got. --before serves with the fairness and priority settings off (one client may hold every
worker, slow queries keep their priority), to compare. Target: lookup p95 < 50 ms during the attack.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparql.saved import bind, saved_queries  # noqa: E402

OUT = ROOT / "bench" / "out" / "hostile"
PORT = 18010
HOSTILE = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
BEFORE = {"WODP_SPARQL__MAX_WORKERS_PER_CLIENT": "8", "WODP_SPARQL__CLIENT_QUEUE": "0",
          "WODP_SPARQL__SLOW_QUERY_MS": "0"}


def post(query: str, source: str, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("POST", "/sparql", body=urlencode({"query": query}),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "Accept": "application/sparql-results+json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def start(env: dict[str, str]) -> subprocess.Popen:
    wodp = [sys.executable, "-m", "server.cli"]
    if not (OUT / "home" / "store").exists():
        shutil.rmtree(OUT, ignore_errors=True)
        (OUT / "home").mkdir(parents=True)
        subprocess.run(wodp + ["demo", "--build-only"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen(wodp + ["serve", "--port", str(PORT)], env=env, cwd=ROOT,
                              stdout=open(OUT / "server.log", "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if post("ASK {}", "127.0.0.1", timeout=5)[0] == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not come up; see " + str(OUT / "server.log"))


def dataset_uris() -> list[str]:
    status, body = post("SELECT ?d WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> } ORDER BY ?d LIMIT 500",
                        "127.0.0.1")
    import json

    return [b["d"]["value"] for b in json.loads(body)["results"]["bindings"]]


def attack(stop: float, got: Counter) -> None:
    while time.monotonic() < stop:
        try:
            status, _ = post(HOSTILE, "127.0.0.2")
        except OSError as exc:
            status = type(exc).__name__
        got[status] += 1
        if status == 429:
            time.sleep(0.2)  # a polite attacker would wait Retry-After; a hostile one comes back at once-ish


def lookups(stop: float, uris: list[str]) -> tuple[list[float], Counter]:
    template = saved_queries()["dataset-description"]
    times, statuses, i = [], Counter(), 0
    while time.monotonic() < stop:
        query = bind(template, dataset=f"<{uris[i % len(uris)]}>")
        i += 1
        started = time.perf_counter()
        status, _ = post(query, "127.0.0.1")
        times.append(time.perf_counter() - started)
        statuses[status] += 1
    return times, statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--before", action="store_true", help="fairness and priority settings off")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a sparql setting for the server, e.g. --set slow_query_ms=0")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(OUT / "home"), PYTHONPATH=str(ROOT), WODP_HARVEST__SCHEDULER="false",
               # the lookup client asks as fast as it can (hundreds a second): past rate_limits.sparql it would
               # only measure 429s; this bench measures the query workers' share, so the rate limit is lifted
               WODP_RATE_LIMITS__SPARQL="1000000/minute")
    if args.before:
        env.update(BEFORE)
    for item in args.set:
        key, _, value = item.partition("=")
        env[f"WODP_SPARQL__{key.upper()}"] = value
    server = start(env)
    try:
        uris = dataset_uris()
        calm, _ = lookups(time.monotonic() + 5, uris)
        stop = time.monotonic() + args.seconds
        got: Counter = Counter()
        attackers = [threading.Thread(target=attack, args=(stop, got)) for _ in range(10)]
        for thread in attackers:
            thread.start()
        time.sleep(1.0)
        times, statuses = lookups(stop, uris)
        for thread in attackers:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"settings: {'before (no share, no priority change)' if args.before else 'defaults'} {args.set}; "
          f"{args.seconds:g} s attack, 10 hostile queries in flight from 127.0.0.2")
    for name, sample in (("calm", calm), ("attack", times)):
        q = statistics.quantiles(sample, n=20)
        print(f"lookups {name:<7} n={len(sample):5d}  p50 {statistics.median(sample) * 1000:7.1f} ms  "
              f"p95 {q[18] * 1000:7.1f} ms  max {max(sample) * 1000:7.1f} ms")
    print("lookup statuses during the attack:", dict(statuses))
    print("attacker got:", dict(got))
    p95 = statistics.quantiles(times, n=20)[18] * 1000
    answered = statuses.get(200, 0) == sum(statuses.values())
    print(f"target lookup p95 < 50 ms during the attack, every lookup answered 200: "
          f"{'met' if p95 < 50 and answered else 'missed'} ({p95:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
