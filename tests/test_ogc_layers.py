"""Spatial datasets become layers at publication: features, DCAT links, and layers that follow the store."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from tests.conftest import admin_headers

from ontology.namespaces import DCAT, DCT, LOCN, RDF

UNKNOWN = "地址不详"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """60 demo datasets, 12 of them spatial, published through the gate."""
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("layers-home")
    settings = load_settings({}, overrides={"demo": {"datasets": 60, "spatial": 12}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    demo = load_demo(platform)
    yield platform, demo
    platform.close()


def _objects(triples, subject, predicate):
    return [t.object for t in triples if t.subject == subject and t.predicate == predicate]


def test_every_spatial_dataset_has_a_layer_with_the_rows_placed(small_demo):
    from demo.files import rows

    platform, demo = small_demo
    spatial = [d for d in demo.datasets if d.spatial]
    assert len(spatial) == 12
    layers = {info.id: info for info in platform.features.layers() if info.kind == "feature"}
    assert set(layers) == {d.id for d in spatial}
    for d in spatial:
        source = rows(d)
        info = layers[d.id]
        report = info.report
        # the count is the source's rows minus those the report lists as unresolved
        assert report["rows"] == len(source) == d.rows
        assert info.count == len(source) - len(report["unresolved_rows"])
        # and the unresolved rows are exactly those with neither coordinates nor a known address
        expected = [i + 1 for i, r in enumerate(source) if r["经度"] == "" and r["详细地址"] == UNKNOWN]
        assert [issue["row"] for issue in report["unresolved_rows"]] == expected
        # rows with an address only were placed by the gazetteer, the rest by their coordinates
        by_address = sum(1 for r in source if r["经度"] == "" and r["详细地址"] != UNKNOWN)
        assert report["methods"].get("gazetteer", 0) == by_address
        assert report["methods"].get("coordinates:CGCS2000", 0) == len(source) - by_address - len(expected)
        w, s, e, n = info.bbox
        assert 113.68 <= w <= e <= 115.08 and 29.97 <= s <= n <= 31.36


def test_layer_links_are_in_the_dataset_graph(small_demo):
    platform, demo = small_demo
    base = platform.settings.base_uri
    d = next(d for d in demo.datasets if d.spatial)
    info = platform.features.layer(d.id)
    triples = platform.store.dataset_triples(d.uri)
    node = ox.NamedNode(d.uri)
    dists = _objects(triples, node, DCAT.distribution)
    access = {o.value for dist in dists for o in _objects(triples, dist, DCAT.accessURL)}
    downloads = {o.value for dist in dists for o in _objects(triples, dist, DCAT.downloadURL)}
    assert f"{base}/ogc/collections/{d.id}" in access
    assert f"{base}/layers/{d.id}.geojson" in downloads
    services = [s for s in _objects(triples, ox.NamedNode(f"{d.uri}#ogc-features"), DCAT.accessService)]
    assert len(services) == 1
    assert _objects(triples, services[0], RDF.type) == [DCAT.DataService]
    assert [o.value for o in _objects(triples, services[0], DCAT.endpointURL)] == [f"{base}/ogc"]
    assert _objects(triples, services[0], DCAT.servesDataset) == [node]
    extents = _objects(triples, node, DCT.spatial)
    wkt = sorted({o.value for e in extents for o in _objects(triples, e, DCAT.bbox)})
    assert len(extents) == 2 and len(wkt) == 1  # the GeoDCAT-AP WKT location and its GeoJSON twin, one box
    w, s, e, n = info.bbox
    geojson = [json.loads(o.value) for e in extents for o in _objects(triples, e, LOCN.geometry)
               if o.datatype.value.endswith("vnd.geo+json")]
    assert geojson == [{"type": "Polygon", "coordinates": [[[round(w, 6), round(s, 6)], [round(e, 6), round(s, 6)],
                                                           [round(e, 6), round(n, 6)], [round(w, 6), round(n, 6)],
                                                           [round(w, 6), round(s, 6)]]]}]
    assert wkt[0] == (f"<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON(({s:.6f} {w:.6f}, {n:.6f} {w:.6f}, "
                      f"{n:.6f} {e:.6f}, {s:.6f} {e:.6f}, {s:.6f} {w:.6f}))")


def test_non_spatial_datasets_get_no_layer_links(small_demo):
    platform, demo = small_demo
    d = next(d for d in demo.datasets if not d.spatial)
    triples = platform.store.dataset_triples(d.uri)
    assert not any("/ogc/" in t.object.value for t in triples if isinstance(t.object, ox.NamedNode))
    assert platform.features.layer(d.id) is None


def test_layers_follow_publication_holding_and_withdrawal(tmp_path):
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 4}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        demo = load_demo(platform)
        d1, d2, d3 = [d for d in demo.datasets if d.spatial][:3]
        before = platform.features.layer(d1.id)
        # a new version that fails validation is held back: the published layer stays as it was
        broken = [t for t in d1.triples if t.predicate != DCT.description]
        outcome = platform.publisher.publish({d1.uri: broken}, "test")
        assert d1.uri in outcome.held
        assert platform.features.layer(d1.id).count == before.count
        # withdrawn: the layer is gone with it
        platform.publisher.withdraw([d2.uri], "test")
        assert platform.features.layer(d2.id) is None
        # published again without its spatial data (no GeoJSON, not declared spatial): no layer any more
        plain = [t for t in d3.triples if "spatial" not in t.predicate.value and "geo+json" not in
                 (t.object.value if isinstance(t.object, ox.NamedNode) else "")]
        platform.publisher.publish({d3.uri: plain}, "test")
        assert platform.store.has_dataset(d3.uri)
        assert platform.features.layer(d3.id) is None
    finally:
        platform.close()


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    ("名称,经度,纬度\n甲,114.3,30.6\n".encode("gbk") + b"\xff\xfe\xfd", "GB18030"),
    (b'{"type": "FeatureCollection", "features": [', "malformed JSON"),
    (b"name,value\nA,1\nB,2\n", "no row could be placed"),
])
def test_unreadable_data_leaves_the_dataset_published_without_a_layer(tmp_path, content, reason):
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 20, "spatial": 2}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        demo = load_demo(platform)
        d = next(d for d in demo.datasets if d.spatial)
        platform.layers.fetch = lambda url: content
        generation = platform.store.generation
        changed = [t for t in d.triples if t.predicate != DCT.title] + [
            ox.Triple(ox.NamedNode(d.uri), DCT.title, ox.Literal("新标题", language="zh-CN"))]
        outcome = platform.publisher.publish({d.uri: changed}, "test")
        assert outcome.published == (d.uri,)
        assert platform.store.generation > generation
        assert reason in platform.layers.problems[d.id]
        assert platform.features.layer(d.id) is None
    finally:
        platform.close()


def test_gbk_csv_with_gcj02_coordinates_is_read_and_converted():
    from ogc.coords import gcj02_to_wgs84
    from ogc.datafiles import parse_data
    from ogc.spatialize import SpatializeOptions, spatialize

    raw = "站名,高德经度,高德纬度\n汉口火车站,114.255753,30.618019\n".encode("gbk")
    result = spatialize(parse_data(raw, "text/csv", "stations.csv"), SpatializeOptions())
    assert result.report.source_crs == "GCJ02" and result.report.placed == 1
    lon, lat = result.features[0]["geometry"]["coordinates"]
    expected = gcj02_to_wgs84(114.255753, 30.618019)
    assert abs(lon - expected[0]) < 1e-7 and abs(lat - expected[1]) < 1e-7


def test_layer_reports_are_served(small_demo):
    from server.app import create_app

    platform, demo = small_demo
    client = create_app(platform=platform).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = admin_headers(platform)["Authorization"]
    body = client.get("/api/layers").get_json()
    assert body["total"] == 12 and body["without_layer"] == {}
    first = body["layers"][0]
    assert first["features"] == first["placed"] == first["rows"] - first["unresolved"]
    detail = client.get(f"/api/layers/{first['id']}").get_json()
    assert len(detail["report"]["unresolved_rows"]) == first["unresolved"]
    assert detail["fields"]["详细地址"] == "string"
    assert client.get("/api/layers/demo.nothing-here").status_code == 404
    assert client.get("/api/layers/..%2Fetc").status_code == 404


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory):
    """A small demo catalogue served over real HTTP (waitress in a thread), its base URI the server's."""
    import threading

    from waitress import create_server

    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform
    from tests.conftest import free_port

    port = free_port()
    home = tmp_path_factory.mktemp("ogrinfo-home")
    settings = load_settings({}, overrides={"demo": {"datasets": 40, "spatial": 6},
                                            "site": {"base_uri": f"http://127.0.0.1:{port}"}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    demo = load_demo(platform)
    server = create_server(create_app(platform=platform), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield platform, demo, f"http://127.0.0.1:{port}"
    server.close()
    platform.close()


def test_ogrinfo_reads_every_layer_with_the_placed_count(served_demo):
    import re
    import subprocess

    from demo.files import rows
    from tests.conftest import require_tool

    ogrinfo = require_tool("ogrinfo")
    platform, demo, base = served_demo
    from access.policy import OpenType, open_type_in

    # only the layers of 无条件开放 datasets are public collections (docs/access.md); the others are not listed
    spatial = [d for d in demo.datasets if d.spatial and open_type_in(d.uri, d.triples) is OpenType.UNCONDITIONAL]
    restricted = [d for d in demo.datasets if d.spatial and d not in spatial]
    listing = subprocess.run([ogrinfo, "-ro", "-q", f"OAPIF:{base}/ogc"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert spatial and all(d.id not in listing.stdout for d in restricted)
    for d in spatial:
        assert d.id in listing.stdout
        unresolved = len(platform.features.layer(d.id).report["unresolved_rows"])
        expected = len(rows(d)) - unresolved  # the source's rows minus those the report lists as unresolved
        out = subprocess.run([ogrinfo, "-ro", "-so", f"OAPIF:{base}/ogc", d.id], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        count = int(re.search(r"Feature Count: (\d+)", out.stdout).group(1))
        assert count == expected, (d.id, count, expected)
        # and reading the features themselves gives as many (paging through /items)
        full = subprocess.run([ogrinfo, "-ro", "-al", "-q", "-geom=NO", f"OAPIF:{base}/ogc", d.id],
                              capture_output=True, text=True, timeout=120)
        assert full.returncode == 0, full.stderr
        assert len(re.findall(r"^OGRFeature\(", full.stdout, re.M)) == expected
