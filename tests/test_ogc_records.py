"""The catalogue as OGC API Records (/ogc/collections/catalog): search by q, bbox, datetime; in step with the store."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import quote

import pyoxigraph as ox
import pytest

DCT_TITLE = "http://purl.org/dc/terms/title"
DCAT_BBOX = "http://www.w3.org/ns/dcat#bbox"
DCT_MODIFIED = "http://purl.org/dc/terms/modified"
DCT_ISSUED = "http://purl.org/dc/terms/issued"


@pytest.fixture(scope="module")
def client(ogc_platform):
    from server.app import create_app

    app = create_app(platform=ogc_platform, start_workers=False)
    app.config["TESTING"] = True
    return app.test_client()


def _items(client, query: str = "") -> dict:
    response = client.get(f"/ogc/collections/catalog/items?f=json&limit=10000&{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def _ids(uris) -> set[str]:
    return {u.rsplit("/", 1)[-1] for u in uris}


def _literals(store, uri) -> list[str]:
    return [t.object.value for t in store.dataset_triples(uri) if isinstance(t.object, ox.Literal)]


def _bbox(store, uri):
    """The dataset's dcat:bbox (EPSG:4490 WKT, lat lon) as lon/lat min/max, read independently of ogc.records."""
    for t in store.dataset_triples(uri):
        if t.predicate.value == DCAT_BBOX:
            pairs = re.findall(r"(-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)", t.object.value)
            lats, lons = [float(a) for a, _ in pairs], [float(b) for _, b in pairs]
            return min(lons), min(lats), max(lons), max(lats)
    return None


def test_collection_is_a_record_collection(client):
    doc = client.get("/ogc/collections/catalog?f=json").get_json()
    assert doc["itemType"] == "record"
    assert any("ogcapi-records-1" in c for c in client.get("/ogc/conformance?f=json").get_json()["conformsTo"])


def test_number_matched_is_the_catalogue_count(client, ogc_platform):
    doc = _items(client)
    assert doc["numberMatched"] == ogc_platform.store.count_datasets() == len(doc["features"]) == 60
    assert {f["id"] for f in doc["features"]} == _ids(ogc_platform.store.dataset_uris())


def test_record_content(client, ogc_platform):
    store = ogc_platform.store
    uri = store.dataset_uris()[0]
    record = client.get(f"/ogc/collections/catalog/items/{uri.rsplit('/', 1)[-1]}?f=json").get_json()
    props = record["properties"]
    titles = [t.object.value for t in store.dataset_triples(uri) if t.predicate.value == DCT_TITLE]
    assert props["type"] == "dataset" and props["title"] in titles
    # the dataset's own dates (dct:issued, dct:modified), not the time its record was loaded
    modified = [t.object.value for t in store.dataset_triples(uri)
                if t.subject.value == uri and t.predicate.value == DCT_MODIFIED]
    issued = [t.object.value for t in store.dataset_triples(uri)
              if t.subject.value == uri and t.predicate.value == DCT_ISSUED]
    assert modified and props["updated"] == max(modified) and props["created"] == max(issued)
    assert props["recordUpdated"].startswith(store.record_modified(uri).strftime("%Y-%m-%dT%H:%M:%S"))
    assert any(link["href"] == uri and link["rel"] == "alternate" for link in record["links"])
    assert props["contacts"] and props["formats"]


def test_q_chinese_word(client, ogc_platform):
    store = ogc_platform.store
    word = "江夏区"
    expected = {u for u in store.dataset_uris() if any(word in v for v in _literals(store, u))}
    doc = _items(client, f"q={quote(word)}")
    assert expected and doc["numberMatched"] == len(expected) and {f["id"] for f in doc["features"]} == _ids(expected)
    assert _items(client, f"q={quote(word + ' 不存在的词')}")["numberMatched"] == 0


def test_bbox(client, ogc_platform):
    store = ogc_platform.store
    box = (114.2, 30.5, 114.4, 30.7)
    expected = set()
    for uri in store.dataset_uris():
        b = _bbox(store, uri)
        if b and b[0] <= box[2] and b[2] >= box[0] and b[1] <= box[3] and b[3] >= box[1]:
            expected.add(uri)
    doc = _items(client, "bbox=" + ",".join(map(str, box)))
    assert expected and {f["id"] for f in doc["features"]} == _ids(expected)
    for f in doc["features"]:
        lons = [p[0] for p in f["geometry"]["coordinates"][0]]
        assert 113 < min(lons) < 116  # lon/lat order


