"""Fuzz every parser and every door with a body or parameters: no input may cause a server error.

Hypothesis generates the inputs from a fixed seed (``derandomize=True``), so a CI run is repeatable. A parser
may answer a result or one of our client errors (``WodpError`` below 500, or an exception the error handler
maps to a 4xx, ``server.errors.client_error``); a door may answer anything but a 5xx. The OGC API is also
tested by schemathesis from its own OpenAPI document (in-process, over WSGI).

The default is CI-sized (``sum(CI.values())`` inputs, > 10,000, about a minute); ``WODP_FUZZ_EXAMPLES=N`` runs
about N inputs in the same proportions for a longer run (docs/testing.md), e.g. ``WODP_FUZZ_EXAMPLES=200000``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
import zipfile
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CI = {  # generated inputs per test at the CI size
    "json_records": 900, "csv_records": 700, "xml_records": 700, "xlsx_records": 250, "rdf": 1000,
    "cql2": 700, "sparql_prechecks": 700, "values": 1000, "search_query": 700, "coordinates": 900,
    "get_doors": 1300, "validate": 400, "push": 250, "sparql": 350, "csw": 150, "openapi": 300,
}
COUNTS: dict[str, int] = {}
# WODP_FUZZ_EXAMPLES=N: about N inputs in all, shared in the same proportions (never fewer than the CI size)
FACTOR = max(1.0, int(os.environ.get("WODP_FUZZ_EXAMPLES") or 0) / sum(CI.values()))


def budget(name: str):
    return settings(max_examples=int(CI[name] * FACTOR), derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def counted(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


def handled(exc: BaseException) -> bool:
    """Tell whether an exception is a client error: ours below 500, or one the door maps to a 4xx."""
    from core.errors import WodpError
    from server.errors import client_error

    if isinstance(exc, WodpError):
        return exc.status < 500
    return client_error(exc) is not None


def call(func, *args, expected: type[Exception] | tuple = (), **kwargs):
    """Call a parser; return its result, or None when it refused the input with a client error.

    ``expected``: the exception the parser documents for unreadable input (its callers turn it into a 400).
    """
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the point of the test
        if isinstance(exc, expected) or handled(exc):
            return None
        raise


# -- building blocks -----------------------------------------------------------------------------
ANY_CHAR = st.characters(codec=None, exclude_categories=())  # lone surrogates and controls included
TEXT = st.text(ANY_CHAR, max_size=40)
WORDS = st.sampled_from(["", " ", "0", "-1", "1e400", "NaN", "inf", "-inf", "9" * 5001, "null", "true", "[]",
                         "{}", "2024-02-30", "2024-06-01T10:00:00Z", "../..", "114.3,30.5,114.4,30.6",
                         "资源名称", "武汉市", "\x00", "\ud800", "\x01", "<a>", "&amp;", "'", '"', "%", "\\"])
VALUE = st.one_of(TEXT, WORDS, st.integers().map(str), st.floats().map(str))
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 30, max_value=10 ** 30),
                        st.floats(allow_nan=False), TEXT, WORDS)
JSON_VALUE = st.recursive(JSON_SCALAR, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(TEXT, WORDS), kids, max_size=5)), max_leaves=20)
RECORD_KEYS = st.sampled_from(["资源名称", "资源代码", "资源提供方", "资源摘要", "资源分类", "开放类型", "更新周期",
                               "发布日期", "更新日期", "资源格式", "关键字", "联系方式", "数据量", "空间范围",
                               "title", "name", "notes", "id", "resources", "extras"])
RECORD = st.dictionaries(st.one_of(RECORD_KEYS, TEXT), st.one_of(VALUE, JSON_VALUE), min_size=1, max_size=8)
VALID_RECORD = {
    "资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-07001", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
MUTATED_RECORD = st.builds(lambda changes: {**VALID_RECORD, **changes},
                           st.dictionaries(RECORD_KEYS, st.one_of(VALUE, JSON_VALUE), max_size=3))


def encode(text: str, codec: str = "utf-8") -> bytes:
    return text.encode(codec, "surrogatepass")


def json_bytes(doc) -> st.SearchStrategy[bytes]:
    return st.sampled_from([True, False]).map(lambda ascii_: encode(json.dumps(doc, ensure_ascii=ascii_)))


JSON_BODY = st.one_of(
    st.one_of(RECORD, MUTATED_RECORD, st.lists(MUTATED_RECORD, max_size=3), JSON_VALUE).flatmap(json_bytes),
    st.binary(max_size=200), st.sampled_from([b"{", b"[", b'{"a":' * 50, b"[" * 5000, b'{"n": ' + b"9" * 5001 + b"}",
                                              b'{"\\ud800": "\\udfff"}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00"]))


def csv_text(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(row) for row in rows)


CSV_BODY = st.one_of(
    st.builds(csv_text, st.lists(st.lists(st.one_of(VALUE, RECORD_KEYS), max_size=6), max_size=6),
              st.sampled_from([",", ";", "\t", "|"])).flatmap(
        lambda t: st.sampled_from(["utf-8", "gb18030", "utf-16"]).map(
            lambda c: t.encode(c, "replace") if c != "utf-8" else encode(t))),
    st.binary(max_size=200))

XML_NAME = st.sampled_from(["records", "record", "item", "title", "资源名称", "a:b", "x", "metadata", "gmd:title"])


@st.composite
def xml_doc(draw) -> bytes:
    def element(depth: int) -> str:
        name = draw(XML_NAME)
        attrs = draw(st.sampled_from(["", ' a="1"', ' xmlns:a="urn:a"', " a='&x;'", ' b="&amp;"']))
        if depth > 2 or draw(st.booleans()):
            body = draw(st.one_of(TEXT, WORDS)).replace("<", "&lt;") if draw(st.booleans()) else draw(TEXT)
        else:
            body = "".join(element(depth + 1) for _ in range(draw(st.integers(0, 3))))
        return f"<{name}{attrs}>{body}</{name}>"

    prolog = draw(st.sampled_from([
        "", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="GB18030"?>',
        '<!DOCTYPE r [<!ENTITY x "xx">]>', '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY x "&b;&b;&b;">]>']))
    text = prolog + element(0)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return encode(text)


XML_BODY = st.one_of(xml_doc(), st.binary(max_size=200))


def xlsx(sheet: str, shared: list[str]) -> bytes:
    """Make a workbook of one sheet from its XML body (rows) and its shared strings."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+'
            'xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel}"><sheets>'
                            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>{sheet}'
                                    '</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<?xml version="1.0" encoding="UTF-8"?><sst {ns}>'
                                + "".join(f"<si><t>{s}</t></si>" for s in shared) + "</sst>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        for name, text in files.items():
            book.writestr(name, encode(text))
    return out.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


