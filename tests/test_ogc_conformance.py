"""/ogc/conformance claims only what works: every claimed class has a request here that succeeds."""

from __future__ import annotations

from urllib.parse import quote

import pytest

COMMON1 = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
COMMON2 = "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/"
FEAT1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
FEAT2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/"
FEAT3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
REC1 = "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CRS_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"


@pytest.fixture(scope="module")
def client(ogc_platform):
    from server.app import create_app

    app = create_app(platform=ogc_platform, start_workers=False)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def layer(client) -> str:
    ids = [c["id"] for c in client.get("/ogc/collections?f=json").get_json()["collections"] if c["id"] != "catalog"]
    assert ids, "the demo has no feature collection"
    return ids[0]


def _ok(client, url: str, kind: str = "json"):
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    if kind == "json":
        assert response.mimetype in ("application/json", "application/geo+json", "application/vnd.oai.openapi+json",
                                     "application/schema+json"), \
            (url, response.mimetype)
        return response.get_json()
    assert response.mimetype == "text/html", (url, response.mimetype)
    return response.get_data(as_text=True)


def _features(client, layer):
    return _ok(client, f"/ogc/collections/{layer}/items?f=json&limit=50")["features"]


def _property_filter(client, layer):
    feature = next(f for f in _features(client, layer)
                   if any(isinstance(v, str) and v and "&" not in v for v in f["properties"].values()))
    name, value = next((k, v) for k, v in feature["properties"].items() if isinstance(v, str) and v and "&" not in v)
    doc = _ok(client, f"/ogc/collections/{layer}/items?f=json&limit=1000&{quote(name)}={quote(value)}")
    assert doc["features"] and all(f["properties"][name] == value for f in doc["features"])
    return True


def _crs(client, layer):
    response = client.get(f"/ogc/collections/{layer}/items?f=json&limit=1&crs={quote(CRS_4490)}")
    assert response.status_code == 200 and response.headers["Content-Crs"] == f"<{CRS_4490}>"
    return True


def _sorting(client, _layer):
    up = [f["properties"]["updated"] for f in _ok(client, "/ogc/collections/catalog/items?f=json&limit=500"
                                                   "&sortby=-updated")["features"]]
    assert up == sorted(up, reverse=True) and len(set(up)) > 1
    return True


def _opensearch(client, _layer):
    doc = _ok(client, "/ogc/collections/catalog/items?f=json&limit=500&q=" + quote("数据"))
    assert 0 < doc["numberMatched"] <= _ok(client, "/ogc/collections/catalog/items?f=json&limit=1")["numberMatched"]
    return True


def _cql2(client, layer):
    everything = _ok(client, f"/ogc/collections/{layer}/items?f=json&limit=1000")["features"]
    name, value = next((k, v) for f in everything for k, v in f["properties"].items() if isinstance(v, str) and v
                       and "'" not in v)
    text = quote(f'"{name}" = \'{value}\' OR NOT ("{name}" = \'{value}\')')
    assert _ok(client, f"/ogc/collections/{layer}/items?f=json&limit=1000&filter={text}")["numberMatched"] == \
        len(everything)
    one = _ok(client, f"/ogc/collections/{layer}/items?f=json&limit=1000&filter=" + quote(f'"{name}" = \'{value}\''))
    assert 0 < one["numberMatched"] == sum(1 for f in everything if f["properties"].get(name) == value)
    return True


CHECKS = {
    CQL2 + "cql2-text": _cql2,
    CQL2 + "basic-cql2": _cql2,
    COMMON1 + "core": lambda c, lay: _ok(c, "/ogc/?f=json")["links"],
    COMMON1 + "landing-page": lambda c, lay: [l for l in _ok(c, "/ogc/?f=json")["links"] if l["rel"] == "conformance"],
    COMMON1 + "json": lambda c, lay: _ok(c, "/ogc/conformance?f=json")["conformsTo"],
    COMMON1 + "html": lambda c, lay: _ok(c, "/ogc/?f=html", "html"),
    COMMON1 + "oas30": lambda c, lay: _ok(c, "/ogc/openapi?f=json")["openapi"].startswith("3."),
    COMMON2 + "collections": lambda c, lay: _ok(c, "/ogc/collections?f=json")["collections"],
    FEAT1 + "core": lambda c, lay: _features(c, lay),
    FEAT1 + "geojson": lambda c, lay: _ok(c, f"/ogc/collections/{lay}/items?f=json&limit=1")["type"]
    == "FeatureCollection",
    FEAT1 + "html": lambda c, lay: _ok(c, f"/ogc/collections/{lay}/items?f=html&limit=1", "html"),
    FEAT1 + "oas30": lambda c, lay: f"/collections/{lay}/items" in _ok(c, "/ogc/openapi?f=json")["paths"],
    FEAT2 + "crs": _crs,
    FEAT3 + "queryables": lambda c, lay: _ok(c, f"/ogc/collections/{lay}/queryables?f=json")["properties"],
    FEAT3 + "queryables-query-parameters": _property_filter,
    REC1 + "core": lambda c, lay: _ok(c, "/ogc/collections/catalog/items?f=json&limit=1")["features"][0]
    ["properties"]["type"] == "dataset",
    REC1 + "json": lambda c, lay: _ok(c, "/ogc/collections/catalog/items?f=json&limit=1")["features"],
    REC1 + "html": lambda c, lay: _ok(c, "/ogc/collections/catalog/items?f=html&limit=1", "html"),
    REC1 + "sorting": _sorting,
    REC1 + "opensearch": _opensearch,
}


def test_every_claimed_class_has_a_working_request(client, layer):
    claimed = _ok(client, "/ogc/conformance?f=json")["conformsTo"]
    unknown = [c for c in claimed if c not in CHECKS]
    assert unknown == [], "claimed without a request that shows it works"
    for conformance_class in claimed:
        assert CHECKS[conformance_class](client, layer), conformance_class


def test_what_is_not_claimed_does_not_work(client, layer):
    from ogc.api import NOT_IMPLEMENTED

    assert client.post(f"/ogc/collections/{layer}/items", json={"type": "Feature"}).status_code == 405
    claimed = set(_ok(client, "/ogc/conformance?f=json")["conformsTo"])
    assert not claimed & NOT_IMPLEMENTED
    assert not any("create-replace-delete" in c or "cql2-json" in c for c in claimed)
