"""Each harvester kind against a local HTTP source serving recorded real responses and our own fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import shared_path
from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness

FIXTURES = Path(__file__).parent / "harvest_fixtures"
HYDRA = "http://www.w3.org/ns/hydra/core#"
COLUMNS = ["资源代码", "资源名称", "资源提供方", "资源摘要", "资源分类", "开放类型", "更新周期", "发布日期",
           "更新日期", "资源格式", "关键字", "联系方式", "数据量"]


@pytest.fixture
def source():
    fake = FakeSource()
    yield fake
    fake.close()


def interop(name: str) -> bytes:
    return shared_path("data", "interop", name).read_bytes()


def test_ckan_recorded_package_search(tmp_path, source):
    doc = json.loads(interop("ckan_package_search_data_birmingham_gov_uk.json"))
    doc["result"]["count"] = len(doc["result"]["results"])  # the recorded first page is the whole listing here
    source.static("/api/3/action/package_search", json.dumps(doc).encode(), "application/json")
    h = Harness(tmp_path, [{"name": "birmingham", "kind": "ckan", "url": source.url, "options": {"rows": 100}}])
    try:
        report = h.run("birmingham")
        assert report["status"] == "succeeded" and report["new"] == 10 and report["failed"] == 0
        uri = h.uri("birmingham.cf552d08-cee9-43bf-8c0f-3196a9311799")
        assert h.store.has_dataset(uri)
        assert "rows=100" in source.requests[0] and "start=0" in source.requests[0]
    finally:
        h.close()


def _turtle_page(body: bytes, paging: str) -> bytes:
    return body + b"\n@prefix hydra: <" + HYDRA.encode() + b"> .\n" + paging.encode()


def _rdfxml_page(body: bytes, paging: str) -> bytes:
    return body.replace(b"</rdf:RDF>", paging.encode() + b"\n</rdf:RDF>")


def test_dcat_feed_follows_both_hydra_paging_forms(tmp_path, source):
    u = source.url
    page1 = _rdfxml_page(interop("ckanext-dcat_catalog_example.rdf"), (
        f'<rdf:Description xmlns:hydra="{HYDRA}" rdf:about="{u}/feed.rdf">'
        f'<rdf:type rdf:resource="{HYDRA}PagedCollection"/><hydra:totalItems>5</hydra:totalItems>'
        f'<hydra:nextPage>{u}/page2.ttl</hydra:nextPage></rdf:Description>'))
    page2 = _turtle_page(interop("ckanext-dcat_dataset_gob_es_madrid.ttl"), (
        f'<{u}/catalog> hydra:view <{u}/page2.ttl> . <{u}/page2.ttl> a hydra:PartialCollectionView ; '
        f'hydra:totalItems 5 ; hydra:next <{u}/page3.rdf> .'))
    page3 = _rdfxml_page(interop("ckanext-dcat_dataset_gov_de_rostock.rdf"), (
        f'<rdf:Description xmlns:hydra="{HYDRA}" rdf:about="{u}/page3.rdf"><hydra:totalItems>5</hydra:totalItems>'
        f'<hydra:next rdf:resource="{u}/page4.rdf"/></rdf:Description>'))
    page4 = interop("geodcatap_datara_geonetwork_udata.rdf")
    for path, body in (("/feed.rdf", page1), ("/page2.ttl", page2), ("/page3.rdf", page3), ("/page4.rdf", page4)):
        source.static(path, body, "text/turtle" if path.endswith("ttl") else "application/rdf+xml")
    h = Harness(tmp_path, [{"name": "eu", "kind": "dcat", "url": f"{u}/feed.rdf"}])
    try:
        report = h.run("eu")
        assert report["status"] == "succeeded"
        assert report["new"] + report["held"] == 5            # every dataset of the four pages reached the gate
        assert report["records_read"] == report["mapped"] == 5 and report["failed"] == 0
        assert report["new"] >= 1 and h.store.count_datasets() == report["new"]
        errors = h.jobs.job_errors(report["id"])
        held = [e for e in errors if e["kind"] == "validation"]
        assert len(held) == report["held"] and all("violations" in e["message"] for e in held)
        assert all(e["kind"] == "record" for e in errors if e["kind"] != "validation")  # forms read, reported
        assert {r.split("?")[0] for r in source.requests} == {"/feed.rdf", "/page2.ttl", "/page3.rdf", "/page4.rdf"}
        again = h.run("eu")
        assert again["conditional_hits"] == 4 and source.hits_304 == 4
        # the datasets held back stay held (with their reasons), not unchanged
        assert (again["unchanged"], again["held"]) == (report["new"], report["held"])
        assert sum(r["datasets"] for r in again["held_reasons"]) >= again["held"]
    finally:
        h.close()


def test_csw_getrecords_iso19139_paged(tmp_path, source):
    pages = [interop("csw_getrecords_iso19139_inspire_OWSLib.xml"),
             interop("csw_getrecords_iso19139_geonetwork_fr_udata_p1.xml")]

    def getrecords(query, headers):
        page = 0 if query["startPosition"] == "1" else 1
        body = pages[page].replace(b'numberOfRecordsMatched="216"', b'numberOfRecordsMatched="4"')
        body = body.replace(b'nextRecord="85"', b'nextRecord="3"' if page == 0 else b'nextRecord="0"')
        import re
        body = re.sub(rb'numberOfRecordsMatched="\d+"', b'numberOfRecordsMatched="4"', body, count=1)
        if page == 1:
            body = re.sub(rb'nextRecord="\d+"', b'nextRecord="0"', body, count=1)
        return 200, {"Content-Type": "application/xml"}, body

    source.routes["/csw"] = getrecords
    h = Harness(tmp_path, [{"name": "geo", "kind": "csw", "url": source.url + "/csw",
                            "options": {"max_records": 2}}])
    try:
        report = h.run("geo")
        assert report["status"] == "succeeded" and report["new"] == 4, report
        assert h.store.has_dataset(h.uri("geo.eeae2de7-0a09-4b69-b7a0-0b6b20903fd5"))
        assert [r for r in source.requests if "startPosition=3" in r]
    finally:
        h.close()


def test_gbk_inventory_without_header_over_http(tmp_path, source):
    source.static("/inventory.csv", (FIXTURES / "inventory_gbk_noheader.csv").read_bytes(), "text/csv")
    h = Harness(tmp_path, [{"name": "d017-files", "kind": "inventory", "url": source.url + "/inventory.csv",
                            "options": {"columns": COLUMNS}}])
    try:
        report = h.run("d017-files")
        assert report["status"] == "succeeded" and report["new"] == 3, report
        uri = h.uri("wuhan.420100-D017-09002")                  # department channels: ids by 资源代码
        titles = [t.object.value for t in h.store.dataset_triples(uri) if t.predicate.value.endswith("/title")]
        assert "武汉市公交线路（２０２４）" in titles              # carried exactly: no NFKC of titles (issue 9)
        dates = [t.object.value for t in h.store.dataset_triples(uri) if t.predicate.value.endswith("/issued")]
        assert "2020-01-02" in dates                             # 2020年1月2日
        again = h.run("d017-files")
        assert again["unchanged"] == 3 and again["conditional_hits"] == 1 and source.hits_304 == 1
    finally:
        h.close()


def test_drop_folder_inventory(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(FIXTURES / "inventory_utf8_header.json", drop / "d017.json")
    h = Harness(tmp_path, [{"name": "drop", "kind": "inventory", "path": "drop"}])
    try:
        assert h.run("drop")["new"] == 1
        generation = h.store.generation
        assert h.run("drop")["unchanged"] == 1 and h.store.generation == generation
        (drop / "d017.json").unlink()
        # an emptied folder is refused (docs/harvesting.md): nothing is withdrawn unless the source allows it
        refused = h.run("drop")
        assert refused["status"] == "failed" and f"no dataset found in {drop}" in refused["message"]
        assert "allow_empty" in refused["message"] and h.store.count_datasets() == 1
    finally:
        h.close()
    h = Harness(tmp_path, [{"name": "drop", "kind": "inventory", "path": "drop", "options": {"allow_empty": True}}])
    try:
        emptied = h.run("drop")
        assert emptied["status"] == "succeeded" and emptied["withdrawn"] == 1 and h.store.count_datasets() == 0
    finally:
        h.close()


@pytest.mark.parametrize("given, profile", [
    ({"kind": "dcat"}, "external"), ({"kind": "ckan"}, "external"), ({"kind": "csw"}, "external"),
    ({"kind": "dcat", "profile": "dcat-ap-3"}, "dcat-ap-3"), ({"kind": "inventory"}, "wuhan"),
    ({"kind": "inventory", "channel": "external"}, "external"), ({"kind": "cloud"}, "wuhan"),
    ({"kind": "dcat", "channel": "cloud"}, "dcat-ap-3")])
def test_a_source_reading_another_catalogue_is_validated_with_the_external_profile(given, profile):
    """Channel external (dcat, ckan, csw by default): the external profile, unless the source names one."""
    from config.settings import HarvestSource
    from harvesters.base import profile_of

    assert profile_of(HarvestSource(name="s", url="http://x.example/", **given)) == profile
