"""Render every error by where it happened: problem+json, SPARQL text, or an HTML page."""

from __future__ import annotations

import html
import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from core.errors import WodpError

log = logging.getLogger(__name__)

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 410: "Gone", 413: "Payload Too Large", 415: "Unsupported Media Type",
          422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _prefers_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "application/problem+json"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["*/*"] * 0.99


def render_error(status: int, code: str, message: str) -> Response:
    """Make the error response the caller can read."""
    path = request.path
    if path.startswith("/sparql"):
        # SPARQL 1.1 Protocol: a 4xx/5xx status with a human-readable body.
        return Response(f"{code}: {message}\n", status=status, mimetype="text/plain")
    if not path.startswith("/api") and _prefers_html():
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


def register(app: Flask) -> None:
    """Install one handler for our errors, HTTP errors and anything unexpected."""

    @app.errorhandler(WodpError)
    def _ours(exc: WodpError):
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return render_error(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "-")
        response = render_error(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500, "internal-error", "an internal error occurred; it has been logged")