@st.composite
def xlsx_doc(draw) -> bytes:
    shared = draw(st.lists(st.one_of(RECORD_KEYS, VALUE).map(_escape), max_size=6))
    rows = []
    for r in range(1, draw(st.integers(1, 4)) + 1):
        cells = []
        for c in "ABCD"[:draw(st.integers(0, 4))]:
            kind = draw(st.sampled_from(["s", "n", "str", "inlineStr", "b", "e", "d", "zz"]))
            value = draw(st.one_of(st.integers(-2, len(shared) + 3).map(str), VALUE.map(_escape)))
            inner = f"<is><t>{value}</t></is>" if kind == "inlineStr" else f"<v>{value}</v>"
            cells.append(f'<c r="{c}{r}" t="{kind}">{inner}</c>')
        rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    return xlsx("".join(rows), shared)


XLSX_BODY = st.one_of(xlsx_doc(), st.binary(max_size=100))


# -- parsers -------------------------------------------------------------------------------------
def _read(data: bytes, name: str) -> None:
    from mappings.readers import read_records

    call(read_records, data, name, "fuzz", max_bytes=1024 * 1024)


@budget("json_records")
@given(JSON_BODY)
def test_json_record_files(data):
    counted("json_records")
    _read(data, "records.json")


@budget("csv_records")
@given(CSV_BODY)
def test_csv_record_files(data):
    counted("csv_records")
    _read(data, "records.csv")


