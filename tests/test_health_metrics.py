"""Health checks and Prometheus metrics (docs/deployment.md): what a load balancer and a scraper see.

In-process tests drive the Flask app of a real platform; the last test runs `wodp serve` with two web
processes and checks that one scrape sums the requests both answered.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
RECORD = {
    "资源名称": "武汉市公共停车场信息 健康检查", "资源代码": "420100-D017-07301", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}


def _platform(home: Path, **sections):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    overrides = {"sparql": {"workers": 1}, "sandbox": {"workers": 1}, "rate_limits": {"enabled": False},
                 "csw": {"enabled": False}, **sections}
    settings = load_settings({}, overrides=overrides, home=home)
    platform = Platform.open(settings)
    install(platform.store, settings)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return platform, app.test_client()


@pytest.fixture
def started(tmp_path):
    platform, client = _platform(tmp_path)
    yield platform, client
    platform.close()


def _ready(client) -> tuple[int, dict]:
    answer = client.get("/health/ready")
    return answer.status_code, json.loads(answer.data)


def _wait_ready(client, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status, body = _ready(client)
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, body
            return body
        time.sleep(0.5)


def _push(platform, client, record: dict) -> int:
    _, token = platform.accounts.create("D017")
    answer = client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False),
                         content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    answer.close()
    return answer.status_code


def _samples(text: str, name: str) -> dict[tuple, float]:
    """Return {labels as sorted (key, value) pairs: value} of one metric in Prometheus's text format."""
    out = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or "")))
            out[labels] = float(match.group(2))
    return out


def _scrape(client, **environ) -> str:
    answer = client.get("/metrics", environ_base=environ)
    assert answer.status_code == 200, answer.data
    return answer.data.decode()


# -- health ---------------------------------------------------------------------------------------------------
def test_live_and_ready_on_a_started_platform_with_pycsw(tmp_path):
    if not (ROOT / ".venv-csw" / "bin" / "python").exists():
        pytest.skip("pycsw's environment (.venv-csw) is not installed")
    platform, client = _platform(tmp_path, csw={"enabled": True})
    try:
        live = client.get("/health/live")
        assert live.status_code == 200 and json.loads(live.data) == {"status": "live"}
        body = _wait_ready(client)  # the first check starts pycsw; a later one finds it running
        assert body["status"] == "ready"
        assert set(body["checks"]) == {"startup", "store", "indexes", "csw", "disk"}
        assert all(check["ok"] for check in body["checks"].values())
        text = json.dumps(body)
        assert str(tmp_path) not in text and "http" not in text and "127.0.0.1" not in text

        # pycsw down: the check names it, and starts it again; a later check is ready
        pid = platform.csw.pid
        os.kill(pid, signal.SIGKILL)
        while platform.csw.pid is not None:
            time.sleep(0.05)
        status, body = _ready(client)
        assert status == 503 and body["failing"] == ["csw"]
        assert "not running" in body["checks"]["csw"]["detail"]
        _wait_ready(client)
        assert platform.csw.pid not in (None, pid)
    finally:
        platform.close()


def test_ready_names_an_index_that_missed_a_publish(started, monkeypatch):
    platform, client = started
    assert _ready(client)[0] == 200

    def broken(store, event):
        raise RuntimeError("the search index could not follow")

    monkeypatch.setattr(platform.search, "follow", broken)
    assert _push(platform, client, RECORD) == 201  # the publish stands: an index must not undo it
    status, body = _ready(client)
    assert status == 503 and body["failing"] == ["indexes"]
    assert body["checks"]["indexes"]["detail"].startswith("SearchIndex missed 1 publish event")
    assert body["checks"]["store"]["ok"] and body["checks"]["disk"]["ok"]
    lag = _samples(_scrape(client), "wodp_index_lag_events")
    assert lag[(("index", "SearchIndex"),)] == 1 and lag[(("index", "ChangeLog"),)] == 0
    monkeypatch.undo()  # a later publish does not make it whole: the missed dataset is still missing
    assert _push(platform, client, RECORD | {"资源代码": "420100-D017-07302", "资源名称": "又一个"}) == 201
    status, body = _ready(client)
    assert status == 503 and body["failing"] == ["indexes"]
    assert body["checks"]["indexes"]["detail"].startswith("SearchIndex missed 1 publish event")


