"""Data files in a projected system given by EPSG code (Gauss–Krüger CGCS2000 zones, UTM) are converted to
CGCS2000 in the CRS's own axis order; a point outside the CRS's area of use is refused with the reason.

The points are projected here with pyproj directly from known Wuhan places (CGCS2000 = WGS84 lon/lat), in the
axis order the EPSG register gives (EPSG:4547: northing X first), not through ogc.projected.
"""

from __future__ import annotations

import csv
import io
import json

import pyproj
import pytest

from tests.conftest import admin_headers

from ogc.coords import haversine_m
from ogc.datafiles import parse_data
from ogc.spatialize import SpatializeOptions, UnknownCrsError, spatialize

PLACES = {  # name: (lon, lat), CGCS2000
    "黄鹤楼": (114.3022, 30.5446), "武汉站": (114.4244, 30.6075), "汉口站": (114.2559, 30.6183),
    "武汉大学": (114.3655, 30.5372), "天河机场": (114.2081, 30.7838), "光谷广场": (114.3980, 30.5057),
}


def _project(code: int, lon: float, lat: float) -> tuple[float, float]:
    """Return the point in the CRS's own axis order (always_xy=False: as EPSG defines it)."""
    return pyproj.Transformer.from_crs(4490, code, always_xy=False).transform(lat, lon)


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _worst(result, truth) -> float:
    return max(haversine_m(*f["geometry"]["coordinates"], *truth[f["properties"]["名称"]])
               for f in result.features)


@pytest.mark.parametrize("code", [4547, 32650])
def test_gauss_kruger_and_utm_columns_round_trip_under_a_centimetre(code):
    first_north = pyproj.CRS.from_epsg(code).axis_info[0].direction == "north"
    projected = {name: _project(code, *p) for name, p in PLACES.items()}
    # the same table four ways: axis names (X/Y or E/N), meaning (东坐标/北坐标), no header, one pair column
    axes = [a.abbrev for a in pyproj.CRS.from_epsg(code).axis_info]
    forms = {
        "axis names": _csv(["名称", *axes], [[n, f"{a:.4f}", f"{b:.4f}"] for n, (a, b) in projected.items()]),
        "axis names reversed": _csv(["名称", *axes[::-1]], [[n, f"{b:.4f}", f"{a:.4f}"]
                                                           for n, (a, b) in projected.items()]),
        "meaning": _csv(["名称", "北坐标", "东坐标"], [[n, *((f"{a:.4f}", f"{b:.4f}") if first_north else
                                                         (f"{b:.4f}", f"{a:.4f}"))] for n, (a, b) in projected.items()]),
        "pair in the CRS's order": _csv(["名称", "坐标"], [[n, f"{a:.4f} {b:.4f}"] for n, (a, b) in projected.items()]),
    }
    for label, raw in forms.items():
        result = spatialize(parse_data(raw, "text/csv", "survey.csv"), SpatializeOptions(crs=f"EPSG:{code}"))
        report = result.report
        assert (report.placed, report.unresolved, report.source_crs) == (len(PLACES), 0, f"EPSG:{code}"), (
            label, report.unresolved_rows, report.notes)
        assert _worst(result, PLACES) < 0.01, label
        assert report.methods == {f"coordinates:EPSG:{code}": len(PLACES)}


def test_a_table_without_header_is_read_by_its_values():
    rows = [[n, *(f"{v:.3f}" for v in _project(4547, *p))] for n, p in PLACES.items()]
    raw = _csv(None, rows)
    result = spatialize(parse_data(raw, "text/csv", "survey.csv"), SpatializeOptions(crs="EPSG:4547"))
    assert result.report.placed == len(PLACES)
    assert any("by their values" in note for note in result.report.notes)
    truth = {n: PLACES[n] for n in PLACES}
    assert max(haversine_m(*f["geometry"]["coordinates"], *truth[f["properties"]["列1"]])
               for f in result.features) < 0.01


def test_points_outside_the_area_of_use_are_refused_with_the_reason():
    # 黄鹤楼 (114.30°E) projected in UTM zone 49N, whose area of use is 108–114°E; 宜昌 (111.29°E) lies in it
    utm49 = pyproj.Transformer.from_crs(4490, 32649, always_xy=True).transform
    rows = [{"名称": name, "E": f"{e:.3f}", "N": f"{n:.3f}"}
            for name, (e, n) in (("黄鹤楼", utm49(*PLACES["黄鹤楼"])), ("宜昌", utm49(111.29, 30.70)))]
    report = spatialize(rows, SpatializeOptions(crs="EPSG:32649")).report
    assert (report.placed, report.unresolved) == (1, 1)
    assert report.unresolved_rows[0].row == 1 and "outside its area of use 108–114°E" in report.unresolved_rows[0].reason
    # metres of the CM 111°E zone (EPSG:4546) declared as EPSG:4548 (CM 117°E) are a valid point 6° east, in
    # 4548's area of use: nothing in the numbers tells the zones apart, so the point is placed and flagged
    x, y = _project(4546, 111.29, 30.70)
    wrong = spatialize([{"名称": "宜昌", "X": f"{x:.3f}", "Y": f"{y:.3f}"}], SpatializeOptions(crs="EPSG:4548"))
    assert (wrong.report.placed, wrong.report.flagged) == (1, 1)
    assert wrong.report.flagged_rows[0].reason == "outside Wuhan's extent"
    right = spatialize([{"名称": "宜昌", "X": f"{x:.3f}", "Y": f"{y:.3f}"}], SpatializeOptions(crs="EPSG:4546"))
    assert haversine_m(*right.features[0]["geometry"]["coordinates"], 111.29, 30.70) < 0.01