@budget("xml_records")
@given(XML_BODY)
def test_xml_record_files(data):
    counted("xml_records")
    _read(data, "records.xml")


@budget("xlsx_records")
@given(XLSX_BODY)
def test_xlsx_record_files(data):
    counted("xlsx_records")
    _read(data, "records.xlsx")


TURTLE = st.builds(
    lambda s, p, o: f"<{s}> <{p}> {o} .",
    st.sampled_from(["http://x/d", "", "d", "http://x/\u00e9", "urn:a b"]),
    st.sampled_from(["http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://purl.org/dc/terms/title", "p"]),
    st.one_of(TEXT.map(lambda t: json.dumps(t)), st.sampled_from(
        ["<http://www.w3.org/ns/dcat#Dataset>", '"x"@zh-CN', '"1"^^<http://www.w3.org/2001/XMLSchema#integer>',
         '"' + "9" * 5001 + '"^^<http://www.w3.org/2001/XMLSchema#integer>', "[ ]", "( 1 2 )", "_:b", '"""a"""'])))
RDF_CASES = st.one_of(
    st.tuples(st.just("ttl"), st.lists(TURTLE, max_size=4).map(lambda ls: encode("\n".join(ls)))),
    st.tuples(st.just("nt"), st.lists(TURTLE, max_size=4).map(lambda ls: encode("\n".join(ls)))),
    st.tuples(st.just("jsonld"), JSON_BODY),
    st.tuples(st.just("rdf"), XML_BODY),
    st.tuples(st.sampled_from(["ttl", "nt", "jsonld", "rdf", "trig", "nq"]), st.binary(max_size=120)))


@budget("rdf")
@given(RDF_CASES)
def test_rdf_readers(case):
    from server.validation_api import RDF_SUFFIXES
    from sparql.loader import parse_rdf, split_datasets

    counted("rdf")
    suffix, data = case
    quads = call(parse_rdf, data, RDF_SUFFIXES[suffix], f"fuzz.{suffix}", base_iri="http://127.0.0.1:8000/")
    if quads is not None:
        call(split_datasets, quads)


CQL_ATOM = st.one_of(
    st.sampled_from(["name", "count", "id", "geometry", "x.y", '"名称"', "missing", "title", "'a'", "1", "-2.5",
                     "1e400", "TRUE", "NULL", "DATE('2024-01-01')", "TIMESTAMP('2024-01-01T00:00:00Z')",
                     "POINT(114 30)", "BBOX(geometry,1,2,3,4)", "S_INTERSECTS(geometry,POINT(1 2))",
                     "INTERVAL('2020-01-01','..')", "CASEI(name)", "foo(1)", "(", ")", "'", "%"]),
    TEXT)
CQL = st.lists(st.one_of(CQL_ATOM, st.sampled_from(
    ["=", "<>", "<", ">=", "AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", ",", "(", ")"])),
    max_size=8).map(" ".join)


@budget("cql2")
@given(CQL)
def test_cql2_text_filters(text):
    from pygeofilter.parsers.cql2_text import parse

    from ogc.cql import FilterError, check_filter, compile_filter

    counted("cql2")
    try:
        ast = parse(text)
    except Exception:  # noqa: BLE001 - pygeoapi answers a 400 for any parse failure of the filter
        return
    fields = {"name": "string", "count": "integer", "title": "string", "名称": "string"}
    try:
        check_filter(ast, fields)
        predicate = compile_filter(ast, fields)
        predicate({"type": "Feature", "id": "1", "geometry": {"type": "Point", "coordinates": [114.3, 30.5]},
                   "properties": {"name": "a", "count": "3", "title": None, "名称": "武汉"}})
    except FilterError:
        pass


