"""Coordinate conversions against the shared Wuhan test vectors, round trips on our own grid, order detection."""

from __future__ import annotations

import csv

import pytest

from ogc.coords import (WUHAN_EXTENT, Crs, bd09_to_gcj02, bd09_to_wgs84, crs_from_column_names, detect_order,
                        from_cgcs2000, gcj02_to_bd09, gcj02_to_wgs84, haversine_m, parse_crs, to_cgcs2000,
                        wgs84_to_bd09, wgs84_to_gcj02)
from tests.conftest import shared_path

LIMIT_M = 0.5


def _vectors():
    path = shared_path("standards", "coords", "wuhan-test-vectors.csv")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 6
    for row in rows:
        yield (row["point"],
               (float(row["wgs84_lon"]), float(row["wgs84_lat"])),
               (float(row["gcj02_lon(prcoords)"]), float(row["gcj02_lat(prcoords)"])),
               (float(row["bd09_lon(prcoords)"]), float(row["bd09_lat(prcoords)"])))


def test_every_test_vector_within_half_a_metre():
    worst = 0.0
    for name, wgs, gcj, bd in _vectors():
        errors = {
            "wgs→gcj": haversine_m(*wgs84_to_gcj02(*wgs), *gcj),
            "gcj→wgs": haversine_m(*gcj02_to_wgs84(*gcj), *wgs),
            "wgs→bd": haversine_m(*wgs84_to_bd09(*wgs), *bd),
            "bd→wgs": haversine_m(*bd09_to_wgs84(*bd), *wgs),
            "gcj→bd": haversine_m(*gcj02_to_bd09(*gcj), *bd),
            "bd→gcj": haversine_m(*bd09_to_gcj02(*bd), *gcj),
        }
        for kind, error in errors.items():
            assert error < LIMIT_M, f"{name} {kind}: {error:.4f} m"
        worst = max(worst, *errors.values())
    # the vectors carry 8 decimals (≈1 mm): our results agree to that rounding
    assert worst < 0.005


def _grid():
    """Points across Wuhan's extent every ~0.1°, its corners and edges, and just outside it."""
    lon0, lat0, lon1, lat1 = WUHAN_EXTENT
    steps = 14
    for i in range(steps + 1):
        for j in range(steps + 1):
            yield lon0 + (lon1 - lon0) * i / steps, lat0 + (lat1 - lat0) * j / steps
    for lon, lat in ((lon0 - 0.05, lat0 - 0.05), (lon1 + 0.05, lat1 + 0.05), (114.3, lat1 + 0.01),
                     (114.3, lat0 - 0.01), (lon0 - 0.01, 30.6), (lon1 + 0.01, 30.6)):
        yield lon, lat


def test_round_trips_on_our_grid():
    worst = {"gcj": 0.0, "bd": 0.0, "gcj-bd": 0.0}
    for lon, lat in _grid():
        gcj = wgs84_to_gcj02(lon, lat)
        offset = haversine_m(lon, lat, *gcj)
        assert 300 < offset < 800, f"GCJ-02 offset {offset:.0f} m at {lon:.3f},{lat:.3f}"
        worst["gcj"] = max(worst["gcj"], haversine_m(lon, lat, *gcj02_to_wgs84(*gcj)))
        worst["bd"] = max(worst["bd"], haversine_m(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))))
        worst["gcj-bd"] = max(worst["gcj-bd"], haversine_m(*gcj, *bd09_to_gcj02(*gcj02_to_bd09(*gcj))))
    assert all(error < 0.01 for error in worst.values()), worst   # sub-centimetre, far under 0.5 m


@pytest.mark.parametrize("crs", [Crs.WGS84, Crs.CGCS2000, Crs.GCJ02, Crs.BD09])
def test_to_and_from_cgcs2000_are_inverse(crs):
    for lon, lat in ((114.3055, 30.5928), (113.70, 29.98), (115.07, 31.35)):
        back = to_cgcs2000(*from_cgcs2000(lon, lat, crs), crs)
        assert haversine_m(lon, lat, *back) < 0.01


def test_cgcs2000_and_wgs84_are_the_same_point():
    assert to_cgcs2000(114.3, 30.6, Crs.WGS84) == to_cgcs2000(114.3, 30.6, Crs.CGCS2000) == (114.3, 30.6)


def test_gcj02_leaves_points_outside_china_unchanged():
    assert wgs84_to_gcj02(139.7671, 35.6812) == (139.7671, 35.6812)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_haversine_one_degree_of_latitude():
    assert haversine_m(114.0, 30.0, 114.0, 31.0) == pytest.approx(111_195, abs=5)


def test_detect_order_in_wuhan_and_china():
    wuhan = [(114.30, 30.59), (114.40, 30.50), (114.21, 30.78)]
    assert detect_order(wuhan) == "lonlat"
    assert detect_order([(b, a) for a, b in wuhan]) == "latlon"
    assert detect_order([(121.47, 31.23), (116.40, 39.90)]) == "lonlat"       # in China, outside Wuhan
    assert detect_order([(31.23, 121.47), (39.90, 116.40), (-1, -1)]) == "latlon"
    assert detect_order([(-1, -1), (0, 0)]) is None


@pytest.mark.parametrize("name, crs", [
    ("EPSG:4490", Crs.CGCS2000), ("urn:ogc:def:crs:EPSG::4490", Crs.CGCS2000), ("CGCS2000", Crs.CGCS2000),
    ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", Crs.WGS84), ("EPSG:4326", Crs.WGS84), ("wgs-84", Crs.WGS84),
    ("GCJ-02", Crs.GCJ02), ("高德", Crs.GCJ02), ("amap", Crs.GCJ02), ("BD-09", Crs.BD09), ("百度", Crs.BD09),
    ("baidu", Crs.BD09), ("", None), ("EPSG:3857", None)])
def test_parse_declared_crs(name, crs):
    assert parse_crs(name) is crs


def test_crs_declared_by_column_names():
    assert crs_from_column_names(["gcj02_lng", "gcj02_lat"]) is Crs.GCJ02
    assert crs_from_column_names(["百度经度", "百度纬度"]) is Crs.BD09
    assert crs_from_column_names(["bd_lng", "bd_lat"]) is Crs.BD09
    assert crs_from_column_names(["wgs84经度"]) is Crs.WGS84
    assert crs_from_column_names(["经度", "纬度"]) is None
