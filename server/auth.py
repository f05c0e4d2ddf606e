"""Say who asks and whether the policy lets them: sessions (Flask-Login), tokens, CSRF, sign-in and sign-out.

- ``current_principal()``: the account of the request's ``Authorization: Bearer wodp.<id>.<secret>`` token (a
  request bearing one is judged by it alone, never by a cookie), else of its session, else ANONYMOUS;
- ``require(action, department=None)``: a route decorator asking access.roles.allowed; anonymous → 401 (a page
  is redirected to /admin/login?next=…), signed in but not allowed → 403; ``department`` is None, a code, or a
  callable given the view's arguments;
- /admin/login and /admin/logout (zh-CN first, ?lang=en), sign-in throttled per address (rate_limits.sign_in,
  server/throttle.py) and accounts locked after access.lockout_failures wrong passwords;
- sessions end access.session_hours after the sign-in and access.session_idle_minutes after the last request;
  the cookie is HttpOnly, SameSite=Lax, and Secure when site.base_uri is https;
- every state-changing request carries a CSRF token (Flask-WTF), except the machine doors (MACHINE_DOORS, which
  never read the session) and requests bearing a Bearer token (a browser does not add one across sites).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from access.accounts import Account, SignInRefused
from access.policy import ANONYMOUS, Principal
from access.roles import Action, allowed
from core.errors import WodpError
from core.private import shared_secret
from server import throttle
from server.errors import _prefers_html, render_error

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

LOGIN_PATH = "/admin/login"
HOME_PATH = "/admin/"
SESSION_COOKIE = "wodp_session"
MANAGE_SCOPE = "manage"
# doors for machine clients that never read the session: no CSRF token asked of them
MACHINE_DOORS = ("/api/validate", "/api/datasets", "/sparql", "/csw", "/internal/", "/ogc")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class SignInRequired(WodpError):
    """401: the request names no account (or its session has ended, or its token is refused)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class NotAllowed(WodpError):
    """403: the account's role may not do this (for this department)."""

    status = 403
    code = "forbidden"


class _LoginManager(LoginManager):
    """Flask-Login without its touch of every answer: a request that brings no session cookie leaves the session
    unread, so the public's answers do not vary by cookie (no remember-me cookies are used)."""

    def _update_remember_cookie(self, response):
        if not request.cookies.get(SESSION_COOKIE):
            return response
        return super()._update_remember_cookie(response)


