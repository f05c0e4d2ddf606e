"""Scheme membership of the platform's vocabulary values, added to a dataset graph before validation.

Dataset graphs carry the typing of the vocabulary values they use (docs/model.md), which the class (range)
checks need; they do not carry ``skos:inScheme``. The Wuhan profile checks that a publisher is one of our
departments by its membership of ``wodp:Departments``, so the validator adds, for every IRI a dataset uses
that the ontology places in a scheme, its ``skos:inScheme`` triples, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import pyoxigraph as ox

from ontology import turtle_sources
from ontology.namespaces import SKOS


@cache
def memberships() -> dict[ox.NamedNode, tuple[ox.Triple, ...]]:
    """Return IRI → its ``skos:inScheme`` triples, for every scheme member of the ontology."""
    found: dict[ox.NamedNode, list[ox.Triple]] = {}
    for name, data in turtle_sources().items():
        for quad in ox.parse(data, format=ox.RdfFormat.TURTLE, base_iri=f"https://data.wuhan.gov.cn/def/{name}"):
            if quad.predicate == SKOS.inScheme and isinstance(quad.subject, ox.NamedNode):
                found.setdefault(quad.subject, []).append(quad.triple)
    return {iri: tuple(triples) for iri, triples in found.items()}


def with_memberships(triples: Iterable[ox.Triple]) -> list[ox.Triple]:
    """Return ``triples`` plus the scheme membership of the vocabulary IRIs they use as objects."""
    table = memberships()
    out = list(triples)
    seen: set[ox.NamedNode] = set()
    for t in out[:]:
        o = t.object
        if o in table and o not in seen:
            seen.add(o)
            out.extend(table[o])
    return out
