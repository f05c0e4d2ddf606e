"""Spatialization of real Wuhan data (GCJ-02 metro stations, district boundaries) and of our own edge cases."""

from __future__ import annotations

import csv
import json

import pytest
from shapely.geometry import shape

from ogc.boundary import Boundary, load_boundary
from ogc.coords import Crs, from_cgcs2000, haversine_m, wgs84_to_bd09, wgs84_to_gcj02
from ogc.geocode import GazetteerGeocoder, load_gazetteer_data
from ogc.spatialize import SpatializeOptions, read_rows, spatialize, spatialize_file
from tests.conftest import shared_path


def _wuhan(name):
    return shared_path("data", "wuhan", name)


@pytest.fixture(scope="module")
def stations():
    with _wuhan("wuhan_metro_stations_werifu.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def city_boundary():
    return load_boundary(_wuhan("wuhan_city_420100_datav_boundary.json"), crs="GCJ-02")


def _positions(result):
    return {f["properties"]["station_name"] + f["properties"]["metro_name"]: tuple(f["geometry"]["coordinates"])
            for f in result.features}


def test_metro_stations_all_placed_converted_none_flagged(stations, city_boundary):
    for options in (SpatializeOptions(crs="GCJ-02"), SpatializeOptions(crs="GCJ-02", boundary=city_boundary)):
        result = spatialize(stations, options)
        report = result.report
        assert (report.rows, report.placed, report.unresolved, report.flagged) == (len(stations), len(stations), 0, 0)
        assert report.methods == {"coordinates:GCJ02": len(stations)}
        assert (report.source_crs, report.crs_source, report.order) == ("GCJ02", "declared", "lonlat")
        assert report.columns == {"lon": "longitude", "lat": "latitude"}
    worst = 0.0
    for row, feature in zip(stations, result.features):
        lon, lat = feature["geometry"]["coordinates"]
        source = float(row["longitude"]), float(row["latitude"])
        assert 400 < haversine_m(lon, lat, *source) < 700              # moved off the GCJ-02 offset …
        worst = max(worst, haversine_m(*wgs84_to_gcj02(lon, lat), *source))
    assert worst < 0.01                                               # … to the point whose GCJ-02 is the source


def test_metro_stations_crs_from_column_names(stations):
    renamed = [{"name": r["station_name"], "gcj02_lng": r["longitude"], "gcj02_lat": r["latitude"]} for r in stations]
    result = spatialize(renamed)
    assert (result.report.source_crs, result.report.crs_source, result.report.placed) == \
        ("GCJ02", "column names", len(stations))
    undeclared = spatialize(stations)                        # nothing declared: read as WGS84, said so
    assert (undeclared.report.source_crs, undeclared.report.crs_source) == ("WGS84", "assumed")
    assert undeclared.report.crs_assumed and any("assumed WGS84" in n for n in undeclared.report.notes)


def test_swapped_columns_and_pair_columns_give_the_same_points(stations):
    expected = [f["geometry"]["coordinates"] for f in spatialize(stations, SpatializeOptions(crs="GCJ02")).features]
    swapped = [{"经度": r["latitude"], "纬度": r["longitude"]} for r in stations]    # values under the wrong names
    paired = [{"坐标": f'{r["longitude"]},{r["latitude"]}'} for r in stations]
    lat_first = [{"latlng": f'{r["latitude"]}, {r["longitude"]}'} for r in stations]
    for rows, order in ((swapped, "latlon"), (paired, "lonlat"), (lat_first, "latlon")):
        result = spatialize(rows, SpatializeOptions(crs="GCJ02"))
        assert result.report.order == order
        assert [f["geometry"]["coordinates"] for f in result.features] == expected


def test_bd09_input(stations):
    """Stations given in BD-09 (made from our WGS84 positions) come back to the same points."""
    reference = spatialize(stations, SpatializeOptions(crs="GCJ02")).features
    rows = [dict(zip(("百度经度", "百度纬度"), wgs84_to_bd09(*f["geometry"]["coordinates"]))) for f in reference]
    result = spatialize(rows)
    assert (result.report.source_crs, result.report.crs_source) == ("BD09", "column names")
    worst = max(haversine_m(*a["geometry"]["coordinates"], *b["geometry"]["coordinates"])
                for a, b in zip(result.features, reference))
    assert worst < 0.01


def test_v1_file_with_placeholder_coordinates():
    path = _wuhan("wuhan_metro_stations_werifu_v1_with_missing_coords.csv")
    rows = read_rows(path)
    missing = [n for n, r in enumerate(rows, start=1) if r["longitude"] == "-1"]
    result = spatialize_file(path, SpatializeOptions(crs="GCJ02"))
    report = result.report
    assert len(missing) == 4 and report.unresolved == 4
    assert [issue.row for issue in report.unresolved_rows] == missing
    assert all("(-1, -1)" in issue.reason for issue in report.unresolved_rows)
    assert report.placed == len(result.features) == report.rows - report.unresolved
    assert "光谷火车站" not in {f["properties"]["station_name"] for f in result.features}
    assert report.flagged == 0


def test_rows_with_addresses_only_go_through_the_gazetteer():
    rows = [{"名称": "甲", "地址": "武汉市江汉区解放大道"}, {"名称": "乙", "地址": "洪山区珞喻路华中科技大学"},
            {"名称": "丙", "地址": "不存在的地方"}, {"名称": "丁", "地址": ""}]
    result = spatialize(rows, SpatializeOptions(geocoder=GazetteerGeocoder()))
    report = result.report
    assert (report.placed, report.unresolved, report.methods) == (2, 2, {"gazetteer": 2})
    assert report.columns == {"address": "地址"}
    assert [(i.row, i.reason) for i in report.unresolved_rows] == [
        (3, "address '不存在的地方' not found"), (4, "no coordinates and no address")]
    no_geocoder = spatialize(rows[:1])
    assert no_geocoder.report.unresolved_rows[0].reason == "address '武汉市江汉区解放大道' needs a geocoder"


def test_bad_coordinates_fall_back_to_the_address_or_say_why():
    rows = [{"lng": "abc", "lat": "30.6", "address": "青山区和平大道"},
            {"lng": "", "lat": "", "address": ""},
            {"lng": "38500000.5", "lat": "3380000.2", "address": ""},
            {"lng": "114.30", "lat": "", "address": ""},
            {"lng": "114.30°E", "lat": "30.60", "address": ""}]
    report = spatialize(rows, SpatializeOptions(geocoder=GazetteerGeocoder())).report
    assert report.methods == {"gazetteer": 1, "coordinates:WGS84": 1}
    assert [(i.row, i.reason) for i in report.unresolved_rows] == [
        (2, "no coordinates"),
        (3, "(3.85e+07, 3.38e+06) look like projected metres; give geographic coordinates"),
        (4, "lat is empty")]


def test_points_outside_are_flagged(city_boundary):
    rows = [{"lon": "114.30", "lat": "30.60"},     # Wuhan
            {"lon": "121.47", "lat": "31.23"},     # Shanghai: in China, outside the extent
            {"lon": "113.72", "lat": "31.30"}]     # inside the extent, outside the city's outline
    by_extent = spatialize(rows).report
    assert (by_extent.placed, by_extent.flagged) == (3, 1)
    assert by_extent.flagged_rows[0].row == 2 and by_extent.flagged_rows[0].reason == "outside Wuhan's extent"
    by_boundary = spatialize(rows, SpatializeOptions(boundary=city_boundary)).report
    assert [(i.row, i.reason) for i in by_boundary.flagged_rows] == [
        (2, "outside the boundary wuhan_city_420100_datav_boundary.json"),
        (3, "outside the boundary wuhan_city_420100_datav_boundary.json")]


def test_district_boundaries_taken_as_they_come_and_used_as_boundary(stations):
    doc = json.loads(_wuhan("wuhan_districts_420100_full_datav.json").read_text(encoding="utf-8"))
    result = spatialize(doc, SpatializeOptions(crs="GCJ-02"))
    report = result.report
    # three DataV polygons (汉南区, 江夏区, 新洲区) self-intersect: repaired with a report, never published as they came
    assert (report.rows, report.placed, report.flagged, report.unresolved, report.repaired) == (13, 13, 3, 0, 3)
    assert sorted(doc["features"][i.row - 1]["properties"]["name"] for i in report.flagged_rows) == \
        ["新洲区", "汉南区", "江夏区"]
    assert all("repaired with make_valid" in i.reason for i in report.flagged_rows)
    assert all(shape(f["geometry"]).is_valid for f in result.features)
    assert report.methods == {"geojson:GCJ02": 13} and report.crs_source == "declared"
    assert [f["properties"]["adcode"] for f in result.features] == [f["properties"]["adcode"] for f in doc["features"]]
    first_in = doc["features"][0]["geometry"]["coordinates"][0][0][0]
    first_out = result.features[0]["geometry"]["coordinates"][0][0][0]
    assert haversine_m(*wgs84_to_gcj02(*first_out[:2]), *first_in[:2]) < 0.01
    collection = json.loads(json.dumps(result.feature_collection()))
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    districts = Boundary.from_geojson(collection, name="districts (WGS84)")
    placed = spatialize(stations, SpatializeOptions(crs="GCJ02", boundary=districts)).report
    assert (placed.placed, placed.flagged) == (len(stations), 0)
    for district in load_gazetteer_data()["districts"]:
        own = next(f for f in collection["features"] if f["properties"]["name"] == district["name"])
        assert Boundary.from_geojson(own).contains(district["lon"], district["lat"]), district["name"]


def test_geojson_crs_member_noted_and_points_flagged():
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
           "features": [{"type": "Feature", "properties": {"n": 1}, "geometry": {"type": "Point",
                                                                                  "coordinates": [114.3, 30.6]}},
                        {"type": "Feature", "properties": {"n": 2}, "geometry": None},
                        {"type": "Feature", "properties": {"n": 3}, "geometry": {"type": "Point",
                                                                                  "coordinates": [116.4, 39.9]}}]}
    result = spatialize(doc)
    report = result.report
    assert (report.source_crs, report.crs_source) == ("CGCS2000", "geojson")
    assert (report.rows, report.placed, report.unresolved, report.flagged) == (3, 2, 1, 1)
    assert report.unresolved_rows[0].reason == "feature has no geometry"
    assert result.features[0]["geometry"]["coordinates"] == [114.3, 30.6]


def test_report_and_output_are_json(stations):
    result = spatialize(stations[:3], SpatializeOptions(crs="GCJ02"))
    report = json.loads(json.dumps(result.report.to_dict(), ensure_ascii=False))
    assert {"rows", "placed", "unresolved", "flagged", "methods", "source_crs", "unresolved_rows",
            "flagged_rows"} <= set(report)
    feature = result.feature_collection()["features"][0]
    lon, lat = feature["geometry"]["coordinates"]
    assert 113 < lon < 116 and 29 < lat < 32                     # CRS84 order: lon first
    assert feature["properties"] == {**stations[0], "wodp_placement": "coordinates:GCJ02", "wodp_precision": "exact"}


def test_from_cgcs2000_matches_spatialize_inverse():
    lon, lat = 114.3055, 30.5928
    rows = [{"gcj_lng": x, "gcj_lat": y} for x, y in [from_cgcs2000(lon, lat, Crs.GCJ02)]]
    (feature,) = spatialize(rows).features
    assert haversine_m(*feature["geometry"]["coordinates"], lon, lat) < 0.01
