"""Geocoders: the project's gazetteer, Tianditu's geocoder against a loopback server that answers as Tianditu does."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ogc.boundary import Boundary
from ogc.geocode import (ChainGeocoder, GazetteerGeocoder, GeocoderError, GeocoderUnavailableError,
                         TiandituGeocoder, load_gazetteer_data, make_geocoder, normalise_name)
from tests.conftest import shared_path

KEY = "0123456789abcdef-test-key"
WUHAN_DISTRICTS = {"420102": "江岸区", "420103": "江汉区", "420104": "硚口区", "420105": "汉阳区", "420106": "武昌区",
                   "420107": "青山区", "420111": "洪山区", "420112": "东西湖区", "420113": "汉南区",
                   "420114": "蔡甸区", "420115": "江夏区", "420116": "黄陂区", "420117": "新洲区"}


# --- gazetteer ----------------------------------------------------------------------------------------

def test_gazetteer_holds_the_13_districts_and_dozens_of_places():
    data = load_gazetteer_data()
    assert {d["code"]: d["name"] for d in data["districts"]} == WUHAN_DISTRICTS
    assert len(data["places"]) >= 40
    assert all(p["district"] in WUHAN_DISTRICTS.values() for p in data["places"])


@pytest.mark.parametrize("address, matched, level", [
    ("江汉区解放大道", "江汉区解放大道", "road"),
    ("湖北省武汉市江岸区解放大道1号", "江岸区解放大道", "road"),
    ("武汉市 硚口区 解放大道 558 号", "硚口区解放大道", "road"),
    ("江汉路步行街", "江汉区江汉路", "road"),                 # "江汉路" is a road, not the 江汉 district alias
    ("洪山区珞喻路1037号华中科技大学", "洪山区华中科技大学", "area"),   # longest name wins
    ("武汉天河国际机场T3航站楼", "黄陂区天河机场", "area"),            # by alias
    ("黄陂区某某村", "黄陂区", "district"),
    ("ｘｘ 江夏区（纸坊街）", "江夏区纸坊", "area"),                 # full-width, spaces and brackets
    ("武汉市", "武汉市", "city"),
])
def test_gazetteer_matches(address, matched, level):
    result = GazetteerGeocoder().geocode(address)
    assert result is not None and (result.matched, result.level, result.method) == (matched, level, "gazetteer")


def test_gazetteer_district_qualifier_picks_the_segment():
    gazetteer = GazetteerGeocoder()
    qiaokou, jiangan = gazetteer.geocode("硚口区解放大道"), gazetteer.geocode("江岸区解放大道")
    assert (qiaokou.lon, qiaokou.lat) != (jiangan.lon, jiangan.lat)


@pytest.mark.parametrize("address", ["上海市浦东新区世纪大道", "", "   ", "火星路"])
def test_gazetteer_unknown_addresses(address):
    assert GazetteerGeocoder().geocode(address) is None


def test_normalise_name():
    assert normalise_name(" 中国湖北省武汉市 江汉区，解放大道 ") == "江汉区解放大道"
    assert normalise_name("武汉大学") == "武汉大学"


@pytest.fixture(scope="module")
def district_polygons():
    doc = json.loads(shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json").read_text("utf-8"))
    return {f["properties"]["name"]: Boundary.from_geojson(f, "GCJ02", name=f["properties"]["name"])
            for f in doc["features"]}


def test_gazetteer_points_lie_in_their_real_districts(district_polygons):
    data = load_gazetteer_data()
    misplaced = [d["name"] for d in data["districts"] if not district_polygons[d["name"]].contains(d["lon"], d["lat"])]
    misplaced += [f'{p["district"]}{p["name"]}' for p in data["places"]
                  if not district_polygons[p["district"]].contains(p["lon"], p["lat"])]
    assert misplaced == []


# --- Tianditu, through a loopback server ----------------------------------------------------------------

class _Tianditu(BaseHTTPRequestHandler):
    """Answer GET /geocoder?ds={"keyWord":…}&tk=… with the documented JSON shapes."""

    requests: list[dict] = []

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path != "/geocoder":
            return self._send(404, {"msg": "not found"})
        if query.get("tk") != [KEY]:
            return self._send(403, {"msg": "权限类型错误", "resolve": "请检查key", "code": 1})
        keyword = json.loads(query["ds"][0])["keyWord"]
        type(self).requests.append({"keyWord": keyword})
        if "慢" in keyword:
            time.sleep(1.0)
        if "坏" in keyword:
            return self._send(200, b"<html>bad gateway</html>")
        if "出错" in keyword:
            return self._send(200, {"msg": "参数错误", "searchVersion": "6.4.9V", "status": "404"})
        if "宕机" in keyword:
            return self._send(500, {"msg": "服务器错误"})
        if "江汉区" in keyword and "1号" in keyword:
            return self._send(200, {"msg": "ok", "searchVersion": "6.4.9V", "status": "0", "location": {
                "score": 85, "level": "门址", "lon": 114.27123, "lat": 30.59456, "keyWord": keyword}})
        return self._send(200, {"msg": "无结果", "searchVersion": "6.4.9V", "status": "101"})

    def _send(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                                         # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tianditu_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tianditu)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tianditu(tianditu_url):
    _Tianditu.requests.clear()
    geocoder = TiandituGeocoder(KEY, base_url=tianditu_url, timeout_s=0.3)
    return geocoder


def test_tianditu_places_an_address(tianditu):
    result = tianditu.geocode("江汉区解放大道1号")
    assert (result.lon, result.lat, result.method, result.level, result.score) == \
        (114.27123, 30.59456, "tianditu", "门址", 85.0)
    assert _Tianditu.requests == [{"keyWord": "武汉市江汉区解放大道1号"}]      # the city is added to the keyword


def test_tianditu_not_found_is_none(tianditu):
    assert tianditu.geocode("无此地址") is None


@pytest.mark.parametrize("address, error", [
    ("出错", GeocoderError), ("坏", GeocoderError), ("宕机", GeocoderUnavailableError), ("慢", GeocoderUnavailableError)])
def test_tianditu_errors(tianditu, address, error):
    with pytest.raises(error) as caught:
        tianditu.geocode(address)
    assert KEY not in caught.value.message and KEY not in str(caught.value.__cause__ or "")


def test_tianditu_wrong_key_is_refused_and_the_key_never_shown(tianditu_url, caplog):
    geocoder = TiandituGeocoder("wrong-" + KEY, base_url=tianditu_url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GeocoderUnavailableError) as caught:
        geocoder.geocode("江汉区解放大道1号")
    assert "403" in caught.value.message and "权限" in caught.value.message
    chain = ChainGeocoder([geocoder])
    with pytest.raises(GeocoderUnavailableError):
        chain.geocode("江汉区解放大道1号")
    assert KEY not in caplog.text and KEY not in repr(geocoder) and KEY not in caught.value.message


def test_tianditu_unreachable():
    geocoder = TiandituGeocoder(KEY, base_url="http://127.0.0.1:9", timeout_s=0.5)
    with pytest.raises(GeocoderUnavailableError):
        geocoder.geocode("江汉区解放大道1号")


# --- the chain ------------------------------------------------------------------------------------------

def test_chain_uses_the_gazetteer_first(tianditu):
    chain = ChainGeocoder([GazetteerGeocoder(), tianditu])
    assert chain.geocode("江岸区沿江大道").method == "gazetteer"
    assert _Tianditu.requests == []


def test_chain_prefers_tianditu_over_a_district_centroid(tianditu):
    chain = ChainGeocoder([GazetteerGeocoder(), tianditu])
    assert chain.geocode("江汉区某小区1号").method == "tianditu"
    coarse = chain.geocode("江汉区另一小区")                          # Tianditu: no result → the district
    assert (coarse.method, coarse.level) == ("gazetteer", "district")


def test_chain_skips_a_service_that_is_down(tianditu):
    chain = ChainGeocoder([GazetteerGeocoder(), tianditu])
    assert chain.geocode("江汉区慢慢的路").level == "district"          # timed out: the coarse answer stays
    assert chain.geocode("江汉区某小区1号").method == "gazetteer"       # Tianditu is not asked again
    with pytest.raises(GeocoderUnavailableError):
        ChainGeocoder([tianditu]).geocode("慢")


def test_make_geocoder_adds_tianditu_only_with_a_key(tianditu_url):
    assert isinstance(make_geocoder(None), GazetteerGeocoder)
    chain = make_geocoder(KEY, base_url=tianditu_url)
    assert [g.name for g in chain.geocoders] == ["gazetteer", "tianditu"]
