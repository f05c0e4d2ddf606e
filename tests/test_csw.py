"""CSW at /csw (pycsw in its own process): what OWSLib and plain HTTP clients see, kept in step with the store."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import urllib.parse

import httpx
import pyoxigraph as ox
import pytest
from lxml import etree

from tests.conftest import free_port

pytest.importorskip("owslib")
from owslib.catalogue.csw2 import CatalogueServiceWeb  # noqa: E402
from owslib.fes import BBox, PropertyIsGreaterThanOrEqualTo, PropertyIsLessThan, PropertyIsLike  # noqa: E402

NS = {"csw": "http://www.opengis.net/cat/csw/2.0.2", "csw30": "http://www.opengis.net/cat/csw/3.0",
      "ows": "http://www.opengis.net/ows", "ows20": "http://www.opengis.net/ows/2.0",
      "dc": "http://purl.org/dc/elements/1.1/", "dct": "http://purl.org/dc/terms/",
      "gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco"}
GMD = "http://www.isotc211.org/2005/gmd"
CSW202 = "service=CSW&version=2.0.2"


def serve(app):
    """Serve a Flask app with waitress on a free loopback port in a thread; return (url, stop)."""
    from waitress.server import create_server

    port = free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}", server.close


def _live_platform(home, environ=None):
    """A platform of 240 demo datasets (60 spatial) whose public base is its own live server; (platform, stop)."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    port = free_port()
    settings = load_settings(environ or {}, overrides={"site": {"base_uri": f"http://127.0.0.1:{port}"},
                                                       "demo": {"datasets": 240, "spatial": 60}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    from waitress.server import create_server

    server = create_server(create_app(platform=platform), host="127.0.0.1", port=port, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    platform.extras["csw_url"] = f"http://127.0.0.1:{port}/csw"
    return platform, server.close


@pytest.fixture(scope="module")
def csw_platform(tmp_path_factory):
    """The platform over the embedded SQLite repository (the default)."""
    platform, stop = _live_platform(tmp_path_factory.mktemp("csw-home"))
    yield platform
    stop()
    platform.close()


PG_PASSWORD = "csw-secret-Zq81"  # trust authentication ignores it; it must never show outside the URL


@pytest.fixture(scope="module")
def csw_pg_platform(tmp_path_factory, postgis_dsn):
    """The same platform with pycsw's repository on PostgreSQL + PostGIS (database.url, as docs/csw.md says)."""
    from tests.pg import fresh_database_url

    url = fresh_database_url(postgis_dsn, "csw").replace("postgres@", f"postgres:{PG_PASSWORD}@", 1)
    environ = {"WODP_DATABASE__URL": url, "WODP_DATABASE__AUTO_MIGRATE": "true"}
    platform, stop = _live_platform(tmp_path_factory.mktemp("csw-pg-home"), environ)
    assert platform.csw.repository.path is None  # not the SQLite file
    yield platform
    stop()
    platform.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_platform(request):
    """Each repository backend in turn: the cheap CSW tests run on both."""
    return request.getfixturevalue("csw_platform" if request.param == "sqlite" else "csw_pg_platform")


@pytest.fixture(scope="module")
def any_csw(any_platform):
    return CatalogueServiceWeb(any_platform.extras["csw_url"], timeout=60)


@pytest.fixture(scope="module")
def demo_csw_url(demo_app):
    url, stop = serve(demo_app)
    yield url + "/csw"
    stop()


def xml(response) -> etree._Element:
    return etree.fromstring(response.content if hasattr(response, "content") else response.data)


def matched(root) -> int:
    results = root.find(".//{*}SearchResults")
    return int(results.get("numberOfRecordsMatched"))


def store_boxes(store) -> dict[str, tuple[float, float, float, float]]:
    """Read every dataset's extent from the store (EPSG:4490 WKT, lat lon) as lon/lat boxes."""
    rows = store.query("""SELECT ?d ?w WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ;
        <http://purl.org/dc/terms/spatial> ?p . ?p <http://www.w3.org/ns/dcat#bbox> ?w } }""")
    boxes = {}
    for row in rows:
        numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", row["w"].value.split(">", 1)[1])]
        lats, lons = numbers[0::2], numbers[1::2]
        boxes[row["d"].value] = (min(lons), min(lats), max(lons), max(lats))
    return boxes


# -- counts follow the store -------------------------------------------------------------------------------
def test_owslib_count_equals_the_demo_catalogue(demo_platform, demo_csw_url):
    csw = CatalogueServiceWeb(demo_csw_url, timeout=60, skip_caps=True)  # caps name the settings' base URL
    started = time.perf_counter()
    csw.getrecords2(esn="brief", maxrecords=10)  # the first request starts pycsw
    first = time.perf_counter() - started
    started = time.perf_counter()
    csw.getrecords2(esn="brief", maxrecords=10)
    seconds = time.perf_counter() - started
    assert csw.results["matches"] == demo_platform.store.count_datasets() == 1700
    assert csw.results["returned"] == 10
    print(f"GetRecords (1,700 records, 10 brief): {seconds * 1000:.0f} ms; first, with pycsw start:"
          f" {first * 1000:.0f} ms")


def test_capabilities_name_the_public_url_and_operations(any_csw, any_platform):
    assert any_csw.identification.type == "CSW"
    names = {op.name for op in any_csw.operations}
    assert {"GetCapabilities", "DescribeRecord", "GetRecords", "GetRecordById", "GetDomain"} <= names
    get_records = any_csw.get_operation_by_name("GetRecords")
    assert get_records.methods[0]["url"].startswith(any_platform.extras["csw_url"])
    assert "Wuhan" in any_csw.identification.title


def _clone(dataset, new_id: str, title: str) -> tuple[str, list]:
    """Copy a demo dataset's graph under a new identifier and title."""
    old_uri, new_uri = dataset.uri, dataset.uri.rsplit("/", 1)[0] + "/" + new_id

    def swap(term):
        if isinstance(term, ox.NamedNode) and term.value.startswith(old_uri):
            return ox.NamedNode(new_uri + term.value[len(old_uri):])
        if isinstance(term, ox.Literal) and term.value == dataset.id:
            return ox.Literal(new_id)
        return term

    title_p = ox.NamedNode("http://purl.org/dc/terms/title")
    triples = [ox.Triple(swap(t.subject), t.predicate, swap(t.object)) for t in dataset.triples
               if not (t.subject.value == old_uri and t.predicate == title_p)]
    triples += [ox.Triple(ox.NamedNode(new_uri), title_p, ox.Literal(title, language="zh-CN")),
                ox.Triple(ox.NamedNode(new_uri), title_p, ox.Literal("CSW test " + new_id, language="en"))]
    return new_uri, triples


def test_count_and_dates_follow_publish_and_withdrawal(any_csw, any_platform):
    store, publisher = any_platform.store, any_platform.publisher
    source = any_platform.demo.datasets[3]
    uri, triples = _clone(source, "demo.D999-00001", "CSW测试新增数据集")
    outcome = publisher.publish({uri: triples}, "demo")
    assert not outcome.held
    any_csw.getrecords2(esn="brief", maxrecords=1)
    assert any_csw.results["matches"] == store.count_datasets() == 241
    any_csw.getrecordbyid([uri], outputschema=GMD)
    md = any_csw.records[uri]
    assert md.identification[0].title == "CSW测试新增数据集"
    from sparql.records import now_literal

    stamp = md.datetimestamp  # the catalogue record's own literal, in canonical form (…13.62Z, not …13.620Z)
    assert stamp == now_literal(store.record_modified(uri)).value

    publisher.withdraw([uri], "demo")
    any_csw.getrecords2(esn="brief", maxrecords=1)
    assert any_csw.results["matches"] == store.count_datasets() == 240
    any_csw.getrecordbyid([uri])
    assert any_csw.records == {}
    assert any_platform.csw.in_step_with(store)


def test_a_long_abstract_is_written_whole(any_csw, any_platform):
    """A 6,000-character abstract (18 kB in UTF-8, over PostgreSQL's B-tree limit) is published and served whole."""
    source = any_platform.demo.datasets[4]
    uri, triples = _clone(source, "demo.D999-00002", "CSW长摘要数据集")
    description = ox.NamedNode("http://purl.org/dc/terms/description")
    import random

    chance = random.Random(7)  # varied text: PostgreSQL would compress a repeated one under the B-tree limit
    abstract = "".join(chr(chance.randrange(0x4E00, 0x9FA5)) for _ in range(6000))
    triples = [t for t in triples if not (t.subject.value == uri and t.predicate == description)]
    triples.append(ox.Triple(ox.NamedNode(uri), description, ox.Literal(abstract, language="zh-CN")))
    assert not any_platform.publisher.publish({uri: triples}, "demo").held
    try:
        any_csw.getrecordbyid([uri], outputschema=GMD)
        assert any_csw.records[uri].identification[0].abstract == abstract
        assert any_platform.csw.in_step_with(any_platform.store)
    finally:
        any_platform.publisher.withdraw([uri], "demo")
    assert any_platform.csw.repository.count() == any_platform.store.count_datasets() == 240


def test_repository_in_step_after_publish_and_withdraw(any_platform):
    store, repo = any_platform.store, any_platform.csw.repository
    dataset = any_platform.demo.datasets[5]
    any_platform.publisher.publish({dataset.uri: list(dataset.triples)}, "demo")
    assert repo.count() == store.count_datasets()
    assert repo.modified() == repo.store_modified(store)
    from sparql.records import now_literal

    assert (dataset.uri, now_literal(store.record_modified(dataset.uri)).value) in repo.modified()
    any_platform.publisher.withdraw([dataset.uri], "demo")
    assert dataset.uri not in {i for i, _ in repo.modified()}
    assert repo.count() == store.count_datasets() == 239
    any_platform.publisher.publish({dataset.uri: list(dataset.triples)}, "demo")
    assert repo.in_step_with(store) and repo.count() == 240


# -- records in DC and ISO -------------------------------------------------------------------------------
def test_iso_records_parse_into_md_metadata(any_csw, any_platform):
    spatial = next(d for d in any_platform.demo.datasets if d.spatial)
    any_csw.getrecordbyid([spatial.uri], outputschema=GMD)
    md = any_csw.records[spatial.uri]
    ident = md.identification[0]
    assert md.identifier == spatial.uri
    assert ident.title == spatial.title
    assert ident.abstract.startswith("本数据集")
    box = store_boxes(any_platform.store)[spatial.uri]
    assert (float(ident.bbox.minx), float(ident.bbox.miny), float(ident.bbox.maxx), float(ident.bbox.maxy)) \
        == pytest.approx(box)
    urls = [o.url for o in md.distribution.online]
    protocols = {o.protocol for o in md.distribution.online}
    assert any(u.endswith(".geojson") for u in urls) and "WWW:DOWNLOAD-1.0-http--download" in protocols
    # the record carries the layer's DCAT links: its OGC API collection and its GeoJSON download
    base = any_platform.settings.base_uri
    links = {(o.url, o.protocol) for o in md.distribution.online}
    assert (f"{base}/ogc/collections/{spatial.id}", "OGC:API-Features") in links
    assert (f"{base}/layers/{spatial.id}.geojson", "WWW:DOWNLOAD-1.0-http--download") in links
    layer = any_platform.features.layer(spatial.id)
    assert (float(ident.bbox.minx), float(ident.bbox.miny)) == pytest.approx(layer.bbox[:2], abs=1e-6)


def test_getrecords_iso_and_dc(any_csw):
    any_csw.getrecords2(outputschema=GMD, esn="full", maxrecords=5)
    assert len(any_csw.records) == 5
    assert all(r.identification[0].title for r in any_csw.records.values())
    any_csw.getrecords2(esn="full", maxrecords=5)
    record = next(iter(any_csw.records.values()))
    assert record.title and record.type == "dataset" and record.modified
    assert record.identifier.startswith("http://127.0.0.1:")


def test_dc_record_by_id_has_links_and_bbox(any_csw, any_platform):
    spatial = next(d for d in any_platform.demo.datasets if d.spatial)
    any_csw.getrecordbyid([spatial.uri], esn="full")
    record = any_csw.records[spatial.uri]
    assert record.title == spatial.title
    assert record.bbox is not None
    assert any(ref["url"].endswith("data.geojson") for ref in record.references)


# -- filters ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("crs", [None, "urn:ogc:def:crs:OGC:1.3:CRS84"])
def test_bbox_filter_returns_the_intersecting_datasets(any_csw, any_platform, crs):
    boxes = store_boxes(any_platform.store)
    small = min(boxes.values(), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))  # one district
    w, s, e, n = small
    # pycsw 2.6 rounds a query envelope to 2 decimals (util.bbox2wktpolygon): ask with 2 decimals
    query = tuple(round(v, 2) for v in ((w + e) / 2 - 0.01, (s + n) / 2 - 0.01, (w + e) / 2 + 0.01,
                                         (s + n) / 2 + 0.01))
    expected = {u for u, (a, b, c, d) in boxes.items()
                if not (c < query[0] or a > query[2] or d < query[1] or b > query[3])}
    assert 0 < len(expected) < len(boxes)
    corners = list(query) if crs else [query[1], query[0], query[3], query[2]]  # EPSG:4326 is lat, lon
    any_csw.getrecords2(constraints=[BBox(corners, crs=crs)], esn="brief", maxrecords=500)
    assert set(any_csw.records) == expected
    assert any_csw.results["matches"] == len(expected)


def test_text_filter_with_a_chinese_word(any_csw, any_platform):
    rows = any_platform.store.query("""SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { GRAPH ?d {
        ?d a <http://www.w3.org/ns/dcat#Dataset> ; <http://purl.org/dc/terms/title> ?t
        FILTER(CONTAINS(?t, "交通")) } }""")
    in_titles = int(next(iter(rows))["n"].value)
    any_csw.getrecords2(constraints=[PropertyIsLike("dc:title", "%交通%")], esn="brief", maxrecords=500)
    assert any_csw.results["matches"] == in_titles > 0
    assert all("交通" in r.title for r in any_csw.records.values())
    any_csw.getrecords2(constraints=[PropertyIsLike("csw:AnyText", "%交通%")], esn="brief", maxrecords=500)
    assert any_csw.results["matches"] >= in_titles


DATASET_MODIFIED = """SELECT ?d ?m WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ;
  <http://purl.org/dc/terms/modified> ?m } }"""


def test_date_filter_on_the_datasets_own_modified_date(any_csw, any_platform):
    """dct:modified (and apiso:Modified) compare the dataset's dct:modified, as SPARQL does, not the load time."""
    dates = {(row["d"].value, row["m"].value) for row in any_platform.store.query(DATASET_MODIFIED)}
    assert len({u for u, _ in dates}) == any_platform.store.count_datasets()
    pivot = sorted(m for _, m in dates)[len(dates) // 2]
    newer = {u for u, m in dates if m >= pivot}
    assert 0 < len(newer) < len(dates)
    for name in ("dct:modified", "apiso:Modified"):
        any_csw.getrecords2(constraints=[PropertyIsGreaterThanOrEqualTo(name, pivot)], esn="brief", maxrecords=500)
        assert any_csw.results["matches"] == len(newer) and set(any_csw.records) <= newer and any_csw.records, name
    any_csw.getrecords2(constraints=[PropertyIsLessThan("dct:modified", pivot)], esn="brief", maxrecords=1)
    assert any_csw.results["matches"] == len(dates) - len(newer)


def test_a_republished_dataset_is_followed_by_its_record_time(any_platform):
    dataset = any_platform.demo.datasets[7]
    any_platform.publisher.publish({dataset.uri: list(dataset.triples)}, "demo")  # a new catalogue record time
    assert any_platform.csw.repository.in_step_with(any_platform.store)


def test_cql_constraint(any_platform):
    title = any_platform.demo.datasets[0].title
    query = urllib.parse.urlencode({"service": "CSW", "version": "2.0.2", "request": "GetRecords",
                                    "typenames": "csw:Record", "elementsetname": "brief", "resulttype": "results",
                                    "constraintlanguage": "CQL_TEXT", "constraint_language_version": "1.1.0",
                                    "constraint": f"dc:title = '{title}'"})
    root = xml(httpx.get(any_platform.extras["csw_url"] + "?" + query, timeout=60))
    expected = sum(1 for d in any_platform.demo.datasets if d.title == title
                   and any_platform.store.has_dataset(d.uri))
    assert matched(root) == expected >= 1
    assert {e.text for e in root.iterfind(".//dc:title", NS)} == {title}


def test_getdomain_lists_the_types(any_csw):
    any_csw.getdomain("dc:type", dtype="property")
    assert any_csw.results["values"] == ["dataset"]


def test_describerecord(any_csw):
    any_csw.describerecord(typename="csw:Record")
    root = etree.fromstring(any_csw.response)
    assert root.tag == "{http://www.opengis.net/cat/csw/2.0.2}DescribeRecordResponse"
    assert root.find("csw:SchemaComponent", NS) is not None


def test_csw3_capabilities_and_records(any_platform):
    url = any_platform.extras["csw_url"]
    caps = xml(httpx.get(url + "?service=CSW&request=GetCapabilities&acceptversions=3.0.0", timeout=60))
    assert caps.tag == "{http://www.opengis.net/cat/csw/3.0}Capabilities" and caps.get("version") == "3.0.0"
    root = xml(httpx.get(url + "?service=CSW&version=3.0.0&request=GetRecords&typenames=csw:Record"
                         "&elementsetname=summary&maxrecords=7", timeout=60))
    assert matched(root) == any_platform.store.count_datasets()
    assert len(root.findall(".//csw30:SummaryRecord", NS)) == 7


# -- PostgreSQL and SQLite answer alike ----------------------------------------------------------------------
def _hits(url: str, constraint: str) -> int:
    language = "FILTER" if constraint.startswith("<") else "CQL_TEXT"
    query = urllib.parse.urlencode({"service": "CSW", "version": "2.0.2", "request": "GetRecords",
                                    "typenames": "csw:Record", "resulttype": "hits", "elementsetname": "brief",
                                    "constraintlanguage": language, "constraint_language_version": "1.1.0",
                                    "constraint": constraint})
    response = httpx.get(f"{url}?{query}", timeout=60)
    assert b"ExceptionReport" not in response.content, (constraint, response.text[:500])
    return matched(xml(response))


def test_both_repositories_answer_the_same(csw_platform, csw_pg_platform):
    """The same filters match the same number of records on SQLite and on PostgreSQL: AnyText is a substring
    match on both (pycsw's PostgreSQL full text would find no 交通 inside 武汉市交通运输局), bbox the same boxes."""
    boxes = store_boxes(csw_platform.store)
    w, s, e, n = min(boxes.values(), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    constraints = ["csw:AnyText like '%交通%'", "csw:AnyText like '%教育%'", "csw:AnyText like '%江夏区%'",
                   "csw:AnyText like '%data%'", "dc:title like '%统计%'", "dc:type = 'dataset'",
                   '<ogc:Filter xmlns:ogc="http://www.opengis.net/ogc" xmlns:gml="http://www.opengis.net/gml">'
                   '<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName>'
                   '<gml:Envelope srsName="urn:ogc:def:crs:OGC:1.3:CRS84">'
                   f'<gml:lowerCorner>{w:.2f} {s:.2f}</gml:lowerCorner><gml:upperCorner>{e:.2f} {n:.2f}'
                   '</gml:upperCorner></gml:Envelope></ogc:BBOX></ogc:Filter>']
    counts = {c: (_hits(csw_platform.extras["csw_url"], c), _hits(csw_pg_platform.extras["csw_url"], c))
              for c in constraints}
    assert all(a == b for a, b in counts.values()), counts
    assert all(a > 0 for a, _ in counts.values()), counts
    assert counts["dc:type = 'dataset'"][0] == csw_pg_platform.store.count_datasets() == 240
    print({c: a for c, (a, _) in counts.items()})


ANYTEXT_PATTERNS = ["交通", "交通运输", "交", "武汉市交通运输局", "DATA", "Data", "data", "_通", "交_", "通%局",
                    "2023", "20", "wuhan", "É", "数据", "统计", "no such words 不存在", "通交"]


def _like_filter(pattern: str, negated: bool = False) -> str:
    like = ('<ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\"><ogc:PropertyName>csw:AnyText'
            f'</ogc:PropertyName><ogc:Literal>%{pattern}%</ogc:Literal></ogc:PropertyIsLike>')
    body = f"<ogc:Not>{like}</ogc:Not>" if negated else like
    return f'<ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">{body}</ogc:Filter>'


def test_anytext_is_found_through_the_pairs_index_with_the_scans_answer(any_platform):
    """csw:AnyText on either database: the records the character pairs' index lets through, then pycsw's LIKE
    (ILIKE on PostgreSQL), are exactly the records a scan of every text finds (patterns Chinese and ASCII, of one
    character and many, with wildcards, negated), after a publish and a withdrawal too (ogc/csw/anytext.py)."""
    import sqlite3

    from ogc.csw import anytext

    url = any_platform.extras["csw_url"]
    repository = any_platform.csw.repository
    if repository.db.kind == "sqlite":
        fts, _ = anytext.sqlite_tables(repository.table)
        with sqlite3.connect(repository.path) as conn:
            assert conn.execute(f"SELECT count(*) FROM {fts} WHERE {fts} MATCH ?",
                                (anytext.tokens(anytext.pattern_codes("%交通%")),)).fetchone()[0] > 0

    def scan(pattern: str) -> int:
        like = "ILIKE" if repository.db.kind == "postgresql" else "LIKE"
        return repository.db.rows(f"SELECT count(*) FROM {repository.table} WHERE anytext {like} ?",
                                  (f"%{pattern}%",))[0][0]

    expected = {p: scan(p) for p in ANYTEXT_PATTERNS}
    assert {p: _hits(url, _like_filter(p)) for p in ANYTEXT_PATTERNS} == expected
    total = any_platform.store.count_datasets()
    assert {p: _hits(url, _like_filter(p, negated=True)) for p in ("交通", "DATA")} == {
        "交通": total - expected["交通"], "DATA": total - expected["DATA"]}
    assert expected["交通"] > 0 and expected["data"] > 0 and expected["no such words 不存在"] == 0
    assert expected["DATA"] == expected["data"]  # case does not matter to AnyText, with the index or without

    publisher, source = any_platform.publisher, any_platform.demo.datasets[5]
    uri, triples = _clone(source, "demo.D999-00002", "琥珀色的测试数据集")
    assert not publisher.publish({uri: triples}, "demo").held
    assert (_hits(url, _like_filter("琥珀色")), scan("琥珀色")) == (1, 1)
    uri, triples = _clone(source, "demo.D999-00002", "翡翠色的测试数据集")  # the same dataset, a new title
    assert not publisher.publish({uri: triples}, "demo").held
    assert [_hits(url, _like_filter(word)) for word in ("琥珀色", "翡翠色")] == [0, 1]
    publisher.withdraw([uri], "demo")
    assert [_hits(url, _like_filter(word)) for word in ("琥珀色", "翡翠色")] == [0, 0]
    assert {p: _hits(url, _like_filter(p)) for p in ANYTEXT_PATTERNS} == expected


def test_anytext_pairs_index_serves_postgresql(csw_pg_platform):
    """PostgreSQL can answer the pairs' condition from its GIN index."""
    import psycopg

    from ogc.csw import anytext

    with psycopg.connect(csw_pg_platform.csw.repository.db.url) as conn:
        conn.execute("SET enable_seqscan = off")
        where = anytext.with_grams("anytext ilike :pvalue0", ["%交通运输%"])
        assert where.startswith("(anytext ilike :pvalue0 AND anytext_grams @> ")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT count(*) FROM csw_records WHERE "
                                                     + where.replace(":pvalue0", "'%%交通运输%%'")).fetchall())
        assert "csw_records_anytext_grams_idx" in plan, plan


def test_anytext_pairs_of_a_pattern_are_held_by_every_text_it_matches():
    """The pairs condition never loses a match: a text ILIKE matches holds the pattern's pairs; patterns whose
    case folding could differ from the database's, escaped or without two fixed characters, are left to the scan."""
    from ogc.csw.anytext import gram_codes, pattern_codes, tokens, with_grams

    for text, pattern in [("武汉市交通运输局 公交线路", "%交通%"), ("Wuhan Open DATA", "%open data%"),
                          ("İSTANBUL", "%istanbul%"), ("\u212aELVIN", "%kelvin%"), ("交通运输局", "%交通_输%"),
                          ("𠀀𠀁 rare", "%𠀀𠀁%")]:
        assert pattern_codes(pattern), pattern
        assert set(pattern_codes(pattern)) <= set(gram_codes(text)), (text, pattern)
    assert not set(pattern_codes("%交通%")) <= set(gram_codes("交 通"))
    for pattern in ["%交%", "%É%", "%Σα%", "%Ａ1%", "%a\\_b%", "%_%", "%%"]:
        assert pattern_codes(pattern) == [], pattern
    assert with_grams("title ilike :pvalue0 and anytext ilike :pvalue1", ["%交通%", "%交%"]) == (
        "title ilike :pvalue0 and anytext ilike :pvalue1")
    rewritten = with_grams("anytext is null or not anytext ilike :pvalue0", ["%交通运输%"])
    assert rewritten.startswith("anytext is null or not (anytext ilike :pvalue0 AND anytext_grams @> '{")
    assert rewritten.endswith("}'::integer[])")
    # a two-character word without case is its pair: no text is read (the test above checks the answers)
    assert with_grams("anytext ilike :pvalue0", ["%交通%"]) == (
        f"(anytext_grams @> '{{{pattern_codes('%交通%')[0]}}}'::integer[])")
    assert with_grams("anytext ilike :pvalue0", ["%ab%"]).startswith("(anytext ilike :pvalue0 AND ")
    # a word whose pairs are in too many records is left to the scan (the index would be slower), except a
    # single pair on SQLite, answered from the pairs alone (no text read)
    common = set(pattern_codes("%统计%"))
    asked = []

    def too_common(codes):
        asked.append(codes)
        return set(codes) <= common

    assert with_grams("anytext ilike :pvalue0", ["%统计%"], too_common) == "anytext ilike :pvalue0"
    assert with_grams("anytext ilike :pvalue0", ["%交通%"], too_common) != "anytext ilike :pvalue0"
    both = pattern_codes("%交通统计%")
    assert with_grams("anytext ilike :pvalue0", ["%交通统计%"], too_common) == (
        f"(anytext ilike :pvalue0 AND anytext_grams @> '{{{','.join(map(str, both))}}}'::integer[])")
    assert with_grams("anytext like :pvalue0", ["%统计%"], too_common, table="records", dialect="sqlite") == (
        "(identifier IN (SELECT identifier FROM records_pairs_rows WHERE n IN (SELECT rowid FROM records_pairs"
        f" WHERE records_pairs MATCH '{tokens(sorted(common))}')))")
    assert with_grams("anytext like :pvalue0", ["%统计局%"], lambda codes: True, table="records",
                      dialect="sqlite") == "anytext like :pvalue0"
    assert asked == [pattern_codes("%统计%"), pattern_codes("%交通%"), both]


def _repository_of_demo(target, datasets: int):
    """A CSW repository (a file or a database.url) rebuilt from the first datasets of the demo catalogue, closed;
    return the catalogue."""
    from demo.generator import build_demo_catalog
    from ogc.csw.repository import CswRepository
    from sparql.store import OxigraphStore

    catalog = build_demo_catalog("http://127.0.0.1:8000")
    store = OxigraphStore(None)
    store.put_datasets({d.uri: list(d.triples) for d in catalog.datasets[:datasets]})
    repo = CswRepository(target)
    repo.rebuild(store)
    repo.close()
    return catalog


def test_a_repository_made_before_the_pairs_index_gets_it_filled(tmp_path, postgis_dsn):
    """Opening a PostgreSQL repository that has no pairs column (made by an older version) adds it, fills it
    for every record, then makes the index: the same records are found as by the scan."""
    import psycopg

    from ogc.csw import anytext
    from ogc.csw.repository import CswRepository
    from tests.pg import fresh_database_url

    url = fresh_database_url(postgis_dsn, "cswgrams")
    _repository_of_demo(url, 300)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX csw_records_anytext_grams_idx")
        conn.execute("ALTER TABLE csw_records DROP COLUMN anytext_grams")
    CswRepository(url).close()
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT anytext, anytext_grams FROM csw_records").fetchall()
        assert len(rows) == 300 and all(grams == anytext.gram_codes(text) for text, grams in rows)
        assert conn.execute("SELECT to_regclass('csw_records_anytext_grams_idx') IS NOT NULL").fetchone()[0]
        title = conn.execute("SELECT title FROM csw_records ORDER BY identifier LIMIT 1").fetchone()[0]
        for pattern in (title[:2], title[-3:], "交通", "data"):
            scan = conn.execute("SELECT count(*) FROM csw_records WHERE anytext ILIKE %s", (f"%{pattern}%",)).fetchone()
            codes = anytext.pattern_codes(f"%{pattern}%")
            paired = conn.execute("SELECT count(*) FROM csw_records WHERE anytext_grams @> %s::integer[]"
                                  " AND anytext ILIKE %s", (codes, f"%{pattern}%")).fetchone()
            assert paired == scan and (scan[0] > 0 or pattern in ("交通", "data")), pattern


def test_an_sqlite_repository_made_before_the_pairs_gets_them_filled(tmp_path):
    """The embedded repository of an older version (no pairs tables) gets them at open, filled from its records:
    each word's candidates by the pairs hold every record LIKE finds."""
    import sqlite3

    from ogc.csw import anytext
    from ogc.csw.repository import CswRepository

    path = tmp_path / "csw.sqlite"
    _repository_of_demo(path, 300)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE records_pairs")
        conn.execute("DROP TABLE records_pairs_rows")
    CswRepository(path).close()
    with sqlite3.connect(path) as conn:
        title = conn.execute("SELECT title FROM records ORDER BY identifier LIMIT 1").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM records_pairs_rows").fetchone()[0] == 300
        for pattern in (title[:2], title[-3:], "data"):
            like = conn.execute("SELECT count(*) FROM records WHERE anytext LIKE ?", (f"%{pattern}%",)).fetchone()
            where = anytext.with_grams("anytext like :pvalue0", [f"%{pattern}%"], table="records", dialect="sqlite")
            assert "MATCH" in where
            sql = f"SELECT count(*) FROM records WHERE {where.replace(':pvalue0', '?')}"
            paired = conn.execute(sql, (f"%{pattern}%",) if "?" in sql else ()).fetchone()  # a pair alone: no LIKE
            assert paired == like and like[0] > 0, pattern


def _written_behind_our_back(conn, table: str, mark: str = "?") -> None:
    """Copy a record under a new identifier with a word no other holds, as SQL from outside our writer would
    write it (on PostgreSQL its pairs left at the column's default, none)."""
    conn.execute(f"CREATE TEMP TABLE copied AS SELECT * FROM {table} ORDER BY identifier LIMIT 1")
    conn.execute("UPDATE copied SET identifier = 'urn:outside:1', anytext = anytext || ' 鹦鹉螺号'")
    if table == "csw_records":
        conn.execute("UPDATE copied SET anytext_grams = '{}'")
    conn.execute(f"INSERT INTO {table} SELECT * FROM copied")


def test_records_written_without_their_pairs_get_them_at_open_on_sqlite(tmp_path, caplog):
    """A record row that our writer did not write has no pairs, and a word of its text would miss it; opening
    the repository gives it its pairs and says how many it repaired. A record deleted behind our back leaves its
    pairs' number: then every record's pairs are made again (and said so)."""
    import sqlite3

    from ogc.csw import anytext
    from ogc.csw.repository import CswRepository

    path = tmp_path / "csw.sqlite"
    catalog = _repository_of_demo(path, 50)

    def found(word: str) -> tuple[int, int]:
        with sqlite3.connect(path) as conn:
            like = conn.execute("SELECT count(*) FROM records WHERE anytext LIKE ?", (f"%{word}%",)).fetchone()[0]
            where = anytext.with_grams("anytext like :pvalue0", [f"%{word}%"], table="records", dialect="sqlite")
            sql = f"SELECT count(*) FROM records WHERE {where.replace(':pvalue0', '?')}"
            return like, conn.execute(sql, (f"%{word}%",) if "?" in sql else ()).fetchone()[0]

    with sqlite3.connect(path) as conn:
        _written_behind_our_back(conn, "records")
    assert found("鹦鹉") == (1, 0)  # missed by the pairs
    with caplog.at_level("WARNING", logger="ogc.csw.databases"):
        CswRepository(path).close()
    assert found("鹦鹉") == (1, 1) and found("鹦鹉螺号") == (1, 1)
    assert "1 records written without their character pairs were given them" in caplog.text
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM records_pairs_rows").fetchone()[0] == 51
        conn.execute("DELETE FROM records WHERE identifier = 'urn:outside:1'")
    caplog.clear()
    with caplog.at_level("WARNING", logger="ogc.csw.databases"):
        CswRepository(path).close()
    assert "1 records gone without our writer: the pairs of all 50 records made again" in caplog.text
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM records_pairs_rows").fetchone()[0] == 50
    assert found("鹦鹉") == (0, 0)
    for word in ("交通", "data", catalog.datasets[0].title[:2]):
        like, paired = found(word)
        assert like == paired, word
    caplog.clear()
    with caplog.at_level("WARNING", logger="ogc.csw.databases"):
        CswRepository(path).close()  # in step: nothing said
    assert "pairs" not in caplog.text


def test_records_written_without_their_pairs_get_them_at_open_on_postgresql(tmp_path, postgis_dsn, caplog):
    """The same on PostgreSQL: a row written with the pairs column at its default is found through the index
    at open and given its pairs."""
    import psycopg

    from ogc.csw import anytext
    from ogc.csw.repository import CswRepository
    from tests.pg import fresh_database_url

    url = fresh_database_url(postgis_dsn, "cswrepair")
    _repository_of_demo(url, 50)

    def found(word: str) -> tuple[int, int]:
        with psycopg.connect(url) as conn:
            like = conn.execute("SELECT count(*) FROM csw_records WHERE anytext ILIKE %s", (f"%{word}%",)).fetchone()
            paired = conn.execute("SELECT count(*) FROM csw_records WHERE anytext_grams @> %s::integer[]",
                                  (anytext.pattern_codes(f"%{word}%"),)).fetchone()
            return like[0], paired[0]

    with psycopg.connect(url, autocommit=True) as conn:
        _written_behind_our_back(conn, "csw_records")
    assert found("鹦鹉") == (1, 0)
    with caplog.at_level("WARNING", logger="ogc.csw.databases"):
        CswRepository(url).close()
    assert found("鹦鹉") == (1, 1) and found("螺号") == (1, 1)
    assert "1 records written without their character pairs were given them" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ogc.csw.databases"):
        CswRepository(url).close()  # in step: nothing said
    assert "pairs" not in caplog.text


def test_postgres_password_stays_out_of_files_logs_and_command_lines(csw_pg_platform):
    """database.url is a secret: pycsw gets it through the environment, never a file or an argument."""
    import pathlib

    service, url = csw_pg_platform.csw, csw_pg_platform.extras["csw_url"]
    assert httpx.get(f"{url}?{CSW202}&request=GetCapabilities", timeout=60).status_code == 200
    home = csw_pg_platform.settings.home
    assert "postgresql+psycopg2://" in (home / "csw" / "pycsw.json").read_text("utf-8")  # redacted, not absent
    for path in home.rglob("*"):
        if path.is_file():
            assert PG_PASSWORD.encode() not in path.read_bytes(), path
    worker = service.repository._worker
    assert worker is not None  # the demo load (240 datasets) went through the row worker
    for pid in (service.pid, worker.proc.pid):
        assert PG_PASSWORD.encode() not in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    assert PG_PASSWORD not in str(service.repository.db) and PG_PASSWORD not in repr(csw_pg_platform.settings)


def test_pycsw_gets_the_url_with_a_statement_timeout_and_no_password_shows():
    """pycsw's PostgreSQL URL keeps the user's options and adds a statement timeout of csw.timeout_s."""
    from ogc.csw.databases import PostgresDatabase, redacted

    database = PostgresDatabase.__new__(PostgresDatabase)  # no connection needed for the URL
    database._url = "postgresql://wodp:pw%40x@db.example:5433/wodp?sslmode=require&options=-csearch_path%3Dcsw"
    from ogc.csw.databases import open_database

    masked = "cannot connect to the CSW repository database postgresql://wodp:\\*\\*\\*@"
    with pytest.raises(Exception, match=masked) as caught:
        open_database("postgresql+psycopg://wodp:pw-9@127.0.0.1:1/wodp")  # SQLAlchemy's form is PostgreSQL too
    assert caught.value.status == 503 and "pw-9" not in str(caught.value)
    url = database.pycsw_url_limited(2.5)
    assert url.startswith("postgresql+psycopg2://wodp:pw%40x@db.example:5433/wodp?sslmode=require&")
    assert url.endswith("options=-csearch_path%3Dcsw%20-c%20statement_timeout%3D2500")
    assert str(database) == redacted(database._url) == ("postgresql://wodp:***@db.example:5433/wodp?sslmode=require"
                                                        "&options=-csearch_path%3Dcsw")


# -- errors -------------------------------------------------------------------------------------------------
def _exception(response) -> tuple[str, str]:
    root = xml(response)
    assert root.tag.endswith("}ExceptionReport"), response.text[:300]
    exc = root.find("{*}Exception")
    return root.tag.split("}")[0][1:], exc.get("exceptionCode")


@pytest.mark.parametrize("query, namespace, code, status", [
    (f"{CSW202}&request=Frobnicate", NS["ows"], "InvalidParameterValue", 200),
    ("service=CSW&version=9.9.9&request=GetRecords", NS["ows20"], "InvalidParameterValue", 400),
    (f"{CSW202}&request=GetRecords&typenames=csw:Record&elementsetname=full&outputschema=urn:nope",
     NS["ows"], "InvalidParameterValue", 200),
    ("service=CSW&request=GetCapabilities&acceptversions=9.0.0", NS["ows20"], "VersionNegotiationFailed", 400),
    ("service=CSW&version=3.0.0&request=GetRecords&typenames=csw:Record&elementsetname=brief&outputschema=urn:x",
     NS["ows20"], "InvalidParameterValue", 400),
])
def test_bad_requests_get_exception_reports(csw_platform, query, namespace, code, status):
    generation = csw_platform.store.generation
    response = httpx.get(csw_platform.extras["csw_url"] + "?" + query, timeout=60)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/xml")
    assert _exception(response) == (namespace, code)
    assert csw_platform.store.generation == generation


@pytest.mark.parametrize("body, code", [
    (b"<csw:GetRecords xmlns:csw='http://www.opengis.net/cat/csw/2.0.2' service='CSW' version='2.0.2'>",
     "NoApplicableCode"),
    (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
     b"<csw:GetCapabilities xmlns:csw='http://www.opengis.net/cat/csw/2.0.2' service='CSW'>&x;</csw:GetCapabilities>",
     "NoApplicableCode"),
    (b"<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>]>"
     b"<csw:GetRecords xmlns:csw='http://www.opengis.net/cat/csw/2.0.2'>&b;</csw:GetRecords>",
     "NoApplicableCode"),
])
def test_malformed_and_entity_posts_are_refused(csw_platform, body, code):
    generation = csw_platform.store.generation
    response = httpx.post(csw_platform.extras["csw_url"], content=body,
                          headers={"Content-Type": "application/xml"}, timeout=60)
    assert _exception(response) == (NS["ows"], code)
    assert "root:" not in response.text
    assert csw_platform.store.generation == generation


def test_config_parameter_has_no_effect(csw_platform, tmp_path):
    other = tmp_path / "evil.cfg"
    other.write_text("[server]\nurl=http://evil.example/csw\nmaxrecords=1\n[repository]\n"
                     "database=sqlite:////nonexistent.db\n", encoding="utf-8")
    url = csw_platform.extras["csw_url"]
    plain = httpx.get(f"{url}?{CSW202}&request=GetCapabilities", timeout=60)
    chosen = httpx.get(f"{url}?{CSW202}&request=GetCapabilities&config={other}", timeout=60)
    assert chosen.status_code == 200 and "evil.example" not in chosen.text
    assert chosen.text.split("?>", 1)[1] == plain.text.split("?>", 1)[1]
    root = xml(httpx.get(f"{url}?{CSW202}&request=GetRecords&typenames=csw:Record&elementsetname=brief"
                         f"&resulttype=results&CONFIG={other}", timeout=60))
    assert matched(root) == csw_platform.store.count_datasets()


def test_killed_pycsw_is_restarted(csw_platform):
    service, url = csw_platform.csw, csw_platform.extras["csw_url"]
    httpx.get(f"{url}?{CSW202}&request=GetCapabilities", timeout=60)
    pid, starts = service.pid, service.starts
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    response = httpx.get(f"{url}?{CSW202}&request=GetRecords&typenames=csw:Record&elementsetname=brief"
                         "&resulttype=hits", timeout=60)
    assert response.status_code == 200 and matched(xml(response)) == csw_platform.store.count_datasets()
    assert service.pid not in (None, pid) and service.starts == starts + 1


def test_unavailable_pycsw_answers_an_exception_report_503(csw_platform, monkeypatch):
    service, url = csw_platform.csw, csw_platform.extras["csw_url"]
    with service._lock:
        service._stop()
    monkeypatch.setattr(service, "python", service.home / "no-such-python")
    for query, namespace in ((f"{CSW202}&request=GetCapabilities", NS["ows"]),
                             ("service=CSW&request=GetCapabilities", NS["ows20"])):
        response = httpx.get(f"{url}?{query}", timeout=60)
        assert response.status_code == 503
        assert _exception(response) == (namespace, "NoApplicableCode")
        assert "not installed" in response.text and "Traceback" not in response.text


def test_timeout_answers_an_exception_report_503(csw_platform, monkeypatch):
    service, url = csw_platform.csw, csw_platform.extras["csw_url"]
    service.ensure_running()
    os_pid = service.pid

    os.kill(os_pid, signal.SIGSTOP)  # the process is there but does not answer
    try:
        monkeypatch.setattr(service, "_client", httpx.Client(timeout=0.5, trust_env=False))
        monkeypatch.setattr(service, "timeout_s", 0.5)
        response = httpx.get(f"{url}?{CSW202}&request=GetCapabilities", timeout=60)
    finally:
        try:
            os.kill(os_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert response.status_code == 503
    assert _exception(response) == (NS["ows"], "NoApplicableCode")
    assert "did not answer within 0.5 s" in response.text
    # the stalled process was stopped; the next request starts a fresh one and is answered
    assert service.pid != os_pid
    monkeypatch.setattr(service, "_client", httpx.Client(timeout=30, trust_env=False))
    monkeypatch.setattr(service, "timeout_s", 30)
    again = httpx.get(f"{url}?{CSW202}&request=GetCapabilities", timeout=60)
    assert again.status_code == 200 and b"Capabilities" in again.content


def test_csw_switched_off(settings_factory):
    from server.app import create_app
    from server.platform import Platform

    platform = Platform.open(settings_factory(csw={"enabled": False}), start_workers=False)
    try:
        assert platform.csw is None
        response = create_app(platform=platform).test_client().get("/csw?service=CSW&request=GetCapabilities")
        assert response.status_code == 503
        assert _exception(response)[1] == "NoApplicableCode"
    finally:
        platform.close()


def test_repository_has_pycsws_own_schema(tmp_path):
    """Our DDL equals what pycsw 2.6.2's admin.setup_db creates for SQLite (columns, types, indexes)."""
    import sqlite3
    import subprocess

    from ogc.csw.process import ROOT
    from ogc.csw.repository import CswRepository

    python = ROOT / ".venv-csw" / "bin" / "python"
    if not python.exists():
        pytest.skip("pycsw's environment is not installed (make venv)")
    theirs = tmp_path / "pycsw.db"
    subprocess.run([str(python), "-W", "ignore", "-c",
                    f"from pycsw.core import admin; admin.setup_db('sqlite:///{theirs}', 'records', '.')"],
                   check=True, capture_output=True, timeout=120)
    ours = CswRepository(tmp_path / "ours.db")
    ours.close()

    def schema(path):
        conn = sqlite3.connect(path)
        tables = {t: [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({t})")]
                  for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {(r[0], r[1]) for r in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}")) for t in ("spatial_ref_sys", "geometry_columns")}
        conn.close()
        return tables, indexes, rows

    tables, indexes, rows = schema(tmp_path / "ours.db")
    assert [c[0] for c in tables.pop("skipped_records")] == ["identifier", "insert_date", "reason"]  # ours only
    assert "wodp_digests" in tables  # ours alone: the digests of the versions written (start-up verification)
    del tables["wodp_digests"]
    pairs = {name: tables.pop(name) for name in list(tables) if name.startswith("records_pairs")}
    assert pairs["records_pairs_rows"] == [("n", "INTEGER", 0, 1), ("identifier", "TEXT", 1, 0)]  # ours alone:
    assert "records_pairs" in pairs  # csw:AnyText's pairs, an FTS5 table and its shadow tables (ogc/csw/anytext.py)
    assert (tables, indexes, rows) == schema(theirs)


def test_postgres_repository_has_pycsws_own_columns(tmp_path, postgis_dsn):
    """Our PostgreSQL table has the columns of pycsw 2.6.2's admin.setup_db on PostGIS (name, type, NOT NULL),
    its native geometry column and trigger; it leaves out only the full-text column and index (docs/csw.md)
    and the B-tree indexes on free text, and adds csw:AnyText's character pairs with their GIN index."""
    import subprocess

    import psycopg

    from ogc.csw.databases import FREE_TEXT
    from ogc.csw.process import ROOT
    from ogc.csw.repository import CswRepository
    from tests.pg import fresh_database_url

    python = ROOT / ".venv-csw" / "bin" / "python"
    if not python.exists():
        pytest.skip("pycsw's environment is not installed (make venv)")
    url = fresh_database_url(postgis_dsn, "cswschema")
    done = subprocess.run([str(python), "-W", "ignore", "-c",
                           "import sys; from pycsw.core import admin; admin.setup_db(sys.argv[1], 'records', '.')",
                           url.replace("postgresql://", "postgresql+psycopg2://")],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    CswRepository(url).close()

    def shape(conn, table):
        columns = set(conn.execute("SELECT column_name, udt_name, is_nullable FROM information_schema.columns"
                                   " WHERE table_name = %s", (table,)).fetchall())
        indexed = {row[0] for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass", (table,))}
        triggers = {row[0] for row in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (table,))}
        return columns, indexed, triggers

    with psycopg.connect(url) as conn:
        theirs, ours = shape(conn, "records"), shape(conn, "csw_records")
    assert theirs[0] - ours[0] == {("anytext_tsvector", "tsvector", "YES")}
    assert ours[0] - theirs[0] == {("anytext_grams", "_int4", "NO")}  # csw:AnyText's pairs (ogc/csw/anytext.py)
    assert ("wkb_geometry", "geometry", "YES") in ours[0]
    assert theirs[1] - ours[1] == set(FREE_TEXT) | {"anytext_tsvector"} and ours[1] - {"anytext_grams"} <= theirs[1]
    assert theirs[2] == {"ftsupdate", "records_update_geometry"} and ours[2] == {"csw_records_update_geometry"}


def test_repository_write_rate(tmp_path):
    """Rebuild 1,700 demo datasets and follow a 200-dataset batch; print the rates (rows/s)."""
    from demo.generator import build_demo_catalog
    from ogc.csw.repository import CswRepository
    from sparql.store import OxigraphStore

    catalog = build_demo_catalog("http://127.0.0.1:8000")
    store = OxigraphStore(None)
    store.put_datasets({d.uri: list(d.triples) for d in catalog.datasets})
    repo = CswRepository(tmp_path / "csw.sqlite")
    repo.rebuild(store)
    rebuild = repo.last_write
    event = store.put_datasets({d.uri: list(d.triples) for d in catalog.datasets[:200]})
    repo.follow(store, event)
    batch = repo.last_write
    assert repo.in_step_with(store) and repo.count() == 1700
    print(f"csw repository: rebuild {rebuild['rows']} rows at {rebuild['rows_per_s']:.0f} rows/s;"
          f" batch of {batch['rows']} at {batch['rows_per_s']:.0f} rows/s")
    repo.close()


def test_table_mapped_once_answers_exactly_as_pycsw(any_platform, tmp_path):
    """pycsw with its records table mapped once per process answers byte for byte as pycsw mapping it per request.

    Only the clock values (SearchStatus timestamp, CSW 3 expires and elapsedTime) differ between any two answers, so they are
    taken out before comparing. Requests: GetRecords in Dublin Core and ISO, by page, with a CQL filter, CSW 3,
    GetRecordById, GetDomain and GetCapabilities.
    """
    import json
    import subprocess

    from ogc.csw.process import ROOT, pycsw_sections

    python = ROOT / ".venv-csw" / "bin" / "python"
    if not python.exists():
        pytest.skip("pycsw's environment is not installed (make venv)")
    repository = any_platform.csw.repository
    repository.flush()
    some = sorted(any_platform.store.dataset_uris())[7]
    config = tmp_path / "pycsw.json"
    config.write_text(json.dumps(pycsw_sections(any_platform.settings, repository.pycsw_url, repository.table)),
                      "utf-8")
    queries = [f"{CSW202}&request=GetRecords&typeNames=csw:Record&resultType=results&elementSetName=brief"
               f"&maxRecords=10&startPosition={n}" for n in (1, 100, 231)]
    queries += [
        f"{CSW202}&request=GetRecords&typeNames=csw:Record&resultType=results&elementSetName=full&maxRecords=5"
        "&constraintLanguage=CQL_TEXT&constraint=" + urllib.parse.quote("csw:AnyText like '%交通%'"),
        "service=CSW&version=3.0.0&request=GetRecords&typeNames=csw:Record&elementSetName=summary&maxRecords=3"
        "&startPosition=7",
        f"{CSW202}&request=GetRecords&typeNames=gmd:MD_Metadata&outputSchema={urllib.parse.quote(GMD)}"
        "&elementSetName=full&resultType=results&maxRecords=2",
        f"{CSW202}&request=GetRecordById&id={urllib.parse.quote(some)}&elementSetName=full",
        f"{CSW202}&request=GetDomain&propertyname=dc:type",
        f"{CSW202}&request=GetCapabilities",
    ]
    script = r"""
import io, json, re, sys
from ogc.csw import service
app = service.CswApp(json.load(open(sys.argv[1], encoding="utf-8")))
queries = json.loads(sys.argv[2])
def call(query):
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": query, "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "x",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http", "PATH_INFO": "/csw", "SCRIPT_NAME": "", "HTTP_HOST": "x"}
    seen = {}
    body = b"".join(app(env, lambda status, headers: seen.update(status=status)))
    return seen["status"] + " " + re.sub(rb'(timestamp|expires|elapsedTime)="[^"]*"', b"", body).decode("utf-8")
before = [call(q) for q in queries]
service.map_table_once()
after = [[call(q) for q in queries] for _ in range(2)]
import pycsw.core.repository as r
print(json.dumps({"before": before, "after": after, "patched": bool(getattr(r.Repository, "maps_table_once", 0))}))
"""
    done = subprocess.run([str(python), "-W", "ignore", "-c", script, str(config), json.dumps(queries)],
                          capture_output=True, timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    answers = json.loads(done.stdout)
    assert answers["patched"]
    assert all(a.startswith("200 ") for a in answers["before"]), [a[:300] for a in answers["before"]]
    assert "numberOfRecordsMatched=\"240\"" in answers["before"][0]
    for again in answers["after"]:
        for query, old, new in zip(queries, answers["before"], again):
            assert new == old, (query, [(a, b) for a, b in zip(old.split("><"), new.split("><")) if a != b][:3])
