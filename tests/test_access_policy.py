"""The one policy table, checked per role and action, and on the real routes: sessions, tokens, CSRF, expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from access.policy import ANONYMOUS, Principal
from access.roles import POLICY, Action, Role, allowed, policy_table
from tests.conftest import STAFF_PASSWORD, bearer, csrf_of, make_account, sign_in_as

ROOT = Path(__file__).resolve().parents[1]

# the rules of issue 12 written out again by hand, independently of POLICY: role -> {action: "all" | "own"}
EVERY = {a: "all" for a in Action}
EXPECTED = {
    "admin": EVERY,
    "reviewer": {Action.READ_MANAGEMENT: "all", Action.REVIEW: "all", Action.PUBLISH: "all",
                 Action.WITHDRAW: "all", Action.WORK_ORDERS: "all", Action.GRANT_APPLICATION: "all",
                 Action.ASSIGN_REQUEST: "all", Action.REVIEW_SHOWCASE: "all"},
    "publisher": {Action.READ_MANAGEMENT: "own", Action.CREATE: "own", Action.EDIT: "own", Action.SUBMIT: "own",
                  Action.WITHDRAW: "own", Action.WORK_ORDERS: "own", Action.DECIDE_APPLICATION: "own",
                  Action.REPLY_REQUEST: "own"},
    "auditor": {Action.READ_MANAGEMENT: "all", Action.READ_AUDIT: "all"},
    "public": {},
}
MANAGEMENT = ["/api/harvest/sources", "/api/harvest/jobs", "/api/quarantine", "/api/quality", "/api/layers",
              "/api/indexes"]


@pytest.mark.parametrize("role", [r.value for r in Role])
@pytest.mark.parametrize("action", list(Action))
def test_each_role_and_action(role, action):
    me = Principal(id="a1", role=role, department="D017" if role == "publisher" else None)
    reach = EXPECTED[role].get(action)
    assert allowed(me, action) is (reach == "all")
    assert allowed(me, action, "D017") is (reach in ("all", "own"))  # its own department (a publisher's)
    assert allowed(me, action, "D012") is (reach == "all")  # another department
    assert allowed(ANONYMOUS, action) is False
    assert allowed(Principal(role=role), action, "D017") is False  # a role without an account: nobody


def test_unknown_role_may_do_nothing():
    assert not any(allowed(Principal(id="x", role="root"), a) for a in Action)


def test_docs_show_the_policy_table():
    doc = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    assert policy_table() in doc
    assert set(POLICY) == set(Role)


# -- on the routes -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    settings = load_settings({}, overrides={}, home=tmp_path_factory.mktemp("policy-home"))
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def app(platform):
    from server.app import create_app

    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize("path", MANAGEMENT)
def test_anonymous_gets_401_with_a_challenge(app, path):
    answer = app.test_client().get(path)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="wodp"')


@pytest.mark.parametrize("role, department, status", [
    ("admin", None, 200), ("reviewer", None, 200), ("auditor", None, 200), ("publisher", "D017", 403),
    ("public", None, 403)])
def test_management_apis_by_session(app, sign_in, role, department, status):
    client = app.test_client()
    sign_in(client, role, department)
    assert [client.get(p).status_code for p in MANAGEMENT] == [status] * len(MANAGEMENT)


@pytest.mark.parametrize("role, status", [("admin", 200), ("reviewer", 200), ("auditor", 200),
                                          ("publisher", 403), ("public", 403)])
def test_management_apis_by_token(app, platform, staff_token, role, status):
    headers = bearer(staff_token(platform, role))
    client = app.test_client()
    assert [client.get(p, headers=headers).status_code for p in MANAGEMENT] == [status] * len(MANAGEMENT)


def test_a_publisher_reads_its_own_department_only(app, platform, sign_in, staff_token):
    client = app.test_client()
    sign_in(client, "publisher", "D017")
    assert client.get("/api/quarantine?department=D017").status_code == 200
    assert client.get("/api/quarantine?department=D012").status_code == 403  # another department's publisher
    assert client.get("/api/quarantine").status_code == 403  # every department's
    assert client.get("/api/quarantine/wuhan.420100-D012-00001").status_code == 403
    assert client.get("/api/quarantine/wuhan.420100-D017-00001").status_code == 404
    token = staff_token(platform, "publisher", "D012")
    assert app.test_client().get("/api/quarantine?department=D012", headers=bearer(token)).status_code == 200
    assert app.test_client().get("/api/quarantine?department=D017", headers=bearer(token)).status_code == 403


def test_a_push_token_does_not_open_the_management_apis(app, platform):
    _, token = platform.accounts.create("D017")  # scope push only
    answer = app.test_client().get("/api/quarantine?department=D017", headers=bearer(token))
    assert answer.status_code == 403 and "scope" in answer.get_json()["detail"]


def test_revoked_or_forged_token_is_401(app, platform, staff_token):
    token = staff_token(platform, "admin")
    platform.accounts.revoke_token(token.split(".")[1])
    for bad in (token, token[:-4] + "AAAA", "wodp.0123456789ab.x"):
        answer = app.test_client().get("/api/quality", headers=bearer(bad),
                                       environ_overrides={"REMOTE_ADDR": "10.9.9.9"})
        assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_a_page_sends_the_anonymous_to_sign_in(platform):
    from server.app import create_app
    from server.auth import require

    app = create_app(platform=platform)
    app.add_url_rule("/admin/only-harvest", "only_harvest", require(Action.HARVEST)(lambda: "ok"))
    client = app.test_client()
    page = client.get("/admin/only-harvest?x=1", headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["Location"] == "/admin/login?next=%2Fadmin%2Fonly-harvest%3Fx%3D1"
    account = make_account(platform, "reviewer")
    assert sign_in_as(client, account.login).status_code == 302
    refused = client.get("/admin/only-harvest", headers={"Accept": "text/html"})
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    account = make_account(platform, "admin")
    signed = sign_in_as(client, account.login, address="10.1.1.1")
    assert client.get("/admin/only-harvest").get_data(as_text=True) == "ok"
    assert signed.headers["Location"] == "/admin/"


# -- sign-in, sessions and CSRF --------------------------------------------------------------------------
def test_sign_in_goes_to_next_and_sets_safe_cookie(app, platform):
    client = app.test_client()
    account = make_account(platform, "auditor")
    page = client.get("/admin/login?next=/api/quality&lang=en")
    assert "Sign in" in page.get_data(as_text=True)
    assert "登录名" in client.get("/admin/login").get_data(as_text=True)
    answer = client.post("/admin/login?lang=en", data={"login": account.login, "password": STAFF_PASSWORD,
                                                       "next": "/api/quality",
                                                       "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert answer.status_code == 302 and answer.headers["Location"] == "/api/quality"
    cookie = answer.headers["Set-Cookie"]
    assert "wodp_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http base_uri; https makes it Secure (test below)
    assert client.get("/api/quality").status_code == 200
    assert platform.accounts.get(account.id).last_sign_in is not None


@pytest.mark.parametrize("role, department, lands", [("admin", None, "/admin/"), ("publisher", "D017", "/admin/"),
                                                      ("auditor", None, "/admin/"), ("public", None, "/")])
def test_sign_in_lands_where_the_account_has_a_place(app, platform, role, department, lands):
    account = make_account(platform, role, department)
    answer = sign_in_as(app.test_client(), account.login)
    assert answer.status_code == 302 and answer.headers["Location"] == lands  # public: the portal, not a 403


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil", "javascript:x"])
def test_sign_in_never_sends_elsewhere(app, platform, target):
    client = app.test_client()
    account = make_account(platform, "auditor")
    page = client.get("/admin/login")
    answer = client.post("/admin/login", data={"login": account.login, "password": STAFF_PASSWORD, "next": target,
                                               "csrf_token": csrf_of(page.get_data(as_text=True))},
                         environ_overrides={"REMOTE_ADDR": "10.2.0.1"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/"


def test_secure_cookie_under_https(tmp_path, platform):
    from config import load_settings
    from server import auth
    from flask import Flask

    app = Flask(__name__)
    auth.install(app, load_settings({}, overrides={"site": {"base_uri": "https://data.wuhan.gov.cn"}},
                                    home=tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_and_unknown_login_say_the_same(app, platform):
    client = app.test_client()
    account = make_account(platform, "admin")
    wrong = sign_in_as(client, account.login, "Wrong-passw0rd-x")
    unknown = sign_in_as(client, "nobody-here", STAFF_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "登录名或密码错误" in wrong.get_data(as_text=True) and "登录名或密码错误" in unknown.get_data(as_text=True)
    assert client.get("/api/quality").status_code == 401
    assert platform.accounts.get(account.id).failed_attempts == 1


def test_a_locked_account_is_refused_even_with_its_password(app, platform):
    client = app.test_client()
    account = make_account(platform, "admin")
    limit = platform.settings.access.lockout_failures
    answers = [sign_in_as(client, account.login, "Wrong-passw0rd-x") for _ in range(limit)]
    assert [a.status_code for a in answers] == [401] * limit
    assert "锁定" in answers[-1].get_data(as_text=True)
    right = sign_in_as(client, account.login)
    assert right.status_code == 401 and "锁定" in right.get_data(as_text=True)
    assert client.get("/api/quality").status_code == 401
    platform.accounts.set_password(account.id, STAFF_PASSWORD + "!")  # an admin's reset unlocks
    assert sign_in_as(client, account.login, STAFF_PASSWORD + "!").status_code == 302


def test_sign_in_attempts_are_throttled_per_address(app, platform):
    client = app.test_client()
    page = client.get("/admin/login")
    token = csrf_of(page.get_data(as_text=True))
    statuses = [client.post("/admin/login", data={"login": "nobody", "password": "x", "csrf_token": token},
                            environ_overrides={"REMOTE_ADDR": "10.3.3.3"}).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]


def test_a_disabled_account_loses_its_session_and_tokens(app, platform, sign_in, staff_token):
    client = app.test_client()
    account_id = sign_in(client, "admin")
    token = staff_token(platform, "admin")
    assert client.get("/api/quality").status_code == 200
    platform.accounts.set_disabled(account_id, True)
    platform.accounts.set_disabled(platform.accounts.token(token.split(".")[1]).account_id, True)
    assert client.get("/api/quality").status_code == 401
    assert app.test_client().get("/api/quality", headers=bearer(token)).status_code == 401


def test_a_new_password_ends_the_sessions_opened_before(app, platform, sign_in):
    client = app.test_client()
    account_id = sign_in(client, "reviewer")
    assert client.get("/api/quality").status_code == 200
    platform.accounts.set_role(account_id, "auditor")  # a new role applies at once, the session goes on
    assert client.get("/api/quality").status_code == 200
    platform.accounts.set_password(account_id, STAFF_PASSWORD + "-neu")
    assert client.get("/api/quality").status_code == 401


@pytest.mark.parametrize("field, age_s", [("wodp_seen", 31 * 60), ("wodp_at", 9 * 3600)])
def test_an_expired_session_is_401(app, sign_in, field, age_s):
    client = app.test_client()
    sign_in(client, "admin")
    assert client.get("/api/quality").status_code == 200
    with client.session_transaction() as session:
        session[field] = time.time() - age_s
    answer = client.get("/api/quality")
    assert answer.status_code == 401 and "session has ended" in answer.get_json()["detail"]
    assert client.get("/api/quality").status_code == 401  # and it stays ended


def test_state_changing_forms_need_the_csrf_token(app, sign_in):
    client = app.test_client()
    sign_in(client, "admin")
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/admin/logout").status_code == 400  # missing
    assert client.post("/admin/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/api/quality").status_code == 200  # still signed in
    assert client.post("/admin/logout", data={"csrf_token": client.csrf_token}).status_code == 302
    assert client.get("/api/quality").status_code == 401
    fresh = app.test_client()
    assert fresh.post("/admin/login", data={"login": "x", "password": "y"}).status_code == 400


def test_machine_doors_need_no_csrf_token(app, sign_in):
    client = app.test_client()
    sign_in(client, "admin")
    del client.environ_base["HTTP_X_CSRFTOKEN"]  # a session cookie, and no CSRF token
    record = '{"资源名称": "x"}'.encode()
    assert client.post("/api/validate?mapping=china-core", data=record,
                       content_type="application/json").status_code in (200, 422)
    sparql = client.post("/sparql", data={"query": "ASK {}"})  # no query workers here: 503, not a CSRF 400
    assert sparql.status_code != 400 and "CSRF" not in sparql.get_data(as_text=True)
    assert client.post("/api/datasets", data=record, content_type="application/json").status_code == 401
    csw = client.post("/csw", data=b"<bad/>", content_type="application/xml")
    assert "CSRF" not in csw.get_data(as_text=True) and csw.mimetype != "application/problem+json"


def test_nothing_internal_reaches_the_public(app, platform):
    """The pages and feeds an anonymous caller reads name no source address, token or file of the platform."""
    client = app.test_client()
    secret_bits = [str(platform.settings.home), "accounts.sqlite", "scrypt$", "argon2"]
    for path in ("/", "/datasets", "/catalog.ttl", "/changes", "/admin/login", "/api/harvest/sources"):
        body = client.get(path).get_data(as_text=True)
        assert not [bit for bit in secret_bits if bit in body], path


def test_the_secret_key_is_made_once_per_home_and_shared(tmp_path):
    from flask import Flask

    from config import load_settings
    from server import auth

    settings = load_settings({}, overrides={}, home=tmp_path)
    first, second = Flask("one"), Flask("two")
    auth.install(first, settings)
    auth.install(second, settings)  # another process of the same home
    assert first.secret_key == second.secret_key and len(first.secret_key) == 64
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600
    chosen = "k" * 40
    third = Flask("three")
    auth.install(third, load_settings({"WODP_ACCESS__SECRET_KEY": chosen}, overrides={}, home=tmp_path))
    assert third.secret_key == chosen
    with pytest.raises(Exception, match="secret"):
        load_settings({}, overrides={"access": {"secret_key": chosen}}, home=tmp_path)  # never from a file
