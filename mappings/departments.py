"""Match publisher names to Wuhan's departments (ontology/departments.ttl), only within Wuhan's jurisdiction.

A source states its jurisdiction (an administrative division code, GB/T 2260: 420100 is Wuhan). A publisher
of a source whose jurisdiction is Wuhan's is matched to our departments by code (D001 …) or full name
('市统计局' in a Wuhan source stands for '武汉市统计局'). A publisher of any other source (another place, or
no jurisdiction stated) is never matched: it becomes an organisation of its own (``organisation_iri``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from importlib import resources

import pyoxigraph as ox

from ontology.namespaces import FOAF, SKOS

WUHAN = "420100"
_CITY = "武汉市"
_WUHAN_NAMES = {WUHAN, _CITY, "武汉"}
_CODE = re.compile(r"^\d{6}$")


def source_jurisdiction(stated: str | None, department_channel: bool) -> str:
    """Return the jurisdiction a harvest source's records are mapped with (never None, so never a default).

    The source's stated code; else Wuhan's for our departments' channels (push, cloud, file); else "" (none
    stated: publishers become organisations of the source, never our departments).
    """
    if stated and stated.strip():
        return stated.strip()
    return WUHAN if department_channel else ""


def is_wuhan(jurisdiction: str | None) -> bool:
    """Tell whether a stated jurisdiction is Wuhan's (its code 420100 or its full name)."""
    return (jurisdiction or "").strip() in _WUHAN_NAMES


@lru_cache(maxsize=1)
def department_names() -> dict[str, str]:
    """Return department name (zh-CN labels and names) and code (D001 …) → department URI."""
    store = ox.Store()
    store.load(resources.files("ontology").joinpath("departments.ttl").read_bytes(), format=ox.RdfFormat.TURTLE)
    names: dict[str, str] = {}
    for predicate in (FOAF.name, SKOS.prefLabel, SKOS.altLabel, SKOS.notation):
        for quad in store.quads_for_pattern(None, predicate, None):
            obj = quad.object
            if not (isinstance(obj, ox.Literal) and "/department/" in quad.subject.value):
                continue
            if predicate == SKOS.notation or (obj.language or "").startswith("zh"):
                names.setdefault(obj.value, quad.subject.value)
    return names


def match_department(name: str, jurisdiction: str | None = WUHAN) -> str | None:
    """Return the URI of our department named so, when the source's jurisdiction is Wuhan's; else None."""
    if not is_wuhan(jurisdiction):
        return None
    names = department_names()
    for candidate in _variants(name.strip()):
        if candidate in names:
            return names[candidate]
    return None


def _variants(name: str) -> list[str]:
    """Return the spellings a Wuhan department's full name may take in a Wuhan source."""
    out = [name]
    if name.startswith("市"):
        out.append(_CITY + name[1:])
    elif not name.startswith(_CITY):
        out.append(_CITY + name)
    return out


def match_key(name: str) -> str:
    """Return a name as compared (never as published): NFKC, without spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def organisation_iri(base: str, jurisdiction: str | None, source: str, name: str) -> str:
    """Return the stable IRI of a publisher that is not one of our departments.

    ``{base}/def/org/{scope}/{hash}``: scope is the jurisdiction's code when the source states a six-digit
    one, else ``source-{source}`` (the harvest source's name); hash is the first 16 hex digits of the SHA-1
    of the name as compared (``match_key``), so the same name in the same scope always gives the same IRI.
    """
    return f"{base}/def/org/{_scope(jurisdiction, source)}/{_digest(name)}"


def source_concept_iri(base: str, jurisdiction: str | None, source: str, kind: str, word: str) -> str:
    """Return the stable IRI of a source's own concept (a theme none of ours).

    ``{base}/def/{kind}-of/{scope}/{hash}``, scope and hash as for ``organisation_iri``.
    """
    return f"{base}/def/{kind}-of/{_scope(jurisdiction, source)}/{_digest(word)}"


def _scope(jurisdiction: str | None, source: str) -> str:
    code = (jurisdiction or "").strip()
    return code if _CODE.match(code) else f"source-{source}"


def _digest(name: str) -> str:
    return hashlib.sha1(match_key(name).encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=None)
def department_label(uri: str) -> str:
    """Return the first zh-CN name of one of our departments."""
    return next(name for name, u in department_names().items() if u == uri and not re.match(r"^D\d+$", name))
