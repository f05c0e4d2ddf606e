"""/def/... vocabulary IRIs dereference: HTML for browsers, Turtle/JSON-LD/RDF-XML/N-Triples by Accept or suffix."""

from __future__ import annotations

import pytest
import rdflib
import rdflib.compare

from ontology.namespaces import DEF

SKOS_PREF = rdflib.URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")
FOAF_NAME = rdflib.URIRef("http://xmlns.com/foaf/0.1/name")
FORMATS = [("text/turtle", "turtle", "ttl"), ("application/ld+json", "json-ld", "jsonld"),
           ("application/rdf+xml", "xml", "rdf"), ("application/n-triples", "nt", "nt")]


@pytest.fixture(scope="module")
def client(settings_factory_module):
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    platform = Platform.open(settings_factory_module, start_workers=False)
    install(platform.store, settings_factory_module)
    app = create_app(platform=platform, start_workers=False)
    app.config["TESTING"] = True
    yield app.test_client()
    platform.close()


@pytest.fixture(scope="module")
def settings_factory_module(tmp_path_factory):
    from config import load_settings

    return load_settings({}, home=tmp_path_factory.mktemp("vocab-home"))


def _terms() -> list[str]:
    """Every IRI under /def/ that the ontology files describe (their subjects)."""
    from server.vocab import KINDS, _by_subject

    return sorted(s for s in _by_subject() if s.startswith(DEF) and s[len(DEF):].split("/")[0] in KINDS
                  and s[len(DEF):].count("/") == 1)


@pytest.mark.parametrize("path, predicate", [("department/D001", FOAF_NAME), ("theme/T01", SKOS_PREF),
                                             ("open-type/unconditional", SKOS_PREF),
                                             ("update-cycle/monthly", SKOS_PREF)])
@pytest.mark.parametrize("accept, fmt, suffix", FORMATS)
def test_a_term_answers_rdf_by_accept_and_by_suffix(client, path, predicate, accept, fmt, suffix):
    by_accept = client.get(f"/def/{path}", headers={"Accept": accept})
    by_suffix = client.get(f"/def/{path}.{suffix}")
    assert by_accept.status_code == by_suffix.status_code == 200, by_accept.get_data(as_text=True)[:200]
    assert by_accept.mimetype == by_suffix.mimetype == accept
    g = rdflib.Graph().parse(data=by_accept.data, format=fmt)
    subject = rdflib.URIRef(DEF + path)
    langs = {o.language.lower() for o in g.objects(subject, predicate)}
    assert {"zh-cn", "en"} <= langs
    assert rdflib.compare.isomorphic(g, rdflib.Graph().parse(data=by_suffix.data, format=fmt))


def test_a_browser_gets_a_page(client):
    response = client.get("/def/department/D001", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "武汉市数据局" in page and DEF + "department/D001" in page
    assert "Wuhan Municipal Data Bureau" in client.get("/def/department/D001?lang=en").get_data(as_text=True)


def test_every_term_of_our_schemes_dereferences(client):
    terms = _terms()
    assert len(terms) > 100  # 99 departments, their categories, themes, open types, update cycles, statuses
    failed = [t for t in terms if client.get(t.replace(DEF, "/def/", 1) + ".nt").status_code != 200]
    assert failed == []


def test_the_ontology_document_describes_our_classes_and_properties(client):
    from ontology.namespaces import WODP

    g = rdflib.Graph().parse(data=client.get("/def/wodp.ttl").data, format="turtle")
    subjects = {str(s) for s in g.subjects()}
    for name in ("Department", "openType", "updateCycle", "Themes"):
        assert WODP[name].value in subjects, name


@pytest.mark.parametrize("path", ["/def/department/D999", "/def/theme/nope", "/def/nothing/here", "/def/wodp/x",
                                  "/def/department/D001/more"])
def test_unknown_terms_are_404(client, path):
    assert client.get(path, headers={"Accept": "text/turtle"}).status_code == 404


def test_an_unacceptable_type_is_406(client):
    assert client.get("/def/department/D001", headers={"Accept": "image/png"}).status_code == 406


def test_the_canonical_iri_is_named_when_the_base_differs(client):
    response = client.get("/def/theme/T01.ttl")
    assert response.headers["Link"] == f'<{DEF}theme/T01>; rel="canonical"'


def test_an_organisation_minted_for_another_city_dereferences(client):
    """A bureau of another place becomes an organisation under /def/org/{code}/…: its IRI answers with its name."""
    import json

    from mappings import apply_mapping, load_mapping, read_records

    platform = client.application.extensions["wodp"]
    record = {"标题": "合肥市统计年鉴（2023）", "提供单位": "市统计局", "摘要信息": "合肥市国民经济和社会发展统计数据。",
              "所属领域": "经济建设", "开放条件": "无条件开放", "更新频率": "每年", "发布时间": "2023-10-01",
              "资源格式": "xlsx"}
    mapping = load_mapping("china-portal")
    records = read_records(json.dumps([record], ensure_ascii=False).encode(), "hefei.json", "hefei", mapping=mapping)
    result = apply_mapping(records, mapping, platform.settings.base_uri, jurisdiction="340100")
    outcome = platform.publisher.publish(result.graphs, "hefei", profile="external")
    assert len(outcome.published) == 1, outcome.held
    [graph] = result.graphs.values()
    [org] = {t.object.value for t in graph if t.predicate.value == "http://purl.org/dc/terms/publisher"}
    assert org.startswith(f"{platform.settings.base_uri}/def/org/340100/")   # never a Wuhan department
    answer = client.get(org[len(platform.settings.base_uri):], headers={"Accept": "text/turtle"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    g = rdflib.Graph().parse(data=answer.data, format="turtle")
    assert {str(o) for o in g.objects(rdflib.URIRef(org), FOAF_NAME)} == {"市统计局"}
    assert client.get(org[len(platform.settings.base_uri):] + "0").status_code == 404
    assert client.get("/def/org/340100/x%3E%20%3Fp").status_code == 404       # nothing but a term reaches a query
