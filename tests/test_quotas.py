"""API-key quotas (issue 13, point 3): exact under concurrent load across processes and threads, 429 with
Retry-After at the data doors, the day window, usage counted per key, dataset and day — on both backends."""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone


from core.database import open_database
from services.quotas import Quotas

NOW = datetime(2026, 10, 9, 3, 15, 20, tzinfo=timezone.utc)  # 11:15:20 in Beijing
KEY = re.compile(r'<code id="new-key-value">([^<]+)</code>')


def _settings(settings_factory, **limits):
    return settings_factory(quotas=limits).quotas


def _charge_many(url, path, per_minute, n, key) -> int:
    """In another process: open the part and make n requests at one instant; return how many were allowed."""
    from config import load_settings

    settings = load_settings({}, overrides={"quotas": {"conditional": {"per_minute": per_minute, "per_day": 0}}},
                             home=path.parent).quotas
    quotas = Quotas(open_database(url, "quotas", path, auto_migrate=True), settings)
    allowed = sum(quotas.charge(key, "https://x/datasets/a", "conditional", NOW).allowed for _ in range(n))
    quotas.close()
    return allowed


def test_exactly_the_limit_across_two_processes(tmp_path, database_url):
    path = tmp_path / "quotas.sqlite"
    Quotas(open_database(database_url, "quotas", path, auto_migrate=True),
           None).close()  # migrate once before the processes race
    limit, per_process = 17, 25
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        allowed = pool.starmap(_charge_many, [(database_url, path, limit, per_process, "k1")] * 2)
    assert sum(allowed) == limit  # 50 requests: exactly 17 allowed, 33 refused
    quotas = Quotas(open_database(database_url, "quotas", path, auto_migrate=True), None)
    (row,) = quotas.usage("k1")
    assert (row["count"], row["refused"], row["day"]) == (limit, 2 * per_process - limit, "2026-10-09")
    quotas.close()


def test_exactly_the_limit_across_threads(tmp_path, settings_factory, database_url):
    settings = _settings(settings_factory, conditional={"per_minute": 30, "per_day": 0})
    quotas = Quotas(open_database(database_url, "quotas", tmp_path / "quotas.sqlite", auto_migrate=True), settings)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: quotas.charge("k2", "d", "conditional", NOW).allowed, range(80)))
    assert results.count(True) == 30 and results.count(False) == 50
    assert quotas.count("k2", "conditional", "minute", NOW) == 30
    quotas.close()


def test_the_minute_and_the_day(tmp_path, settings_factory):
    settings = _settings(settings_factory, conditional={"per_minute": 2, "per_day": 3})
    quotas = Quotas(tmp_path / "quotas.sqlite", settings)
    first = [quotas.charge("k", "d", "conditional", NOW) for _ in range(3)]
    assert [c.allowed for c in first] == [True, True, False]
    assert (first[2].window, first[2].limit, first[2].retry_after) == ("minute", 2, 40)  # 11:15:20 → 11:16:00
    later = NOW + timedelta(minutes=1)
    second = [quotas.charge("k", "d", "conditional", later) for _ in range(2)]
    assert [c.allowed for c in second] == [True, False]  # the day's third, then the day is spent
    assert second[1].window == "day"
    assert second[1].retry_after == int((datetime(2026, 10, 10, tzinfo=timezone(timedelta(hours=8)))
                                         - later).total_seconds())  # until midnight in Beijing
    # a request the day refused gave its minute back: the minute holds the one allowed request only
    assert quotas.count("k", "conditional", "minute", later) == 1
    next_day = datetime(2026, 10, 9, 16, 0, 5, tzinfo=timezone.utc)  # 00:00:05 on 10 Oct in Beijing
    assert quotas.charge("k", "d", "conditional", next_day).allowed
    assert {(r["day"], r["count"], r["refused"]) for r in quotas.usage("k")} == {("2026-10-09", 3, 2),
                                                                                 ("2026-10-10", 1, 0)}
    # another key, another open type: counted apart
    assert quotas.charge("other", "d", "conditional", NOW).allowed
    assert quotas.charge("k", "d", "unconditional", later).allowed
    quotas.close()


def test_prune_keeps_the_current_windows(tmp_path, settings_factory):
    settings = _settings(settings_factory, conditional={"per_minute": 5, "per_day": 5})
    quotas = Quotas(tmp_path / "quotas.sqlite", settings)
    quotas.charge("k", "d", "conditional", NOW)
    quotas.charge("k", "d", "conditional", NOW + timedelta(minutes=2))
    assert quotas.prune(NOW + timedelta(minutes=2)) == 1  # the earlier minute; the day and this minute stay
    assert quotas.count("k", "conditional", "day", NOW) == 2
    quotas.close()


def test_429_with_retry_after_at_the_data_door(tmp_path, sign_in):
    from config import load_settings
    from ontology.namespaces import DCAT
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 5}, "rate_limits": {"enabled": False},
                                            "quotas": {"unconditional": {"per_minute": 3, "per_day": 100}}},
                             home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    try:
        load_demo(platform)
        app = create_app(platform=platform)
        app.config["TESTING"] = True
        base = settings.base_uri
        query = """SELECT ?d WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType>
                   <https://data.wuhan.gov.cn/def/open-type/unconditional> } }"""
        path = next(t.object.value[len(base):] for row in platform.store.query(query)
                    for t in platform.store.dataset_triples(row[0].value)
                    if t.predicate == DCAT.downloadURL and t.object.value.startswith(f"{base}/files/"))
        client = app.test_client()
        sign_in(client, "public")
        key = KEY.search(client.post("/account/keys", data={"csrf_token": client.csrf_token})
                         .get_data(as_text=True)).group(1)
        keyed = app.test_client()
        answers = [keyed.get(path, headers={"Authorization": f"Bearer {key}"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
        assert keyed.get(f"{path}?api_key={key}").status_code == 429  # the same key, however it is sent
        assert keyed.get(path).status_code == 200  # no key: not counted against any key's quota
        (usage,) = platform.quotas.usage()
        assert (usage["count"], usage["refused"]) == (3, 2)
        assert key not in str(usage)  # the token id is kept, never the key
    finally:
        platform.close()
