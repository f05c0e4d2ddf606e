"""Sign-in through the identity platform by OpenID Connect, against a local provider (tests/oidc_provider.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.oidc_provider import Provider

CLIENT_ID, CLIENT_SECRET = "wodp", "provider-secret-for-tests"


@pytest.fixture(scope="module")
def provider():
    with Provider(CLIENT_ID, CLIENT_SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def platform(tmp_path_factory, provider):
    from config import load_settings
    from server.platform import Platform

    oidc = {"issuer": provider.url, "client_id": CLIENT_ID, "roles": {"sjj-shenhe": "reviewer", "bm-shuju":
            "publisher", "wodp-admin": "admin", "gongzhong": "public"}, "role_claim": "groups"}
    settings = load_settings({"WODP_OIDC__CLIENT_SECRET": CLIENT_SECRET}, overrides={"oidc": oidc},
                             home=tmp_path_factory.mktemp("oidc-home"))
    platform = Platform.open(settings, start_workers=False)
    yield platform
    platform.close()


@pytest.fixture
def client(platform):
    from server.app import create_app

    return create_app(platform=platform).test_client()


def sign_in_through(client, provider, person: dict, next_path: str = "/api/quality"):
    """Go through the flow as a browser: to the provider, back to the callback; return the callback's answer."""
    provider.person = person
    start = client.get(f"/admin/login/oidc?next={next_path}")
    assert start.status_code == 302 and start.headers["Location"].startswith(provider.url + "/authorize?")
    back = httpx.get(start.headers["Location"], follow_redirects=False, trust_env=False)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/admin/login/oidc/callback"
    return client.get(f"{callback.path}?{callback.query}")


def test_the_sign_in_page_offers_the_identity_platform(client, tmp_path):
    assert "通过统一身份认证平台登录" in client.get("/admin/login").get_data(as_text=True)
    assert "Sign in through the government" in client.get("/admin/login?lang=en").get_data(as_text=True)


def test_a_reviewer_signs_in_and_gets_an_account(client, provider, platform):
    answer = sign_in_through(client, provider, {"sub": "u-1001", "preferred_username": "zhang.wei",
                                                "name": "张伟", "groups": ["sjj-shenhe", "other"]})
    assert answer.status_code == 302 and answer.headers["Location"] == "/api/quality"
    assert client.get("/api/quality").status_code == 200
    account = platform.accounts.by_login("zhang.wei")
    assert (account.role, account.display_name, account.external_id) == ("reviewer", "张伟", f"{provider.url}|u-1001")
    assert account.last_sign_in is not None and not account.has_password


def test_the_role_follows_the_identity_platform_at_each_sign_in(client, provider, platform):
    person = {"sub": "u-2002", "preferred_username": "li.na", "groups": "bm-shuju", "department": "D017"}
    assert sign_in_through(client, provider, person).status_code == 302
    assert client.get("/api/quarantine?department=D017").status_code == 200
    assert client.get("/api/quarantine?department=D012").status_code == 403
    again = client.application.test_client()
    assert sign_in_through(again, provider, {**person, "groups": "gongzhong"}).status_code == 302
    assert again.get("/api/quarantine?department=D017").status_code == 403
    account = platform.accounts.by_login("li.na")
    assert (account.role, account.department) == ("public", None)
    assert len([a for a in platform.accounts.list() if a.login == "li.na"]) == 1


@pytest.mark.parametrize("person, words", [
    ({"sub": "u-3003", "groups": ["unknown-group"]}, "no role here"),
    ({"sub": "u-3004", "groups": "bm-shuju"}, "A publisher needs a department"),
])
def test_a_person_without_a_role_here_is_refused(client, provider, platform, person, words):
    answer = sign_in_through(client, provider, person)
    assert answer.status_code == 401 and words in answer.get_data(as_text=True)
    assert platform.accounts.by_external_id(f"{provider.url}|{person['sub']}") is None
    assert client.get("/api/quality").status_code == 401


@pytest.mark.parametrize("tamper", ["key", "nonce", "audience", "expired"])
def test_a_forged_or_stale_id_token_is_refused(client, provider, platform, tamper):
    provider.tamper = tamper
    try:
        answer = sign_in_through(client, provider, {"sub": f"u-{tamper}", "groups": "wodp-admin"})
    finally:
        provider.tamper = None
    assert answer.status_code == 401 and "did not pass its checks" in answer.get_data(as_text=True)
    assert client.get("/api/quality").status_code == 401
    assert platform.accounts.by_external_id(f"{provider.url}|u-{tamper}") is None


def test_a_callback_without_its_state_is_refused(client, provider):
    provider.person = {"sub": "u-5005", "groups": "wodp-admin"}
    start = httpx.get(f"{provider.url}/authorize", params={"client_id": CLIENT_ID, "response_type": "code",
                      "redirect_uri": "http://127.0.0.1:8000/admin/login/oidc/callback", "state": "forged"},
                      follow_redirects=False, trust_env=False)
    callback = urlsplit(start.headers["Location"])
    answer = client.get(f"{callback.path}?{callback.query}")  # no sign-in was started by this browser
    assert answer.status_code == 401 and client.get("/api/quality").status_code == 401


def test_a_disabled_account_is_refused(client, provider, platform):
    person = {"sub": "u-6006", "preferred_username": "wang.fang", "groups": "wodp-admin"}
    assert sign_in_through(client, provider, person).status_code == 302
    platform.accounts.set_disabled("wang.fang", True)
    fresh = client.application.test_client()
    assert sign_in_through(fresh, provider, person).status_code == 401
    assert fresh.get("/api/quality").status_code == 401
    assert client.get("/api/quality").status_code == 401  # the session opened before stops too


def test_no_button_and_no_route_without_an_issuer(tmp_path):
    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    platform = Platform.open(load_settings({}, overrides={}, home=tmp_path), start_workers=False)
    try:
        client = create_app(platform=platform).test_client()
        assert "统一身份认证" not in client.get("/admin/login").get_data(as_text=True)
        assert client.get("/admin/login/oidc").status_code == 404
    finally:
        platform.close()
