"""Sign in through the government's unified identity platform by OpenID Connect (Authlib), where configured.

``/admin/login/oidc`` sends the browser to the provider (authorization code flow, state and nonce kept in the
session); ``/admin/login/oidc/callback`` takes the code back, has Authlib fetch the tokens and check the ID token
(signature by the provider's JWKS, issuer, audience, expiry, nonce), and opens a session for the account
access.identity finds or makes for the claims. Settings: the ``oidc`` section (docs/access.md).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, redirect, request, session

from access.identity import account_for_claims
from access.accounts import SignInRefused

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)
START, CALLBACK = "/admin/login/oidc", "/admin/login/oidc/callback"
NEXT_KEY = "wodp_oidc_next"


def install(app: Flask, settings) -> None:
    """Register the identity platform as an OpenID Connect client when settings.oidc.issuer is set."""
    oidc = settings.oidc
    if not oidc.issuer:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    client = oauth.register(
        "gov", client_id=oidc.client_id, client_secret=oidc.client_secret,
        server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": oidc.scopes, "default_timeout": oidc.timeout_s})
    app.extensions["wodp_oidc"] = client
    app.register_blueprint(bp)


def offered() -> str | None:
    """Return the label of the identity platform's sign-in button in the request's language, None when not set up."""
    if "wodp_oidc" not in current_app.extensions:
        return None
    from server.portal.i18n import current_lang

    oidc = current_app.extensions["wodp"].settings.oidc
    return oidc.label_en if current_lang() == "en" else oidc.label_zh


@bp.get(START)
def start():
    """Send the browser to the identity platform."""
    from server.auth import safe_next

    session[NEXT_KEY] = safe_next(request.args.get("next"))
    settings = current_app.extensions["wodp"].settings
    try:
        return current_app.extensions["wodp_oidc"].authorize_redirect(settings.base_uri + CALLBACK)
    except Exception as exc:  # noqa: BLE001  the provider is down or its metadata unreadable: say so
        log.warning("identity platform unavailable: %s", exc)
        return _refused("provider-unavailable", "统一身份认证平台暂时无法访问，请稍后再试或使用账号密码登录。 "
                                                "The identity platform cannot be reached; try later or sign in "
                                                "with a password.", 503)


@bp.get(CALLBACK)
def callback():
    """Take the provider's answer, check the ID token and open a session."""
    from authlib.common.errors import AuthlibBaseError
    from joserfc.errors import JoseError
    from requests import RequestException

    from server.auth import _home_link, _open_session, audit_event

    platform = current_app.extensions["wodp"]
    client = current_app.extensions["wodp_oidc"]
    try:
        token = client.authorize_access_token()
        claims = token.get("userinfo")
        if not claims:
            raise SignInRefused("no-id-token")
        account = account_for_claims(platform.accounts, client.load_server_metadata()["issuer"], dict(claims),
                                     platform.settings.oidc)
    except SignInRefused as exc:
        return _refused(exc.reason, exc.message)
    except RequestException as exc:
        log.warning("identity platform unavailable: %s", exc)
        return _refused("provider-unavailable", "统一身份认证平台暂时无法访问，请稍后再试。 The identity platform "
                                                "cannot be reached; try later.", 503)
    except (AuthlibBaseError, JoseError) as exc:  # state, signature, issuer, audience, nonce, expiry
        log.warning("OpenID Connect sign-in refused: %s", exc)
        return _refused("oidc-" + type(exc).__name__, "统一身份认证平台的登录未通过校验，请重试。 The sign-in "
                                                      "through the identity platform did not pass its checks.")
    next_path = session.pop(NEXT_KEY, None)
    _open_session(account)
    audit_event("sign-in.ok", f"account:{account.id}", {"via": "oidc", "login": account.login})
    return redirect(next_path or _home_link())


def _refused(reason: str, message: str, status: int = 401):
    from server.auth import _page, audit_event

    audit_event("sign-in.failed", "login:(identity platform)", {"reason": reason, "via": "oidc"})
    return _page(status, error=message)
