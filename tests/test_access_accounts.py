"""Accounts: passwords (argon2, policy), lockout, tokens and their scopes, the migration of push accounts, the CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from access.accounts import AccountStore, SignInRefused
from access.passwords import PasswordPolicy
from access.tokens import scrypt_hash
from core.errors import BadRequestError

ROOT = Path(__file__).resolve().parents[1]
GOOD = "Sehr-gutes-Passwort-1"


@pytest.fixture
def accounts(tmp_path):
    store = AccountStore(tmp_path / "accounts.sqlite", PasswordPolicy(12, 3), lockout_failures=3, lockout_minutes=10)
    yield store
    store.close()


@pytest.mark.parametrize("password, words", [
    ("Short-1", "至少需要 12 个字符"), ("alllowercaseletters", "至少 3 类字符"), ("boss-Boss-12345", "登录名")])
def test_the_password_policy_refuses(accounts, password, words):
    with pytest.raises(BadRequestError) as refused:
        accounts.add("boss", "admin", password=password)
    assert words in refused.value.message
    assert accounts.by_login("boss") is None


def test_passwords_are_stored_as_argon2(accounts, tmp_path):
    account = accounts.add("Boss", "admin", "管理员", password=GOOD)
    assert account.login == "boss" and account.has_password and account.role == "admin"
    [stored] = accounts.db.rows("SELECT password_hash FROM accounts")[0]
    assert stored.startswith("$argon2id$")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("accounts.sqlite*"))
    assert GOOD.encode() not in raw
    assert accounts.sign_in("BOSS", GOOD).last_sign_in is not None


def test_roles_and_departments_are_checked(accounts):
    with pytest.raises(BadRequestError):
        accounts.add("p1", "publisher")  # a publisher needs its department
    with pytest.raises(BadRequestError):
        accounts.add("p1", "publisher", department="D999")
    with pytest.raises(BadRequestError):
        accounts.add("a1", "admin", department="D017")  # only publishers have one
    with pytest.raises(BadRequestError):
        accounts.add("x1", "root")
    assert accounts.add("p1", "publisher", department="d017").department == "D017"
    with pytest.raises(BadRequestError) as twice:
        accounts.add("P1", "auditor")
    assert twice.value.status == 409
    moved = accounts.set_role("p1", "reviewer")
    assert (moved.role, moved.department) == ("reviewer", None)


def test_lockout_after_failures_and_unlock_by_password_reset(accounts):
    accounts.add("boss", "admin", password=GOOD)
    reasons = []
    for _ in range(3):
        with pytest.raises(SignInRefused) as refused:
            accounts.sign_in("boss", "Wrong-password-9")
        reasons.append(refused.value.reason)
    assert reasons == ["wrong-password", "wrong-password", "locked"]
    with pytest.raises(SignInRefused) as locked:
        accounts.sign_in("boss", GOOD)
    assert locked.value.reason == "locked" and locked.value.until
    accounts.set_password("boss", GOOD + "x")
    assert accounts.sign_in("boss", GOOD + "x").failed_attempts == 0


def test_disabled_unknown_and_passwordless_accounts_cannot_sign_in(accounts):
    accounts.add("boss", "admin", password=GOOD)
    accounts.add("robot", "auditor")
    accounts.set_disabled("boss", True)
    for login, password, reason in (("boss", GOOD, "disabled"), ("nobody", GOOD, "unknown-login"),
                                    ("robot", GOOD, "no-password")):
        with pytest.raises(SignInRefused) as refused:
            accounts.sign_in(login, password)
        assert refused.value.reason == reason
        assert "登录名或密码错误" in refused.value.message  # the same answer, whatever the reason
    accounts.set_disabled("boss", False)
    assert accounts.sign_in("boss", GOOD).active


def test_tokens_carry_scopes_and_stop_with_their_account(accounts):
    publisher = accounts.add("d017", "publisher", department="D017")
    auditor = accounts.add("aud", "auditor")
    token, secret = accounts.add_token(publisher.id, ["push", "manage"], "ci")
    assert token.scopes == ("manage", "push") and secret.startswith(f"wodp.{token.id}.")
    assert accounts.verify(secret).id == publisher.id
    with pytest.raises(BadRequestError):
        accounts.add_token(auditor.id, ["push"])  # a push token acts for a department
    with pytest.raises(BadRequestError):
        accounts.add_token(auditor.id, ["everything"])
    _, manage_only = accounts.add_token(auditor.id, ["manage"])
    assert accounts.verify(manage_only) is None  # not a push token
    assert accounts.verify_token(manage_only)[0].role == "auditor"
    accounts.set_disabled("d017", True)
    assert accounts.verify(secret) is None and accounts.verify_token(secret) is None
    accounts.set_disabled("d017", False)
    accounts.revoke_token(token.id)
    assert accounts.verify_token(secret) is None


def test_push_accounts_become_publishers_and_their_tokens_keep_working(tmp_path, database_url):
    """A home of the first releases (accounts_0001: push_accounts) migrated to accounts_0002."""
    from sqlalchemy import text

    from core.database import engine_for, open_database, upgrade

    path = tmp_path / "accounts.sqlite"
    engine = engine_for(database_url, path)
    upgrade(engine, "accounts@accounts_0001")
    live, gone = "wodp.0123456789ab.live-secret", "wodp.ba9876543210.old-secret"
    with engine.begin() as conn:
        for token, revoked in ((live, None), (gone, "2025-01-01T00:00:00Z")):
            conn.execute(text("INSERT INTO push_accounts (id, department, name, token_hash, created, revoked) "
                              "VALUES (:id, 'D017', '交通局', :h, '2024-05-01T00:00:00Z', :r)"),
                         {"id": token.split(".")[1], "h": scrypt_hash(token), "r": revoked})
    if database_url is None:
        engine.dispose()
    db = open_database(database_url, "accounts", path, auto_migrate=True)
    accounts = AccountStore(db)
    try:
        account = accounts.verify(live)
        assert (account.id, account.login, account.role, account.department, account.display_name) == (
            "0123456789ab", "push-0123456789ab", "publisher", "D017", "交通局")
        assert accounts.verify(gone) is None
        assert [t.revoked is not None for t in accounts.tokens()] == [False, True]
        assert {t.scopes for t in accounts.tokens()} == {("push",)}
        assert len(accounts.list(role="publisher")) == 2
    finally:
        accounts.close()


def _wodp(home, *args, stdin: str | None = None):
    env = {"WODP_HOME": str(home), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "server.cli", "account", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_account_commands(tmp_path):
    made = _wodp(tmp_path, "add", "--role", "admin", "--login", "chief", "--name", "总管", "--password-stdin",
                 stdin=GOOD + "\n")
    assert made.returncode == 0, made.stderr
    assert _wodp(tmp_path, "add", "--role", "admin", "--login", "weak", "--password-stdin",
                 stdin="short\n").returncode == 1
    assert _wodp(tmp_path, "add", "--role", "publisher", "--login", "d012", "--department", "D012").returncode == 0
    listed = _wodp(tmp_path, "list").stdout
    assert "chief" in listed and "admin" in listed and "D012" in listed and "$argon2" not in listed
    assert "reviewer" in _wodp(tmp_path, "role", "d012", "reviewer").stdout
    assert _wodp(tmp_path, "disable", "chief").returncode == 0
    assert "disabled" in _wodp(tmp_path, "list", "--role", "admin").stdout
    assert _wodp(tmp_path, "enable", "chief").returncode == 0
    assert _wodp(tmp_path, "passwd", "chief", "--password-stdin", stdin=GOOD + "2\n").returncode == 0
    token_out = _wodp(tmp_path, "token", "add", "chief", "--scope", "manage").stdout
    secret = token_out.split("stored hashed): ", 1)[1].strip()
    token_id = secret.split(".")[1]
    assert token_id in _wodp(tmp_path, "token", "list", "chief").stdout
    assert _wodp(tmp_path, "token", "revoke", token_id).returncode == 0
    assert _wodp(tmp_path, "token", "revoke", "nope").returncode == 1
    accounts = AccountStore(tmp_path / "accounts.sqlite")
    try:
        assert accounts.sign_in("chief", GOOD + "2").display_name == "总管"
        assert accounts.verify_token(secret) is None
    finally:
        accounts.close()
    assert sqlite3.connect(tmp_path / "accounts.sqlite").execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 2


def test_the_demo_has_one_account_per_role_printed_once(accounts):
    from access.roles import Role
    from server.cli_account import demo_accounts

    lines = demo_accounts(accounts, "http://127.0.0.1:8000")
    assert lines[0] == "demo accounts: sign in at http://127.0.0.1:8000/admin/login (?lang=en for English)"
    rows = [line.split() for line in lines[2:]]
    assert sorted(row[0] for row in rows) == sorted(r.value for r in Role)
    for role, login, password, *rest in rows:
        account = accounts.sign_in(login, password)  # the printed password opens the account
        assert account.role == role and account.department == ("D017" if role == "publisher" else None)
    again = demo_accounts(accounts, "http://127.0.0.1:8000")
    assert len(again) == 2 and "made by an earlier run" in again[1]
    assert not any(password in "\n".join(again) for _, _, password, *_ in rows)


def test_tokens_are_stored_as_salted_sha256_and_old_scrypt_ones_are_re_stored_at_first_use(accounts):
    """A token (256 random bits) is checked by a fast salted hash; one stored by scrypt before still opens, once."""
    account = accounts.add("key-holder", "public", "持钥人", None, "Long-enough-passw0rd")
    token_id, secret = accounts.add_token(account.id, ("data",), "key")
    stored = accounts.db.rows("SELECT token_hash FROM account_tokens WHERE id = :id", {"id": token_id.id})[0][0]
    assert stored.startswith("sha256$") and secret not in stored and secret.split(".")[2] not in stored
    assert accounts.verify_token(secret)[0].id == account.id
    assert accounts.verify_token(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    # a token of an earlier release, stored by scrypt
    accounts._run("UPDATE account_tokens SET token_hash = :h, last_used = NULL WHERE id = :id",
                  {"h": scrypt_hash(secret), "id": token_id.id})
    assert accounts.verify_token(secret)[0].id == account.id
    again = accounts.db.rows("SELECT token_hash, last_used FROM account_tokens WHERE id = :id", {"id": token_id.id})[0]
    assert again[0].startswith("sha256$") and again[1] is not None
    assert accounts.verify_token(secret)[0].id == account.id  # and opens from then on by its new form
    accounts.revoke_token(token_id.id)
    assert accounts.verify_token(secret) is None
