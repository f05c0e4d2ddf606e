"""The portal's own pages through the Flask test client: developers, help, privacy, terms, the error pages,
the footer from settings, robots.txt, sitemap.xml (and its index past 50,000 URLs), the favicon."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from config import load_settings
from server.app import create_app
from server.platform import Platform
from server.portal import pages
from tests.catalog_samples import BASE, SAMPLES, fill_store
from tests.test_portal import Page

HTML = {"Accept": "text/html"}
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
FOOTER = {"sponsor_zh": "武汉市人民政府办公厅", "sponsor_en": "General Office of Wuhan Municipal Government",
          "organizer_zh": "武汉市政务服务和大数据管理局", "site_code": "4201000042",
          "icp": "鄂ICP备12345678号", "police": "鄂公网安备 42010202000123号", "police_code": "42010202000123",
          "organizer_en": "", "contact": ""}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    settings = load_settings({}, home=tmp_path_factory.mktemp("pages-home"), overrides={"site": {f"footer_{k}": v for k, v in FOOTER.items()}})
    platform = Platform.open(settings, start_workers=False)
    fill_store(platform.store)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def client(platform):
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app.test_client()


def test_developer_examples_each_answer_with_their_documented_type(demo_app, demo_client, demo_platform):
    """Every example of /developers, requested from the demo (with its SPARQL workers and CSW) as curl would."""
    client, base = demo_client, demo_platform.settings.base_uri
    response = client.get("/developers", headers=HTML)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    sample = demo_platform.catalog_order.page(1)[0][1].rsplit("/", 1)[-1]
    with demo_app.test_request_context("/developers"):
        data_sample = pages.data_api_sample()
    assert data_sample is not None
    documented = pages.examples(base, sample, data_sample)
    assert {e["section"] for e in documented} == {"dcat", "search", "sparql", "csw", "ogc", "changes", "data-api"}
    answered = []
    for example in documented:
        # the page shows the very command, built from site.base_uri
        assert example["url"].startswith(base + "/")
        shown = example["curl"].replace("&", "&amp;").replace("'", "&#39;")
        assert shown in text, example["curl"]
        result = client.get(example["path"], headers=example["headers"])
        assert result.status_code == 200, (example["path"], result.status_code, result.get_data(as_text=True)[:300])
        assert result.mimetype == example["media_type"], (example["path"], result.mimetype)
        answered.append(example["path"])
    assert len(answered) == 16
    assert "SPARQLWrapper" in text and "owslib" in text and "ogrinfo" in text
    assert "建设中" not in text and f"/api/data/{data_sample}/docs" in text  # the data APIs are served


def test_developers_page_in_english_and_pages_in_both_languages(client):
    for path, zh, en in (("/developers", "开发者接口", "Developer APIs"), ("/privacy", "隐私政策", "Privacy"),
                         ("/terms", "使用条款", "Terms of use"), ("/help", "帮助", "Help")):
        zh_page = client.get(path, headers=HTML).get_data(as_text=True)
        en_page = client.get(path + "?lang=en", headers=HTML).get_data(as_text=True)
        assert f"<h1>{zh}</h1>" in zh_page and 'lang="zh-CN"' in zh_page, path
        assert f"<h1>{en}</h1>" in en_page and '<html lang="en">' in en_page, path
    privacy = client.get("/privacy", headers=HTML).get_data(as_text=True)
    assert "截断" in privacy and "审计日志" in privacy and "哈希" in privacy


def test_footer_shows_the_filing_settings_and_leaves_out_empty_ones(client):
    page = Page(client.get("/", headers=HTML).get_data(as_text=True))
    assert page.by_id["footer-sponsor"] == "主办单位：武汉市人民政府办公厅"
    assert page.by_id["footer-organizer"] == "承办单位：武汉市政务服务和大数据管理局"
    assert page.by_id["footer-site-code"] == "网站标识码：4201000042"
    assert page.by_id["footer-icp"] == "鄂ICP备12345678号"
    links = {a.get("id"): a["href"] for a in page.links() if a.get("id")}
    assert links["footer-icp"] == "https://beian.miit.gov.cn/"
    assert links["footer-police"].endswith("?code=42010202000123")
    assert "footer-contact" not in page.by_id  # empty: not shown
    english = Page(client.get("/?lang=en", headers=HTML).get_data(as_text=True))
    assert english.by_id["footer-sponsor"] == "Sponsored by General Office of Wuhan Municipal Government"
    # no English organizer set: the Chinese name is shown rather than nothing
    assert english.by_id["footer-organizer"] == "Run by 武汉市政务服务和大数据管理局"


def test_footer_of_the_demo_settings_has_no_empty_filing_line(tmp_path):
    platform = Platform.open(load_settings({}, home=tmp_path), start_workers=False)
    try:
        text = create_app(platform=platform).test_client().get("/", headers=HTML).get_data(as_text=True)
    finally:
        platform.close()
    assert "footer-sponsor" not in text and "footer-icp" not in text and "网站标识码" not in text
    assert 'href="/privacy"' in text and 'href="/terms"' in text and 'href="/help"' in text


def test_404_is_a_page_of_the_site_in_both_languages(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = Page(response.get_data(as_text=True))
    assert page.by_id["error-title"].startswith("页面不存在")
    forms = [a for t, a in page.tags if t == "form" and a.get("role") == "search"]
    assert forms and forms[0]["action"] == "/datasets"
    assert any(a["href"] == "/" for a in page.links())
    assert 'class="site-footer"' in response.get_data(as_text=True)
    english = client.get("/no/such/page?lang=en", headers=HTML)
    assert english.status_code == 404 and "Page not found" in english.get_data(as_text=True)
    by_header = client.get("/no/such/page", headers={"Accept": "text/html", "Accept-Language": "en-GB,en;q=0.9"})
    assert "Page not found" in by_header.get_data(as_text=True)
    missing = client.get("/datasets/no-such-dataset", headers=HTML)
    assert missing.status_code == 404 and "页面不存在" in missing.get_data(as_text=True)
    # the message is ours, in both languages, not Werkzeug's English default (also in problem+json)
    assert "没有这个地址" in response.get_data(as_text=True) and "requested URL" not in response.get_data(as_text=True)
    problem = client.get("/api/no/such/thing").get_json()
    assert problem["status"] == 404 and problem["detail"].startswith("没有这个地址") and "There is nothing" in problem["detail"]


def test_500_is_a_page_of_the_site_and_hides_the_internals(platform):
    app = create_app(platform=platform)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom", headers=HTML)
    text = response.get_data(as_text=True)
    assert response.status_code == 500 and "服务器内部错误" in text and "secret internals" not in text
    assert 'class="site-header"' in text


def test_machine_doors_keep_their_error_formats(client, demo_client):
    api = client.get("/api/no-such", headers=HTML)
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    plain = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert plain.status_code == 404 and plain.mimetype == "application/problem+json"
    sparql = demo_client.get("/sparql?query=NOT+SPARQL", headers=HTML)
    assert sparql.status_code == 400 and sparql.mimetype == "text/plain"
    ogc = client.get("/ogc/collections/no-such?f=json")
    assert ogc.status_code == 404 and ogc.mimetype != "text/html"


def test_robots_lets_the_portal_in_and_keeps_staff_and_query_doors_out(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert "Allow: /" in lines and "Disallow: /admin" in lines and "Disallow: /api/" in lines
    assert "Disallow: /sparql" in lines and f"Sitemap: {BASE}/sitemap.xml" in lines
    assert not any(line in ("Disallow: /", "Disallow: /datasets") for line in lines)


def _locs(body: bytes, tag: str) -> list[str]:
    root = ET.fromstring(body)
    return [e.findtext(f"{SM}loc") for e in root.findall(f"{SM}{tag}")]


def test_sitemap_names_home_pages_and_every_dataset(client, platform):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    urls = _locs(response.data, "url")
    datasets = [u for u in urls if "/datasets/" in u]
    assert len(datasets) == len(SAMPLES) == platform.catalog_order.count()
    assert {f"{BASE}/", f"{BASE}/developers", f"{BASE}/privacy", f"{BASE}/help"} <= set(urls)
    for url in datasets:  # each is the dataset's page
        assert client.get(urlsplit(url).path, headers=HTML).status_code == 200
    again = client.get("/sitemap.xml", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304  # a crawler revalidates without the list being built again


def test_sitemap_becomes_an_index_past_the_limit(client, platform, monkeypatch):
    fixed = len(pages._fixed_urls(BASE))
    monkeypatch.setattr(pages, "SITEMAP_LIMIT", 4)
    total = fixed + len(SAMPLES)
    index = _locs(client.get("/sitemap.xml").data, "sitemap")
    assert index == [f"{BASE}/sitemap-{n}.xml" for n in range(1, -(-total // 4) + 1)]
    seen = []
    for loc in index:
        part = _locs(client.get(urlsplit(loc).path).data, "url")
        assert 1 <= len(part) <= 4
        seen += part
    ordered = [uri for _, uri in platform.catalog_order.page(100)]
    assert seen == pages._fixed_urls(BASE) + ordered  # each URL once, in catalogue order
    assert client.get(f"/sitemap-{len(index) + 1}.xml").status_code == 404


def test_favicon_is_served_locally_and_linked(client):
    for path in ("/favicon.svg", "/favicon.ico"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert ET.fromstring(response.data).tag == "{http://www.w3.org/2000/svg}svg"
    assert '<link rel="icon" href="/favicon.svg"' in client.get("/", headers=HTML).get_data(as_text=True)


def test_menu_has_a_fold_button_and_every_entry(client):
    text = client.get("/", headers=HTML).get_data(as_text=True)
    page = Page(text)
    assert any(t == "button" and a.get("aria-controls") == "main-menu" for t, a in page.tags)
    menu = re.search(r'id="main-menu">(.*?)</div>', text, re.S).group(1)
    assert [a for a in re.findall(r'href="([^"]+)"', menu)] == ["/", "/datasets", "/map", "/showcase", "/sparql",
                                                                 "/developers", "/requests", "/help"]


def test_the_words_of_the_page_frame_need_no_other_module():
    """Every page extends portal_base.html: its words are in server.portal.i18n itself, not added by a module that
    a process (or a test) may not have imported (the menu's 应用成果 was: any page then failed with KeyError)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import re, sys; from server.portal import i18n; "
            "src = open('server/portal/templates/portal_base.html', encoding='utf-8').read(); "
            "keys = set(re.findall(r\"\\bt\\('([a-z_0-9]+)'\", src)); "
            "missing = sorted(k for k in keys if k not in i18n.TEXT); "
            "print(len(keys), missing); sys.exit(1 if missing or not keys else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
