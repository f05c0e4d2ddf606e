"""The admin console's source page in a real browser (Debian's Chromium, headless, zh-CN): the trend chart.

A real server (waitress on 127.0.0.1, in a thread) serves a platform whose harvest jobs the test wrote over
the last days; Chromium opens /admin/sources/<name> at desktop and phone size. We check what an admin sees:
the chart drawn by the locally served ECharts (no request leaves the loopback address), the datasets it counts
equal to the job rows' sum, the bars' colours on the screenshot. Screenshots go to the test's temporary
directory (and to $ADMIN_SHOTS_DIR when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from types import SimpleNamespace

import pytest

from conftest import STAFF_PASSWORD, make_account
from config import load_settings
from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from server.app import create_app
from server.platform import Platform
from tests.test_admin_console import put_job
from tests.test_browser_map import Visit, browser, near, pixel, png_pixels  # noqa: F401  (browser: a fixture)


def wait_for_text(page, selector: str, text: str, tries: int = 60) -> None:
    """Wait until an element holds text, across the page's own reloads (a job's page looks again while it runs)."""
    for _ in range(tries):
        try:
            if text in page.locator(selector).inner_text(timeout=5_000):
                return
        except Exception:  # noqa: BLE001  the page was reloading: look again
            pass
        page.wait_for_timeout(1_000)
    raise AssertionError(f"{selector} never said {text!r}: {page.locator(selector).inner_text()!r}")

pytestmark = pytest.mark.slow
NEW_RGB = (0x2F, 0x7D, 0x32)      # the "new" bars of server/admin/static/trends.js
UPDATED_RGB = (0x1F, 0x5F, 0xA8)
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def sign_in_page(page, url: str, login: str, path: str) -> None:
    """Open a console page as a visitor does: sent to the sign-in form, signed in, brought back to the page
    (the browser profile is the module's: once signed in, the session cookie stays)."""
    page.goto(f"{url}{path}", wait_until="load")
    if "/admin/login" not in page.url:
        return
    page.fill("#login", login)
    page.fill("#password", STAFF_PASSWORD)
    page.click(".sign-in-form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url == f"{url}{path}", page.url


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from waitress import create_server

    home = tmp_path_factory.mktemp("admin-site")
    sources = [{"name": "wuhan-ckan", "kind": "ckan", "url": "http://127.0.0.1:9/ckan", "schedule": "0 2 * * *"},
               {"name": "wuhan-dcat", "kind": "dcat", "url": "http://127.0.0.1:9/dcat"}]
    settings = load_settings({}, overrides={"csw": {"enabled": False}, "harvest": {"sources": sources}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    jobs, day, now = platform.harvesting.jobs, 86400, time.time()
    rows = [(9, "succeeded", 120, dict(new=40, unchanged=0)), (7, "succeeded", 35, dict(new=3, updated=12, held=2)),
            (5, "failed", 8, dict(failed=6)), (4, "succeeded", 30, dict(updated=5, held=1, unchanged=40)),
            (2, "succeeded", 44, dict(new=8, updated=9, unchanged=45)), (1, "failed", 6, dict(failed=3)),
            (0, "succeeded", 52, dict(new=6, updated=4, held=3, unchanged=50))]
    for back, status, seconds, counts in rows:
        put_job(jobs, "wuhan-ckan", status, now - back * day - 60, seconds, **counts)
    total = sum(c.get(k, 0) for *_, c in rows for k in ("new", "updated", "held", "failed"))
    for back, counts in ((3, dict(new=11, held=4)), (0, dict(updated=2, failed=1))):   # a second source
        put_job(jobs, "wuhan-dcat", "succeeded", now - back * day - 60, 10, **counts)
    app = create_app(platform=platform)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    admin = make_account(platform, "admin")
    ckan = FakeSource()   # a CKAN the last test adds as a source in the console
    FakeCkan(ckan, [ckan_package(n) for n in range(5)])
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.effective_port}", total=total, everything=total + 18,
                          login=admin.login, ckan=ckan.url)
    ckan.close()
    server.close()
    thread.join(5)
    platform.close()


@pytest.mark.parametrize("size", SIZES)
def test_source_page_draws_its_trend_chart(browser, site, size, tmp_path):  # noqa: F811
    url, total, login = site.url, site.total, site.login
    visit = Visit(browser)
    try:
        page = visit.page
        page.set_viewport_size(dict(zip(("width", "height"), SIZES[size])))
        sign_in_page(page, url, login, "/admin/sources/wuhan-ckan")
        page.wait_for_function("() => document.getElementById('trend-chart').dataset.state !== 'loading'",
                               timeout=30_000)
        chart = page.locator("#trend-chart")
        assert chart.get_attribute("data-state") == "done"
        assert int(chart.get_attribute("data-datasets")) == total
        assert int(chart.get_attribute("data-days")) == 30
        assert page.locator("#trend-chart canvas").count() >= 1
        assert "wuhan-ckan" in page.title() and page.locator("h1.admin-title").inner_text().startswith("wuhan-ckan")
        assert visit.elsewhere() == []
        assert any(u.endswith("/static/vendor/echarts/echarts.min.js") for u in visit.urls)
        chart.scroll_into_view_if_needed()
        shot = page.screenshot(full_page=True)
        path = tmp_path / f"admin-source-{size}.png"
        path.write_bytes(shot)
        if os.environ.get("ADMIN_SHOTS_DIR"):
            shutil.copy(path, os.environ["ADMIN_SHOTS_DIR"])
        # the bars are drawn: the "new" and "updated" colours are on the chart's part of the screenshot
        box = chart.bounding_box()
        image = png_pixels(page.screenshot(clip=box))
        width, height = image[0], image[1]
        colours = [pixel(image, x, y) for x in range(0, width, 2) for y in range(0, height, 2)]
        assert any(near(c, NEW_RGB, 20) for c in colours)
        assert any(near(c, UPDATED_RGB, 20) for c in colours)
    finally:
        visit.page.close()


def test_overview_draws_the_trend_of_all_sources(browser, site, tmp_path):  # noqa: F811
    url, everything, login = site.url, site.everything, site.login
    visit = Visit(browser)
    try:
        page = visit.page
        page.set_viewport_size({"width": 1280, "height": 900})
        sign_in_page(page, url, login, "/admin/?lang=en")
        page.wait_for_function("() => document.getElementById('trend-chart').dataset.state !== 'loading'",
                               timeout=30_000)
        chart = page.locator("#trend-chart")
        assert chart.get_attribute("data-state") == "done"
        assert int(chart.get_attribute("data-datasets")) == everything   # both sources, summed per day
        assert page.locator("#stat-sources").inner_text() == "2" and visit.elsewhere() == []
        path = tmp_path / "admin-overview-desktop.png"
        path.write_bytes(page.screenshot(full_page=True))
        if os.environ.get("ADMIN_SHOTS_DIR"):
            shutil.copy(path, os.environ["ADMIN_SHOTS_DIR"])
    finally:
        visit.page.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page_path", ["accounts", "settings", "alerts"])
def test_console_pages_read_at_both_sizes(browser, site, size, page_path, tmp_path):  # noqa: F811
    url, login = site.url, site.login
    visit = Visit(browser)
    try:
        page = visit.page
        page.set_viewport_size(dict(zip(("width", "height"), SIZES[size])))
        sign_in_page(page, url, login, f"/admin/{page_path}")
        assert page.locator("nav.admin-nav a.active").inner_text() == {
            "accounts": "账号与角色", "settings": "运行设置", "alerts": "告警"}[page_path]
        if page_path == "accounts":
            assert page.locator(f'tr[data-account="{login}"]').count() == 1
            assert page.locator("#add-account form").count() == 1
        if page_path == "settings":
            assert page.locator("tr.secret-row").count() >= 5   # database.url, tianditu.key, ... each hidden
        assert visit.elsewhere() == []
        # nothing wider than the screen but the tables, which scroll inside their panel
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow
        path = tmp_path / f"admin-{page_path}-{size}.png"
        path.write_bytes(page.screenshot(full_page=True))
        if os.environ.get("ADMIN_SHOTS_DIR"):
            shutil.copy(path, os.environ["ADMIN_SHOTS_DIR"])
    finally:
        visit.page.close()


def test_admin_adds_a_source_runs_it_and_sees_its_trend(browser, site, tmp_path):  # noqa: F811
    """The workflow end to end, as an admin clicks it: add a CKAN source, run it now, read its trend."""
    url, login = site.url, site.login
    visit = Visit(browser)
    try:
        page = visit.page
        page.set_viewport_size({"width": 1280, "height": 900})
        sign_in_page(page, url, login, "/admin/sources")
        form = page.locator("#add-source form")
        form.locator("input[name=name]").fill("city-ckan")
        form.locator("select[name=kind]").select_option("ckan")
        form.locator("input[name=url]").fill(site.ckan)
        form.locator("input[name=schedule]").fill("0 4 * * *")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.url.startswith(f"{url}/admin/sources/city-ckan")
        assert page.locator(".admin-done").inner_text() == "已新增采集源 city-ckan。"
        page.locator("form[action$='/admin/sources/city-ckan/run'] button").click()
        page.wait_for_load_state("load")
        assert page.locator(".admin-done").inner_text().startswith("采集作业 ")  # running, then its result:
        wait_for_text(page, ".admin-done", "成功")  # the page looks again every 2 s while the job runs
        page.wait_for_load_state("load")
        assert "成功（新增 5，更新 0，拦截 0，失败 0）" in page.locator(".admin-done").inner_text()
        assert page.locator("tr.job-succeeded").count() == 1
        assert login in page.locator(".source-def").inner_text()   # who added it, by login name
        page.wait_for_function("() => document.getElementById('trend-chart').dataset.state !== 'loading'",
                               timeout=30_000)
        assert page.locator("#trend-chart").get_attribute("data-datasets") == "5"
        assert visit.elsewhere() == []
        path = tmp_path / "admin-source-added-and-run.png"
        path.write_bytes(page.screenshot(full_page=True))
        if os.environ.get("ADMIN_SHOTS_DIR"):
            shutil.copy(path, os.environ["ADMIN_SHOTS_DIR"])
    finally:
        visit.page.close()
