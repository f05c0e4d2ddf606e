"""One contract suite for every feature-store backend: what a client of OGC API Features would see.

"sqlite" is the embedded store (a file under tmp_path); "postgis" runs against the session's temporary
PostgreSQL + PostGIS cluster (tests/pg.py), each test in a fresh schema.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import shapely
from shapely.geometry import box, shape

from ogc.features import FeatureQuery, FeatureStoreError, LayerInfo
from tests.conftest import shared_path


@pytest.fixture(params=["sqlite", "postgis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from ogc.features.sqlite import SQLiteFeatureStore

        features = SQLiteFeatureStore(tmp_path / "features.sqlite")
        yield features
        features.close()
        return
    import psycopg
    from psycopg.conninfo import make_conninfo

    from ogc.features.postgis import PostGISFeatureStore

    dsn = request.getfixturevalue("postgis_dsn")
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    features = PostGISFeatureStore(make_conninfo(dsn, options=f"-c search_path={schema},public"))
    yield features
    features.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def info(layer_id: str = "demo.d001-0001", **extra) -> LayerInfo:
    return LayerInfo(id=layer_id, dataset_uri=f"https://data.wuhan.gov.cn/dataset/{layer_id}",
                     title_zh="测试图层", title_en="Test layer", **extra)


def point(fid, lon, lat, **props):
    return {"type": "Feature", "id": fid, "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def polygon(fid, rings, kind="Polygon", **props):
    return {"type": "Feature", "id": fid, "geometry": {"type": kind, "coordinates": rings}, "properties": props}


STATIONS = [  # real names of Wuhan metro stations, approximate positions
    point("s1", 114.2653, 30.6195, 名称="汉口火车站", 线路="2号线", 客流=52000, 开通日期="2012-12-28"),
    point("s2", 114.2960, 30.5908, 名称="江汉路", 线路="2号线 6号线", 客流=48000, 开通日期="2012-12-28"),
    point("s3", 114.3057, 30.5475, 名称="积玉桥", 线路="2号线", 客流=21000, 开通日期="2012-12-28"),
    point("s4", 114.3603, 30.5273, 名称="街道口", 线路="2号线 8号线", 客流=45500.5, 开通日期="2012-12-28"),
    point("s5", 114.4213, 30.5079, 名称="光谷广场", 线路="2号线 11号线", 客流=61000, 开通日期="2012-12-28"),
    point("s6", 114.2503, 30.5521, 名称="钟家村", 线路="4号线 6号线", 客流=30500, 开通日期="2013-12-28T09:00:00+08:00"),
    point("s7", 114.1905, 30.6268, 名称="常青花园", 线路="2号线", 客流=18000, 开通日期="2016-12-28"),
]

SHAPES = [
    # a triangle whose bounding box covers the query box's corner while the triangle itself does not
    polygon("tri", [[[114.0, 30.0], [114.2, 30.0], [114.0, 30.2], [114.0, 30.0]]], 类型="三角形"),
    polygon("sq", [[[114.3, 30.3], [114.5, 30.3], [114.5, 30.5], [114.3, 30.5], [114.3, 30.3]]], 类型="正方形"),
    polygon("multi", [[[[114.6, 30.6], [114.7, 30.6], [114.7, 30.7], [114.6, 30.6]]],
                      [[[114.9, 30.9], [115.0, 30.9], [115.0, 31.0], [114.9, 30.9]]]], "MultiPolygon", 类型="多边形"),
    point("pt", 114.15, 30.15, 类型="点"),
    {"type": "Feature", "id": "nogeom", "geometry": None, "properties": {"类型": "无几何"}},
]


def ids(features) -> list[str]:
    return [f["id"] for f in features]


def query(store, layer_id="demo.d001-0001", **kwargs):
    return store.query(layer_id, FeatureQuery(**kwargs))


def expected_intersecting(features, bbox) -> list[str]:
    window = box(*bbox)
    return [str(f["id"]) for f in features if f["geometry"] and shape(f["geometry"]).intersects(window)]


def test_put_layer_reports_count_bbox_and_geometry_type(store):
    stored = store.put_layer(info(datetime_field="开通日期"), STATIONS)
    lons = [f["geometry"]["coordinates"][0] for f in STATIONS]
    lats = [f["geometry"]["coordinates"][1] for f in STATIONS]
    assert stored.count == 7
    assert stored.bbox == pytest.approx((min(lons), min(lats), max(lons), max(lats)), abs=1e-9)
    assert stored.geometry_type == "Point"
    assert store.layer("demo.d001-0001") == stored
    assert [layer.id for layer in store.layers()] == ["demo.d001-0001"]
    assert query(store, limit=100)[1] == 7


def test_features_come_back_as_put(store):
    store.put_layer(info(), STATIONS)
    got = store.get("demo.d001-0001", "s4")
    assert got["type"] == "Feature" and got["id"] == "s4"
    assert got["geometry"] == {"type": "Point", "coordinates": pytest.approx([114.3603, 30.5273], abs=1e-9)}
    assert got["properties"] == {"名称": "街道口", "线路": "2号线 8号线", "客流": 45500.5, "开通日期": "2012-12-28"}
    fine = store.put_layer(info("fine"), [point("x", 114.123456789, 30.987654321)])
    assert fine.bbox == pytest.approx((114.123456789, 30.987654321) * 2, abs=1e-12)
    assert store.get("fine", "x")["geometry"]["coordinates"] == pytest.approx([114.123456789, 30.987654321],
                                                                              abs=1e-9)


@pytest.mark.parametrize("bbox", [(114.05, 30.05, 114.3, 30.3), (114.12, 30.12, 114.2, 30.2),
                                  (114.65, 30.6, 114.66, 30.62), (114.8, 30.92, 114.91, 30.99),
                                  (113.0, 29.0, 116.0, 32.0), (120.0, 40.0, 121.0, 41.0)])
def test_bbox_selects_the_features_whose_geometry_intersects(store, bbox):
    store.put_layer(info(), SHAPES)
    found, matched = query(store, bbox=bbox, limit=100)
    assert sorted(ids(found)) == sorted(expected_intersecting(SHAPES, bbox))
    assert matched == len(found)


def test_points_polygons_multipolygons_and_null_geometry(store):
    stored = store.put_layer(info(), SHAPES)
    assert stored.count == 5  # the feature without geometry counts, but has no extent
    assert stored.bbox == pytest.approx((114.0, 30.0, 115.0, 31.0))
    assert stored.geometry_type == "Geometry"
    assert store.get("demo.d001-0001", "nogeom") == {"type": "Feature", "id": "nogeom", "geometry": None,
                                                      "properties": {"类型": "无几何"}}
    multi = store.get("demo.d001-0001", "multi")["geometry"]
    assert multi["type"] == "MultiPolygon"
    assert shape(multi).equals(shape(SHAPES[2]["geometry"]))
    assert query(store, properties=[("类型", "无几何")])[1] == 1


def test_real_wuhan_districts_from_gcj02(store):
    from ogc.spatialize import SpatializeOptions, spatialize

    doc = json.loads(shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json").read_text("utf-8"))
    features = spatialize(doc, SpatializeOptions(crs="GCJ-02")).feature_collection()["features"]
    stored = store.put_layer(info("wuhan.districts", datetime_field=None), features)
    union = shapely.union_all([shape(f["geometry"]) for f in features])
    assert stored.count == 13 and stored.geometry_type == "MultiPolygon"
    assert stored.bbox == pytest.approx(union.bounds, abs=1e-8)
    inside = next(shape(f["geometry"]) for f in features if f["properties"]["name"] == "江汉区").representative_point()
    tiny = (inside.x - 1e-5, inside.y - 1e-5, inside.x + 1e-5, inside.y + 1e-5)
    jianghan, _ = query(store, "wuhan.districts", bbox=tiny)
    assert [f["properties"]["name"] for f in jianghan] == ["江汉区"]
    # a window across the Yangtze in the centre of the city, and the western suburbs
    for bbox in [tiny, (114.25, 30.52, 114.35, 30.60), (113.7, 30.3, 114.0, 30.6)]:
        found, matched = query(store, "wuhan.districts", bbox=bbox, limit=20)
        assert sorted(ids(found)) == sorted(expected_intersecting(features, bbox)) and matched == len(found)
    found, matched = query(store, "wuhan.districts", q=["洪山"])
    assert matched == 1 and found[0]["properties"]["adcode"] == 420111


def test_datetime_interval(store):
    store.put_layer(info(datetime_field="开通日期"), STATIONS)
    assert query(store, datetime_start="2013-01-01", datetime_end="2015-12-31")[1] == 1
    assert ids(query(store, datetime_start="2013-01-01")[0]) == ["s6", "s7"]
    assert query(store, datetime_end="2012-12-28")[1] == 5  # a day includes all its times
    # 09:00 in Wuhan (+08:00) is 01:00 UTC
    assert ids(query(store, datetime_start="2013-12-28T00:30:00Z", datetime_end="2013-12-28T01:30:00Z")[0]) == ["s6"]
    assert query(store, datetime_start="2013-12-28T02:00:00Z", datetime_end="2013-12-28T03:00:00Z")[1] == 0


def test_property_equality_with_chinese_text_and_numbers(store):
    store.put_layer(info(), STATIONS)
    assert ids(query(store, properties=[("名称", "光谷广场")])[0]) == ["s5"]
    assert ids(query(store, properties=[("客流", "61000")])[0]) == ["s5"]
    assert ids(query(store, properties=[("客流", "45500.5")])[0]) == ["s4"]
    assert ids(query(store, properties=[("线路", "2号线"), ("开通日期", "2016-12-28")])[0]) == ["s7"]
    assert query(store, properties=[("名称", "光谷")])[1] == 0
    assert query(store, properties=[("不存在", "x")])[1] == 0


def test_property_equality_on_booleans_and_nulls_is_the_same_on_every_backend(store):
    features = [{"type": "Feature", "id": f"b{i}", "geometry": {"type": "Point", "coordinates": [114.3, 30.6]},
                 "properties": {"开放": flag, "备注": note}}
                for i, (flag, note) in enumerate([(True, None), (False, "无"), (True, "有")])]
    store.put_layer(info(), features)
    assert ids(query(store, properties=[("开放", "true")])[0]) == ["b0", "b2"]
    assert ids(query(store, properties=[("开放", "false")])[0]) == ["b1"]
    assert query(store, properties=[("开放", "1")])[1] == 0
    assert ids(query(store, properties=[("备注", "无")])[0]) == ["b1"]


def test_q_matches_every_chinese_word(store):
    store.put_layer(info(), STATIONS)
    assert ids(query(store, q=["广场"])[0]) == ["s5"]
    assert ids(query(store, q=["6号线"])[0]) == ["s2", "s6"]
    assert ids(query(store, q=["6号线", "江汉"])[0]) == ["s2"]
    assert ids(query(store, q=["口"])[0]) == ["s1", "s4"]
    assert query(store, q=["广场", "江汉"])[1] == 0
    assert query(store, q=["100%"])[1] == 0  # LIKE wildcards are plain characters


def test_sortby_numbers_and_chinese_text(store):
    store.put_layer(info(), STATIONS)
    by_flow = ids(query(store, sortby=[("客流", True)], limit=10)[0])
    assert by_flow == ["s7", "s3", "s6", "s4", "s2", "s1", "s5"]
    assert ids(query(store, sortby=[("客流", False)], limit=10)[0]) == by_flow[::-1]
    by_name = [f["properties"]["名称"] for f in query(store, sortby=[("名称", True)], limit=10)[0]]
    assert by_name == sorted(by_name)  # code point order
    # ties keep the input order
    assert ids(query(store, sortby=[("开通日期", True)], limit=3)[0]) == ["s1", "s2", "s3"]


def test_paging_is_stable_and_complete(store):
    many = [point(f"p{i:03d}", 114 + i / 1000, 30 + i / 1000, 序号=i, 区="武昌" if i % 3 else "汉阳")
            for i in range(250)]
    store.put_layer(info(), many)
    pages, totals = [], set()
    for offset in range(0, 260, 40):
        page, matched = query(store, offset=offset, limit=40)
        pages += ids(page)
        totals.add(matched)
    assert pages == ids(many) and totals == {250}
    filtered, totals = [], set()
    for offset in range(0, 200, 30):
        page, matched = query(store, properties=[("区", "武昌")], sortby=[("序号", False)], offset=offset, limit=30)
        filtered += ids(page)
        totals.add(matched)
    assert filtered == [f["id"] for f in reversed(many) if f["properties"]["区"] == "武昌"]
    assert totals == {166}
    assert query(store, offset=1000, limit=10) == ([], 250)


def test_select_properties_and_skip_geometry(store):
    store.put_layer(info(), STATIONS)
    page, _ = query(store, select_properties=["名称"], skip_geometry=True, limit=1)
    assert page == [{"type": "Feature", "id": "s1", "geometry": None, "properties": {"名称": "汉口火车站"}}]


def test_replacing_a_layer_is_atomic_for_readers(store):
    def version(n, size):
        return [point(f"v{n}-{i}", 114 + i / 100, 30.5, 版本=n) for i in range(size)]

    store.put_layer(info(), version(0, 50))
    seen, errors, stop = set(), [], threading.Event()

    def reader():
        try:
            while not stop.is_set():
                page, matched = query(store, limit=1000)
                versions = {f["properties"]["版本"] for f in page}
                assert len(versions) == 1 and matched == len(page) == 50 + 10 * versions.copy().pop()
                seen.add(versions.pop())
        except Exception as exc:  # reported below, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for n in range(1, 8):
        store.put_layer(info(), version(n, 50 + 10 * n))
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 7 in seen or query(store)[1] == 120
    assert query(store, limit=1000)[1] == 120


def test_a_failed_replacement_keeps_the_old_layer(store):
    before = store.put_layer(info(), STATIONS)
    with pytest.raises(FeatureStoreError):
        store.put_layer(info(), [point("a", 114.1, 30.1), point("a", 114.2, 30.2)])  # duplicate id
    bad = {"type": "Feature", "id": "b", "geometry": {"type": "Polygon", "coordinates": "x"}, "properties": {}}
    with pytest.raises(FeatureStoreError):
        store.put_layer(info(), [point("ok", 114.1, 30.1), bad])
    assert store.layer("demo.d001-0001") == before
    assert ids(query(store, limit=10)[0]) == ids(STATIONS)


def test_drop_layer(store):
    store.put_layer(info(), STATIONS)
    store.put_layer(info("other"), SHAPES)
    assert store.drop_layer("demo.d001-0001") is True
    assert store.layer("demo.d001-0001") is None
    assert [layer.id for layer in store.layers()] == ["other"]
    assert store.get("demo.d001-0001", "s1") is None
    with pytest.raises(FeatureStoreError):
        query(store)
    assert store.drop_layer("demo.d001-0001") is False
    assert query(store, "other")[1] == 5


@pytest.mark.parametrize("layer_id", ["catalog", "x'; DROP TABLE layers; --", "武汉.地铁站", 'q"uote', "a" * 200])
def test_any_layer_id_is_kept_apart(store, layer_id):
    store.put_layer(info("neighbour"), SHAPES)
    stored = store.put_layer(info(layer_id), STATIONS[:2])
    assert store.layer(layer_id) == stored and stored.count == 2
    assert ids(query(store, layer_id)[0]) == ["s1", "s2"]
    assert sorted(layer.id for layer in store.layers()) == sorted(["neighbour", layer_id])
    assert query(store, "neighbour")[1] == 5


def test_unknown_ids(store):
    store.put_layer(info(), STATIONS)
    assert store.layer("nope") is None
    assert store.get("nope", "s1") is None
    assert store.get("demo.d001-0001", "nope") is None
    assert store.get("demo.d001-0001", "s1' OR '1'='1") is None
    with pytest.raises(FeatureStoreError):
        query(store, "nope")


@pytest.mark.parametrize("declared", [None, "Point"])
def test_incremental_writes_keep_the_count_extent_and_type_a_full_read_gives(store, declared):
    """Upserts and deletes work the summary out from the stored one; it must equal what rebuilding the layer gives,
    also when the feature that made an edge is deleted or moved inwards, and when two features share an edge.
    A writer that declares the geometry type (the catalogue records do) keeps it."""
    import random

    if not hasattr(store, "upsert_features"):
        pytest.skip("this backend has no incremental writes")
    rng = random.Random(7)
    live: dict[str, dict] = {}
    edge = (114.0, 30.0)  # two features sit on this corner: deleting one keeps it
    store.upsert_features("catalog", [], info("catalog", kind="record"))
    for step in range(60):
        if step % 3 == 2 and live:
            gone = rng.sample(sorted(live), k=min(len(live), rng.randint(1, 3)))
            stored = store.delete_features("catalog", gone + ["never-there"])
            for fid in gone:
                del live[fid]
        else:
            put = []
            for _ in range(rng.randint(1, 4)):
                fid = f"f{rng.randint(0, 25)}"
                kind = rng.choice(["point", "point", "square", "none", "corner"])
                lon, lat = round(rng.uniform(114.0, 115.0), 6), round(rng.uniform(30.0, 31.0), 6)
                if kind == "point":
                    feature = point(fid, lon, lat)
                elif kind == "square":
                    feature = polygon(fid, [[[lon, lat], [lon + .05, lat], [lon + .05, lat + .05], [lon, lat]]])
                elif kind == "corner":
                    feature = point(fid, *edge)
                else:
                    feature = {"type": "Feature", "id": fid, "geometry": None, "properties": {}}
                put = [f for f in put if f["id"] != fid] + [feature]
            stored = store.upsert_features("catalog", put, info("catalog", kind="record", geometry_type=declared)
                                            if declared else None)
            live.update({f["id"]: f for f in put})
        boxes = [shape(f["geometry"]).bounds for f in live.values() if f["geometry"]]
        expected = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                    max(b[3] for b in boxes)) if boxes else None
        kinds = {f["geometry"]["type"] for f in live.values() if f["geometry"]}
        assert stored.count == len(live), step
        assert stored.bbox == (pytest.approx(expected) if expected else None), step
        if declared and step % 3 != 2:
            assert stored.geometry_type == declared
        elif not declared:
            assert stored.geometry_type == (kinds.pop() if len(kinds) == 1 else "Geometry" if kinds else None), step
        assert store.layer("catalog") == stored
        assert query(store, "catalog")[1] == len(live)


def test_features_without_ids_are_numbered(store):
    store.put_layer(info(), [{"type": "Feature", "geometry": None, "properties": {"n": i}} for i in range(3)])
    assert ids(query(store)[0]) == ["1", "2", "3"]
    assert store.get("demo.d001-0001", "2")["properties"] == {"n": 1}


def test_upsert_and_delete_features(store):
    if not hasattr(store, "upsert_features"):
        pytest.skip("this backend has no incremental writes")
    catalog = info("catalog", kind="record")
    store.upsert_features("catalog", STATIONS[:3], catalog)
    stored = store.upsert_features("catalog", [point("s2", 114.5, 30.9, 名称="改名")])
    assert stored.count == 3 and stored.bbox == pytest.approx((114.2653, 30.5475, 114.5, 30.9))
    assert store.get("catalog", "s2")["properties"] == {"名称": "改名"}
    assert store.delete_features("catalog", ["s1", "missing"]).count == 2
    assert sorted(ids(query(store, "catalog")[0])) == ["s2", "s3"]
    assert store.delete_features("nope", ["s1"]) is None
    with pytest.raises(FeatureStoreError):
        store.upsert_features("nope", STATIONS[:1])
