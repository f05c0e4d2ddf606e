"""The showcase (应用成果) in a real browser (Debian's Chromium, headless, zh-CN), at desktop and 390×844 size.

A citizen signs in from the dataset page's link, submits an app with a screenshot and the dataset it uses; the link
monitor checks its link on a local file server; the bureau's reviewer sees the check in the queue and approves
it; an anonymous visitor finds it on /showcase, opens it, follows its dataset, and finds it again on the dataset
page. No page scrolls sideways at 390 px; axe-core (when `make test-assets` fetched it) finds no serious or critical
violation on the form, the account's items, the queue, the list and the item. Screenshots go to $WODP_SCREENSHOTS (default: the test's temporary
directory).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.catalog_samples import SAMPLES, fill_store
from tests.conftest import STAFF_PASSWORD, free_port, make_account
from tests.datafile_server import FileServer
from tests.test_browser_map import Visit, chromium
from tests.test_browser_portal import axe_serious
from tests.test_showcase import chart_png

pytestmark = pytest.mark.slow
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BUS = SAMPLES[0]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium(tmp_path_factory.mktemp("chromium-showcase"), {"width": 1280, "height": 900})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from waitress import create_server

    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    files = FileServer()
    files.files["/bus/"] = "<html><body>公交到站</body></html>".encode()
    port = free_port()
    settings = load_settings({}, overrides={
        "csw": {"enabled": False}, "rate_limits": {"enabled": False},
        "harvest": {"sources": [{"name": "links", "kind": "links", "options": {"sources": ["none"]}}]},
    }, home=tmp_path_factory.mktemp("showcase-browser"))
    platform = Platform.open(settings, start_workers=False)
    fill_store(platform.store)
    server = create_server(create_app(platform=platform), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield platform, f"http://127.0.0.1:{port}", files
    server.close()
    thread.join(5)
    platform.close()
    files.close()


class Pages:
    """The browser page, sign-in, and the screenshots at both sizes with the phone's sideways overflow."""

    def __init__(self, visit, url: str, shots: Path) -> None:
        self.page, self.url, self.shots = visit.page, url, shots
        self.overflow: dict[str, int] = {}
        self.serious: dict[str, list] = {}

    def axe(self, name: str) -> None:
        """Note what axe-core (served from the local file) finds serious or critical on the page at both sizes."""
        for size, (width, height) in SIZES.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.serious[f"{name}-{size}"] = axe_serious(self.page)
        self.page.set_viewport_size({"width": 1280, "height": 900})

    def go(self, path: str) -> None:
        self.page.goto(self.url + path, wait_until="load")

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.page.wait_for_load_state("load")

    def sign_in(self, login: str) -> None:
        assert "/admin/login" in self.page.url, self.page.url
        self.page.fill("#login", login)
        self.page.fill("#password", STAFF_PASSWORD)
        self.click(".sign-in-form button[type=submit]")

    def sign_out(self) -> None:
        self.go("/admin/logout")
        if "/admin/logout" in self.page.url:
            self.click("form[action*='/admin/logout'] button[type=submit]")

    def shoot(self, name: str) -> None:
        for size, (width, height) in SIZES.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.wait_for_timeout(150)
            if size == "phone":
                self.overflow[name] = self.page.evaluate(
                    "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - innerWidth")
            (self.shots / f"showcase-{name}-{size}.png").write_bytes(self.page.screenshot(full_page=True))
        self.page.set_viewport_size({"width": 1280, "height": 900})


