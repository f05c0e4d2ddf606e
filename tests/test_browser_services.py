"""Issue 13's feedback that is answered, in a real browser (Debian's Chromium, headless, zh-CN):

a citizen signs in, rates a dataset and comments on it (a reviewer approves the comment), reports an error (纠错)
in the dataset and asks for data (数据需求) from the 数据需求 page; the dataset's department (D012) finds both on
its dashboard and replies; anyone then reads the replies with the working days they took, on the dataset page and
on /requests.

Every page is shot at desktop (1280×900) and phone (390×844) size into $SERVICES_SHOTS_DIR (default: the test's
temporary directory); no page reaches past the phone's width.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import STAFF_PASSWORD, make_account
from tests.test_browser_map import Site, Visit, chromium
from tests.test_browser_portal import axe_serious
from tests.test_portal_map import BUS
from tests.test_requests import took_text

pytestmark = pytest.mark.slow
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium(tmp_path_factory.mktemp("chromium-services"), {"width": 1280, "height": 900})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("browser-services"))
    yield site
    site.close()


class Walk:
    """The browser page, signing in and out, and each page's screenshots with how far it reaches past 390 px."""

    def __init__(self, visit, url: str, shots: Path) -> None:
        self.page, self.url, self.shots = visit.page, url, shots
        self.overflow: dict[str, int] = {}
        self.serious: dict[str, list] = {}  # axe-core's serious and critical findings per page (when it is fetched)

    def go(self, path: str) -> None:
        answer = self.page.goto(f"{self.url}{path}", wait_until="load")
        assert answer.status == 200, (path, answer.status)

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.page.wait_for_load_state("load")

    def sign_in(self, login: str, path: str) -> None:
        self.sign_out()
        self.go(f"/admin/login?next={path}")
        self.page.fill("#login", login)
        self.page.fill("#password", STAFF_PASSWORD)
        self.click(".sign-in-form button[type=submit]")
        assert self.page.url.startswith(f"{self.url}{path}"), self.page.url

    def sign_out(self) -> None:
        self.page.goto(f"{self.url}/admin/logout", wait_until="load")
        if "/admin/logout" in self.page.url:
            self.click("form[action*='/admin/logout'] button[type=submit]")

    def shoot(self, name: str) -> None:
        for size, (width, height) in SIZES.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.wait_for_timeout(150)
            if size == "phone":
                self.overflow[name] = self.page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            (self.shots / f"{name}-{size}.png").write_bytes(self.page.screenshot(full_page=True))
            self.serious[f"{name}-{size}"] = axe_serious(self.page)
        self.page.set_viewport_size({"width": 1280, "height": 900})


def test_rate_comment_report_request_and_the_replies(browser, site, tmp_path):
    shots = Path(os.environ.get("SERVICES_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    platform = site.platform
    assert platform.department_of(BUS.id) == "D012"
    from manage.dashboard import department_label

    department = department_label("D012")  # its name in ontology/departments.ttl
    citizen = make_account(platform, "public")
    publisher = make_account(platform, "publisher", "D012")
    reviewer = make_account(platform, "reviewer")
    visit = Visit(browser)
    walk = Walk(visit, site.url, shots)
    page = walk.page
    dataset_path = f"/datasets/{BUS.id}"
    try:
        # the citizen rates and comments
        walk.sign_in(citizen.login, dataset_path)
        page.select_option("#rating-value", "4")
        walk.click("form.rating-form button[type=submit]")
        assert "4.0 / 5（1 人评分）" in page.locator("#rating-summary").inner_text()
        page.fill("#comment-body", "站点数据很有用，希望增加首末班时间。")
        walk.click("form.comment-form button[type=submit]")
        assert "站点数据很有用" in page.locator(".comment-pending").inner_text()
        walk.shoot("01-dataset-rated")

        # reports an error in the dataset (纠错), from the dataset page's link
        walk.click("#report-error")
        assert page.url.startswith(f"{site.url}/requests/error/{BUS.id}")
        assert department in page.locator("#rq-dataset").inner_text()
        walk.shoot("02-error-form")
        page.fill("#rq-field", "经度")
        page.fill("#rq-row", "第 12 行")
        page.fill("#rq-what", "光谷广场站的经度与实际位置相差约 2 公里。")
        walk.click("form.request-form button[type=submit]")
        report = int(re.search(r"/requests/(\d+)", page.url).group(1))
        assert "办理中" in page.locator("#rq-status").inner_text()
        walk.shoot("03-error-filed")

        # asks for data (数据需求) from the menu's page, naming the department
        walk.click("#main-menu a[href='/requests']")
        walk.click("#new-request")
        page.fill("#rq-wanted", "公交车实时到站数据")
        page.fill("#rq-use", "开发候车提醒小程序")
        page.select_option("#rq-department", "D012")
        walk.shoot("04-request-form")
        walk.click("form.request-form button[type=submit]")
        wanted = int(re.search(r"/requests/(\d+)", page.url).group(1))
        assert department in page.locator("#rq-status").inner_text()

        # a reviewer approves the comment
        walk.sign_in(reviewer.login, "/admin/moderation")
        walk.click("form[action*='/admin/moderation/'] button[value=approve]")

        # the department finds both on its dashboard and replies
        walk.sign_in(publisher.login, "/admin/department")
        queue = page.locator("#requests").inner_text()
        assert "光谷" not in queue and BUS.title_zh in queue and "公交车实时到站数据" in queue
        walk.shoot("05-department")
        for number, reply in ((report, "已核实，经度已更正并重新发布。"), (wanted, "已列入下一批开放计划，预计下季度开放。")):
            walk.click(f"#requests a[href='/requests/{number}']")
            page.fill("#rq-reply", reply)
            if number == report:
                walk.shoot("06-reply-form")
            walk.click("#reply-form button[type=submit]")
            assert reply in page.locator(f"#reply-{number}").inner_text()
            walk.go("/admin/department")
        assert page.locator("#requests li").count() == 0

        # anyone reads the replies and the time they took
        walk.sign_out()
        took = [took_text(platform.requests.get(n).reply_days) for n in (report, wanted)]
        walk.go(dataset_path)
        errors = page.locator("#errors").inner_text()
        assert "已核实，经度已更正并重新发布。" in errors and took[0] in errors
        assert "站点数据很有用" in page.locator("ul.comments").inner_text()
        assert "4.0 / 5（1 人评分）" in page.locator("#rating-summary").inner_text()
        walk.shoot("07-dataset-answered")
        walk.go("/requests")
        listing = page.locator("#data-requests").inner_text()
        assert "已列入下一批开放计划" in listing and took[1] in listing
        walk.shoot("08-requests")
        walk.go("/requests?lang=en")
        assert "took" in page.locator("#data-requests").inner_text()
        walk.shoot("09-requests-en")
        assert visit.elsewhere() == []
    finally:
        page.close()
    assert {name: px for name, px in walk.overflow.items() if px > 0} == {}
    assert {name: found for name, found in walk.serious.items() if found} == {}
