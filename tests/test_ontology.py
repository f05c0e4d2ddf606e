"""The ontology's Turtle files parse, agree with ontology/namespaces.py and align with the EU tables."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import RDF, SKOS

from ontology import TURTLE_FILES, turtle_sources
from ontology.namespaces import CRS, OPEN_TYPE, SPATIALIZATION, UPDATE_CYCLE, WODP, ClosedNamespace

SHARED = Path(__file__).resolve().parents[2] / "shared"
VOCAB = SHARED / "standards" / "vocab"
WODP_NS = rdflib.Namespace(WODP.base)
DEPT = rdflib.Namespace("https://data.wuhan.gov.cn/def/department/")
THEME = rdflib.Namespace("https://data.wuhan.gov.cn/def/theme/")


@pytest.fixture(scope="module")
def graph() -> rdflib.Graph:
    g = rdflib.Graph()
    for name, data in turtle_sources().items():
        g.parse(data=data, format="turtle", publicID=f"https://data.wuhan.gov.cn/def/{name}")
    return g


def eu_codes(table: str) -> set[str]:
    """Read the codes of an EU authority table from ../shared, skipping when absent (failing under CI)."""
    path = VOCAB / f"{table}.csv"
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing under CI")
        pytest.skip(f"{path} not present")
    with path.open(encoding="utf-8") as f:
        return {row["uri"] for row in csv.DictReader(f)}


@pytest.mark.parametrize("name", TURTLE_FILES)
def test_every_turtle_file_parses(name: str) -> None:
    g = rdflib.Graph().parse(data=turtle_sources()[name], format="turtle")
    assert len(g) > 10


def defined_terms(g: rdflib.Graph, base: str) -> set[str]:
    return {str(s)[len(base):] for s in g.subjects(RDF.type, None) if str(s).startswith(base)}


@pytest.mark.parametrize("namespace", [WODP, OPEN_TYPE, UPDATE_CYCLE, SPATIALIZATION, CRS], ids=str)
def test_closed_namespace_matches_turtle(graph: rdflib.Graph, namespace: ClosedNamespace) -> None:
    assert defined_terms(graph, namespace.base) == set(namespace.terms)
    used = {str(t)[len(namespace.base):] for triple in graph for t in triple
            if isinstance(t, rdflib.URIRef) and str(t).startswith(namespace.base)}
    assert used <= set(namespace.terms), f"terms used but not in namespaces.py: {used - set(namespace.terms)}"


def test_misspelled_term_raises() -> None:
    with pytest.raises(AttributeError):
        WODP.resourcecode  # noqa: B018
    with pytest.raises(AttributeError):
        UPDATE_CYCLE["hourly"]
    assert WODP.resourceCode.value == WODP.base + "resourceCode"


def test_wodp_terms_have_labels_and_comments(graph: rdflib.Graph) -> None:
    for term in WODP.terms:
        node = WODP_NS[term]
        langs = {lit.language for lit in graph.objects(node, rdflib.RDFS.label)}
        assert {"zh-CN", "en"} <= langs, term
        assert any(graph.objects(node, rdflib.RDFS.comment)), term
    for prop in ("openType", "updateCycle", "spatializationStatus", "departmentCategory", "dataVolume"):
        assert (WODP_NS[prop], rdflib.RDFS.range, None) in graph
        assert (WODP_NS[prop], rdflib.RDFS.domain, None) in graph


def test_departments_have_names_and_unique_notations(graph: rdflib.Graph) -> None:
    departments = set(graph.subjects(RDF.type, WODP_NS.Department))
    assert 90 <= len(departments) <= 110
    notations = [str(graph.value(d, SKOS.notation)) for d in departments]
    assert len(set(notations)) == len(departments)
    for d in departments:
        assert str(d) == DEPT + str(graph.value(d, SKOS.notation))
        for prop in (SKOS.prefLabel, rdflib.FOAF.name):
            assert {lit.language for lit in graph.objects(d, prop)} >= {"zh-CN", "en"}, d
        category = graph.value(d, WODP_NS.departmentCategory)
        assert (category, SKOS.inScheme, WODP_NS.DepartmentCategories) in graph, d
        assert (d, SKOS.inScheme, WODP_NS.Departments) in graph
    zh = {str(x) for x in graph.objects(DEPT.D001, SKOS.prefLabel) if x.language == "zh-CN"}
    assert zh == {"武汉市数据局"}
    names = [str(x) for d in departments for x in graph.objects(d, SKOS.prefLabel) if x.language == "zh-CN"]
    assert len(set(names)) == len(names)


def themes(graph: rdflib.Graph) -> list[rdflib.URIRef]:
    return sorted(graph.subjects(SKOS.inScheme, WODP_NS.Themes))


def test_every_theme_maps_to_one_eu_theme(graph: rdflib.Graph) -> None:
    codes = eu_codes("data-theme")
    assert 18 <= len(themes(graph)) <= 24
    for theme in themes(graph):
        matches = [*graph.objects(theme, SKOS.exactMatch), *graph.objects(theme, SKOS.closeMatch)]
        assert len(matches) == 1, theme
        assert str(matches[0]) in codes, matches[0]
        assert {lit.language for lit in graph.objects(theme, SKOS.prefLabel)} == {"zh-CN", "en"}


def test_every_update_cycle_maps_to_an_eu_frequency(graph: rdflib.Graph) -> None:
    codes = eu_codes("frequency")
    for term in UPDATE_CYCLE.terms:
        node = rdflib.URIRef(UPDATE_CYCLE.base + term)
        matches = [*graph.objects(node, SKOS.exactMatch), *graph.objects(node, SKOS.closeMatch)]
        assert matches and all(str(m) in codes for m in matches), term
        assert (node, RDF.type, rdflib.DCTERMS.Frequency) in graph


def test_open_types_map_to_eu_access_rights(graph: rdflib.Graph) -> None:
    expected = {"unconditional": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}
    for term, code in expected.items():
        node = rdflib.URIRef(OPEN_TYPE.base + term)
        assert graph.value(node, SKOS.closeMatch) == rdflib.URIRef(
            "http://publications.europa.eu/resource/authority/access-right/" + code)
        assert (node, RDF.type, rdflib.DCTERMS.RightsStatement) in graph