class SignedIn(UserMixin):
    """An account as Flask-Login holds it."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def get_id(self) -> str:
        return f"{self.account.id}.{self.account.password_stamp}"  # a new password ends older sessions

    @property
    def is_active(self) -> bool:
        return self.account.active


def _platform():
    return current_app.extensions["wodp"]


def _accounts():
    return getattr(_platform(), "accounts", None)


# -- who asks ----------------------------------------------------------------------------------------------
def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def current_principal() -> Principal:
    """Return who asks: the account of the Bearer token, else of the session, else ANONYMOUS."""
    if "wodp_principal" in g:
        return g.wodp_principal
    principal, g.wodp_via, g.wodp_scopes = ANONYMOUS, None, ()
    accounts = _accounts()
    token = _bearer()
    if token is not None:
        found = accounts.verify_token(token) if accounts is not None and token else None
        if found is None:
            throttle.token_refused()
            g.wodp_token_error = "invalid_token"
        else:
            principal, g.wodp_via, g.wodp_scopes = found[0].principal(), "token", found[1].scopes
            g.wodp_token_id = found[1].id
    elif accounts is not None and current_user.is_authenticated:
        principal, g.wodp_via = current_user.account.principal(), "session"
    g.wodp_principal = principal
    return principal


def current_account() -> Account | None:
    """Return the signed-in account of the session (not of a token), else None."""
    principal = current_principal()
    return current_user.account if principal.id is not None and g.get("wodp_via") == "session" else None


def authorize(action: Action, department: str | None = None) -> Principal:
    """Return the principal when the policy lets it do ``action``; raise SignInRequired (401) or NotAllowed (403)."""
    principal = current_principal()
    if principal.id is None:
        if g.get("wodp_token_error"):
            raise SignInRequired("the token is unknown or has been revoked", g.wodp_token_error)
        if g.get("wodp_session_expired"):
            raise SignInRequired("会话已过期，请重新登录。 The session has ended: sign in again.")
        raise SignInRequired("请先登录。 Sign in first (or send 'Authorization: Bearer TOKEN').")
    if g.get("wodp_via") == "token" and MANAGE_SCOPE not in g.get("wodp_scopes", ()):
        raise NotAllowed(f"this token has the scopes {' '.join(g.wodp_scopes)}; this door needs a token of "
                         f"scope {MANAGE_SCOPE}")
    if not allowed(principal, action, department):
        where = f" for department {department}" if department else ""
        raise NotAllowed(f"无权执行此操作。 The role {principal.role or '(none)'} may not {action.value}{where}.")
    if action is Action.READ_MANAGEMENT:
        _note_management_access(principal)
    return principal


_TOKEN_DAYS: set[tuple[str, str]] = set()  # (token id, UTC day) whose management reads this process recorded


def _note_management_access(principal: Principal) -> None:
    """Record who reads the management center: once per signed-in session, and once a day per token and process.

    Reading changes nothing, so each page view is not an entry (a console polled every few seconds would bury the
    changes); what the audit log keeps is that an account opened the management center's data, when and from where.
    """
    from server.audit import audit

    if g.get("wodp_via") == "session":
        if session.get("wodp_management_noted"):
            return
        session["wodp_management_noted"] = True
        detail = {"via": "session", "path": request.path}
    else:
        key = (str(g.get("wodp_token_id")), time.strftime("%Y-%m-%d", time.gmtime()))
        if key in _TOKEN_DAYS:
            return
        if len(_TOKEN_DAYS) > 10_000:
            _TOKEN_DAYS.clear()
        _TOKEN_DAYS.add(key)
        detail = {"via": "token", "token": key[0], "path": request.path}
    audit("management.read", f"account:{principal.id}", detail=detail)


def require(action: Action, department=None):
    """Decorate a view: refuse it unless the policy lets the principal do ``action`` (for ``department``)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            code = department(**kwargs) if callable(department) else department
            authorize(action, code)
            return view(*args, **kwargs)

        return guarded

    return decorate


# -- sessions ----------------------------------------------------------------------------------------------
def _secret_key(settings) -> str:
    if settings.access.secret_key:
        return settings.access.secret_key
    return shared_secret(settings.home / "secret-key").decode()


def _end_expired_session() -> None:
    """End a session past its absolute or idle limit; keep the time of its last request."""
    if not request.cookies.get(SESSION_COOKIE) or "_user_id" not in session:
        return  # an anonymous request leaves the session untouched (no cookie, no Vary: Cookie)
    access = _platform().settings.access
    now = time.time()
    if now - session.get("wodp_at", 0) > access.session_hours * 3600 or \
            now - session.get("wodp_seen", 0) > access.session_idle_minutes * 60:
        logout_user()
        session.clear()
        g.wodp_session_expired = True
    elif now - session.get("wodp_seen", 0) > 30:
        session["wodp_seen"] = now


def _check_csrf(csrf: CSRFProtect) -> None:
    if request.method in UNSAFE and _bearer() is None and not request.path.startswith(MACHINE_DOORS):
        csrf.protect()


