"""`wodp` commands: who they act as (the OS account owning WODP_HOME, or `--as ACCOUNT` asking the policy), and an
audit entry for every command that changes something, naming via cli, the OS user and the host.

A command added to the parser must be classified here (changing, reading, or running the instance): the test of
the classification fails otherwise, and each changing one is performed and must leave its entries.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import socket
import sys

import pyoxigraph as ox
import pytest

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.test_tabular_checks import CLEAN

PASSWORD = "Ops-passw0rd-测试"
IDENTITY = {"via": "cli", "user": getpass.getuser(), "host": socket.gethostname()}
READING = {"validate", "export", "calendar"}  # change nothing: no entry, no policy
INSTANCE = {"demo", "serve", "worker"}  # run the instance as its OS account (their requests ask the policy)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home of its own, a CKAN source and a CSV file served locally, named in a settings file."""
    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(2)])
    source.static("/stations.csv", CLEAN.encode(), "text/csv")
    config = tmp_path / "wodp.yml"
    config.write_text(json.dumps({"csw": {"enabled": False}, "harvest": {"sources": [
        {"name": "cli-ckan", "kind": "ckan", "url": source.url}]}}))
    for name in [k for k in os.environ if k.startswith("WODP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WODP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WODP_CONFIG", str(config))
    yield tmp_path, source
    source.close()


def wodp(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    from server.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def entries_after(seq: int) -> list:
    """The entries after seq, but for the platform's own settings.loaded (the first command that opens it)."""
    from config import load_settings
    from server.audit import open_audit

    log = open_audit(load_settings())
    try:
        return [e for e in log.entries() if e.seq > seq and not e.action.startswith("settings.")]
    finally:
        log.close()


def last_seq() -> int:
    from config import load_settings
    from server.audit import open_audit

    log = open_audit(load_settings())
    try:
        return log.count()
    finally:
        log.close()


def dataset_file(path, base: str, csv_url: str) -> str:
    """A department's (D017) dataset as Turtle whose CSV is at csv_url; return its identifier."""
    from tests.test_data_checks_daily import _tabular_dataset

    ((uri, triples),) = _tabular_dataset(base, "09501", csv_url).items()
    path.write_bytes(ox.serialize(triples, format=ox.RdfFormat.TURTLE))
    return uri.rsplit("/", 1)[-1]


def test_every_command_is_classified():
    from server.cli import build_parser
    from server.cli_policy import action_of

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    changing = commands - READING - INSTANCE
    assert changing == {"load", "remove", "check-data", "load-data", "harvest", "account", "audit", "db",
                        "freshness"}
    for command in changing:  # each asks the policy for one action
        assert action_of(type("Args", (), {"command": command, "measure": True})()) is not None, command


def test_every_changing_command_leaves_an_entry_naming_the_os_user_and_host(home, monkeypatch, capsys):
    tmp_path, source = home
    turtle = tmp_path / "d.ttl"
    dataset = dataset_file(turtle, "http://127.0.0.1:8000", source.url + "/stations.csv")
    steps = [  # (argv, stdin, the entries' actions it must leave)
        (["db", "upgrade"], "", ["db.upgrade"]),
        (["account", "add", "--role", "admin", "--login", "ops-admin", "--password-stdin"], PASSWORD + "\n",
         ["account.add"]),
        (["account", "add", "--role", "reviewer", "--login", "ops-rev", "--password-stdin"], PASSWORD + "\n",
         ["account.add"]),
        (["account", "role", "ops-rev", "auditor"], "", ["account.role"]),
        (["account", "disable", "ops-rev"], "", ["account.disable"]),
        (["account", "enable", "ops-rev"], "", ["account.enable"]),
        (["account", "passwd", "ops-rev", "--password-stdin"], PASSWORD + "x\n", ["account.password"]),
        (["account", "grant", "D012", "wuhan.420100-D017-09501"], "", ["grant.add"]),
        (["account", "ungrant", "D012", "wuhan.420100-D017-09501"], "", ["grant.remove"]),
        (["load", str(turtle)], "", ["dataset.publish"]),
        (["check-data", dataset], "", ["dataset.publish", "data-checks.run"]),
        (["load-data", dataset], "", ["data-api.load"]),
        (["harvest", "cli-ckan"], "", ["harvest.start", "harvest.finish"]),
        (["freshness", "--measure"], "", ["freshness.measure"]),
        (["audit", "export", "-o", str(tmp_path / "log.jsonl")], "", ["audit.export"]),
        (["remove", dataset], "", ["dataset.remove"]),
    ]
    performed = set()
    for argv, stdin, want in steps:
        before = last_seq()
        code, out, err = wodp(monkeypatch, capsys, *argv, stdin=stdin)
        assert code == 0, (argv, out, err)
        added = entries_after(before)
        assert sorted(e.action for e in added) == sorted(want), argv
        for e in added:  # no account: the OS account that owns the home, named with its host
            assert e.actor is None and {k: e.detail.get(k) for k in IDENTITY} == IDENTITY, (argv, e.detail)
        performed.add(argv[0])
    assert performed == {"load", "remove", "check-data", "load-data", "harvest", "account", "audit", "db",
                         "freshness"}
    token_before = last_seq()
    code, out, _ = wodp(monkeypatch, capsys, "account", "token", "add", "ops-admin", "--scope", "manage")
    token_id = out.split("wodp.", 1)[1].split(".", 1)[0]
    assert code == 0 and wodp(monkeypatch, capsys, "account", "token", "revoke", token_id)[0] == 0
    assert [e.action for e in entries_after(token_before)] == ["token.add", "token.revoke"]
    assert wodp(monkeypatch, capsys, "audit", "verify")[0] == 0  # the chain is whole


def test_as_an_account_asks_the_policy_and_is_named_in_the_audit_log(home, monkeypatch, capsys):
    tmp_path, source = home
    for login, role in (("ops-admin", "admin"), ("ops-audit", "auditor"), ("ops-rev", "reviewer")):
        assert wodp(monkeypatch, capsys, "account", "add", "--role", role, "--login", login, "--password-stdin",
                    stdin=PASSWORD + "\n")[0] == 0
    assert wodp(monkeypatch, capsys, "account", "add", "--role", "publisher", "--login", "ops-pub",
                "--department", "D017", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    from config import load_settings
    from server.cli_account import open_accounts

    accounts = open_accounts(load_settings())
    ids = {a.login: a.id for a in accounts.list()}
    accounts.close()

    before = last_seq()  # refused: nothing done, said why
    code, _, err = wodp(monkeypatch, capsys, "--as", "ops-audit", "account", "add", "--role", "admin", "--login",
                        "intruder", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1 and "--as ops-audit: a auditor account may not manage-accounts" in err
    assert "nothing was done" in err and entries_after(before) == []
    code, _, err = wodp(monkeypatch, capsys, "--as", "ops-pub", "harvest", "cli-ckan")
    assert code == 1 and "a publisher account may not harvest" in err and "own department" in err
    assert wodp(monkeypatch, capsys, "--as", "nobody", "audit", "verify")[2].startswith(
        "wodp: --as nobody: no such account")
    assert wodp(monkeypatch, capsys, "--as", "ops-admin", "serve")[0] == 1  # the instance runs as its OS account
    assert wodp(monkeypatch, capsys, "account", "disable", "ops-rev")[0] == 0
    code, _, err = wodp(monkeypatch, capsys, "--as", "ops-rev", "audit", "verify")
    assert code == 1 and "the account is disabled" in err
    assert entries_after(before)[-1].action == "account.disable"  # only the allowed change was made

    before = last_seq()  # allowed: the entries name the account, its role, and the OS user and host
    assert wodp(monkeypatch, capsys, "--as", "ops-audit", "audit", "export", "-o", str(tmp_path / "x.jsonl"))[0] == 0
    turtle = tmp_path / "d.ttl"
    dataset_file(turtle, "http://127.0.0.1:8000", source.url + "/stations.csv")
    assert wodp(monkeypatch, capsys, "--as", "ops-admin", "load", str(turtle))[0] == 0
    assert wodp(monkeypatch, capsys, "--as", "ops-admin", "harvest", "cli-ckan")[0] == 0
    added = entries_after(before)
    assert [(e.action, e.actor, e.role) for e in added] == [
        ("audit.export", ids["ops-audit"], "auditor"), ("dataset.publish", ids["ops-admin"], "admin"),
        ("harvest.start", ids["ops-admin"], "admin"), ("harvest.finish", ids["ops-admin"], "admin")]
    assert all(e.detail["as"] in ("ops-audit", "ops-admin") and e.detail["user"] == IDENTITY["user"]
               and e.detail["host"] == IDENTITY["host"] for e in added)


def test_a_command_through_the_running_server_is_named_as_it_is_here(tmp_path):
    """With a server holding the store, the command's identity travels in X-WODP-Command to the /internal door."""
    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    settings = load_settings({}, overrides={"csw": {"enabled": False}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        admin = platform.accounts.add("ops-admin", "admin", password=PASSWORD)
        app = create_app(platform=platform)
        app.config["WODP_INTERNAL_TOKEN"] = "the-server-token"
        said = {"via": "cli", "user": "ops", "host": "gov-host-1", "as": "ops-admin", "account": admin.id}
        before = platform.audit.count()
        answer = app.test_client().post("/internal/check-data", json={"ids": ["no-such-dataset"]},
                                        headers={"X-WODP-Token": "the-server-token",
                                                 "X-WODP-Command": json.dumps(said)})
        assert answer.status_code == 200 and answer.get_json()["not_found"] == ["no-such-dataset"]
        (entry,) = [e for e in platform.audit.entries() if e.seq > before]
        assert (entry.action, entry.actor, entry.role) == ("data-checks.run", admin.id, "admin")
        assert {k: entry.detail[k] for k in ("via", "user", "host", "as")} == {
            "via": "cli", "user": "ops", "host": "gov-host-1", "as": "ops-admin"}
    finally:
        platform.close()
