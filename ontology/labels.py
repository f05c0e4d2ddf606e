"""Give every concept a dataset graph uses its skos:prefLabel (DCAT-AP 3 requires one per concept), and every one
of our departments its names in both languages (foaf:name in zh-CN and en, from ontology/departments.ttl)."""

from __future__ import annotations

from functools import cache
from typing import Iterable

from pyoxigraph import Literal, NamedNode, RdfFormat, Triple, parse

from ontology import turtle_sources
from ontology.namespaces import DATA_THEME, DEPARTMENT, FOAF, RDF, SKOS

# English labels of the EU data themes (EU Publications Office authority table "data-theme").
EU_THEME_LABELS = {
    "AGRI": "Agriculture, fisheries, forestry and food", "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport", "ENER": "Energy", "ENVI": "Environment",
    "GOVE": "Government and public sector", "HEAL": "Health", "INTR": "International issues",
    "JUST": "Justice, legal system and public safety", "OP_DATPRO": "Provisional data",
    "REGI": "Regions and cities", "SOCI": "Population and society", "TECH": "Science and technology",
    "TRAN": "Transport",
}


@cache
def concept_labels() -> dict[NamedNode, tuple[Literal, ...]]:
    """Return the skos:prefLabel literals of our concepts and of the EU data themes."""
    labels: dict[NamedNode, list[Literal]] = {}
    for name, data in turtle_sources().items():
        for q in parse(data, format=RdfFormat.TURTLE, base_iri=f"https://data.wuhan.gov.cn/def/{name}"):
            if q.predicate == SKOS.prefLabel:
                labels.setdefault(q.subject, []).append(q.object)
    for code, text in EU_THEME_LABELS.items():
        labels.setdefault(DATA_THEME[code], []).append(Literal(text, language="en"))
    return {node: tuple(values) for node, values in labels.items()}


@cache
def department_names() -> dict[NamedNode, tuple[Literal, ...]]:
    """Return the foaf:name literals (zh-CN and en) of each of our departments."""
    names: dict[NamedNode, list[Literal]] = {}
    for q in parse(turtle_sources()["departments.ttl"], format=RdfFormat.TURTLE,
                   base_iri="https://data.wuhan.gov.cn/def/departments"):
        if q.predicate == FOAF.name and q.subject.value.startswith(DEPARTMENT.base):
            names.setdefault(q.subject, []).append(q.object)
    return {node: tuple(values) for node, values in names.items()}


def label_triples(triples: Iterable[Triple]) -> list[Triple]:
    """Return the prefLabel triples missing for the concepts typed skos:Concept in a graph, and the
    foaf:name literals missing (by language) for our departments named in it."""
    triples = list(triples)
    concepts = {t.subject for t in triples if t.predicate == RDF.type and t.object == SKOS.Concept}
    labelled = {t.subject for t in triples if t.predicate == SKOS.prefLabel}
    known = concept_labels()
    out = [Triple(node, SKOS.prefLabel, label)
           for node in concepts - labelled if node in known for label in known[node]]
    return out + name_triples(triples)


def name_triples(triples: Iterable[Triple]) -> list[Triple]:
    """Return the foaf:name literals of our departments that a graph names in fewer languages than we know."""
    have: dict[NamedNode, set[str]] = {}
    for t in triples:
        if t.predicate == FOAF.name and isinstance(t.object, Literal):
            have.setdefault(t.subject, set()).add((t.object.language or "").lower())
    names = department_names()
    return [Triple(node, FOAF.name, name) for node, langs in have.items() if node in names
            for name in names[node] if (name.language or "").lower() not in langs]
