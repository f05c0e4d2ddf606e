"""The cloud data center harvester against the local implementation of its contract on a loopback server."""

from __future__ import annotations

import pytest

from harvest_fixtures.harness import Harness
from harvest_fixtures.wsgi_server import WsgiServer
from harvesters.cloud_center_app import CloudCenterApp, demo_records
from harvesters.provenance import channel_dataset_id

TOKEN = "s3cret-cloud-token"


@pytest.fixture
def cloud(tmp_path):
    app = CloudCenterApp(demo_records(60), tokens=[TOKEN])
    server = WsgiServer(app)
    h = Harness(tmp_path, [{"name": "cloud", "kind": "cloud", "url": server.url}],
                environ={"WODP_HARVEST__CLOUD_TOKEN": TOKEN})
    yield app, h
    h.close()
    server.close()


def code(n: int) -> str:
    return f"420100-D017-8{n:04d}"


def test_pages_through_every_resource_in_the_department_id_space(cloud):
    app, h = cloud
    report = h.run("cloud")
    assert report["status"] == "succeeded", report["message"]
    assert (report["new"], report["failed"]) == (60, 0)
    assert [(q["page"], q["page_size"]) for q in app.requests] == [("1", "25"), ("2", "25"), ("3", "25")]
    assert all("updated_since" not in q for q in app.requests)
    uri = h.uri(channel_dataset_id(code(7)))
    assert h.store.has_dataset(uri) and h.store.count_datasets() == 60
    titles = [t.object.value for t in h.store.dataset_triples(uri) if t.predicate.value.endswith("/title")]
    assert "政务云演示数据集7" in titles
    entry = h.jobs.entry(uri)
    assert (entry.source, entry.channel) == ("cloud", "cloud")


def test_refused_token_fails_the_job_and_changes_nothing(cloud):
    app, h = cloud
    h.run("cloud")
    digest = h.digest()
    app.put({**demo_records(3)[2], "资源名称": "改过的名称"})
    app.tokens = {"another-token"}  # the center revoked ours
    report = h.run("cloud")
    assert report["status"] == "failed"
    assert "refused the token (HTTP 401)" in report["message"] and "WODP_HARVEST__CLOUD_TOKEN" in report["message"]
    assert TOKEN not in report["message"] and all(TOKEN not in line for line in h.jobs.job_log(report["id"]))
    assert "nothing published from cloud was changed" in report["message"]
    assert h.digest() == digest


def test_missing_token_is_a_clear_failure(tmp_path):
    h = Harness(tmp_path, [{"name": "cloud", "kind": "cloud", "url": "http://127.0.0.1:9"}])
    try:
        report = h.run("cloud")
        assert report["status"] == "failed" and "no cloud data center token" in report["message"]
    finally:
        h.close()


def test_incremental_run_fetches_only_changed_resources_and_withdraws_nothing(cloud):
    app, h = cloud
    h.run("cloud")
    before = {u: h.store.record_modified(u) for u in h.store.dataset_uris()}
    app.requests.clear()
    app.put({**demo_records(5)[4], "资源名称": "新的名称五"})
    app.put({**demo_records(9)[8], "资源摘要": "新的摘要。"})
    app.delete(code(30))  # gone from the center: an incremental listing cannot tell, so it stays published
    report = h.run("cloud")
    assert report["status"] == "succeeded", report["message"]
    assert (report["updated"], report["new"], report["withdrawn"]) == (2, 0, 0)
    assert len(app.requests) == 1 and app.requests[0].get("updated_since")
    changed = sorted(u for u in h.store.dataset_uris() if h.store.record_modified(u) != before[u])
    assert changed == sorted(h.uri(channel_dataset_id(code(n))) for n in (5, 9))
    assert h.store.has_dataset(h.uri(channel_dataset_id(code(30))))
    again = h.run("cloud")  # nothing changed since: nothing fetched but an empty page, nothing written
    assert (again["new"], again["updated"], again["withdrawn"]) == (0, 0, 0)
    assert len(app.requests) == 2


def test_full_listing_withdraws_resources_gone_from_the_center(tmp_path):
    app = CloudCenterApp(demo_records(10), tokens=[TOKEN])
    server = WsgiServer(app)
    h = Harness(tmp_path, [{"name": "cloud", "kind": "cloud", "url": server.url,
                            "options": {"incremental": False}}], environ={"WODP_HARVEST__CLOUD_TOKEN": TOKEN})
    try:
        h.run("cloud")
        app.delete(code(4))
        report = h.run("cloud")
        assert (report["withdrawn"], report["unchanged"]) == (1, 9)
        assert h.publisher.tombstones.get(channel_dataset_id(code(4))) is not None
        again = h.run("cloud")  # every page answers 304 to its ETag
        assert again["unchanged"] == 9 and again["conditional_hits"] == 1
    finally:
        h.close()
        server.close()


def test_server_error_mid_paging_changes_nothing_and_the_retry_completes(cloud):
    app, h = cloud
    h.run("cloud")
    digest = h.digest()
    app.put({**demo_records(3)[2], "资源名称": "改过的名称"})
    for n in range(1, 40):                       # a full listing again (changed records span every page)
        app.put({**demo_records(n)[n - 1], "数据量": "9"})
    app.fault = lambda query: 500 if query.get("page") == "2" else None
    report = h.run("cloud")
    assert report["status"] == "failed" and "HTTP 500" in report["message"]
    assert h.digest() == digest and h.store.count_datasets() == 60
    app.fault = None
    retry = h.run("cloud")
    assert retry["status"] == "succeeded" and retry["updated"] == 39


def test_busy_center_is_asked_again(cloud):
    app, h = cloud
    answers = iter([429])
    app.fault = lambda query: next(answers, None)
    report = h.run("cloud")
    assert report["status"] == "succeeded" and report["new"] == 60
    assert any("busy (429)" in line for line in h.jobs.job_log(report["id"]))
