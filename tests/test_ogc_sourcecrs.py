"""Real GCJ-02 and BD-09 points of Wuhan, as files come (header or not, GBK or UTF-8, either axis order), land
within 0.5 m of a reference conversion and in the right district.

The reference inverse here is written independently of ogc/coords.py: the forward GCJ-02 formula from
../shared/standards/coords/README.md, inverted by Newton's method with a numerical Jacobian. The forward formula
itself is checked against the prcoords vectors of ../shared/standards/coords/wuhan-test-vectors.csv.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from ogc.boundary import Boundary
from ogc.coords import gcj02_to_bd09, gcj02_to_wgs84, bd09_to_wgs84, haversine_m, wgs84_to_bd09, wgs84_to_gcj02
from ogc.datafiles import parse_data
from ogc.spatialize import SpatializeOptions, spatialize
from tests.conftest import shared_path

A, EE = 6378245.0, 0.00669342162296594323


def _ref_forward(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 → GCJ-02, written from the README's formula (not imported from ogc.coords)."""
    x, y, pi = lon - 105.0, lat - 35.0, math.pi
    shared = (20 * math.sin(6 * pi * x) + 20 * math.sin(2 * pi * x)) * 2 / 3
    d_lat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + shared
             + (20 * math.sin(pi * y) + 40 * math.sin(pi * y / 3)) * 2 / 3
             + (160 * math.sin(pi * y / 12) + 320 * math.sin(pi * y / 30)) * 2 / 3)
    d_lon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + shared
             + (20 * math.sin(pi * x) + 40 * math.sin(pi * x / 3)) * 2 / 3
             + (150 * math.sin(pi * x / 12) + 300 * math.sin(pi * x / 30)) * 2 / 3)
    phi = math.radians(lat)
    w = 1 - EE * math.sin(phi) ** 2
    return (lon + d_lon * 180 / (pi * A * math.cos(phi) / math.sqrt(w)),
            lat + d_lat * 180 / (pi * A * (1 - EE) / (w * math.sqrt(w))))


