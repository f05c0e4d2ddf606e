"""Acceptance of the portal's maps in a real browser: Debian's Chromium, headless, with a CJK font.

A real server (waitress on 127.0.0.1, in a thread) serves a small catalogue with one point layer; Chromium
opens the dataset page and we check what a visitor sees: the features drawn (their count, and the layer's
colour at each feature's projected spot in a screenshot), the Chinese caption rendered with a CJK font,
and that no request left the loopback address. With a Tianditu key, a local fake tile server stands in
for Tianditu and must receive vec_c and cva_c tiles with tk=the key; when it fails, the offline base map
takes over.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from config import load_settings
from server.app import create_app
from server.platform import Platform
from tests.catalog_samples import fill_store
from tests.test_portal_map import BUS, STOPS, put_layers

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
LOOPBACK = {"127.0.0.1", "localhost"}
LAYER_RGB = (0xD7, 0x30, 0x1F)  # the first layer colour of server/portal/maps.py COLORS
KEY = "browser-test-key-42"


# -- a tiny PNG reader (8-bit RGB/RGBA, what Chromium's screenshots are) --------------------------
def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Return width, height, the unfiltered rows and bytes per pixel of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def pixel(image, x: int, y: int) -> tuple[int, int, int]:
    width, height, rows, bpp = image
    return tuple(rows[y][x * bpp:x * bpp + 3])


def near(rgb, expected, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected))


# -- servers ------------------------------------------------------------------------------------
class Site:
    """The portal over a small platform, served by waitress on a free loopback port."""

    def __init__(self, home, environ=None) -> None:
        from waitress import create_server

        settings = load_settings(environ or {}, overrides={"csw": {"enabled": False}}, home=home)
        self.platform = Platform.open(settings, start_workers=False)
        fill_store(self.platform.store)
        put_layers(self.platform)
        if getattr(self.platform, "ogc", None) is not None:
            self.platform.ogc.sync_all()  # the layers were put directly, not through the pipeline
        self.server = create_server(create_app(platform=self.platform), host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)
        self.platform.close()


TILE = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
        + struct.pack(">I", zlib.crc32(b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)))
        + struct.pack(">I", 12) + b"IDAT" + zlib.compress(b"\x00\xe0\xe8\xf0")[:12]
        + struct.pack(">I", zlib.crc32(b"IDAT" + zlib.compress(b"\x00\xe0\xe8\xf0")[:12]))
        + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


class FakeTianditu:
    """Answers Tianditu WMTS GetTile requests on 127.0.0.1 with a PNG (or an error), counting them."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                fake.requests.append((parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}))
                body = TILE if status == 200 else b"no tiles here"
                self.send_response(status)
                self.send_header("Content-Type", "image/png" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the browser --------------------------------------------------------------------------------
def chromium(profile_dir, viewport: dict):
    """Yield a headless Chromium context (zh-CN, no service workers); skip where Chromium is absent, fail under CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: under CI `make test` installs chromium (.ci/system-deps)")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport=viewport, locale="zh-CN", service_workers="block")
        yield context
        context.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium(tmp_path_factory.mktemp("chromium-profile"), {"width": 1200, "height": 1400})


class Visit:
    """One page in the browser, with every request it made; anything not on loopback is refused."""

    def __init__(self, context) -> None:
        self.page = context.new_page()
        self.urls: list[str] = []
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.page.route("**/*", self._gate)

    @staticmethod
    def _gate(route):
        host = urlsplit(route.request.url).hostname
        route.continue_() if host in LOOPBACK else route.abort("blockedbyclient")

    def elsewhere(self) -> list[str]:
        return [u for u in self.urls if not u.startswith("data:") and urlsplit(u).hostname not in LOOPBACK]


@pytest.fixture
def visit(browser):
    v = Visit(browser)
    yield v
    v.page.close()


def wait_drawn(page, timeout=30_000) -> int:
    page.wait_for_function(
        "() => document.getElementById('map').getAttribute('data-features-drawn-state') === 'done'", timeout=timeout)
    return int(page.get_attribute("#map", "data-features-drawn"))


def caption_fonts(page) -> list[dict]:
    """Ask Chromium which platform fonts drew the caption's text."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#map-caption"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return fonts


# -- the tests ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def offline_site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("browser-offline"))
    yield site
    site.close()


def test_a_dataset_page_draws_its_layer_over_the_offline_base_map_without_leaving_the_machine(offline_site, visit):
    page = visit.page
    page.goto(f"{offline_site.url}/datasets/{BUS.id}")
    assert wait_drawn(page) == len(STOPS) == offline_site.platform.features.layer(BUS.id).count
    assert page.locator("#map path.wodp-feature").count() == len(STOPS)
    assert page.text_content("#map-caption") == f"显示 {len(STOPS)} 个要素"

    # the offline base map: 13 district outlines with their names
    page.wait_for_function("() => document.getElementById('map').getAttribute('data-basemap-districts') === '13'")
    assert page.get_attribute("#map", "data-basemap") == "offline"
    assert page.locator("#map path.wodp-basemap").count() == 13
    labels = page.locator("#map .wodp-district-label").all_text_contents()
    assert len(labels) == 13 and "江岸区" in labels and "新洲区" in labels

    # the layer's colour at each stop's spot (lon/lat projected linearly: the c set is equirectangular)
    page.wait_for_timeout(300)  # let Leaflet finish the zoom animation
    bounds = page.evaluate("() => { const b = wodpMap.getBounds(); return [b.getWest(), b.getSouth(), "
                           "b.getEast(), b.getNorth()]; }")
    inner = page.evaluate("() => { const m = document.getElementById('map'); "
                          "return [m.clientLeft, m.clientTop, m.clientWidth, m.clientHeight]; }")
    left, top, width, height = inner  # the screenshot includes the map's border
    image = png_pixels(page.locator("#map").screenshot())
    west, south, east, north = bounds
    for lon, lat in STOPS:
        x = round(left + (lon - west) / (east - west) * width)
        y = round(top + (north - lat) / (north - south) * height)
        assert near(pixel(image, x, y), LAYER_RGB), (lon, lat, pixel(image, x, y))
    assert not near(pixel(image, 5, image[1] // 2), LAYER_RGB)  # and not everywhere

    # the Chinese caption is drawn with a CJK font, not boxes
    fonts = caption_fonts(page)
    assert any("CJK" in f["familyName"] and f["glyphCount"] >= 4 for f in fonts), fonts

    assert visit.urls and not visit.elsewhere(), visit.elsewhere()
    assert any(u.endswith(f"/ogc/collections/{BUS.id}/items?f=json&limit=3") for u in visit.urls)
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in visit.urls)


def test_the_map_page_switches_layers_on_and_off(offline_site, visit):
    page = visit.page
    page.goto(f"{offline_site.url}/map?lang=en")
    assert wait_drawn(page) == 3  # the first layer (bus stops) is on
    page.check(".map-layer-toggle[value='demo.schools']")
    page.wait_for_function("() => document.getElementById('map').getAttribute('data-features-drawn') === '5'")
    assert page.locator("#map path.wodp-feature").count() == 5
    assert page.text_content("#map-caption") == "5 features shown"
    page.uncheck(f".map-layer-toggle[value='{BUS.id}']")
    page.wait_for_function("() => document.getElementById('map').getAttribute('data-features-drawn') === '2'")
    assert page.locator("#map path.wodp-feature").count() == 2
    assert not visit.elsewhere(), visit.elsewhere()


def test_with_a_key_the_map_asks_tianditu_for_vector_and_label_tiles_with_the_key(tmp_path, visit):
    tiles = FakeTianditu()
    site = Site(tmp_path, {"WODP_TIANDITU__KEY": KEY, "WODP_TIANDITU__URL": tiles.url})
    try:
        page = visit.page
        page.goto(f"{site.url}/datasets/{BUS.id}")
        assert wait_drawn(page) == len(STOPS)
        page.wait_for_function("() => document.querySelectorAll('#map img.leaflet-tile-loaded').length >= 4")
        paths = {path for path, _ in tiles.requests}
        assert paths == {"/vec_c/wmts", "/cva_c/wmts"}
        for path, query in tiles.requests:
            assert query["tk"] == KEY and query["TILEMATRIXSET"] == "c" and query["LAYER"] == path[1:4]
            assert query["REQUEST"] == "GetTile" and int(query["TILEMATRIX"]) >= 1
        assert page.get_attribute("#map", "data-basemap") == "tianditu"
        assert page.locator("#map path.wodp-basemap").count() == 0
        assert not visit.elsewhere(), visit.elsewhere()
    finally:
        site.close()
        tiles.close()


def test_when_tianditu_fails_the_offline_base_map_takes_over(tmp_path, visit):
    tiles = FakeTianditu(status=503)
    site = Site(tmp_path, {"WODP_TIANDITU__KEY": KEY, "WODP_TIANDITU__URL": tiles.url,
                           "WODP_TIANDITU__MATRIX_SET": "w", "WODP_TIANDITU__LAYERS": "img"})
    try:
        page = visit.page
        page.goto(f"{site.url}/datasets/{BUS.id}")
        assert wait_drawn(page) == len(STOPS)
        page.wait_for_function("() => document.getElementById('map').getAttribute('data-basemap-districts') === '13'")
        assert page.get_attribute("#map", "data-basemap") == "offline"
        assert page.locator("#map img.leaflet-tile").count() == 0
        assert "已切换为离线底图" in page.text_content("#map-note")
        assert {path for path, _ in tiles.requests} <= {"/img_w/wmts", "/cia_w/wmts"} and tiles.requests
        assert not visit.elsewhere(), visit.elsewhere()
    finally:
        site.close()
        tiles.close()
