"""Harvests stream: pages spooled on disk and published batch by batch, errors written in chunks, step times."""

from __future__ import annotations

import pytest

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvest_fixtures.harness import Harness
from harvesters.spool import PageSpool
from mappings.model import SourceRecord


def test_a_spool_gives_back_each_page_as_added(tmp_path):
    spool = PageSpool(tmp_path / "spool")
    first = [SourceRecord("s", None, {"title": f"标题 {n}"}, f"p1#{n}") for n in range(3)]
    second = [SourceRecord("s", None, {"title": "two"}, "p2#1")]
    spool.add("p1", first)
    spool.add("empty", [])
    spool.add("p2", second)
    assert [(page, items) for page, items in spool.pages()] == [("p1", first), ("p2", second)]
    assert len(spool) == 4 and spool[3] == second[0] and spool[-4] == first[0] and list(spool) == first + second
    assert spool.counts() == {"p1": 3, "p2": 1}
    assert list((tmp_path / "spool").iterdir()) == []    # unnamed: nothing is left behind, even by a kill
    with pytest.raises(IndexError):
        spool[4]
    spool.close()


@pytest.fixture
def big_ckan(tmp_path):
    source = FakeSource()
    fake = FakeCkan(source, [ckan_package(n) for n in range(130)])
    harness = Harness(tmp_path, [{"name": "ck", "kind": "ckan", "url": source.url}], page_size=20, batch_size=50)
    yield source, fake, harness
    harness.close()
    source.close()


def test_batches_are_published_as_they_fill_and_the_report_gives_step_times(big_ckan):
    source, fake, h = big_ckan
    report = h.run("ck")
    assert report["status"] == "succeeded" and report["new"] == 130 and h.store.count_datasets() == 130
    log = h.jobs.job_log(report["id"])
    assert [line.split(":")[0] for line in log if line.startswith("batch ")] == ["batch 1", "batch 2", "batch 3"]
    assert any(line.startswith("batch 3: 30 published") for line in log)
    steps = report["steps_s"]
    for name in ("fetch", "detect changes", "map", "validate", "store", "ledger"):
        assert name in steps and steps[name] >= 0, name
    listed = h.jobs.job(report["id"]).figures["steps_s"]        # kept with the job: /api/harvest/jobs shows it
    assert listed == steps
    assert not any((h.settings.home / "spool").iterdir())      # the job's spool is gone with it


def test_errors_beyond_what_is_held_in_memory_are_all_kept(big_ckan, monkeypatch):
    import harvesters.runner as runner

    source, fake, h = big_ckan
    monkeypatch.setattr(runner, "ERRORS_HELD", 7)   # written to the job store every 7 errors
    for p in fake.packages:
        p["extras"] = [{"value": "no key"}]         # one fetch problem per package
    report = h.run("ck")
    assert report["status"] == "succeeded" and report["new"] == 130
    assert report["fetch_problems"] == 130
    errors = h.jobs.job_errors(report["id"])
    assert report["errors"] == len(errors) > 130                 # the mapping's problems come with them
    fetched = [e for e in errors if e["origin"] == "fetch"]
    assert len(fetched) == 130 and all("extras entry 1 has no key" in e["message"] for e in fetched)
