"""Serve OGC API Features and Records at /ogc by calling pygeoapi's framework-free API functions.

Each route adapts the Flask request (``APIRequest.from_flask``) and hands it to the pygeoapi function with
the platform's ``OgcApi.api``, whose collections change while serving (``ogc.api``). Checks pygeoapi leaves
out are made here: unknown query parameters (/req/core/query-param-unknown), non-finite bbox numbers and
offsets beyond SQLite integers answer 400. ``/layers/<id>.geojson`` streams a whole layer (CRS84).
The layer of a dataset whose data the caller may not read (its open type, docs/access.md) is not listed as a
collection (``ogc.api``); its collection, queryables, items and GeoJSON answer 403 with an OGC exception.
"""

from __future__ import annotations

import functools
import json
import math
from http import HTTPStatus

from flask import Blueprint, Response, current_app, request, stream_with_context

from access.policy import DataAccessRefused
from ogc.features import FeatureQuery
from server.access_guard import require_data
from server.portal.i18n import request_lang

bp = Blueprint("ogc_api", __name__)

RESERVED = {"bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime", "sortby",
            "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs",
            "api_key"}  # the API key (server/access_guard.py), read by the guard, not a filter
MAX_OFFSET = 2 ** 53
PAGE = 1000


def _platform():
    return current_app.extensions["wodp"]


def _ogc():
    ogc = getattr(_platform(), "ogc", None)
    if ogc is None:
        raise _Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "NoApplicableCode", "OGC API is not enabled")
    return ogc


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = int(status), code, message


@bp.errorhandler(_Refusal)
def _refused(exc: _Refusal) -> Response:
    body = {"code": exc.code, "type": exc.code, "description": exc.message}
    return Response(json.dumps(body, ensure_ascii=False), status=exc.status, mimetype="application/json")


@functools.cache
def _request_class():
    """Return pygeoapi's request adapter with its language chosen by us: zh-CN or en, never an error.

    pygeoapi's own choice (``l10n.best_match``) builds ``Locale("zh", territory="CN")``, which Babel does not
    know (its Chinese locales carry a script: zh_Hans_CN), so ``?lang=zh``, ``Accept-Language: zh``, ``fr-FR``
    or ``*`` answered 500. Any language parameter or header gives Chinese unless it asks for English first.
    """
    from pygeoapi import l10n
    from pygeoapi.api import APIRequest

    class OgcRequest(APIRequest):
        def _get_locale(self, headers, supported_locales):
            asked = request.args.get("lang") or request.headers.get("Accept-Language")
            wanted = "en" if request_lang() == "en" else "zh-CN"
            return (wanted if asked else None), l10n.str2locale(wanted)

    return OgcRequest


