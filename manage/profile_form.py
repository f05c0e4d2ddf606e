"""Build the 数据报送 form from the Wuhan profile: its fields, which are required, and their vocabulary pickers.

Nothing here lists the fields by hand. The fields are the property shapes of the Wuhan dataset shape
(shapes/wuhan.ttl ``w:DatasetShape``): a shape with ``sh:minCount`` ≥ 1 and severity Violation makes its field
required, with severity Warning recommended. Each shape's path is placed on the china-core mapping's target that
fills it (mappings/targets.py: the first term of each target's description), so the record the form gives is the
record the push API reads through the same mapping. Pickers take their values from the shape's ``sh:in`` list,
from the scheme the profile names (``sh:node`` → ``skos:inScheme`` ``sh:hasValue``) or, for themes and formats,
from the vocabularies (ontology/themes.ttl, mappings/vocabulary.yml), with their zh-CN and English labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import pyoxigraph as ox

from mappings.targets import DATASET_TARGETS
from ontology import turtle_sources
from ontology.namespaces import DCAT, SKOS
from shapes.profiles import SH, shape_file_bytes

W = "https://data.wuhan.gov.cn/def/shapes/wuhan#"
DATASET_SHAPE = W + "DatasetShape"
PROFILE_FILES = ("wuhan.ttl", "wuhan-own.ttl")
PREFIXES = {"dct": "http://purl.org/dc/terms/",
            "dcat": "http://www.w3.org/ns/dcat#", "wodp": "https://data.wuhan.gov.cn/def/wodp#"}
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_FIRST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
# the themes scheme is what dcat:theme takes on our catalogue (docs/model.md); the profile only recommends a theme
THEMES_SCHEME = "https://data.wuhan.gov.cn/def/wodp#Themes"
FILES = "files"  # the form's section of attached data files (distributions)
TOP = ""  # findings that concern no field are shown above the form


@dataclass(frozen=True)
class Option:
    value: str      # what the form posts: a concept IRI, or a format word the mapping reads
    zh: str
    en: str
    record: str     # what goes into the china-core record (a word the mapping knows)


@dataclass(frozen=True)
class FormField:
    """One field of the form, made from the property shapes on one path."""

    name: str                  # the china-core mapping target (title, open_type, ...)
    path: str                  # the property IRI the shapes constrain
    label_zh: str
    label_en: str
    required: bool
    recommended: bool
    kind: str                  # text, textarea, date, number, select, multiselect
    options: tuple[Option, ...] = ()
    shapes: tuple[str, ...] = ()   # the property shapes the field answers
    datatypes: tuple[str, ...] = field(default=())

    def label(self, lang: str) -> str:
        if lang == "en":  # the shapes name properties in lower case ("title"): a label starts with a capital
            return self.label_en[:1].upper() + self.label_en[1:]
        return self.label_zh


def _curies(text: str) -> list[str]:
    return [PREFIXES[p] + local for p, local in re.findall(r"\b(dct|dcat|wodp):([A-Za-z]+)", text)]


@cache
def target_of_path() -> dict[str, str]:
    """Return property IRI → the mapping target that fills it (first target wins, in the table's order)."""
    out: dict[str, str] = {}
    for target, (description, _kind) in DATASET_TARGETS.items():
        terms = _curies(description)
        if terms:
            out.setdefault(terms[0], target)
        if "dcat:Distribution" in description:  # "one dcat:Distribution per format": the target fills the path
            out.setdefault(str(DCAT.distribution.value), target)
    return out


def _graph() -> list[ox.Triple]:
    triples = []
    for name in PROFILE_FILES:
        triples += [q.triple for q in ox.parse(shape_file_bytes(name), format=ox.RdfFormat.TURTLE)]
    return triples


def _index(triples):
    by: dict[tuple, list] = {}
    for t in triples:
        by.setdefault((t.subject, t.predicate.value), []).append(t.object)
    return by


def _list(by, head) -> list:
    out = []
    while head is not None and not (isinstance(head, ox.NamedNode) and head.value.endswith("#nil")):
        out += by.get((head, RDF_FIRST), [])
        head = (by.get((head, RDF_REST)) or [None])[0]
    return out


def _one(by, node, predicate):
    values = by.get((node, predicate))
    return values[0] if values else None


def _names(by, node) -> tuple[str, str]:
    zh = en = ""
    for name in by.get((node, SH + "name"), []):
        if (name.language or "").startswith("zh"):
            zh = name.value
        else:
            en = name.value
    return zh, en


@dataclass
class _Shaped:
    path: str
    names: list = field(default_factory=list)
    required: bool = False
    recommended: bool = False
    members: list = field(default_factory=list)
    scheme: str | None = None
    datatypes: list = field(default_factory=list)
    shapes: list = field(default_factory=list)
    single: bool = False


def _shaped_paths() -> dict[str, _Shaped]:
    """Read the property shapes of the Wuhan dataset shapes (ours and the own-catalogue one), by path."""
    triples = _graph()
    by = _index(triples)
    dataset_shapes = [t.subject for t in triples if t.predicate.value == SH + "targetClass"
                      and t.object == DCAT.Dataset]
    out: dict[str, _Shaped] = {}
    for shape in dataset_shapes:
        for prop in by.get((shape, SH + "property"), []):
            path = _one(by, prop, SH + "path")
            if not isinstance(path, ox.NamedNode):
                continue
            entry = out.setdefault(path.value, _Shaped(path.value))
            entry.shapes.append(prop.value)
            entry.names.append(_names(by, prop))
            severity = _one(by, prop, SH + "severity")
            minimum = _one(by, prop, SH + "minCount") or _one(by, prop, SH + "qualifiedMinCount")
            if minimum is not None and int(minimum.value) >= 1:
                if severity is not None and severity.value == SH + "Warning":
                    entry.recommended = True
                else:
                    entry.required = True
            maximum = _one(by, prop, SH + "maxCount")
            entry.single = entry.single or (maximum is not None and int(maximum.value) == 1)
            entry.members += _list(by, _one(by, prop, SH + "in"))
            for node in by.get((prop, SH + "node"), []):  # w:Department: skos:inScheme sh:hasValue the scheme
                for inner in by.get((node, SH + "property"), []):
                    if _one(by, inner, SH + "path") == SKOS.inScheme:
                        entry.scheme = _one(by, inner, SH + "hasValue").value
            entry.datatypes += [d.value for d in by.get((prop, SH + "datatype"), [])]
            for alternative in _list(by, _one(by, prop, SH + "or")):
                entry.datatypes += [d.value for d in by.get((alternative, SH + "datatype"), [])]
    return out


@cache
def vocabulary() -> dict[str, dict]:
    """Return every concept of our schemes: IRI → {scheme, notation, zh, en}."""
    concepts: dict[str, dict] = {}
    for name, data in turtle_sources().items():
        for q in ox.parse(data, format=ox.RdfFormat.TURTLE, base_iri=f"https://data.wuhan.gov.cn/def/{name}"):
            if not isinstance(q.subject, ox.NamedNode):
                continue
            entry = concepts.setdefault(q.subject.value, {})
            if q.predicate == SKOS.inScheme:
                entry["scheme"] = q.object.value
            elif q.predicate == SKOS.notation:
                entry["notation"] = q.object.value
            elif q.predicate == SKOS.prefLabel:
                entry["en" if (q.object.language or "") == "en" else "zh"] = q.object.value
    return concepts


def _concept_option(iri: str) -> Option:
    entry = vocabulary().get(iri, {})
    zh = entry.get("zh", iri)
    return Option(iri, zh, entry.get("en", zh), zh)


def _scheme_options(scheme: str) -> tuple[Option, ...]:
    members = [(c.get("notation", ""), iri) for iri, c in vocabulary().items() if c.get("scheme") == scheme]
    return tuple(_concept_option(iri) for _n, iri in sorted(members))


@cache
def format_options() -> tuple[Option, ...]:
    """Return the file formats the mapping knows (mappings/vocabulary.yml): one per EU file type, first word."""
    from importlib import resources

    import yaml

    words = yaml.safe_load(resources.files("mappings").joinpath("vocabulary.yml").read_text("utf-8"))["formats"]
    seen, out = set(), []
    for word, (eu_type, _media) in words.items():
        if eu_type and eu_type not in seen and word.isascii():
            seen.add(eu_type)
            out.append(Option(word, word.upper(), word.upper(), word))
    return tuple(out)


def _kind(target: str, shaped: _Shaped, options) -> str:
    if options:
        return "multiselect" if DATASET_TARGETS[target][1] == "list" and not shaped.single else "select"
    if XSD + "date" in shaped.datatypes or "(xsd:date)" in DATASET_TARGETS[target][0]:
        return "date"
    if XSD + "integer" in shaped.datatypes:
        return "number"
    return "textarea" if target == "description" else "text"


@cache
def form_fields() -> tuple[FormField, ...]:
    """Return the form's fields: the resource code (the mapping's key), then one per shaped path, in shape order."""
    from mappings import load_mapping

    spec = load_mapping("china-core")
    places = target_of_path()
    fields: list[FormField] = []
    key_target = next(t for t, s in spec.fields.items() if s.paths == spec.key.paths)
    fields.append(FormField(key_target, PREFIXES["wodp"] + "resourceCode", "资源代码", "Resource code",
                            True, False, "text"))
    for path, shaped in _shaped_paths().items():
        target = places.get(path)
        if target is None or any(f.name == target for f in fields):
            continue
        if shaped.members:
            options = tuple(_concept_option(m.value) for m in shaped.members if isinstance(m, ox.NamedNode))
        elif shaped.scheme:
            options = _scheme_options(shaped.scheme)
        elif path == DCAT.theme.value:
            options = _scheme_options(THEMES_SCHEME)
        elif target == "format":
            options = format_options()
        else:
            options = ()
        zh, en = next(((z, e) for z, e in shaped.names if z), ("", ""))
        fields.append(FormField(target, path, zh or target, en or target, shaped.required,
                                shaped.recommended and not shaped.required, _kind(target, shaped, options),
                                options, tuple(shaped.shapes), tuple(shaped.datatypes)))
    return tuple(fields)


def unformed_paths() -> list[str]:
    """Return the shaped paths no form field gives (each needs a mapping target before the form can offer it)."""
    given = {f.path for f in form_fields()}
    return [p for p in _shaped_paths() if p not in given]


def shaped_requirements() -> dict[str, tuple[bool, bool]]:
    """Return path → (required, recommended) as the shapes say (for tests and the docs)."""
    return {p: (s.required, s.recommended) for p, s in _shaped_paths().items()}


def field_by_name() -> dict[str, FormField]:
    return {f.name: f for f in form_fields()}


def field_by_path() -> dict[str, FormField]:
    return {f.path: f for f in form_fields()}
