"""The staff audit log: hash chain and anchor (edited, removed, reordered, truncated entries are named), one chain
under appends from two processes, the entries each wired action leaves, PROV attribution, export round trips."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from access.audit import GENESIS, AuditLog, verify
from access.audit_export import export, read_csv, read_jsonl, utc_bound
from core.database import open_database

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"


def _log(tmp_path: Path, url: str | None = None) -> AuditLog:
    return AuditLog(open_database(url, "audit", tmp_path / "audit.sqlite", auto_migrate=True),
                    anchor=tmp_path / "audit-anchor.json")


def _fill(audit_log: AuditLog, n: int = 6) -> None:
    for i in range(1, n + 1):
        audit_log.record(actor=f"acc{i % 2}", role="publisher", action="dataset.publish" if i % 3 else "sign-in.ok",
                         target=f"dataset:wuhan.d{i}", address="10.0.0.7", before=None, after=f"{i:064x}",
                         detail={"n": i, "名称": "停车场"})


def _tamper(audit_log: AuditLog, *statements: str) -> None:
    """Change rows as someone with the database file would: the append-only triggers dropped first."""
    raw = audit_log.db._threads.get()
    raw.execute("DROP TRIGGER IF EXISTS audit_log_append_only_UPDATE")
    raw.execute("DROP TRIGGER IF EXISTS audit_log_append_only_DELETE")
    for sql in statements:
        raw.execute(sql)


# -- the chain -----------------------------------------------------------------------------------------------
def test_a_whole_log_verifies_and_its_entries_hold_what_was_recorded(tmp_path):
    audit_log = _log(tmp_path)
    _fill(audit_log)
    report = verify(audit_log)
    assert report.ok and report.entries == 6 and report.head_seq == 6 and report.first_bad is None
    entries = list(audit_log.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
    assert entries[2].action == "sign-in.ok" and entries[2].detail == {"n": 3, "名称": "停车场"}
    assert entries[0].at.endswith("Z") and entries[0].address == "10.0.0.7"
    assert report.anchor["seq"] == 6 and report.anchor["hash"] == entries[-1].hash
    assert (tmp_path / "audit-anchor.json").stat().st_mode & 0o777 == 0o600


def test_the_table_refuses_updates_and_deletes(tmp_path):
    audit_log = _log(tmp_path)
    _fill(audit_log, 2)
    for sql in ("UPDATE audit_log SET target = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(Exception, match="append-only"):
            audit_log.db.run(sql)
    assert verify(audit_log).ok and audit_log.count() == 2


@pytest.mark.parametrize("statements, first_bad, kind", [
    (["UPDATE audit_log SET target = 'dataset:wuhan.other' WHERE seq = 3"], 3, "edited"),
    (["UPDATE audit_log SET detail = '{\"n\":4,\"名称\":\"停车场 \"}' WHERE seq = 4"], 4, "edited"),
    (["DELETE FROM audit_log WHERE seq = 3"], 3, "missing"),
    (["DELETE FROM audit_log WHERE seq = 1"], 1, "missing"),
    # reordered: entries 3 and 4 swap places (their numbers kept, so they would read in the new order)
    (["UPDATE audit_log SET seq = -3 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 4",
      "UPDATE audit_log SET seq = 4 WHERE seq = -3"], 3, "out-of-chain"),
    (["DELETE FROM audit_log WHERE seq >= 5"], 5, "truncated"),
])
def test_verify_names_the_first_bad_entry(tmp_path, statements, first_bad, kind, capsys, monkeypatch):
    audit_log = _log(tmp_path)
    _fill(audit_log)
    _tamper(audit_log, *statements)
    report = verify(audit_log)
    assert not report.ok and report.first_bad == first_bad
    assert kind in {p.kind for p in report.problems if p.seq == first_bad}
    audit_log.close()

    from server.cli import main

    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"the first bad entry is #{first_bad}" in err and kind in err


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link_and_a_rewritten_tail_the_anchor(tmp_path):
    from access.audit import make_entry

    audit_log = _log(tmp_path)
    _fill(audit_log)
    third = list(audit_log.entries())[2]
    forged = make_entry(3, third.prev_hash, at=third.at, actor="someone-else", role=third.role,
                        action=third.action, target=third.target, address=third.address, after=third.after,
                        detail=third.detail)
    _tamper(audit_log, f"UPDATE audit_log SET actor = 'someone-else', hash = '{forged.hash}' WHERE seq = 3")
    report = verify(audit_log)
    assert report.first_bad == 4 and report.problems[0].kind == "out-of-chain"  # 3 matches, 4 no longer follows

    # the whole tail rewritten consistently: only the anchor sees it
    _tamper(audit_log, "DELETE FROM audit_log WHERE seq >= 3")
    audit_log.anchor = None  # appended without moving the anchor, as a forger would
    for i in (3, 4, 5, 6):
        audit_log.record(actor="forger", role="admin", action="dataset.publish", target=f"dataset:x{i}",
                         address=None)
    from access.audit import Anchor

    audit_log.anchor = Anchor(tmp_path / "audit-anchor.json")
    report = verify(audit_log)
    assert report.first_bad == 6 and report.problems[0].kind == "anchor-mismatch"


def _append_many(url: str | None, home: Path, n: int, who: str) -> subprocess.Popen:
    script = ("import sys; from pathlib import Path; from access.audit import AuditLog; "
              "from core.database import open_database; "
              "log = AuditLog(open_database(sys.argv[1] or None, 'audit', Path(sys.argv[2]) / 'audit.sqlite', "
              "auto_migrate=True), anchor=Path(sys.argv[2]) / 'audit-anchor.json'); "
              "[log.record(actor=sys.argv[4], role='admin', action='test.append', target=f't{i}', address=None) "
              "for i in range(int(sys.argv[3]))]")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, url or "", str(home), str(n), who], env=env,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_appending_at_once_keep_one_chain(tmp_path, database_url):
    audit_log = _log(tmp_path, database_url)  # migrated before the processes start
    procs = [_append_many(database_url, tmp_path, 60, who) for who in ("p1", "p2")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    report = verify(audit_log)
    assert report.ok, report.problems
    assert report.entries == 120 and report.head_seq == 120
    entries = list(audit_log.entries())
    assert [e.seq for e in entries] == list(range(1, 121))
    assert sum(e.actor == "p1" for e in entries) == 60 and sum(e.actor == "p2" for e in entries) == 60
    assert report.anchor["seq"] == 120  # the anchor moved forward only, to the head
    audit_log.close()


# -- export --------------------------------------------------------------------------------------------------
def test_exports_round_trip_and_filter(tmp_path, monkeypatch, capsys):
    audit_log = _log(tmp_path)
    _fill(audit_log)
    audit_log.record(actor=None, role=None, action="sign-in.failed", target="=HYPERLINK(\"http://x\")",
                     address="2001:db8::1", detail={"user": "@evil", "reason": "bad password"})
    everything = list(audit_log.entries())

    out = io.StringIO()
    assert export(audit_log.entries(), out, "jsonl") == 7
    back = list(read_jsonl(out.getvalue().splitlines()))
    assert back == everything
    from access.audit import verify_entries

    assert verify_entries(back).ok

    out = io.StringIO()
    export(audit_log.entries(), out, "csv")
    text = out.getvalue()
    assert text.startswith("\ufeffseq,at,actor,role,action,target,")
    assert "'=HYPERLINK" in text  # Excel reads it as text, not as a formula
    assert list(read_csv(text)) == everything

    assert [e.seq for e in audit_log.entries(actor="acc1")] == [1, 3, 5]
    assert [e.seq for e in audit_log.entries(action="sign-in.")] == [3, 6, 7]
    assert [e.seq for e in audit_log.entries(action="dataset.publish")] == [1, 2, 4, 5]
    assert [e.seq for e in audit_log.entries(since=everything[3].at)] == [4, 5, 6, 7]
    assert [e.seq for e in audit_log.entries(until=everything[3].at)] == [1, 2, 3]
    assert [e.seq for e in audit_log.entries(newest_first=True, limit=2)] == [7, 6]
    assert utc_bound("2026-12-01T08:00:00+08:00") == "2026-12-01T00:00:00.000000Z"
    assert utc_bound("2026-12-01") == "2026-12-01T00:00:00.000000Z"
    audit_log.close()

    from server.cli import main

    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    target = tmp_path / "out.csv"
    assert main(["audit", "export", "--actor", "acc0", "--format", "csv", "-o", str(target)]) == 0
    assert [e.seq for e in read_csv(target.read_text("utf-8"))] == [2, 4, 6]
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    capsys.readouterr()
    assert main(["audit", "export", "--action", "sign-in.failed"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["address"] == "2001:db8::1"  # kept whole
    assert main(["audit", "verify"]) == 0  # the exports themselves are entries, and the chain is whole
    again = _log(tmp_path)
    exports = list(again.entries(action="audit.export"))
    assert [e.detail["entries"] for e in exports] == [3, 1] and exports[0].detail["filters"] == {"actor": "acc0"}
    again.close()


# -- what the platform records -------------------------------------------------------------------------------
RECORD = {
    "资源名称": "武汉市公共停车场信息 审计测试", "资源代码": "420100-D017-07201", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
DATASET_ID = "wuhan.420100-D017-07201"


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A platform over an empty catalogue with a push account and a harvest source that cannot be reached."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    home = tmp_path_factory.mktemp("audit-home")
    source = {"name": "unreachable", "kind": "ckan", "url": "http://127.0.0.1:9/api/3/action/package_search"}
    settings = load_settings({}, overrides={"harvest": {"sources": [source], "timeout_s": 1.0}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    account, token = platform.accounts.create("D017", "交通局数据员")
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield platform, app.test_client(), account, token
    platform.close()


def _new_entries(platform, since_seq: int) -> list:
    return [e for e in platform.audit.entries() if e.seq > since_seq]


def _push(client, token, record):
    return client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False).encode(),
                       content_type="application/json", headers={"Authorization": f"Bearer {token}"},
                       environ_base={"REMOTE_ADDR": "203.0.113.45"})


def test_the_settings_of_the_first_start_are_recorded_once(audited):
    platform = audited[0]
    loaded = list(platform.audit.entries(action="settings."))
    assert [(e.action, e.target, e.before) for e in loaded] == [("settings.loaded", "settings", None)]
    assert loaded[0].after and loaded[0].actor is None


def test_push_publish_update_hold_withdraw_each_leave_one_entry(audited):
    platform, client, account, token = audited
    head = platform.audit.head()[0]
    assert _push(client, token, RECORD).status_code == 201
    [created] = _new_entries(platform, head)
    assert (created.action, created.target, created.actor, created.role, created.address) == \
        ("dataset.publish", f"dataset:{DATASET_ID}", account.id, "publisher", "203.0.113.45")
    assert created.before is None and created.detail["status"] == "created" and len(created.after) == 64

    assert _push(client, token, RECORD | {"资源摘要": "全市公共停车场名称、地址、泊位数和收费标准。"}).status_code == 200
    [updated] = _new_entries(platform, created.seq)
    assert updated.action == "dataset.publish" and updated.detail["status"] == "updated"
    assert updated.before == created.after and updated.after != updated.before

    bad = {k: v for k, v in RECORD.items() if k != "资源摘要"}
    assert _push(client, token, bad).status_code == 422
    [held] = _new_entries(platform, updated.seq)
    assert (held.action, held.target, held.actor) == ("dataset.hold", f"dataset:{DATASET_ID}", account.id)
    assert held.before == updated.after and held.detail["violations"] >= 1

    gone = client.delete(f"/api/datasets/{DATASET_ID}", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 200
    withdrawn, discarded = _new_entries(platform, held.seq)
    assert (withdrawn.action, withdrawn.before, withdrawn.after) == ("dataset.withdraw", updated.after, None)
    assert (discarded.action, discarded.target) == ("dataset.discard-held", f"dataset:{DATASET_ID}")
    assert verify(platform.audit).ok


def test_a_pushed_dataset_is_attributed_to_its_account_in_prov(audited):
    import pyoxigraph as ox

    from harvesters.provenance import content_hash
    from ontology.namespaces import PROV, RDF

    platform, client, account, token = audited
    record = RECORD | {"资源代码": "420100-D017-07202"}
    assert _push(client, token, record).status_code == 201  # the SHACL gate passes it with its attribution
    uri = f"{BASE}/datasets/wuhan.420100-D017-07202"
    triples = platform.store.dataset_triples(uri)
    agent = ox.NamedNode(f"{BASE}/accounts/{account.id}")
    assert [t.object for t in triples if t.subject == ox.NamedNode(uri) and t.predicate == PROV.wasAttributedTo] \
        == [agent]
    assert {t.object for t in triples if t.subject == agent} == {PROV.Agent}  # the id only: no name, no e-mail
    unattributed = [t for t in triples if t.predicate != PROV.wasAttributedTo and t.subject != agent]
    assert content_hash(uri, triples) == content_hash(uri, unattributed)  # provenance, not content
    from shapes.validate import validate_dataset

    for engine in ("pyshacl", "pyrudof"):  # the gate's two engines: the attribution breaks no shape
        report = validate_dataset(triples, profile="wuhan", engine=engine)
        assert report.conforms and not [f for f in report.findings if f.focus == agent.value], engine


def test_a_harvest_run_leaves_a_start_and_a_finish(audited):
    platform = audited[0]
    head = platform.audit.head()[0]
    report = platform.harvesting.run("unreachable")
    start, finish = _new_entries(platform, head)
    assert (start.action, start.target, start.detail) == ("harvest.start", "harvest-source:unreachable",
                                                          {"trigger": "manual"})
    assert (finish.action, finish.target) == ("harvest.finish", "harvest-source:unreachable")
    assert finish.detail["job"] == report["id"] and finish.detail["status"] == report["status"] != "succeeded"
    assert start.actor is None and finish.actor is None  # no one signed in: the command line or the schedule


def test_changed_settings_are_recorded_at_the_next_start_and_unchanged_ones_are_not(tmp_path, monkeypatch):
    from config import load_settings
    from server.platform import Platform

    def start(environ):
        platform = Platform.open(load_settings(environ, overrides={}, home=tmp_path), start_workers=False)
        found = [(e.action, e.detail) for e in platform.audit.entries(action="settings.")]
        platform.close()
        return found

    assert [a for a, _ in start({})] == ["settings.loaded"]
    assert [a for a, _ in start({})] == ["settings.loaded"]  # the same settings: nothing new
    found = start({"WODP_HARVEST__SCHEDULER": "true", "WODP_TIANDITU__KEY": "k-123"})
    assert found[-1] == ("settings.changed", {"changed": {"harvest.scheduler": [False, True],
                                                          "tianditu.key": "secret set"}})
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("audit.sqlite*"))
    assert b"k-123" not in raw  # a secret's value never reaches the log
    assert {p.stat().st_mode & 0o777 for p in tmp_path.glob("audit*")} == {0o600}  # the log, its key, its anchor
    found = start({"WODP_HARVEST__SCHEDULER": "true", "WODP_TIANDITU__KEY": "k-456"})
    assert found[-1] == ("settings.changed", {"changed": {"tianditu.key": "secret changed"}})


def test_an_embedded_log_moved_to_postgresql_keeps_its_chain_and_stays_append_only(tmp_path, postgis_dsn):
    from core.database import copy_part, dispose_engines
    from tests.conftest import pg_schema_url

    embedded = _log(tmp_path)
    _fill(embedded, 5)
    target = AuditLog(open_database(pg_schema_url(postgis_dsn, "auditcopy"), "audit", auto_migrate=True))
    assert copy_part(embedded.db, target.db) == {"audit_log": 5, "audit_state": 0}
    moved = verify(target)
    assert moved.ok and moved.entries == 5 and moved.head_hash == verify(embedded).head_hash
    assert target.record(actor="b", role="admin", action="x", target="y", address=None).seq == 6
    with pytest.raises(Exception, match="append-only"):
        target.db.run("UPDATE audit_log SET target = 'z' WHERE seq = 1")
    assert verify(target).ok
    embedded.close()
    dispose_engines()


def test_load_and_remove_from_the_command_line_leave_one_entry_per_dataset(audited):
    import pyoxigraph as ox

    from ontology.namespaces import DCT
    from server.audit import cli_detail
    from server.catalogue import remove_datasets
    from server.internal import load_graphs

    platform, client, account, token = audited
    dataset_id = "wuhan.420100-D017-07203"
    assert _push(client, token, RECORD | {"资源代码": "420100-D017-07203"}).status_code == 201
    uri = f"{BASE}/datasets/{dataset_id}"
    pushed = platform.audit.head()
    triples = [t for t in platform.store.dataset_triples(uri) if t.predicate != DCT.title]
    triples.append(ox.Triple(ox.NamedNode(uri), DCT.title, ox.Literal("命令行载入的新标题", language="zh")))
    assert load_graphs(platform, {uri: triples}, "wuhan", cli_detail())["put"] == 1  # what `wodp load` runs
    [loaded] = _new_entries(platform, pushed[0])
    assert (loaded.action, loaded.target, loaded.actor, loaded.address) == ("dataset.publish", f"dataset:{dataset_id}",
                                                                          None, None)
    assert loaded.detail["via"] == "cli" and loaded.detail["source"] == "load" and loaded.detail["status"] == "updated"
    assert loaded.before and loaded.after and loaded.before != loaded.after
    assert remove_datasets(platform, [dataset_id, "wuhan.nope"], cli_detail())["removed"] == 1  # `wodp remove`
    [removed] = _new_entries(platform, loaded.seq)
    assert (removed.action, removed.target, removed.before, removed.after) == \
        ("dataset.remove", f"dataset:{dataset_id}", loaded.after, None)
    assert verify(platform.audit).ok


# -- sign-in, accounts, the auditor's page (issue 12's foundation) -------------------------------------------
def test_sign_in_ok_failed_and_sign_out_each_leave_one_entry(audited):
    from tests.conftest import STAFF_PASSWORD, csrf_of, make_account, sign_in_as

    platform, client = audited[0], audited[1].application.test_client()
    account = make_account(platform, "reviewer")
    head = platform.audit.head()[0]
    assert sign_in_as(client, account.login, "wrong-password-1A", address="198.51.100.7").status_code == 401
    assert sign_in_as(client, "nobody-here", address="198.51.100.7").status_code == 401
    assert sign_in_as(client, account.login, STAFF_PASSWORD, address="198.51.100.8").status_code == 302
    wrong, unknown, ok = _new_entries(platform, head)
    assert (wrong.action, wrong.actor, wrong.target, wrong.address, wrong.detail["reason"]) == \
        ("sign-in.failed", None, f"account:{account.id}", "198.51.100.7", "wrong-password")
    assert (unknown.action, unknown.target, unknown.detail["reason"]) == \
        ("sign-in.failed", "login:nobody-here", "unknown-login")
    assert (ok.action, ok.actor, ok.role, ok.target, ok.address) == \
        ("sign-in.ok", account.id, "reviewer", f"account:{account.id}", "198.51.100.8")

    token = csrf_of(client.get("/admin/logout").get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    [out] = _new_entries(platform, ok.seq)
    assert (out.action, out.actor, out.role, out.target) == ("sign-out", account.id, "reviewer", f"account:{account.id}")


def test_account_changes_from_the_command_line_each_leave_one_entry(tmp_path, monkeypatch):
    from server.audit import open_audit
    from server.cli import main
    from config import load_settings

    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    steps = [(["account", "add", "--role", "publisher", "--login", "pub1", "--department", "D017"], "account.add"),
             (["account", "role", "pub1", "reviewer"], "account.role"),
             (["account", "disable", "pub1"], "account.disable"),
             (["account", "enable", "pub1"], "account.enable"),
             (["account", "token", "add", "pub1", "--scope", "manage"], "token.add"),
             (["account", "grant", "D012", "wuhan.420100-D017-00001"], "grant.add"),
             (["account", "ungrant", "D012", "wuhan.420100-D017-00001"], "grant.remove"),
             (["account", "list"], None)]
    for argv, _ in steps:
        assert main(argv) == 0, argv
    audit_log = open_audit(load_settings({}, overrides={}, home=tmp_path))
    entries = list(audit_log.entries())
    assert [e.action for e in entries] == [a for _, a in steps if a]  # one each; listing changes nothing
    added, role, disabled, enabled, token, granted, ungranted = entries
    account_id = added.target.removeprefix("account:")
    assert added.detail["login"] == "pub1" and added.before is None and added.after
    assert role.detail["role"] == ["publisher", "reviewer"] and role.before == added.after != role.after
    assert disabled.detail["disabled"][0] is None and disabled.detail["disabled"][1]
    assert enabled.after != disabled.after
    assert token.target.startswith("token:") and token.detail == {**token.detail, "account": account_id,
                                                                  "scopes": ["manage"]}
    assert (granted.target, granted.detail["department"]) == ("dataset:wuhan.420100-D017-00001", "D012")
    assert all(e.actor is None and e.detail["via"] == "cli" for e in entries)
    assert verify(audit_log).ok
    audit_log.close()


def test_the_auditor_reads_filters_exports_and_verifies_the_log_others_may_not(audited, sign_in):
    platform = audited[0]
    app = audited[1].application
    anonymous = app.test_client()
    assert anonymous.get("/admin/audit").status_code in (302, 401)
    publisher = app.test_client()
    sign_in(publisher, "publisher")
    assert publisher.get("/admin/audit").status_code == 403
    assert publisher.get("/admin/audit/export.csv").status_code == 403

    auditor = app.test_client()
    auditor_id = sign_in(auditor, "auditor")
    page = auditor.get("/admin/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    newest = list(platform.audit.entries(newest_first=True, limit=3))
    assert "审计日志" in html and f'data-seq="{newest[0].seq}"' in html and newest[0].action in html
    assert html.index(f'data-seq="{newest[0].seq}"') < html.index(f'data-seq="{newest[1].seq}"')  # newest first
    only = auditor.get("/admin/audit?action=sign-in.failed&lang=en").get_data(as_text=True)
    failed = [e.seq for e in platform.audit.entries(action="sign-in.failed")]
    assert "Audit log" in only and only.count('data-seq="') == len(failed)

    head = platform.audit.head()[0]
    exported = auditor.get("/admin/audit/export.csv?action=dataset.")
    assert exported.status_code == 200 and exported.data.startswith(b"\xef\xbb\xbf")
    rows = list(read_csv(exported.data.decode("utf-8")))
    assert [e.seq for e in rows] == [e.seq for e in platform.audit.entries(action="dataset.") if e.seq <= head]
    [noted] = _new_entries(platform, head)
    assert (noted.action, noted.actor, noted.role) == ("audit.export", auditor_id, "auditor")
    assert noted.detail["entries"] == len(rows) and noted.detail["filters"] == {"action": "dataset."}
    verified = auditor.get("/admin/audit/verify")
    assert verified.status_code == 200 and "哈希链完整" in verified.get_data(as_text=True)


def test_a_run_put_on_the_queue_names_who_asked(audited, staff_token):
    platform = audited[0]

    class Queue:  # harvest.queue postgres, as far as submit sees it: the task is left for a worker
        def defer(self, name, trigger):
            return {"source": name, "status": "queued"}

    head = platform.audit.head()[0]
    platform.harvesting.queue = Queue()
    try:
        from server.auth import current_principal

        app = audited[1].application
        token = staff_token(platform, "admin")
        with app.test_request_context("/x", headers={"Authorization": f"Bearer {token}"},
                                      environ_base={"REMOTE_ADDR": "192.0.2.9"}):
            admin = current_principal()
            assert platform.harvesting.submit("unreachable")["status"] == "queued"
    finally:
        platform.harvesting.queue = None
    [queued] = _new_entries(platform, head)  # no start: no run here
    assert (queued.action, queued.actor, queued.role, queued.address, queued.target) == \
        ("harvest.queue", admin.id, "admin", "192.0.2.9", "harvest-source:unreachable")


def test_the_demo_accounts_are_recorded_once_when_made(audited):
    from server.cli_account import demo_accounts

    platform = audited[0]
    head = platform.audit.head()[0]
    demo_accounts(platform.accounts, BASE, platform.audit)
    made = _new_entries(platform, head)
    assert [(e.action, e.detail["role"]) for e in made] == [("account.add", r) for r in
                                                           ("admin", "reviewer", "publisher", "auditor", "public")]
    assert all(e.detail["login"] == f"demo-{e.detail['role']}" and "password" not in str(e.detail) for e in made)
    demo_accounts(platform.accounts, BASE, platform.audit)  # a second run makes none, records none
    assert platform.audit.head()[0] == made[-1].seq


def test_a_work_order_moved_from_the_department_page_leaves_one_entry(audited, sign_in):
    from manage.workorders import Finding

    platform = audited[0]
    finding = Finding("D017", "wuhan.420100-D017-07201", "overdue-update", "更新已逾期")
    order, _ = platform.workorders.open_or_refresh(finding)
    officer = audited[1].application.test_client()
    account_id = sign_in(officer, "publisher", "D017")
    head = platform.audit.head()[0]
    moved = officer.post(f"/admin/workorders/{order.id}/status",
                         data={"status": "in-progress", "note": "已联系", "csrf_token": officer.csrf_token})
    assert moved.status_code == 302
    [entry] = _new_entries(platform, head)
    assert (entry.action, entry.target, entry.actor, entry.role, entry.before, entry.after) == \
        ("workorder.status", f"workorder:{order.id}", account_id, "publisher", "open", "in-progress")


def test_a_walk_that_meets_many_problems_stops_and_says_so_without_a_false_truncation(tmp_path):
    audit_log = _log(tmp_path)
    _fill(audit_log, 12)
    _tamper(audit_log, "UPDATE audit_log SET role = 'admin' WHERE seq BETWEEN 2 AND 11")
    report = verify(audit_log, most=3)
    assert not report.complete and report.first_bad == 2 and len(report.problems) == 3
    assert "truncated" not in {p.kind for p in report.problems}
    whole = verify(audit_log)
    assert whole.complete and whole.entries == 12 and {p.kind for p in whole.problems} == {"edited"}


def test_an_entry_that_cannot_be_written_leaves_the_action_standing_and_is_counted(audited, monkeypatch, caplog):
    platform, client, account, token = audited

    def full_disk(**_fields):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(platform.audit, "record", full_disk)
    before = getattr(platform.audit, "failures", 0)
    assert _push(client, token, RECORD | {"资源代码": "420100-D017-07209"}).status_code == 201  # published all the same
    assert platform.audit.failures == before + 1
    assert "could not be written" in caplog.text and "dataset.publish" in caplog.text
    scraped = client.get("/metrics").get_data(as_text=True)
    assert f"wodp_audit_write_failures {float(before + 1)}" in scraped
