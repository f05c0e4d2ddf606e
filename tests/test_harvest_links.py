"""Website content monitoring: every distribution URL checked against a local HTTP server."""

from __future__ import annotations

import pytest

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvest_fixtures.harness import Harness

AVAILABILITY = "https://data.wuhan.gov.cn/def/wodp#linkAvailability"
FILES = {"a.csv": b"id,name\n1,one\n", "b.csv": b"id,name\n2,two\n", "gone.csv": None, "slow.csv": b"x\n"}


@pytest.fixture
def site(tmp_path, database_url):
    files = FakeSource()
    for name, body in FILES.items():
        if body is not None:
            files.static(f"/files/{name}", body, "text/csv")
    files.faults["/files/slow.csv"] = "timeout"       # answers after 3 s; the check waits 1 s
    catalogue = FakeSource()
    packages = []
    for n, name in enumerate(FILES):
        p = ckan_package(n)
        p["resources"][0]["url"] = f"{files.url}/files/{name}"
        packages.append(p)
    FakeCkan(catalogue, packages)
    environ = {"WODP_DATABASE__URL": database_url, "WODP_DATABASE__AUTO_MIGRATE": "true"} if database_url else {}
    h = Harness(tmp_path, [{"name": "ck", "kind": "ckan", "url": catalogue.url},
                           {"name": "links", "kind": "links", "options": {"sources": ["ck"]}}], environ=environ)
    assert h.run("ck")["new"] == 4
    yield files, h
    h.close()
    files.close()
    catalogue.close()


def availability(h, n: int) -> float | None:
    uri = h.uri(f"ck.pkg-{n:05d}")
    node = f"{uri}#quality-linkAvailability"
    values = [t.object.value for t in h.store.dataset_triples(uri)
              if t.subject.value == node and t.predicate.value.endswith("#value")]
    return float(values[0]) if values else None


def test_checks_every_link_marks_broken_ones_and_publishes_availability(site):
    files, h = site
    assert availability(h, 0) is None                 # not measured before the first check
    report = h.run("links")
    assert report["status"] == "succeeded", report["message"]
    assert (report["checked"], report["broken"], report["datasets"]) == (4, 2, 4)
    assert report["failed"] == 2 and report["updated"] == 4 and report["changed_files"] == []
    errors = {e["origin"].rsplit("/", 1)[-1]: e["message"] for e in h.jobs.job_errors(report["id"])}
    assert errors == {"gone.csv": "HTTP 404", "slow.csv": errors["slow.csv"]}
    assert "no answer in time" in errors["slow.csv"]
    links = h.harvesting.links
    a = links.get(f"{files.url}/files/a.csv")
    assert (a.status, a.content_type, a.size, a.broken) == (200, "text/csv", len(FILES["a.csv"]), False)
    assert a.etag and len(a.hash) == 64
    assert {b["url"].rsplit("/", 1)[-1] for b in links.broken()} == {"gone.csv", "slow.csv"}
    assert (availability(h, 0), availability(h, 2), availability(h, 3)) == (1.0, 0.0, 0.0)
    # a publication's batch reads them at once (before_assess): the same as one dataset at a time
    uris = [h.uri(f"ck.pkg-{n:05d}") for n in range(4)] + ["https://example.org/never-checked"]
    assert links.statuses_of(uris) == {u: links.statuses(u) for u in uris}
    assert links.counts_of(uris) == {u: links.counts(u) for u in uris}
    assert [links.counts(u) for u in uris] == [(1, 1), (1, 1), (0, 1), (0, 1), None]
    entry = h.jobs.entry(h.uri("ck.pkg-00002"))
    assert entry.source == "ck" and entry.state == "published"   # the owner stays the harvest source


def test_changed_file_is_reported_and_unchanged_ones_answer_304(site):
    files, h = site
    h.run("links")
    generation, hits = h.store.generation, files.hits_304
    files.static("/files/b.csv", b"id,name\n2,two\n3,three\n", "text/csv")
    report = h.run("links")
    assert report["changed_files"] == [f"{files.url}/files/b.csv"]
    assert files.hits_304 - hits == 1                 # a.csv answered 304 to its ETag; b.csv has a new one
    assert report["updated"] == 0 and h.store.generation == generation   # availability unchanged: no rewrite
    assert any("changed: " in line and "b.csv" in line for line in h.jobs.job_log(report["id"]))


def test_repaired_link_is_published_again(site):
    files, h = site
    h.run("links")
    files.static("/files/gone.csv", b"back\n", "text/csv")
    report = h.run("links")
    assert (report["broken"], report["updated"]) == (1, 1)
    assert availability(h, 2) == 1.0



def test_a_later_publication_keeps_the_link_availability(site):
    files, h = site
    h.run("links")
    uri = h.uri("ck.pkg-00003")
    before = h.store.record_modified(uri)
    h.publisher.publish({uri: h.store.dataset_triples(uri)}, "ck", "dcat-ap-3")  # any later publication
    assert h.store.record_modified(uri) != before
    assert availability(h, 3) == 0.0 and availability(h, 0) == 1.0   # the quality hook looked the counts up