def test_ready_is_503_below_the_storage_floor(tmp_path):
    from tests.test_disk_full import Mounted, _fill

    disk = Mounted(tmp_path / "home", 48)
    try:
        platform, client = _platform(disk.path, storage={"min_free_mb": 12, "reserve_mb": 0},
                                     sandbox={"enabled": False})
        try:
            assert _ready(client)[0] == 200
            filler = disk.path / "filler.bin"
            _fill(filler, leave=6 << 20)
            status, body = _ready(client)
            assert status == 503 and body["failing"] == ["disk"]
            assert "storage.min_free_mb" in body["checks"]["disk"]["detail"]
            assert client.get("/health/live").status_code == 200  # alive all the same: not to be restarted
            filler.unlink()
            assert _ready(client)[0] == 200
        finally:
            platform.close()
    finally:
        disk.unmount()


def test_ready_is_503_during_the_demo_warm_up(started):
    import threading

    platform, client = started
    platform.extras["warm_up"] = warm_up = threading.Event()
    status, body = _ready(client)
    assert status == 503 and body["failing"] == ["startup"]
    warm_up.set()
    assert _ready(client)[0] == 200


# -- metrics --------------------------------------------------------------------------------------------------
def test_requests_are_counted_by_route_template_not_by_path(started):
    platform, client = started
    requests = "wodp_http_requests_total"
    before = _samples(_scrape(client), requests)
    for dataset_id in ("wuhan.nothing-1", "wuhan.nothing-2", "wuhan.nothing-3"):
        answer = client.get(f"/datasets/{dataset_id}")
        answer.close()  # the answer is complete: counted (a server closes every answer it sent)
        assert answer.status_code == 404
    assert json.loads(client.get("/health/live").data) == {"status": "live"}
    text = _scrape(client)
    after = _samples(text, requests)
    key = (("method", "GET"), ("route", "/datasets/<path:name>"), ("status", "4xx"))
    assert after[key] - before.get(key, 0) == 3
    live = (("method", "GET"), ("route", "/health/live"), ("status", "2xx"))
    assert after[live] - before.get(live, 0) == 1
    assert "nothing-1" not in text  # no label carries an identifier
    latency = _samples(text, "wodp_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("route", "/datasets/<path:name>"))] >= 3
    assert _samples(text, "wodp_http_requests_in_flight")[()] >= 1  # the scrape itself (the gauge is per process)
    assert _samples(text, "wodp_store_generation")[()] == platform.store.generation
    assert _samples(text, "wodp_store_datasets")[()] == platform.store.count_datasets()
    assert _samples(text, "wodp_store_bytes")[()] > 0


def test_sparql_outcomes_and_publishes_move_the_metrics(started):
    platform, client = started
    before = _samples(_scrape(client), "wodp_sparql_queries_total")
    assert client.get("/sparql?query=ASK%20%7B%7D").status_code == 200
    assert client.get("/sparql?update=CLEAR%20ALL").status_code == 400
    assert client.post("/sparql", data="DROP ALL", content_type="application/sparql-update").status_code == 400
    after = _samples(_scrape(client), "wodp_sparql_queries_total")
    assert after[(("outcome", "answered"),)] - before.get((("outcome", "answered"),), 0) == 1
    assert after[(("outcome", "refused"),)] - before.get((("outcome", "refused"),), 0) == 2
    datasets = _samples(_scrape(client), "wodp_store_datasets")[()]
    assert _push(platform, client, RECORD) == 201
    assert _samples(_scrape(client), "wodp_store_datasets")[()] == datasets + 1


def test_harvest_jobs_are_counted_by_kind_and_status(tmp_path):
    from config.settings import HarvestSource

    platform, client = _platform(tmp_path, harvest={"sources": [
        HarvestSource(name="gone", kind="dcat", url=f"http://127.0.0.1:{free_port()}/catalog").model_dump()]})
    try:
        before = _samples(_scrape(client), "wodp_harvest_jobs_total")
        report = platform.harvesting.run("gone")
        assert report["status"] == "failed"
        text = _scrape(client)
        after = _samples(text, "wodp_harvest_jobs_total")
        key = (("kind", "dcat"), ("status", "failed"))
        assert after[key] - before.get(key, 0) == 1
        assert _samples(text, "wodp_harvest_job_duration_seconds_count")[(("kind", "dcat"),)] >= 1
        assert _samples(text, "wodp_harvest_running_jobs")[()] == 0
    finally:
        platform.close()


def test_metrics_answer_allowed_addresses_only(tmp_path):
    platform, client = _platform(tmp_path, metrics={"allow": ["10.0.0.0/8", "::1"]})
    try:
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
        refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert refused.status_code == 403 and b"metrics.allow" in refused.data
        assert b"wodp_" not in refused.data
        assert client.get("/metrics").status_code == 403  # 127.0.0.1 is not in this list
    finally:
        platform.close()


def test_metrics_default_to_loopback_and_can_be_turned_off(tmp_path):
    platform, client = _platform(tmp_path / "on")
    try:
        assert client.get("/metrics").status_code == 200
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 403
    finally:
        platform.close()
    platform, client = _platform(tmp_path / "off", metrics={"enabled": False})
    try:
        assert client.get("/metrics").status_code == 404
    finally:
        platform.close()


def test_a_bad_allow_entry_is_refused_naming_it(tmp_path):
    from config import SettingsError, load_settings

    with pytest.raises(SettingsError, match="'10.0.0.300' is not an address or network"):
        load_settings({}, overrides={"metrics": {"allow": ["10.0.0.300"]}}, home=tmp_path)


# -- two web processes ----------------------------------------------------------------------------------------
def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def two_web_processes(tmp_path_factory):
    from tests.test_web_processes import Server

    home = tmp_path_factory.mktemp("metrics-processes")
    env = dict(os.environ, WODP_HOME=str(home), PYTHONPATH=str(ROOT), WODP_SERVER__PROCESSES="2",
               WODP_DEMO__DATASETS="30", WODP_DEMO__SPATIAL="5", WODP_LOGGING__LEVEL="WARNING",
               WODP_CSW__ENABLED="false", WODP_SPARQL__WORKERS="1", WODP_SANDBOX__WORKERS="1")
    port = free_port()
    subprocess.run([str(ROOT / ".venv/bin/wodp"), "demo", "--build-only", "--port", str(port)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    server = Server(home, port, env)
    yield server
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()


def test_one_scrape_sums_the_requests_of_both_web_processes(two_web_processes):
    server = two_web_processes
    pids = server.web_pids()
    assert len(pids) == 2
    live = (("method", "GET"), ("route", "/health/live"), ("status", "2xx"))
    sparql = (("method", "GET"), ("route", "/sparql"), ("status", "2xx"))
    before = _samples(_get(server.url + "/metrics")[1].decode(), "wodp_http_requests_total")
    for stopped in pids:  # each process in turn answers alone: the other is stopped (it accepts nothing)
        os.kill(stopped, signal.SIGSTOP)
        try:
            for _ in range(20):
                assert _get(server.url + "/health/live")[0] == 200  # answered by the web process itself
            for _ in range(3):  # handed to the writer: counted once, by the web process
                assert _get(server.url + "/sparql?query=ASK%20%7B%7D")[0] == 200
        finally:
            os.kill(stopped, signal.SIGCONT)
    # a request is counted when its body has been sent through, so the last one may be counted a moment after
    # the client read it (and a process stopped just then counts it when it goes on): scrape until both settle
    deadline = time.monotonic() + 10
    while True:
        status, text = _get(server.url + "/metrics")
        assert status == 200
        after = _samples(text.decode(), "wodp_http_requests_total")
        settled = (after.get(live, 0) - before.get(live, 0), after.get(sparql, 0) - before.get(sparql, 0))
        if (settled[0] >= 40 and settled[1] >= 6) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after[live] - before.get(live, 0) == 40
    assert after[sparql] - before.get(sparql, 0) == 6
    answered = _samples(text.decode(), "wodp_sparql_queries_total")[(("outcome", "answered"),)]
    assert answered >= 6  # counted by the writer, which ran them
    # both web processes wrote their part (files named after their pids, in the home's metrics directory)
    files = {p.name for p in (server.home / "metrics").iterdir()}
    assert {f"counter_{pid}.db" for pid in pids} <= files
    # the writer's own state comes with the same scrape
    assert _samples(text.decode(), "wodp_store_datasets")[()] >= 30


def test_answer_cache_hits_and_misses_are_counted(two_web_processes):
    server = two_web_processes
    before = _samples(_get(server.url + "/metrics")[1].decode(), "wodp_answer_cache_lookups_total")
    for _ in range(6):
        assert _get(server.url + "/catalog.ttl?page_size=2")[0] == 200
    after = _samples(_get(server.url + "/metrics")[1].decode(), "wodp_answer_cache_lookups_total")
    hits = after.get((("result", "hit"),), 0) - before.get((("result", "hit"),), 0)
    misses = after.get((("result", "miss"),), 0) - before.get((("result", "miss"),), 0)
    assert hits + misses == 6
    assert misses <= 2 and hits >= 4  # at most one miss per web process: each keeps its own cache


def test_health_through_a_web_process_asks_the_writer(two_web_processes):
    server = two_web_processes
    status, body = _get(server.url + "/health/live")
    assert status == 200 and json.loads(body) == {"status": "live"}
    deadline = time.monotonic() + 30
    while True:
        status, body = _get(server.url + "/health/ready")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    answer = json.loads(body)
    assert status == 200, answer
    assert {"store", "indexes", "disk", "snapshot"} <= set(answer["checks"])
    assert str(server.home) not in body.decode()


def test_ready_names_a_remote_store_that_stopped_answering(tmp_path):
    from tests.remote_engines import OxigraphServer

    server = OxigraphServer(tmp_path / "oxigraph").start()
    try:
        platform, client = _platform(tmp_path / "home", store={"url": server.url})
        try:
            status, body = _ready(client)
            assert status == 200 and body["checks"]["store"]["detail"].startswith("remote")
            datasets = _samples(_scrape(client), "wodp_store_datasets")[()]
            assert _push(platform, client, RECORD) == 201
            assert _samples(_scrape(client), "wodp_store_datasets")[()] == datasets + 1
            server.stop()
            status, body = _ready(client)
            assert status == 503 and body["failing"] == ["store"]
            assert str(server.port) not in json.dumps(body)  # the engine's address is not told
            assert client.get("/health/live").status_code == 200
        finally:
            platform.close()
    finally:
        server.stop()


def test_allowed_addresses_match_networks_of_their_family():
    from server.metrics import allowed

    loopback = ("127.0.0.0/8", "::1/128")
    assert allowed("127.0.0.1", loopback) and allowed("::1", loopback)
    assert allowed("::ffff:127.0.0.1", loopback)  # an IPv4 client on a dual-stack socket
    assert not allowed("10.0.0.1", loopback) and not allowed("::2", loopback)
    assert allowed("fe80::1%eth0", ("fe80::/10",))
    assert not allowed("unknown", loopback) and not allowed("", loopback)
