"""The whole scaled-out topology on one machine, through crashes (issue 11, point 5; docs/scale-out.md).

One scenario per engine (Oxigraph server, Virtuoso): PostgreSQL (tests/pg.py), the engine (tests/remote_engines.py),
`wodp serve --gunicorn --workers 2` and two `wodp worker` processes over one WODP_HOME. Harvests of four local
CKAN sources (one slow) are queued while two clients push datasets through POST /api/datasets. Then:

1. a harvest worker is SIGKILLed while it holds the store's turn (sparql/shared.py) in the middle of the slow
   source; another worker is started in its place;
2. a gunicorn worker is SIGKILLed while it holds the turn in the middle of a push (gunicorn starts another);
3. the whole web (master, workers, their pycsw) is SIGKILLed while a push's body is half sent and the pushers run;
   it is started again on the same port.

When the pushes are done and the queue has drained, nothing may be lost and every door must agree: every push
answered 201 is there as sent; a push whose connection was cut is there as sent or not at all (never half); the
half-sent push is not there; every source's datasets are there once; the store (SPARQL COUNT through /sparql),
/catalog's total, the portal's total, OGC API Records' numberMatched, CSW's hits and /changes give one count;
each dataset graph has its title and distribution. Absent binaries skip, except under CI (CI=true): a failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import psutil
import pytest
import yaml

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.remote_engines import ENGINES
from tests.test_scale_out_processes import (RECORD, Topology, _get, _gunicorn_workers, _queue, _ready,
                                           running_topology)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"src-a": 40, "src-b": 40, "src-c": 40}
SLOW, SLOW_COUNT = "src-slow", 150
HALF = 9999  # the number of the half-sent push
DCAT_DCT = "PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX dct: <http://purl.org/dc/terms/> "


def _titles(name: str, count: int) -> list[str]:
    return [f"{name} 数据集 {n}" for n in range(count)]


@pytest.fixture(params=sorted(ENGINES))
def site(request, tmp_path, postgis_dsn):
    from tests.pg import fresh_database_url

    url = fresh_database_url(postgis_dsn, "wodp_topology")
    engine = ENGINES[request.param](tmp_path / request.param).start()
    fakes, sources = [], []
    for name, count in {**SOURCES, SLOW: SLOW_COUNT}.items():
        source = FakeSource()
        ckan = FakeCkan(source, [ckan_package(n, title) for n, title in enumerate(_titles(name, count))])
        if name == SLOW:
            ckan.on_page = lambda start: time.sleep(0.6)  # several seconds per run: killed in its middle
        fakes.append(source)
        sources.append({"name": name, "kind": "ckan", "url": source.url})
    config = tmp_path / "wodp.yml"
    config.write_text(yaml.safe_dump({"harvest": {"sources": sources, "page_size": 25, "batch_size": 25,
                                                  "queue": "postgres", "queue_heartbeat_s": 0.5,
                                                  "queue_stalled_after_s": 3, "stale_after_s": 600},
                                      "rate_limits": {"enabled": False},  # two pushers from one address
                                      "sandbox": {"enabled": False}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path / "home"), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT),
               PYTHONUNBUFFERED="1", WODP_STORE__URL=engine.query_url, WODP_DATABASE__URL=url,
               WODP_LOGGING__LEVEL="INFO")
    top = Topology(tmp_path / "home", env, url, engine)
    top.engine_name = request.param
    yield from running_topology(top, fakes)


# -- the pushing clients -------------------------------------------------------------------------------------
def _record(i: int) -> dict:
    return RECORD | {"资源名称": f"多进程推送 第{i}号", "资源代码": f"420100-D017-{20000 + i:05d}",
                     "资源摘要": f"全市公共停车场泊位数，推送第 {i} 号。"}


class Pushers:
    """Clients pushing records 0, 1, 2, ... until stopped, each on a fresh connection, ``threads`` at a time.

    A refused connection delivered nothing: the same record is pushed again once the web is back. A connection
    cut after it was made (the web killed) is noted "cut" and the client goes on with the next record.
    """

    def __init__(self, port: int, token: str, threads: int = 2) -> None:
        self.port, self.token = port, token
        self.todo = iter(range(HALF))
        self.stop = threading.Event()
        self.outcome: dict[int, object] = {}
        self.sending = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def confirmed(self) -> int:
        return sum(1 for v in list(self.outcome.values()) if v == 201)

    def _run(self) -> None:
        while True:
            with self.lock:
                i = None if self.stop.is_set() else next(self.todo)
            if i is None:
                return
            time.sleep(0.05)
            body = json.dumps(_record(i), ensure_ascii=False).encode()
            while True:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
                try:
                    conn.connect()
                except ConnectionRefusedError:  # the web is down: nothing was delivered
                    time.sleep(0.2)
                    continue
                with self.lock:
                    self.sending += 1
                try:
                    conn.request("POST", "/api/datasets", body, {"Content-Type": "application/json",
                                                                 "Authorization": f"Bearer {self.token}"})
                    answer = conn.getresponse()
                    answer.read()
                    self.outcome[i] = answer.status
                except (ConnectionError, http.client.HTTPException):
                    self.outcome[i] = "cut"
                finally:
                    with self.lock:
                        self.sending -= 1
                    conn.close()
                break

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), f"pushes not done: {self.outcome}"


def _half_push(port: int, token: str, record: dict) -> socket.socket:
    """Open a push whose body is half sent: the web is killed while it waits for the rest."""
    body = json.dumps(record, ensure_ascii=False).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (f"POST /api/datasets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


# -- who holds the store's turn ------------------------------------------------------------------------------
class _TurnHolder:
    """Who holds the store's turn (sparql/shared.py): an advisory lock in the shared database, read from
    pg_locks (its session is named after the process), through one session kept for the polling."""

    def __init__(self, database_url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(database_url, autocommit=True)

    def __call__(self) -> int | None:
        from sparql.shared import holder

        return holder(self.conn, "store")


# -- reading the doors ---------------------------------------------------------------------------------------
def _select(url: str, query: str) -> list[dict]:
    status, body = _get(url + "/sparql?" + urllib.parse.urlencode({"query": query}),
                        Accept="application/sparql-results+json")
    assert status == 200, body[:500]
    return [{k: v["value"] for k, v in row.items()} for row in json.loads(body)["results"]["bindings"]]


def _graphs(url: str) -> dict[str, dict]:
    """Each dataset in the store: its graph, titles, descriptions, distributions and the graph's size."""
    rows = _select(url, DCAT_DCT + "SELECT ?g ?d (COUNT(DISTINCT ?t) AS ?titles) (SAMPLE(?t) AS ?title) "
                        "(SAMPLE(?a) AS ?about) (COUNT(DISTINCT ?x) AS ?dists) WHERE { GRAPH ?g { ?d a dcat:Dataset "
                        "OPTIONAL { ?d dct:title ?t } OPTIONAL { ?d dct:description ?a } "
                        "OPTIONAL { ?d dcat:distribution ?x } } } GROUP BY ?g ?d")
    sizes = {r["g"]: int(r["n"]) for r in _select(
        url, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")}
    found: dict[str, dict] = {}
    for row in rows:
        assert row["d"] not in found, f"{row['d']} is in two graphs"
        found[row["d"]] = {"graph": row["g"], "titles": int(row["titles"]), "title": row.get("title"),
                           "about": row.get("about"), "dists": int(row["dists"]), "size": sizes[row["g"]]}
    # a graph left half-written may have lost its dataset's type: every graph named as a dataset holds one
    headless = sorted(g for g in set(sizes) - {f["graph"] for f in found.values()} if "/datasets/" in g)
    assert not headless, f"dataset graphs without their dataset (half-written): {headless}"
    return found


def _catalog_total(url: str) -> int:
    import rdflib

    status, body = _get(url + "/catalog?page_size=1", Accept="application/n-triples")
    assert status == 200, body[:300]
    graph = rdflib.Graph().parse(data=body, format="nt")
    return int(next(graph.objects(None, rdflib.URIRef("http://www.w3.org/ns/hydra/core#totalItems"))))


def _changes(url: str) -> list[dict]:
    rows, after = [], 0
    while True:
        status, body = _get(f"{url}/changes.json?after={after}&limit=1000")
        assert status == 200, body[:300]
        page = json.loads(body)
        rows += page["changes"]
        if not page["more"]:
            return rows
        after = int(re.search(r"after=(\d+)", page["next"]).group(1))


def _start_web(top: Topology, port: int) -> subprocess.Popen:
    web = top.start("serve", "--gunicorn", "--workers", "2", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    top.wait(lambda: _ready(url) and len(_gunicorn_workers(web.pid)) == 2, timeout=180, every=0.3)
    return web


def test_nothing_is_lost_and_every_door_agrees_when_workers_and_the_web_are_killed(site, capsys):
    from tests.conftest import free_port
    from tests.test_live_demo import csw_count, portal_count, records_count, sparql_count

    top, started = site, time.monotonic()
    added = top.wodp("account", "add", "D017")
    assert added.returncode == 0, added.stderr
    token = re.search(r"token[^:]*: (\S+)", added.stdout).group(1)
    harvest_workers = [top.start("worker"), top.start("worker")]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = _start_web(top, port)
    queue = _queue(top)
    turn_holder = _TurnHolder(top.database_url)
    pushers = Pushers(port, token)
    try:
        assert all(queue.defer(name)["queued"] for name in (SLOW, *SOURCES))

        # 1. a harvest worker, holding the store's turn in the middle of the slow source
        job = top.wait(lambda: next((j for j in top.jobs(SLOW) if j[2] == "running" and j[4]), None))
        top.wait(lambda: top.log_has(job[0], "batch 1:"))
        victim = next(w for w in harvest_workers if w.pid == job[4])
        top.wait(lambda: turn_holder() == victim.pid, every=0.003)
        victim.kill()
        harvest_workers.append(top.start("worker"))  # started again, as systemd would
        killed_harvest = time.monotonic() - started

        # 2. a gunicorn worker, holding the turn in the middle of a push; gunicorn starts another
        top.wait(lambda: pushers.confirmed() >= 4)
        web_workers = _gunicorn_workers(web.pid)
        holder = top.wait(lambda: (lambda h: h if h in web_workers else None)(turn_holder()), every=0.003)
        orphans = [c.pid for c in psutil.Process(holder).children()]  # its pycsw
        assert orphans
        os.kill(holder, signal.SIGKILL)
        top.wait(lambda: len(set(_gunicorn_workers(web.pid)) - {holder}) == 2, every=0.3)

        # 3. the whole web, with a push's body half sent and the pushers running; started again on the same port
        before = pushers.confirmed()
        top.wait(lambda: pushers.confirmed() >= before + 4 and pushers.sending > 0, every=0.01)
        half = _half_push(port, token, _record(HALF))
        time.sleep(0.2)  # a worker takes the connection and waits for the rest of the body
        os.killpg(web.pid, signal.SIGKILL)
        web.wait(30)
        try:
            answered = half.recv(1024)
        except ConnectionError:
            answered = b""
        half.close()
        assert answered == b""  # cut: nothing answered
        web = _start_web(top, port)
        after = pushers.confirmed()
        top.wait(lambda: pushers.confirmed() >= after + 4)  # the restarted web takes pushes
        pushers.join(timeout=240)

        # the queue drains: every source harvested, the killed run completed by its retry
        done = lambda: all(any(j[2] == "succeeded" for j in top.jobs(n)) for n in (SLOW, *SOURCES))  # noqa: E731
        top.wait(done)
        top.wait(lambda: queue.depth().get("todo", 0) + queue.depth().get("doing", 0) == 0)
    finally:
        queue.close()
        turn_holder.conn.close()
    slow_jobs = top.jobs(SLOW)
    assert [j[2] for j in slow_jobs] == ["interrupted", "succeeded"] and slow_jobs[1][3] == slow_jobs[0][0]
    assert slow_jobs[0][4] == victim.pid and slow_jobs[1][4] != victim.pid

    # nothing lost: every source's datasets once; every push answered 201 as sent; a cut one whole or absent
    graphs = _graphs(url)
    by_title = Counter(g["title"] for g in graphs.values())
    harvested = [t for name, count in {**SOURCES, SLOW: SLOW_COUNT}.items() for t in _titles(name, count)]
    assert {t: by_title[t] for t in harvested} == {t: 1 for t in harvested}
    outcomes = Counter(str(v) for v in pushers.outcome.values())
    assert set(pushers.outcome) == set(range(len(pushers.outcome))) and set(outcomes) <= {"201", "cut"}, outcomes
    pushed = {g["title"]: g for g in graphs.values() if g["title"].startswith("多进程推送")}
    reference, present = None, 0
    for i, outcome in sorted(pushers.outcome.items()):
        sent = _record(i)
        graph = pushed.pop(sent["资源名称"], None)
        if graph is None:
            assert outcome == "cut", f"push {i} answered {outcome} and is not in the store"
            continue
        present += 1
        reference = reference or graph["size"]  # every record has the same fields: every whole graph one size
        assert (graph["about"], graph["dists"], graph["size"]) == (sent["资源摘要"], 2, reference), (i, graph)
    assert not pushed, f"in the store but never pushed whole: {sorted(pushed)}"  # the half-sent push among them
    assert len(graphs) == len(harvested) + present  # and nothing else
    assert all(g["titles"] == 1 and g["dists"] >= 1 for g in graphs.values())  # no half-written graph

    # every door agrees
    total = len(graphs)
    site_ = type("Site", (), {"url": url})
    changes = _changes(url)
    last = {row["uri"]: row["action"] for row in changes}
    doors = {"sparql": sparql_count(site_), "catalog": _catalog_total(url), "portal": portal_count(site_),
             "records": records_count(site_), "csw": csw_count(site_),
             "changes": sum(1 for a in last.values() if a not in ("withdrawn", "removed"))}
    assert doors == dict.fromkeys(doors, total), doors
    assert set(last) == set(graphs) and Counter(r["uri"] for r in changes) == Counter(set(last))  # once each
    for _ in range(10):  # fresh connections, taken by one worker or the other
        status, body = _get(url + "/health/ready")
        assert status == 200, body
    assert all(w.poll() is None for w in harvest_workers if w is not victim)
    assert not [pid for pid in orphans if psutil.pid_exists(pid)]  # the killed web worker's pycsw went too
    with capsys.disabled():
        print(f"\n{top.engine_name}: {total} datasets ({present} of {len(pushers.outcome)} pushes: "
              f"{dict(outcomes)}), harvest worker killed at {killed_harvest:.1f} s, "
              f"{time.monotonic() - started:.1f} s")
