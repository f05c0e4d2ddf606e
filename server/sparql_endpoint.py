"""Serve the SPARQL 1.1 Protocol (queries only), its service description and a query form."""

from __future__ import annotations

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, render_template_string, request

from server import http, rdf_response
from server.rdf_response import HTML
from core.errors import BadRequestError
from core.metrics import metrics
from sparql.errors import QueryCrashError, QueryRefusedError, QueryTimeoutError, ServiceBusyError
from sparql.formats import GRAPH_FORMATS

bp = Blueprint("sparql", __name__)

DIRECT = "application/sparql-query"
FORM = "application/x-www-form-urlencoded"
UPDATE = "application/sparql-update"


def _platform():
    return current_app.extensions["wodp"]


def _read_request() -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """Return (query, default graphs, named graphs) of a GET or POST protocol request; graphs must be IRIs."""
    query, default_graphs, named_graphs = _read_protocol()
    for name, values in (("default-graph-uri", default_graphs), ("named-graph-uri", named_graphs)):
        for value in values:
            try:
                ox.NamedNode(value)
            except ValueError as exc:
                raise BadRequestError(f"{name}={value[:200]!r} is not an absolute IRI: {exc}") from None
    return query, default_graphs, named_graphs


def _read_protocol() -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """Return (query, default graphs, named graphs) as a GET or POST protocol request gives them."""
    if request.method in ("GET", "HEAD"):
        args = request.args
        if "update" in args:
            raise QueryRefusedError("SPARQL Update is not allowed: this endpoint answers queries only")
        return args.get("query"), tuple(args.getlist("default-graph-uri")), tuple(args.getlist("named-graph-uri"))
    mimetype = request.mimetype
    if mimetype == UPDATE:
        raise QueryRefusedError("SPARQL Update is not allowed: this endpoint answers queries only")
    if mimetype == DIRECT:
        data = request.get_data()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError("the query body is not UTF-8 text") from None
        args = request.args
        return text, tuple(args.getlist("default-graph-uri")), tuple(args.getlist("named-graph-uri"))
    if mimetype == FORM:
        form = request.form
        if "update" in form:
            raise QueryRefusedError("SPARQL Update is not allowed: this endpoint answers queries only")
        query = form.get("query")
        return query, tuple(form.getlist("default-graph-uri")), tuple(form.getlist("named-graph-uri"))
    raise BadRequestError(
        f"unsupported Content-Type {mimetype or '(none)'}; POST {FORM} with query=… or {DIRECT}",
        status=415, code="unsupported-media-type")


@bp.route("/sparql", methods=["GET", "HEAD", "POST", "OPTIONS"])
def endpoint():
    """Answer a SPARQL query; without one, describe the service or show the query form."""
    if request.method == "OPTIONS":
        return Response(status=204)
    try:
        query, default_graphs, named_graphs = _read_request()
    except QueryRefusedError:  # an update: refused before any query is read
        metrics().sparql_queries.labels("refused").inc()
        raise
    if query is None:
        return _describe()
    if not query.strip():
        raise BadRequestError("the query is empty", code="malformed-query")
    pool = _platform().pool
    if pool is None:
        raise ServiceBusyError("the SPARQL service is not running in this process")
    format_name = request.args.get("format") or request.args.get("output") or request.form.get("format")
    outcome = "error"
    try:
        result = pool.run(query, accept=request.headers.get("Accept"), format_name=format_name,
                          default_graphs=default_graphs, named_graphs=named_graphs, client=client_of(request))
        outcome = "answered"
    except QueryTimeoutError:
        outcome = "timeout"
        raise
    except (QueryRefusedError, QueryCrashError):
        outcome = "refused"
        raise
    except ServiceBusyError:
        outcome = "busy"
        raise
    finally:
        metrics().sparql_queries.labels(outcome).inc()
    response = Response(result.body, content_type=rdf_response_content_type(result.media_type))
    response.headers["X-Query-Time-Ms"] = f"{result.elapsed_s * 1000:.1f}"
    response.vary.add("Accept")
    return response


def client_of(req) -> str:
    """Name the client whose share of the query workers a query counts against: its address as Flask sees it
    (the X-Forwarded-For client behind site.proxies trusted proxies, through ProxyFix), as the rate limits do."""
    return req.remote_addr or ""


@bp.errorhandler(ServiceBusyError)
def _busy(exc: ServiceBusyError):
    """Answer 429/503 with Retry-After: this client's share is taken, or every worker is busy."""
    from server.errors import render_error

    response = render_error(exc.status, exc.code, exc.message)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def rdf_response_content_type(media_type: str) -> str:
    if media_type.startswith("text/") or "json" in media_type or "xml" in media_type:
        return media_type + "; charset=utf-8"
    return media_type