def test_declared_names_and_refused_datums():
    from ontology.crs import crs_iri

    assert crs_iri("EPSG:4547") == "http://www.opengis.net/def/crs/EPSG/0/4547"
    assert crs_iri("CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547)") == "http://www.opengis.net/def/crs/EPSG/0/4547"
    assert crs_iri("CGCS2000 3度带高斯投影") is None  # a projected name without its code is not read as CGCS2000
    with pytest.raises(UnknownCrsError, match="2383"):  # Xian 1980 / Gauss-Kruger: another datum, not converted
        spatialize([{"X": "3380525", "Y": "528997"}], SpatializeOptions(crs="EPSG:2383"))


def test_geojson_in_a_projected_system():
    x, y = _project(4547, *PLACES["黄鹤楼"])
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "黄鹤楼"}, "geometry": {"type": "Point", "coordinates": [y, x]}},
        {"type": "Feature", "properties": {"名称": "错"}, "geometry": {"type": "Point", "coordinates": [x, y]}}]}
    result = spatialize(doc, SpatializeOptions(crs="http://www.opengis.net/def/crs/EPSG/0/4547"))
    assert (result.report.placed, result.report.unresolved) == (1, 1)  # (easting, northing), as GDAL writes
    assert haversine_m(*result.features[0]["geometry"]["coordinates"], *PLACES["黄鹤楼"]) < 0.01
    assert "outside its area of use" in result.report.unresolved_rows[0].reason
    # undeclared, but the file's legacy crs member names it (as GDAL writes it)
    named = spatialize({**doc, "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}}})
    assert (named.report.placed, named.report.source_crs, named.report.crs_source) == (1, "EPSG:4547", "geojson")


def test_a_pushed_record_declaring_epsg_4547_gets_its_layer(tmp_path):
    """Declared in a push (china-core 坐标系), read from the department's file server, published in CGCS2000."""
    from config import load_settings
    from server.app import create_app
    from server.platform import Platform
    from tests.datafile_server import FileServer

    files = FileServer()
    files.files["/survey.csv"] = _csv(["名称", "X", "Y"], [[n, *(f"{v:.4f}" for v in _project(4547, *p))]
                                                         for n, p in PLACES.items()])
    settings = load_settings({}, overrides={"csw": {"enabled": False}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        client = create_app(platform=platform, start_workers=False).test_client()
        headers = {"Authorization": f"Bearer {platform.accounts.create('D017')[1]}"}
        record = {"资源名称": "武汉市测绘控制点（投影坐标）", "资源代码": "420100-D017-09201", "资源提供方": "武汉市交通运输局",
                  "资源摘要": "控制点。", "资源分类": "交通运输", "开放类型": "无条件开放", "更新周期": "每年",
                  "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv", "关键字": "测绘",
                  "联系方式": "027-85123456", "坐标系": "EPSG:4547", "空间范围": "113.68,29.97,115.08,31.36",
                  "资源文件": [{"文件名称": "点表", "文件格式": "CSV", "下载地址": f"{files.url}/survey.csv"}]}
        answer = client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False).encode(),
                             content_type="application/json", headers=headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        dataset_id = answer.get_json()["published"][0]["id"]
        report = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(platform)).get_json()["report"]
        assert (report["placed"], report["source_crs"], report["crs_source"]) == (len(PLACES), "EPSG:4547", "dataset")
        items = client.get(f"/ogc/collections/{dataset_id}/items?limit=100&f=json").get_json()["features"]
        assert max(haversine_m(*f["geometry"]["coordinates"], *PLACES[f["properties"]["名称"]]) for f in items) < 0.01
    finally:
        platform.close()
        files.close()


def test_settings_may_name_a_projected_default():
    from ogc.layers import Layers

    Layers(None, "https://x", lambda url: b"", options=SpatializeOptions(default_crs="EPSG:4547"))
    rows = [{"名称": "黄鹤楼", "X": "%.4f" % _project(4547, *PLACES["黄鹤楼"])[0],
             "Y": "%.4f" % _project(4547, *PLACES["黄鹤楼"])[1]}]
    report = spatialize(rows, SpatializeOptions(default_crs="EPSG:4547")).report
    assert (report.placed, report.crs_source) == (1, "settings")
