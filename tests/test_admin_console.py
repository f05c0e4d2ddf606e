"""The admin console: harvest trends recomputed from job rows, alerts, secrets hidden, a source added and run.

Trends are checked on SQLite and PostgreSQL (where tests start it) against sums made here from the rows the
test wrote; alerts on a source made to fail, one made stuck, one overdue and one never run; the settings page
with a database URL holding a password and a Tianditu key set through the environment; a source added in
the console and harvested by "run now" from a local HTTP server.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from config import load_settings
from core.database import open_database
from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvesters.jobs import JobStore
from manage import trends as rules

CHINA = timezone(timedelta(hours=8))
NOW = datetime(2026, 10, 8, 12, 0, tzinfo=CHINA).timestamp()   # noon in Wuhan
COUNTED = ("new", "updated", "unchanged", "held", "failed", "withdrawn")


def put_job(jobs: JobStore, source: str, status: str, started: float, seconds: float | None = None,
            **counts) -> int:
    """Write one job row as harvests leave them (status, counts), then place it at the given moment."""
    job = jobs.start(source)
    if status != "running":
        jobs.finish(job, status, counts, message=f"test job {status}")
    jobs.db.run("UPDATE harvest_jobs SET started = :s, heartbeat = :h, finished = :f WHERE id = :id",
                {"s": started, "h": started if status != "running" else time.time(),
                 "f": None if status == "running" else started + (seconds or 0), "id": job})
    return job


def expected_trends(rows: list[dict], days: int, now: float) -> dict[str, dict[str, dict]]:
    """Sum the rows written by the test per source and Wuhan calendar day, within the last ``days`` days."""
    today = datetime.fromtimestamp(now, CHINA).date()
    window = {(today - timedelta(days=n)).isoformat() for n in range(days)}
    out: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for r in rows:
        day = datetime.fromtimestamp(r["started"], CHINA).date().isoformat()
        if day not in window:
            continue
        cell = out[r["source"]][day]
        cell["runs"] += 1
        cell["failed_runs"] += r["status"] in ("failed", "interrupted")
        for k in COUNTED:
            cell[k] += r.get(k, 0)
        if r["status"] != "running":
            cell["duration_s"] += r["seconds"]
    return out


@pytest.fixture
def harvest_db(tmp_path, database_url):
    db = open_database(database_url, "harvest", tmp_path / "harvest.sqlite", auto_migrate=True)
    jobs = JobStore(db)
    yield jobs
    jobs.close()


def test_trends_are_the_sums_of_the_job_rows_per_source_and_day(harvest_db):
    hour = 3600
    rows = [  # two sources over a week, across Wuhan midnight (16:00 UTC), one running, one outside the window
        dict(source="a", status="succeeded", started=NOW - 2 * hour, seconds=40.5, new=12, updated=3, unchanged=80),
        dict(source="a", status="succeeded", started=NOW - 11 * hour - 59 * 60, seconds=20.0, updated=7, held=2),
        dict(source="a", status="failed", started=NOW - 12 * hour - 60, seconds=3.25, failed=4),   # 23:59 yesterday
        dict(source="a", status="interrupted", started=NOW - 3 * 24 * hour, seconds=100.0, new=1),
        dict(source="a", status="succeeded", started=NOW - 9 * 24 * hour, seconds=9.0, new=500),   # outside 7 days
        dict(source="b", status="succeeded", started=NOW - 24 * hour, seconds=61.0, new=2, withdrawn=1, held=5),
        dict(source="b", status="running", started=NOW - 600),
    ]
    for r in rows:
        put_job(harvest_db, r["source"], r["status"], r["started"], r.get("seconds"),
                **{k: r[k] for k in COUNTED if k in r})
    want = expected_trends(rows, 7, NOW)
    got = rules.trends(harvest_db.db, None, 7, utc_offset_h=8, now=NOW)
    assert sorted(got) == ["a", "b"]
    today = datetime.fromtimestamp(NOW, CHINA).date()
    for source, series in got.items():
        assert [d.day for d in series] == [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
        for d in series:
            cell = want[source].get(d.day, {})
            assert d.runs == cell.get("runs", 0), (source, d.day)
            assert d.failed_runs == cell.get("failed_runs", 0), (source, d.day)
            for k in COUNTED:
                assert getattr(d, k) == cell.get(k, 0), (source, d.day, k)
            assert d.duration_s == pytest.approx(cell.get("duration_s", 0.0), abs=1e-3), (source, d.day)
    # the figures a user reads: today 12 new for a; yesterday's 23:59 failure counted yesterday, not today
    a = {d.day: d for d in got["a"]}
    assert a[today.isoformat()].new == 12 and a[today.isoformat()].failed == 0
    assert a[(today - timedelta(days=1)).isoformat()].failed == 4
    assert sum(d.new for d in got["a"]) == 13   # the 500 of nine days ago are outside the window
    one = rules.trends(harvest_db.db, "b", 3, utc_offset_h=8, now=NOW)
    assert list(one) == ["b"] and [d.runs for d in one["b"]] == [0, 1, 1]
    assert rules.chart_data(one["b"])["held"] == [0, 5, 0]


def test_alerts_name_the_failing_the_stuck_the_overdue_and_the_never_run(harvest_db):
    limits = load_settings({}).trends
    day = 86400
    for n in range(3):   # failing: its last three jobs failed (an older success does not help)
        put_job(harvest_db, "broken", "succeeded" if n == 0 else "failed", NOW - (10 - n) * day, 5, new=1)
    put_job(harvest_db, "broken", "failed", NOW - 6 * day, 5)
    stuck = put_job(harvest_db, "stuck", "running", NOW - 2 * 3600)          # running 2 h, limit 1 h
    put_job(harvest_db, "late", "succeeded", NOW - 5 * day, 30, new=3)        # daily schedule, 5 days ago
    put_job(harvest_db, "heldback", "succeeded", NOW - 3600, 30, new=2, held=8)
    put_job(harvest_db, "fine", "succeeded", NOW - 3600, 30, new=4, unchanged=90)
    put_job(harvest_db, "off", "failed", NOW - 40 * day, 1)                    # disabled: no not-run alert
    sources = [rules.SourceInfo("broken"), rules.SourceInfo("stuck"), rules.SourceInfo("late", interval_s=day),
               rules.SourceInfo("heldback"), rules.SourceInfo("fine", interval_s=day),
               rules.SourceInfo("never"), rules.SourceInfo("off", enabled=False)]
    found = rules.alerts(harvest_db.db, sources, limits, now=NOW)
    kinds = {(a.source, a.kind) for a in found}
    assert kinds == {("broken", "failing"), ("stuck", "stuck"), ("late", "overdue"), ("heldback", "held"),
                     ("never", "not-run")}
    by = {a.kind: a for a in found}
    assert by["stuck"].job == stuck and "2.0" in by["stuck"].message_en
    assert by["held"].figures == {"held": 8, "read": 10, "share": 0.8, "limit": 0.5}
    assert "3" in by["failing"].message_zh and by["failing"].message_en == "its last 3 harvests all failed"
    # the stuck source's job is alive (fresh heartbeat): the alert is about its length, not a dead process
    assert harvest_db.job(stuck).status == "running"


# -- through the console -------------------------------------------------------------------------------
@pytest.fixture
def console(tmp_path):
    """A platform with two sources in its settings (one scheduled daily), and a test client of its app."""
    from server.app import create_app
    from server.platform import Platform

    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(7)])
    sources = [{"name": "cfg-ckan", "kind": "ckan", "url": "http://127.0.0.1:9/nothing", "schedule": "0 2 * * *"},
               {"name": "cfg-off", "kind": "ckan", "url": "http://127.0.0.1:9/nothing", "enabled": False}]
    settings = load_settings({}, overrides={"csw": {"enabled": False}, "rate_limits": {"enabled": False},
                                            "harvest": {"sources": sources}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield platform, app.test_client(), source
    platform.close()
    source.close()


def test_alerts_page_shows_a_failing_and_a_stuck_source(console, sign_in):
    platform, client, _ = console
    sign_in(client, "auditor")   # reading the console: read-management
    jobs = platform.harvesting.jobs
    now = time.time()
    for n in range(3):
        put_job(jobs, "cfg-ckan", "failed", now - (3 - n) * 3600, 2)
    put_job(jobs, "cfg-off", "running", now - 3 * 3600)
    page = client.get("/admin/alerts?lang=en")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="alert-([a-z-]+)"><td><a href="/admin/sources/([a-z-]+)', page.text)
    assert ("failing", "cfg-ckan") in rows and ("stuck", "cfg-off") in rows
    assert "its last 3 harvests all failed" in page.text
    zh = client.get("/admin/alerts").text
    assert "最近 3 次采集全部失败" in zh and "连续失败" in zh and "卡住" in zh
    overview = client.get("/admin/")
    assert re.search(r'id="stat-alerts">(\d+)<', overview.text).group(1) == str(len(rows))


def test_settings_page_hides_every_secret(tmp_path, database_url, sign_in):
    """A database URL with a password and a Tianditu key, set through the environment, never reach the page."""
    from server.app import create_app
    from server.platform import Platform

    password, key, token = "S3cret-pw-77", "tdt-key-5f3a9c", "cloud-token-91b2"
    url = database_url or "postgresql://wodp:x@127.0.0.1:9/none"
    with_password = re.sub(r"^postgresql://([^@:/]+)(:[^@]*)?@", rf"postgresql://\1:{password}@", url)
    environ = {"WODP_DATABASE__URL": with_password, "WODP_TIANDITU__KEY": key, "WODP_HARVEST__CLOUD_TOKEN": token}
    if database_url:   # PostgreSQL (trust authentication: the password is carried, not checked)
        environ["WODP_DATABASE__AUTO_MIGRATE"] = "true"
        settings = load_settings(environ, overrides={"csw": {"enabled": False}}, home=tmp_path)
        platform = Platform.open(settings, start_workers=False)
    else:              # SQLite: the platform runs embedded; the page shows the settings loaded with the secrets
        settings = load_settings(environ, overrides={"csw": {"enabled": False}}, home=tmp_path)
        assert settings.database.url == with_password and settings.tianditu.key == key
        platform = Platform.open(settings.model_copy(update={"database": settings.database.model_copy(
            update={"url": None})}), start_workers=False)
        platform.settings = settings
    try:
        app = create_app(platform=platform)
        app.config["TESTING"] = True
        client = app.test_client()
        sign_in(client, "admin")
        page = client.get("/admin/settings")
        assert page.status_code == 200
        for secret in (password, key, token):
            assert secret not in page.text
        assert page.text.count("（已设置，已隐藏）") >= 3   # database.url, tianditu.key, harvest.cloud_token
        assert "<code>database.url</code>" in page.text and "<code>tianditu.key</code>" in page.text
        assert "<code>site.base_uri</code>" in page.text   # the rest is shown
    finally:
        platform.close()


def test_a_source_added_in_the_console_is_harvested_by_run_now(console, sign_in, monkeypatch):
    import sys
    import types

    platform, client, source = console
    admin = sign_in(client, "admin")
    entries = []   # what the console hands to the audit log (server.audit.audit), whichever log is installed
    fake = types.ModuleType("server.audit")
    fake.audit = lambda action, target, before=None, after=None, detail=None: entries.append(
        (action, target, before, after, detail))
    monkeypatch.setitem(sys.modules, "server.audit", fake)
    form = {"name": "console-ckan", "kind": "ckan", "url": source.url, "schedule": "30 3 * * *", "enabled": "on"}
    added = client.post("/admin/sources", data=form)
    assert added.status_code == 303 and added.headers["Location"].startswith("/admin/sources/console-ckan")
    listing = client.get("/admin/sources").text
    assert 'data-source="console-ckan"' in listing and 'data-source="cfg-ckan"' in listing
    cfg_row = listing.split('data-source="cfg-ckan"')[1].split("</tr>")[0]
    assert "配置文件（只读）" in cfg_row                              # settings' sources are marked read-only
    assert client.post("/admin/sources/cfg-ckan/enabled", data={"enabled": "0"}).status_code == 409
    assert client.post("/admin/sources", data={**form, "url": ""}).status_code == 409   # the name is taken
    bad = client.post("/admin/sources", data={**form, "name": "other", "schedule": "every day"})
    assert bad.status_code == 400 and "schedule" in bad.text
    # every process sees it: it is on the data layer
    assert platform.harvesting.table.get("console-ckan").origin == "console"
    assert platform.harvesting.table.get("console-ckan").updated_by == admin
    assert "console-ckan" in platform.harvesting.sources()
    from harvesters.scheduler import Scheduler   # the scheduler runs it too: 03:30 falls in (03:00, 04:00]

    since = datetime(2026, 10, 8, 3, 0)
    assert "console-ckan" in Scheduler(platform.harvesting, platform.settings.harvest).due(
        since, since + timedelta(hours=1))

    # run now: handed to a thread (the embedded set-up has no queue); the request answers while it runs
    source.faults["/api/3/action/package_search"] = "block"
    ran = client.post("/admin/sources/console-ckan/run")
    assert ran.status_code == 303  # answered; the run asks the source, which does not answer until released
    assert source.blocked.wait(60) and not source.release.is_set()
    job_id = int(re.search(r"job=(\d+)", ran.headers["Location"]).group(1))
    assert platform.harvesting.jobs.job(job_id).status == "running"
    running = client.get(ran.headers["Location"])
    assert f"采集作业 {job_id} 正在后台运行" in running.text and '<tr class="job-running">' in running.text
    assert '<meta http-equiv="refresh" content="2">' in running.text  # it looks again until the job ends
    again = client.post("/admin/sources/console-ckan/run")  # one run of a source at a time
    assert again.status_code == 409 and "already running" in again.text
    source.faults.clear()
    source.release.set()
    assert platform.harvesting.wait(120)
    job = platform.harvesting.jobs.job(job_id)
    assert job.status == "succeeded" and job.counts["new"] == 7 and job.source == "console-ckan"
    assert [e[0] for e in entries if e[0].startswith("harvest.")] == []  # runs are audited by the observer
    asked = client.post("/admin/sources/console-ckan/run", headers={"Accept": "application/json"})
    assert asked.status_code == 202 and asked.get_json()["status"] == "running"
    assert asked.headers["Location"] == f"/api/harvest/jobs/{asked.get_json()['job']}"
    assert platform.harvesting.wait(120)
    assert platform.harvesting.jobs.job(asked.get_json()["job"]).status == "succeeded"
    assert any("package_search" in r for r in source.requests)
    page = client.get(ran.headers["Location"])
    assert f"采集作业 {job_id}：成功（新增 7" in page.text and 'http-equiv="refresh"' not in page.text
    assert page.text.count('<tr class="job-succeeded">') == 2
    assert 'id="trend-chart"' in page.text and "vendor/echarts/echarts.min.js" in page.text
    trend = client.get("/admin/api/trends?source=console-ckan&days=7").get_json()
    series = trend["sources"]["console-ckan"]
    assert series["new"][-1] == 7 and sum(series["new"]) == 7 and series["runs"][-1] == 2  # then unchanged
    assert client.get("/admin/api/trends?source=nope").status_code == 404
    assert client.get("/admin/api/trends?days=0").status_code == 400

    # disabled: left out of the enabled sources; edited: its schedule changes
    assert client.post("/admin/sources/console-ckan/enabled", data={"enabled": "0"}).status_code == 303
    assert "console-ckan" not in platform.harvesting.sources()
    edit = client.post("/admin/sources/console-ckan/edit", data={**form, "schedule": "0 5 * * *"})
    assert edit.status_code == 303
    assert platform.harvesting.table.get("console-ckan").source.schedule == "0 5 * * *"
    assert platform.harvesting.table.get("console-ckan").source.enabled   # the form's checkbox was on


def test_console_pages_answer_in_chinese_and_english(console, sign_in):
    _, client, _ = console
    sign_in(client, "reviewer")
    zh, en = client.get("/admin/sources"), client.get("/admin/sources?lang=en")
    assert zh.status_code == en.status_code == 200
    assert '<html lang="zh-CN">' in zh.text and "新增采集源" in zh.text
    assert '<html lang="en">' in en.text and "Add a source" in en.text
    assert client.get("/admin/sources/nope").status_code == 404


def test_console_is_guarded_by_the_policy(console, sign_in):
    """Anonymous: sign in first (a page redirects, JSON 401); a publisher: 403; an auditor reads but may not run."""
    platform, client, _ = console
    app = client.application
    page = client.get("/admin/sources/cfg-ckan", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/admin/login?next=")
    assert client.get("/admin/api/trends?source=cfg-ckan").status_code == 401
    assert client.post("/admin/sources/cfg-ckan/run").status_code in (400, 401)   # no session, no CSRF token
    assert platform.harvesting.jobs.jobs("cfg-ckan") == []

    publisher = app.test_client()
    sign_in(publisher, "publisher")
    assert publisher.post("/admin/sources/cfg-ckan/run").status_code == 403
    for path in ("/admin/sources", "/admin/settings", "/admin/api/trends", "/admin/alerts"):
        assert publisher.get(path).status_code == 403, path
    home = publisher.get("/admin/")   # a publisher's home is its department's page
    assert home.status_code == 302 and home.headers["Location"] == "/admin/department"
    assert client.get("/admin/", headers={"Accept": "text/html"}).headers["Location"].startswith("/admin/login")
    auditor = app.test_client()
    sign_in(auditor, "auditor")
    assert auditor.get("/admin/settings").status_code == 200
    assert auditor.post("/admin/sources/cfg-ckan/run").status_code == 403
    assert auditor.post("/admin/sources", data={"name": "x", "kind": "ckan"}).status_code == 403
    assert platform.harvesting.jobs.jobs("cfg-ckan") == []   # nobody refused ran anything
    admin = app.test_client()
    sign_in(admin, "admin")
    for path in ("/admin/", "/admin/sources", "/admin/sources/cfg-ckan", "/admin/alerts", "/admin/settings",
                 "/admin/api/trends?source=cfg-ckan"):
        assert admin.get(path).status_code == 200, path
    ran = admin.post("/admin/sources/cfg-ckan/run")   # a settings source runs too (and fails: nothing listens)
    assert ran.status_code == 303 and platform.harvesting.wait(120)
    assert platform.harvesting.jobs.jobs("cfg-ckan")[0].status == "failed"
    no_csrf = app.test_client()
    sign_in(no_csrf, "admin")
    no_csrf.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert no_csrf.post("/admin/sources/cfg-ckan/run").status_code == 400   # CSRF token missing


def test_accounts_and_roles_are_managed_in_the_console(console, sign_in):
    from conftest import STAFF_PASSWORD, sign_in_as

    platform, client, _ = console
    me = sign_in(client, "admin")
    accounts = platform.accounts
    weak = client.post("/admin/accounts", data={"login": "zhang.san", "role": "publisher", "department": "D017",
                                                "password": "short"})
    assert weak.status_code == 400 and accounts.by_login("zhang.san") is None and "short" not in weak.text
    added = client.post("/admin/accounts", data={"login": "zhang.san", "display_name": "张三", "role": "publisher",
                                                 "department": "D017", "password": STAFF_PASSWORD})
    assert added.status_code == 303
    zhang = accounts.by_login("zhang.san")
    assert (zhang.role, zhang.department, zhang.display_name) == ("publisher", "D017", "张三")
    page = client.get(added.headers["Location"]).text
    assert "已新增账号 zhang.san" in page and 'data-account="zhang.san"' in page and "部门数据员" in page
    assert sign_in_as(platform_client(client), "zhang.san").status_code == 302   # the account signs in

    assert client.post(f"/admin/accounts/{zhang.id}/role", data={"role": "auditor"}).status_code == 303
    assert accounts.get(zhang.id).role == "auditor" and accounts.get(zhang.id).department is None
    assert client.post(f"/admin/accounts/{zhang.id}/disabled", data={"disabled": "1"}).status_code == 303
    assert not accounts.get(zhang.id).active
    assert sign_in_as(platform_client(client), "zhang.san").status_code == 401      # disabled: refused
    # an admin cannot lock themselves out
    assert client.post(f"/admin/accounts/{me}/disabled", data={"disabled": "1"}).status_code == 409
    assert client.post(f"/admin/accounts/{me}/role", data={"role": "auditor"}).status_code == 409
    assert accounts.get(me).active and accounts.get(me).role == "admin"
    # only the admin manages accounts
    reviewer = client.application.test_client()
    sign_in(reviewer, "reviewer")
    assert reviewer.get("/admin/accounts").status_code == 403
    assert reviewer.post(f"/admin/accounts/{zhang.id}/disabled", data={"disabled": "0"}).status_code == 403
    assert "/admin/accounts" not in reviewer.get("/admin/").text and "/admin/accounts" in client.get("/admin/").text


def platform_client(client):
    """A fresh client of the same app (its own cookies)."""
    return client.application.test_client()


def test_the_job_tables_explanation_is_chinese_on_the_chinese_page(console, sign_in):
    """The 说明 column says each job's message in Chinese (figures carried); the English page keeps it as written."""
    from collections import Counter

    from harvesters.figures import Figures
    from harvesters.runner import _summary

    platform, client, _ = console
    sign_in(client, "auditor")
    jobs = platform.harvesting.jobs
    figures = Figures(records_read=12, mapped=11, duplicates=1, unplaced_fields=Counter({"备注": 2}))
    summary = _summary(Counter(new=3, unchanged=8, held=1), figures, 4)  # the runner's own sentence
    done = put_job(jobs, "cfg-ckan", "succeeded", time.time() - 7200, 3)
    jobs.note_message(done, summary)
    stale = put_job(jobs, "cfg-ckan", "running", time.time() - 3600)
    jobs.db.run("UPDATE harvest_jobs SET heartbeat = :h, pid = NULL WHERE id = :id",
                {"h": time.time() - 3600, "id": stale})
    (interrupted,) = jobs.recover(600)
    assert interrupted.message.startswith("interrupted: no heartbeat for 600 s")

    def explanations(page: str) -> list[str]:
        return re.findall(r'<td class="message">([^<]*)</td>', page)

    zh = explanations(client.get("/admin/sources/cfg-ckan").text)
    assert zh == ["作业中断：600 秒无心跳；已发布的数据集各自保持作业之前或之后的状态，不会停在中间；重试即可完成",
                  "读取记录 12，映射 11；新增 3，更新 0，未变 8，拦截 1，撤回 0，失败 0；未归位字段 1，重复记录 1；"
                  "条件请求命中（304） 4"]
    assert not any(re.search(r"[A-Za-z]{3,}", text) for text in zh)  # no English word left
    en = explanations(client.get("/admin/sources/cfg-ckan?lang=en").text)
    assert en[1].startswith("12 records read, 11 mapped; 3 new") and en[0].startswith("interrupted: no heartbeat for 600 s")
    overview = explanations(client.get("/admin/").text)
    assert zh[0] in overview and zh[1] in overview