SPARQL_TEXT = st.lists(st.one_of(TEXT, st.sampled_from(
    ["SELECT", "*", "WHERE", "{", "}", "?s", "?p", "?o", "SERVICE", "<http://x>", "#", "\n", '"', "'", "INSERT",
     "DATA", "DELETE", "LOAD", "PREFIX", "ASK", "CONSTRUCT", "FROM", "NAMED", "LIMIT", "1" * 40, "\\", "'''"])),
    max_size=12).map(" ".join)


@budget("sparql_prechecks")
@given(SPARQL_TEXT)
def test_sparql_prechecks(query):
    from sparql.worker import looks_like_update, uses_service

    counted("sparql_prechecks")
    assert isinstance(uses_service(query), bool)
    assert isinstance(looks_like_update(query), bool)


@budget("values")
@given(VALUE, st.sampled_from([None, "86"]), st.sampled_from([None, ",", "[,;、]"]))
def test_value_parsers(value, country, separator):
    from mappings import values

    counted("values")
    call(values.parse_date, value)
    call(values.parse_int, value)
    call(values.emails, value)
    call(values.phones, value, country)
    call(values.bbox, value)
    call(values.split_values, value, separator)
    call(values.lookup_format, value)
    call(values.lookup_open_type, value)


@budget("search_query")
@given(st.one_of(TEXT, WORDS, st.lists(st.one_of(TEXT, st.sampled_from(['"', "OR", "AND", "NOT", "*", "-", "(", ")",
                                                                         "交通", "NEAR", "^"])),
                                       max_size=6).map(" ".join)),
       st.dictionaries(st.sampled_from(["theme", "publisher", "format", "open_type", "x"]),
                       st.lists(st.one_of(TEXT, WORDS), max_size=3), max_size=3))
def test_search_query_parser(q, filters):
    from server import search_query

    counted("search_query")
    call(search_query.match_expression, q)
    call(search_query.query_words, q)
    call(search_query.snippet, q * 3, search_query.query_words(q) if call(search_query.query_words, q) else [])
    call(search_query.clean_filters, filters)
    call(search_query.index_text, q)


FLOAT = st.one_of(st.floats(), st.sampled_from([114.3, 30.5, 0.0, -0.0, 180.0, 90.0, 1e308]))


@budget("coordinates")
@given(FLOAT, FLOAT, st.one_of(TEXT, WORDS, st.sampled_from(
    ["EPSG:4490", "urn:ogc:def:crs:EPSG::4326", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "gcj02",
     "BD-09", "POLYGON((1 2,3 4,1 2))", "POINT(114 30)", "<http://x> POLYGON((a b))", "2024-01-01/..", "../.."])),
       st.lists(st.tuples(FLOAT, FLOAT), max_size=5))
def test_coordinate_parsers(a, b, text, pairs):
    from ogc import coords
    from ogc.columns import parse_number
    from ogc.provider import parse_datetime, parse_q
    from ogc.wkt import wkt_bbox

    counted("coordinates")
    call(coords.parse_crs, text)
    call(coords.crs_from_column_names, [text])
    for crs in coords.Crs:
        call(coords.to_cgcs2000, a, b, crs)
        call(coords.from_cgcs2000, a, b, crs)
    call(coords.out_of_china, a, b)
    call(coords.haversine_m, a, b, b, a)
    call(coords.detect_order, pairs)
    call(parse_number, text, expected=ValueError)
    call(wkt_bbox, text)
    call(parse_datetime, text, expected=ValueError)
    call(parse_q, text, expected=ValueError)


# -- doors ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory):
    """A small demo catalogue with query workers and CSW, no rate limits (thousands of requests from one client)."""
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("fuzz-home")
    settings = load_settings({}, overrides={
        "rate_limits": {"enabled": False}, "demo": {"datasets": 40, "spatial": 4},
        "sparql": {"timeout_s": 5.0, "workers": 1, "max_workers": 2}}, home=home)
    platform = Platform.open(settings)
    load_demo(platform)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def app(fuzz_platform):
    from server.app import create_app

    app = create_app(platform=fuzz_platform)
    app.config["TESTING"] = True
    # fuzz a platform that is up: while pycsw still starts (slow on a loaded machine), /health/ready and /csw
    # rightly answer 503, which is not what these tests look for
    deadline, client = time.monotonic() + 300, app.test_client()
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/health/ready").get_data(as_text=True)[:500]
        time.sleep(0.5)
    return app


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def known(fuzz_platform):
    """Identifiers that exist: datasets, layers (and the catalogue collection), a data file name."""
    ids = sorted(fuzz_platform.extras["demo_index"])
    layers = [info.id for info in fuzz_platform.ogc.features.layers()]
    return {"ids": ids[:5], "layers": layers}


