"""The embedded feature store: atomic layers, R*Tree bbox, datetime, properties, q, sorting, paging, records."""

from __future__ import annotations

import pytest

from ogc.features import FeatureQuery, FeatureStoreError, LayerInfo
from ogc.features.sqlite import SQLiteFeatureStore


def _points(n: int, prefix: str = "p"):
    return [{"type": "Feature", "id": f"{prefix}{i}",
             "geometry": {"type": "Point", "coordinates": [114.0 + i / n, 30.0 + (i % 10) / 10]},
             "properties": {"name": f"站点{i}" if i % 2 else f"Station {i}", "n": i, "day": f"2024-01-{i % 28 + 1:02d}"}}
            for i in range(n)]


@pytest.fixture
def store(tmp_path):
    s = SQLiteFeatureStore(tmp_path / "features.sqlite")
    s.put_layer(LayerInfo("pts", None, "点", "points", fields={"name": "string", "n": "integer", "day": "date"},
                          datetime_field="day"), _points(200))
    yield s
    s.close()


def test_put_layer_computes_count_bbox_and_type(store):
    info = store.layer("pts")
    assert info.count == 200 and info.geometry_type == "Point"
    assert info.bbox == (114.0, 30.0, 114.0 + 199 / 200, 30.9)
    assert [i.id for i in store.layers()] == ["pts"]


def test_put_layer_replaces_atomically_and_keeps_old_on_failure(store):
    bad = _points(5) + [{"type": "Feature", "id": "p1", "geometry": None, "properties": {}}]  # duplicate id
    with pytest.raises(FeatureStoreError):
        store.put_layer(LayerInfo("pts", None, "点", "points"), bad)
    assert store.layer("pts").count == 200 and store.query("pts", FeatureQuery(limit=1))[1] == 200
    assert store.put_layer(LayerInfo("pts", None, "点", "points"), _points(3)).count == 3
    assert store.query("pts", FeatureQuery(limit=10))[1] == 3


def test_bbox_intersects(store):
    features, matched = store.query("pts", FeatureQuery(bbox=(114.0, 30.0, 114.1, 30.05), limit=100))
    expected = {f["id"] for f in _points(200) if f["geometry"]["coordinates"][0] <= 114.1
                and f["geometry"]["coordinates"][1] <= 30.05}
    assert matched == len(expected) and {f["id"] for f in features} == expected


def test_datetime_interval_properties_q_and_sort(store):
    _, matched = store.query("pts", FeatureQuery(datetime_start="2024-01-01", datetime_end="2024-01-02", limit=1))
    assert matched == sum(1 for f in _points(200) if f["properties"]["day"] <= "2024-01-02")
    features, matched = store.query("pts", FeatureQuery(properties=[("n", "7")]))
    assert matched == 1 and features[0]["id"] == "p7"
    _, matched = store.query("pts", FeatureQuery(q=["站点1"], limit=1))
    assert matched == sum(1 for i in range(1, 200, 2) if str(i).startswith("1"))
    _, matched = store.query("pts", FeatureQuery(q=["STATION", "10"], limit=1))
    assert matched == sum(1 for i in range(0, 200, 2) if "10" in str(i))
    features, _ = store.query("pts", FeatureQuery(sortby=[("n", False)], limit=3))
    assert [f["id"] for f in features] == ["p199", "p198", "p197"]


def test_paging_select_and_skip_geometry(store):
    page, matched = store.query("pts", FeatureQuery(offset=195, limit=10, select_properties=("n",), skip_geometry=True))
    assert matched == 200 and [f["id"] for f in page] == [f"p{i}" for i in range(195, 200)]
    assert page[0]["geometry"] is None and page[0]["properties"] == {"n": 195}
    assert store.get("pts", "p3")["properties"]["n"] == 3 and store.get("pts", "zzz") is None


def test_hostile_q_and_unknown_layer(store):
    assert store.query("pts", FeatureQuery(q=["%' OR 1=1 --"]))[1] == 0
    with pytest.raises(FeatureStoreError):
        store.query("nope", FeatureQuery())


def test_upsert_and_delete_touch_only_given_features(store):
    info = store.upsert_features("pts", [{"type": "Feature", "id": "p1", "geometry": None, "properties": {"n": -1}},
                                         {"type": "Feature", "id": "new", "geometry": None, "properties": {"n": 500}}])
    assert info.count == 201 and store.get("pts", "p1")["properties"] == {"n": -1}
    info = store.delete_features("pts", ["p2", "p3", "missing"])
    assert info.count == 199
    ids, offset = [], 0
    while page := store.query("pts", FeatureQuery(offset=offset, limit=50))[0]:
        ids += [f["id"] for f in page]
        offset += 50
    assert len(ids) == len(set(ids)) == 199 and "p2" not in ids and "new" in ids


def test_drop_layer(store):
    assert store.drop_layer("pts") is True and store.drop_layer("pts") is False and store.layer("pts") is None


def test_deep_page_of_a_large_layer_reads_the_right_rows(tmp_path):
    s = SQLiteFeatureStore(tmp_path / "big.sqlite")
    s.put_layer(LayerInfo("big", None, "大", "big"), _points(20000))
    page, matched = s.query("big", FeatureQuery(offset=19990, limit=20))
    assert matched == 20000 and [f["id"] for f in page] == [f"p{i}" for i in range(19990, 20000)]
    s.close()
