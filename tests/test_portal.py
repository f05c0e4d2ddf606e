"""The portal through the Flask test client, over a small hand-written catalogue: what a visitor sees."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from config import load_settings
from server.app import create_app
from server.platform import Platform
from server.portal import render_dataset_page
from tests.catalog_samples import BASE, SAMPLES, dataset_triples, fill_store

HTML = {"Accept": "text/html"}
BUS = SAMPLES[0]  # spatial, unconditional, CSV + JSON, department D012


class Page(HTMLParser):
    """The tags of an HTML page with their attributes, and the text of elements by id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, str] = {}
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._open: list[tuple[str, dict, list[str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag not in ("link", "meta", "input", "br", "img"):
            self._open.append((tag, attributes, []))

    def handle_endtag(self, tag):
        while self._open:
            name, attributes, parts = self._open.pop()
            text = "".join(parts)
            if "id" in attributes:
                self.by_id[attributes["id"]] = text
            if name == "script":
                self.scripts.append((attributes, text))
            if self._open:
                self._open[-1][2].append(text)
            if name == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)

    def links(self, tag: str = "a") -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    settings = load_settings({}, home=tmp_path_factory.mktemp("portal-home"))
    platform = Platform.open(settings, start_workers=False)
    fill_store(platform.store)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def client(platform):
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app.test_client()


def page(client, url: str) -> Page:
    response = client.get(url, headers=HTML)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


def total(p: Page) -> int:
    return int(p.by_id["total"])


def facet_href(p: Page, value: str) -> str:
    return next(a["href"] for a in p.links() if a.get("data-value") == value)


# -- home ----------------------------------------------------------------------------------------
def test_home_shows_the_counts_themes_and_newest_datasets(client):
    p = page(client, "/")
    assert p.by_id["stat-datasets"] == "7"
    assert p.by_id["stat-departments"] == "4"
    assert p.by_id["stat-spatial"] == "2"
    assert p.by_id["stat-downloadable"] == "5"
    text = client.get("/").get_data(as_text=True)
    assert "武汉市公共数据开放平台" in text and "交通出行" in text
    assert "空气质量日报" in text  # the newest dataset
    assert any(a["href"] == "/datasets?theme=T03" for a in p.links())


def test_home_in_english(client):
    text = client.get("/?lang=en").get_data(as_text=True)
    assert "Wuhan Open Government Data Platform" in text
    assert "Transport" in text and "Daily air quality report" in text
    assert any(a["href"] == "/datasets?theme=T03&lang=en" for a in Page(text).links())


# -- search --------------------------------------------------------------------------------------
def test_the_total_is_the_number_of_datasets(client, platform):
    assert total(page(client, "/datasets")) == platform.store.count_datasets() == len(SAMPLES)


def test_clicking_facets_narrows_the_count_exactly_and_clicking_again_undoes_it(client):
    start = page(client, "/datasets")
    d012 = page(client, facet_href(start, "D012"))
    assert total(d012) == 3
    csv = page(client, facet_href(d012, "CSV"))
    assert total(csv) == 2
    assert {a["href"].split("/")[-1] for a in csv.links() if "/datasets/demo." in a.get("href", "")} == {
        "demo.bus-routes", "demo.vehicle-inspection"}
    only_csv = page(client, facet_href(csv, "D012"))  # toggles the department off again
    assert total(only_csv) == 5


def test_words_are_searched_in_chinese(client):
    assert total(page(client, "/datasets?q=交通")) == 2
    assert total(page(client, "/datasets?q=公交车")) == 3  # 公交车 = 公交 (synonyms): 机动车检验记录 says 不含公交
    assert total(page(client, "/datasets?q=教育&department=D020")) == 2


def test_english_labels_and_links_keep_the_language(client):
    p = page(client, "/datasets?lang=en&q=traffic")
    text = client.get("/datasets?lang=en").get_data(as_text=True)
    assert "Municipal Transport Bureau" in text and "Open without conditions" in text
    assert "Bus route information" in text and "公交车线路信息" not in text
    local = [a["href"] for a in p.links()
             if a.get("href", "").startswith("/datasets") and a.get("class") != "lang-switch"]
    assert local and all("lang=en" in href for href in local)
    switch = next(a for a in p.links() if a.get("class") == "lang-switch")
    assert parse_qs(urlsplit(switch["href"]).query) == {"q": ["traffic"]}


def test_search_answers_json(client):
    data = client.get("/datasets?format=json&res_format=CSV").get_json()
    assert data["total"] == 5 and len(data["hits"]) == 5
    assert {"value": "D012", "label": "市交通运输局", "count": 2} in data["facets"]["department"]
    assert {h["id"] for h in data["hits"]} >= {"demo.bus-routes", "demo.vehicle-inspection"}


@pytest.mark.parametrize("query", ["page=1000000000", "page=99999999999999999999", "page=-5", "page=abc",
                                   "page=2", "sort=zzz", "q=%22", "q=NEAR(", "q=" + "交" * 10_000,
                                   "department=" + "x" * 5000, "q=<script>alert(1)</script>"])
def test_odd_requests_get_a_page_not_an_error(client, query):
    p = page(client, "/datasets?" + query)
    assert total(p) >= 0
    assert "<script>alert" not in client.get("/datasets?" + query).get_data(as_text=True)


@pytest.mark.parametrize("number", ["2", "1000000000", "99999999999999999999"])
def test_a_page_past_the_end_says_so(client, number):
    p = page(client, "/datasets?page=" + number)
    assert total(p) == len(SAMPLES)
    assert "page-empty" in p.by_id
    assert not [a for a in p.links() if "/datasets/demo." in a.get("href", "")]


# -- dataset page --------------------------------------------------------------------------------
def dataset_html(client, sample=BUS, lang: str = "zh") -> str:
    suffix = "?lang=en" if lang == "en" else ""
    response = client.get(f"/datasets/{sample.id}{suffix}", headers=HTML)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_dataset_page_shows_the_core_metadata(client):
    text = dataset_html(client)
    for value in ("资源名称", "公交车线路信息", "资源代码", "420100-D012-0001", "资源提供方", "市交通运输局",
                  "资源摘要", "武汉市公交车线路及站点信息。", "交通出行", "关键字", "公交", "开放类型",
                  "无条件开放", "更新周期", "每月", "发布日期", "2020-01-02", "更新日期", "2024-10-01",
                  "数据量", "12345", "联系方式", "+86-27-85000000", "空间范围", "东经 114.0–114.6"):
        assert value in text, value
    p = Page(text)
    hrefs = {a["href"] for a in p.links()}
    assert {"/files/demo.bus-routes/data.csv", "/files/demo.bus-routes/data.json"} <= hrefs
    assert {f"/datasets/demo.bus-routes.{ext}" for ext in ("ttl", "jsonld", "rdf", "nt")} <= hrefs


def test_the_dataset_page_in_english(client):
    text = dataset_html(client, lang="en")
    for value in ("Resource code", "Bus route information", "Municipal Transport Bureau", "Monthly",
                  "Open without conditions", "Spatial coverage", "Transport"):
        assert value in text, value


def test_the_dataset_page_carries_schema_org_json_ld(client):
    scripts = [body for attrs, body in Page(dataset_html(client)).scripts
               if attrs.get("type") == "application/ld+json"]
    assert len(scripts) == 1
    data = json.loads(scripts[0])
    assert data["@type"] == "Dataset" and data["@context"] == "https://schema.org"
    assert data["name"] == BUS.title_zh
    assert data["identifier"] == [BUS.id, "420100-D012-0001"]
    assert data["publisher"] == {"@type": "Organization", "name": "市交通运输局",
                                 "@id": "https://data.wuhan.gov.cn/def/department/D012"}
    assert data["dateModified"] == "2024-10-01" and data["inLanguage"] == "zh-CN"
    assert data["isAccessibleForFree"] is True
    assert data["spatialCoverage"]["geo"]["box"] == "30.3 114.0 30.8 114.6"
    assert {d["contentUrl"] for d in data["distribution"]} == {
        f"{BASE}/files/demo.bus-routes/data.csv", f"{BASE}/files/demo.bus-routes/data.json"}
    assert {d["encodingFormat"] for d in data["distribution"]} == {"text/csv", "application/json"}


def test_json_ld_cannot_break_out_of_its_script(client, platform):
    nasty = replace(SAMPLES[2], key="nasty", title_zh="</script><script>alert(1)</script> & <!--")
    platform.store.put_datasets({nasty.uri: dataset_triples(nasty)})
    try:
        text = dataset_html(client, nasty)
        assert "<script>alert(1)" not in text
        body = next(b for a, b in Page(text).scripts if a.get("type") == "application/ld+json")
        assert json.loads(body)["name"] == nasty.title_zh
    finally:
        platform.store.remove_datasets([nasty.uri])


def test_an_open_condition_is_shown_where_the_open_type_would_be(client, platform):
    """A source whose open-type field names no open type: its text as given (开放条件), with no badge."""
    import pyoxigraph as ox

    from ontology.namespaces import DCT, WODP

    other = replace(SAMPLES[2], key="checks")
    triples = [t for t in dataset_triples(other) if t.predicate not in (WODP.openType, DCT.accessRights)]
    triples.append(ox.Triple(ox.NamedNode(other.uri), WODP.openCondition, ox.Literal("用于数据校验", language="zh-CN")))
    platform.store.put_datasets({other.uri: triples})
    try:
        for lang, label in (("zh", "开放条件"), ("en", "Open condition")):
            p = Page(dataset_html(client, other, lang))
            assert label in p.by_id["m-open-type"] and "用于数据校验" in p.by_id["m-open-type"]
            assert not [a for t, a in p.tags if t == "span" and "open" in a.get("class", "").split()]
        assert "open open-" in dataset_html(client)     # a dataset with an open type keeps its badge
    finally:
        platform.store.remove_datasets([other.uri])


def test_render_dataset_page_is_callable_directly(client, platform):
    with client.application.test_request_context("/datasets/demo.schools"):
        text = render_dataset_page(platform, SAMPLES[1].uri, "en")
    assert "Primary and secondary schools" in text and "Municipal Education Bureau" in text


# -- nothing comes from elsewhere ----------------------------------------------------------------
PAGES = ("/", "/?lang=en", "/datasets", "/datasets?lang=en&q=交通", f"/datasets/{BUS.id}",
         f"/datasets/{BUS.id}?lang=en")


@pytest.mark.parametrize("url", PAGES)
def test_every_asset_is_local(client, url):
    p = page(client, url)
    assets = [a.get("href", "") for t, a in p.tags if t == "link"]
    assets += [a["src"] for t, a in p.tags if t in ("script", "img", "iframe") and "src" in a]
    assert assets and all(src.startswith("/") and not src.startswith("//") for src in assets), assets
    for src in assets:
        if src.startswith("/static/"):
            assert client.get(src).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_off_site_urls_come_only_from_the_data(client, platform, url):
    text = client.get(url, headers=HTML).get_data(as_text=True)
    data = {t.object.value for s in SAMPLES for t in dataset_triples(s)}
    data |= {t.subject.value for s in SAMPLES for t in dataset_triples(s)}
    allowed = data | {"https://schema.org", "https://data.wuhan.gov.cn/def/department/D012"}
    for found in re.findall(r"https?://[^\s\"'<>]+", text):
        assert found in allowed or found.startswith(BASE + "/"), found


def test_the_style_sheet_needs_nothing_from_elsewhere(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert "http" not in css and "@import" not in css and "url(" not in css and "@font-face" not in css


# -- the full demo catalogue (tests/conftest.py) -------------------------------------------------
def test_the_demo_catalogue_total_and_a_facet_click_agree_with_the_store(demo_client, demo_platform):
    start = page(demo_client, "/datasets")
    assert total(start) == demo_platform.store.count_datasets() > 1000
    facets = demo_client.get("/datasets?format=json").get_json()["facets"]
    for name in ("department", "open_type"):  # single-valued facets partition the catalogue
        assert sum(f["count"] for f in facets[name]) == total(start)
    first = facets["department"][0]
    assert total(page(demo_client, facet_href(start, first["value"]))) == first["count"]


def test_a_demo_dataset_page_has_its_title_in_json_ld(demo_client):
    hit = demo_client.get("/datasets?format=json&q=交通").get_json()["hits"][0]
    p = page(demo_client, f"/datasets/{hit['id']}")
    body = next(b for a, b in p.scripts if a.get("type") == "application/ld+json")
    data = json.loads(body)
    assert data["@type"] == "Dataset" and data["name"] == hit["title"]
    assert p.by_id["m-title"].endswith(hit["title"])


def test_home_counts_equal_the_generator_totals(demo_client, demo_platform):
    """The home page's counts come from the search index; they must equal what the generator built."""
    import re

    html = demo_client.get("/").get_data(as_text=True)
    totals = dict(demo_platform.demo.totals)
    # every spatial dataset became a layer at the gate, which added two distributions: its OGC API
    # collection and its GeoJSON download (ogc/layers.py)
    layers = [i for i in demo_platform.features.layers() if i.kind == "feature"]
    assert len(layers) == totals["spatial"]
    totals["distributions"] += 2 * len(layers)
    for name in ("datasets", "departments", "spatial", "downloadable", "distributions"):
        shown = re.search(rf'id="stat-{name}">(\d+)<', html)
        assert shown and int(shown.group(1)) == totals[name], name


def test_the_spatial_extent_follows_the_axis_order_of_its_crs():
    from ogc.wkt import wkt_bbox

    assert wkt_bbox("<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((30.3 114.0,30.8 114.6,30.3 114.0))") \
        == (114.0, 30.3, 114.6, 30.8)
    assert wkt_bbox("<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON((114.0 30.3,114.6 30.8,114.0 30.3))") \
        == (114.0, 30.3, 114.6, 30.8)
    assert wkt_bbox("POLYGON((114.0 30.3,114.6 30.8,114.0 30.3))") == (114.0, 30.3, 114.6, 30.8)  # CRS84 default
    assert wkt_bbox("<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((114.0 30.3,114.6 30.8))") is None
    assert wkt_bbox("POINT EMPTY") is None


def test_a_demo_dataset_page_shows_longitude_as_east(demo_client, demo_platform):
    d = next(d for d in demo_platform.demo.datasets if d.spatial)
    text = demo_client.get(f"/datasets/{d.id}", headers=HTML).get_data(as_text=True)
    import re

    shown = re.search(r"东经 ([\d.]+)–([\d.]+)，北纬 ([\d.]+)–([\d.]+)", text)
    assert shown, "no extent on the page"
    w, s, e, n = demo_platform.features.layer(d.id).bbox  # the layer's extent, lon/lat
    assert [float(v) for v in shown.groups()] == pytest.approx([w, e, s, n], abs=2e-6)
