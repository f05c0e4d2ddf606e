"""A department's data file becomes a layer through the push API and through `wodp load`, read in the source
coordinate system the dataset declares (wodp:sourceCRS), published in CGCS2000; a changed file is re-read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rdflib

from ogc.coords import gcj02_to_bd09, gcj02_to_wgs84, haversine_m
from tests.conftest import admin_headers, free_port, shared_path

ROOT = Path(__file__).resolve().parents[1]
WODP = rdflib.Namespace("https://data.wuhan.gov.cn/def/wodp#")
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.namespace.DCTERMS
GCJ02 = rdflib.URIRef("https://data.wuhan.gov.cn/def/crs/gcj02")
BD09 = rdflib.URIRef("https://data.wuhan.gov.cn/def/crs/bd09")
EPSG_4490 = rdflib.URIRef("http://www.opengis.net/def/crs/EPSG/0/4490")
RECORD = {
    "资源名称": "武汉市轨道交通站点（推送测试）", "资源代码": "420100-D017-09001", "资源提供方": "武汉市交通运输局",
    "资源摘要": "武汉地铁各线路站点名称与位置。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每年", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv",
    "关键字": "地铁、站点", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "219",
    "坐标系": "GCJ-02（高德）",                       # the mapping's source_crs target: wodp:sourceCRS
}


def _v1_without_header_gbk() -> bytes:
    raw = shared_path("data", "wuhan", "wuhan_metro_stations_werifu_v1_with_missing_coords.csv").read_bytes()
    return raw.split(b"\n", 1)[1].decode("utf-8").encode("gbk")


def _gcj_points(raw: bytes) -> list[tuple[float, float]]:
    lines = [line.split(",") for line in raw.decode("gbk").splitlines() if line]
    return [(float(x[1]), float(x[2])) for x in lines if x[1] != "-1"]


class _Files:
    """A loopback HTTP server serving files from a dict (a department's file server)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/csv; charset=GBK")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def files():
    served = _Files()
    yield served
    served.server.shutdown()


@pytest.fixture(scope="module")
def push_platform(tmp_path_factory):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    home = tmp_path_factory.mktemp("channel-home")
    boundary = str(shared_path("data", "wuhan", "wuhan_city_420100_datav_boundary.json"))
    settings = load_settings({}, overrides={"spatial": {"boundary_file": boundary, "boundary_crs": "GCJ-02"}},
                             home=home)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    yield platform
    platform.close()


def _spatial_turtle(client, headers, dataset_id: str, url: str, crs: rdflib.URIRef | None) -> bytes:
    """The pushed dataset's own Turtle, its CSV distribution's file at url, declared spatial (and its system)."""
    g = rdflib.Graph().parse(data=client.get(f"/datasets/{dataset_id}.ttl").data, format="turtle")
    d = next(g.subjects(rdflib.RDF.type, DCAT.Dataset))
    dist = next(g.objects(d, DCAT.distribution))
    g.set((dist, DCAT.downloadURL, rdflib.URIRef(url)))
    g.set((d, WODP.spatializationStatus, rdflib.URIRef("https://data.wuhan.gov.cn/def/spatialization/spatial")))
    if crs is not None:
        g.set((d, WODP.sourceCRS, crs))
    return g.serialize(format="turtle").encode("utf-8")


def test_push_a_gcj02_file_then_a_changed_bd09_file(push_platform, files):
    from server.app import create_app

    client = create_app(platform=push_platform).test_client()
    headers = {"Authorization": f"Bearer {push_platform.accounts.create('D017')[1]}"}
    created = client.post("/api/datasets", data=json.dumps(RECORD, ensure_ascii=False).encode(),
                          content_type="application/json", headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    dataset_id = created.get_json()["published"][0]["id"]
    raw = _v1_without_header_gbk()
    files.files["/stations.csv"] = raw
    turtle = _spatial_turtle(client, headers, dataset_id, f"{files.url}/stations.csv", None)  # from the record
    pushed = client.post("/api/datasets", data=turtle, content_type="text/turtle", headers=headers)
    assert pushed.status_code == 200, pushed.get_data(as_text=True)

    layer = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(client)).get_json()
    report = layer["report"]
    assert (report["rows"], report["placed"], report["unresolved"], report["flagged"]) == (219, 215, 4, 0)
    assert (report["source_crs"], report["crs_source"], report["crs_assumed"]) == ("GCJ02", "dataset", False)
    assert report["precision"] == {"exact": 215} and any("no header row" in n for n in report["notes"])
    items = client.get(f"/ogc/collections/{dataset_id}/items?limit=1000&f=json").get_json()["features"]
    worst = max(haversine_m(*f["geometry"]["coordinates"], *gcj02_to_wgs84(*p))
                for f, p in zip(sorted(items, key=lambda f: int(f["id"])), _gcj_points(raw)))
    assert len(items) == 215 and worst < 0.5
    g = rdflib.Graph().parse(data=client.get(f"/datasets/{dataset_id}.ttl").data, format="turtle")
    d = rdflib.URIRef(f"{push_platform.settings.base_uri}/datasets/{dataset_id}")
    assert (d, WODP.sourceCRS, GCJ02) in g and (d, DCT.conformsTo, EPSG_4490) in g

    # the department's file changes (BD-09 now, 100 stations): a push of the same metadata re-reads it
    lines = raw.decode("gbk").splitlines()[:100]
    changed = []
    for line in lines:
        name, lon, lat, *rest = line.split(",")
        bd = gcj02_to_bd09(float(lon), float(lat)) if lon != "-1" else (-1, -1)
        changed.append(",".join([name, f"{bd[0]:.9f}", f"{bd[1]:.9f}", *rest]))
    files.files["/stations.csv"] = "\n".join(changed).encode("gbk")
    again = client.post("/api/datasets", data=_spatial_turtle(client, headers, dataset_id,
                                                              f"{files.url}/stations.csv", BD09),
                        content_type="text/turtle", headers=headers)
    assert again.status_code == 200, again.get_data(as_text=True)
    report = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(client)).get_json()["report"]
    gone = sum(1 for line in lines if line.split(",")[1] == "-1")
    assert (report["rows"], report["placed"], report["source_crs"]) == (100, 100 - gone, "BD09")
    items = client.get(f"/ogc/collections/{dataset_id}/items?limit=1000&f=json").get_json()["features"]
    worst = max(haversine_m(*f["geometry"]["coordinates"], *gcj02_to_wgs84(*p))
                for f, p in zip(sorted(items, key=lambda f: int(f["id"])), _gcj_points("\n".join(lines).encode("gbk"))))
    assert worst < 0.5


