"""A home keeps the base URI its catalogue was built with (dataset URIs are their identity).

Re-running `wodp demo` on the same WODP_HOME with another --port used to mint a second URI for every dataset
(site.base_uri follows --port when left at its default): the store held both catalogues. Now the home remembers
its base URI; a later run on another port keeps it, and an explicit other site.base_uri is refused with a message
naming the stored one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = 12


def _wodp(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _figure(out: str, name: str) -> int:
    return int(re.search(rf"^  {name}\s+(\d+)$", out, re.M).group(1))


def test_demo_twice_on_other_ports_keeps_one_catalogue(tmp_path):
    config = tmp_path / "wodp.yml"
    config.write_text(f"demo:\n  datasets: {DATASETS}\n  spatial: 0\nsandbox:\n  enabled: false\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path / "home"), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT))
    # a home without datasets yet takes another base URI (its first start before site.base_uri was edited)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "base-uri").write_text("http://127.0.0.1:8000\n")

    first = _wodp(dict(env, WODP_SITE__BASE_URI="http://127.0.0.1:8011"), "demo", "--build-only")
    assert first.returncode == 0, first.stderr[-2000:]
    assert _figure(first.stdout, "stored datasets") == DATASETS
    assert (tmp_path / "home" / "base-uri").read_text().strip() == "http://127.0.0.1:8011"

    second = _wodp(env, "demo", "--build-only", "--port", "8012")
    assert second.returncode == 0, second.stderr[-2000:]
    assert _figure(second.stdout, "stored datasets") == DATASETS  # not 2 x DATASETS
    assert _figure(second.stdout, "search index datasets") == DATASETS
    assert "keeps its base URI http://127.0.0.1:8011" in second.stderr

    moved = _wodp(dict(env, WODP_SITE__BASE_URI="https://data.example.cn"), "demo", "--build-only")
    assert moved.returncode == 1
    assert "built with http://127.0.0.1:8011" in moved.stderr and "wodp export" in moved.stderr
    again = _wodp(env, "demo", "--build-only")
    assert _figure(again.stdout, "stored datasets") == DATASETS


def test_a_home_built_before_the_base_uri_was_kept_is_not_doubled(tmp_path):
    """A home without WODP_HOME/base-uri (built by an older wodp) learns it from its datasets, once, and says so."""
    config = tmp_path / "wodp.yml"
    config.write_text(f"demo:\n  datasets: {DATASETS}\n  spatial: 0\nsandbox:\n  enabled: false\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path / "home"), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT))
    first = _wodp(env, "demo", "--build-only", "--port", "8021")
    assert first.returncode == 0, first.stderr[-2000:]
    (tmp_path / "home" / "base-uri").unlink()  # as an older wodp left it

    other = _wodp(env, "demo", "--build-only", "--port", "8022")
    assert other.returncode == 1 and "minted under http://127.0.0.1:8021" in other.stderr, other.stderr[-2000:]
    assert (tmp_path / "home" / "base-uri").read_text().strip() == "http://127.0.0.1:8021"
    again = _wodp(env, "demo", "--build-only", "--port", "8022")
    assert again.returncode == 0, again.stderr[-2000:]
    assert _figure(again.stdout, "stored datasets") == DATASETS
