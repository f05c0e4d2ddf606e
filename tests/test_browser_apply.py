"""Issue 13's 有条件开放 application in one run of a real browser (Debian's Chromium, headless, zh-CN).

A public account opens a 有条件开放 dataset's page, follows 申请使用, fills in the form and signs the commitment;
the owning department's publisher approves it in the management center; the data bureau's reviewer approves it;
the applicant makes an API key on its account page. With that key the dataset's data API answers its rows; without
it, and with another account's key, the same request is refused.

Every page is shot at desktop (1280×900) and phone (390×844) size into $STORY_SHOTS_DIR (default: the test's
temporary directory); no page may reach past the phone's width.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import STAFF_PASSWORD, free_port, make_account
from tests.test_browser_map import Visit, browser  # noqa: F401  (browser: a fixture)
from tests.test_browser_portal import axe_serious
from tests.test_browser_story import Story

pytestmark = pytest.mark.slow
OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A demo catalogue of 80 datasets served by waitress, and one 有条件开放 dataset with a data API."""
    from waitress import create_server

    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform
    from server import services_pages

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings({}, overrides={"site": {"base_uri": url}, "demo": {"datasets": 80, "spatial": 20},
                                            "rate_limits": {"enabled": False}},
                             home=tmp_path_factory.mktemp("apply-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    app = create_app(platform=platform)
    kinds = {row[0].value: row[1].value.rsplit("/", 1)[-1] for row in platform.store.query(OPEN_TYPES)}
    with_api = sorted(uri for uri, kind in kinds.items() if kind == "conditional"
                      and any(t.object.value.startswith(f"{url}/api/data/")
                              for t in platform.store.dataset_triples(uri)))
    assert with_api, "the demo has 有条件开放 datasets with a data API"
    dataset_id = with_api[0].rsplit("/", 1)[-1]
    with app.test_request_context("/"):
        info = services_pages.describe(dataset_id)
    assert info["ok"], info
    server = create_server(app, host="127.0.0.1", port=port, threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    accounts = {"public": make_account(platform, "public"), "other": make_account(platform, "public"),
                "publisher": make_account(platform, "publisher", info["department"]),
                "reviewer": make_account(platform, "reviewer")}
    yield SimpleNamespace(url=url, platform=platform, dataset=info, accounts=accounts)
    server.close()
    thread.join(5)
    platform.close()


def _get(url: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


def _make_key(story: Story) -> str:
    story.page.goto(f"{story.url}/account/applications", wait_until="load")
    story.click("#keys form[action$='/account/keys'] button[type=submit]")
    return story.page.inner_text("#new-key-value").strip()


def test_apply_decide_grant_and_read_with_the_key(browser, site, tmp_path):  # noqa: F811
    shots = Path(os.environ.get("STORY_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    visit = Visit(browser)
    story = Story(visit, site.url, shots)
    page = story.page
    serious: dict[str, list] = {}

    def check(name: str) -> None:
        """Shoot the page at both sizes, then let axe-core (served from the local file) look at it at each."""
        story.shoot(name)
        for size, viewport in (("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1280, "height": 900})):
            page.set_viewport_size(viewport)
            serious[f"{name}-{size}"] = axe_serious(page)
    dataset_id, department = site.dataset["id"], site.dataset["department"]
    api = f"{site.url}/api/data/{dataset_id}?page_size=5"
    try:
        # anonymous: the page offers 申请使用, the data API refuses
        assert _get(api)[0] in (401, 403)
        page.goto(f"{site.url}/datasets/{dataset_id}", wait_until="load")
        check("dataset")
        story.click("a[href*='/apply?datasets=']")  # not signed in: the sign-in page first, then the form
        assert "/admin/login" in page.url, page.url
        page.fill("#login", site.accounts["public"].login)
        page.fill("#password", STAFF_PASSWORD)
        story.click(".sign-in-form button[type=submit]")
        assert f"/apply?datasets={dataset_id}" in page.url, page.url
        assert dataset_id in page.inner_text("#apply-datasets")
        page.fill("#purpose", "研究公共服务设施的覆盖")
        page.fill("#scenario", "在规划报告中统计各区的设施数量")
        page.fill("#fields", "名称, 地址, 所在区")
        today = page.input_value("#period_from")
        from datetime import date

        page.fill("#period_to", (date.fromisoformat(today) + timedelta(days=90)).isoformat())
        page.check("input[name=commitment]")
        check("apply")
        story.click("form.apply-form button[type=submit]")
        assert "/account/applications" in page.url, page.url
        filed = site.platform.applications.of_account(site.accounts["public"].id)
        assert len(filed) == 1 and filed[0].status == "department"
        app_id = filed[0].id
        check("applied")

        # the department's publisher approves it in the management center
        story.sign_in(site.accounts["publisher"].login, "/admin/applications")
        assert f"/admin/applications/{app_id}" in page.content()
        story.shoot("department-queue")
        page.goto(f"{site.url}/admin/applications/{app_id}", wait_until="load")
        from manage.dashboard import department_label

        assert department_label(department) in page.inner_text(f"#decide-{department} h2")  # its name, not its code
        page.fill(f"#reason-{department}", "用途明确，同意")
        check("department-decision")
        story.click(f"#decide-{department} button[value=approve]")
        assert site.platform.applications.get(app_id).status == "bureau"
        assert _get(api)[0] in (401, 403)  # not yet: the bureau decides last

        # the data bureau's reviewer approves it: the grant
        story.sign_in(site.accounts["reviewer"].login, f"/admin/applications/{app_id}")
        story.shoot("bureau-decision")
        story.click("#decide-bureau button[value=approve]")
        assert site.platform.applications.get(app_id).status == "approved"

        # the applicant's key reads the data API; anonymous and another account's key are refused
        story.sign_in(site.accounts["public"].login, "/account/applications")
        key = _make_key(story)
        check("key")
        status, body = _get(api, key)
        assert status == 200, body
        assert body["dataset"] == dataset_id and body["total"] > 0 and len(body["records"]) == min(5, body["total"])
        assert _get(api)[0] in (401, 403)
        story.sign_in(site.accounts["other"].login, "/account/applications")
        other_key = _make_key(story)
        assert _get(api, other_key)[0] == 403
    finally:
        page.close()
    assert visit.elsewhere() == []  # nothing fetched from outside (no CDN)
    assert {name: px for name, px in story.overflow.items() if px > 0} == {}
    assert {name: found for name, found in serious.items() if found} == {}  # no serious accessibility violation