def _run(func, *args, skip_valid_check: bool = False, refused_formats: tuple[str, ...] = ()) -> Response:
    from pygeoapi.api import apply_gzip

    api = _ogc().api
    api_request = _request_class().from_flask(request, api.locales)
    if refused_formats:  # by f= or by Accept, as pygeoapi reads them with the collection's own formats
        fmt = api_request._get_format(request.headers, {f: f"text/{f}" for f in refused_formats})
        if fmt in refused_formats:
            status, code = (400, "InvalidParameterValue") if request.args.get("f") else (406, "NotAcceptable")
            raise _Refusal(status, code, f"format {fmt} is offered for the features of layers only; the "
                           "catalogue's records answer json, jsonld or html")
    if not skip_valid_check and not api_request.is_valid():
        headers, status, content = api.get_format_exception(api_request)
    else:
        headers, status, content = func(api, api_request, *args)
        content = apply_gzip(headers, content)
    response = Response(content, status=status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _guard(collection_id: str) -> None:
    """Refuse (403) the collection of a layer whose dataset's data the caller may not read."""
    info = _ogc().features.layer(collection_id)
    if info is None or info.kind != "feature" or not info.dataset_uri:
        return
    try:
        require_data(_platform(), info.dataset_uri)
    except DataAccessRefused as exc:
        raise _Refusal(HTTPStatus.FORBIDDEN, "Forbidden", exc.message) from None


def _check_items_params(collection_id: str) -> None:
    """Refuse unknown parameters, non-finite bbox numbers and absurd offsets with 400."""
    info = _ogc().features.layer(collection_id)
    if info is None:
        return  # pygeoapi answers 404
    unknown = sorted(set(request.args) - RESERVED - set(info.fields))
    if unknown:
        raise _Refusal(400, "InvalidParameterValue", f"unknown query parameter(s): {', '.join(unknown)}")
    bbox = request.args.get("bbox")
    if bbox:
        try:
            numbers = [float(v) for v in bbox.split(",")]
        except ValueError:
            numbers = []  # pygeoapi names the problem
        if not all(map(math.isfinite, numbers)):
            raise _Refusal(400, "InvalidParameterValue", "bbox values must be finite numbers")
    offset = request.args.get("offset", "0")
    if offset.lstrip("-").isdigit() and abs(int(offset)) > MAX_OFFSET:
        raise _Refusal(400, "InvalidParameterValue", f"offset must be at most {MAX_OFFSET}")


@bp.route("/ogc", strict_slashes=False)
@bp.route("/ogc/")
def landing_page() -> Response:
    from pygeoapi.api import landing_page as handler

    return _run(handler)


@bp.route("/ogc/conformance")
def conformance() -> Response:
    from pygeoapi.api import conformance as handler

    return _run(handler)


@bp.route("/ogc/openapi")
def openapi() -> Response:
    from pygeoapi.api import openapi_ as handler

    _ogc().openapi()
    return _run(handler)


@bp.route("/ogc/collections")
def collections() -> Response:
    from pygeoapi.api import describe_collections

    return _run(describe_collections)


@bp.route("/ogc/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    from pygeoapi.api import describe_collections

    _guard(collection_id)
    return _run(describe_collections, collection_id)


@bp.route("/ogc/collections/<collection_id>/queryables")
def queryables(collection_id: str) -> Response:
    from pygeoapi.api.itemtypes import get_collection_queryables

    _guard(collection_id)
    return _run(get_collection_queryables, collection_id)


@bp.route("/ogc/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    from pygeoapi.api.itemtypes import get_collection_items

    _guard(collection_id)
    _check_items_params(collection_id)
    info = _ogc().features.layer(collection_id)
    # pygeoapi 0.24 writes CSV only for feature providers (records: UnboundLocalError, a 500)
    refused = ("csv",) if info is not None and info.kind == "record" else ()
    return _run(get_collection_items, collection_id, skip_valid_check=True, refused_formats=refused)


@bp.route("/ogc/collections/<collection_id>/items/<feature_id>")
def item(collection_id: str, feature_id: str) -> Response:
    from pygeoapi.api.itemtypes import get_collection_item

    _guard(collection_id)
    return _run(get_collection_item, collection_id, feature_id)


def _all_features(store, layer_id: str):
    if hasattr(store, "iter_features"):
        yield from store.iter_features(layer_id)
        return
    offset = 0
    while True:
        page, _ = store.query(layer_id, FeatureQuery(offset=offset, limit=PAGE))
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


@bp.route("/layers/<layer_id>.geojson")
def layer_geojson(layer_id: str) -> Response:
    """Stream a whole layer as one GeoJSON FeatureCollection (CRS84 lon/lat), for download distributions."""
    store = _ogc().features
    info = store.layer(layer_id)
    if info is None or info.kind != "feature":
        raise _Refusal(404, "NotFound", f"no layer {layer_id}")
    _guard(layer_id)

    def generate():
        head = {"type": "FeatureCollection", "name": layer_id, "numberMatched": info.count}
        if info.bbox:
            head["bbox"] = list(info.bbox)
        yield json.dumps(head, ensure_ascii=False)[:-1] + ', "features": ['
        for n, feature in enumerate(_all_features(store, layer_id)):
            yield ("," if n else "") + json.dumps(feature, ensure_ascii=False)
        yield "]}"

    response = Response(stream_with_context(generate()), mimetype="application/geo+json")
    response.headers["Content-Disposition"] = f'attachment; filename="{layer_id}.geojson"'
    if info.modified:
        response.last_modified = info.modified
    return response
