"""One dataset by two channels: a department's push wins over its inventory file, by the stated rule."""

from __future__ import annotations

import json

import pytest

from config import load_settings

RECORD = {
    "资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-05555", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12",
}


@pytest.fixture
def platform(tmp_path):
    from server.app import create_app
    from server.platform import Platform

    drop = tmp_path / "drop"
    drop.mkdir()
    sources = [{"name": "jtj-files", "kind": "inventory", "path": str(drop), "mapping": "china-core",
                "channel": "file"}]
    settings = load_settings({}, overrides={"harvest": {"sources": sources}}, home=tmp_path / "home")
    p = Platform.open(settings, start_workers=False)
    yield p, create_app(platform=p).test_client(), drop
    p.close()


def title(client, dataset_id: str) -> str:
    body = client.get(f"/datasets/{dataset_id}.nt").get_data(as_text=True)
    return next(line for line in body.splitlines() if "/title>" in line and "@zh" in line)


def test_push_outranks_the_file_channel_for_the_same_resource_code(platform):
    p, client, drop = platform
    _, token = p.accounts.create("D017")
    pushed = dict(RECORD, 资源名称="武汉市公共停车场信息（推送版）")
    answer = client.post("/api/datasets", data=json.dumps(pushed, ensure_ascii=False).encode(),
                         content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    dataset_id = "wuhan.420100-D017-05555"
    assert "推送版" in title(client, dataset_id)

    (drop / "inventory.json").write_text(json.dumps([dict(RECORD, 资源名称="武汉市公共停车场信息（文件版）")],
                                                    ensure_ascii=False), encoding="utf-8")
    report = p.harvesting.run("jtj-files")
    assert report["status"] == "succeeded" and report["superseded"] == 1 and report["new"] == 0
    assert "推送版" in title(client, dataset_id)  # the push keeps the dataset
    assert p.store.count_datasets() == 1


def test_push_replaces_what_the_file_channel_brought(platform):
    p, client, drop = platform
    (drop / "inventory.json").write_text(json.dumps([dict(RECORD, 资源名称="武汉市公共停车场信息（文件版）")],
                                                    ensure_ascii=False), encoding="utf-8")
    assert p.harvesting.run("jtj-files")["new"] == 1
    dataset_id = "wuhan.420100-D017-05555"
    assert "文件版" in title(client, dataset_id)
    _, token = p.accounts.create("D017")
    pushed = dict(RECORD, 资源名称="武汉市公共停车场信息（推送版）")
    answer = client.post("/api/datasets", data=json.dumps(pushed, ensure_ascii=False).encode(),
                         content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "推送版" in title(client, dataset_id)
    assert p.store.count_datasets() == 1