MONTH_QUERY = """SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE {{ ?d a <http://www.w3.org/ns/dcat#Dataset> ;
  <http://purl.org/dc/terms/modified> ?m . FILTER(STR(?m) >= "{start}" && STR(?m) < "{end}") }}"""


def _months(store) -> list[str]:
    rows = store.query("SELECT DISTINCT ?m WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> ; "
                       "<http://purl.org/dc/terms/modified> ?m }")
    return sorted({row[0].value[:7] for row in rows})


def test_datetime_finds_what_sparql_finds_on_the_datasets_own_dates(client, ogc_platform):
    store = ogc_platform.store
    months = _months(store)
    assert months, "no dataset has dct:modified"
    for month in (months[0], months[len(months) // 2], months[-1]):
        year, mon = map(int, month.split("-"))
        following = f"{year + mon // 12}-{mon % 12 + 1:02d}"
        expected = int(next(iter(store.query(MONTH_QUERY.format(start=month, end=following))))[0].value)
        last_day = (date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)).isoformat()
        doc = _items(client, f"datetime={month}-01T00:00:00Z/{last_day}T23:59:59Z")
        assert doc["numberMatched"] == expected > 0, month
        assert all(f["properties"]["updated"].startswith(month) for f in doc["features"])
    first = date.fromisoformat(months[0] + "-01") - timedelta(days=1)
    assert _items(client, f"datetime=../{first.isoformat()}T23:59:59Z")["numberMatched"] == 0
    assert client.get("/ogc/collections/catalog/items?f=json&datetime=not-a-date").status_code == 400


def test_hostile_q_is_refused_or_harmless(client):
    assert client.get("/ogc/collections/catalog/items?f=json&q=" + quote("x" * 1000)).status_code == 400
    assert _items(client, "q=" + quote("%' OR '1'='1"))["numberMatched"] == 0


def test_in_step_after_publish_and_withdrawal(client, ogc_platform):
    store, publisher = ogc_platform.store, ogc_platform.publisher
    uri = store.dataset_uris()[-1]
    triples = [t for t in store.dataset_triples(uri) if not t.subject.value.endswith("#record")]
    renamed = [ox.Triple(t.subject, t.predicate, ox.Literal("记录同步测试数据集", language="zh-CN"))
               if t.predicate.value == DCT_TITLE and getattr(t.object, "language", "").startswith("zh") else t
               for t in triples]
    new_uri = uri + "-copy"
    copy = [ox.Triple(ox.NamedNode(new_uri) if t.subject.value == uri else t.subject, t.predicate,
                      ox.NamedNode(new_uri) if t.object == ox.NamedNode(uri) else t.object) for t in renamed
            if t.predicate.value != "http://purl.org/dc/terms/identifier"]
    copy.append(ox.Triple(ox.NamedNode(new_uri), ox.NamedNode("http://purl.org/dc/terms/identifier"),
                          ox.Literal(new_uri.rsplit("/", 1)[-1])))
    outcome = publisher.publish({uri: renamed, new_uri: copy}, "demo")
    assert not outcome.held
    doc = _items(client, "q=" + quote("记录同步测试"))
    assert {f["id"] for f in doc["features"]} == _ids([uri, new_uri])
    assert _items(client)["numberMatched"] == store.count_datasets() == 61
    publisher.withdraw([new_uri], "demo")
    assert _items(client)["numberMatched"] == store.count_datasets() == 60
    assert {f["id"] for f in _items(client, "q=" + quote("记录同步测试"))["features"]} == _ids([uri])
    assert client.get(f"/ogc/collections/catalog/items/{new_uri.rsplit('/', 1)[-1]}?f=json").status_code == 404


@pytest.mark.parametrize("q", ["交通", "江夏区", "统计", "公交 线路", "data", "武汉市"])
def test_q_agrees_with_the_portal_search(client, ogc_platform, q):
    """One index: Records q is answered by the portal's search index, so the same word finds the same datasets."""
    portal = ogc_platform.search.search(q, page_size=100)
    doc = _items(client, "q=" + quote(q))
    assert doc["numberMatched"] == portal.total == len(doc["features"])
    assert {f["id"] for f in doc["features"]} == {h["uri"].rsplit("/", 1)[-1] for h in portal.hits}


def test_q_with_other_filters_and_paging(client, ogc_platform):
    everything = _items(client, "q=" + quote("数据") + "&sortby=-updated")
    assert everything["numberMatched"] > 3
    ids = [f["id"] for f in everything["features"]]
    page = client.get("/ogc/collections/catalog/items?f=json&sortby=-updated&offset=2&limit=2&q=" + quote("数据"))
    page = page.get_json()
    assert page["numberMatched"] == everything["numberMatched"]
    assert [f["id"] for f in page["features"]] == ids[2:4]
    updated = [f["properties"]["updated"] for f in everything["features"]]
    assert updated == sorted(updated, reverse=True)
    hits = client.get("/ogc/collections/catalog/items?f=json&resulttype=hits&q=" + quote("数据")).get_json()
    assert hits["numberMatched"] == everything["numberMatched"]


@pytest.fixture(scope="module")
def postgis_platform(tmp_path_factory, postgis_dsn):
    """The small demo with its records (and layers) in PostGIS."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    schema = "rec_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    dsn = make_conninfo(postgis_dsn, options=f"-c search_path={schema},public")
    settings = load_settings({"WODP_FEATURES__BACKEND": "postgis", "WODP_FEATURES__DSN": dsn},
                             overrides={"csw": {"enabled": False}, "demo": {"datasets": 60, "spatial": 8}},
                             home=tmp_path_factory.mktemp("records-postgis"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    yield platform
    platform.close()
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.parametrize("q", ["江夏区", "统计", "data"])
def test_q_and_dates_on_postgis(postgis_platform, q):
    from server.app import create_app

    app = create_app(platform=postgis_platform, start_workers=False)
    client = app.test_client()
    portal = postgis_platform.search.search(q, page_size=100)
    doc = _items(client, "q=" + quote(q))
    assert doc["numberMatched"] == portal.total and (portal.total > 0 or q == "data")
    assert {f["id"] for f in doc["features"]} == {h["uri"].rsplit("/", 1)[-1] for h in portal.hits}
    month = _months(postgis_platform.store)[-1]
    year, mon = map(int, month.split("-"))
    following = f"{year + mon // 12}-{mon % 12 + 1:02d}"
    expected = int(next(iter(postgis_platform.store.query(MONTH_QUERY.format(start=month, end=following))))[0].value)
    last_day = (date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)).isoformat()
    assert _items(client, f"datetime={month}-01T00:00:00Z/{last_day}T23:59:59Z")["numberMatched"] == expected > 0


def test_record_dates_are_the_last_written_whatever_the_order_of_the_graph():
    """The record's dates as every follower reads them (sparql/records.record_dates reads from the end): the last
    issued and modified of the dataset's own record, in any order of the triples, another record's ignored."""
    import random

    from sparql import records

    uri, other = "http://h/datasets/a.1", "http://h/datasets/a.2"
    when = [ox.Literal(f"2024-0{m}-01T00:00:00Z", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime"))
            for m in range(1, 7)]
    d = ox.NamedNode(uri)
    body = [ox.Triple(d, ox.NamedNode(DCT_TITLE), ox.Literal(f"标题 {n}")) for n in range(20)]
    graph = records.with_record(uri, body, when[1], when[0]) + records.record_triples(other, [], when[5], when[4])
    assert records.record_dates(graph, uri) == (when[0], when[1])
    record = records.record_uri(uri)
    graph += [ox.Triple(record, ox.NamedNode(DCT_ISSUED), when[2]),
              ox.Triple(record, ox.NamedNode(DCT_MODIFIED), when[3])]
    rng = random.Random(7)
    for _ in range(200):
        rng.shuffle(graph)
        issued = [t.object for t in graph if t.subject == record and t.predicate.value == DCT_ISSUED][-1]
        modified = [t.object for t in graph if t.subject == record and t.predicate.value == DCT_MODIFIED][-1]
        assert records.record_dates(graph, uri) == (issued, modified)
        assert records.record_dates(iter(graph), uri) == (issued, modified)
    assert records.record_dates(body, uri) == (None, None)