def _dataset_file(base: str, code: str, file_url: str) -> bytes:
    """A department's dataset as Turtle (mapped from its record) whose CSV distribution is a file: URL in GCJ-02."""
    import pyoxigraph as ox

    from harvesters.provenance import DEPARTMENT_ID_SPACE
    from server.validation_api import graphs_from_upload

    record = {k: v for k, v in RECORD.items() if k != "坐标系"} | {"资源代码": f"420100-D017-{code}"}
    graphs, _ = graphs_from_upload(json.dumps(record, ensure_ascii=False).encode(), "r.json", "china-core", base,
                                   source=DEPARTMENT_ID_SPACE)
    (uri, triples), = graphs.items()
    d = ox.NamedNode(uri)
    dist = next(t.object for t in triples if t.subject == d and t.predicate.value == str(DCAT.distribution))
    kept = [t for t in triples if not (t.subject == dist and t.predicate.value == str(DCAT.downloadURL))]
    kept += [ox.Triple(dist, ox.NamedNode(DCAT.downloadURL), ox.NamedNode(file_url)),
             ox.Triple(dist, ox.NamedNode(WODP.sourceCRS), ox.NamedNode(GCJ02)),
             ox.Triple(d, ox.NamedNode(WODP.spatializationStatus),
                       ox.NamedNode("https://data.wuhan.gov.cn/def/spatialization/spatial"))]
    return ox.serialize(kept, format=ox.RdfFormat.TURTLE)


