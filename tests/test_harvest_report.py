"""Harvest and validation reports tell the truth: what was read, mapped, published, held and why, what
could not be placed or recognised, collisions; a held dataset stays held; a source with no dataset fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import admin_headers

from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness

CASES = Path(__file__).parent / "harvest_fixtures" / "inventory_report_cases.json"
OPEN_TYPE = "https://data.wuhan.gov.cn/def/wodp#openType"
TITLE = "http://purl.org/dc/terms/title"


@pytest.fixture
def inventory(tmp_path):
    """An inventory file over HTTP: 5 records, 2 with an unplaced field, an unknown theme and open type,
    two records sharing one 资源代码, one without title and description."""
    source = FakeSource()
    records = json.loads(CASES.read_text("utf-8"))
    source.static("/inv.json", json.dumps(records, ensure_ascii=False).encode(), "application/json")
    harness = Harness(tmp_path, [{"name": "inv", "kind": "inventory", "url": f"{source.url}/inv.json"}])
    yield source, records, harness
    harness.close()
    source.close()


def _reasons(report) -> dict[str, int]:
    counted: dict[str, int] = {}
    for reason in report["held_reasons"]:
        counted[reason["path"]] = counted.get(reason["path"], 0) + reason["datasets"]
    return counted


def _assert_mapping_figures(report) -> None:
    assert (report["records_read"], report["mapped"], report["key_collisions"]) == (5, 5, 1)
    assert report["unplaced_fields"] == {"备注": 2}
    assert report["unknown_values"] == {"资源分类": {"宇宙探索": 1}, "开放类型": {"内部使用": 1}}
    assert report["missing_fields"] == {"title": 1, "description": 1}


def test_first_harvest_counts_everything(inventory):
    source, records, h = inventory
    report = h.run("inv")
    assert report["status"] == "succeeded", report["message"]
    _assert_mapping_figures(report)
    assert (report["new"], report["held"], report["failed"], report["unchanged"]) == (3, 2, 0, 0)
    assert report["published"] == report["changed"] == 3 == h.store.count_datasets()
    assert len(report["changed_datasets"]["created"]) == 3 and report["changed_datasets"]["withdrawn"] == []
    reasons = _reasons(report)
    assert reasons[OPEN_TYPE] == 1 and reasons[TITLE] >= 1      # the unknown open type, the missing title
    assert "5 records read, 5 mapped" in report["message"] and "1 key collisions" in report["message"]
    kinds = {e["kind"] for e in h.jobs.job_errors(report["id"])}
    assert {"unknown-value", "unplaced-field", "key-collision", "validation"} <= kinds
    row = h.jobs.job(report["id"]).as_json()          # the job row carries the same figures
    assert {k: row[k] for k in ("held", "key_collisions", "unknown_values")} == \
        {k: report[k] for k in ("held", "key_collisions", "unknown_values")}


def test_held_dataset_stays_held_when_the_source_is_unchanged(inventory):
    source, records, h = inventory
    first = h.run("inv")
    hits = source.hits_304
    again = h.run("inv")                                # the file answers 304
    assert source.hits_304 == hits + 1 and again["status"] == "succeeded"
    assert (again["unchanged"], again["held"], again["new"], again["updated"]) == (3, 2, 0, 0)
    assert _reasons(again) == _reasons(first)
    _assert_mapping_figures(again)                      # still not placed, still unknown
    still = [e for e in h.jobs.job_errors(again["id"]) if e["kind"] == "validation"]
    assert len(still) == 2 and all(e["message"].startswith("still held") for e in still)
    assert any(OPEN_TYPE in e["message"] for e in still)


def test_held_dataset_stays_held_when_another_record_changes(inventory):
    source, records, h = inventory
    h.run("inv")
    records[0]["资源名称"] = "武汉市公共停车场信息（更新）"
    source.static("/inv.json", json.dumps(records, ensure_ascii=False).encode(), "application/json")
    report = h.run("inv")                               # the file is read and mapped again
    assert (report["updated"], report["unchanged"], report["held"], report["new"]) == (1, 2, 2, 0)
    assert report["changed"] == 1 and len(report["changed_datasets"]["updated"]) == 1
    assert _reasons(report)[OPEN_TYPE] == 1
    _assert_mapping_figures(report)


def test_department_and_admin_read_the_same_figures(inventory):
    from server.app import create_app
    from server.platform import Platform

    source, records, h = inventory
    report = h.run("inv")
    h.close()
    platform = Platform.open(h.settings, start_workers=False)
    try:
        client = create_app(platform=platform).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = admin_headers(platform)["Authorization"]
        served = client.get(f"/api/harvest/jobs/{report['id']}").get_json()
        for key in ("records_read", "mapped", "new", "held", "unplaced_fields", "unknown_values",
                    "key_collisions", "held_reasons", "changed", "changed_datasets"):
            assert served[key] == report[key], key
        listed = client.get("/api/harvest/jobs?source=inv").get_json()["jobs"][0]
        assert listed["held"] == 2 and listed["unknown_values"] == report["unknown_values"]
        held = client.get("/api/quarantine").get_json()
        assert held["total"] == 2
        assert all(item["reasons"] and item["source"] == "inv" for item in held["held"])
        assert {r["path"] for item in held["held"] for r in item["reasons"]} >= {OPEN_TYPE, TITLE}
        assert sum(r["datasets"] for r in held["reasons"] if r["path"] == OPEN_TYPE) == 1
    finally:
        platform.close()


def _warnings(report: dict) -> set:
    return {(k["path"], k["message_en"], k["datasets"], len(k["nodes"])) for k in report["warning_kinds"]}


def test_validate_gives_the_same_figures(inventory, tmp_path, capsys):
    """`wodp validate --mapping` and POST /api/validate count what a harvest of the same file counts."""
    from server.app import create_app
    from server.cli import main
    from server.platform import Platform

    source, records, h = inventory
    harvested = h.run("inv")
    h.close()
    code = main(["validate", str(CASES), "--mapping", "china-core", "--format", "json"])
    [printed] = json.loads(capsys.readouterr().out)
    assert code == 1
    _assert_mapping_figures(printed)
    assert (printed["valid"], printed["held"]) == (harvested["new"], harvested["held"])
    assert _reasons(printed) == _reasons(harvested)
    # the warnings of the datasets a harvest would publish, kind by kind, as the harvest's report counts them
    # (the nodes they name are the same nodes, under the upload's dataset identifiers instead of the source's)
    assert printed["warning_kinds"] and _warnings(printed) == _warnings(harvested)
    main(["validate", str(CASES), "--mapping", "china-core"])
    text = capsys.readouterr().out
    assert "records read 5, mapped 5, valid 3, held 2" in text and "备注 (2)" in text and "'内部使用' (1)" in text
    kind = printed["warning_kinds"][0]
    assert f"warned    {kind['path']}: {kind['message_en']} ({kind['datasets']} datasets)" in text
    platform = Platform.open(h.settings, start_workers=False)
    try:
        client = create_app(platform=platform).test_client()
        answer = client.post("/api/validate?mapping=china-core", data=CASES.read_bytes(),
                             content_type="application/json").get_json()
        _assert_mapping_figures(answer)
        assert (answer["valid"], answer["held"], answer["datasets"]) == (3, 2, 5)
        assert _warnings(answer) == _warnings(harvested)
        page = client.post("/api/validate?mapping=china-core", data=CASES.read_bytes(),
                           content_type="application/json", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert "unplaced fields: 备注 (2)" in page and "内部使用 (1)" in page and "held: 2" in page
        assert f"{kind['message_zh']} ({kind['datasets']})" in page
    finally:
        platform.close()


TURTLE_EMPTY = b"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
<http://example.org/catalog> a dcat:Catalog ; dct:title "An empty catalogue"@en ."""


