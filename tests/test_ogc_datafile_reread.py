"""A changed data file is re-read, an unchanged one is not: through a harvest (inventory file, cloud data center)
and a push of the same dataset. The cloud route lays out the GCJ-02 metro stations end to end."""

from __future__ import annotations

import json
import os

import pytest

from ogc.boundary import Boundary
from ogc.coords import haversine_m
from tests.conftest import admin_headers, shared_path
from tests.datafile_server import FileServer
from tests.test_ogc_sourcecrs import _ref_inverse

TOKEN = "cloud-token-for-data-files"
RECORD = {
    "资源名称": "武汉市轨道交通站点（数据文件）", "资源代码": "420100-D017-09101", "资源提供方": "武汉市交通运输局",
    "资源摘要": "武汉地铁各线路站点名称与位置。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每年", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv",
    "关键字": "地铁、站点", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "219",
    "坐标系": "GCJ-02", "空间范围": "113.68,29.97,115.08,31.36",
}


def _v1_gbk() -> bytes:
    """The v1 station file (219 rows, 4 of them -1,-1), without its header row, in GBK."""
    raw = shared_path("data", "wuhan", "wuhan_metro_stations_werifu_v1_with_missing_coords.csv").read_bytes()
    return raw.split(b"\n", 1)[1].decode("utf-8").encode("gbk")


def _gcj_points(raw: bytes) -> list[tuple[float, float]]:
    lines = [line.split(",") for line in raw.decode("gbk").splitlines() if line]
    return [(float(x[1]), float(x[2])) for x in lines if x[1] != "-1"]


def _record(url: str, **fields) -> dict:
    return {**RECORD, **fields, "资源文件": [{"文件名称": "站点表", "文件格式": "CSV", "下载地址": url}]}


class _Writes:
    """Count the layers written (put_layer) by a feature store."""

    def __init__(self, features) -> None:
        self.count = 0
        original = features.put_layer

        def put_layer(info, rows):
            self.count += 1
            return original(info, rows)
        features.put_layer = put_layer


def _platform(home, sources, environ=None):
    from config import load_settings
    from server.platform import Platform

    settings = load_settings(environ or {}, overrides={"harvest": {"sources": sources, "timeout_s": 5.0},
                                                       "csw": {"enabled": False}}, home=home)
    return Platform.open(settings, start_workers=False)


@pytest.mark.parametrize("validators", [True, False], ids=["etag", "no-validators"])
def test_an_inventory_harvest_re_reads_a_changed_data_file_and_only_that(tmp_path, validators):
    files = FileServer(validators=validators)
    raw = _v1_gbk()
    files.files["/stations.csv"] = raw
    (tmp_path / "d017.json").write_text(json.dumps([_record(f"{files.url}/stations.csv")], ensure_ascii=False),
                                        encoding="utf-8")
    platform = _platform(tmp_path, [{"name": "d017-file", "kind": "inventory", "path": "d017.json",
                                     "jurisdiction": "420100"}])
    try:
        first = platform.harvesting.run("d017-file")
        assert (first["status"], first["new"]) == ("succeeded", 1), first["message"]
        assert first["data_files"] == {"re-read": 1, "unchanged": 0, "failed": 0}
        [dataset_id] = first["changed_datasets"]["created"]
        assert platform.features.layer(dataset_id).count == 215
        writes = _Writes(platform.features)

        again = platform.harvesting.run("d017-file")  # nothing changed: one conditional GET (or a hash), no layer
        assert (again["unchanged"], again["updated"]) == (1, 0)
        assert again["data_files"] == {"re-read": 0, "unchanged": 1, "failed": 0}
        assert writes.count == 0
        assert files.gets[-1] == ("/stations.csv", 304 if validators else 200)

        lines = raw.decode("gbk").splitlines()
        changed = "\n".join(line for line in lines if not line.startswith("汉口北")) + "\n"  # one station less
        files.files["/stations.csv"] = changed.encode("gbk")
        third = platform.harvesting.run("d017-file")  # only the data file changed
        assert third["data_files"] == {"re-read": 1, "unchanged": 0, "failed": 0}, third["message"]
        assert (third["updated"], third["unchanged"]) == (1, 0)
        assert "1 re-read" in third["message"]
        layer = platform.features.layer(dataset_id)
        assert layer.count == 214 and writes.count == 1
        names = {f["properties"]["列1"] for f in platform.features.iter_features(dataset_id)}
        assert "汉口北" not in names and "金银潭" in names
        graph = platform.store.dataset_triples(platform.dataset_uri(dataset_id))
        assert any(t.object.value.startswith("214 个要素") for t in graph)  # the catalogue says it too
        assert platform.harvesting.jobs.entry(platform.dataset_uri(dataset_id)).state == "published"

        files.files.pop("/stations.csv")  # the file is gone: reported, the layer stays as it was
        fourth = platform.harvesting.run("d017-file")
        assert fourth["data_files"] == {"re-read": 0, "unchanged": 0, "failed": 1}
        errors = platform.harvesting.jobs.job_errors(fourth["id"])
        assert any(e["kind"] == "data-file" and "404" in e["message"] for e in errors)
        assert platform.features.layer(dataset_id).count == 214
    finally:
        platform.close()
        files.close()


