"""Hardening at the gate and around it: text XML cannot carry and over-long literals refused with a report, a
bad record in an old store neither stops start-up nor CSW, ownership of ids, secrets files 0600, bounded log
lines, `wodp remove` whatever the base URI."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness
from tests.conftest import admin_headers, free_port

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"
TITLE = "http://purl.org/dc/terms/title"
RECORD = {
    "资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-31001", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
D012_NAME = "武汉市人力资源和社会保障局"


@pytest.fixture(scope="module")
def gate_platform(tmp_path_factory):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    home = tmp_path_factory.mktemp("gate-home")
    settings = load_settings({}, overrides={}, home=home)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def client(gate_platform):
    from server.app import create_app

    app = create_app(platform=gate_platform)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def tokens(gate_platform):
    return {d: gate_platform.accounts.create(d)[1] for d in ("D017", "D012")}


def push(client, token: str, record, *, raw: bytes | None = None, content_type: str = "application/json"):
    body = raw if raw is not None else json.dumps(record, ensure_ascii=False).encode("utf-8")
    return client.post("/api/datasets", data=body, content_type=content_type,
                       headers={"Authorization": f"Bearer {token}"})


def findings(answer) -> list[dict]:
    return [f for held in answer.get_json()["held"] for f in held["report"]["findings"]]


# -- text XML cannot carry -------------------------------------------------------------------------
def test_control_character_is_refused_naming_property_and_position(client, gate_platform, tokens):
    record = RECORD | {"资源代码": "420100-D017-31002", "资源名称": "停车场\u0001信息"}
    answer = push(client, tokens["D017"], record)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    [found] = findings(answer)
    assert found["path"] == TITLE
    assert "dct:title" in found["message_en"] and "U+0001" in found["message_en"]
    assert "at character 4" in found["message_en"] and "wuhan.420100-D017-31002" in found["message_en"]
    assert found["value"] == "停车场\\u0001信息"  # shown escaped
    assert client.get("/datasets/wuhan.420100-D017-31002.ttl").status_code == 404  # never stored
    held = gate_platform.quarantine.get("wuhan.420100-D017-31002")
    assert held is not None and held.triples == []  # the report is kept, the text is not
    kept = b"".join(p.read_bytes() for p in (gate_platform.settings.home / "quarantine").iterdir())
    assert b"\x01" not in kept
    report = client.get("/api/datasets/wuhan.420100-D017-31002/report",
                        headers={"Authorization": f"Bearer {tokens['D017']}"}).get_json()
    assert report["held"] is True and "U+0001" in report["report"]["findings"][0]["message_en"]


@pytest.mark.parametrize("char", ["\u0000", "\u0008", "\u000b", "\u001f", "\ufffe", "\uffff"])
def test_every_kind_of_unfit_character_is_refused(client, tokens, char):
    record = RECORD | {"资源代码": "420100-D017-31003", "资源摘要": "摘" + char + "要"}
    answer = push(client, tokens["D017"], record)
    assert answer.status_code == 422
    assert f"U+{ord(char):04X}" in findings(answer)[0]["message_en"]


def test_tab_newline_and_carriage_return_pass(client, tokens):
    record = RECORD | {"资源代码": "420100-D017-31004", "资源摘要": "第一行\n第二行\r\n\t缩进"}
    assert push(client, tokens["D017"], record).status_code == 201


def test_lone_surrogate_is_422_naming_the_field_in_push_and_validate(client, tokens):
    raw = json.dumps(RECORD | {"资源代码": "420100-D017-31005", "资源名称": "停车\ud800场"}).encode("ascii")
    answer = push(client, tokens["D017"], None, raw=raw)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    detail = answer.get_json()["detail"]
    assert "资源名称" in detail and "U+D800" in detail and "character 3" in detail
    checked = client.post("/api/validate?mapping=china-core", data=raw, content_type="application/json")
    assert checked.status_code == 422 and "资源名称" in checked.get_json()["detail"]


def test_rdf_push_with_a_control_character_is_refused(client, tokens):
    uri = f"{BASE}/datasets/wuhan.420100-D017-31006"
    turtle = (f'<{uri}> a <http://www.w3.org/ns/dcat#Dataset> ; <{TITLE}> "标题\\u0007"@zh-CN ; '
              "<http://purl.org/dc/terms/publisher> <https://data.wuhan.gov.cn/def/department/D017> .")
    answer = push(client, tokens["D017"], None, raw=turtle.encode(), content_type="text/turtle")
    assert answer.status_code == 422 and "U+0007" in findings(answer)[0]["message_en"]
    iri = turtle.replace("标题\\u0007", "标题").replace(f"<{uri}> a", f"<{uri}> <http://www.w3.org/ns/dcat#"
                                                                   "landingPage> <http://x.cn/\\u0001> ; a")
    answer = push(client, tokens["D017"], None, raw=iri.encode(), content_type="text/turtle")
    assert answer.status_code == 400 and "IRI" in answer.get_json()["detail"]  # the parser refuses it


def test_validate_reports_what_the_gate_refuses(client):
    record = RECORD | {"资源名称": "停车场\u0001信息"}
    body = json.dumps(record, ensure_ascii=False).encode()
    answer = client.post("/api/validate?mapping=china-core", data=body, content_type="application/json")
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["conforms"] is False and report["held"] == 1
    assert any(f["path"] == TITLE and "U+0001" in f["message_en"] for f in report["findings"])


# -- literal length --------------------------------------------------------------------------------
def test_long_title_and_description_are_refused_with_length_and_limit(client, gate_platform, tokens):
    record = RECORD | {"资源代码": "420100-D017-31007", "资源名称": "长" * 1500}
    answer = push(client, tokens["D017"], record)
    assert answer.status_code == 422
    [found] = findings(answer)
    assert found["path"] == TITLE
    assert "1,500 characters" in found["message_en"] and "at most 1,000" in found["message_en"]
    assert "gate.literal_limits" in found["message_en"] and len(found["value"]) < 100
    record = RECORD | {"资源代码": "420100-D017-31007", "资源摘要": "摘" * 25_000}
    answer = push(client, tokens["D017"], record)
    assert answer.status_code == 422
    message = findings(answer)[0]["message_en"]
    assert "dct:description has 25,000 characters" in message and "gate.max_literal_chars" in message
    assert client.get("/datasets/wuhan.420100-D017-31007.ttl").status_code == 404


def test_long_iri_is_refused(client, tokens):
    record = RECORD | {"资源代码": "420100-D017-31008", "详情页网址": "https://data.wuhan.gov.cn/" + "a" * 9000}
    answer = push(client, tokens["D017"], record)
    assert answer.status_code == 422
    assert "gate.max_iri_chars" in findings(answer)[0]["message_en"]


def test_limits_come_from_settings_by_prefixed_name_or_iri(settings_factory):
    from config.settings import SettingsError
    from publish.screen import TextLimits, screen_graph
    import pyoxigraph as ox

    settings = settings_factory(gate={"max_literal_chars": 100, "literal_limits": {
        "dct:title": 10, "http://purl.org/dc/terms/description": 50}})
    limits = TextLimits.from_settings(settings.gate)
    node = ox.NamedNode(f"{BASE}/datasets/x.y")
    triples = [ox.Triple(node, ox.NamedNode(TITLE), ox.Literal("t" * 11)),
               ox.Triple(node, ox.NamedNode("http://purl.org/dc/terms/description"), ox.Literal("d" * 50)),
               ox.Triple(node, ox.NamedNode("http://www.w3.org/ns/dcat#keyword"), ox.Literal("k" * 101))]
    found = screen_graph(str(node.value), triples, limits)
    assert [(f.path.rsplit("/", 1)[-1].rsplit("#", 1)[-1], f.constraint.rsplit("#", 1)[-1]) for f in found] == [
        ("title", "MaxLengthConstraintComponent"), ("keyword", "MaxLengthConstraintComponent")]
    with pytest.raises(SettingsError, match="gate.literal_limits"):
        TextLimits.from_settings(settings_factory(gate={"literal_limits": {"nope:title": 5}}).gate)


# -- harvest and wodp load go through the same gate ------------------------------------------------
def test_harvest_reports_the_refused_record_as_held(tmp_path):
    source = FakeSource()
    records = [RECORD, RECORD | {"资源代码": "420100-D017-31010", "资源名称": "停车\u0002场"}]
    source.static("/inv.json", json.dumps(records, ensure_ascii=False).encode(), "application/json")
    harness = Harness(tmp_path, [{"name": "inv", "kind": "inventory", "url": f"{source.url}/inv.json"}])
    try:
        report = harness.run("inv")
        assert report["status"] == "succeeded", report["message"]
        assert (report["new"], report["held"]) == (1, 1)
        errors = [e for e in harness.jobs.job_errors(report["id"]) if e["kind"] == "validation"]
        assert len(errors) == 1 and TITLE in errors[0]["message"] and "U+0002" in errors[0]["message"]
        again = harness.run("inv")  # unchanged: still held, with its reason
        assert again["held"] == 1
        errors = [e for e in harness.jobs.job_errors(again["id"]) if e["kind"] == "validation"]
        assert "U+0002" in errors[0]["message"]
    finally:
        harness.close()
        source.close()


def wodp(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    environ.update(WODP_HOME=str(home), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300)


def _demo_turtle(tmp_path: Path, base: str, count: int = 2) -> tuple[Path, list]:
    import pyoxigraph as ox

    from demo.generator import build_demo_catalog

    datasets = build_demo_catalog(base, 7, count, 0).datasets
    path = tmp_path / "datasets.nq"
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(d.uri)) for d in datasets for t in d.triples]
    path.write_bytes(ox.serialize(quads, format=ox.RdfFormat.N_QUADS))
    return path, datasets


def test_wodp_load_refuses_a_control_character(tmp_path):
    import pyoxigraph as ox

    path, datasets = _demo_turtle(tmp_path, "http://127.0.0.1:8000", 1)
    quads = list(ox.parse(path.read_bytes(), ox.RdfFormat.N_QUADS))
    bad = [ox.Quad(q.subject, q.predicate, ox.Literal("坏\u0001标题", language="zh-CN"), q.graph_name)
           if q.predicate.value == TITLE and q.subject.value == datasets[0].uri else q for q in quads]
    path.write_bytes(ox.serialize(bad, format=ox.RdfFormat.N_QUADS))
    loaded = wodp(tmp_path / "home", "load", str(path))
    assert loaded.returncode == 3, loaded.stderr
    answer = json.loads(loaded.stdout)
    assert answer["put"] == 0 and answer["held"] == 1
    [report] = answer["held_reports"].values()
    assert report["findings"][0]["path"] == TITLE and "U+0001" in report["findings"][0]["message_en"]


# -- a bad record in an old store: start-up, CSW and the report -------------------------------------
def _get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_starts_and_reports_a_bad_record_an_old_store_holds(tmp_path):
    import pyoxigraph as ox

    from sparql.store import open_store

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    _, datasets = _demo_turtle(tmp_path, base, 3)
    bad_uri = datasets[0].uri
    graphs = {d.uri: list(d.triples) for d in datasets}
    graphs[bad_uri] = [ox.Triple(t.subject, t.predicate, ox.Literal("坏" * 30_000 + "\u0001", language="zh-CN"))
                       if t.predicate.value == TITLE and t.subject.value == bad_uri else t for t in graphs[bad_uri]]
    store = open_store(home / "store")  # straight into the store, past the gate, as an old store would hold
    store.put_datasets(graphs)
    store.close()

    environ = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    environ.update(WODP_HOME=str(home), WODP_SITE__BASE_URI=base, WODP_SPARQL__WORKERS="1", PYTHONPATH=str(ROOT))
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT,
                                env=environ, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "wodp serve exited:\n" + log_path.read_text(errors="replace")[-3000:]
            try:
                if _get(base + "/catalog.ttl?page_size=1", 5)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "wodp serve did not start:\n" + log_path.read_text()[-3000:]
            time.sleep(0.5)
        status, body = _get(base + "/csw?service=CSW&version=2.0.2&request=GetRecords&typenames=csw:Record"
                                   "&resulttype=hits&elementsetname=brief")
        assert status == 200, body[:500]
        assert re.search(rb'numberOfRecordsMatched="2"', body), body[:500]
        status, body = _get(urllib.request.Request(base + "/api/indexes", headers=admin_headers(home)))
        indexes = json.loads(body)
        assert status == 200 and indexes["skipped"] == 1
        [csw] = [i for i in indexes["indexes"] if i["index"] == "CswRepository"]
        assert csw["skipped_datasets"][0]["dataset"] == bad_uri
        assert "XML compatible" in csw["skipped_datasets"][0]["reason"]
        assert _get(datasets[1].uri + ".ttl")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    assert any("skipped" in line and bad_uri in line for line in lines)
    assert max(len(line) for line in lines) <= 2100  # logging.max_line_chars and its note


# -- ownership ---------------------------------------------------------------------------------------
def test_a_department_publishes_only_ids_with_its_code_or_granted(client, gate_platform, tokens):
    taken = RECORD | {"资源代码": "420100-D017-13134", "资源提供方": D012_NAME}
    answer = push(client, tokens["D012"], taken)
    assert answer.status_code == 403
    detail = answer.get_json()["detail"]
    assert "carries department code D017" in detail and "its own code inside the 资源代码" in detail
    assert push(client, tokens["D017"], RECORD | {"资源代码": "420100-D017-13134"}).status_code == 201

    own = RECORD | {"资源代码": "420100-D012-13134", "资源提供方": D012_NAME}
    assert push(client, tokens["D012"], own).status_code == 201
    plain = RECORD | {"资源代码": "WH-PARKING-1"}
    answer = push(client, tokens["D017"], plain)
    assert answer.status_code == 403 and "carries no department code" in answer.get_json()["detail"]
    gate_platform.accounts.grant("D017", "wuhan.WH-PARKING-1")
    assert push(client, tokens["D017"], plain).status_code == 201
    gate_platform.accounts.grant("D012", "wuhan.420100-D017-31020", note="moved to D012")
    granted = RECORD | {"资源代码": "420100-D017-31020", "资源提供方": D012_NAME}
    assert push(client, tokens["D012"], granted).status_code == 201


def test_the_owner_by_code_takes_back_what_another_department_published(client, gate_platform, tokens):
    # before the rule, D012 published an id carrying D017's code
    from mappings import apply_mapping, load_mapping
    from mappings.model import SourceRecord

    record = RECORD | {"资源代码": "420100-D017-31021", "资源提供方": D012_NAME}
    spec = load_mapping("china-core")
    graphs = apply_mapping([SourceRecord("wuhan", None, record, "t#1")], spec, BASE).graphs
    assert gate_platform.publisher.publish(graphs, "push").published
    answer = push(client, tokens["D012"], record)
    assert answer.status_code == 403 and "carries department code D017" in answer.get_json()["detail"]
    assert push(client, tokens["D017"], RECORD | {"资源代码": "420100-D017-31021"}).status_code == 200
    status = client.get("/api/datasets/wuhan.420100-D017-31021/report",
                        headers={"Authorization": f"Bearer {tokens['D017']}"})
    assert status.status_code == 200 and status.get_json()["published"] is True


def test_grant_commands(tmp_path):
    home = tmp_path / "home"
    granted = wodp(home, "account", "grant", "D012", "420100-D017-13134", "--note", "交接")
    assert granted.returncode == 0, granted.stderr
    assert "D012 may publish wuhan.420100-D017-13134" in granted.stdout
    listed = wodp(home, "account", "grants")
    assert "wuhan.420100-D017-13134  D012" in listed.stdout and "交接" in listed.stdout
    assert wodp(home, "account", "ungrant", "D012", "wuhan.420100-D017-13134").returncode == 0
    assert wodp(home, "account", "grants").stdout.strip() == ""
    again = wodp(home, "account", "ungrant", "D012", "wuhan.420100-D017-13134")
    assert again.returncode == 1 and "no grant" in again.stderr
    bad = wodp(home, "account", "grant", "D999", "wuhan.x")
    assert bad.returncode == 1 and "unknown department code" in bad.stderr


# -- files holding secrets -----------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_files_are_created_0600_and_a_new_home_0700(tmp_path):
    home = tmp_path / "new-home"
    added = wodp(home, "account", "add", "D017")
    assert added.returncode == 0, added.stderr
    assert _mode(home) == 0o700
    assert _mode(home / "accounts.sqlite") == 0o600

    from access.accounts import AccountStore
    from server.internal import write_server_file

    accounts = AccountStore(home / "accounts.sqlite")  # open: the WAL and shared-memory files exist now
    try:
        accounts.create("D012")
        sides = [home / f"accounts.sqlite{s}" for s in ("-wal", "-shm")]
        assert all(p.exists() for p in sides)
        assert [_mode(p) for p in [home / "accounts.sqlite", *sides]] == [0o600] * 3
    finally:
        accounts.close()
    old = os.umask(0)  # even under a permissive umask
    try:
        write_server_file(home, "http://127.0.0.1:1", 1)
        (tmp_path / "legacy.sqlite").write_bytes(b"")
        os.chmod(tmp_path / "legacy.sqlite", 0o644)  # an accounts file made before: its mode is set right
        AccountStore(tmp_path / "legacy.sqlite").close()
    finally:
        os.umask(old)
    assert _mode(home / "server.json") == 0o600
    assert _mode(tmp_path / "legacy.sqlite") == 0o600


# -- bounded logs --------------------------------------------------------------------------------------
def test_log_lines_are_cut_saying_how_much():
    from core.logs import BoundedFormatter

    formatter = BoundedFormatter(200)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "record: %s", ("r" * 100_000,), None)
    line = formatter.format(record)
    assert len(line) < 300 and line.endswith("… (99808 more characters)")  # 200 kept of 100,008
    try:
        raise ValueError("v" * 50_000)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = formatter.format(record)
    assert max(len(line) for line in text.splitlines()) < 260 and "more characters" in text


def test_a_failing_listener_is_named_not_dumped(tmp_path, caplog):
    from sparql.store import OxigraphStore

    class Huge:
        def __repr__(self) -> str:
            return "h" * 1_000_000

        def follow(self, event) -> None:
            raise RuntimeError("boom")

    store = OxigraphStore(tmp_path / "store")
    try:
        store.subscribe(Huge().follow)
        with caplog.at_level(logging.ERROR):
            store.remove_datasets([])
    finally:
        store.close()
    [failed] = [r for r in caplog.records if "publish listener" in r.getMessage()]
    assert "Huge.follow" in failed.getMessage() and len(failed.getMessage()) < 200


def test_one_follower_failing_does_not_stop_the_others():
    from sparql.followers import Follower, catch_up_all

    caught = []

    class Broken(Follower):
        def in_step_with(self, store):
            return False

        def catch_up(self, store):
            raise ValueError("All strings must be XML compatible")

    class Fine(Follower):
        def in_step_with(self, store):
            return False

        def catch_up(self, store):
            caught.append(store)

    class Store:
        def digests(self):
            return {}

    store = Store()
    found = catch_up_all([Broken(), Fine()], store)
    assert [(v.follower, v.failed, v.caught_up) for v in found] == [("Broken", True, False), ("Fine", False, True)]
    assert caught == [store]


# -- wodp remove -----------------------------------------------------------------------------------------
def test_remove_finds_the_dataset_whatever_base_uri_it_was_published_under(tmp_path):
    home = tmp_path / "home"
    path, datasets = _demo_turtle(tmp_path, "http://data.example.org", 2)
    loaded = wodp(home, "load", str(path), WODP_SITE__BASE_URI="http://data.example.org")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["put"] == 2
    dataset_id = datasets[0].id
    removed = wodp(home, "remove", dataset_id)  # no base URI given: the default differs from the stored one
    assert removed.returncode == 0, removed.stderr
    answer = json.loads(removed.stdout)
    assert answer["removed"] == 1 and answer["uris"] == [datasets[0].uri]
    missing = wodp(home, "remove", dataset_id, "demo.nope")
    assert missing.returncode == 1 and "no dataset" in missing.stderr
    assert json.loads(missing.stdout)["not_found"] == [dataset_id, "demo.nope"]


def test_csw_worker_skips_a_bad_record_and_takes_its_fixed_version(tmp_path):
    import pyoxigraph as ox

    from demo.generator import build_demo_catalog
    from ogc.csw.repository import PARALLEL_FROM, CswRepository
    from sparql.store import OxigraphStore

    datasets = build_demo_catalog(BASE, 11, PARALLEL_FROM + 5, 0).datasets
    bad = datasets[3]
    graphs = {d.uri: list(d.triples) for d in datasets}
    graphs[bad.uri] = [ox.Triple(t.subject, t.predicate, ox.Literal("坏\u0001", language="zh-CN"))
                       if t.predicate.value == TITLE and t.subject.value == bad.uri else t for t in bad.triples]
    store = OxigraphStore(tmp_path / "store")
    repository = CswRepository(tmp_path / "csw.sqlite")
    store.subscribe(lambda event: repository.follow(store, event))
    try:
        store.put_datasets(graphs)  # a large publish: rows are built in the worker process
        assert repository.count() == len(datasets) - 1
        assert list(repository.skipped()) == [bad.uri] and "XML" in repository.skipped()[bad.uri]
        assert repository.in_step_with(store)  # skipped datasets count: no rebuild at every start-up
        store.put_datasets({bad.uri: list(bad.triples)})
        assert repository.count() == len(datasets) and repository.skipped() == {}
    finally:
        repository.close()
        store.close()
