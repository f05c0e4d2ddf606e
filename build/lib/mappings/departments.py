"""Match publisher names to the departments of our scheme (ontology/departments.ttl)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pyoxigraph as ox

from ontology.namespaces import FOAF, SKOS

_CITY = "武汉市"


@lru_cache(maxsize=1)
def department_names() -> dict[str, str]:
    """Return department name (zh-CN labels and names) → department URI."""
    store = ox.Store()
    store.load(resources.files("ontology").joinpath("departments.ttl").read_bytes(), format=ox.RdfFormat.TURTLE)
    names: dict[str, str] = {}
    for predicate in (FOAF.name, SKOS.prefLabel, SKOS.altLabel):
        for quad in store.quads_for_pattern(None, predicate, None):
            obj = quad.object
            if isinstance(obj, ox.Literal) and (obj.language or "").startswith("zh") and \
                    "/department/" in quad.subject.value:
                names.setdefault(obj.value, quad.subject.value)
    return names


def match_department(name: str) -> str | None:
    """Return the URI of our department named so ('市统计局' and '统计局' stand for '武汉市统计局'), else None."""
    names = department_names()
    for candidate in _variants(name.strip()):
        if candidate in names:
            return names[candidate]
    return None


def _variants(name: str) -> list[str]:
    """Return the spellings a Wuhan department name may take in a source."""
    out = [name]
    if name.startswith("市"):
        out.append(_CITY + name[1:])
    elif not name.startswith(_CITY):
        out.append(_CITY + name)
    return out


@lru_cache(maxsize=None)
def department_label(uri: str) -> str:
    """Return the first zh-CN name of one of our departments."""
    return next(name for name, u in department_names().items() if u == uri)
