"""The portal's own pages: privacy, terms, help, developers; robots.txt, sitemap.xml and the favicon.

The sitemap is built from the catalogue order kept on the data layer (server/catalog_order.py): its count and its
index pages, so a sitemap request reads at most one page of 50,000 rows and never walks the store. Beyond
``SITEMAP_LIMIT`` URLs, /sitemap.xml is a sitemap index naming /sitemap-1.xml, /sitemap-2.xml, ….
"""

from __future__ import annotations

import math
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from flask import Response, abort, request

from server import http
from server.portal.i18n import current_lang, translate
from server.portal.views import platform, portal_bp, render_page

SITEMAP_LIMIT = 50_000  # sitemaps.org: at most 50,000 URLs per sitemap file
PAGES = ("help", "developers", "privacy", "terms")
SAMPLE_QUERY = ("PREFIX dcat: <http://www.w3.org/ns/dcat#>\nPREFIX dct: <http://purl.org/dc/terms/>\n"
                "SELECT ?d ?title WHERE { ?d a dcat:Dataset ; dct:title ?title } LIMIT 10")
# Robots: the portal is for crawlers; the management center, the internal doors and the query/harvest
# endpoints (heavy, or answered better through the catalogue and the sitemap) are not.
DISALLOW = ("/admin", "/internal/", "/api/", "/sparql", "/csw", "/ogc", "/changes", "/catalog", "/layers/")

FAVICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<circle cx="32" cy="32" r="30" fill="#c8161d" stroke="#f3c64b" stroke-width="4"/>
<path d="M14 40 L24 22 L32 34 L40 22 L50 40 Z" fill="#fff"/>
<rect x="14" y="44" width="36" height="4" fill="#fff"/>
</svg>
"""


def examples(base: str, sample_id: str | None, data_sample: str | None = None) -> list[dict]:
    """The developer page's examples: each a GET with its headers, the content type it answers, curl and Python.

    tests/test_portal_pages.py requests every one against the test app and checks its status and type.
    """
    dataset = sample_id or "DATASET-ID"
    rows = [
        ("dcat", "DCAT catalogue, Turtle (content negotiation)", "DCAT 目录，Turtle（内容协商）",
         "/catalog", {"Accept": "text/turtle"}, "text/turtle"),
        ("dcat", "DCAT catalogue, JSON-LD, page 2 of 20 datasets", "DCAT 目录，JSON-LD，每页 20 个第 2 页",
         "/catalog.jsonld?" + urlencode({"page": 1, "page_size": 20}), {}, "application/ld+json"),
        ("dcat", "One dataset as RDF/XML", "单个数据集（RDF/XML）",
         f"/datasets/{quote(dataset)}", {"Accept": "application/rdf+xml"}, "application/rdf+xml"),
        ("search", "Search the catalogue (JSON)", "搜索数据目录（JSON）",
         "/datasets?" + urlencode({"q": "交通", "format": "json"}), {}, "application/json"),
        ("sparql", "SPARQL SELECT, JSON results", "SPARQL 查询，JSON 结果",
         "/sparql?" + urlencode({"query": SAMPLE_QUERY}), {"Accept": "application/sparql-results+json"},
         "application/sparql-results+json"),
        ("csw", "CSW 2.0.2 GetCapabilities", "CSW 2.0.2 能力文档",
         "/csw?service=CSW&version=2.0.2&request=GetCapabilities", {}, "application/xml"),
        ("csw", "CSW 2.0.2 GetRecords (Dublin Core, brief)", "CSW 2.0.2 检索记录（简要）",
         "/csw?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&resultType=results"
         "&elementSetName=brief&maxRecords=5", {}, "application/xml"),
        ("ogc", "OGC API landing page", "OGC API 入口",
         "/ogc?f=json", {}, "application/json"),
        ("ogc", "OGC API Features: the layers", "OGC API Features：图层列表",
         "/ogc/collections?f=json", {}, "application/json"),
        ("ogc", "OGC API Records: search the catalogue", "OGC API Records：检索目录",
         "/ogc/collections/catalog/items?" + urlencode({"f": "json", "q": "交通", "limit": 5}), {},
         "application/json"),
        ("changes", "Datasets changed since a time (JSON)", "某时间以来变更的数据集（JSON）",
         "/changes?" + urlencode({"since": "2024-01-01T00:00:00Z"}), {}, "application/json"),
        ("changes", "The same as an Atom feed", "同上（Atom 订阅）",
         "/changes.atom", {}, "application/atom+xml"),
    ]
    if data_sample:  # a 无条件开放 dataset with a tabular file (the data API, docs/data-api.md)
        data = f"/api/data/{quote(data_sample)}"
        rows += [
            ("data-api", "A dataset's tables and their typed columns", "数据集的数据表及字段类型",
             f"{data}/tables", {}, "application/json"),
            ("data-api", "Rows: 5 per page, page 2 (JSON)", "数据行：每页 5 行，第 2 页（JSON）",
             f"{data}?" + urlencode({"page_size": 5, "page": 2}), {}, "application/json"),
            ("data-api", "The same rows as CSV", "同上（CSV）",
             f"{data}?" + urlencode({"page_size": 5, "page": 2, "format": "csv"}), {}, "text/csv"),
            ("data-api", "The dataset's OpenAPI 3 document", "数据集的 OpenAPI 3 文档",
             f"{data}/openapi.json", {}, "application/vnd.oai.openapi+json"),
        ]
    out = []
    for section, en, zh, path, headers, media in rows:
        url = base + path
        head = "".join(f" -H '{k}: {v}'" for k, v in headers.items())
        py_headers = f", headers={headers!r}" if headers else ""
        out.append({"section": section, "title_en": en, "title_zh": zh, "path": path, "headers": headers,
                    "media_type": media, "url": url, "curl": f"curl -s{head} '{url}'",
                    "python": f"import requests\n\nr = requests.get({url!r}{py_headers}, timeout=30)\n"
                              f"r.raise_for_status()\nprint(r.headers['Content-Type'])\nprint(r.text[:500])"})
    return out


def _sample_dataset() -> str | None:
    order = getattr(platform(), "catalog_order", None)
    if order is None:
        return None
    rows = order.page(1)
    return rows[0][1].rsplit("/", 1)[-1] if rows else None


def data_api_sample() -> str | None:
    """A 无条件开放 dataset of the catalogue's first pages with a tabular file: the data API's example."""
    from server.access_guard import dataset_access
    from server.data_loading import sources_of

    p = platform()
    order = getattr(p, "catalog_order", None)
    if order is None:
        return None
    for number in (1, 2, 3):
        for row in order.page(number):
            uri = row[1]
            try:
                if dataset_access(p.store, uri).open_type.value == "unconditional" and sources_of(
                        uri, p.store.dataset_triples(uri), p.settings.base_uri):
                    return uri.rsplit("/", 1)[-1]
            except ValueError:
                continue
    return None


@portal_bp.route("/developers", methods=["GET", "HEAD"])
def developers():
    """Guide a developer through DCAT, SPARQL, CSW, OGC API, /changes and the data APIs."""
    lang = current_lang()
    base = platform().settings.base_uri
    sample = data_api_sample()
    return render_page("portal_developers.html", lang, active="developers", base=base, data_sample=sample,
                       examples=examples(base, _sample_dataset(), sample), sample_query=SAMPLE_QUERY,
                       title=translate("developers", lang))


def _simple(name: str):
    def view():
        lang = current_lang()
        return render_page(f"portal_{name}.html", lang, active=name, title=translate(f"page_{name}", lang))
    view.__name__ = f"page_{name}"
    view.__doc__ = f"Show the {name} page."
    portal_bp.add_url_rule(f"/{name}", view.__name__, view, methods=["GET", "HEAD"])


for _name in ("privacy", "terms", "help"):
    _simple(_name)


@portal_bp.route("/robots.txt", methods=["GET", "HEAD"])
def robots():
    """Let crawlers read the portal and point them to the sitemap; keep them off staff and query doors."""
    base = platform().settings.base_uri
    lines = ["User-agent: *", "Allow: /", *(f"Disallow: {p}" for p in DISALLOW), "", f"Sitemap: {base}/sitemap.xml"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


def _urlset(urls: list[str]) -> Response:
    body = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    body += [f"<url><loc>{escape(u)}</loc></url>" for u in urls]
    body.append("</urlset>")
    return Response("\n".join(body) + "\n", mimetype="application/xml")


def _fixed_urls(base: str) -> list[str]:
    return [f"{base}/", f"{base}/datasets", f"{base}/map", *(f"{base}/{p}" for p in PAGES), f"{base}/requests"]


def _dataset_urls(offset: int, size: int) -> list[str]:
    order = platform().catalog_order
    # a dataset's URI is its page (server/dcat.py dereferences <base_uri>/datasets/<id>)
    return [uri for _, uri in order.page(size, offset)]


def _revalidated(number: int) -> tuple[str, Response | None]:
    """The sitemap's ETag (it changes with the store), and a 304 when the crawler holds the current one."""
    store = platform().store
    etag = http.etag_for("sitemap", store.generation, number, SITEMAP_LIMIT)
    if request.if_none_match and etag in request.if_none_match:
        return etag, http.conditional(Response(), etag, store.last_modified())
    return etag, None