def check(response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:500]}"


PARAM_NAMES = ["lang", "q", "page", "page_size", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f",
               "filter", "filter-lang", "sortby", "properties", "skipGeometry", "resulttype", "modified_since",
               "since", "format", "output", "theme", "publisher", "open_type", "sort", "query", "service",
               "request", "version", "typeNames", "elementSetName", "outputSchema", "id", "mapping", "name",
               "callback", "zoom", "dataset", "kind", "state", "status", "source", "x"]
PARAM_VALUES = st.one_of(VALUE, CQL, st.sampled_from([
    "zh", "zh-CN", "zh-Hans", "zh-Hant", "zh_CN", "en", "en-US", "fr", "fr-FR", "*", "garbage", "json", "jsonld",
    "html", "ttl", "atom", "csv", "geojson", "114,30,115,31", "1,2,3", "a,b,c,d", "nan,0,1,1", "1e309,0,1,1",
    "2024-01-01T00:00:00Z/..", "../..", "2024-13-45", "-1", "0", "99999999999999999999", "CSW", "GetRecords",
    "GetCapabilities", "GetRecordById", "DescribeRecord", "2.0.2", "3.0.0", "csw:Record", "full", "name DESC",
    "+title", "EPSG:4490", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "CQL2-TEXT", "cql2-json"]))
HEADERS = st.fixed_dictionaries({}, optional={
    "Accept": st.sampled_from(["*/*", "text/html", "application/json", "text/turtle", "application/ld+json",
                               "application/rdf+xml", "application/geo+json", "text/csv", "application/xml",
                               "application/sparql-results+json", "garbage", "", "text/*;q=x"]),
    "Accept-Language": st.sampled_from(["zh", "zh-CN", "zh-Hans", "zh-Hant", "zh_CN", "en", "en-US", "fr", "fr-FR",
                                        "*", "garbage", "", "x" * 3000, "zh;q=0.5, en;q=0.9", "en;q=abc"]),
    "If-None-Match": st.sampled_from(['"x"', "*", "W/\"a\"", "garbage"]),
    "If-Modified-Since": st.sampled_from(["Sun, 06 Nov 1994 08:49:37 GMT", "garbage", "0"]),
    "Accept-Encoding": st.sampled_from(["gzip", "*", "gzip;q=0", "br"]),
    "Authorization": st.sampled_from(["Bearer x", "Bearer wodp.000000000000.x", "Basic Zm9v", "Bearer \u00e9"]),
})


def url_quote(text: str) -> str:
    return quote(encode(text), safe="")


@st.composite
def get_request(draw, rules: list, known: dict):
    rule = draw(st.sampled_from(rules))
    path = rule.rule
    for name in rule.arguments:
        if type(rule._converters[name]).__name__ == "IntegerConverter":
            value = str(draw(st.integers(min_value=0, max_value=10 ** 12)))
        else:
            value = draw(st.one_of(st.sampled_from(known["ids"] + known["layers"] + KNOWN_PARTS), VALUE.map(url_quote)))
        path = re.sub(rf"<(?:\w+:)?{name}>", lambda _m, v=value or "x": v, path)
    params = draw(st.lists(st.tuples(st.one_of(st.sampled_from(PARAM_NAMES), TEXT), PARAM_VALUES), max_size=4))
    query = "&".join(f"{url_quote(k)}={url_quote(v)}" for k, v in params)
    return path, query, draw(HEADERS), rule.rule


