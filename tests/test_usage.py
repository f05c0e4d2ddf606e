"""Usage counts (services/usage.py, server/usage_counting.py): views, downloads and API calls per dataset,
department and day, exact across processes, without addresses, robots apart."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from datetime import date, timedelta

import pytest

from services.usage import UsageCounter, is_bot, truncate_address, visitor_key

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"


def test_addresses_are_truncated_and_never_kept():
    assert truncate_address("203.0.113.77") == "203.0.113.0/24"
    assert truncate_address("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::/48"
    assert truncate_address("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert truncate_address("unknown") is None
    # two hosts of one /24 are one visitor; another /24 or another day's salt is another
    assert visitor_key("203.0.113.5", "s1") == visitor_key("203.0.113.200", "s1")
    assert visitor_key("203.0.113.5", "s1") != visitor_key("203.0.114.5", "s1")
    assert visitor_key("203.0.113.5", "s1") != visitor_key("203.0.113.5", "s2")


def test_robots_are_known_by_their_user_agent():
    assert is_bot(BOT) and is_bot("curl/8.5.0") and is_bot("python-requests/2.32") and is_bot(None)
    assert not is_bot(BROWSER)


def test_counts_add_up_exactly_from_threads_and_two_counters(tmp_path):
    path = tmp_path / "usage.sqlite"
    a = UsageCounter(path, flush_s=0, department_of=lambda d: "whsjj")
    b = UsageCounter(path, flush_s=0, department_of=lambda d: "whsjj")

    def hit(counter, n):
        for i in range(n):
            counter.record("view", "demo.x", user_agent=BROWSER, address=f"10.0.{i % 3}.{i % 250}")
            if i % 50 == 0:
                counter.flush()

    threads = [threading.Thread(target=hit, args=(c, 500)) for c in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.record("download", "demo.x", user_agent=BOT, address="10.9.9.9")
    a.close()
    b.close()
    c = UsageCounter(path, flush_s=0)
    assert c.dataset_totals("demo.x")["view"].total == 2000
    assert c.dataset_totals("demo.x")["download"].total == 0  # the robot's download is counted apart
    assert c.dataset_totals("demo.x", bots=True)["download"].total == 1
    assert c.visitors("demo.x", c.clock()) == 3  # networks 10.0.0/24, 10.0.1/24, 10.0.2/24
    c.close()
    # nothing in the file is an address
    raw = sqlite3.connect(path)
    text = " ".join(str(v) for table in ("usage_counts", "usage_visitors", "usage_salts")
                    for row in raw.execute(f"SELECT * FROM {table}") for v in row)
    raw.close()
    assert "10.0." not in text and "10.9.9.9" not in text


def test_per_department_and_day_and_the_last_30_days(tmp_path):
    today = date(2026, 12, 6)
    clock = {"day": today - timedelta(days=40)}
    counter = UsageCounter(tmp_path / "u.sqlite", flush_s=0, clock=lambda: clock["day"],
                           department_of={"demo.a": "whsjj", "demo.b": "whjtj"}.get)
    for _ in range(3):
        counter.record("view", "demo.a", user_agent=BROWSER)
    clock["day"] = today
    for _ in range(2):
        counter.record("view", "demo.a", user_agent=BROWSER)
    counter.record("api", "demo.b", user_agent=BROWSER)
    counter.flush()
    assert counter.dataset_totals("demo.a")["view"].total == 5
    assert counter.dataset_totals("demo.a")["view"].last_30 == 2
    rows = counter.by_department_day(today - timedelta(days=60), today)
    assert rows == [
        {"department": "whjtj", "day": "2026-12-06", "view": 0, "download": 0, "api": 1},
        {"department": "whsjj", "day": "2026-10-27", "view": 3, "download": 0, "api": 0},
        {"department": "whsjj", "day": "2026-12-06", "view": 2, "download": 0, "api": 0},
    ]
    assert counter.by_department_day(today, today, "whsjj") == [rows[2]]
    counter.close()


@pytest.fixture
def two_apps(demo_platform):
    """The demo app and a second app over the same platform but its own counter on the same database (as two
    web processes)."""
    from server.app import create_app

    first = demo_platform.usage
    first.flush()
    second = UsageCounter(demo_platform.settings.home / "usage.sqlite", flush_s=0,
                          department_of=demo_platform.department_of)
    apps = []
    for platform in (demo_platform, dataclasses.replace(demo_platform, usage=second)):
        app = create_app(platform=platform)
        app.config["TESTING"] = True
        apps.append(app)
    yield apps, (first, second)
    second.close()


def _open_spatial_dataset(platform, client) -> tuple[str, str, str]:
    """Return (dataset id, download path, layer id) of a demo dataset whose file and layer anyone may read."""
    from ontology.namespaces import DCAT

    base = platform.settings.base_uri
    for info in platform.ogc.features.layers():
        if info.kind != "feature" or not info.dataset_uri:
            continue
        for t in platform.store.dataset_triples(info.dataset_uri):
            if t.predicate == DCAT.downloadURL and t.object.value.startswith(f"{base}/files/"):
                path = t.object.value[len(base):]
                if client.head(path).status_code == 200:
                    return info.dataset_uri.rsplit("/", 1)[-1], path, info.id
    raise AssertionError("the demo has no open dataset with a file and a layer")


def test_views_downloads_and_api_calls_are_counted_from_two_apps(two_apps, demo_platform):
    apps, counters = two_apps
    dataset, download, layer = _open_spatial_dataset(demo_platform, apps[0].test_client())
    before = counters[0].dataset_totals(dataset)
    bots_before = counters[0].dataset_totals(dataset, bots=True)
    n = 7
    for app in apps:
        client = app.test_client()
        for i in range(n):
            env = {"REMOTE_ADDR": f"198.51.100.{i}"}
            assert client.get(f"/datasets/{dataset}", headers={"User-Agent": BROWSER},
                              environ_overrides=env).status_code == 200
            assert client.get(f"/datasets/{dataset}.ttl", headers={"User-Agent": BROWSER}).status_code == 200
            assert client.get(download, headers={"User-Agent": BROWSER}).status_code == 200
            assert client.get(f"/ogc/collections/{layer}/items?f=json",
                              headers={"User-Agent": BROWSER}).status_code == 200
        # not counted: a robot (apart), a HEAD, a missing file, another dataset's page
        assert client.get(f"/datasets/{dataset}", headers={"User-Agent": BOT}).status_code == 200
        assert client.head(download, headers={"User-Agent": BROWSER}).status_code == 200
        assert client.get(download + "-missing", headers={"User-Agent": BROWSER}).status_code == 404
    for counter in counters:
        counter.flush()
    after = counters[0].dataset_totals(dataset)
    assert after["view"].total - before["view"].total == 2 * 2 * n
    assert after["download"].total - before["download"].total == 2 * n
    assert after["api"].total - before["api"].total == 2 * n
    assert after["view"].last_30 - before["view"].last_30 == 2 * 2 * n
    bots_after = counters[0].dataset_totals(dataset, bots=True)
    assert bots_after["view"].total - bots_before["view"].total == 2
    department = demo_platform.department_of(dataset)
    assert department
    today = counters[0].clock()
    rows = counters[0].by_department_day(today, today, department)
    assert rows and rows[0]["view"] >= 2 * 2 * n


def test_the_dataset_page_shows_the_counts(demo_client, demo_platform):
    dataset = demo_platform.store.dataset_uris()[0].rsplit("/", 1)[-1]
    demo_client.get(f"/datasets/{dataset}.ttl", headers={"User-Agent": BROWSER})
    demo_platform.usage.flush()
    totals = demo_platform.usage.dataset_totals(dataset)
    assert totals["view"].total >= 1
    page = demo_client.get(f"/datasets/{dataset}", headers={"User-Agent": BROWSER}).get_data(as_text=True)
    # the page is made before its own view is counted
    assert f'id="usage-view-total">{totals["view"].total}<' in page
    assert f'id="usage-download-total">{totals["download"].total}<' in page
    assert f'id="usage-api-30">{totals["api"].last_30}<' in page


def test_two_counters_add_up_on_both_backends(tmp_path, database_url):
    """Two processes' counters on one database (SQLite file or PostgreSQL): the UPSERTs add up exactly."""
    from core.database import open_database

    def counter():
        return UsageCounter(open_database(database_url, "usage", tmp_path / "usage.sqlite", auto_migrate=True),
                            flush_s=0, department_of=lambda d: "D017")

    a, b = counter(), counter()
    threads = [threading.Thread(target=lambda c=c: [c.record("download", "demo.y", user_agent=BROWSER,
                                                             address=f"2001:db8:{i % 2}::{i}") or
                                                    (i % 40 == 0 and c.flush()) for i in range(300)])
               for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.flush()
    b.flush()
    assert a.dataset_totals("demo.y")["download"].total == 600
    assert b.visitors("demo.y", b.clock()) == 2  # two /48 networks
    day = a.clock()
    assert a.by_department_day(day, day, "D017") == [
        {"department": "D017", "day": day.isoformat(), "view": 0, "download": 600, "api": 0}]
    a.close()
    b.close()


def test_two_web_processes_add_up_and_flush_at_shutdown(tmp_path):
    """wodp serve with two web processes and the writer: every view is counted once, written at shutdown at the
    latest (the flush interval is longer than the test)."""
    import os
    import signal
    import subprocess
    import urllib.request

    from tests.conftest import free_port
    from tests.test_web_processes import ROOT, Server

    env = dict(os.environ, WODP_HOME=str(tmp_path), PYTHONPATH=str(ROOT), WODP_SERVER__PROCESSES="2",
               WODP_DEMO__DATASETS="20", WODP_DEMO__SPATIAL="3", WODP_LOGGING__LEVEL="WARNING",
               WODP_CSW__ENABLED="false", WODP_SPARQL__WORKERS="1", WODP_SANDBOX__WORKERS="1",
               WODP_SERVICES__USAGE_FLUSH_S="3600")
    port = free_port()
    subprocess.run([str(ROOT / ".venv/bin/wodp"), "demo", "--build-only", "--port", str(port)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    server = Server(tmp_path, port, env)
    try:
        with urllib.request.urlopen(f"{server.url}/catalog.nt?page_size=1", timeout=30) as answer:
            import re

            dataset = re.search(r"/datasets/([^>/]+)> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                                r"<http://www.w3.org/ns/dcat#Dataset>", answer.read().decode()).group(1)
        pages = 0
        for i in range(30):
            for suffix in ("", ".ttl"):
                request = urllib.request.Request(f"{server.url}/datasets/{dataset}{suffix}",
                                                 headers={"User-Agent": BROWSER})
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert answer.status == 200
                    pages += 1
        assert len(server.web_pids()) == 2
    finally:
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=60)
    counter = UsageCounter(tmp_path / "usage.sqlite", flush_s=0)
    assert counter.dataset_totals(dataset)["view"].total == pages == 60
    counter.close()
