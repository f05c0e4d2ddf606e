"""Apply the rules every door follows: conditional requests, compression and CORS."""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime

from flask import Flask, Request, Response, request

COMPRESSIBLE = ("text/", "application/json", "application/ld+json", "application/sparql-results",
                "application/n-triples", "application/rdf+xml", "application/xml",
                "application/problem+json", "application/javascript", "image/svg+xml",
                "application/geo+json", "application/atom+xml")
MIN_COMPRESS = 1024


def etag_for(*parts: object) -> str:
    """Make a strong entity tag from the values the representation depends on."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:24]
    return f'"{digest}"'


def conditional(response: Response, etag: str | None, last_modified: datetime | None) -> Response:
    """Set validators and turn the response into 304 when the client's copy is current."""
    if etag:
        response.headers["ETag"] = etag
    if last_modified:
        response.last_modified = last_modified
    response.headers.setdefault("Cache-Control", "no-cache")
    if request.method not in ("GET", "HEAD"):
        return response
    inm = request.headers.get("If-None-Match")
    if inm and etag:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        fresh = "*" in tags or etag in tags or etag + "-gzip" in tags
    elif request.if_modified_since and last_modified:
        fresh = last_modified.replace(microsecond=0) <= request.if_modified_since
    else:
        fresh = False
    if fresh:
        not_modified = Response(status=304)
        for name in ("ETag", "Last-Modified", "Cache-Control", "Vary"):
            if name in response.headers:
                not_modified.headers[name] = response.headers[name]
        return not_modified
    return response


def wants_gzip(req: Request) -> bool:
    for part in req.headers.get("Accept-Encoding", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() in ("gzip", "*"):
            return not any(f.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for f in fields[1:])
    return False


def _compress(response: Response) -> Response:
    response.vary.add("Accept-Encoding")
    if (response.direct_passthrough or response.status_code < 200 or response.status_code in (204, 304)
            or "Content-Encoding" in response.headers or request.method == "HEAD"):
        return response
    mimetype = response.mimetype or ""
    if not mimetype.startswith(COMPRESSIBLE) or not wants_gzip(request):
        return response
    data = response.get_data()
    if len(data) < MIN_COMPRESS:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    etag = response.headers.get("ETag")
    if etag and etag.endswith('"') and not etag.endswith('-gzip"'):
        response.headers["ETag"] = etag[:-1] + '-gzip"'
    return response


def _cors(response: Response) -> Response:
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Access-Control-Expose-Headers", "ETag, Last-Modified, Link, Content-Type")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Accept, Content-Type, If-None-Match, If-Modified-Since"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


def register(app: Flask) -> None:
    """Install compression and CORS on every response."""

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return _compress(_cors(response))
