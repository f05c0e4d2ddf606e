"""Issue 12's whole story in one run of a real browser (Debian's Chromium, headless, zh-CN).

A publisher of D017 reports a dataset with a data file, sees the violation beside its field, fixes it and
submits; a reviewer returns it with a reason, then approves it; the dataset is on every door (its portal page,
/catalog, /sparql, /csw GetRecordById, the OGC API Records item); an admin adds a harvest source, runs it and
sees its trend chart; an auditor signs in, opens /admin/audit and finds each of those steps by action and target.

Every page is shot at desktop (1280×900) and phone (390×844) size into $STORY_SHOTS_DIR (default: the test's
temporary directory); how far each page reaches past the phone's width is written to overflow.json beside them.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from conftest import STAFF_PASSWORD, free_port, make_account
from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.test_browser_map import Visit, browser  # noqa: F401  (browser: a fixture)
from tests.test_browser_admin import wait_for_text
from tests.workbench_support import CSV, VALUES

pytestmark = pytest.mark.slow
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
DATASET_ID = f"wuhan.{VALUES['resource_code']}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from waitress import create_server

    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings({}, overrides={"site": {"base_uri": url}, "review": {"mode": "new"},
                                            "sparql": {"timeout_s": 10.0}},
                             home=tmp_path_factory.mktemp("story-home"))
    platform = Platform.open(settings, start_workers=True)
    install(platform.store, settings)
    server = create_server(create_app(platform=platform), host="127.0.0.1", port=port, threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ckan = FakeSource()
    FakeCkan(ckan, [ckan_package(n) for n in range(4)])
    accounts = {role: make_account(platform, role, "D017" if role == "publisher" else None)
                for role in ("publisher", "reviewer", "admin", "auditor")}
    yield SimpleNamespace(url=url, platform=platform, ckan=ckan.url, accounts=accounts)
    ckan.close()
    server.close()
    thread.join(5)
    platform.close()


class Story:
    """The browser page, signing in and out, and the screenshots with their phone-width overflow."""

    def __init__(self, visit, url: str, shots: Path) -> None:
        self.visit, self.page, self.url, self.shots = visit, visit.page, url, shots
        self.overflow: dict[str, int] = {}

    def sign_in(self, login: str, path: str) -> None:
        page = self.page
        page.goto(f"{self.url}/admin/logout", wait_until="load")
        if "/admin/logout" in page.url:
            self.click("form[action*='/admin/logout'] button[type=submit]")
        page.goto(f"{self.url}{path}", wait_until="load")
        assert "/admin/login" in page.url, page.url
        page.fill("#login", login)
        page.fill("#password", STAFF_PASSWORD)
        self.click(".sign-in-form button[type=submit]")
        assert page.url.startswith(f"{self.url}{path}"), page.url

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.page.wait_for_load_state("load")

    def shoot(self, name: str) -> None:
        for size, (width, height) in SIZES.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.wait_for_timeout(150)  # the layout settles (and a chart resizes) at the new width
            if size == "phone":
                self.overflow[name] = self.page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            (self.shots / f"{name}-{size}.png").write_bytes(self.page.screenshot(full_page=True))
        self.page.set_viewport_size({"width": 1280, "height": 900})


def test_report_review_publish_harvest_audit(browser, site, tmp_path):  # noqa: F811
    shots = Path(os.environ.get("STORY_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    visit = Visit(browser)
    story = Story(visit, site.url, shots)
    page, url, who = story.page, site.url, site.accounts
    try:
        # the publisher reports a dataset, forgets its description, sees why beside the field
        story.sign_in(who["publisher"].login, "/admin/workbench/new")
        story.shoot("01-workbench-new")
        page.fill("#in-resource_code", VALUES["resource_code"])
        page.fill("#in-title", VALUES["title"])
        page.select_option("#in-publisher", VALUES["publisher"])
        page.select_option("#in-open_type", VALUES["open_type"])
        page.select_option("#in-update_cycle", VALUES["update_cycle"])
        page.fill("#in-issued", VALUES["issued"])
        page.select_option("#in-format", ["csv"])
        page.fill("#in-contact", VALUES["contact"])
        story.click("form.wb-form button[type=submit]")
        assert "缺少资源摘要（dct:description）。" in page.locator("#field-description .wb-findings").inner_text()
        assert page.locator("#field-description.wb-invalid").count() == 1
        assert page.locator("form[action$='/submit'] button").is_disabled()
        submission = page.url.rsplit("/", 1)[-1].split("?")[0].split("#")[0]
        story.shoot("02-workbench-violation")

        # attaches the data file, fixes the description, submits
        csv = tmp_path / "stations.csv"
        csv.write_bytes(CSV)
        page.set_input_files("form[action*='/files'] input[type=file]", str(csv))
        page.select_option("form[action*='/files'] select[name=crs]", "GCJ02")
        story.click("form[action*='/files'] button[type=submit]")
        assert "stations.csv" in page.locator("#field-files").inner_text()
        page.fill("#in-description", VALUES["description"])
        story.click("form.wb-form button[type=submit]")
        assert "0 个错误" in page.locator("#report").inner_text()
        story.click("form[action$='/submit'] button")
        assert page.locator("h1 .wb-status").inner_text() == "待审核"
        story.shoot("03-workbench-submitted")
        story.click("nav.staff-nav a[href^='/admin/department']")  # the management center's links on every page
        assert page.locator("h1").inner_text().startswith("部门数据概况")
        story.shoot("04-department")

        # the reviewer returns it with a reason
        story.sign_in(who["reviewer"].login, "/admin/")
        story.click("nav.admin-nav a[href^='/admin/review']")
        assert VALUES["title"] in page.locator("table.wb-table").inner_text()
        story.shoot("05-review-queue")
        story.click(f"a[href*='/admin/review/{submission}']")
        assert page.locator("#diff tr[data-field='title'] .wb-add").inner_text() == VALUES["title"]
        story.shoot("06-review-item")
        page.fill("form[action$='/return'] textarea", "请补充数据量")
        story.click("form[action$='/return'] button")

        # the publisher reads the reason, adds the volume, submits again; the reviewer approves
        story.sign_in(who["publisher"].login, f"/admin/workbench/{submission}")
        assert "请补充数据量" in page.locator("#returned").inner_text()
        story.shoot("07-workbench-returned")
        page.fill("#in-data_volume", "2")
        story.click("form.wb-form button[type=submit]")
        story.click("form[action$='/submit'] button")
        story.sign_in(who["reviewer"].login, f"/admin/review/{submission}")
        story.click("form[action$='/approve'] button")
        assert page.locator("h1 .wb-status").inner_text() == "已发布"
        story.shoot("08-review-approved")

        # published on every door
        uri = f"{url}/datasets/{DATASET_ID}"
        page.goto(uri, wait_until="load")
        assert VALUES["title"] in page.locator("h1").inner_text()
        story.shoot("09-dataset-page")
        http = page.context.request
        catalog = http.get(f"{url}/catalog", headers={"Accept": "text/turtle"})
        assert catalog.status == 200 and f"<{uri}>" in catalog.text()
        count = http.get(f"{url}/sparql?query=" + quote(
            f'SELECT (COUNT(?t) AS ?n) WHERE {{ <{uri}> <http://purl.org/dc/terms/title> ?t '
            f'FILTER(str(?t) = "{VALUES["title"]}") }}'),
            headers={"Accept": "application/sparql-results+json"})
        assert count.status == 200, count.text()
        assert [b["n"]["value"] for b in count.json()["results"]["bindings"]] == ["1"], count.text()
        csw = http.get(f"{url}/csw?service=CSW&version=2.0.2&request=GetRecordById&elementSetName=full&id="
                       + quote(uri, safe=""))
        assert csw.status == 200 and VALUES["title"] in csw.text() and "ExceptionReport" not in csw.text()
        record = http.get(f"{url}/ogc/collections/catalog/items/{DATASET_ID}?f=json")
        assert record.status == 200 and record.json()["properties"]["title"] == VALUES["title"], record.text()
        page.goto(f"{url}/ogc/collections/catalog/items/{DATASET_ID}", wait_until="load")
        story.shoot("10-records-item")

        # an admin adds a source, runs it, sees its trend
        story.sign_in(who["admin"].login, "/admin/sources")
        form = page.locator("#add-source form")
        form.locator("input[name=name]").fill("story-ckan")
        form.locator("select[name=kind]").select_option("ckan")
        form.locator("input[name=url]").fill(site.ckan)
        form.locator("input[name=schedule]").fill("0 4 * * *")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.url.startswith(f"{url}/admin/sources/story-ckan")
        story.click("form[action$='/admin/sources/story-ckan/run'] button")
        wait_for_text(page, ".admin-done", "成功")  # run in the background: the page looks again until it ends
        page.wait_for_load_state("load")
        assert "成功（新增 4，" in page.locator(".admin-done").inner_text()
        page.wait_for_function("() => document.getElementById('trend-chart').dataset.state !== 'loading'",
                               timeout=30_000)
        assert page.locator("#trend-chart").get_attribute("data-state") == "done"
        assert page.locator("#trend-chart").get_attribute("data-datasets") == "4"
        assert page.locator("#trend-chart canvas").count() >= 1
        story.shoot("11-admin-source-trend")

        # the auditor finds every step, by action and target
        story.sign_in(who["auditor"].login, "/admin/")
        assert page.locator("nav.admin-nav a[href^='/admin/review']").count() == 0  # not the auditor's
        story.click("nav.admin-nav a[href^='/admin/audit']")
        rows = page.locator("tr[data-seq]").evaluate_all(
            "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))")
        seen = {(r[4], r[5], r[3]) for r in rows}
        sub, ds, hs = f"submission:{submission}", f"dataset:{DATASET_ID}", "harvest-source:story-ckan"
        for want in [("submission.create", sub, "publisher"), ("submission.attach", sub, "publisher"),
                     ("submission.edit", sub, "publisher"), ("submission.submit", sub, "publisher"),
                     ("review.return", sub, "reviewer"), ("review.approve", sub, "reviewer"),
                     ("dataset.publish", ds, "reviewer"), ("harvest-source.add", hs, "admin"),
                     ("harvest.start", hs, "admin"), ("harvest.finish", hs, "admin")]:
            assert want in seen, want
        actors = {r[4]: r[2] for r in rows}  # who did it (one of each of these), by login name and id
        assert actors["submission.create"] == f"{who['publisher'].login} {who['publisher'].id}"
        assert actors["review.approve"] == f"{who['reviewer'].login} {who['reviewer'].id}"
        for role in ("publisher", "reviewer", "admin"):
            assert ("sign-in.ok", f"account:{who[role].id}", role) in seen, role
        story.shoot("12-audit")
        page.goto(f"{url}/admin/audit/verify", wait_until="load")
        story.shoot("13-audit-verify")
        assert visit.elsewhere() == []
    finally:
        (shots / "overflow.json").write_text(json.dumps(story.overflow, indent=1), "utf-8")
        page.close()
    # at phone size no management page reaches past the screen (the portal's own pages are reported, not held)
    wide = {name: px for name, px in story.overflow.items() if px > 0 and name not in ("09-dataset-page",)}
    assert wide == {}, wide