def _describe():
    fmt = rdf_response.choose(html_default=True)
    platform = _platform()
    if fmt == HTML:
        return Response(_form_page(), mimetype="text/html")
    endpoint = platform.settings.base_uri + "/sparql"
    text = SERVICE_DESCRIPTION.format(endpoint=endpoint, vocab="https://data.wuhan.gov.cn/def/graph/vocabulary")
    import pyoxigraph as ox

    triples = [q.triple for q in ox.parse(text.encode(), ox.RdfFormat.TURTLE)]
    response = Response(rdf_response.serialize(triples, fmt), content_type=rdf_response.content_type(fmt))
    response.vary.add("Accept")
    return http.conditional(response, http.etag_for("sd", endpoint, fmt.media_type), None)


SERVICE_DESCRIPTION = """
@prefix sd: <http://www.w3.org/ns/sparql-service-description#> .
@prefix dct: <http://purl.org/dc/terms/> .
<{endpoint}> a sd:Service ;
  sd:endpoint <{endpoint}> ;
  sd:supportedLanguage sd:SPARQL11Query ;
  sd:feature sd:UnionDefaultGraph ;
  sd:resultFormat <http://www.w3.org/ns/formats/SPARQL_Results_JSON>,
    <http://www.w3.org/ns/formats/SPARQL_Results_XML>, <http://www.w3.org/ns/formats/SPARQL_Results_CSV>,
    <http://www.w3.org/ns/formats/SPARQL_Results_TSV>, <http://www.w3.org/ns/formats/Turtle>,
    <http://www.w3.org/ns/formats/N-Triples>, <http://www.w3.org/ns/formats/JSON-LD>,
    <http://www.w3.org/ns/formats/RDF_XML> ;
  dct:description "武汉市公共数据开放目录的 SPARQL 1.1 查询服务。默认图为所有数据集图的并集；只读。"@zh-CN,
    "SPARQL 1.1 query service of the Wuhan open data catalogue. The default graph is the union of all dataset graphs; read-only."@en ;
  sd:defaultDataset [ a sd:Dataset ; sd:defaultGraph [ a sd:Graph ] ;
    sd:namedGraph [ a sd:NamedGraph ; sd:name <{vocab}> ] ] .
"""

EXAMPLES = [
    ("数据集总数 / Count datasets",
     "PREFIX dcat: <http://www.w3.org/ns/dcat#>\nSELECT (COUNT(?d) AS ?datasets) WHERE { ?d a dcat:Dataset }"),
    ("各主题数据集数 / Datasets per theme",
     "PREFIX dcat: <http://www.w3.org/ns/dcat#>\nPREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
     "SELECT ?theme ?label (COUNT(?d) AS ?n) WHERE {\n  ?d a dcat:Dataset ; dcat:theme ?theme .\n"
     "  ?theme skos:inScheme <https://data.wuhan.gov.cn/def/wodp#Themes> ; skos:prefLabel ?label .\n"
     "  FILTER(lang(?label) = \"zh-cn\")\n} GROUP BY ?theme ?label ORDER BY DESC(?n)"),
    ("最新数据集 / Newest datasets",
     "PREFIX dcat: <http://www.w3.org/ns/dcat#>\nPREFIX dct: <http://purl.org/dc/terms/>\n"
     "SELECT ?d ?title ?modified WHERE {\n  ?d a dcat:Dataset ; dct:title ?title ; dct:modified ?modified .\n"
     "  FILTER(lang(?title) = \"zh-cn\")\n} ORDER BY DESC(?modified) LIMIT 20"),
]


def _form_page() -> str:
    return render_template_string(FORM_PAGE, examples=EXAMPLES, formats=GRAPH_FORMATS)


FORM_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>SPARQL 查询 / SPARQL query</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/portal.css"></head>
<body class="sparql-form">
<header class="site"><a href="/">武汉市公共数据开放平台</a> · SPARQL</header>
<main>
<h1>SPARQL 1.1 查询 / Query</h1>
<p>默认图为所有数据集图的并集（查询中的 FROM / FROM NAMED 可另指数据集）；只读，每个查询限时限内存，每个客户端同时最多运行若干查询。The default graph is the union of all dataset graphs (a query's FROM / FROM NAMED names another dataset); read-only; every query has a time and memory limit, and each client runs a few queries at once at most.</p>
<form method="post" action="/sparql" accept-charset="utf-8">
<p>{% for title, q in examples %}<button type="button" class="example" data-query="{{ q }}">{{ title }}</button> {% endfor %}</p>
<textarea name="query" id="query" rows="14" cols="100" spellcheck="false">{{ examples[0][1] }}</textarea>
<p><label>结果格式 / Result format
<select name="format">
<option value="json">JSON</option><option value="xml">XML</option><option value="csv">CSV</option>
<option value="tsv">TSV</option><option value="turtle">Turtle (CONSTRUCT)</option>
<option value="jsonld">JSON-LD (CONSTRUCT)</option></select></label>
<button type="submit">查询 / Run</button></p>
</form>
<script>
document.querySelectorAll("button.example").forEach(function (b) {
  b.addEventListener("click", function () { document.getElementById("query").value = b.dataset.query; });
});
</script>
</main></body></html>"""