# the management pages each role may open, as the policy table (access/roles.py) gives them
NAV_PAGES = {"admin": {"/admin/workbench": True, "/admin/review": True, "/admin/applications": True,
                       "/admin/requests": True, "/admin/moderation": True, "/admin/showcase": True,
                       "/admin/audit": True},
             "reviewer": {"/admin/workbench": False, "/admin/review": True, "/admin/applications": True,
                          "/admin/requests": True, "/admin/moderation": True, "/admin/showcase": True,
                          "/admin/audit": False},
             "publisher": {"/admin/workbench": True, "/admin/review": False, "/admin/applications": True,
                           "/admin/requests": True, "/admin/moderation": False, "/admin/showcase": False,
                           "/admin/audit": False},
             "auditor": {"/admin/workbench": False, "/admin/review": False, "/admin/applications": False,
                         "/admin/requests": False, "/admin/moderation": False, "/admin/showcase": False,
                         "/admin/audit": True}}


@pytest.mark.parametrize("role", sorted(NAV_PAGES))
def test_both_menus_offer_the_pages_the_role_may_open(console, sign_in, role):
    """The console's menu and the staff bar of the pages outside it list the same management pages: each one the
    role may open (it answers 200), and none it may not (it answers 403)."""
    import re

    platform, client, _ = console
    sign_in(client, role)
    framed = client.get("/admin/").get_data(as_text=True) if role != "publisher" else None
    outside = client.get("/admin/department").get_data(as_text=True)
    for path, shown in NAV_PAGES[role].items():
        bar = re.search(r'<nav class="staff-nav".*?</nav>', outside, re.S)
        assert bar and (f'href="{path}' in bar.group(0)) == shown, (role, path, "staff bar")
        if framed is not None:
            menu = re.search(r'<nav class="admin-nav".*?</nav>', framed, re.S).group(0)
            assert (f'href="{path}"' in menu) == shown, (role, path, "console menu")
        assert client.get(path).status_code == (200 if shown else 403), (role, path)