def _ref_inverse(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS84 by Newton's method with a numerical Jacobian (an independent reference)."""
    x, y, h = lon, lat, 1e-7
    for _ in range(20):
        fx, fy = _ref_forward(x, y)
        rx, ry = fx - lon, fy - lat
        ax, ay = _ref_forward(x + h, y)
        bx, by = _ref_forward(x, y + h)
        j11, j12, j21, j22 = (ax - fx) / h, (bx - fx) / h, (ay - fy) / h, (by - fy) / h
        det = j11 * j22 - j12 * j21
        x, y = x - (j22 * rx - j12 * ry) / det, y - (-j21 * rx + j11 * ry) / det
    return x, y


def _wuhan(name):
    return shared_path("data", "wuhan", name)


def test_forward_matches_the_prcoords_vectors_and_inverses_are_precise():
    with shared_path("standards", "coords", "wuhan-test-vectors.csv").open(encoding="utf-8") as f:
        vectors = [r for r in csv.DictReader(f) if 113 < float(r["wgs84_lon"]) < 116]
    assert len(vectors) == 4
    for r in vectors:
        wgs = float(r["wgs84_lon"]), float(r["wgs84_lat"])
        gcj = float(r["gcj02_lon(prcoords)"]), float(r["gcj02_lat(prcoords)"])
        bd = float(r["bd09_lon(prcoords)"]), float(r["bd09_lat(prcoords)"])
        assert haversine_m(*wgs84_to_gcj02(*wgs), *gcj) < 0.01
        assert haversine_m(*wgs84_to_bd09(*wgs), *bd) < 0.01
        assert haversine_m(*gcj02_to_wgs84(*gcj), *wgs) < 0.01   # the vectors are rounded to 1e-8 degree (1 mm)
        assert haversine_m(*bd09_to_wgs84(*bd), *wgs) < 0.01
        # the one-step approximation would be off by about a metre: the iteration is what makes < 0.5 m
        approx = 2 * gcj[0] - wgs84_to_gcj02(*gcj)[0], 2 * gcj[1] - wgs84_to_gcj02(*gcj)[1]
        assert haversine_m(*approx, *wgs) > haversine_m(*gcj02_to_wgs84(*gcj), *wgs)


@pytest.fixture(scope="module")
def stations() -> list[dict[str, str]]:
    with _wuhan("wuhan_metro_stations_werifu.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def amap_stations() -> list[dict[str, str]]:
    doc = json.loads(_wuhan("wuhan_metro_amap_4201_drw_wuhan.json").read_text(encoding="utf-8"))
    return [{"name": s["n"], "line": line.get("ln", ""), "sl": s["sl"]} for line in doc["l"] for s in line["st"]]


@pytest.fixture(scope="module")
def districts():
    """The GCJ-02 district polygons as they are (for the truth) and converted to CGCS2000 (for our output)."""
    doc = json.loads(_wuhan("wuhan_districts_420100_full_datav.json").read_text(encoding="utf-8"))
    return Boundary.from_geojson(doc, "WGS84", name="as GCJ-02"), Boundary.from_geojson(doc, "GCJ02", name="CGCS2000")


def _csv(rows: list[list[str]], header: list[str] | None, encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _variants(stations):
    """Yield (label, file bytes, source system, the GCJ-02 points in file order) for every form a file comes in."""
    gcj = [(float(r["longitude"]), float(r["latitude"])) for r in stations]
    bd = [gcj02_to_bd09(*p) for p in gcj]
    for system, points in (("GCJ-02", gcj), ("BD-09", bd)):
        for order in ("lonlat", "latlon"):
            for header in (True, False):
                for encoding in ("utf-8", "utf-8-sig", "gbk"):
                    rows = [[r["station_name"], *(f"{a:.9f}" for a in (p if order == "lonlat" else p[::-1])),
                             r["metro_name"]] for r, p in zip(stations, points)]
                    names = ["站名", "经度", "纬度", "线路"] if order == "lonlat" else ["站名", "纬度", "经度", "线路"]
                    yield (f"{system} {order} header={header} {encoding}",
                           _csv(rows, names if header else None, encoding), system, gcj)


def test_every_form_of_the_station_file_lands_within_half_a_metre_in_the_right_district(stations, districts):
    as_gcj, converted = districts
    truth = [as_gcj.part_of(float(r["longitude"]), float(r["latitude"])) for r in stations]
    assert sum(t is not None for t in truth) == len(stations)
    checked = 0
    for label, raw, system, gcj in _variants(stations):
        rows = parse_data(raw, "text/csv", "stations.csv")
        result = spatialize(rows, SpatializeOptions(crs=system))
        report = result.report
        assert (report.rows, report.placed, report.unresolved) == (len(stations), len(stations), 0), label
        # whichever column comes first, the longitude column is the one holding longitudes, and the report says so
        lon_first = "lonlat" in label
        assert report.columns == ({"lon": "经度", "lat": "纬度"} if "header=True" in label else
                                  {"lon": "列2" if lon_first else "列3", "lat": "列3" if lon_first else "列2"}), label
        assert (report.order, report.order_source) == ("lonlat", "values")
        assert any("latitude column" in n for n in report.notes) != lon_first, label
        assert report.precision == {"exact": len(stations)}
        if "header=False" in label:
            assert any("no header row" in note for note in report.notes), label
        worst = max(haversine_m(*f["geometry"]["coordinates"], *_ref_inverse(*p))
                    for f, p in zip(result.features, gcj))
        assert worst < 0.5, (label, worst)
        placed_in = [converted.part_of(*f["geometry"]["coordinates"]) for f in result.features]
        assert placed_in == truth, label
        checked += 1
    assert checked == 24


def test_the_amap_json_points_and_the_v1_file(amap_stations, districts):
    as_gcj, converted = districts
    result = spatialize(amap_stations, SpatializeOptions(crs="https://data.wuhan.gov.cn/def/crs/gcj02"))
    report = result.report
    assert (report.rows, report.placed, report.columns) == (300, 300, {"pair": "sl"})
    gcj = [tuple(map(float, s["sl"].split(","))) for s in amap_stations]
    assert max(haversine_m(*f["geometry"]["coordinates"], *_ref_inverse(*p))
               for f, p in zip(result.features, gcj)) < 0.5
    assert [converted.part_of(*f["geometry"]["coordinates"]) for f in result.features] == \
        [as_gcj.part_of(*p) for p in gcj]
    raw = _wuhan("wuhan_metro_stations_werifu_v1_with_missing_coords.csv").read_bytes()
    body = raw.split(b"\n", 1)[1]                              # the same file without its header row, in GBK
    for data in (raw, body.decode("utf-8").encode("gbk")):
        v1 = spatialize(parse_data(data, "text/csv", "v1.csv"), SpatializeOptions(crs="GCJ-02")).report
        assert (v1.rows, v1.placed, v1.unresolved) == (219, 215, 4)          # 4 rows of -1,-1: listed, not placed
        assert all("(-1, -1)" in issue.reason for issue in v1.unresolved_rows)


def test_a_first_row_of_numbers_is_data_and_extra_fields_are_kept(stations):
    raw = _wuhan("wuhan_metro_stations_werifu.csv").read_bytes()
    with_header = parse_data(raw, "text/csv", "s.csv")
    without = parse_data(raw.split(b"\n", 1)[1], "text/csv", "s.csv")
    assert len(with_header) == len(without) == len(stations)
    assert without[0]["列1"] == "汉口北"                              # the first station is not a header
    # one row of the real file has an empty extra field: its last value is kept in a column of its own
    shifted = next(r for r in with_header if r["station_name"] == "省博湖北日报")
    assert shifted["列6"] == "13" and any("more fields than the header" in n for n in with_header.notes)


def test_the_source_system_comes_from_wodp_sourcecrs_never_from_dct_conformsto():
    import pyoxigraph as ox

    from ogc.layers import Layers, source_crs
    from ogc.spatialize import UnknownCrsError

    d, dist = ox.NamedNode("https://x/datasets/a"), ox.NamedNode("https://x/datasets/a#dist-1")
    conforms = ox.Triple(d, ox.NamedNode("http://purl.org/dc/terms/conformsTo"),
                         ox.NamedNode("http://www.opengis.net/def/crs/EPSG/0/4490"))
    declared = ox.NamedNode("https://data.wuhan.gov.cn/def/wodp#sourceCRS")
    assert source_crs(d.value, [conforms], dist) == (None, None)
    on_dataset = [conforms, ox.Triple(d, declared, ox.NamedNode("https://data.wuhan.gov.cn/def/crs/bd09"))]
    assert source_crs(d.value, on_dataset, dist) == ("https://data.wuhan.gov.cn/def/crs/bd09", "dataset")
    on_both = on_dataset + [ox.Triple(dist, declared, ox.NamedNode("https://data.wuhan.gov.cn/def/crs/gcj02"))]
    assert source_crs(d.value, on_both, dist) == ("https://data.wuhan.gov.cn/def/crs/gcj02", "distribution")
    rows = [{"lng": "114.31094489", "lat": "30.59039056"}]
    by_settings = spatialize(rows, SpatializeOptions(default_crs="GCJ-02")).report
    assert (by_settings.source_crs, by_settings.crs_source, by_settings.crs_assumed) == ("GCJ02", "settings", False)
    with pytest.raises(UnknownCrsError, match="EPSG/0/2383"):  # Xian 1980 / Gauss-Kruger: another datum
        spatialize(rows, SpatializeOptions(crs="http://www.opengis.net/def/crs/EPSG/0/2383"))
    # degrees declared as EPSG:4547 metres: converted as declared, far outside its area of use, so refused
    in_metres = spatialize(rows, SpatializeOptions(crs="http://www.opengis.net/def/crs/EPSG/0/4547")).report
    assert (in_metres.placed, in_metres.unresolved, in_metres.source_crs) == (0, 1, "EPSG:4547")
    assert "outside its area of use" in in_metres.unresolved_rows[0].reason
    with pytest.raises(UnknownCrsError, match="spatial.source_crs"):
        Layers(None, "https://x", lambda url: b"", options=SpatializeOptions(default_crs="Beijing 1954"))


def test_columns_named_twice_keep_both_values():
    rows = parse_data("名称,经度,纬度,名称\n汉口北,114.329481,30.711953,1号线\n".encode("gbk"), "text/csv", "d.csv")
    assert rows[0] == {"名称": "汉口北", "经度": "114.329481", "纬度": "30.711953", "名称_2": "1号线"}
    assert any("named twice" in n for n in rows.notes)
