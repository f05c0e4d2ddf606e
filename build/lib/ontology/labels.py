"""Give every concept a dataset graph uses its skos:prefLabel (DCAT-AP 3 requires one per concept)."""

from __future__ import annotations

from functools import cache
from typing import Iterable

from pyoxigraph import Literal, NamedNode, RdfFormat, Triple, parse

from ontology import turtle_sources
from ontology.namespaces import DATA_THEME, RDF, SKOS

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


def label_triples(triples: Iterable[Triple]) -> list[Triple]:
    """Return the prefLabel triples missing for the concepts typed skos:Concept in a graph."""
    triples = list(triples)
    concepts = {t.subject for t in triples if t.predicate == RDF.type and t.object == SKOS.Concept}
    labelled = {t.subject for t in triples if t.predicate == SKOS.prefLabel}
    known = concept_labels()
    return [Triple(node, SKOS.prefLabel, label)
            for node in concepts - labelled if node in known for label in known[node]]
