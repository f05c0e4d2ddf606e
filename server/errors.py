"""Render every error by where it happened: problem+json, SPARQL text, or an HTML page."""

from __future__ import annotations

import html
import json
import logging
import os

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from core.errors import WodpError
from core.storage import storage_error

log = logging.getLogger(__name__)

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 410: "Gone", 413: "Payload Too Large", 415: "Unsupported Media Type",
          422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
          503: "Service Unavailable", 507: "Insufficient Storage"}


# In place of Werkzeug's own English description of an HTTP error (ours name what was wrong themselves)
PLAIN_MESSAGES = {
    404: "没有这个地址：请检查拼写，或从首页查找。 There is nothing at this address: check its spelling, or search "
         "from the home page.",
    405: "这个地址不接受此请求方法。 This address does not take this request method.",
}


def _prefers_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "application/problem+json"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["*/*"] * 0.99


# Doors whose errors keep their bare HTML (their own clients and formats: OGC API, CSW, the internal doors).
MACHINE_DOORS = ("/ogc", "/csw", "/internal/")


def _portal_page(status: int, message: str) -> str | None:
    """Render the error inside the portal (header, menu, search box, footer) in the request's language.

    None when the portal cannot render (no platform, a template error): the caller falls back to a bare page.
    """
    try:
        from server.portal.i18n import request_lang
        from server.portal.views import render_page

        lang = request_lang()
        return render_page("portal_error.html", lang, status=status, message=message,
                           reason=TITLES.get(status, "Error"), title=f"{status} {TITLES.get(status, 'Error')}")
    except Exception:  # noqa: BLE001 - an error page must never fail: the bare page is the last resort
        log.exception("the portal could not render the %s page", status)
        return None


def render_error(status: int, code: str, message: str) -> Response:
    """Make the error response the caller can read."""
    path = request.path
    if path.startswith("/sparql"):
        # SPARQL 1.1 Protocol: a 4xx/5xx status with a human-readable body.
        return Response(f"{code}: {message}\n", status=status, mimetype="text/plain")
    if not path.startswith("/api") and _prefers_html():
        page = None if path.startswith(MACHINE_DOORS) else _portal_page(status, message)
        if page is not None:
            return Response(page, status=status, mimetype="text/html")
        title = TITLES.get(status, "Error")
        body = (
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{status} {html.escape(title)}</title><link rel='stylesheet' href='/static/portal.css'>"
            f"</head><body><main class='error'><h1>{status} {html.escape(title)}</h1>"
            f"<p class='message'>{html.escape(message)}</p><p><a href='/'>返回首页 / Home</a></p>"
            "</main></body></html>"
        )
        return Response(body, status=status, mimetype="text/html")
    problem = {"type": f"urn:wodp:error:{code}", "title": TITLES.get(status, "Error"),
               "status": status, "detail": message, "instance": path}
    return Response(json.dumps(problem, ensure_ascii=False), status=status,
                    mimetype="application/problem+json")


def client_error(exc: BaseException) -> tuple[int, str, str] | None:
    """Return (status, code, message) when an exception that escaped a parser was caused by the input.

    These are limits of Python and its libraries that no parser of ours should let through, named here so
    that the client learns what was wrong (400) rather than seeing an internal error: text that holds a lone
    surrogate (JSON allows "\\ud800", no encoder accepts it), a number past Python's integer-conversion limit,
    input nested past the recursion limit, a workbook whose cells openpyxl cannot read (a shared-string index
    past the table, a number or date cell holding something else).
    """
    if isinstance(exc, UnicodeEncodeError) and "surrogate" in str(exc.reason):
        bad = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else ""
        where = f" (U+{ord(bad[0]):04X})" if bad else ""
        return 400, "invalid-text", (f"the input holds a lone surrogate{where}, which is not a character and "
                                     "cannot be stored: send text made of Unicode characters only")
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return 400, "number-too-large", ("the input holds a number of more than 4,300 digits (the limit of "
                                         "integer conversion): no field takes such a number")
    if isinstance(exc, RecursionError):
        return 400, "nested-too-deeply", "the input is nested too deeply to be read"
    if isinstance(exc, (ValueError, IndexError, KeyError, TypeError, SyntaxError)) and _raised_in(exc, "openpyxl"):
        return 400, "bad-request", (f"not a readable XLSX workbook: {type(exc).__name__} "
                                    f"{str(exc)[:200]} (a cell that does not fit its type or its shared strings)")
    return None


def _raised_in(exc: BaseException, package: str) -> bool:
    """Tell whether an exception was raised inside a library (or what it called) reading the request's input."""
    tb, marker = exc.__traceback__, f"{os.sep}{package}{os.sep}"
    while tb is not None:
        if marker in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def register(app: Flask) -> None:
    """Install one handler for our errors, HTTP errors and anything unexpected."""

    @app.errorhandler(WodpError)
    def _ours(exc: WodpError):
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        response = render_error(exc.status, exc.code, exc.message)
        if getattr(exc, "retry_after", None):  # a busy service says when to come back (core.sandbox)
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "-")
        message = exc.description or exc.name
        if exc.description == type(exc).description and exc.code in PLAIN_MESSAGES:  # Werkzeug's default text
            message = PLAIN_MESSAGES[exc.code]
        response = render_error(exc.code or 500, code, message)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        known = client_error(exc)
        if known is not None:
            return render_error(*known)
        disk = storage_error(exc, f"answering {request.method} {request.path}", "the request was not completed")
        if disk is not None:  # a full disk or an I/O error met outside the parts that name it themselves
            log.warning("%s %s: %s (%s)", request.method, request.path, disk.message, str(exc))
            storage = getattr(current_app.extensions.get("wodp"), "storage", None)
            if storage is not None:
                storage.mark_degraded()  # look again for space at the next requests and recover
            return render_error(disk.status, disk.code, disk.message)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500, "internal-error", "an internal error occurred; it has been logged")
