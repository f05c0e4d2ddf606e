"""Limit how often one client may knock at the costly doors: token checks, validation, pushes, SPARQL, sign-in.

Counts are kept per client address (``request.remote_addr``: the peer, or the client named by trusted proxies
when ``site.proxies`` installs ProxyFix) by Flask-Limiter, in the storage ``rate_limits.storage_uri`` names;
when it names none, in the memory of the process if the platform runs in one, else on the data layer
(server/throttle_store.py: the shared database with ``database.url``, ``throttle.sqlite`` with several web
processes on one machine), so that every web process counts a client's requests together. Past a limit the answer is 429 with ``Retry-After`` and a message naming
the limit and its setting, in the error shape of the door (``server.errors.render_error``).

Token checks have two limits. Every request bearing a token (``Authorization`` or the internal
``X-WODP-Token``) counts against ``rate_limits.token``; a token that is refused also counts against the
stricter ``rate_limits.token_failures``, and once that is reached the client's requests bearing a token are
answered 429 before any token is looked up or hashed (scrypt is what made forged tokens costly).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter
from werkzeug.exceptions import TooManyRequests
from limits import parse_many
from limits.errors import ConfigurationError

from config.settings import SettingsError
from server.errors import render_error

log = logging.getLogger(__name__)

FAILURES_SCOPE = "token-failures"

# door (setting of rate_limits) → (method, a path of the door): the endpoints are found in the app's URL map
DOORS = {
    "validation": (("POST", "/api/validate"),),
    "push": (("POST", "/api/datasets"), ("DELETE", "/api/datasets/x")),
    "sparql": (("GET", "/sparql"), ("HEAD", "/sparql"), ("POST", "/sparql")),
    "sign_in": (("POST", "/admin/login"),),
}
WHAT = {"validation": "validation requests (POST /api/validate)",
        "push": "pushes (POST or DELETE /api/datasets)",
        "sparql": "SPARQL requests (/sparql)",
        "sign_in": "sign-in attempts (POST /admin/login)",
        "token": "requests bearing a token",
        "token_failures": "refused tokens"}


class TooManyFailures(TooManyRequests):
    """The client's failed token checks reached rate_limits.token_failures."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def client_address() -> str:
    """Return the address requests are counted by (the one ProxyFix gives when proxies are trusted)."""
    return request.remote_addr or "unknown"


def bears_token() -> bool:
    """Tell whether the request shows one of our tokens (Bearer, or the internal header; not a proxy's Basic)."""
    scheme = request.headers.get("Authorization", "").strip()[:7].lower()
    return scheme == "bearer " or scheme == "bearer" or bool(request.headers.get("X-WODP-Token"))


def _message(door: str, limits: str) -> str:
    return (f"too many {WHAT[door]} from this client ({client_address()}): the limit is {limits} "
            f"(setting rate_limits.{door})")


def _storage(settings) -> tuple[str, dict]:
    """The storage URI and its options: rate_limits.storage_uri; else the data layer when the platform runs in
    several processes (database.url, or server.processes > 1); else this process's memory."""
    limits = settings.rate_limits
    if limits.storage_uri:
        return limits.storage_uri, {}
    if settings.database.url or settings.server.processes > 1:
        from core.database import open_part
        import server.throttle_store  # noqa: F401  (registers wodp-database://)

        return "wodp-database://", {"database": lambda: open_part(settings.database, "throttle",
                                                                  settings.home / "throttle.sqlite")}
    return "memory://", {}


def _limiter(app: Flask, limits, settings) -> Limiter:
    uri, options = _storage(settings)
    return Limiter(
        key_func=client_address, app=app, storage_uri=uri, storage_options=options,
        # no X-RateLimit headers: Flask-Limiter would also put its window's Retry-After on every answer (200s,
        # and over a busy sandbox's own); a 429 gets its Retry-After from the error handler below
        strategy=limits.strategy, headers_enabled=False,
        swallow_errors=True, in_memory_fallback_enabled=True,  # a shared store that is down limits per process
        application_limits=[ApplicationLimit(limit_provider=limits.token, scope="token",
                                             exempt_when=lambda: not bears_token(),
                                             error_message=lambda: _message("token", limits.token))])


def install(app: Flask, settings) -> Limiter | None:
    """Put the limits of settings.rate_limits on the app; return the limiter (None when disabled)."""
    limits = settings.rate_limits
    if not limits.enabled:
        return None
    try:
        limiter = _limiter(app, limits, settings)
    except ConfigurationError as exc:
        raise SettingsError(f"rate_limits.storage_uri: {exc} (install the store's client library, e.g. "
                            "redis for redis://)") from exc
    adapter = app.url_map.bind("localhost")
    for door, routes in DOORS.items():
        value = getattr(limits, door)
        methods: dict[str, list[str]] = {}
        for method, path in routes:
            methods.setdefault(adapter.match(path, method)[0], []).append(method)
        for endpoint, verbs in methods.items():  # one count per door, whichever of its endpoints is called
            app.view_functions[endpoint] = limiter.shared_limit(
                value, scope=door, methods=verbs, error_message=lambda door=door, value=value: _message(door, value),
            )(app.view_functions[endpoint])
    failures = parse_many(limits.token_failures)
    app.extensions["wodp_throttle"] = (limiter, failures)

    @app.before_request
    def _refuse_after_failures() -> None:
        if bears_token():
            wait = _failures_wait(limiter, failures, hit=False)
            if wait is not None:
                raise TooManyFailures(_message("token_failures", limits.token_failures), wait)

    @app.errorhandler(TooManyRequests)  # Flask-Limiter's RateLimitExceeded and ours
    def _too_many(exc: TooManyRequests) -> Response:
        wait = getattr(exc, "retry_after", None) or _retry_after(limiter)
        response = render_error(429, "too-many-requests", f"{exc.description}: retry after {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response

    return limiter


def token_refused() -> None:
    """Count one failed token check of this request's client (call where a token is refused)."""
    throttle = current_app.extensions.get("wodp_throttle")
    if throttle is not None and not g.get("wodp_token_refused"):
        g.wodp_token_refused = True
        _failures_wait(*throttle, hit=True)


def _failures_wait(limiter: Limiter, failures, hit: bool) -> int | None:
    """Test (or count) the failure limits of this client; return seconds to wait when one is reached."""
    strategy, key = limiter.limiter, client_address()
    try:
        for item in failures:
            if hit:
                strategy.hit(item, key, FAILURES_SCOPE)
            elif not strategy.test(item, key, FAILURES_SCOPE):
                reset, _ = strategy.get_window_stats(item, key, FAILURES_SCOPE)
                return max(1, int(reset + 1 - time.time()))
    except Exception as exc:  # noqa: BLE001 - the store of counts is down: let the token check decide
        log.warning("rate limit store unavailable (%s): refused tokens are not counted", type(exc).__name__)
    return None


def _retry_after(limiter: Limiter) -> int:
    breached = [lim for lim in limiter.current_limits if lim.breached] or [limiter.current_limit]
    resets = [lim.reset_at for lim in breached if lim is not None]
    return max(1, int(max(resets) - time.time())) if resets else 60
