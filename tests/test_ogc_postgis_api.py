"""/ogc over the PostGIS backend: a platform configured with features.backend=postgis serves its layers."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from shapely.geometry import box, shape

from ogc.features import LayerInfo

LAYER = "test-postgis-stations"
FEATURES = [
    {"type": "Feature", "id": f"s{i}", "geometry": {"type": "Point", "coordinates": [lon, lat]},
     "properties": {"名称": name, "客流": flow}}
    for i, (name, lon, lat, flow) in enumerate([
        ("汉口火车站", 114.2653, 30.6195, 52000), ("江汉路", 114.2960, 30.5908, 48000),
        ("积玉桥", 114.3057, 30.5475, 21000), ("街道口", 114.3603, 30.5273, 45500),
        ("光谷广场", 114.4213, 30.5079, 61000), ("钟家村", 114.2503, 30.5521, 30500)], start=1)
] + [  # a triangle whose bounding box, but not itself, reaches into the south-west of the query window below
    {"type": "Feature", "id": "tri", "geometry": {"type": "Polygon", "coordinates": [
        [[114.0, 30.4], [114.3, 30.4], [114.0, 30.52], [114.0, 30.4]]]}, "properties": {"名称": "三角地"}}]


@pytest.fixture(scope="module")
def postgis_client(tmp_path_factory, postgis_dsn):
    from config import load_settings
    from ogc.features.postgis import PostGISFeatureStore
    from server.app import create_app
    from server.platform import Platform

    schema = "api_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    dsn = make_conninfo(postgis_dsn, options=f"-c search_path={schema},public")
    environ = {"WODP_FEATURES__BACKEND": "postgis", "WODP_FEATURES__DSN": dsn}  # as docs/postgis.md says
    settings = load_settings(environ, overrides={"csw": {"enabled": False}},
                             home=tmp_path_factory.mktemp("postgis-home"))
    platform = Platform.open(settings, start_workers=False)
    assert isinstance(platform.features, PostGISFeatureStore)
    platform.features.put_layer(LayerInfo(LAYER, None, "地铁站点", "Metro stations",
                                          fields={"名称": "string", "客流": "integer"}), FEATURES)
    platform.ogc.sync_layer(LAYER)
    app = create_app(platform=platform, start_workers=False)
    app.config["TESTING"] = True
    yield app.test_client()
    platform.close()
    with psycopg.connect(postgis_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _items(client, query: str = "") -> dict:
    response = client.get(f"/ogc/collections/{LAYER}/items?f=json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def test_items_report_the_number_matched(postgis_client):
    page = _items(postgis_client, "&limit=2")
    assert page["numberMatched"] == 7 and page["numberReturned"] == 2
    assert [f["id"] for f in page["features"]] == ["s1", "s2"]
    assert page["features"][0]["properties"]["名称"] == "汉口火车站"
    assert page["features"][0]["geometry"]["coordinates"] == pytest.approx([114.2653, 30.6195], abs=1e-9)


def test_bbox_answers_the_features_that_intersect(postgis_client):
    bbox = (114.2, 30.5, 114.35, 30.6)
    page = _items(postgis_client, "&bbox=" + ",".join(map(str, bbox)) + "&limit=50")
    expected = sorted(f["id"] for f in FEATURES if shape(f["geometry"]).intersects(box(*bbox)))
    assert expected == ["s2", "s3", "s6"]  # the triangle's bounding box reaches the window, the triangle does not
    assert sorted(f["id"] for f in page["features"]) == expected
    assert page["numberMatched"] == 3


def test_one_item_and_the_collection_extent(postgis_client):
    response = postgis_client.get(f"/ogc/collections/{LAYER}/items/s5?f=json")
    assert response.status_code == 200 and response.get_json()["properties"]["名称"] == "光谷广场"
    assert postgis_client.get(f"/ogc/collections/{LAYER}/items/nope?f=json").status_code == 404
    collection = postgis_client.get(f"/ogc/collections/{LAYER}?f=json").get_json()
    assert collection["extent"]["spatial"]["bbox"][0] == pytest.approx([114.0, 30.4, 114.4213, 30.6195])