def test_document_without_dataset_fails_the_job(tmp_path):
    source = FakeSource()
    source.static("/empty.ttl", TURTLE_EMPTY, "text/turtle")
    source.static("/none.json", b"[]", "application/json")
    h = Harness(tmp_path, [{"name": "eu", "kind": "dcat", "url": f"{source.url}/empty.ttl"},
                           {"name": "inv", "kind": "inventory", "url": f"{source.url}/none.json"}])
    try:
        for name, path in (("eu", "/empty.ttl"), ("inv", "/none.json")):
            report = h.run(name)
            assert report["status"] == "failed" and report["new"] == 0, report
            assert f"{source.url}{path}" in report["message"]
    finally:
        h.close()
        source.close()


def test_source_that_became_empty_keeps_its_datasets_unless_allowed(tmp_path, inventory):
    source, records, h = inventory
    assert h.run("inv")["new"] == 3
    source.static("/inv.json", b"[]", "application/json")
    refused = h.run("inv")
    assert refused["status"] == "failed" and refused["withdrawn"] == 0
    assert f"{source.url}/inv.json" in refused["message"] and "allow_empty" in refused["message"]
    assert h.store.count_datasets() == 3


def test_held_dataset_gone_from_the_source_leaves_the_quarantine(inventory):
    source, records, h = inventory
    h.run("inv")
    untitled = records.pop()                          # the record without title and description
    source.static("/inv.json", json.dumps(records, ensure_ascii=False).encode(), "application/json")
    report = h.run("inv")
    assert (report["withdrawn"], report["held"], report["unchanged"]) == (1, 1, 3)
    assert report["changed_datasets"]["withdrawn"] == [f"wuhan.{untitled['资源代码']}"]
    assert len(h.publisher.quarantine.list()) == 1                 # only the dataset with the unknown open type
    assert h.jobs.entry(h.uri(f"wuhan.{untitled['资源代码']}")).state == "withdrawn"
