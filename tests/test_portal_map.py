"""The portal's maps without a browser: the settings each page hands to map.js, the offline base map, /map.

What the browser then does with them is tests/test_browser_map.py.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from config import load_settings
from ogc.coords import WUHAN_EXTENT, gcj02_to_wgs84
from ogc.features import LayerInfo, open_feature_store
from server.app import create_app
from server.platform import Platform
from tests.catalog_samples import SAMPLES, fill_store
from tests.test_portal import HTML, Page

ROOT = Path(__file__).resolve().parents[1]
BUS, SCHOOLS = SAMPLES[0], SAMPLES[1]
KEY = "test-key-0123456789abcdef"
STOPS = [(114.30, 30.60), (114.27, 30.58), (114.33, 30.55)]


def point_features(points, prefix="stop"):
    return [{"type": "Feature", "id": f"{prefix}-{n}", "geometry": {"type": "Point", "coordinates": list(p)},
             "properties": {"name": f"{prefix} {n}"}} for n, p in enumerate(points, 1)]


def put_layers(platform) -> None:
    """Give the sample catalogue two layers: bus stops (3 points) and school areas (2 polygons)."""
    if platform.features is None:
        platform.features = open_feature_store(platform.settings)
    platform.features.put_layer(LayerInfo(BUS.id, BUS.uri, BUS.title_zh, BUS.title_en, geometry_type="Point"),
                                point_features(STOPS))
    squares = [{"type": "Feature", "id": f"area-{n}", "properties": {"name": f"学区 {n}"},
                "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + .05, y], [x + .05, y + .05],
                                                                 [x, y + .05], [x, y]]]}}
               for n, (x, y) in enumerate([(114.2, 30.5), (114.4, 30.6)], 1)]
    platform.features.put_layer(LayerInfo(SCHOOLS.id, SCHOOLS.uri, SCHOOLS.title_zh, SCHOOLS.title_en,
                                          geometry_type="Polygon"), squares)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    # page views are counted, and a flush between two requests changes the page's counts (and its ETag):
    # counts are written at close here (not every 5 s), so a revalidation sees the same page unless settings change
    settings = load_settings({}, overrides={"services": {"usage_flush_s": 3600}},
                             home=tmp_path_factory.mktemp("map-home"))
    platform = Platform.open(settings, start_workers=False)
    fill_store(platform.store)
    put_layers(platform)
    yield platform
    platform.close()


def client_for(platform, environ=None, **sections):
    """A test client over the same catalogue and layers with other settings (environ for secrets)."""
    settings = load_settings(environ or {}, overrides=sections, home=platform.settings.home)
    app = create_app(platform=replace(platform, settings=settings))
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def client(platform):
    return client_for(platform)


def get_page(client, url: str) -> tuple[Page, str]:
    response = client.get(url, headers=HTML)
    assert response.status_code == 200, url
    text = response.get_data(as_text=True)
    return Page(text), text


def map_config(p: Page) -> dict:
    return json.loads(next(body for attrs, body in p.scripts if attrs.get("id") == "map-config"))


def assert_only_local_assets(p: Page) -> None:
    scripts = [a["src"] for t, a in p.tags if t == "script" and "src" in a]
    sheets = [a["href"] for t, a in p.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert "/static/vendor/leaflet/leaflet.js" in scripts and "/static/map.js" in scripts
    assert "/static/vendor/leaflet/leaflet.css" in sheets
    for url in scripts + sheets:
        assert url.startswith("/static/"), url


# -- the dataset page --------------------------------------------------------------------------
def test_a_dataset_with_a_layer_shows_it_on_an_offline_map_without_a_key(client):
    p, text = get_page(client, f"/datasets/{BUS.id}")
    assert p.by_id["map-caption"] == "正在加载要素…"
    assert "地图" in p.by_id["map-section"]
    config = map_config(p)
    assert config["tianditu"] is None
    assert "tianditu.gov.cn" not in text and "tk=" not in text
    assert config["basemap"] == "/map/basemap.geojson"
    [layer] = config["layers"]
    assert layer["id"] == BUS.id and layer["count"] == 3 and layer["title"] == "公交车线路信息"
    assert layer["items"] == f"/ogc/collections/{BUS.id}/items?f=json&limit=3"
    assert config["view"] == pytest.approx([114.27, 30.55, 114.33, 30.60])
    assert config["words"]["map_shown"] == "显示 {n} 个要素"
    assert config["crs"] == "EPSG4326" and config["zoom_offset"] == 1
    assert_only_local_assets(p)
    assert any(a.get("href") == f"/map?layer={BUS.id}" for a in p.links())


def test_the_dataset_map_speaks_english(client):
    p, _ = get_page(client, f"/datasets/{BUS.id}?lang=en")
    config = map_config(p)
    assert config["layers"][0]["title"] == "Bus route information"
    assert config["words"]["map_shown"] == "{n} features shown"
    assert "Map" in p.by_id["map-section"]


def test_a_dataset_without_a_layer_has_no_map(client):
    p, text = get_page(client, f"/datasets/{SAMPLES[2].id}")
    assert "map" not in p.by_id and "map-section" not in p.by_id
    assert "leaflet" not in text


def test_the_items_limit_is_the_layer_count_up_to_the_largest_page(platform):
    client = client_for(platform, features={"max_limit": 2})
    p, _ = get_page(client, f"/datasets/{BUS.id}")
    assert map_config(p)["layers"][0]["items"].endswith("limit=2")


@pytest.mark.parametrize("layers, labels, matrix_set, crs", [
    ("vec", "cva", "c", "EPSG4326"), ("img", "cia", "c", "EPSG4326"),
    ("vec", "cva", "w", "EPSG3857"), ("img", "cia", "w", "EPSG3857")])
def test_with_a_key_the_map_uses_tianditu_tiles(platform, caplog, layers, labels, matrix_set, crs):
    client = client_for(platform, {"WODP_TIANDITU__KEY": KEY, "WODP_TIANDITU__LAYERS": layers,
                                   "WODP_TIANDITU__MATRIX_SET": matrix_set})
    with caplog.at_level(logging.DEBUG):
        p, _ = get_page(client, f"/datasets/{BUS.id}")
    config = map_config(p)
    tianditu = config["tianditu"]
    assert tianditu["layers"] == [layers, labels] and tianditu["subdomains"] == "01234567"
    base, notes = tianditu["templates"]
    assert base == (f"https://t{{s}}.tianditu.gov.cn/{layers}_{matrix_set}/wmts?SERVICE=WMTS&REQUEST=GetTile"
                    f"&VERSION=1.0.0&LAYER={layers}&STYLE=default&TILEMATRIXSET={matrix_set}&FORMAT=tiles"
                    f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={KEY}")
    assert notes == base.replace(f"{layers}_", f"{labels}_").replace(f"LAYER={layers}", f"LAYER={labels}")
    assert config["crs"] == crs
    assert config["zoom_offset"] == (1 if matrix_set == "c" else 0)  # Tianditu level 1 = Leaflet zoom 0 on c
    assert KEY not in caplog.text
    assert_only_local_assets(p)


def test_the_key_is_url_encoded_and_the_map_page_carries_it_too(platform):
    client = client_for(platform, {"WODP_TIANDITU__KEY": "a&b c", "WODP_TIANDITU__URL": "http://127.0.0.1:9/"})
    p, _ = get_page(client, "/map")
    template = map_config(p)["tianditu"]["templates"][0]
    assert template.startswith("http://127.0.0.1:9/vec_c/wmts?") and template.endswith("&tk=a%26b%20c")


# -- the offline base map -----------------------------------------------------------------------
def gazetteer_districts() -> list[dict]:
    return json.loads((ROOT / "ogc" / "gazetteer.json").read_text("utf-8"))["districts"]


def test_the_offline_base_map_has_the_13_districts_named_each_around_its_seat(client):
    response = client.get("/map/basemap.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    doc = response.get_json()
    assert doc["approximate"] is True
    features = {f["properties"]["name"]: f for f in doc["features"]}
    seats = {d["name"]: d for d in gazetteer_districts()}
    assert len(doc["features"]) == 13 and set(features) == set(seats)
    west, south, east, north = WUHAN_EXTENT
    shapes = []
    for name, feature in features.items():
        assert feature["properties"]["approximate"] is True
        assert feature["properties"]["code"] == seats[name]["code"]
        polygon = shape(feature["geometry"])
        assert polygon.contains(Point(seats[name]["lon"], seats[name]["lat"])), name
        assert polygon.contains(Point(feature["properties"]["label_lon"], feature["properties"]["label_lat"]))
        minx, miny, maxx, maxy = polygon.bounds
        assert west - 1e-6 <= minx and maxx <= east + 1e-6 and south - 1e-6 <= miny and maxy <= north + 1e-6
        shapes.append(polygon)
    union = unary_union(shapes)
    assert sum(s.area for s in shapes) == pytest.approx(union.area, rel=1e-6)  # no overlaps
    assert union.area > 0.8  # square degrees: the city is about 1.2 (8,500 km²)
    assert client.get("/map/basemap.geojson", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_a_boundary_file_in_settings_replaces_the_approximation(platform, tmp_path):
    rings = {"甲区": [[114.2, 30.5], [114.3, 30.5], [114.3, 30.6], [114.2, 30.6], [114.2, 30.5]],
             "乙区": [[114.3, 30.5], [114.4, 30.5], [114.4, 30.6], [114.3, 30.6], [114.3, 30.5]]}
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name, "adcode": 420190 + n},
         "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]}} for n, (name, ring) in enumerate(rings.items())]}
    path = tmp_path / "districts.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    client = client_for(platform, spatial={"boundary_file": str(path), "boundary_crs": "GCJ-02"})
    served = client.get("/map/basemap.geojson").get_json()
    assert served["approximate"] is False
    assert [f["properties"]["name"] for f in served["features"]] == ["甲区", "乙区"]
    assert [f["properties"]["code"] for f in served["features"]] == ["420190", "420191"]
    west, south, _, _ = shape(served["features"][0]["geometry"]).bounds
    expected = gcj02_to_wgs84(114.2, 30.5)  # converted from GCJ-02 to CGCS2000: about 500 m south-west
    assert (west, south) == pytest.approx(expected, abs=2e-5)
    assert 114.2 - west > 3e-3


def test_an_unreadable_boundary_file_is_a_clear_server_error(platform, tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text("{not json", "utf-8")
    client = client_for(platform, spatial={"boundary_file": str(path)})
    response = client.get("/map/basemap.geojson")
    assert response.status_code == 500
    assert "broken.geojson" in response.get_json()["detail"]


# -- the map page -------------------------------------------------------------------------------
def test_the_map_page_lists_every_layer_with_its_count_and_dataset_link(client, platform):
    p, text = get_page(client, "/map")
    items = [a for t, a in p.tags if t == "li" and "data-layer" in a]
    assert [a["data-layer"] for a in items] == sorted(i.id for i in platform.features.layers()
                                                      if i.kind == "feature")
    assert [a["data-layer"] for a in items] == [BUS.id, SCHOOLS.id]
    for sample, count in ((BUS, 3), (SCHOOLS, 2)):
        assert sample.title_zh in text and f"{count} 个要素" in text
        assert any(a.get("href") == f"/datasets/{sample.id}" for a in p.links())
    boxes = {a["value"]: "checked" in a for t, a in p.tags if t == "input" and a.get("type") == "checkbox"}
    assert boxes == {BUS.id: True, SCHOOLS.id: False}  # the first layer is on
    config = map_config(p)
    assert [(layer["id"], layer["count"]) for layer in config["layers"]] == [(BUS.id, 3), (SCHOOLS.id, 2)]
    assert config["layers"][0]["color"] != config["layers"][1]["color"]
    assert_only_local_assets(p)


def test_the_map_page_switches_on_the_layers_asked_for(client):
    p, _ = get_page(client, f"/map?layer={SCHOOLS.id}&lang=en")
    boxes = {a["value"]: "checked" in a for t, a in p.tags if t == "input" and a.get("type") == "checkbox"}
    assert boxes == {BUS.id: False, SCHOOLS.id: True}
    assert "Primary and secondary schools" in p.by_id["map-layers"] and "2 features" in p.by_id["map-layers"]
    # the map opens on the layers asked for (the two school squares), not on the whole city
    assert map_config(p)["view"] == pytest.approx([114.2, 30.5, 114.45, 30.65])
    overview, _ = get_page(client, "/map")
    assert map_config(overview)["view"] == pytest.approx([113.68, 29.97, 115.08, 31.36])


def test_every_page_links_to_the_map(client):
    for url, words in (("/", "地图"), ("/datasets", "地图"), ("/?lang=en", "Map")):
        _, text = get_page(client, url)
        href = "/map?lang=en" if "lang=en" in url else "/map"
        assert re.search(rf'<a href="{re.escape(href)}"[^>]*>{words}</a>', text), url


def test_an_empty_platform_has_a_map_page_without_layers(tmp_path):
    settings = load_settings({}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        app = create_app(platform=platform)
        p, _ = get_page(app.test_client(), "/map")
        assert "no-layers" in p.by_id and map_config(p)["layers"] == []
    finally:
        platform.close()


# -- the assets ---------------------------------------------------------------------------------
def test_leaflet_is_served_from_the_site(client):
    for name, kind in (("leaflet.js", "javascript"), ("leaflet.css", "css"), ("images/layers.png", "png")):
        response = client.get(f"/static/vendor/leaflet/{name}")
        assert response.status_code == 200 and kind in response.mimetype, name
    assert b"Leaflet 1.9.4" in client.get("/static/vendor/leaflet/leaflet.js").data
    assert b"BSD 2-Clause" in client.get("/static/vendor/leaflet/LICENSE").data
    assert client.get("/static/map.js").status_code == 200


CDN = re.compile(r"(?:src|href)\s*=\s*[\"'](?:https?:)?//|unpkg\.com|jsdelivr|cdnjs|googleapis", re.I)


def test_no_template_or_script_of_the_portal_loads_anything_from_elsewhere():
    portal = ROOT / "server" / "portal"
    files = [*portal.glob("templates/*.html"), *(portal / "static").glob("*.js"), *(portal / "static").glob("*.css")]
    assert len(files) >= 5
    # links a visitor follows, not loads: Tianditu's credit, the filing registers named by the footer's 备案号
    followed = ('href="https://www.tianditu.gov.cn/"', 'href="https://beian.miit.gov.cn/"',
                'href="https://beian.mps.gov.cn/#/query/webSearch')
    for path in files:
        text = path.read_text("utf-8")
        for link in followed:
            text = text.replace(link, "")
        assert not CDN.search(text), path.name


def test_a_change_of_the_map_settings_is_not_answered_by_a_stale_page(platform):
    """A browser revalidating a dataset page after the Tianditu key was set gets the new page, not a 304."""
    plain = client_for(platform).get(f"/datasets/{BUS.id}", headers=HTML)
    assert plain.status_code == 200 and plain.headers["ETag"]
    keyed = client_for(platform, {"WODP_TIANDITU__KEY": KEY})
    again = keyed.get(f"/datasets/{BUS.id}", headers={**HTML, "If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != plain.headers["ETag"]
    same = keyed.get(f"/datasets/{BUS.id}", headers={**HTML, "If-None-Match": again.headers["ETag"]})
    assert same.status_code == 304
