"""Read the labels and EU alignments the generator needs from the ontology's Turtle files."""

from __future__ import annotations

from functools import cache

from pyoxigraph import NamedNode, RdfFormat, parse

from ontology import turtle_sources
from ontology.namespaces import DEPARTMENT, OPEN_TYPE, SKOS, THEME, UPDATE_CYCLE

_MATCHES = (SKOS.exactMatch, SKOS.closeMatch)


@cache
def _triples() -> tuple:
    """Parse every ontology file once."""
    out = []
    for name, data in turtle_sources().items():
        out.extend(parse(data, format=RdfFormat.TURTLE, base_iri=f"https://data.wuhan.gov.cn/def/{name}"))
    return tuple(out)


def _by_prefix(prefix: str, predicates: tuple[NamedNode, ...]) -> dict[str, dict[NamedNode, list]]:
    """Group the objects of ``predicates`` by subject local name, for subjects under ``prefix``."""
    out: dict[str, dict[NamedNode, list]] = {}
    for t in _triples():
        s = t.subject
        if isinstance(s, NamedNode) and s.value.startswith(prefix) and t.predicate in predicates:
            out.setdefault(s.value[len(prefix):], {}).setdefault(t.predicate, []).append(t.object)
    return out


def _label(objects: list, lang: str) -> str:
    return next(o.value for o in objects if (o.language or "").lower() == lang.lower())


@cache
def departments() -> dict[str, tuple[str, str]]:
    """Return department code → (zh-CN name, English name)."""
    rows = _by_prefix(DEPARTMENT.base, (SKOS.prefLabel,))
    return {code: (_label(p[SKOS.prefLabel], "zh-CN"), _label(p[SKOS.prefLabel], "en")) for code, p in rows.items()}


def _match(values: dict[NamedNode, list]) -> str:
    return next(o.value for m in _MATCHES for o in values.get(m, ()))


@cache
def themes() -> dict[str, str]:
    """Return theme code → IRI of its EU data theme."""
    return {code: _match(p) for code, p in _by_prefix(THEME.base, _MATCHES).items()}


@cache
def open_types() -> dict[str, str]:
    """Return open type → IRI of its EU access right."""
    return {name: _match(p) for name, p in _by_prefix(OPEN_TYPE.base, _MATCHES).items()}


@cache
def cycles() -> dict[str, tuple[str, str, str]]:
    """Return update cycle → (zh-CN label, English label, IRI of its EU frequency)."""
    rows = _by_prefix(UPDATE_CYCLE.base, (SKOS.prefLabel, *_MATCHES))
    return {name: (_label(p[SKOS.prefLabel], "zh-CN"), _label(p[SKOS.prefLabel], "en"), _match(p))
            for name, p in rows.items()}
