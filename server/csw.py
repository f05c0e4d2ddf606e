"""Serve CSW 2.0.2 and 3.0 at /csw: pass requests to the pycsw process and its answers back (docs/csw.md)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ogc.csw.owsexception import CONTENT_TYPE, exception_report, request_version
from server.http import conditional, etag_for
from core.errors import WodpError

log = logging.getLogger(__name__)

bp = Blueprint("csw", __name__)
OWS_CODES = {400: "InvalidParameterValue", 405: "OperationNotSupported", 413: "NoApplicableCode"}


def _platform():
    return current_app.extensions["wodp"]


def _version() -> str:
    body = request.get_data(cache=True) if request.method == "POST" else b""
    return request_version(request.query_string.decode("latin-1"), body)


def ows_error(status: int, code: str, locator: str, text: str) -> Response:
    """Answer an OWS ExceptionReport of the request's CSW version."""
    return Response(exception_report(_version(), code, locator, text), status=status, content_type=CONTENT_TYPE)


@bp.route("/csw", methods=["GET", "POST"])
@bp.route("/csw/", methods=["GET", "POST"])
def csw() -> Response:
    """Answer one CSW request (KVP by GET, XML by POST) through pycsw."""
    platform = _platform()
    service = platform.csw
    if service is None:
        return ows_error(503, "NoApplicableCode", "service", "the CSW service is switched off on this platform")
    body = request.get_data(cache=True) if request.method == "POST" else b""
    answer = service.forward(request.method, request.query_string.decode("latin-1"), body,
                             dict(request.headers))
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    if request.method == "GET" and answer.status == 200:
        store = platform.store
        tag = etag_for("csw", store.generation, request.query_string, request.headers.get("Accept", ""))
        response.vary.add("Accept")
        return conditional(response, tag, store.last_modified())
    return response


@bp.errorhandler(WodpError)
def _ours(exc: WodpError) -> Response:
    if exc.status >= 500:
        log.warning("%s /csw: %s", request.method, exc.message)
    return ows_error(exc.status, "NoApplicableCode", "service", exc.message)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    return ows_error(status, OWS_CODES.get(status, "NoApplicableCode"), "request", exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s /csw", request.method)
    return ows_error(500, "NoApplicableCode", "service", "an internal error occurred; it has been logged")
