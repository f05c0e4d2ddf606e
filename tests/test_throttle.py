"""Rate limits per client: token checks, refused tokens, /api/validate, pushes and SPARQL answer 429 past a limit."""

from __future__ import annotations

import json
import time

import pytest

RECORD = {
    "资源名称": "武汉市公共停车场信息 限流测试", "资源代码": "420100-D017-07101", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv",
    "关键字": "停车场", "联系方式": "027-85123456", "数据量": "12",
}
LIMITS = {"token": "6/minute", "token_failures": "3/minute", "validation": "2/minute", "push": "2/minute",
          "sparql": "3/minute"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    settings = load_settings({}, overrides={"rate_limits": LIMITS, "sparql": {"workers": 1}},
                             home=tmp_path_factory.mktemp("throttle-home"))
    platform = Platform.open(settings)
    install(platform.store, settings)
    yield platform
    platform.close()


@pytest.fixture
def app(platform):
    """A fresh app (fresh counts in memory) over the module's platform."""
    from server.app import create_app

    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_throttled(response, setting: str) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    detail = response.get_json()["detail"] if response.is_json else response.get_data(as_text=True)
    assert f"rate_limits.{setting}" in detail and LIMITS[setting] in detail


def validate(client):
    return client.post("/api/validate", data=b"<a> <b> <c> .", content_type="text/turtle")


def test_validation_limit_per_client(app):
    one, other = client_at(app, "10.0.0.1"), client_at(app, "10.0.0.2")
    assert [validate(one).status_code for _ in range(2)] == [400, 400]  # no dataset in it: counted all the same
    response = validate(one)
    assert_throttled(response, "validation")
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 429 and response.get_json()["title"] == "Too Many Requests"
    assert validate(other).status_code == 400  # another client is not affected


def test_push_limit(app, platform):
    token = platform.accounts.create("D017", "限流")[1]
    client = client_at(app, "10.0.1.1")
    body = json.dumps(RECORD, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post("/api/datasets", data=body, content_type="application/json", headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    withdraw = client.delete("/api/datasets/wuhan.420100-D017-07101", headers=headers)
    assert withdraw.status_code == 200  # POST and DELETE count together against rate_limits.push
    assert_throttled(client.post("/api/datasets", data=body, content_type="application/json", headers=headers),
                     "push")
    assert client.get("/api/datasets/wuhan.420100-D017-07101/report", headers=headers).status_code == 200
    assert client_at(app, "10.0.1.2").delete("/api/datasets/wuhan.420100-D017-07101",
                                             headers=headers).status_code == 410


def test_sparql_limit(app):
    client = client_at(app, "10.0.2.1")
    query = {"query": "ASK { ?s ?p ?o }"}
    assert [client.get("/sparql", query_string=query).status_code for _ in range(3)] == [200, 200, 200]
    response = client.post("/sparql", data=query)
    assert response.status_code == 429 and response.mimetype == "text/plain"  # the SPARQL Protocol's error shape
    assert "rate_limits.sparql" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    assert client.head("/sparql", query_string=query).status_code == 429  # HEAD runs the query too
    assert client_at(app, "10.0.2.2").post("/sparql", data=query).status_code == 200


def test_refused_tokens_are_cut_off_before_any_hashing(app, platform, monkeypatch):
    account, token = platform.accounts.create("D017", "被冒用")
    forged = f"wodp.{account.id}.forged"
    client = client_at(app, "10.0.3.1")
    hashed = []
    from access import tokens

    real = tokens.token_matches
    monkeypatch.setattr(tokens, "token_matches", lambda *a: hashed.append(1) or real(*a))
    statuses = [client.get("/api/datasets/wuhan.x/report", headers={"Authorization": f"Bearer {forged}"}).status_code
                for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert len(hashed) == 3  # the throttled requests never reached scrypt
    response = client.get("/api/datasets/wuhan.x/report", headers={"Authorization": f"Bearer {token}"})
    assert_throttled(response, "token_failures")  # this client is cut off, even with a good token, for a while
    good = client_at(app, "10.0.3.2").get("/api/datasets/wuhan.x/report", headers={"Authorization": f"Bearer {token}"})
    assert good.status_code == 404  # another client still gets through


def test_requests_bearing_a_token(app, platform):
    token = platform.accounts.create("D017", "频繁")[1]
    client = client_at(app, "10.0.4.1")
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [client.get("/api/datasets/wuhan.none/report", headers=headers).status_code for _ in range(7)]
    assert statuses == [404] * 6 + [429]
    assert_throttled(client.get("/api/datasets/wuhan.none/report", headers=headers), "token")
    assert client.get("/api/datasets/wuhan.none/report").status_code == 401  # no token: not this limit
    portal = [client.get("/", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code for _ in range(8)]
    assert portal == [200] * 8  # a proxy's Basic credentials are not our token


def test_internal_token_failures(app):
    client = client_at(app, "127.0.0.1")
    headers = {"X-WODP-Token": "guess"}
    statuses = [client.post("/internal/remove", json=[], headers=headers).status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]


def test_forwarded_client_address(platform, tmp_path):
    """Behind a trusted proxy (site.proxies), clients are told apart by X-Forwarded-For."""
    from config import load_settings
    from server.app import create_app

    settings = load_settings({}, overrides={"rate_limits": LIMITS, "site": {"proxies": 1}}, home=platform.settings.home)
    app = create_app(settings, platform=platform)
    proxy = client_at(app, "10.9.9.9")
    for_a, for_b = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    statuses = [proxy.post("/api/validate", data=b"<a> <b> <c> .", content_type="text/turtle",
                           headers=for_a).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    assert proxy.post("/api/validate", data=b"<a> <b> <c> .", content_type="text/turtle",
                      headers=for_b).status_code == 400


def test_limits_come_from_settings(platform):
    from config import SettingsError, load_settings
    from server.app import create_app

    home = platform.settings.home
    loose = create_app(load_settings({}, overrides={"rate_limits": {"validation": "5/minute"}}, home=home),
                       platform=platform)
    client = client_at(loose, "10.0.5.1")
    assert [validate(client).status_code for _ in range(6)] == [400] * 5 + [429]
    assert "5/minute" in validate(client).get_json()["detail"]
    off = create_app(load_settings({}, overrides={"rate_limits": {"enabled": False, "validation": "1/hour"}},
                                   home=home), platform=platform)
    client = client_at(off, "10.0.5.2")
    assert [validate(client).status_code for _ in range(3)] == [400] * 3
    with pytest.raises(SettingsError, match="rate_limits.push.*not a rate limit"):
        load_settings({}, overrides={"rate_limits": {"push": "often"}}, home=home)
    with pytest.raises(SettingsError, match="secret"):
        load_settings({}, overrides={"rate_limits": {"storage_uri": "redis://h"}}, home=home)
    defaults = load_settings({}, home=home).rate_limits
    assert defaults.enabled and defaults.storage_uri is None and defaults.token_failures == "10/minute"


def test_retry_after_is_honest(platform):
    """Waiting Retry-After seconds is enough: the next request passes (a 1-second limit, to keep the test short)."""
    from config import load_settings
    from server.app import create_app

    app = create_app(load_settings({}, overrides={"rate_limits": {"validation": "1/second"}},
                                   home=platform.settings.home), platform=platform)
    client = client_at(app, "10.0.6.1")
    assert validate(client).status_code == 400
    response = validate(client)
    assert response.status_code == 429
    time.sleep(int(response.headers["Retry-After"]))
    assert validate(client).status_code == 400


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_the_data_layer_counts_alike_for_every_process(tmp_path, database_url, strategy):
    """Two processes' limiters over the data layer (part throttle: the shared database, or one SQLite file on one
    machine) count one client together under each strategy: the limit holds in all, not per process."""
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import STRATEGIES

    from core.database import open_database
    import server.throttle_store  # noqa: F401

    limit = parse("5/minute")

    def limiter():  # what each web process makes: its own storage object over the same part
        db = open_database(database_url, "throttle", tmp_path / "throttle.sqlite", auto_migrate=True)
        return STRATEGIES[strategy](storage_from_string("wodp-database://", database=db))

    first, second = limiter(), limiter()
    answers = [(first if i % 2 else second).hit(limit, "203.0.113.7", "sparql") for i in range(8)]
    assert answers == [True] * 5 + [False] * 3
    assert first.hit(limit, "198.51.100.1", "sparql")  # another client has its own count
    stats = second.get_window_stats(limit, "203.0.113.7", "sparql")
    assert stats.remaining == 0 and time.time() < stats.reset_time <= time.time() + 61
    first.clear(limit, "203.0.113.7", "sparql")
    assert second.hit(limit, "203.0.113.7", "sparql")


def test_several_web_processes_share_the_limits(tmp_path):
    """With server.processes > 1 and no storage_uri, two apps (two web processes) over one home give a client
    the limit once, not once each."""
    from flask import Flask

    from config import load_settings
    from server import throttle

    settings = load_settings({}, overrides={"rate_limits": LIMITS, "server": {"processes": 2}}, home=tmp_path)
    apps = []
    for _ in range(2):
        app = Flask("wodp-test")
        for method, path in (m for routes in throttle.DOORS.values() for m in routes):
            if not any(r.rule == path for r in app.url_map.iter_rules()):
                app.add_url_rule(path, path, lambda **_: "ok", methods=["GET", "HEAD", "POST", "DELETE"])
        throttle.install(app, settings)
        apps.append(app)
    statuses = [client_at(apps[i % 2], "203.0.113.9").get("/sparql").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # sparql: 3/minute, whichever process answers
    assert (tmp_path / "throttle.sqlite").exists()
    memory = load_settings({}, overrides={"rate_limits": LIMITS}, home=tmp_path / "one")
    assert throttle._storage(memory)[0] == "memory://"  # one process: its memory, as before
