"""Boundary files: GeoJSON or TopoJSON, checked valid (repaired with a report, or refused), named parts."""

from __future__ import annotations

import csv
import json

import pytest

from ogc.boundary import Boundary, BoundaryFileError, load_boundary
from ogc.spatialize import SpatializeOptions, spatialize
from tests.conftest import shared_path


def _wuhan(name):
    return shared_path("data", "wuhan", name)


def _topojson(doc: dict, quantize: int | None) -> dict:
    """Write a GeoJSON FeatureCollection of (Multi)Polygons as TopoJSON: one arc per ring, optionally quantized."""
    arcs, geometries = [], []
    xs = [p[0] for f in doc["features"] for poly in f["geometry"]["coordinates"] for ring in poly for p in ring]
    ys = [p[1] for f in doc["features"] for poly in f["geometry"]["coordinates"] for ring in poly for p in ring]
    scale = ((max(xs) - min(xs)) / (quantize - 1), (max(ys) - min(ys)) / (quantize - 1)) if quantize else None

    def arc(ring):
        if not scale:
            arcs.append([list(p) for p in ring])
        else:
            q = [(round((x - min(xs)) / scale[0]), round((y - min(ys)) / scale[1])) for x, y in ring]
            arcs.append([list(q[0])] + [[b[0] - a[0], b[1] - a[1]] for a, b in zip(q, q[1:])])
        return len(arcs) - 1

    for feature in doc["features"]:
        polys = [[[arc(ring)] for ring in poly] for poly in feature["geometry"]["coordinates"]]
        geometries.append({"type": "MultiPolygon", "arcs": polys, "properties": feature["properties"]})
    topo = {"type": "Topology", "objects": {"areas": {"type": "GeometryCollection", "geometries": geometries}},
            "arcs": arcs}
    if scale:
        topo["transform"] = {"scale": list(scale), "translate": [min(xs), min(ys)]}
    return topo


@pytest.fixture(scope="module")
def stations():
    with _wuhan("wuhan_metro_stations_werifu.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_topojson_boundary_tells_the_same_districts_as_geojson(tmp_path, stations):
    doc = json.loads(_wuhan("wuhan_districts_420100_full_datav.json").read_text(encoding="utf-8"))
    geojson = Boundary.from_geojson(doc, "GCJ02")
    plain = tmp_path / "districts.topojson"
    plain.write_text(json.dumps(_topojson(doc, None)), encoding="utf-8")
    exact = load_boundary(plain, "GCJ-02")
    quantized = Boundary.from_geojson(_topojson(doc, 1_000_000), "GCJ02")
    assert [name for name, _ in exact.parts] == [f["properties"]["name"] for f in doc["features"]]
    result = spatialize(stations, SpatializeOptions(crs="GCJ02"))
    points = [f["geometry"]["coordinates"] for f in result.features]
    assert [exact.part_of(*p) for p in points] == [geojson.part_of(*p) for p in points]
    assert [quantized.part_of(*p) for p in points] == [geojson.part_of(*p) for p in points]
    assert len(exact.repairs) == len(geojson.repairs) == 3        # 汉南区, 江夏区, 新洲区 self-intersect


def test_points_flagged_against_the_real_outline_not_the_rectangle():
    city = load_boundary(_wuhan("wuhan_city_420100_datav_boundary.json"), "GCJ-02")
    assert city.repairs and "repaired with make_valid" in city.repairs[0]
    rows = [{"lon": "114.30", "lat": "30.60"},     # 江汉区
            {"lon": "113.72", "lat": "31.30"},     # inside the extent rectangle, outside the city (孝感)
            {"lon": "114.98", "lat": "29.99"}]     # inside the rectangle, outside the city (鄂州/咸宁 side)
    report = spatialize(rows, SpatializeOptions(crs="CGCS2000", boundary=city)).report
    assert [i.row for i in report.flagged_rows] == [2, 3]
    assert spatialize(rows, SpatializeOptions(crs="CGCS2000")).report.flagged == 0   # the rectangle misses both


def test_a_polygon_that_cannot_be_repaired_is_refused():
    line_like = {"type": "Feature", "properties": {"name": "线"},
                 "geometry": {"type": "Polygon", "coordinates": [[[114.0, 30.0], [114.1, 30.1], [114.0, 30.0],
                                                                  [114.1, 30.1]]]}}
    with pytest.raises(BoundaryFileError, match="线.*cannot be repaired"):
        Boundary.from_geojson({"type": "FeatureCollection", "features": [line_like]})
    result = spatialize({"type": "FeatureCollection", "features": [line_like]}, SpatializeOptions(crs="CGCS2000"))
    assert (result.report.placed, result.report.unresolved) == (0, 1)
    assert "refused" in result.report.unresolved_rows[0].reason