def install(app: Flask, settings) -> None:
    """Give the app its sessions, CSRF protection, sign-in pages and the 401/403 answers."""
    app.secret_key = _secret_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_uri.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.access.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=int(settings.access.session_hours * 3600),
        REMEMBER_COOKIE_HTTPONLY=True)
    manager = _LoginManager()
    manager.init_app(app, add_context_processor=False)  # templates ask current_principal(), not current_user
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(session_id: str):
        accounts = _accounts()
        account_id, _, stamp = session_id.partition(".")
        account = accounts.get(account_id) if accounts is not None else None
        if account is None or not account.active or account.password_stamp != stamp:
            return None
        return SignedIn(account)

    from server import oidc

    oidc.install(app, settings)
    csrf = CSRFProtect(app)
    app.before_request(_end_expired_session)
    app.before_request(lambda: _check_csrf(csrf))
    app.register_blueprint(bp)

    @app.errorhandler(SignInRequired)
    def _sign_in_required(exc: SignInRequired) -> Response:
        if not request.path.startswith("/api") and request.method == "GET" and _prefers_html():
            return redirect(_login_link(request.full_path.rstrip("?")))
        response = render_error(exc.status, exc.code, exc.message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="wodp"' + (f', error="{exc.error}"' if exc.error else "")
        return response


def _login_link(next_path: str | None = None) -> str:
    from server.portal.i18n import current_lang, link

    return link(LOGIN_PATH, current_lang(), {"next": next_path})


def safe_next(target: str | None) -> str | None:
    """Return a local path to go to after signing in, or None for anything that could lead elsewhere."""
    if not target or len(target) > 2000 or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def audit_event(action: str, target: str, detail: dict | None = None, principal: Principal | None = None) -> None:
    """Record a sign-in event in the audit log (server/audit.py) by the request's principal or the one given."""
    from server.audit import audit

    audit(action, target, detail=detail, principal=principal)


# -- the pages ---------------------------------------------------------------------------------------------
def _page(status: int = 200, **context):
    from server.portal.i18n import current_lang, translate
    from server.portal.views import render_page

    from server.oidc import offered

    lang = current_lang()
    body = render_page("auth_login.html", lang, title=translate("auth_sign_in", lang), oidc_label=offered(),
                       **context)
    return Response(body, status=status, mimetype="text/html")


@bp.route(LOGIN_PATH, methods=["GET", "POST"])
def login():
    """Show the sign-in form; check a login name and password and open a session."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _page(next_path=next_path, expired=bool(g.get("wodp_session_expired")))
    login_name = request.form.get("login", "")[:64]
    try:
        account = _accounts().sign_in(login_name, request.form.get("password", ""))
    except SignInRefused as exc:
        known = exc.account  # the account the login names, when there is one (locked, disabled, wrong password)
        audit_event("sign-in.failed", f"account:{known.id}" if known else "login:" + login_name.strip().lower(),
                    {"reason": exc.reason, "login": login_name.strip().lower(), "via": "password"})
        return _page(401, next_path=next_path, error=exc.message, login_name=login_name)
    _open_session(account)
    audit_event("sign-in.ok", f"account:{account.id}", {"via": "password", "login": account.login})
    return redirect(next_path or _home_link(account))


def _open_session(account: Account) -> None:
    session.clear()  # nothing of the anonymous visit is carried into the signed-in session
    login_user(SignedIn(account))
    session.permanent = True
    session["wodp_at"] = session["wodp_seen"] = time.time()
    g.pop("wodp_principal", None)


def _home_link(account: Account | None = None) -> str:
    """Where a sign-in lands: the management center, or the portal for an account with no part in it (public)."""
    from server.portal.i18n import current_lang, link

    staff = account is None or allowed(account.principal(), Action.READ_MANAGEMENT, account.department)
    return link(HOME_PATH if staff else "/", current_lang())


@bp.route("/admin/logout", methods=["GET", "POST"])
def logout():
    """End the session (POST, with its CSRF token); GET shows the button."""
    account = current_account()
    if request.method == "GET":
        if account is None:
            return redirect(_login_link())
        return _page(sign_out=True, account=account)
    logout_user()
    session.clear()
    if account is not None:
        audit_event("sign-out", f"account:{account.id}", {"login": account.login}, principal=account.principal())
    return redirect(_login_link())
