"""The publication gate through every door: /api/validate, quarantine, quality, wodp validate and load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import admin_headers
import rdflib

ROOT = Path(__file__).resolve().parents[1]
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
SH = rdflib.Namespace("http://www.w3.org/ns/shacl#")
RECORD = {
    "资源名称": "武汉市公共停车场信息（测试）", "资源代码": "420100-D017-09999", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}


def dataset_turtle(client, platform, drop=None, index: int = 5) -> tuple[str, bytes]:
    uri = platform.store.dataset_uris()[index]
    g = rdflib.Graph().parse(data=client.get(uri.split("127.0.0.1:8000", 1)[1] + ".ttl").data, format="turtle")
    if drop is not None:
        g.remove((rdflib.URIRef(uri), drop, None))
    return uri, g.serialize(format="turtle").encode()


def test_valid_dataset_conforms(demo_client, demo_platform):
    _, body = dataset_turtle(demo_client, demo_platform)
    answer = demo_client.post("/api/validate", data=body, content_type="text/turtle")
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["conforms"] is True and report["violations"] == 0 and report["datasets"] == 1


def test_missing_description_fails_in_json_turtle_and_html(demo_client, demo_platform):
    uri, body = dataset_turtle(demo_client, demo_platform, drop=DCT.description)
    before = demo_platform.store.count_datasets()
    report = demo_client.post("/api/validate", data=body, content_type="text/turtle").get_json()
    assert report["conforms"] is False
    paths = {(f["focus"], f["path"]) for f in report["findings"] if f["severity"] == "Violation"}
    assert (uri, str(DCT.description)) in paths
    assert all(f["message_zh"] and f["message_en"] for f in report["findings"])
    ttl = demo_client.post("/api/validate", data=body, content_type="text/turtle", headers={"Accept": "text/turtle"})
    g = rdflib.Graph().parse(data=ttl.data, format="turtle")
    reports = list(g.subjects(rdflib.RDF.type, SH.ValidationReport))
    assert len(reports) == 1 and g.value(reports[0], SH.conforms).toPython() is False
    assert (None, SH.resultPath, DCT.description) in g
    page = demo_client.post("/api/validate", data=body, content_type="text/turtle", headers={"Accept": "text/html"})
    assert "does not conform" in page.get_data(as_text=True)
    assert demo_platform.store.count_datasets() == before


def test_record_file_through_a_named_mapping(demo_client):
    data = json.dumps([RECORD], ensure_ascii=False).encode("utf-8")
    answer = demo_client.post("/api/validate?mapping=china-core", data=data, content_type="application/json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = answer.get_json()
    assert report["datasets"] == 1 and report["conforms"] is True
    upload = demo_client.post("/api/validate", data={"mapping": "china-core",
                                                     "file": (__import__("io").BytesIO(data), "records.json")},
                              content_type="multipart/form-data")
    assert upload.status_code == 200 and upload.get_json()["conforms"] is True


@pytest.mark.parametrize("body, content_type, query, status, needle", [
    ("<http://a> <http://b> \"中文\" .".encode("gbk"), "text/turtle", "", 400, "request-body.ttl"),
    (b"<http://a> <http://b> .", "text/turtle", "", 400, "not valid"),
    (b"", "text/turtle", "", 400, "empty"),
    (b"{}", "application/x-unknown", "", 415, "unsupported Content-Type"),
    (b"a,b\n1,2\n", "text/csv", "", 400, "needs ?mapping"),
    (b"a,b\n1,2\n", "text/csv", "?mapping=nope", 400, "nope"),
    (b"<http://a> <http://b> <http://c> .", "text/turtle", "", 400, "no dcat:Dataset"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
     "application/xml", "?mapping=iso19139", 400, "billion laughs"),
    ("标题,描述\n测试,说明\n".encode("gbk")[:-3] + b"\xff\xfe", "text/csv", "?mapping=china-core", 400, "request-body.csv"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(demo_client, demo_platform, body, content_type, query,
                                                        status, needle):
    before = demo_platform.store.generation
    answer = demo_client.post("/api/validate" + query, data=body, content_type=content_type)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert needle.lower() in answer.get_json()["detail"].lower()
    assert demo_platform.store.generation == before


def test_oversized_upload_is_413(demo_client):
    answer = demo_client.post("/api/validate", data=b"#" * (100 * 1024 * 1024), content_type="text/turtle")
    assert answer.status_code == 413
    assert answer.mimetype == "application/problem+json"


def test_unknown_profile_is_400(demo_client, demo_platform):
    _, body = dataset_turtle(demo_client, demo_platform)
    answer = demo_client.post("/api/validate?profile=nope", data=body, content_type="text/turtle")
    assert answer.status_code == 400 and "nope" in answer.get_json()["detail"]


def test_gate_holds_back_an_invalid_version_and_keeps_the_published_one(demo_platform, demo_client):
    uri = demo_platform.store.dataset_uris()[7]
    dataset_id = uri.rsplit("/", 1)[1]
    triples = demo_platform.store.dataset_triples(uri)
    title_before = {t.object.value for t in triples if t.predicate.value == str(DCT.title)}
    broken = [t for t in triples if t.predicate.value not in (str(DCT.description), str(DCT.title))]
    outcome = demo_platform.publisher.publish({uri: broken}, "test")
    assert outcome.published == () and list(outcome.held) == [uri]
    # the published version is untouched and still served
    still = {t.object.value for t in demo_platform.store.dataset_triples(uri) if t.predicate.value == str(DCT.title)}
    assert still == title_before
    assert demo_client.get(f"/datasets/{dataset_id}.ttl").status_code == 200
    # the department can read why
    department = dataset_id.split('.')[1].split('-')[0]
    assert demo_client.get(f"/api/quarantine?department={department}").status_code == 401
    demo_client.environ_base["HTTP_AUTHORIZATION"] = admin_headers(demo_platform)["Authorization"]
    listing = demo_client.get(f"/api/quarantine?department={department}").get_json()
    assert dataset_id in [item["id"] for item in listing["held"]]
    why = demo_client.get(f"/api/quarantine/{dataset_id}").get_json()
    paths = {f["path"] for f in why["report"]["findings"] if f["severity"] == "Violation"}
    assert {str(DCT.description), str(DCT.title)} <= paths
    # a fixed version is published and leaves the quarantine
    outcome = demo_platform.publisher.publish({uri: triples}, "test")
    assert outcome.published == (uri,)
    assert demo_client.get(f"/api/quarantine/{dataset_id}").status_code == 404


def test_quality_is_stored_as_dqv_and_shown(demo_platform, demo_client):
    uri = demo_platform.store.dataset_uris()[3]
    rows = list(demo_platform.store.query(
        "PREFIX dqv: <http://www.w3.org/ns/dqv#> SELECT ?metric ?value WHERE { <%s> dqv:hasQualityMeasurement ?m . "
        "?m dqv:isMeasurementOf ?metric ; dqv:value ?value }" % uri))
    values = {r[0].value.rsplit("#", 1)[1]: float(r[1].value) for r in rows}
    metadata = {"qualityScore", "completeness", "freshness", "conformance"}
    from tabular.checks import CHECKS

    # beside the metadata's quality, the data-quality checks that ran (tabular/: at least the declared formats)
    assert metadata | {"nonMachineReadableDistributions"} <= set(values) <= metadata | {m for m, _ in CHECKS.values()}
    assert 0 <= values["qualityScore"] <= 100 and all(0 <= values[k] <= 1 for k in metadata - {"qualityScore"})
    page = demo_client.get("/datasets/" + uri.rsplit("/", 1)[1], headers={"Accept": "text/html"}).get_data(as_text=True)
    assert f'id="q-qualityScore">{values["qualityScore"]}<' in page


def run_wodp(*args, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_wodp_validate_and_load_exit_codes(tmp_path, demo_client, demo_platform):
    _, good = dataset_turtle(demo_client, demo_platform)
    _, bad = dataset_turtle(demo_client, demo_platform, drop=DCT.description, index=6)
    (tmp_path / "good.ttl").write_bytes(good)
    (tmp_path / "bad.ttl").write_bytes(bad)
    ok = run_wodp("validate", str(tmp_path / "good.ttl"), home=tmp_path / "home")
    assert ok.returncode == 0 and "0 violations" in ok.stdout
    ko = run_wodp("validate", str(tmp_path / "bad.ttl"), home=tmp_path / "home")
    assert ko.returncode == 1 and str(DCT.description) in ko.stdout and "资源摘要" in ko.stdout
    load = run_wodp("load", str(tmp_path / "bad.ttl"), str(tmp_path / "good.ttl"), home=tmp_path / "home")
    assert load.returncode == 3, load.stderr
    answer = json.loads(load.stdout)
    assert answer["put"] == 1 and answer["held"] == 1
    held_uri = next(iter(answer["held_reports"]))
    assert held_uri.endswith(demo_platform.store.dataset_uris()[6].rsplit("/", 1)[1])


def test_department_scores_are_the_mean_of_their_datasets(demo_client, demo_platform):
    scores = {d["department"]: d for d in demo_client.get("/api/quality", headers=admin_headers(demo_platform)).get_json()["departments"]}
    assert sum(d["datasets"] for d in scores.values()) == demo_platform.store.count_datasets()
    rows = demo_platform.store.query(
        "PREFIX dqv: <http://www.w3.org/ns/dqv#> SELECT ?v WHERE { ?d <http://purl.org/dc/terms/publisher> "
        "<https://data.wuhan.gov.cn/def/department/D017> ; dqv:hasQualityMeasurement ?m . ?m dqv:isMeasurementOf "
        "<https://data.wuhan.gov.cn/def/wodp#qualityScore> ; dqv:value ?v }")
    values = [float(r[0].value) for r in rows]
    assert scores["D017"]["datasets"] == len(values)
    assert scores["D017"]["score"] == round(sum(values) / len(values), 1)
    dataset = next(u for u in demo_platform.store.dataset_uris() if "D017-" in u)
    page = demo_client.get("/datasets/" + dataset.rsplit("/", 1)[1], headers={"Accept": "text/html"})
    assert f'id="q-department">{scores["D017"]["score"]}<' in page.get_data(as_text=True)


def test_withdrawn_dataset_answers_410_and_is_kept(demo_platform, demo_client):
    uri = demo_platform.store.dataset_uris()[11]
    dataset_id = uri.rsplit("/", 1)[1]
    triples = demo_platform.store.dataset_triples(uri)
    before = demo_platform.store.count_datasets()
    assert demo_platform.publisher.withdraw([uri], "test") == (uri,)
    assert demo_platform.store.count_datasets() == before - 1
    assert demo_client.get(f"/datasets/{dataset_id}.ttl").status_code == 410
    assert len(demo_platform.tombstones.get(dataset_id).triples) == len(triples)
    # published again, it is no longer a tombstone
    demo_platform.publisher.publish({uri: [t for t in triples]}, "test")
    assert demo_client.get(f"/datasets/{dataset_id}.ttl").status_code == 200
    assert demo_platform.tombstones.get(dataset_id) is None
    assert demo_platform.store.count_datasets() == before
