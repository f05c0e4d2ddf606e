"""Serve the DCAT doors: the paged catalogue and dereferenceable dataset URIs."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime, timezone
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, redirect, request, url_for

from access.policy import public_view
from ontology.labels import name_triples
from ontology.namespaces import HYDRA, RDF, XSD
from server import http, rdf_response
from server.catalog_order import order_key
from server.catalog_texts import chinese_first_lines
from server.rdf_response import HTML
from server.portal.i18n import normalize_lang
from sparql.results import write_graph
from core.errors import BadRequestError, GoneError, NotFoundError
from core.identifiers import is_dataset_id

bp = Blueprint("dcat", __name__)

CATALOG_GRAPH_SUFFIX = "/catalog"


def _platform():
    return current_app.extensions["wodp"]


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequestError(f"{name} must be {bound}, got {value}")
    return value


def _since_arg() -> str | None:
    raw = request.args.get("modified_since")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequestError(
            f"modified_since must be an ISO 8601 date or date-time, got {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _page_query(since: str | None) -> str:
    """The store's own answer (no catalogue order kept, e.g. a test's bare platform): every dataset, in page order."""
    where = ("GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> . "
             "OPTIONAL { ?r <http://xmlns.com/foaf/0.1/primaryTopic> ?d ; <http://purl.org/dc/terms/modified> ?m } }")
    if since:
        where += f' FILTER(?m >= "{since}"^^<http://www.w3.org/2001/XMLSchema#dateTime>)'
    return f"SELECT ?d ?m WHERE {{ {where} }}"


class _StoreOrder:
    """The catalogue order read from the store (what server/catalog_order.py keeps), for a platform without it."""

    def __init__(self, store, since: str | None) -> None:
        from server.catalog_order import order_key
        from sparql.records import parse_datetime

        keys: dict[str, str] = {}
        for row in store.query(_page_query(since)):
            key = order_key(parse_datetime(row["m"]))
            keys[row["d"].value] = max(keys.get(row["d"].value, ""), key)
        self.rows = sorted((m, u) for u, m in keys.items())

    def count(self, since=None) -> int:
        return len(self.rows)

    def page(self, size: int, offset: int = 0, since=None, after=None) -> list[tuple[str, str]]:
        if after is not None:
            import bisect

            offset = bisect.bisect_right(self.rows, tuple(after))
        return self.rows[offset:offset + size]


def _page_url(base: str, page: int, page_size: int, since: str | None, default_size: int,
              after: tuple[str, str] | None = None) -> str:
    params: dict[str, object] = {}
    if since:
        params["modified_since"] = since
    if page_size != default_size:
        params["page_size"] = page_size
    params["page"] = page
    if after is not None:
        params["after"] = f"{after[0]},{after[1]}"
    return f"{base}?{urlencode(params, safe=':/,')}"


def _paging_triples(base: str, page: int, pages: int, size: int, total: int, since: str | None,
                    default_size: int, after: tuple[str, str] | None = None,
                    this: tuple[str, str] | None = None) -> list[ox.Triple]:
    """Describe the page as ckanext-dcat and piveau read it, and as a Hydra PartialCollectionView.

    ``after`` is the key of the page's last dataset: the next page's link carries it (keyset paging), so a
    harvester following ``next`` sees each dataset once while others are published; ``this`` is the key the
    page itself was asked after, kept in its own IRI.
    """
    url = lambda n, key=None: _page_url(base, n, size, since, default_size, key)  # noqa: E731
    view = ox.NamedNode(url(page, this))
    out = [
        ox.Triple(view, RDF.type, HYDRA.PagedCollection),
        ox.Triple(view, RDF.type, HYDRA.PartialCollectionView),
        ox.Triple(ox.NamedNode(base), HYDRA.view, view),
        ox.Triple(view, HYDRA.totalItems, ox.Literal(str(total), datatype=XSD.integer)),
        ox.Triple(view, HYDRA.itemsPerPage, ox.Literal(str(size), datatype=XSD.integer)),
        ox.Triple(view, HYDRA.firstPage, ox.Literal(url(1))),
        ox.Triple(view, HYDRA.lastPage, ox.Literal(url(pages))),
        ox.Triple(view, HYDRA.first, ox.NamedNode(url(1))),
        ox.Triple(view, HYDRA.last, ox.NamedNode(url(pages))),
    ]
    if page < pages and after is not None:
        out += [ox.Triple(view, HYDRA.nextPage, ox.Literal(url(page + 1, after))),
                ox.Triple(view, HYDRA.next, ox.NamedNode(url(page + 1, after)))]
    if page > 1:
        out += [ox.Triple(view, HYDRA.previousPage, ox.Literal(url(page - 1))),
                ox.Triple(view, HYDRA.previous, ox.NamedNode(url(page - 1)))]
    return out


def _after_arg() -> tuple[str, str] | None:
    """Read ``after=MODIFIED,URI``: the key of the last dataset of the page before (keyset paging)."""
    raw = request.args.get("after")
    if not raw:
        return None
    modified, comma, uri = raw.partition(",")
    if not comma or not uri or (modified and not _AFTER_KEY.fullmatch(modified)):
        raise BadRequestError(f"after must be the key a next link gives (time,IRI), got {raw[:60]!r}")
    return modified, uri


_AFTER_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _page_from_store(store, uris: list[str], catalog_triples: list, paging: list, fmt) -> bytes:
    """Write a catalogue page from the store's dataset graphs (the reference for _page_from_texts)."""
    body_triples = list(catalog_triples)
    for uri in uris:
        body_triples.extend(public_view(uri, store.dataset_triples(uri)))  # no links to data not open
    body_triples += name_triples(body_triples)  # our departments by name in English too
    body_triples += paging
    return rdf_response.serialize(body_triples, fmt)


