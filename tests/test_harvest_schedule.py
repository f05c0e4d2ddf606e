"""Harvest settings, cron schedules and the scheduler's choice of due sources; `wodp harvest` by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from config.settings import SettingsError, load_settings
from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvesters.scheduler import CronError, Scheduler, cron_matches, parse_cron

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_source_keys_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="sources"):
        load_settings({}, overrides={"harvest": {"sources": [{"name": "a", "kind": "ckan", "urll": "x"}]}},
                      home=tmp_path)
    with pytest.raises(SettingsError, match="unknown key harvest.bogus"):
        load_settings({}, overrides={"harvest": {"bogus": 1}}, home=tmp_path)


@pytest.mark.parametrize("cron,moment,expected", [
    ("0 3 * * *", datetime(2026, 11, 29, 3, 0), True),
    ("0 3 * * *", datetime(2026, 11, 29, 3, 1), False),
    ("*/15 * * * *", datetime(2026, 11, 29, 7, 45), True),
    ("0 4 1 1,4,7,10 *", datetime(2026, 4, 1, 4, 0), True),
    ("0 4 1 1,4,7,10 *", datetime(2026, 5, 1, 4, 0), False),
    ("30 2 * * 1-5", datetime(2026, 11, 29, 2, 30), False),   # a Sunday
    ("30 2 * * 0", datetime(2026, 11, 29, 2, 30), True),
])
def test_cron_matcher(cron, moment, expected):
    assert cron_matches(parse_cron(cron), moment) is expected


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "a * * * *", "*/0 * * * *"])
def test_bad_cron_is_refused(bad):
    with pytest.raises(CronError):
        parse_cron(bad)


def test_scheduler_picks_due_sources(tmp_path):
    from harvest_fixtures.harness import Harness

    h = Harness(tmp_path, [{"name": "a", "kind": "ckan", "url": "http://127.0.0.1:9", "schedule": "0 3 * * *"},
                           {"name": "b", "kind": "ckan", "url": "http://127.0.0.1:9", "schedule": "cycle"},
                           {"name": "c", "kind": "ckan", "url": "http://127.0.0.1:9"}])
    try:
        scheduler = Scheduler(h.harvesting, h.settings.harvest)
        assert scheduler.due(datetime(2026, 11, 29, 1, 50), datetime(2026, 11, 29, 3, 10)) == ["a", "b"]
        assert scheduler.due(datetime(2026, 11, 29, 2, 50), datetime(2026, 11, 29, 3, 10)) == ["a"]
        assert scheduler.due(datetime(2026, 11, 29, 3, 10), datetime(2026, 11, 29, 3, 20)) == []
    finally:
        h.close()


@pytest.mark.slow
def test_wodp_harvest_all_by_hand(tmp_path):
    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(12)])
    config = tmp_path / "wodp.yml"
    config.write_text(yaml.safe_dump({"harvest": {"sources": [
        {"name": "ck", "kind": "ckan", "url": source.url},
        {"name": "down", "kind": "ckan", "url": "http://127.0.0.1:9"}], "timeout_s": 2}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run([sys.executable, "-m", "server.cli", "harvest", "--all"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        jobs = {j["source"]: j for j in json.loads(done.stdout)["jobs"]}
        assert done.returncode == 1                     # one source failed
        assert jobs["ck"]["status"] == "succeeded" and jobs["ck"]["new"] == 12
        assert jobs["down"]["status"] == "failed" and "SourceUnavailableError" in jobs["down"]["message"]
    finally:
        source.close()