def test_a_push_of_the_same_dataset_re_reads_its_data_file_only_when_it_changed(tmp_path, database_url):
    """On both backends of the data layer: the rows of data files (part datafiles) in SQLite or PostgreSQL."""
    from server.app import create_app

    files = FileServer()
    raw = _v1_gbk()
    files.files["/pushed.csv"] = raw
    environ = {"WODP_DATABASE__URL": database_url, "WODP_DATABASE__AUTO_MIGRATE": "true"} if database_url else {}
    platform = _platform(tmp_path, [], environ)
    try:
        client = create_app(platform=platform, start_workers=False).test_client()
        headers = {"Authorization": f"Bearer {platform.accounts.create('D017')[1]}"}
        record = _record(f"{files.url}/pushed.csv", 资源代码="420100-D017-09102")

        def push(**fields):
            body = json.dumps({**record, **fields}, ensure_ascii=False).encode()
            answer = client.post("/api/datasets", data=body, content_type="application/json", headers=headers)
            assert answer.status_code in (200, 201), answer.get_data(as_text=True)
            return answer.get_json()["published"][0]["id"]

        dataset_id = push()
        assert platform.features.layer(dataset_id).count == 215
        writes = _Writes(platform.features)
        before = len(files.gets)
        push(资源名称="武汉市轨道交通站点（改名）")  # new metadata, the same file: the layer's features stay
        # the layer's conditional read is answered 304 (the data API's loader may read the file too, in the
        # background, so the 304 need not be the last request)
        assert writes.count == 0 and ("/pushed.csv", 304) in files.gets[before:]
        layer = platform.features.layer(dataset_id)
        assert (layer.count, layer.title_zh) == (215, "武汉市轨道交通站点（改名）")
        files.files["/pushed.csv"] = shorter = b"\n".join(raw.splitlines()[:100]) + b"\n"
        push()
        assert writes.count == 1 and platform.features.layer(dataset_id).count == len(_gcj_points(shorter)) == 98
        row = platform.layers.state.get(f"{platform.settings.base_uri}/datasets/{dataset_id}")
        assert (row.outcome, row.placed) == ("read", 98)
        assert (platform.layers.state.db.path is None) == bool(database_url)  # where the row is
    finally:
        platform.close()
        files.close()


def test_a_cloud_center_record_naming_the_gcj02_station_file_gives_its_layer(tmp_path):
    """The cloud data center route end to end: 215 stations within 0.5 m of the reference, each in its district."""
    from harvesters.cloud_center_app import CloudCenterApp
    from server.app import create_app

    center = CloudCenterApp(tokens=[TOKEN])
    files = FileServer(extra=center)
    raw = _v1_gbk()
    files.files["/cloud/stations.csv"] = raw
    center.put(_record(f"{files.url}/cloud/stations.csv", 资源代码="420100-D017-09103",
                       资源名称="武汉市轨道交通站点（政务云）", 坐标系="GCJ-02（高德）"))
    platform = _platform(tmp_path, [{"name": "cloud", "kind": "cloud", "url": files.url}],
                         environ={"WODP_HARVEST__CLOUD_TOKEN": TOKEN})
    try:
        report = platform.harvesting.run("cloud")
        assert (report["status"], report["new"], report["held"]) == ("succeeded", 1, 0), report["message"]
        assert report["data_files"]["re-read"] == 1
        [dataset_id] = report["changed_datasets"]["created"]
        client = create_app(platform=platform, start_workers=False).test_client()
        layer = client.get(f"/api/layers/{dataset_id}", headers=admin_headers(platform)).get_json()["report"]
        assert (layer["rows"], layer["placed"], layer["source_crs"], layer["crs_source"]) == (
            219, 215, "GCJ02", "dataset")
        items = client.get(f"/ogc/collections/{dataset_id}/items?limit=1000&f=json").get_json()["features"]
        items.sort(key=lambda f: int(f["id"]))
        points = _gcj_points(raw)
        assert len(items) == len(points) == 215
        worst = max(haversine_m(*f["geometry"]["coordinates"], *_ref_inverse(*p)) for f, p in zip(items, points))
        assert worst < 0.5
        doc = json.loads(shared_path("data", "wuhan", "wuhan_districts_420100_full_datav.json").read_text("utf-8"))
        as_gcj = Boundary.from_geojson(doc, "WGS84", name="as GCJ-02")     # the source points, as they are
        converted = Boundary.from_geojson(doc, "GCJ02", name="CGCS2000")   # our output, in CGCS2000
        truth = [as_gcj.part_of(*p) for p in points]
        assert all(truth) and [converted.part_of(*f["geometry"]["coordinates"]) for f in items] == truth
    finally:
        platform.close()
        files.close()


