"""The department push API: tokens, ownership, publish at once, held back with a report, withdrawal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rdflib

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"
RECORD = {
    "资源名称": "武汉市公共停车场信息 推送测试", "资源代码": "420100-D017-07001", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
DATASET_ID = "wuhan.420100-D017-07001"
DATASET_URI = f"{BASE}/datasets/{DATASET_ID}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def push_platform(tmp_path_factory, request):
    """A platform of its own over an empty catalogue (vocabulary installed), no query workers; its accounts,
    change log and jobs in SQLite files or in PostgreSQL (database.url)."""
    from config import load_settings
    from core.database import dispose_engines
    from server.catalogue import install
    from server.platform import Platform
    from tests.conftest import pg_schema_url

    environ = {}
    if request.param == "postgresql":
        url = pg_schema_url(request.getfixturevalue("postgis_dsn"), "push")
        environ = {"WODP_DATABASE__URL": url, "WODP_DATABASE__AUTO_MIGRATE": "true"}
    home = tmp_path_factory.mktemp("push-home")
    settings = load_settings(environ, overrides={}, home=home)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    yield platform
    platform.close()
    dispose_engines()


@pytest.fixture(scope="module")
def client(push_platform):
    from server.app import create_app

    app = create_app(platform=push_platform)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def tokens(push_platform):
    """Tokens of D017 (transport), D012 and a revoked D017 account."""
    accounts = push_platform.accounts
    d017 = accounts.create("D017", "交通局数据员")[1]
    d012 = accounts.create("D012")[1]
    revoked_account, revoked = accounts.create("D017", "旧账号")
    accounts.revoke(revoked_account.id)
    return {"D017": d017, "D012": d012, "revoked": revoked}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def push(client, token: str, record: dict | list, query: str = "", **headers):
    body = json.dumps(record, ensure_ascii=False).encode("utf-8")
    return client.post("/api/datasets" + query, data=body, content_type="application/json",
                       headers=bearer(token) | headers)


def changes_of(client, dataset_id: str) -> list[str]:
    items = client.get("/changes?limit=1000").get_json()["changes"]
    return [c["action"] for c in items if c["id"] == dataset_id]


# -- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize("headers, error", [
    ({}, None),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_request"),
    ({"Authorization": "Bearer wodp.000000000000.nope"}, "invalid_token"),
    ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
])
def test_missing_or_bad_token_is_401_with_a_challenge(client, tokens, headers, error):
    answer = client.post("/api/datasets", data=json.dumps(RECORD), content_type="application/json",
                         headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="wodp"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert answer.get_json()["status"] == 401


def test_revoked_and_forged_tokens_are_refused(client, tokens):
    assert push(client, tokens["revoked"], RECORD).status_code == 401
    account_id = tokens["D017"].split(".")[1]
    assert push(client, f"wodp.{account_id}.{'A' * 43}", RECORD).status_code == 401
    assert client.delete(f"/api/datasets/{DATASET_ID}").status_code == 401
    assert client.get(f"/api/datasets/{DATASET_ID}/report").status_code == 401


def test_tokens_are_stored_hashed(push_platform, tokens):
    raw = b"".join(p.read_bytes() for p in push_platform.settings.home.glob("accounts.sqlite*"))
    for token in tokens.values():
        secret = token.rsplit(".", 1)[1]
        assert token.encode() not in raw and secret.encode() not in raw
    hashes = [row[0] for row in push_platform.accounts.db.rows("SELECT token_hash FROM account_tokens")]
    assert len(hashes) == 3 and all(h.startswith("sha256$") for h in hashes)
    assert len({h.split("$")[1] for h in hashes}) == 3  # a salt per token


# -- publishing ----------------------------------------------------------------------------------
def test_push_create_update_invalid_withdraw(client, push_platform, tokens):
    token = tokens["D017"]
    created = push(client, token, RECORD)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["published"] == [{"id": DATASET_ID, "uri": DATASET_URI, "status": "created"}]
    assert created.headers["Location"] == DATASET_URI
    page = client.get(f"/datasets/{DATASET_ID}.ttl")
    assert page.status_code == 200
    g = rdflib.Graph().parse(data=page.data, format="turtle")
    assert str(g.value(rdflib.URIRef(DATASET_URI), rdflib.namespace.DCTERMS.title)) == RECORD["资源名称"]
    assert changes_of(client, DATASET_ID) == ["created"]

    changed = push(client, token, RECORD | {"资源摘要": "全市公共停车场名称、地址、泊位数和收费标准。"})
    assert changed.status_code == 200 and changed.get_json()["published"][0]["status"] == "updated"
    assert changes_of(client, DATASET_ID) == ["created", "updated"]
    assert "收费标准" in client.get(f"/datasets/{DATASET_ID}.ttl").get_data(as_text=True)

    invalid = push(client, token, {k: v for k, v in RECORD.items() if k != "资源摘要"} | {"资源名称": "改坏的标题"})
    assert invalid.status_code == 422 and invalid.mimetype == "application/problem+json"
    report = invalid.get_json()
    assert report["published"] == [] and report["held"][0]["id"] == DATASET_ID
    assert any(f["path"] == "http://purl.org/dc/terms/description" and f["severity"] == "Violation"
               for f in report["held"][0]["report"]["findings"])
    kept = client.get(f"/datasets/{DATASET_ID}.ttl").get_data(as_text=True)
    assert "改坏的标题" not in kept and "收费标准" in kept  # the published version stays as it was
    assert changes_of(client, DATASET_ID) == ["created", "updated"]
    why = client.get(f"/api/datasets/{DATASET_ID}/report", headers=bearer(token))
    assert why.status_code == 200
    assert why.get_json()["held"] is True and why.get_json()["published"] is True
    assert why.get_json()["report"]["violations"] >= 1

    # the dataset was also reported through the workbench: its published submission follows the withdrawal
    subs = push_platform.submissions()
    sub = subs.create("D017", "someone", "publisher", dataset_id=DATASET_ID, values={"title": RECORD["资源名称"]})
    assert subs.step(sub.id, "publish", "someone", "publisher").status == "published"
    gone = client.delete(f"/api/datasets/{DATASET_ID}", headers=bearer(token))
    assert gone.status_code == 200 and gone.get_json()["status"] == "withdrawn"
    assert subs.get(sub.id).status == "withdrawn"
    last = subs.events(sub.id)[-1]
    account, _ = push_platform.accounts.verify_token(token)
    assert (last.action, last.actor, last.detail) == ("withdraw-published", account.id, {"via": "push"})
    assert client.get(f"/datasets/{DATASET_ID}.ttl").status_code == 410
    assert client.delete(f"/api/datasets/{DATASET_ID}", headers=bearer(token)).status_code == 410
    assert changes_of(client, DATASET_ID) == ["created", "updated", "withdrawn"]
    assert push_platform.quarantine.get(DATASET_ID) is None
    status = client.get(f"/api/datasets/{DATASET_ID}/report", headers=bearer(token)).get_json()
    assert status["withdrawn"] is True and status["published"] is False

    again = push(client, token, RECORD)  # a withdrawn dataset may be published again
    assert again.status_code == 201
    assert client.get(f"/datasets/{DATASET_ID}.ttl").status_code == 200
    assert changes_of(client, DATASET_ID)[-1] == "created"


def test_other_departments_datasets_are_forbidden(client, push_platform, tokens):
    record = RECORD | {"资源代码": "420100-D017-07002"}
    assert push(client, tokens["D017"], record).status_code == 201
    other = push(client, tokens["D012"], record)  # names D017 as publisher
    assert other.status_code == 403 and "D012" in other.get_json()["detail"]
    renamed = push(client, tokens["D012"], record | {"资源提供方": "武汉市人力资源和社会保障局"})  # a takeover
    assert renamed.status_code == 403 and "belongs to department D017" in renamed.get_json()["detail"]
    unknown = push(client, tokens["D017"], record | {"资源提供方": "某某公司"})
    assert unknown.status_code == 403 and "publisher" in unknown.get_json()["detail"]
    assert client.delete("/api/datasets/wuhan.420100-D017-07002", headers=bearer(tokens["D012"])).status_code == 403
    assert client.get("/api/datasets/wuhan.420100-D017-07002/report",
                      headers=bearer(tokens["D012"])).status_code == 403
    assert client.get("/datasets/wuhan.420100-D017-07002.ttl").status_code == 200
    assert client.delete("/api/datasets/push.nope", headers=bearer(tokens["D017"])).status_code == 404


def test_datasets_of_no_department_cannot_be_taken_over(client, push_platform, tokens):
    import pyoxigraph as ox

    uri = f"{BASE}/datasets/shanghai.x1"  # harvested from elsewhere, published by an agent not of ours
    node = ox.NamedNode(uri)
    push_platform.store.put_datasets({uri: [
        ox.Triple(node, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                  ox.NamedNode("http://www.w3.org/ns/dcat#Dataset")),
        ox.Triple(node, ox.NamedNode("http://purl.org/dc/terms/publisher"), ox.NamedNode("http://example.org/a"))]})
    claim = (f"<{uri}> a <http://www.w3.org/ns/dcat#Dataset> ; <http://purl.org/dc/terms/publisher> "
             "<https://data.wuhan.gov.cn/def/department/D017> .")
    answer = client.post("/api/datasets", data=claim, content_type="text/turtle", headers=bearer(tokens["D017"]))
    assert answer.status_code == 403 and "none of ours" in answer.get_json()["detail"]
    assert client.delete("/api/datasets/shanghai.x1", headers=bearer(tokens["D017"])).status_code == 403
    push_platform.store.remove_datasets([uri])


def test_push_rdf(client, tokens):
    record = RECORD | {"资源代码": "420100-D017-07003"}
    assert push(client, tokens["D017"], record).status_code == 201
    uri = f"{BASE}/datasets/wuhan.420100-D017-07003"
    g = rdflib.Graph().parse(data=client.get("/datasets/wuhan.420100-D017-07003.ttl").data, format="turtle")
    g.set((rdflib.URIRef(uri), rdflib.namespace.DCTERMS.title, rdflib.Literal("停车场（RDF 推送）", lang="zh-CN")))
    for fmt, media in (("turtle", "text/turtle"), ("json-ld", "application/ld+json"), ("xml", "application/rdf+xml"),
                       ("nt", "application/n-triples")):
        answer = client.post("/api/datasets", data=g.serialize(format=fmt), content_type=media,
                             headers=bearer(tokens["D017"]))
        assert answer.status_code == 200, (media, answer.get_data(as_text=True))
        assert answer.get_json()["published"][0]["status"] == "updated"
    assert "RDF 推送" in client.get("/datasets/wuhan.420100-D017-07003.ttl").get_data(as_text=True)
    foreign = g.serialize(format="turtle").replace(uri, "http://example.org/datasets/x")
    answer = client.post("/api/datasets", data=foreign, content_type="text/turtle", headers=bearer(tokens["D017"]))
    assert answer.status_code == 400 and "not one of this catalogue" in answer.get_json()["detail"]


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, content_type, query, status, needle", [
    (b'{"\xe8\xb5\x84\xe6\xba\x90": ', "application/json", "", 400, "malformed JSON"),
    (b"[]", "application/json", "", 400, "expected one JSON object"),
    (b"42", "application/json", "", 400, "expected one JSON object"),
    (b"", "application/json", "", 400, "malformed JSON"),
    (json.dumps(RECORD, ensure_ascii=False).encode("gbk"), "application/json", "", 400, "not UTF-8"),
    (json.dumps(RECORD).encode(), "application/json", "?mapping=nope", 400, "unknown mapping"),
    (json.dumps(RECORD).encode(), "application/json; charset=latin-1", "", 415, "charset"),
    (b"a,b\n1,2\n", "text/csv", "", 415, "unsupported Content-Type"),
    (b"<http://a> <http://b> .", "text/turtle", "", 400, "not valid"),
    (b"<http://a> <http://b> <http://c> .", "text/turtle", "", 400, "no dcat:Dataset"),
    (b"{" + b" " * (1024 * 1024 + 10) + b"}", "application/json", "", 413, "at most"),
])
def test_bad_input_gets_a_clear_4xx(client, tokens, body, content_type, query, status, needle):
    answer = client.post("/api/datasets" + query, data=body, content_type=content_type,
                         headers=bearer(tokens["D017"]))
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert needle in answer.get_json()["detail"]


def test_gbk_body_with_declared_charset_is_read(client, tokens):
    record = RECORD | {"资源代码": "420100-D017-07004"}
    answer = client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False).encode("gbk"),
                         content_type="application/json; charset=GBK", headers=bearer(tokens["D017"]))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    page = client.get("/datasets/wuhan.420100-D017-07004.ttl").get_data(as_text=True)
    assert "停车场" in page


def test_too_many_datasets_in_one_push(client, tokens):
    client.application.config["WODP_PUSH_MAX_DATASETS"] = 2
    try:
        records = [RECORD | {"资源代码": f"420100-D017-0710{n}"} for n in range(3)]
        answer = push(client, tokens["D017"], records)
        assert answer.status_code == 413 and "at most 2" in answer.get_json()["detail"]
    finally:
        client.application.config.pop("WODP_PUSH_MAX_DATASETS")


# -- command line --------------------------------------------------------------------------------
def test_account_commands(tmp_path):
    env = {"WODP_HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "server.cli", "account", *args],  # noqa: E731
                                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    added = run("add", "D017", "--name", "交通局数据员")
    assert added.returncode == 0, added.stderr
    token = added.stdout.split("token", 1)[1].split(": ", 1)[1].strip()
    account_id = token.split(".")[1]
    assert token.startswith(f"wodp.{account_id}.") and token not in added.stderr
    listed = run("list")
    assert account_id in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    assert run("add", "D999").returncode == 1
    assert run("revoke", account_id).returncode == 0  # the push token (its id is the account's)
    assert "revoked" in run("token", "list", account_id).stdout
    assert run("revoke", "nope").returncode == 1
    from access.accounts import AccountStore

    accounts = AccountStore(tmp_path / "accounts.sqlite")
    assert accounts.verify(token) is None
    accounts.close()
