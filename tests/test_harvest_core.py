"""Harvest jobs end to end against a local CKAN-style source: change detection, withdrawal, faults, provenance."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import admin_headers

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvest_fixtures.harness import Harness

PROV = "http://www.w3.org/ns/prov#"


@pytest.fixture
def ckan(tmp_path, database_url):
    source = FakeSource()
    fake = FakeCkan(source, [ckan_package(n) for n in range(60)])
    environ = {"WODP_DATABASE__URL": database_url, "WODP_DATABASE__AUTO_MIGRATE": "true"} if database_url else {}
    harness = Harness(tmp_path, [{"name": "ck", "kind": "ckan", "url": source.url}], environ=environ)
    yield source, fake, harness
    harness.close()
    source.close()


def test_first_harvest_publishes_every_package_with_provenance(ckan):
    source, fake, h = ckan
    report = h.run("ck")
    assert report["status"] == "succeeded" and report["new"] == 60 and report["failed"] == 0
    assert h.store.count_datasets() == 60
    uri = h.uri("ck.pkg-00007")
    triples = {(t.predicate.value, t.object.value) for t in h.store.dataset_triples(uri)}
    job = f"{h.settings.base_uri}/harvest/jobs/{report['id']}"
    assert (PROV + "wasGeneratedBy", job) in triples
    assert ("https://data.wuhan.gov.cn/def/wodp#source", "ck") in triples
    [entry] = h.jobs.history(uri)
    assert entry["action"] == "created" and entry["job"] == report["id"] and len(entry["hash"]) == 64
    assert any("60 packages" in line or "of 60" in line for line in h.jobs.job_log(report["id"]))


def test_unchanged_source_does_no_work(ckan):
    source, fake, h = ckan
    h.run("ck")
    generation, digest, hits = h.store.generation, h.digest(), source.hits_304
    last_change = h.changes.last_seq()
    assert last_change == 60  # the first harvest created 60 datasets
    report = h.run("ck")
    assert report["status"] == "succeeded" and report["unchanged"] == 60
    assert report["new"] == report["updated"] == report["withdrawn"] == 0
    assert h.store.generation == generation and h.digest() == digest
    assert source.hits_304 - hits == 3   # every page (25 + 25 + 10) answered 304
    assert h.changes.page(after=last_change)[0] == []  # /changes has nothing new


def test_only_changed_datasets_are_rewritten_and_gone_ones_withdrawn(ckan):
    source, fake, h = ckan
    h.run("ck")
    fake.packages[5]["title"] = "A new title"
    gone = fake.packages.pop(9)
    before = {u: h.store.record_modified(u) for u in h.store.dataset_uris()}
    report = h.run("ck")
    assert (report["updated"], report["withdrawn"], report["unchanged"], report["new"]) == (1, 1, 58, 0)
    changed = [u for u in h.store.dataset_uris() if h.store.record_modified(u) != before[u]]
    assert changed == [h.uri("ck.pkg-00005")]
    withdrawn = h.uri("ck." + gone["id"])
    assert not h.store.has_dataset(withdrawn)
    assert h.publisher.tombstones.get("ck." + gone["id"]) is not None     # kept, answering 410
    assert [e["action"] for e in h.jobs.history(withdrawn)] == ["created", "withdrawn"]


@pytest.mark.parametrize("fault,error", [
    ("500", "HTTP 500"), ("timeout", "no answer in time"), ("die", "SourceUnavailableError"),
    ("malformed", "not valid JSON"),
])
def test_failing_source_changes_nothing(ckan, fault, error):
    source, fake, h = ckan
    h.run("ck")
    digest = h.digest()
    fake.packages[3]["title"] = "Changed"
    fake.packages.pop(20)
    source.fault_when = lambda path, query: fault if query.get("start") == "25" else None
    report = h.run("ck")
    assert report["status"] == "failed" and error in report["message"]
    assert "nothing published from ck was changed" in report["message"]
    assert h.digest() == digest and h.store.count_datasets() == 60
    source.fault_when = None
    retry = h.run("ck")
    assert retry["status"] == "succeeded" and (retry["updated"], retry["withdrawn"]) == (1, 1)


def test_source_changing_between_pages_fails_the_job(ckan):
    source, fake, h = ckan
    h.run("ck")
    digest = h.digest()

    def insert(start):
        if start == 0:
            fake.packages.append(ckan_package(999))
    fake.on_page = insert
    report = h.run("ck")
    assert report["status"] == "failed" and "SourceChangedError" in report["message"]
    assert h.digest() == digest


def test_stale_running_job_is_interrupted_and_retried(ckan):
    source, fake, h = ckan
    job = h.jobs.start("ck")
    h.jobs._run("UPDATE harvest_jobs SET pid = 999999999, heartbeat = heartbeat - 1000 WHERE id = :job", {"job": job})
    report = h.run("ck")
    assert h.jobs.job(job).status == "interrupted" and "interrupted" in h.jobs.job(job).message
    assert report["retry_of"] == job and report["status"] == "succeeded" and report["new"] == 60


def test_precedence_push_over_cloud_over_file(tmp_path):
    """The same 资源代码 by file and by push: the push wins, a later file harvest cannot overwrite it."""
    import pyoxigraph as ox

    from harvesters.provenance import channel_dataset_id

    h = Harness(tmp_path, [{"name": "files", "kind": "inventory", "path": "drop"}])
    try:
        uri = h.uri(channel_dataset_id("420100-D017-09001"))
        title = ox.NamedNode("http://purl.org/dc/terms/title")
        triples = [t for t in _inventory_graph(h, uri)]
        pushed = [t for t in triples if t.predicate != title] + [
            ox.Triple(ox.NamedNode(uri), title, ox.Literal("推送的标题", language="zh-CN"))]
        outcome = h.publisher.publish({uri: pushed}, "push", "wuhan")
        assert outcome.published == (uri,)
        outcome = h.publisher.publish({uri: triples}, "files", "wuhan")
        assert outcome.superseded == (uri,) and not outcome.published
        assert any(t.object.value == "推送的标题" for t in h.store.dataset_triples(uri) if t.predicate == title)
        assert h.harvesting.ledger.rank("push") < h.harvesting.ledger.rank("files")
    finally:
        h.close()


def _inventory_graph(h, uri):
    from pathlib import Path

    from harvesters.base import id_space
    from mappings import apply_mapping, load_mapping, read_records

    data = (Path(__file__).parent / "harvest_fixtures" / "inventory_utf8_header.json").read_bytes()
    mapping = load_mapping("china-core")
    records = read_records(data, "inv.json", id_space(h.settings.harvest.sources[0]), mapping=mapping)
    return apply_mapping(records, mapping, h.settings.base_uri).graphs[uri]


def test_jobs_and_reports_are_served(ckan):
    """A job's report is readable over HTTP: counts, errors, log; bad requests are clear."""
    from server.app import create_app
    from server.platform import Platform

    source, fake, h = ckan
    report = h.run("ck")
    h.close()
    platform = Platform.open(h.settings, start_workers=False)
    try:
        client = create_app(platform=platform).test_client()
        assert client.get("/api/harvest/jobs?source=ck").status_code == 401  # source addresses: staff only
        client.environ_base["HTTP_AUTHORIZATION"] = admin_headers(platform)["Authorization"]
        listing = client.get("/api/harvest/jobs?source=ck").get_json()["jobs"]
        assert [j["id"] for j in listing] == [report["id"]] and listing[0]["new"] == 60
        one = client.get(f"/api/harvest/jobs/{report['id']}").get_json()
        assert one["status"] == "succeeded" and one["log"]
        # the per-record errors are the mapping problems the report counts (these packages have no open type)
        kinds = Counter(e["kind"] for e in one["errors"])
        assert kinds == Counter(one["problems"]) and one["missing_fields"]["open_type"] == 60
        assert one["records_read"] == one["mapped"] == one["published"] == one["changed"] == 60
        assert client.get("/api/harvest/sources").get_json()["sources"][0]["latest_job"]["id"] == report["id"]
        assert client.get("/api/harvest/jobs/999999").status_code == 404
        assert client.get("/api/harvest/jobs?limit=0").status_code == 400
    finally:
        platform.close()
