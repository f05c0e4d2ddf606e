"""Every door answers any language asked for (?lang= or Accept-Language) without an error, in Chinese or English.

Pages whose words we write (the portal, /def, the OGC API's pages) answer English for a language tag starting
with "en" and Chinese for anything else. The portal and /def choose by ``?lang=`` only (the portal is zh-CN
first, and its links keep the language); the OGC API (pygeoapi) also honours Accept-Language. Doors that
answer data (RDF, JSON, CSW XML) carry the data's own languages and must simply not fail.
"""

from __future__ import annotations

import re

import pytest

LANGS = ["zh", "zh-CN", "zh-Hans", "zh-Hant", "zh_CN", "en", "en-US", "EN", "fr", "fr-FR", "*", "garbage", "",
         "x" * 3000, "zh;q=0.1, en;q=0.9", "en-US,en;q=0.9,zh-CN;q=0.8"]


def english(tag: str) -> bool:
    """Tell whether a ?lang= value asks for English (anything else gives Chinese)."""
    return tag.lower().startswith("en")


def english_first(header: str) -> bool:
    """Tell whether an Accept-Language header prefers English to Chinese ("*" and unknown tags: Chinese)."""
    return header.lower().startswith("en") or header == "zh;q=0.1, en;q=0.9"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"rate_limits": {"enabled": False}, "demo": {"datasets": 30, "spatial": 3},
                                            "sparql": {"workers": 1}}, home=tmp_path_factory.mktemp("lang-home"))
    platform = Platform.open(settings)
    load_demo(platform)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield app.test_client()
    platform.close()


@pytest.fixture(scope="module")
def doors(client):
    """(path, accept, how the language shows: html | ogc | none) of every door that answers GET."""
    platform = client.application.extensions["wodp"]
    dataset = sorted(platform.extras["demo_index"])[0]
    layer = next(info.id for info in platform.ogc.features.layers() if info.kind == "feature")
    html = "text/html"
    found = [
        ("/", html, "html"), ("/datasets", html, "html"), ("/datasets?q=交通", html, "html"),
        (f"/datasets/{dataset}", html, "html"), ("/map", html, "html"), ("/def/department/D017", html, "html"),
        ("/def/wodp", html, "html"), (f"/datasets/{dataset}.ttl", "*/*", "none"), ("/catalog", "*/*", "none"),
        ("/catalog.jsonld", "*/*", "none"), ("/sparql", html, "none"), ("/changes", "*/*", "none"),
        ("/changes.atom", "*/*", "none"), ("/ogc", "application/json", "ogc"), ("/ogc/collections", "*/*", "ogc"),
        ("/ogc/collections?f=html", html, "html"), (f"/ogc/collections/{layer}/items", "*/*", "ogc"),
        (f"/ogc/collections/{layer}/items?f=html", html, "html"), ("/ogc/collections/catalog/items", "*/*", "ogc"),
        ("/ogc/conformance", "*/*", "ogc"), ("/ogc/openapi", "*/*", "none"),
    ]
    if platform.csw is not None:
        found.append(("/csw?service=CSW&request=GetCapabilities&version=2.0.2", "*/*", "none"))
    api_gets = [r.rule for r in client.application.url_map.iter_rules()
                if r.rule.startswith("/api/") and "GET" in r.methods and not r.arguments]
    assert len(api_gets) >= 5
    found += [(path, "*/*", "none") for path in api_gets]
    found += [(f"/api/layers/{layer}", "*/*", "none"), (f"/api/data/{dataset}", "*/*", "none")]
    return found


def page_language(response, how: str) -> str | None:
    """Return "en" or "zh" as the answer says it (the html lang attribute, or Content-Language)."""
    if how == "html":
        match = re.search(r"<html[^>]*\blang=['\"]([^'\"]+)['\"]", response.get_data(as_text=True))
        assert match, response.get_data(as_text=True)[:300]
        return "en" if match.group(1).startswith("en") else "zh" if match.group(1).startswith("zh") else None
    if how == "ogc":
        language = response.headers.get("Content-Language", "")
        return "en" if language.startswith("en") else "zh" if language.startswith("zh") else None
    return None


def with_lang(path: str, lang: str) -> str:
    return path + ("&" if "?" in path else "?") + "lang=" + lang


@pytest.mark.parametrize("lang", LANGS, ids=lambda v: repr(v[:12]))
def test_lang_parameter(client, doors, lang):
    failures = []
    for path, accept, how in doors:
        response = client.get(with_lang(path, lang), headers={"Accept": accept})
        if response.status_code >= 500 or response.status_code == 404:
            failures.append((path, response.status_code, response.get_data(as_text=True)[:200]))
            continue
        if how != "none" and response.status_code == 200:
            expected = "en" if english(lang) else "zh"
            if page_language(response, how) != expected:
                failures.append((path, "language", page_language(response, how), expected))
    assert not failures


@pytest.mark.parametrize("header", LANGS, ids=lambda v: repr(v[:12]))
def test_accept_language(client, doors, header):
    failures = []
    for path, accept, how in doors:
        response = client.get(path, headers={"Accept": accept, "Accept-Language": header})
        if response.status_code >= 500 or response.status_code == 404:
            failures.append((path, response.status_code, response.get_data(as_text=True)[:200]))
            continue
        if how != "none" and response.status_code == 200:
            # the OGC API follows the header; the portal and /def stay Chinese without ?lang=en
            expected = "en" if how == "ogc" and english_first(header) else "zh"
            if how == "html" and path.startswith("/ogc") and english_first(header):
                expected = "en"
            if page_language(response, how) != expected:
                failures.append((path, "language", page_language(response, how), expected))
    assert not failures


def test_ogc_words_follow_the_language(client):
    """Not only the header: the landing page's title is in the language asked for."""
    zh = client.get("/ogc", headers={"Accept-Language": "zh"}).get_json()
    en = client.get("/ogc?lang=en-US").get_json()
    assert re.search(r"[\u4e00-\u9fff]", zh["title"]) and not re.search(r"[\u4e00-\u9fff]", en["title"])