KNOWN_PARTS = ["catalog", "ttl", "jsonld", "rdf", "nt", "json", "atom", "geojson", "wodp", "department/D017",
               "theme/T01", "open-type/1", "wodp.ttl", "portal.css", "map.js"]


def get_rules(app) -> list:
    return [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"]


def test_get_doors(app, client, known):
    rules = get_rules(app)
    assert len(rules) >= 25  # every GET route of the app, found from its URL map

    answered: dict[str, set[int]] = {}

    @budget("get_doors")
    @given(get_request(rules, known))
    def run(case):
        counted("get_doors")
        path, query, headers, _ = case
        response = client.get(path, query_string=query, headers=headers)
        check(response, f"GET {path}?{query} {headers}")
        answered.setdefault(case[3], set()).add(response.status_code)

    run()
    reached = [door for door, codes in answered.items() if any(c < 300 for c in codes)]
    assert len(reached) >= 20, answered  # the inputs reach the doors' work, not only their refusals


VALIDATE_BODY = st.one_of(
    st.tuples(st.sampled_from(["application/json"]), st.sampled_from([None, "china-core", "ckan", "dcat-us", "x"]),
              JSON_BODY),
    st.tuples(st.just("text/csv"), st.sampled_from([None, "china-core"]), CSV_BODY),
    st.tuples(st.sampled_from(["application/xml", "text/xml"]), st.sampled_from([None, "iso19139", "china-core"]),
              XML_BODY),
    st.tuples(st.just("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              st.sampled_from([None, "china-core"]), XLSX_BODY),
    st.tuples(st.sampled_from(["text/turtle", "application/n-triples", "application/n-quads", "application/trig"]),
              st.none(), st.lists(TURTLE, max_size=5).map(lambda ls: encode("\n".join(ls)))),
    st.tuples(st.just("application/ld+json"), st.none(), JSON_BODY),
    st.tuples(st.just("application/rdf+xml"), st.none(), XML_BODY),
    st.tuples(st.sampled_from(["", "text/plain", "multipart/form-data", "application/x-www-form-urlencoded",
                               "application/json; charset=GBK", "application/json; charset=latin-1"]),
              st.none(), st.binary(max_size=100)))


def test_validate_bodies(client):
    statuses: set[int] = set()

    @budget("validate")
    @given(VALIDATE_BODY, st.sampled_from(["application/json", "text/html", "text/turtle", "*/*", "garbage"]))
    def run(case, accept):
        counted("validate")
        content_type, mapping, data = case
        query = {"mapping": mapping} if mapping else {}
        response = client.post("/api/validate", data=data, content_type=content_type, query_string=query,
                               headers={"Accept": accept})
        check(response, f"POST /api/validate {content_type} {mapping} {data[:300]!r}")
        statuses.add(response.status_code)

    run()
    assert 200 in statuses and 400 in statuses, statuses  # some inputs were validated, not only refused


def test_push_bodies(client, fuzz_platform):
    token = fuzz_platform.accounts.create("D017", "fuzz")[1]

    @budget("push")
    @given(VALIDATE_BODY.filter(lambda c: c[0] != "multipart/form-data"))
    def run(case):
        counted("push")
        content_type, mapping, data = case
        query = {"mapping": mapping} if mapping else {}
        response = client.post("/api/datasets", data=data, content_type=content_type, query_string=query,
                               headers={"Authorization": f"Bearer {token}"})
        check(response, f"POST /api/datasets {content_type} {mapping} {data[:300]!r}")
        statuses.add(response.status_code)

    statuses: set[int] = set()
    run()
    assert statuses & {200, 201, 422} and 400 in statuses, statuses  # some pushes reached the gate


SPARQL_QUERY = st.one_of(SPARQL_TEXT, st.sampled_from([
    "SELECT * WHERE { ?s ?p ?o } LIMIT 3", "ASK { ?s ?p ?o }", "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 2",
    "DESCRIBE <http://127.0.0.1:8000/datasets/x>", "SELECT * FROM <http://x> WHERE { ?s ?p ?o } LIMIT 1",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?t }", "{" * 6000, "SELECT * WHERE { SERVICE <http://x> { ?s ?p ?o } }",
    "INSERT DATA { <a> <b> <c> }", "SELECT ?x WHERE { BIND(1/0 AS ?x) }",
    "SELECT * WHERE { ?s ?p ?o FILTER(REGEX(?o, '(a+)+$')) } LIMIT 1"]))


def test_sparql_bodies(client):
    @budget("sparql")
    @given(SPARQL_QUERY, st.sampled_from(["form", "direct", "get", "binary"]),
           st.sampled_from([None, "application/sparql-results+json", "text/csv", "text/turtle", "garbage", "*/*"]),
           st.sampled_from([None, "json", "xml", "csv", "tsv", "x"]), st.lists(VALUE, max_size=2))
    def run(query, how, accept, format_name, graphs):
        counted("sparql")
        headers = {"Accept": accept} if accept else {}
        args = "&".join([f"format={format_name}"] * bool(format_name)
                        + [f"default-graph-uri={url_quote(g)}" for g in graphs])
        if how == "get":
            response = client.get("/sparql", query_string=f"{args}&query={url_quote(query)}", headers=headers)
        elif how == "form":
            response = client.post("/sparql", data={"query": encode(query)}, query_string=args, headers=headers)
        elif how == "direct":
            response = client.post("/sparql", data=encode(query), content_type="application/sparql-query",
                                   query_string=args, headers=headers)
        else:
            response = client.post("/sparql", data=encode(query)[::-1] + b"\xff", query_string=args,
                                   content_type="application/sparql-query", headers=headers)
        check(response, f"{how} /sparql {query[:300]!r}")

    run()


CSW_BODY = st.one_of(XML_BODY, st.sampled_from([
    b'<csw:GetCapabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW"/>',
    b'<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2" '
    b'resultType="results"><csw:Query typeNames="csw:Record"><csw:ElementSetName>full</csw:ElementSetName>'
    b"</csw:Query></csw:GetRecords>",
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>']),
    st.binary(max_size=100))


def test_csw_bodies(client, fuzz_platform):
    if fuzz_platform.csw is None:
        pytest.skip("CSW is switched off")

    @budget("csw")
    @given(CSW_BODY, st.sampled_from(["application/xml", "text/xml", "", "application/json"]))
    def run(data, content_type):
        counted("csw")
        check(client.post("/csw", data=data, content_type=content_type), f"POST /csw {data[:300]!r}")

    run()


# -- the OGC API from its OpenAPI document (schemathesis, in-process) -------------------------------------
REMOTE = {  # definitions of the remote references of pygeoapi's document (tests never reach the internet)
    "parameters/datetime": {"name": "datetime", "in": "query", "required": False, "schema": {"type": "string"}},
    "parameters/featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
    "sortby.yaml": {"name": "sortby", "in": "query", "required": False, "schema": {"type": "string"}},
    "q.yaml": {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}},
}


def offline(node):
    """Replace the document's remote $refs by local definitions (parameters) or empty ones (responses)."""
    if isinstance(node, list):
        return [offline(n) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        for tail, definition in REMOTE.items():
            if ref.endswith(tail):
                return definition
        return {"description": ref.rsplit("/", 1)[-1]} if "/responses/" in ref else {}
    return {k: offline(v) for k, v in node.items()}


def test_ogc_openapi(app, client):
    import schemathesis

    document = client.get("/ogc/openapi?f=json").get_json()
    document["servers"] = [{"url": "/ogc"}]
    schema = schemathesis.openapi.from_dict(offline(document))
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    strategy = st.one_of([op.as_strategy() for op in operations])

    @budget("openapi")
    @given(strategy)
    def run(case):
        counted("openapi")
        response = case.call()
        assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {response.text[:500]}"

    run()


# -- what fuzzing found, each answered 4xx with a message naming the problem ---------------------------------
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FOUND = [
    ("/api/validate?mapping=china-core", "application/json",
     json.dumps({**VALID_RECORD, "资源摘要": "a\ud800b"}).encode(), 422, "U+D800 (a lone surrogate) at character 2"),
    ("/api/datasets", "application/json", json.dumps({**VALID_RECORD, "资源摘要": "a\ud800b"}).encode(), 422,
     "lone surrogate"),
    ("/api/datasets", "application/json", rb'{"\u8d44\u6e90\u540d\u79f0": "x", "n": ' + b"9" * 5001 + b"}", 413,
     "input_limits.json_max_number_digits"),
    ("/api/validate?mapping=china-core", XLSX_TYPE,
     xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>7</v></c></row>', ["资源名称"]), 400,
     "pointing past the end of the shared-string table"),
    ("/api/validate?mapping=china-core", XLSX_TYPE, xlsx('<row r="1"><c r="A1" t="n"><v>:</v></c></row>', []), 400,
     "row 1 cannot be read"),
    ("/api/validate?mapping=china-core", "application/json", b"0", 400, "expected a record (a JSON object)"),
    ("/sparql?default-graph-uri=", "application/sparql-query", b"SELECT * WHERE { ?s ?p ?o } LIMIT 1", 400,
     "default-graph-uri='' is not an absolute IRI"),
]


@pytest.mark.parametrize("path, content_type, body, status, words", FOUND,
                         ids=["surrogate-validate", "surrogate-push", "huge-integer", "xlsx-shared-string",
                              "xlsx-number-cell", "json-not-a-record", "graph-not-an-iri"])
def test_found_by_fuzzing(client, fuzz_platform, path, content_type, body, status, words):
    token = fuzz_platform.accounts.create("D017", "found")[1]
    response = client.post(path, data=body, content_type=content_type, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    assert words in response.get_data(as_text=True)


@pytest.mark.parametrize("query, headers, status", [
    ("f=csv", {}, 400), ("", {"Accept": "text/csv"}, 406), ("f=json", {}, 200)])
def test_catalogue_records_in_csv(client, query, headers, status):
    """pygeoapi writes CSV for feature providers only: the catalogue's records refuse it (it answered 500)."""
    response = client.get("/ogc/collections/catalog/items", query_string=query, headers=headers)
    assert response.status_code == status
    if status != 200:
        assert "records answer json" in response.get_json()["description"]


def test_internal_token_of_any_characters(app, client, monkeypatch):
    """A header holding non-ASCII text made hmac.compare_digest raise TypeError (a 500): now 403 like any guess."""
    monkeypatch.setitem(app.config, "WODP_INTERNAL_TOKEN", "the-server-token")
    for token in ("\u00e9t\u00e9", "\x00", "x" * 5000):
        response = client.post("/internal/remove", json=[], headers={"X-WODP-Token": encode(token).decode("latin-1")})
        assert response.status_code == 403


def test_coordinates_that_are_not_positions():
    """Infinite or absurd numbers are no positions: kept as they are (the extent check reports them), never a crash."""
    from ogc import coords
    from ogc.columns import parse_number

    assert coords.to_cgcs2000(math.inf, 30.5, coords.Crs.BD09) == (math.inf, 30.5)
    assert coords.to_cgcs2000(1e300, 1e300, coords.Crs.BD09) == (1e300, 1e300)
    assert math.isnan(coords.haversine_m(math.inf, 0, 0, 0)) and math.isnan(coords.haversine_m(1e308, 0, -1e308, 0))
    with pytest.raises(ValueError, match="not a finite number"):
        parse_number("1e400")
    with pytest.raises(ValueError, match="too large"):
        parse_number(10 ** 400)


def test_inputs_add_up():
    """The whole suite generated at least 10,000 inputs (when every fuzz test ran, as in CI)."""
    if set(COUNTS) != set(CI):
        pytest.skip(f"only {sorted(COUNTS)} ran")
    total = sum(COUNTS.values())
    print(f"\nfuzz: {total} generated inputs: {COUNTS}")
    assert total >= 10_000 * FACTOR, COUNTS
