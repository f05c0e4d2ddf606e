"""A messy address table of real Wuhan places, written by hand: 0 silently wrong, precision counted.

Each row gives the district the place really lies in (None for a functional area spanning several) and what
the platform must do with it: place it (at which precision) or leave it unresolved with a reason. A placed
point is checked against the real district polygons (DataV, GCJ-02, converted): a point in another district
than the true one, not flagged, would be "silently wrong".
"""

from __future__ import annotations

import json

import pytest

from ogc.boundary import Boundary
from ogc.datafiles import parse_data
from ogc.geocode import GazetteerGeocoder
from ogc.spatialize import PRECISION, SpatializeOptions, spatialize
from tests.conftest import shared_path

# 名称, 地址, true district (None: a functional area over several), expected precision or "unresolved"
TABLE = [
    ("协和医院", "武汉市江汉区解放大道1277号", "江汉区", "street"),
    ("同济医院", "湖北省武汉市硚口区解放大道1095号", "硚口区", "street"),
    ("湖北省人民医院", "武昌区解放路238号", "武昌区", "district-centroid"),       # 解放路 not known: the district
    ("中南医院", "武昌区东湖路169号", "武昌区", "area"),
    ("华中科技大学", "洪山区珞喻路1037号", "洪山区", "street"),          # 华中科技大学 is in the name, not the address
    ("光谷广场", "光谷广场", "洪山区", "area"),                                   # no district
    ("光谷生物城", "东湖新技术开发区高新大道666号", None, "area"),               # a functional area, no district
    ("软件园", "高新区光谷一路", None, "area"),
    ("光谷某园区", "江夏区光谷大道", "江夏区", "district-centroid"),            # 光谷 in 江夏区: the district
    ("东风公司", "沌口经济开发区东风大道", None, "area"),
    ("沌口某厂", "汉阳区沌口", "汉阳区", "district-centroid"),
    ("磨山", "东湖生态旅游风景区磨山", None, "area"),
    ("临空港某企业", "东西湖区临空港大道", "东西湖区", "area"),
    ("纱帽", "武汉经济技术开发区（汉南区）纱帽街", "汉南区", "area"),           # the smaller place wins
    ("两个院区", "江汉区解放大道1277号；武昌区中南路99号", None, "unresolved"),  # two addresses in one cell
    ("两个车站", "汉口站、武昌站", None, "unresolved"),
    ("两区", "江岸区 武昌区", None, "unresolved"),                                # names two districts
    ("错区1", "武昌区解放大道1277号", None, "unresolved"),                      # 解放大道 is not in 武昌区
    ("错区2", "汉阳区珞喻路", None, "unresolved"),
    ("错区3", "青山区江汉路", None, "unresolved"),
    ("错区4", "江夏区沌口", None, "unresolved"),                                # 经开区 does not reach 江夏区
    ("无区长路", "中山大道818号", None, "unresolved"),                          # runs through three districts
    ("中山大道江岸段", "江岸区中山大道1505号", "江岸区", "street"),
    ("天河机场", "武汉天河国际机场T3航站楼", "黄陂区", "area"),
    ("前川", "黄陂区前川街", "黄陂区", "area"),
    ("邾城", "新洲区邾城街", "新洲区", "area"),
    ("某村", "蔡甸区某某村", "蔡甸区", "district-centroid"),
    ("市政府", "武汉市", None, "unresolved"),                                   # only the city
    ("武昌站", "武昌站", "武昌区", "area"),
    ("江汉路", "江汉路步行街", "江汉区", "street"),
    ("古田", "硚口区古田二路", "硚口区", "area"),
    ("不知道", "某某路88号", None, "unresolved"),
    ("空", "", None, "unresolved"),
    ("户部巷", "武昌区户部巷", "武昌区", "area"),
    ("武汉站", "洪山区武汉站东广场", "洪山区", "area"),
]


@pytest.fixture(scope="module")
def districts() -> Boundary:
    path = shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json")
    return Boundary.from_geojson(json.loads(path.read_text(encoding="utf-8")), "GCJ02", name="districts")


def _csv_gbk() -> bytes:
    lines = ["名称,地址"] + [f'{name},"{address}"' for name, address, _, _ in TABLE]
    return "\n".join(lines).encode("gbk")


def test_messy_addresses_zero_silently_wrong_precision_counted(districts):
    rows = parse_data(_csv_gbk(), "text/csv", "hospitals.csv")
    result = spatialize(rows, SpatializeOptions(geocoder=GazetteerGeocoder(), districts=districts))
    report = result.report
    placed = {f["id"]: f for f in result.features}
    unresolved = {issue.row: issue.reason for issue in report.unresolved_rows}
    flagged = {issue.row for issue in report.flagged_rows}
    silently_wrong, outcomes = [], []
    for number, (name, address, truth, expected) in enumerate(TABLE, start=1):
        feature = placed.get(number)
        outcome = feature["properties"][PRECISION] if feature else "unresolved"
        outcomes.append((name, outcome))
        if feature and truth and number not in flagged:
            if districts.part_of(*feature["geometry"]["coordinates"]) != truth:
                silently_wrong.append(name)
    assert silently_wrong == []
    assert outcomes == [(name, expected) for name, _, _, expected in TABLE]
    counts = {p: sum(1 for *_, e in TABLE if e == p) for p in ("exact", "street", "area", "district-centroid")}
    assert report.precision == {p: n for p, n in counts.items() if n}
    assert (report.placed, report.unresolved) == (sum(counts.values()), len(TABLE) - sum(counts.values()))
    assert "holds 2 addresses" in unresolved[15] and "names 武昌区, but 解放大道 lies in" in unresolved[18]
    assert "runs through" in unresolved[22] and "names only the city" in unresolved[28]


def test_a_named_district_is_checked_against_the_polygons_whatever_the_geocoder(districts):
    """A geocoder that answers a point in another district than the one named: unresolved, never placed."""
    from ogc.geocode import GeocodeResult

    class Wrong:
        name = "wrong"

        def geocode(self, address):
            return GeocodeResult(114.3055, 30.5928, "wrong", "somewhere", "门址")   # a point in 江岸区

    rows = [{"地址": "武昌区中南路99号"}, {"地址": "江岸区沿江大道188号"}]
    report = spatialize(rows, SpatializeOptions(geocoder=Wrong(), districts=districts)).report
    assert report.placed == 1 and report.precision == {"exact": 1}
    assert [i.row for i in report.unresolved_rows] == [1]
    assert "names 武昌区, but somewhere was found in 江岸区" in report.unresolved_rows[0].reason
