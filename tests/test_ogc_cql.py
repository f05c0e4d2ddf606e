"""CQL2 text filters (`filter=`) on feature collections and the records, on both feature backends."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from ogc.features import LayerInfo

LAYER = "test-cql-stations"
STATIONS = [("汉口火车站", 114.2653, 30.6195, "52000", "2024-03-01"), ("江汉路", 114.2960, 30.5908, "48000", "2024-05-20"),
            ("积玉桥", 114.3057, 30.5475, "21000", "2023-11-02"), ("街道口", 114.3603, 30.5273, "45500", "2024-01-15"),
            ("光谷广场", 114.4213, 30.5079, "61000", "2022-07-30"), ("钟家村", 114.2503, 30.5521, None, "2024-02-29")]
FEATURES = [{"type": "Feature", "id": f"s{i}", "geometry": {"type": "Point", "coordinates": [lon, lat]},
             "properties": {"名称": name, "客流": flow, "开通": day}}
            for i, (name, lon, lat, flow, day) in enumerate(STATIONS, start=1)]
INFO = LayerInfo(LAYER, None, "地铁站点", "Metro stations", fields={"名称": "string", "客流": "integer", "开通": "date"})


def _flow(f):
    return int(f["properties"]["客流"]) if f["properties"]["客流"] is not None else None


CASES = [  # (CQL2 text, the expected feature ids computed here from FEATURES)
    ('"客流" > 45000', {f["id"] for f in FEATURES if (_flow(f) or 0) > 45000}),
    ('"客流" >= 45500 AND "客流" <= 52000', {f["id"] for f in FEATURES if 45500 <= (_flow(f) or 0) <= 52000}),
    ('"名称" = \'江汉路\'', {"s2"}),
    ('"名称" LIKE \'%口%\'', {f["id"] for f in FEATURES if "口" in f["properties"]["名称"]}),
    ('"名称" IN (\'积玉桥\', \'钟家村\')', {"s3", "s6"}),
    ('"客流" IS NULL', {"s6"}),
    ('NOT ("客流" > 45000) AND "客流" IS NOT NULL', {f["id"] for f in FEATURES if _flow(f) is not None
                                                     and _flow(f) <= 45000}),
    ('"开通" >= DATE(\'2024-01-01\') OR "名称" = \'光谷广场\'',
     {f["id"] for f in FEATURES if f["properties"]["开通"] >= "2024-01-01"} | {"s5"}),
    ('"客流" BETWEEN 40000 AND 50000', {f["id"] for f in FEATURES if 40000 <= (_flow(f) or 0) <= 50000}),
]


def _client(platform):
    from server.app import create_app

    platform.features.put_layer(INFO, FEATURES)
    platform.ogc.sync_layer(LAYER)
    app = create_app(platform=platform, start_workers=False)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def sqlite_client(ogc_platform):
    client = _client(ogc_platform)
    yield client
    ogc_platform.features.drop_layer(LAYER)
    ogc_platform.ogc.drop(LAYER)


@pytest.fixture(scope="module")
def postgis_client(tmp_path_factory, postgis_dsn):
    import psycopg
    from psycopg.conninfo import make_conninfo

    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    schema = "cql_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    dsn = make_conninfo(postgis_dsn, options=f"-c search_path={schema},public")
    settings = load_settings({"WODP_FEATURES__BACKEND": "postgis", "WODP_FEATURES__DSN": dsn},
                             overrides={"csw": {"enabled": False}, "demo": {"datasets": 60, "spatial": 8}},
                             home=tmp_path_factory.mktemp("cql-postgis"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    yield _client(platform)
    platform.close()
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgis"])
def client(request):
    return request.getfixturevalue(f"{request.param}_client")


def _get(client, path: str, status: int = 200) -> dict:
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
    return response.get_json()


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0] for c in CASES])
def test_cql2_text_filters_features(client, text, expected):
    doc = _get(client, f"/ogc/collections/{LAYER}/items?f=json&limit=100&filter={quote(text)}")
    assert {f["id"] for f in doc["features"]} == expected
    assert doc["numberMatched"] == len(expected)


def test_filter_pages_and_combines_with_bbox(client):
    text = quote('"客流" IS NOT NULL')
    everything = _get(client, f"/ogc/collections/{LAYER}/items?f=json&limit=100&filter={text}")
    page = _get(client, f"/ogc/collections/{LAYER}/items?f=json&limit=2&offset=1&filter={text}")
    assert page["numberMatched"] == everything["numberMatched"] == 5
    assert [f["id"] for f in page["features"]] == [f["id"] for f in everything["features"]][1:3]
    west = _get(client, f"/ogc/collections/{LAYER}/items?f=json&bbox=114.2,30.5,114.3,30.7&filter={text}")
    assert {f["id"] for f in west["features"]} == {"s1", "s2"}


def test_records_filter_on_dates_and_title(client):
    everything = _get(client, "/ogc/collections/catalog/items?f=json&limit=1000")["features"]
    text = "updated >= DATE('2026-01-01') AND title LIKE '%区%'"
    expected = {f["id"] for f in everything
                if f["properties"]["updated"] >= "2026-01-01" and "区" in (f["properties"]["title"] or "")}
    doc = _get(client, f"/ogc/collections/catalog/items?f=json&limit=1000&filter={quote(text)}")
    assert {f["id"] for f in doc["features"]} == expected and expected


@pytest.mark.parametrize("text", ['"不存在" = 1', "__x('a') = 1", '"名称" = ', "S_INTERSECTS(geometry"])
def test_bad_filters_are_400(client, text):
    response = client.get(f"/ogc/collections/{LAYER}/items?f=json&filter={quote(text)}")
    assert response.status_code == 400


def test_a_function_never_reaches_python(client, tmp_path):
    marker = tmp_path / "touched"
    text = f"open('{marker}', 'w') = 1"
    response = client.get(f"/ogc/collections/{LAYER}/items?f=json&filter={quote(text)}")
    assert response.status_code == 400 and not marker.exists()
