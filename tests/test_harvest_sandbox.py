"""Harvests read and map their fetched pages in sandbox workers (core.sandbox): same figures, limits enforced.

Each harvester kind runs once in this process and once with its pages read in a real sandbox; the reports and
the datasets published must agree. A page that needs more memory than ``sandbox.memory_mb`` fails its job with
the limit named, the worker is replaced, and the next harvest is read as usual.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import psutil
import pytest

from core.sandbox import Limits, Sandbox
from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness
from harvest_fixtures.wsgi_server import WsgiServer
from harvesters.cloud_center_app import CloudCenterApp, demo_records

FIXTURES = Path(__file__).parent / "harvest_fixtures"
TOKEN = "s3cret-cloud-token"
FIGURES = ("status", "new", "updated", "unchanged", "held", "withdrawn", "failed", "records_read", "mapped",
           "duplicates", "key_collisions", "unplaced_fields", "unknown_values", "bad_values", "missing_fields",
           "problems", "held_reasons", "fetch_problems", "errors")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    box = Sandbox(Limits(memory_mb=400, timeout_s=60, workers=1, nice=0),
                  tmp_path_factory.mktemp("slots"), preload=("harvesters.pages",))
    box.start()
    yield box
    box.close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """One local source of each page-reading kind: DCAT (Turtle and RDF/XML), CSW, CKAN, cloud, inventory."""
    fake = FakeSource()
    fake.static("/feed.ttl", (FIXTURES / "dcat_ap_it.ttl").read_bytes(), "text/turtle")
    fake.static("/feed.rdf", (FIXTURES / "dcat_ap_ch.rdf").read_bytes(), "application/rdf+xml")
    fake.static("/csw", (FIXTURES / "csw_dublin_core.xml").read_bytes(), "application/xml")
    packages = [{"id": f"p{n}", "name": f"parking-{n}", "title": f"Parking {n}", "notes": "Car parks.",
                 "extras": [{"key": "frequency", "value": "monthly"}]} for n in range(3)]
    fake.static("/api/3/action/package_search", json.dumps(
        {"success": True, "result": {"count": 3, "results": packages}}).encode(), "application/json")
    cloud = WsgiServer(CloudCenterApp(demo_records(30), tokens=[TOKEN]))
    drop = tmp_path_factory.mktemp("drop")
    shutil.copy(FIXTURES / "inventory_utf8_header.json", drop / "d017.json")
    yield [{"name": "ttl", "kind": "dcat", "url": fake.url + "/feed.ttl"},
           {"name": "rdf", "kind": "dcat", "url": fake.url + "/feed.rdf"},
           {"name": "dc", "kind": "csw", "url": fake.url + "/csw", "options": {"output_schema": "dublin-core"}},
           {"name": "ckan", "kind": "ckan", "url": fake.url},
           {"name": "cloud", "kind": "cloud", "url": cloud.url},
           {"name": "drop", "kind": "inventory", "path": str(drop)}]
    cloud.close()
    fake.close()


def _harvest(home: Path, sources: list[dict], sandbox=None) -> tuple[dict, set]:
    h = Harness(home, sources, environ={"WODP_HARVEST__CLOUD_TOKEN": TOKEN}, sandbox=sandbox)
    try:
        reports = {s["name"]: h.run(s["name"]) for s in sources}
        return ({name: {k: r.get(k) for k in FIGURES} for name, r in reports.items()},
                {str(q.graph_name.value) for q in h.store.quads()})
    finally:
        h.close()


def test_a_harvest_read_in_the_sandbox_gives_the_same_figures_and_datasets(tmp_path, sources, sandbox):
    here, here_graphs = _harvest(tmp_path / "inline", sources)
    there, there_graphs = _harvest(tmp_path / "sandboxed", sources, sandbox)
    assert all(r["status"] == "succeeded" and r["new"] + r["held"] > 0 for r in here.values()), here
    assert there == here
    assert there_graphs == here_graphs


def _keywords_page(values: int) -> bytes:
    """One DCAT dataset with ``values`` keywords: 4 MB of Turtle need far more than 400 MB to read and split."""
    numbers = ", ".join(f'"k{i}"' for i in range(values))
    return ("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n"
            "<http://example.org/d/1> a dcat:Dataset ; dct:identifier \"big\" ; dct:title \"Big\" ;\n"
            f"  dcat:keyword {numbers} .\n").encode()


def test_a_page_past_the_memory_limit_fails_its_job_and_the_next_harvest_is_read(tmp_path, sources, sandbox):
    fake = FakeSource()
    fake.static("/big.ttl", _keywords_page(600_000), "text/turtle")
    h = Harness(tmp_path, [{"name": "big", "kind": "dcat", "url": fake.url + "/big.ttl"}, sources[0]],
                sandbox=sandbox)
    try:
        sandbox.run(sum, [])
        [before] = sandbox.worker_pids()
        report = h.run("big")
        assert report["status"] == "failed"
        assert (f"SandboxMemoryError: reading the page {fake.url}/big.ttl needed more than 400 MB of memory and "
                "was stopped (settings sandbox.memory_mb); nothing published from big was changed") in report["message"]
        assert report["new"] == 0 and h.store.count_datasets() == 0
        deadline = time.monotonic() + 10          # the worker that went over was killed
        while psutil.pid_exists(before) and psutil.Process(before).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        listed = h.jobs.report(report["id"])     # the job store shows the failure as users read it
        assert listed["status"] == "failed" and "400 MB" in listed["message"]
        after = h.run("ttl")                      # this process carries on, and so do the harvests
        assert after["status"] == "succeeded" and after["new"] + after["held"] > 0
    finally:
        h.close()
        fake.close()