def test_an_app_is_submitted_approved_and_linked(browser, site, tmp_path):
    platform, url, files = site
    shots = Path(os.environ.get("WODP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    citizen = make_account(platform, "public")
    reviewer = make_account(platform, "reviewer")
    visit = Visit(browser)
    pages = Pages(visit, url, shots)
    page = visit.page
    try:
        # from the dataset page, the citizen is asked to sign in, then fills the form
        pages.go(f"/datasets/{BUS.id}")
        assert page.locator("#showcase").inner_text().count("暂无使用本数据集的应用成果") == 1
        pages.click("#showcase a[href^='/showcase/new']")
        pages.sign_in(citizen.login)
        assert page.url.startswith(f"{url}/showcase/new?datasets={BUS.id}"), page.url
        assert BUS.title_zh in page.locator("#sc-dataset-titles").inner_text()
        page.select_option("#sc-kind", "app")
        page.fill("#sc-title", "武汉公交到站查询")
        page.fill("#sc-description", "基于公交车线路信息的实时到站查询应用。\n支持按线路和站点查询。")
        page.fill("#sc-link", f"{files.url}/bus/")
        page.fill("#sc-author", "开发者甲")
        shot = tmp_path / "shot.png"
        shot.write_bytes(chart_png())
        page.set_input_files("#sc-image", str(shot))
        pages.shoot("01-form")
        pages.axe("01-form")
        pages.click("#sc-form button[type=submit]")
        assert "/account/showcase" in page.url, page.url
        row = page.locator("#sc-mine tbody tr").first
        assert "武汉公交到站查询" in row.inner_text() and "待审核" in row.inner_text()
        pages.shoot("02-mine")
        pages.axe("02-mine")
        (item,) = platform.showcase.of_account(citizen.id)

        # the link monitor checks its link; the reviewer sees the check and approves
        report = platform.harvesting.run("links")
        assert (report["status"], report["checked"], report["broken"]) == ("succeeded", 1, 0), report["message"]
        pages.sign_out()
        pages.go("/admin/showcase")
        pages.sign_in(reviewer.login)
        assert page.url.startswith(f"{url}/admin/showcase"), page.url
        waiting = page.locator(f"#sc-waiting tr#item-{item.id}")
        assert "链接可用" in waiting.inner_text() and BUS.title_zh in waiting.inner_text()
        pages.shoot("03-queue")
        pages.axe("03-queue")
        pages.click(f"#sc-waiting tr#item-{item.id} button.sc-approve")
        assert page.locator("#sc-waiting-none").count() == 1
        assert page.locator(f"#sc-shown tr#item-{item.id}").count() == 1
        assert platform.showcase.get(item.id).status == "approved"

        # anyone finds it, opens it, follows its dataset and finds it there too
        pages.sign_out()
        pages.go("/showcase")
        assert page.locator("#main-menu a.active").inner_text() == "应用成果"
        card = page.locator(f"#item-{item.id}")
        assert "武汉公交到站查询" in card.inner_text() and BUS.title_zh in card.inner_text()
        assert card.locator("img").evaluate("img => img.complete && img.naturalWidth") == 480  # the screenshot shows
        pages.shoot("04-list")
        pages.axe("04-list")
        pages.click(f"#item-{item.id} h2 a")
        assert page.url == f"{url}/showcase/{item.id}"
        assert page.locator("#sc-open").get_attribute("href") == f"{files.url}/bus/"
        assert page.locator("#sc-link-state").count() == 0 or "链接暂不可用" not in page.locator(
            "#sc-link-state").inner_text()
        pages.shoot("05-item")
        pages.axe("05-item")
        pages.click(f"#sc-datasets a[href='/datasets/{BUS.id}']")
        assert page.url == f"{url}/datasets/{BUS.id}"
        panel = page.locator("#showcase")
        assert panel.locator(f"a[href='/showcase/{item.id}']").inner_text() == "武汉公交到站查询"
        panel.scroll_into_view_if_needed()
        pages.shoot("06-dataset")
        pages.click(f"#showcase a[href='/showcase/{item.id}']")
        assert page.url == f"{url}/showcase/{item.id}"
        pages.go("/showcase?lang=en")
        assert "Apps and results" in page.locator("h1").inner_text()
        pages.shoot("07-list-en")
    finally:
        page.close()
    assert pages.overflow and all(v <= 0 for v in pages.overflow.values()), pages.overflow
    serious = {name: found for name, found in pages.serious.items() if found}
    assert serious == {}  # axe-core: no serious violation
