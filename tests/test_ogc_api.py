"""OGC API Features at /ogc: each ETS assertion of Core and of Part 2 (CRS), on real Wuhan layers.

Assertion ids are those of ets-ogcapi-features10 (../shared/standards/ogc/ets-ogcapi-features10-tests.md).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timezone

import pyproj
import pytest

from ogc import coords
from ogc.features import LayerInfo
from ogc.spatialize import SpatializeOptions, spatialize, spatialize_file
from tests.conftest import shared_path

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
METRO = "test-metro"
DISTRICTS = "test-districts"
EVENTS = "test-events"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
CRS_CLASS = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
STATION = "汉口北"  # first row of the metro CSV: feature id "1"


def _fields(features) -> dict[str, str]:
    names = {k for f in features for k in (f["properties"] or {})}
    return {name: "string" for name in sorted(names)}


@pytest.fixture(scope="module")
def metro_source():
    path = shared_path("data", "wuhan", "wuhan_metro_stations_werifu_v1_with_missing_coords.csv")
    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    result = spatialize_file(path, SpatializeOptions(crs="GCJ-02"))
    return rows, result


@pytest.fixture(scope="module")
def ogc_layers(ogc_platform, metro_source):
    """Three layers put into the store and published as collections while the app serves."""
    features, ogc = ogc_platform.features, ogc_platform.ogc
    rows, metro = metro_source
    doc = json.loads(shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json").read_text("utf-8"))
    districts = spatialize(doc, SpatializeOptions(crs="GCJ-02"))
    events = [{"type": "Feature", "id": f"e{i}", "geometry": {"type": "Point", "coordinates": [114.3 + i / 100, 30.6]},
               "properties": {"name": f"活动{i}", "day": f"2024-0{i}-15"}} for i in range(1, 6)]
    infos = {
        METRO: features.put_layer(LayerInfo(METRO, None, "地铁站点", "Metro stations", fields=_fields(metro.features),
                                            report=metro.report.to_dict()), metro.features),
        DISTRICTS: features.put_layer(LayerInfo(DISTRICTS, None, "行政区", "Districts",
                                                fields={"name": "string", "adcode": "string"}), districts.features),
        EVENTS: features.put_layer(LayerInfo(EVENTS, None, "活动", "Events", fields={"name": "string", "day": "date"},
                                             datetime_field="day"), events),
    }
    for layer_id in infos:
        ogc.sync_layer(layer_id)
    yield {"infos": infos, "rows": rows, "metro": metro, "districts": districts}
    for layer_id in infos:
        features.drop_layer(layer_id)
        ogc.drop(layer_id)


@pytest.fixture(scope="module")
def client(ogc_platform, ogc_layers):
    from server.app import create_app

    app = create_app(platform=ogc_platform, start_workers=False)
    app.config["TESTING"] = True
    return app.test_client()


def _json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
    return response.get_json()


def _station(rows) -> tuple[float, float]:
    row = next(r for r in rows if r["station_name"] == STATION)
    return coords.gcj02_to_wgs84(float(row["longitude"]), float(row["latitude"]))


# -- Core: landing page, API definition, conformance ------------------------------------------
def test_ats1_req_core_http(client):
    response = client.get("/ogc/")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("rel", ["service-desc", "conformance", "data"])
def test_ats3_4_req_core_root_op_root_success_links(client, rel):
    page = _json(client, "/ogc/?f=json")
    links = [link for link in page["links"] if link["rel"] == rel]
    assert links and all("type" in link and link["href"].startswith("http") for link in links)


def test_ats5_6_req_core_api_definition_op_success(client):
    page = _json(client, "/ogc/?f=json")
    href = next(link["href"] for link in page["links"] if link["rel"] == "service-desc")
    path = href.split("/ogc", 1)[1].split("?")[0]
    document = _json(client, "/ogc" + path + "?f=json")
    assert document["openapi"].startswith("3.")
    assert f"/collections/{METRO}/items" in document["paths"]
    items = document["paths"][f"/collections/{METRO}/items"]["get"]["parameters"]
    names = {p.get("name") or p.get("$ref", "").rsplit("/", 1)[-1] for p in items}
    assert {"limit", "bbox", "datetime", "crs", "bbox-crs"} <= names
    limit = next(p for p in items if p.get("name") == "limit")
    assert limit["schema"] == {**limit["schema"], "minimum": 1, "maximum": 10000, "default": 10}


def test_ats7_8_req_core_conformance_op_success(client):
    conforms = _json(client, "/ogc/conformance?f=json")["conformsTo"]
    assert CORE in conforms and CRS_CLASS in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms
    assert any("ogcapi-records-1" in c for c in conforms)


# -- Core: collections ---------------------------------------------------------------------------
def test_ats9_req_core_fc_md_op(client):
    assert client.get("/ogc/collections?f=json").status_code == 200


def test_ats10_req_core_fc_md_success_links_items_extent_crs84(client, ogc_layers):
    doc = _json(client, "/ogc/collections?f=json")
    assert {"self", "alternate"} <= {link["rel"] for link in doc["links"]}
    by_id = {c["id"]: c for c in doc["collections"]}
    assert {METRO, DISTRICTS, EVENTS, "catalog"} <= set(by_id)
    for layer_id, info in ogc_layers["infos"].items():
        c = by_id[layer_id]
        assert any(link["rel"] == "items" and link["type"] == "application/geo+json" for link in c["links"])
        assert c["extent"]["spatial"]["crs"] == CRS84
        assert c["extent"]["spatial"]["bbox"] == [list(info.bbox)]
        minx, miny, maxx, maxy = info.bbox
        assert 113 < minx <= maxx < 116 and 29 < miny <= maxy < 32  # lon/lat order, Wuhan


def test_ats11_12_req_core_sfc_md_op_success(client):
    listed = next(c for c in _json(client, "/ogc/collections?f=json")["collections"] if c["id"] == METRO)
    single = _json(client, f"/ogc/collections/{METRO}?f=json")
    assert single["id"] == METRO and single["extent"] == listed["extent"] and single["title"] == listed["title"]


def test_sfc_md_unknown_collection_404(client):
    assert client.get("/ogc/collections/no-such-layer?f=json").status_code == 404
    assert client.get("/ogc/collections/no-such-layer/items?f=json").status_code == 404


# -- Core: items -----------------------------------------------------------------------------
def test_ats13_22_req_core_fc_op_fc_response(client, ogc_layers):
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json")
    assert doc["type"] == "FeatureCollection" and isinstance(doc["features"], list)
    assert all(f["type"] == "Feature" for f in doc["features"])


def test_ats2_req_core_crs84_default(client, ogc_layers):
    lon, lat = _station(ogc_layers["rows"])
    feature = _json(client, f"/ogc/collections/{METRO}/items/1?f=json")
    assert feature["properties"]["station_name"] == STATION
    x, y = feature["geometry"]["coordinates"][:2]
    assert abs(x - lon) < 1e-7 and abs(y - lat) < 1e-7


def test_ats23_req_core_fc_links_rel_type_next_prev(client, ogc_layers):
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=50&offset=50")
    rels = {link["rel"]: link for link in doc["links"]}
    assert {"self", "alternate", "next", "prev", "collection"} <= set(rels)
    assert all("type" in link for link in doc["links"])
    assert "offset=100" in rels["next"]["href"] and "offset=0" in rels["prev"]["href"]
    last = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=50&offset={ogc_layers['infos'][METRO].count - 10}")
    assert "next" not in {link["rel"] for link in last["links"]}


def test_ats24_req_core_fc_timestamp(client):
    before = datetime.now(timezone.utc)
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=1")
    stamp = datetime.fromisoformat(doc["timeStamp"].replace("Z", "+00:00"))
    assert abs((stamp - before).total_seconds()) < 30


def test_ats25_26_req_core_fc_numbermatched_numberreturned_by_paging(client, ogc_layers):
    rows, metro = ogc_layers["rows"], ogc_layers["metro"]
    expected = len(rows) - len(metro.report.unresolved_rows)
    assert metro.report.unresolved > 0 and expected == ogc_layers["infos"][METRO].count
    ids, offset = [], 0
    while True:
        doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=37&offset={offset}")
        assert doc["numberMatched"] == expected and doc["numberReturned"] == len(doc["features"]) <= 37
        ids += [f["id"] for f in doc["features"]]
        if not doc["features"]:
            break
        offset += 37
    assert len(ids) == len(set(ids)) == expected


@pytest.mark.parametrize("limit,status", [("1", 200), ("10000", 200), ("0", 400), ("-1", 400), ("abc", 400),
                                          ("1.5", 400), ("10001", 400)])
def test_ats16_17_req_core_fc_limit_definition_response(client, limit, status):
    response = client.get(f"/ogc/collections/{METRO}/items?f=json&limit={limit}")
    assert response.status_code == status
    if status == 200:
        doc = response.get_json()
        assert doc["numberReturned"] == len(doc["features"]) <= int(limit)


def test_ats14_15_req_core_fc_bbox_definition_response(client, ogc_layers):
    box = (114.25, 30.55, 114.32, 30.62)
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=1000&bbox={','.join(map(str, box))}")
    inside = {str(f["id"]) for f in ogc_layers["metro"].features
              if box[0] <= f["geometry"]["coordinates"][0] <= box[2] and box[1] <= f["geometry"]["coordinates"][1] <= box[3]}
    assert inside and {f["id"] for f in doc["features"]} == inside and doc["numberMatched"] == len(inside)
    six = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=1000&bbox={box[0]},{box[1]},0,{box[2]},{box[3]},10")
    assert six["numberMatched"] == len(inside)


def test_ats14_15_bbox_on_polygons(client, ogc_layers):
    doc = _json(client, f"/ogc/collections/{DISTRICTS}/items?f=json&bbox=114.30,30.58,114.31,30.59")
    names = {f["properties"]["name"] for f in doc["features"]}
    assert "江汉区" in names or "江岸区" in names
    assert "新洲区" not in names and doc["numberMatched"] < ogc_layers["infos"][DISTRICTS].count


@pytest.mark.parametrize("value,expected", [("2024-03-15", {"e3"}), ("2024-02-01/2024-04-30", {"e2", "e3", "e4"}),
                                            ("../2024-02-15", {"e1", "e2"}), ("2024-04-15T12:00:00Z/..", {"e4", "e5"}),
                                            ("2024-03-15T08:00:00%2B08:00", {"e3"}), ("2024-03-14T23:00:00Z", set())])
def test_ats18_19_req_core_fc_time_definition_response(client, value, expected):
    doc = _json(client, f"/ogc/collections/{EVENTS}/items?f=json&datetime={value}")
    assert {f["id"] for f in doc["features"]} == expected and doc["numberMatched"] == len(expected)


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=114,31,115,30", "bbox=nan,30,115,31",
                                   "datetime=yesterday", "datetime=2024-13-01", "datetime=2024-05-01/2024-01-01",
                                   "offset=-1", "offset=x", "offset=99999999999999999999999", "sortby=nope",
                                   "properties=nope", f"q={'长' * 500}", "filter=n%3D1", "crs=EPSG:4490",
                                   "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490"])
def test_ats20_req_core_query_param_invalid(client, query):
    response = client.get(f"/ogc/collections/{METRO}/items?f=json&{query}")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["description"]


def test_ats21_req_core_query_param_unknown(client):
    assert client.get(f"/ogc/collections/{METRO}/items?f=json&unknownparam=1").status_code == 400


def test_property_filter(client, ogc_layers):
    line = [f for f in ogc_layers["metro"].features if f["properties"]["metro_name"] == "2号线"]
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&limit=1000&metro_name=2号线")
    assert line and doc["numberMatched"] == len(line) and {f["id"] for f in doc["features"]} == {str(f["id"]) for f in line}


def test_ats27_28_29_req_core_f_op_success_links(client):
    feature = _json(client, f"/ogc/collections/{METRO}/items/1?f=json")
    assert feature["type"] == "Feature" and feature["id"] == "1"
    assert {"self", "alternate", "collection"} <= {link["rel"] for link in feature["links"]}
    assert client.get(f"/ogc/collections/{METRO}/items/no-such-feature?f=json").status_code == 404


# -- Part 2: CRS ---------------------------------------------------------------------------------
ALL_CRS = [EPSG + "4490", CRS84, EPSG + "4326", EPSG + "3857"]


def test_crs_discovery_collections_crs_uri_storage_crs(client):
    for c in _json(client, "/ogc/collections?f=json")["collections"]:
        if c["id"] == "catalog":
            continue
        assert set(ALL_CRS) <= set(c["crs"]) and c["storageCrs"] == EPSG + "4490"
    single = _json(client, f"/ogc/collections/{METRO}?f=json")
    assert single["crs"][:4] == ALL_CRS and single["storageCrs"] == EPSG + "4490"


def _expected(crs: str, lon: float, lat: float) -> tuple[float, float]:
    if crs in (EPSG + "4490", EPSG + "4326"):
        return lat, lon
    if crs == EPSG + "3857":
        return pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    return lon, lat


@pytest.mark.parametrize("crs", ALL_CRS)
def test_crs_fc_crs_definition_valid_value_header_action(client, ogc_layers, crs):
    lon, lat = _station(ogc_layers["rows"])
    want = _expected(crs, lon, lat)
    tolerance = 1e-7 if crs != EPSG + "3857" else 1e-3
    for url in (f"/ogc/collections/{METRO}/items?f=json&limit=1&crs={crs}", f"/ogc/collections/{METRO}/items/1?f=json&crs={crs}"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Content-Crs"] == f"<{crs}>"
        doc = response.get_json()
        feature = doc["features"][0] if "features" in doc else doc
        got = feature["geometry"]["coordinates"][:2]
        assert abs(got[0] - want[0]) < tolerance and abs(got[1] - want[1]) < tolerance, (crs, got, want)


def test_crs_fc_crs_default_value_header(client):
    response = client.get(f"/ogc/collections/{METRO}/items?f=json&limit=1")
    assert response.headers["Content-Crs"] == f"<{CRS84}>"
    assert client.get(f"/ogc/collections/{METRO}/items/1?f=json").headers["Content-Crs"] == f"<{CRS84}>"


@pytest.mark.parametrize("crs", [EPSG + "2000", "http://www.opengis.net/def/crs/EPSG/0/abc", "foo"])
def test_crs_fc_crs_valid_value_invalid_400(client, crs):
    assert client.get(f"/ogc/collections/{METRO}/items?f=json&crs={crs}").status_code == 400
    assert client.get(f"/ogc/collections/{METRO}/items/1?f=json&crs={crs}").status_code == 400


@pytest.mark.parametrize("crs", ALL_CRS)
def test_crs_fc_bbox_crs_definition_action(client, ogc_layers, crs):
    lon, lat = _station(ogc_layers["rows"])
    d = 0.002
    a = _expected(crs, lon - d, lat - d)
    b = _expected(crs, lon + d, lat + d)
    box = ",".join(str(v) for v in (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])))
    doc = _json(client, f"/ogc/collections/{METRO}/items?f=json&bbox={box}&bbox-crs={crs}")
    assert "1" in {f["id"] for f in doc["features"]}
    if crs in (EPSG + "4490", EPSG + "4326"):  # the same numbers read lon,lat find nothing: axis order matters
        swapped = ",".join(str(v) for v in (lon - d, lat - d, lon + d, lat + d))
        assert _json(client, f"/ogc/collections/{METRO}/items?f=json&bbox={swapped}&bbox-crs={crs}")["numberMatched"] == 0


def test_crs_fc_bbox_crs_default_value(client, ogc_layers):
    lon, lat = _station(ogc_layers["rows"])
    box = f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"
    assert "1" in {f["id"] for f in _json(client, f"/ogc/collections/{METRO}/items?f=json&bbox={box}")["features"]}


@pytest.mark.parametrize("bbox_crs", [EPSG + "2000", "foo", ""])
def test_crs_bbox_crs_parameter_invalid(client, bbox_crs):
    assert client.get(f"/ogc/collections/{METRO}/items?f=json&bbox=114,30,115,31&bbox-crs={bbox_crs}").status_code == 400


def test_second_request_builds_no_transformer(client, monkeypatch):
    urls = [f"/ogc/collections/{METRO}/items?f=json&limit=5&crs={crs}&bbox=113,29,116,32" for crs in ALL_CRS]
    urls += [f"/ogc/collections/{METRO}/items?f=json&limit=5&bbox=29,113,32,116&bbox-crs={EPSG}4490"]
    for url in urls:
        assert client.get(url).status_code == 200
    built = []
    original = pyproj.Transformer.__init__

    def counting(self, *args, **kwargs):
        built.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pyproj.Transformer, "__init__", counting)
    crs_made = []
    original_crs = pyproj.CRS.__init__
    monkeypatch.setattr(pyproj.CRS, "__init__", lambda self, *a, **k: (crs_made.append(a), original_crs(self, *a, **k))[1])
    for url in urls:
        assert client.get(url).status_code == 200
    assert built == [] and crs_made == []


# -- collections added and removed while serving, HTML, whole-layer GeoJSON ----------------------------
def test_collection_added_and_removed_without_restart(client, ogc_platform, ogc_layers):
    features, ogc = ogc_platform.features, ogc_platform.ogc
    subset = ogc_layers["metro"].features[:7]
    features.put_layer(LayerInfo("test-live", None, "临时", "Live", fields={"station_name": "string"}), subset)
    ogc.sync_layer("test-live")
    ids = {c["id"] for c in _json(client, "/ogc/collections?f=json")["collections"]}
    assert "test-live" in ids
    assert _json(client, "/ogc/collections/test-live/items?f=json")["numberMatched"] == 7
    assert "/collections/test-live/items" in _json(client, "/ogc/openapi?f=json")["paths"]
    features.drop_layer("test-live")
    ogc.drop("test-live")
    assert "test-live" not in {c["id"] for c in _json(client, "/ogc/collections?f=json")["collections"]}
    assert client.get("/ogc/collections/test-live?f=json").status_code == 404
    assert client.get("/ogc/collections/test-live/items?f=json").status_code == 404


@pytest.mark.parametrize("path", ["/ogc/", "/ogc/conformance", "/ogc/collections", f"/ogc/collections/{METRO}",
                                  f"/ogc/collections/{METRO}/items", f"/ogc/collections/{METRO}/items/1",
                                  f"/ogc/collections/{METRO}/queryables", "/ogc/openapi"])
def test_html_pages_load_nothing_from_elsewhere(client, path):
    response = client.get(path + "?f=html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", page), page[:500]


def test_queryables_list_the_layer_fields(client, ogc_layers):
    doc = _json(client, f"/ogc/collections/{METRO}/queryables?f=json")
    assert {"station_name", "metro_name"} <= set(doc["properties"])


def test_whole_layer_geojson_download(client, ogc_layers):
    response = client.get(f"/layers/{METRO}.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    doc = json.loads(response.get_data(as_text=True))
    assert len(doc["features"]) == ogc_layers["infos"][METRO].count
    assert client.get("/layers/no-such-layer.geojson").status_code == 404
