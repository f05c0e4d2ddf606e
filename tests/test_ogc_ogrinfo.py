"""GDAL's OAPIF driver (ogrinfo) reads every layer of /ogc over real HTTP and counts what the source says."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import threading

import pytest

from ogc.features import LayerInfo
from ogc.spatialize import SpatializeOptions, spatialize, spatialize_file
from tests.conftest import free_port, shared_path

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small platform with the metro stations and districts layers, served by waitress on a free port."""
    from waitress.server import create_server

    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    metro_csv = shared_path("data", "wuhan", "wuhan_metro_stations_werifu_v1_with_missing_coords.csv")
    districts_json = shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json")
    port = free_port()
    settings = load_settings({}, overrides={"demo": {"datasets": 20, "spatial": 3},
                                            "site": {"base_uri": f"http://127.0.0.1:{port}"}},
                             home=tmp_path_factory.mktemp("ogrinfo-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    with metro_csv.open(encoding="utf-8-sig") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    metro = spatialize_file(metro_csv, SpatializeOptions(crs="GCJ-02"))
    doc = json.loads(districts_json.read_text("utf-8"))
    districts = spatialize(doc, SpatializeOptions(crs="GCJ-02"))
    expected = {"metro": rows - len(metro.report.unresolved_rows), "districts": len(doc["features"])
                - len(districts.report.unresolved_rows)}
    for layer_id, result in (("metro", metro), ("districts", districts)):
        platform.features.put_layer(LayerInfo(layer_id, None, layer_id, layer_id), result.features)
        platform.ogc.sync_layer(layer_id)
    for info in platform.features.layers():  # the public collections: layers of 无条件开放 data (docs/access.md)
        if platform.ogc.public(info):
            expected.setdefault(info.id, info.count)
    server = create_server(create_app(platform=platform, start_workers=False), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/ogc", expected, platform
    server.close()
    platform.close()


def _count(url: str, layer: str) -> int:
    proc = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}", layer], capture_output=True, text=True,
                          timeout=120, env={"GDAL_HTTP_TIMEOUT": "30", "CPL_DEBUG": "OFF", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"Feature Count: (\d+)", proc.stdout)
    assert match, proc.stdout
    return int(match.group(1))


def test_ogrinfo_reads_every_layer_with_the_source_count(served):
    url, expected, platform = served
    assert expected["metro"] < 300 and expected["districts"] == 13
    layers = [info.id for info in platform.features.layers() if info.kind == "feature" and platform.ogc.public(info)]
    assert {"metro", "districts"} <= set(layers) and len(layers) >= 3  # ours plus the demo's spatial datasets
    counts = {layer: _count(url, layer) for layer in layers}
    assert counts == {layer: expected[layer] for layer in layers}


def test_ogrinfo_lists_the_collections(served):
    url, _, platform = served
    proc = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{url}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = set(re.findall(r"^\d+: (\S+)", proc.stdout, re.M))
    assert {"metro", "districts"} <= listed