def test_wodp_load_of_the_same_dataset_hashes_its_local_file(tmp_path, monkeypatch, capsys):
    """`wodp load` again: a file: URL inside spatial.data_dir is hashed; re-read only when its bytes changed."""
    from config import load_settings
    from server.cli import main
    from server.platform import Platform
    from tests.test_ogc_channels import _dataset_file

    data_dir, home = tmp_path / "data", tmp_path / "home"
    data_dir.mkdir()
    csv_path = data_dir / "stations.csv"
    csv_path.write_bytes(_v1_gbk())
    for name in [k for k in os.environ if k.startswith("WODP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WODP_HOME", str(home))
    monkeypatch.setenv("WODP_SPATIAL__DATA_DIR", str(data_dir))
    monkeypatch.setenv("WODP_CSW__ENABLED", "false")
    turtle = tmp_path / "stations.ttl"
    turtle.write_bytes(_dataset_file("http://127.0.0.1:8000", "09104", csv_path.as_uri()))

    def load() -> dict:
        assert main(["load", str(turtle)]) == 0
        return json.loads(capsys.readouterr().out)["data_files"]

    assert load() == {"re-read": 1, "unchanged": 0, "failed": 0}
    assert load() == {"re-read": 0, "unchanged": 1, "failed": 0}
    csv_path.write_bytes(b"\n".join(_v1_gbk().splitlines()[:50]) + b"\n")
    assert load() == {"re-read": 1, "unchanged": 0, "failed": 0}
    platform = Platform.open(load_settings({}, overrides={"spatial": {"data_dir": str(data_dir)},
                                                          "csw": {"enabled": False}}, home=home),
                             start_workers=False)
    try:
        assert platform.features.layer("wuhan.420100-D017-09104").count == len(
            _gcj_points(b"\n".join(_v1_gbk().splitlines()[:50]) + b"\n"))
    finally:
        platform.close()


def test_an_unreadable_file_is_reported_each_time_and_republishes_nothing_until_it_changes(tmp_path):
    """A spatial record whose file cannot be read has no layer, so no published CRS: held. The same bytes are
    not read again; once the department fixes the file, the next harvest reads it and publishes the dataset."""
    files = FileServer()
    files.files["/broken.csv"] = b'{"not": "a table'  # a broken JSON file behind a .csv URL
    (tmp_path / "d017.json").write_text(json.dumps([_record(f"{files.url}/broken.csv", 资源代码="420100-D017-09105")],
                                                   ensure_ascii=False), encoding="utf-8")
    platform = _platform(tmp_path, [{"name": "d017-file", "kind": "inventory", "path": "d017.json",
                                     "jurisdiction": "420100"}])
    try:
        first = platform.harvesting.run("d017-file")
        assert (first["new"], first["held"], first["data_files"]["failed"]) == (0, 1, 1), first["message"]
        uri = platform.harvesting.jobs.entries("d017-file").popitem()[0]
        dataset_id = uri.rsplit("/", 1)[-1]
        assert "malformed JSON" in platform.layers.problems[dataset_id]
        again = platform.harvesting.run("d017-file")  # the same bytes: a 304, nothing published
        assert (again["new"], again["held"], again["data_files"]) == (0, 1, {"re-read": 0, "unchanged": 1,
                                                                              "failed": 0})
        assert files.gets[-1] == ("/broken.csv", 304)
        files.files["/broken.csv"] = _v1_gbk()  # fixed: read, the layer made, the dataset published
        fixed = platform.harvesting.run("d017-file")
        assert (fixed["new"], fixed["held"], fixed["data_files"]["re-read"]) == (1, 0, 1), fixed["message"]
        assert platform.features.layer(dataset_id).count == 215
        assert platform.quarantine.get(dataset_id) is None
    finally:
        platform.close()
        files.close()


def test_a_published_file_is_fetched_once_for_its_layer_and_its_data_api_table(tmp_path):
    """The gate reads the file for the layer (and the data checks); the data API's load takes those bytes instead
    of asking the department's server a second time. A file the gate did not read (a dataset published again
    with its file unchanged: 304) is fetched by the loader itself, and loaded all the same."""
    from server.app import create_app

    files = FileServer()
    files.files["/pushed.csv"] = raw = _v1_gbk()
    platform = _platform(tmp_path, [])
    try:
        client = create_app(platform=platform, start_workers=False).test_client()
        headers = {"Authorization": f"Bearer {platform.accounts.create('D017')[1]}"}
        body = json.dumps(_record(f"{files.url}/pushed.csv", 资源代码="420100-D017-09103"), ensure_ascii=False)
        answer = client.post("/api/datasets", data=body.encode(), content_type="application/json", headers=headers)
        assert answer.status_code in (200, 201), answer.get_data(as_text=True)
        dataset_id = answer.get_json()["published"][0]["id"]
        assert platform.data_loader.wait(120)
        [table] = client.get(f"/api/data/{dataset_id}/tables").get_json()["tables"]
        assert (table["rows"], table["bytes"]) == (219, len(raw))
        assert files.gets.count(("/pushed.csv", 200)) == 1 and platform.data_loader.fetched == 0
        assert platform.features.layer(dataset_id).count == 215
        platform.data_loader.load(f"{platform.settings.base_uri}/datasets/{dataset_id}", "", force=True)
        assert files.gets.count(("/pushed.csv", 200)) == 2 and platform.data_loader.fetched == 1  # nothing kept
    finally:
        platform.close()
        files.close()
