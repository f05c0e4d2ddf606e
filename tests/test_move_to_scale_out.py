"""Moving an embedded installation to the scaled-out one, with the commands docs/scale-out.md gives (issue 11).

The steps, each the documented command run as its own process: an embedded home is built (`wodp demo
--build-only`) and served (`wodp serve`); then `wodp export --output catalogue.nq`, `oxigraph load` into the
engine's directory and `oxigraph serve`, `wodp db upgrade` and `wodp db copy` into a fresh PostgreSQL database,
and `wodp serve` again with `store.url` and `database.url` set. Every door (/catalog's total, a SPARQL COUNT
through /sparql, CSW's hits, the portal search's total for the whole catalogue and for a word) gives the same
count before and after, and the change log and harvest jobs are those of the embedded home.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.remote_engines import OxigraphServer, engine_binary
from tests.test_scale_out_processes import _get, _ready
from tests.test_topology import _catalog_total

ROOT = Path(__file__).resolve().parents[1]
DATASETS = 40
RESTRICTED_LINKS = """SELECT ?o WHERE { GRAPH ?g { ?g <https://data.wuhan.gov.cn/def/wodp#openType> ?t .
  ?x <http://www.w3.org/ns/dcat#downloadURL> ?o
  FILTER(?t != <https://data.wuhan.gov.cn/def/open-type/unconditional>) } }"""


def _graph_digests(path: Path) -> dict[str, str]:
    import pyoxigraph as ox

    from sparql.digests import graph_digest

    graphs: dict[str, list] = {}
    for quad in ox.parse(path=str(path), format=ox.RdfFormat.N_QUADS):
        graphs.setdefault(quad.graph_name.value, []).append(quad.triple)
    return {uri: graph_digest(triples) for uri, triples in graphs.items()}


def _restricted_links(path: Path) -> set[str]:
    import pyoxigraph as ox

    store = ox.Store()
    store.bulk_load(path=str(path), format=ox.RdfFormat.N_QUADS)
    return {row[0].value for row in store.query(RESTRICTED_LINKS)}


class Site:
    """`wodp serve` on a free port, its own process group; ``url`` answers once ready."""

    def __init__(self, env: dict, log: Path) -> None:
        from tests.conftest import free_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while not _ready(self.url):
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _doors(site: Site) -> dict:
    from tests.test_live_demo import csw_count, portal_count, sparql_count

    status, body = _get(site.url + "/datasets?format=json&q=%E4%BA%A4%E9%80%9A")  # 交通
    assert status == 200, body[:300]
    status, changes = _get(site.url + "/changes.json?limit=1000")
    assert status == 200, changes[:300]
    return {"catalog": _catalog_total(site.url), "sparql": sparql_count(site), "csw": csw_count(site),
            "portal": portal_count(site), "search 交通": json.loads(body)["total"],
            "changes": len(json.loads(changes)["changes"])}


def _wodp(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def test_an_embedded_home_moves_to_oxigraph_server_and_postgresql_with_every_door_agreeing(tmp_path, postgis_dsn):
    from tests.pg import fresh_database_url

    oxigraph = engine_binary("the oxigraph server", "oxigraph")
    home = tmp_path / "home"
    config = tmp_path / "wodp.yml"
    # the daily data checks would publish datasets again in the background after the doors were counted
    config.write_text(f"demo:\n  datasets: {DATASETS}\n  spatial: 0\nsandbox:\n  enabled: false\n"
                      "data_checks:\n  daily: false\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")

    # the embedded installation, as it runs today
    _wodp(env, "demo", "--build-only")
    site = Site(env, tmp_path / "embedded.log")
    try:
        before = _doors(site)
    finally:
        site.stop()
    assert 0 < before["search 交通"] < DATASETS and before["changes"] >= DATASETS
    assert {before[door] for door in ("catalog", "sparql", "csw", "portal")} == {DATASETS}, before

    # 1. export the catalogue (the platform stopped)
    _wodp(env, "export", "--output", str(tmp_path / "catalogue.nq"))
    # 2. load it into Oxigraph server's directory with its bulk loader, then start the server on it
    engine = OxigraphServer(tmp_path / "oxigraph")
    loaded = subprocess.run([oxigraph, "load", "--location", str(engine.location / "db"),
                             "--file", str(tmp_path / "catalogue.nq")], capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    engine.start()
    try:
        # 3. the state beside the store: the shared database's tables, then the embedded files' rows
        shared = dict(env, WODP_DATABASE__URL=fresh_database_url(postgis_dsn, "wodp_moved"))
        assert "queue: procrastinate's tables created" in _wodp(shared, "db", "upgrade")
        copied = _wodp(shared, "db", "copy")
        assert f"changes_log {before['changes']}" in copied, copied
        # 4. switch both settings and start
        moved = dict(shared, WODP_STORE__URL=engine.query_url)
        # the management API needs an account: the first admin, made by the documented command, with a token
        _wodp(moved, "account", "add", "--role", "admin", "--login", "mover")
        made = _wodp(moved, "account", "token", "add", "mover", "--scope", "manage")
        token = made.rsplit("hashed): ", 1)[1].split()[0]
        site = Site(moved, tmp_path / "scaled-out.log")
        try:
            after = _doors(site)
            assert _get(site.url + "/api/harvest/jobs")[0] == 401  # not to anonymous callers
            status, jobs = _get(site.url + "/api/harvest/jobs", Authorization=f"Bearer {token}")
        finally:
            site.stop()
        from sparql.remote import RemoteStore

        direct = RemoteStore(engine.query_url, None, timeout_s=30)  # the engine itself holds the catalogue
        try:
            in_engine = direct.count_datasets()
            engine_links = {row[0].value for row in direct.query(RESTRICTED_LINKS, use_default_graph_as_union=False)}
        finally:
            direct.close()
        # the moved installation exports the catalogue as published, restricted datasets' links included
        _wodp(moved, "export", "--output", str(tmp_path / "moved.nq"))
    finally:
        engine.stop()
    exported = _graph_digests(tmp_path / "catalogue.nq")
    restricted_links = _restricted_links(tmp_path / "catalogue.nq")
    assert restricted_links  # the 40 demo datasets have restricted ones with files, or this proves nothing
    assert not engine_links & restricted_links  # loaded whole, the engine holds their public views after the start
    assert _graph_digests(tmp_path / "moved.nq") == exported
    assert after == before, (before, after)
    assert in_engine == before["catalog"]
    assert status == 200 and json.loads(jobs), jobs[:300]  # the embedded home's harvest jobs, copied