def _sent(response: Response, etag: str) -> Response:
    return http.conditional(response, etag, platform().store.last_modified())


@portal_bp.route("/sitemap.xml", methods=["GET", "HEAD"])
def sitemap():
    """One sitemap while everything fits in 50,000 URLs, else a sitemap index of numbered sitemaps."""
    etag, unchanged = _revalidated(0)
    if unchanged is not None:
        return unchanged
    base = platform().settings.base_uri
    fixed = _fixed_urls(base)
    total = len(fixed) + platform().catalog_order.count()
    if total <= SITEMAP_LIMIT:
        return _sent(_urlset(fixed + _dataset_urls(0, SITEMAP_LIMIT)), etag)
    body = ['<?xml version="1.0" encoding="UTF-8"?>',
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    body += [f"<sitemap><loc>{escape(base)}/sitemap-{n}.xml</loc></sitemap>"
             for n in range(1, math.ceil(total / SITEMAP_LIMIT) + 1)]
    body.append("</sitemapindex>")
    return _sent(Response("\n".join(body) + "\n", mimetype="application/xml"), etag)


@portal_bp.route("/sitemap-<int:number>.xml", methods=["GET", "HEAD"])
def sitemap_part(number: int):
    """The number-th sitemap of the index: the fixed pages first, then the datasets in catalogue order."""
    etag, unchanged = _revalidated(number)
    if unchanged is not None:
        return unchanged
    base = platform().settings.base_uri
    fixed = _fixed_urls(base)
    total = len(fixed) + platform().catalog_order.count()
    if number < 1 or (number - 1) * SITEMAP_LIMIT >= total:
        abort(404)
    start = (number - 1) * SITEMAP_LIMIT
    head = fixed[start:start + SITEMAP_LIMIT]
    offset = max(0, start - len(fixed))
    return _sent(_urlset(head + _dataset_urls(offset, SITEMAP_LIMIT - len(head))), etag)


@portal_bp.route("/favicon.svg", methods=["GET", "HEAD"])
@portal_bp.route("/favicon.ico", methods=["GET", "HEAD"])
def favicon():
    """The site's icon: a small hand-made SVG (browsers asking for /favicon.ico accept it too)."""
    response = Response(FAVICON, mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