def _page_from_texts(store, texts, uris: list[str], catalog_triples: list, paging: list, fmt) -> bytes | None:
    """Write the same page from the kept public texts of its datasets (server/catalog_texts.py).

    The same triples in the same order reach the same writer as in _page_from_store: the catalogue graph, each
    dataset's public view, the names of departments, the paging; ordered Chinese first on their N-Triples text
    (chinese_first_lines), then parsed once. None when the text cannot be ordered that way.
    """
    nt = ox.RdfFormat.N_TRIPLES
    text = ox.serialize(catalog_triples, format=nt).decode("utf-8") + "".join(texts.texts(store, uris))
    named = _FOAF_NAME.findall(text)
    names = name_triples(list(ox.parse("\n".join(named), format=nt))) if named else []
    text += ox.serialize(names + paging, format=nt).decode("utf-8")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    ordered = chinese_first_lines(lines)
    if ordered is None:
        return None
    triples = list(ox.parse("\n".join(ordered), format=nt))
    return write_graph(triples, fmt, rdf_response.UNLIMITED)


_FOAF_NAME = re.compile(r"^\S+ <http://xmlns\.com/foaf/0\.1/name> .*$", re.MULTILINE)  # N-Triples lines


@bp.route("/catalog", methods=["GET", "HEAD"])
@bp.route("/catalog.<suffix>", methods=["GET", "HEAD"])
def catalog(suffix: str | None = None):
    """Answer one page of the DCAT catalogue with Hydra paging."""
    platform = _platform()
    settings = platform.settings
    if suffix is not None:
        _, fmt = rdf_response.split_suffix("catalog." + suffix)
        if fmt is None:
            raise NotFoundError(f"unknown catalogue format .{suffix}; use .ttl, .jsonld, .rdf or .nt")
    else:
        fmt = rdf_response.choose(html_default=False)
        if fmt == HTML:
            return redirect(url_for("portal.search", **request.args), code=303)
    size = _int_arg("page_size", settings.catalog.page_size, 1, settings.catalog.max_page_size)
    page = _int_arg("page", 1, 1, 10**9)
    since = _since_arg()
    after = _after_arg()
    store = platform.store
    order = getattr(platform, "catalog_order", None)
    since_key = None if since is None else order_key(datetime.fromisoformat(since.replace("Z", "+00:00")))
    if order is None:
        order = _StoreOrder(store, since)
    total = order.count(since_key)
    pages = max(1, math.ceil(total / size))
    if page > pages and after is None:
        raise NotFoundError(f"page {page} is past the last page ({pages}) of {total} datasets")
    base = settings.base_uri + "/catalog"
    etag = http.etag_for("catalog", store.generation, fmt.media_type, page, size, since, after)
    if request.if_none_match and etag in request.if_none_match:
        return http.conditional(Response(), etag, store.last_modified())
    rows = order.page(size, (page - 1) * size, since_key, after)
    uris = [uri for _, uri in rows]
    last = rows[-1] if len(rows) == size else None  # a short page is the last one
    catalog_triples = [q.triple for q in store.quads(settings.base_uri + CATALOG_GRAPH_SUFFIX)]
    paging = _paging_triples(base, page, pages, size, total, since, settings.catalog.page_size, last, after)
    texts = getattr(platform, "catalog_texts", None)
    body = None if texts is None else _page_from_texts(store, texts, uris, catalog_triples, paging, fmt)
    if body is None:
        body = _page_from_store(store, uris, catalog_triples, paging, fmt)
    response = Response(body, content_type=rdf_response.content_type(fmt))
    response.vary.add("Accept")
    return http.conditional(response, etag, store.last_modified())