def test_wodp_load_a_dataset_whose_distribution_is_a_local_file(tmp_path, push_platform):
    """The CLI route: a dataset file naming its data by a file: URL inside spatial.data_dir, then `wodp load`."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    csv_path = data_dir / "stations.csv"
    csv_path.write_bytes(_v1_without_header_gbk())
    base = push_platform.settings.base_uri
    turtle, outside = tmp_path / "stations.ttl", tmp_path / "outside.csv"
    outside.write_bytes(csv_path.read_bytes())
    turtle.write_bytes(_dataset_file(base, "09002", csv_path.as_uri()))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), PYTHONPATH=str(ROOT), WODP_SPATIAL__DATA_DIR=str(data_dir))
    run = subprocess.run([sys.executable, "-m", "server.cli", "load", str(turtle)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr + run.stdout

    from config import load_settings
    from server.platform import Platform

    platform = Platform.open(load_settings({}, overrides={"spatial": {"data_dir": str(data_dir)}}, home=home),
                             start_workers=False)
    try:
        info = platform.features.layer("wuhan.420100-D017-09002")
        assert info is not None, platform.layers.problems
        assert (info.count, info.report["source_crs"], info.report["crs_source"]) == (215, "GCJ02", "distribution")
        # a file: URL outside spatial.data_dir is never read: no layer, and the reason says why
        from sparql.loader import read_files

        (tmp_path / "outside.ttl").write_bytes(_dataset_file(base, "09003", outside.as_uri()))
        platform.publisher.publish(read_files([tmp_path / "outside.ttl"]), "load")
        assert platform.features.layer("wuhan.420100-D017-09003") is None
        assert "outside spatial.data_dir" in platform.layers.problems["wuhan.420100-D017-09003"]
    finally:
        platform.close()


def test_the_profile_accepts_our_crs_iris_and_refuses_a_literal(push_platform, files):
    from server.app import create_app

    client = create_app(platform=push_platform).test_client()
    headers = {"Authorization": f"Bearer {push_platform.accounts.create('D017')[1]}"}
    record = RECORD | {"资源代码": "420100-D017-09004"}
    created = client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False).encode(),
                          content_type="application/json", headers=headers)
    dataset_id = created.get_json()["published"][0]["id"]
    files.files["/s4.csv"] = _v1_without_header_gbk()
    turtle = _spatial_turtle(client, headers, dataset_id, f"{files.url}/s4.csv", BD09).decode("utf-8")
    assert client.post("/api/datasets", data=turtle.encode(), content_type="text/turtle",
                       headers=headers).status_code == 200
    g = rdflib.Graph().parse(data=turtle, format="turtle")
    d = next(g.subjects(rdflib.RDF.type, DCAT.Dataset))
    g.set((d, WODP.sourceCRS, rdflib.Literal("GCJ-02")))
    held = client.post("/api/datasets", data=g.serialize(format="turtle").encode(), content_type="text/turtle",
                       headers=headers)
    assert held.status_code == 422
    paths = {f["path"] for f in held.get_json()["held"][0]["report"]["findings"] if f["severity"] == "Violation"}
    assert paths == {str(WODP.sourceCRS)}


def test_dcat_harvest_of_a_department_feed_gives_the_layer(tmp_path, files):
    """The harvest route: a DCAT feed whose dataset declares wodp:sourceCRS on its CSV distribution."""
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    files.files["/h.csv"] = _v1_without_header_gbk()
    files.files["/catalog.ttl"] = _dataset_file("http://dept.example/x", "09005", f"{files.url}/h.csv")
    source = {"name": "dept", "kind": "dcat", "url": f"{files.url}/catalog.ttl", "profile": "wuhan"}
    settings = load_settings({}, overrides={"harvest": {"sources": [source], "timeout_s": 5.0}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        install(platform.store, settings)
        report = platform.harvesting.run("dept")
        assert report["new"] == 1, (report, platform.harvesting.jobs.job_errors(report["id"]))
        (info,) = [i for i in platform.features.layers() if i.kind == "feature"]
        assert (info.count, info.report["source_crs"], info.report["crs_source"]) == (215, "GCJ02", "distribution")
    finally:
        platform.close()


def test_push_a_json_record_naming_its_data_file(push_platform, files):
    """A china-core JSON record lists its data file under 资源文件: the record stays one record and gets a layer."""
    from server.app import create_app

    client = create_app(platform=push_platform).test_client()
    headers = {"Authorization": f"Bearer {push_platform.accounts.create('D017')[1]}"}
    raw = _v1_without_header_gbk()
    files.files["/json-record-stations.csv"] = raw
    record = {**RECORD, "资源代码": "420100-D017-09002", "资源名称": "武汉市轨道交通站点（JSON 推送）",
              "空间范围": "113.68,29.97,115.08,31.36",
              "资源文件": [{"文件名称": "站点表", "文件格式": "CSV",
                          "下载地址": f"{files.url}/json-record-stations.csv"}]}
    created = client.post("/api/datasets", data=json.dumps(record, ensure_ascii=False).encode(),
                          content_type="application/json", headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    published = created.get_json()["published"]
    assert len(published) == 1  # the file entry is not read as a record of its own
    dataset_id = published[0]["id"]
    g = rdflib.Graph().parse(data=client.get(f"/datasets/{dataset_id}.ttl").data, format="turtle")
    d = rdflib.URIRef(f"{push_platform.settings.base_uri}/datasets/{dataset_id}")
    assert str(next(g.objects(d, DCT.title))) == record["资源名称"]
    urls = {str(u) for dist in g.objects(d, DCAT.distribution) for u in g.objects(dist, DCAT.downloadURL)}
    assert f"{files.url}/json-record-stations.csv" in urls
    report = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(client)).get_json()["report"]
    assert (report["rows"], report["placed"], report["source_crs"]) == (219, 215, "GCJ02")
    items = client.get(f"/ogc/collections/{dataset_id}/items?limit=1000&f=json").get_json()["features"]
    worst = max(haversine_m(*f["geometry"]["coordinates"], *gcj02_to_wgs84(*p))
                for f, p in zip(sorted(items, key=lambda f: int(f["id"])), _gcj_points(raw)))
    assert len(items) == 215 and worst < 0.5


def test_an_inventory_file_record_names_its_data_file_and_gets_a_layer(tmp_path, files):
    """The inventory route: a department's JSON file lists a record with 资源文件 and 坐标系; the harvest lays it out."""
    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    raw = _v1_without_header_gbk()
    files.files["/inventory-stations.csv"] = raw
    record = {**RECORD, "资源代码": "420100-D017-09003", "资源名称": "武汉市轨道交通站点（目录文件）",
              "空间范围": "113.68,29.97,115.08,31.36", "坐标系": "GCJ-02",
              "资源文件": [{"文件名称": "站点表", "文件格式": "CSV", "下载地址": f"{files.url}/inventory-stations.csv"}]}
    (tmp_path / "d017.json").write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    settings = load_settings({}, overrides={"harvest": {"sources": [
        {"name": "d017-file", "kind": "inventory", "path": "d017.json", "jurisdiction": "420100"}]},
        "csw": {"enabled": False}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        report = platform.harvesting.run("d017-file")
        assert (report["status"], report["new"], report["held"]) == ("succeeded", 1, 0), report["message"]
        [dataset_id] = report["changed_datasets"]["created"]
        client = create_app(platform=platform, start_workers=False).test_client()
        layer = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(client)).get_json()["report"]
        assert (layer["rows"], layer["placed"], layer["source_crs"]) == (219, 215, "GCJ02")
        items = client.get(f"/ogc/collections/{dataset_id}/items?limit=1000&f=json").get_json()["features"]
        worst = max(haversine_m(*f["geometry"]["coordinates"], *gcj02_to_wgs84(*p))
                    for f, p in zip(sorted(items, key=lambda f: int(f["id"])), _gcj_points(raw)))
        assert len(items) == 215 and worst < 0.5
    finally:
        platform.close()
