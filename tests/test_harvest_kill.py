"""A harvest process killed with SIGKILL at several points: every dataset is before or after, never between."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvest_fixtures.harness import Harness
from harvesters.provenance import content_hash

ROOT = Path(__file__).resolve().parents[1]
N = 300


def _wait_log(db: Path, text: str, proc, after_job: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the harvest ended before {text!r}: {proc.stdout.read()}")
        try:
            with sqlite3.connect(db, timeout=1) as con:
                if con.execute("SELECT 1 FROM harvest_job_log WHERE job > ? AND line LIKE ?", (after_job, f"%{text}%")).fetchone():
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.005)
    raise AssertionError(f"no {text!r} in the job log")


def _hashes(h) -> dict[str, str]:
    return {u: content_hash(u, h.store.dataset_triples(u)) for u in h.store.dataset_uris()}


@pytest.mark.slow
@pytest.mark.parametrize("point", ["fetching", "publishing", "batch 2:"])
def test_sigkill_leaves_each_dataset_before_or_after(tmp_path, point):
    source = FakeSource()
    fake = FakeCkan(source, [ckan_package(n) for n in range(N)])
    sources = [{"name": "ck", "kind": "ckan", "url": source.url}]
    h = Harness(tmp_path, sources, page_size=50)
    assert h.run("ck")["new"] == N
    before = _hashes(h)
    assert before == {u: e.hash for u, e in h.jobs.entries("ck").items()}   # stored content = hashed content
    h.close()
    for p in fake.packages[::2]:
        p["title"] += " (revised)"
    del fake.packages[-10:]
    if point == "fetching":
        source.fault_when = lambda path, query: "block" if query.get("start") == "100" else None
    config = tmp_path / "wodp.yml"
    config.write_text(yaml.safe_dump({"harvest": {"sources": sources, "page_size": 50, "batch_size": 50,
                                                  "timeout_s": 60}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "harvest", "ck"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if point == "fetching":
            assert source.blocked.wait(60)
        else:
            _wait_log(tmp_path / "harvest.sqlite", point, proc, after_job=1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        source.fault_when = None
        source.release.set()
        h = Harness(tmp_path, sources, page_size=50)
        middle = _hashes(h)
        h.close()
        h = Harness(tmp_path, sources, page_size=50)
        retry = h.run("ck")
        [killed] = [j for j in h.jobs.jobs("ck") if j.id == retry["retry_of"]]
        assert killed.status == "interrupted" and "interrupted" in killed.message
        assert retry["status"] == "succeeded" and h.store.count_datasets() == N - 10
        after = _hashes(h)
        for uri, digest in middle.items():          # each dataset exactly before or after, never between
            assert digest in (before.get(uri), after.get(uri)), uri
        assert set(middle) <= set(before) | set(after)
        if point == "fetching":
            assert middle == before                  # nothing was published before the listing was complete
        elif point == "batch 2:":
            assert middle != before                  # the kill came after two batches were published
        assert retry["updated"] + retry["unchanged"] == N - 10 and retry["withdrawn"] == 10
        h.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        source.close()