@bp.route("/datasets/<path:name>", methods=["GET", "HEAD"])
def dataset(name: str):
    """Dereference a dataset URI: HTML for browsers, RDF by Accept header or suffix."""
    platform = _platform()
    dataset_id, fmt = rdf_response.split_suffix(name)
    if not is_dataset_id(dataset_id):
        raise NotFoundError(f"{name!r} is not a dataset identifier")
    uri = platform.dataset_uri(dataset_id)
    modified = platform.store.record_modified(uri)
    if modified is None:
        if platform.tombstones is not None and platform.tombstones.get(dataset_id) is not None:
            raise GoneError(f"dataset {dataset_id!r} was withdrawn from publication")
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    if fmt is None:
        fmt = rdf_response.choose(html_default=True)
    lang = normalize_lang(request.args.get("lang"))
    etag = http.etag_for("dataset", uri, modified.isoformat(), getattr(fmt, "media_type", fmt), lang)
    if fmt == HTML:  # the page also shows the map: a change of its settings must not be answered by a 304
        s = platform.settings
        etag = http.etag_for(etag, s.tianditu.model_dump_json(), s.spatial.boundary_file, s.features.max_limit)
        from server.portal import render_dataset_page

        body = render_dataset_page(platform, uri, lang)
        # the page shows usage counts and feedback (services/), which change without the dataset
        etag = http.etag_for(etag, hashlib.sha256(body.encode("utf-8")).hexdigest())
        response = Response(body, mimetype="text/html")
    else:
        triples = public_view(uri, platform.store.dataset_triples(uri))  # docs/access.md
        triples += name_triples(triples)
        feedback = getattr(platform, "feedback", None)
        if feedback is not None:  # DQV user feedback, added here: never part of the dataset's graph or digest
            triples += feedback.feedback_triples(dataset_id, uri)
            etag = http.etag_for(etag, feedback.version(dataset_id))
        requests = getattr(platform, "requests", None)
        if requests is not None:  # 纠错 and their replies as Web Annotation, added likewise (services/requests.py)
            triples += requests.annotation_triples(dataset_id, uri)
            etag = http.etag_for(etag, requests.version(dataset_id))
        showcase = getattr(platform, "showcase", None)
        if showcase is not None:  # approved apps and results that use it (dct:isReferencedBy), added here too
            triples += showcase.reference_triples(dataset_id, uri, platform.settings.base_uri)
            etag = http.etag_for(etag, showcase.version(dataset_id))
        response = Response(rdf_response.serialize(triples, fmt), content_type=rdf_response.content_type(fmt))
        response.headers["Link"] = f'<{uri}>; rel="canonical"'
    response.vary.add("Accept")
    return http.conditional(response, etag, modified.replace(microsecond=0))
