"""数据报送 and 审核 in a real browser (Debian's Chromium, headless, zh-CN), end to end.

A publisher of D017 reports a dataset with a data file, sees the violation beside its field, fixes it and submits;
a reviewer returns it with a reason, the publisher submits it again, the reviewer approves it: it is on its
dataset page. Screenshots of the form, the queue and the review page at desktop and phone size go to the test's
temporary directory (and to $ADMIN_SHOTS_DIR when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import STAFF_PASSWORD, make_account
from tests.test_browser_map import Visit, browser  # noqa: F401  (browser: a fixture)
from tests.workbench_support import CSV, VALUES, open_platform

pytestmark = pytest.mark.slow
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from waitress import create_server

    from server.app import create_app

    platform = open_platform(tmp_path_factory.mktemp("workbench-site"))
    app = create_app(platform=platform)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.effective_port}", platform=platform,
                          publisher=make_account(platform, "publisher", "D017").login,
                          reviewer=make_account(platform, "reviewer").login)
    server.close()
    thread.join(5)
    platform.close()


def sign_in(page, url: str, login: str, path: str) -> None:
    """Sign out whoever is signed in, open the page, be sent to sign in, and come back to it."""
    page.goto(f"{url}/admin/logout", wait_until="load")
    if "/admin/logout" in page.url:
        page.click("form[action*='/admin/logout'] button[type=submit]")
        page.wait_for_load_state("load")
    page.goto(f"{url}{path}", wait_until="load")
    assert "/admin/login" in page.url, page.url
    page.fill("#login", login)
    page.fill("#password", STAFF_PASSWORD)
    page.click(".sign-in-form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.startswith(f"{url}{path}"), page.url


def shoot(page, name: str, tmp_path: Path) -> None:
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        path = tmp_path / f"{name}-{size}.png"
        path.write_bytes(page.screenshot(full_page=True))
        if os.environ.get("ADMIN_SHOTS_DIR"):
            shutil.copy(path, Path(os.environ["ADMIN_SHOTS_DIR"]) / path.name)
    page.set_viewport_size({"width": 1280, "height": 900})


def click(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state("load")


def test_report_fix_submit_return_approve(browser, site, tmp_path):  # noqa: F811
    url = site.url
    visit = Visit(browser)
    page = visit.page
    try:
        sign_in(page, url, site.publisher, "/admin/workbench/new")
        assert page.locator("#field-title .wb-req").inner_text() == "*必填"
        page.fill("#in-resource_code", VALUES["resource_code"])
        page.fill("#in-title", VALUES["title"])
        page.select_option("#in-publisher", VALUES["publisher"])
        page.select_option("#in-open_type", VALUES["open_type"])
        page.select_option("#in-update_cycle", VALUES["update_cycle"])
        page.fill("#in-issued", VALUES["issued"])
        page.select_option("#in-format", ["csv"])
        page.fill("#in-contact", VALUES["contact"])
        click(page, "form.wb-form button[type=submit]")
        # the violation is beside the description, which is marked
        assert "缺少资源摘要（dct:description）。" in page.locator("#field-description .wb-findings").inner_text()
        assert page.locator("#field-description.wb-invalid").count() == 1
        assert page.locator("#field-title .wb-findings").count() == 0
        shoot(page, "workbench-violation", tmp_path)

        csv = tmp_path / "stations.csv"
        csv.write_bytes(CSV)
        page.set_input_files("form[action*='/files'] input[type=file]", str(csv))
        page.select_option("form[action*='/files'] select[name=crs]", "GCJ02")
        click(page, "form[action*='/files'] button[type=submit]")
        assert "stations.csv" in page.locator("#field-files").inner_text()
        page.fill("#in-description", VALUES["description"])
        click(page, "form.wb-form button[type=submit]")
        assert "0 个错误" in page.locator("#report").inner_text()
        click(page, "form[action$='/submit'] button")
        assert page.locator("h1 .wb-status").inner_text() == "待审核"
        submission = page.url.rsplit("/", 1)[-1].split("?")[0]

        sign_in(page, url, site.reviewer, "/admin/review")
        assert VALUES["title"] in page.locator("table.wb-table").inner_text()
        shoot(page, "review-queue", tmp_path)
        click(page, f"a[href*='/admin/review/{submission}']")
        assert page.locator("#diff tr[data-field='title'] .wb-add").inner_text() == VALUES["title"]
        shoot(page, "review-item", tmp_path)
        assert site.publisher in page.locator("table.wb-table").last.inner_text()  # the history, by login name
        page.fill("form[action$='/return'] textarea", "请补充数据量")
        click(page, "form[action$='/return'] button")

        sign_in(page, url, site.publisher, f"/admin/workbench/{submission}")
        assert "请补充数据量" in page.locator("#returned").inner_text()
        page.fill("#in-data_volume", "2")
        click(page, "form.wb-form button[type=submit]")
        click(page, "form[action$='/submit'] button")

        sign_in(page, url, site.reviewer, f"/admin/review/{submission}")
        click(page, "form[action$='/approve'] button")
        assert page.locator("h1 .wb-status").inner_text() == "已发布"
        page.goto(f"{url}/datasets/wuhan.{VALUES['resource_code']}", wait_until="load")
        assert VALUES["title"] in page.locator("h1").inner_text()
        assert visit.elsewhere() == []
    finally:
        page.close()
