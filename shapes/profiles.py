"""Name the validation profiles: which shape files each one checks, read once from the package."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyoxigraph as ox

from shapes.errors import UnknownProfileError

SH = "http://www.w3.org/ns/shacl#"
DCAT_AP_3 = "https://data.wuhan.gov.cn/def/shapes/dcat-ap-3#"


@dataclass(frozen=True)
class Profile:
    """A named set of shape files; ``vocabulary`` adds the scheme membership of the values used."""

    name: str
    files: tuple[str, ...]
    vocabulary: bool = False
    warn: tuple[str, ...] = ()      # shapes of the files that this profile reports as warnings, not violations
    title_zh: str = ""
    title_en: str = ""


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("wuhan", ("dcat-ap-3.ttl", "wuhan.ttl", "wuhan-own.ttl", "geodcat-ap.ttl"), vocabulary=True,
                title_zh="武汉市公共数据资源目录规范（本平台目录）",
                title_en="Wuhan profile of DCAT-AP 3 (our own catalogue)"),
        Profile("wuhan-harvested", ("dcat-ap-3.ttl", "wuhan.ttl", "geodcat-ap.ttl"),
                title_zh="武汉市公共数据资源目录规范（采集的其他目录）",
                title_en="Wuhan profile of DCAT-AP 3 (harvested catalogues: any publisher)"),
        # another catalogue's dataset without a description, whose publisher has no name (foaf:name) or whose
        # theme has no label (skos:prefLabel) anywhere in the source, is published as its source has it, with a
        # warning naming what lacks (docs/sources.md): nothing is invented in its place, nor the dataset held
        Profile("external", ("dcat-ap-3.ttl", "external.ttl"),
                warn=(DCAT_AP_3 + "Dataset-description", DCAT_AP_3 + "Agent-name", DCAT_AP_3 + "Concept-prefLabel"),
                title_zh="外部目录（DCAT-AP 3 与通用的核心元数据，不含武汉专用要求）",
                title_en="External catalogues (DCAT-AP 3 and the Chinese core metadata any catalogue can meet; "
                         "no Wuhan-only requirement)"),
        Profile("dcat-ap-3", ("dcat-ap-3.ttl",), title_zh="DCAT-AP 3", title_en="DCAT-AP 3"),
        Profile("geodcat-ap", ("geodcat-ap.ttl",), title_zh="GeoDCAT-AP", title_en="GeoDCAT-AP"),
    )
}


def profile(name: str) -> Profile:
    """Return the profile called ``name`` or raise UnknownProfileError."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(name, sorted(PROFILES)) from None


def shape_file_bytes(name: str) -> bytes:
    """Return the Turtle of one of our shape files."""
    return resources.files("shapes").joinpath(name).read_bytes()


@cache
def shapes_ntriples(name: str) -> bytes:
    """Return the shapes of a profile merged as N-Triples (blank nodes kept distinct per file)."""
    quads = []
    chosen = profile(name)
    for file in chosen.files:
        quads += ox.parse(shape_file_bytes(file), format=ox.RdfFormat.TURTLE)
    triples = [q.triple for q in quads]
    if chosen.warn:
        severity, warning, lowered = ox.NamedNode(SH + "severity"), ox.NamedNode(SH + "Warning"), set(chosen.warn)
        triples = [ox.Triple(t.subject, severity, warning)
                   if t.predicate == severity and isinstance(t.subject, ox.NamedNode) and t.subject.value in lowered
                   else t for t in triples]
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)


@dataclass(frozen=True)
class ShapeText:
    """The human names and messages of one shape, by language."""

    name_zh: str = ""
    name_en: str = ""
    message_zh: str = ""
    message_en: str = ""


@cache
def shape_texts() -> dict[str, ShapeText]:
    """Return sh:name and sh:message (zh, en) of every named shape in our files, by shape IRI."""
    found: dict[str, dict[str, str]] = {}
    names = {SH + "name": "name", SH + "message": "message"}
    for file in {f for p in PROFILES.values() for f in p.files}:
        for quad in ox.parse(shape_file_bytes(file), format=ox.RdfFormat.TURTLE):
            kind = names.get(quad.predicate.value)
            if kind and isinstance(quad.subject, ox.NamedNode) and isinstance(quad.object, ox.Literal):
                lang = "zh" if (quad.object.language or "").startswith("zh") else "en"
                found.setdefault(quad.subject.value, {})[f"{kind}_{lang}"] = quad.object.value
    return {iri: ShapeText(**values) for iri, values in found.items()}
