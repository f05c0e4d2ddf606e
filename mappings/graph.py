"""Build the dataset graph of docs/model.md from the extracted values of one record."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pyoxigraph import Literal, NamedNode, Triple

from mappings.departments import (department_label, is_wuhan, match_department, organisation_iri,
                                  source_concept_iri)
from mappings.extract import Extracted
from mappings.model import Problem
from mappings.spec import Mapping
from mappings.values import (bbox, check_bbox, emails, lookup, lookup_open_type, parse_date, parse_int, phones,
                             theme_of_code, word_key)
from ontology.extent import extent_triples
from ontology.namespaces import (ACCESS_RIGHT, DATA_THEME, DCAT, DCT, FOAF, FREQUENCY, GSP, LANGUAGE, LOCN,
                                 OPEN_TYPE, ORG, RDF, SKOS, SPATIALIZATION, THEME, UPDATE_CYCLE, VCARD, WODP,
                                 XSD)
from ontology.crs import crs_iri

CRS = {"CRS84": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
       "EPSG:4490": "http://www.opengis.net/def/crs/EPSG/0/4490"}


@dataclass
class Builder:
    """Collects the triples and problems of one dataset."""

    base: str
    source: str
    key: str
    ident: str
    mapping: Mapping
    ext: Extracted
    origin: str
    problems: list[Problem] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)
    lang: str | None = None
    jurisdiction: str | None = None     # the source's administrative division code (420100: Wuhan)
    source_themes: dict[str, str] = field(default_factory=dict)  # the source's theme words → our codes

    @property
    def uri(self) -> NamedNode:
        return NamedNode(f"{self.base}/datasets/{self.ident}")

    def add(self, s, p, o) -> None:
        self.triples.append(Triple(s, p, o))

    def text(self, value: str) -> Literal:
        return Literal(value, language=self.lang) if self.lang else Literal(value)

    def problem(self, target: str, kind: str, message: str, value: str | None = None) -> None:
        where = self.ext.sources.get(target, target)
        self.problems.append(Problem(self.origin, where, kind, message, value))

    def iri(self, target: str, value: str) -> NamedNode | None:
        """Return an http(s) IRI, or report a bad value."""
        if value.startswith(("http://", "https://")):
            try:
                return NamedNode(value.replace(" ", "%20"))
            except ValueError:
                pass
        self.problem(target, "bad-value", f"not an http(s) IRI: {value!r}", value)
        return None


def build(b: Builder) -> list[Triple]:
    """Return the whole dataset graph (catalogue link, dataset, its nodes and vocabulary typing)."""
    for part in (_language, _core, _publisher, _contact, _themes, _open_type, _update_cycle, _dates,
                 _volume, _spatial, _source_crs, _distributions):
        part(b)
    return list(dict.fromkeys(b.triples))


def _language(b: Builder) -> None:
    """Set the language of texts from the record, else the mapping."""
    code, b.lang = b.mapping.language, b.mapping.lang
    word = b.ext.first("language")
    if word:
        found = lookup("languages", word)
        if found:
            code, b.lang = found
        else:
            b.problem("language", "unknown-value", f"unknown language {word!r}", word)
    if code:
        b.add(b.uri, DCT.language, LANGUAGE[code])
        b.add(LANGUAGE[code], RDF.type, DCT.LinguisticSystem)


def _core(b: Builder) -> None:
    """Add type, identifiers, titles, descriptions, keywords and the landing page."""
    d, e = b.uri, b.ext
    b.add(NamedNode(f"{b.base}/catalog"), DCAT.dataset, d)
    b.add(d, RDF.type, DCAT.Dataset)
    b.add(d, DCT.identifier, Literal(b.ident))
    b.add(d, WODP.source, Literal(b.source))
    b.add(d, WODP.sourceKey, Literal(b.key))
    if e.first("resource_code"):
        b.add(d, WODP.resourceCode, Literal(e.first("resource_code")))
    for target, predicate in (("title", DCT.title), ("description", DCT.description)):
        if e.first(target):
            b.add(d, predicate, b.text(e.first(target)))
    for word in dict.fromkeys(e.values.get("keyword", [])):
        b.add(d, DCAT.keyword, b.text(word))
    licence = e.first("license")
    if licence and not licence.startswith(("http://", "https://")):
        b.problem("license", "bad-value", f"licence is not an IRI: {licence[:80]!r}", licence[:200])
    if e.first("landing_page"):
        page = b.iri("landing_page", e.first("landing_page"))
        if page:
            b.add(d, DCAT.landingPage, page)
            b.add(page, RDF.type, FOAF.Document)


def _publisher(b: Builder) -> None:
    """Link the publisher: one of our departments in a Wuhan source, else an organisation of its own."""
    name = b.ext.first("publisher")
    if not name:
        return
    uri = match_department(name, b.jurisdiction)
    if uri:
        agent = NamedNode(uri)
        b.add(agent, FOAF.name, Literal(department_label(uri), language="zh-CN"))
    else:
        agent = NamedNode(organisation_iri(b.base, b.jurisdiction, b.source, name))
        b.add(agent, FOAF.name, b.text(name))
        if b.jurisdiction:
            b.add(agent, WODP.jurisdiction, Literal(b.jurisdiction))
        place = b.jurisdiction or "(not stated)"
        why = "is none of our departments" if is_wuhan(b.jurisdiction) else \
            f"belongs to jurisdiction {place}, not Wuhan's: never one of our departments"
        b.problem("publisher", "not-in-our-scheme", f"publisher {name!r} {why}; published as an organisation "
                  f"of its own <{agent.value}>", name)
    b.add(b.uri, DCT.publisher, agent)
    b.add(agent, RDF.type, FOAF.Agent)
    b.add(agent, RDF.type, ORG.Organization)


def _contact(b: Builder) -> None:
    """Add the contact point: e-mail and phone found in the texts, a name if given."""
    e, cc = b.ext, b.mapping.country_code
    raw = e.first("contact") or ""
    mails = emails(raw) + emails(e.first("contact_email") or "")
    tels = phones(raw, cc) + phones(e.first("contact_phone") or "", cc)
    name = e.first("contact_name") or (raw if raw and not mails and not tels else None)
    if not (mails or tels or name):
        return
    node = NamedNode(f"{b.uri.value}#contact")
    b.add(b.uri, DCAT.contactPoint, node)
    b.add(node, RDF.type, VCARD.Kind)
    b.add(node, RDF.type, VCARD.Organization)
    if name:
        b.add(node, VCARD.fn, b.text(name))
    for mail in dict.fromkeys(mails):
        b.add(node, VCARD.hasEmail, NamedNode(f"mailto:{mail}"))
    for tel in dict.fromkeys(tels):
        b.add(node, VCARD.hasTelephone, NamedNode(tel))


def _themes(b: Builder) -> None:
    """Add our themes and their EU data themes; a word unknown as a whole is tried split on 、 and spaces
    (each part that is ours is added; unless all are, the whole word is kept as the source's own theme).

    A word that is none of our themes is reported; in a source outside Wuhan it is kept as a concept of the
    source's own themes (``source_concept_iri``), its label the word as given, never one of ours.
    """
    for word in dict.fromkeys(b.ext.values.get("theme", [])):
        found = lookup("themes", word) or _declared_theme(b, word)
        parts = [p for p in re.split(r"[、\s]+", word) if p] if found is None else []
        pairs = [found] if found else [f for f in (lookup("themes", p) for p in parts) if f] if len(parts) > 1 else []
        if found is None and len(pairs) < max(len(parts), 1):
            _source_theme(b, word)      # not all of it is ours: the word itself is kept (and reported)
        for code, eu in pairs:
            b.add(b.uri, DCAT.theme, THEME[code])
            b.add(THEME[code], RDF.type, SKOS.Concept)
            if eu:
                b.add(b.uri, DCAT.theme, DATA_THEME[eu])
                b.add(DATA_THEME[eu], RDF.type, SKOS.Concept)


def _declared_theme(b: Builder, word: str) -> tuple[str, str | None] | None:
    """Return our theme of a word through the source's own theme list (harvest.sources[].themes)."""
    code = b.source_themes.get(word_key(word))
    found = theme_of_code(code) if code else None
    if code and found is None:
        b.problem("theme", "bad-value", f"the source's theme list gives {word!r} → {code!r}, none of our "
                  "theme codes", word)
    return found


def _source_theme(b: Builder, word: str) -> None:
    """Report a theme word none of ours; outside Wuhan keep it as a concept of the source's own themes."""
    if is_wuhan(b.jurisdiction):
        b.problem("theme", "unknown-value", f"theme {word!r} matches none of our themes", word)
        return
    concept = NamedNode(source_concept_iri(b.base, b.jurisdiction, b.source, "theme", word))
    b.problem("theme", "unknown-value", f"theme {word!r} matches none of our themes; kept as the source's own "
              f"theme <{concept.value}>", word)
    b.add(b.uri, DCAT.theme, concept)
    b.add(concept, RDF.type, SKOS.Concept)
    b.add(concept, SKOS.prefLabel, b.text(word))


_RESTRICTION = {"unconditional": 0, "conditional": 1, "closed": 2}


def _open_type(b: Builder) -> None:
    """Add the open type and its EU access right; of several, the most restrictive (reported).

    A source text that names no open type at all (用于数据校验, 1级 不脱敏 …) is no open type: it is carried as
    it stands as wodp:openCondition (开放条件), reported as an unknown value, and no open type is guessed.
    """
    codes, unknown = [], []
    for word in dict.fromkeys(b.ext.values.get("open_type", [])):
        found = lookup_open_type(word)
        if found is None:
            unknown.append(word)
            continue
        codes.append(found[0])
        if found[1]:
            b.problem("open_type", "inferred-value", f"open type {word!r} read as {found[0]} by the marker "
                      f"{found[1]!r} it contains", word)
    kept = " and kept as wodp:openCondition (no open type)" if unknown and not codes else ""
    for word in unknown:
        b.problem("open_type", "unknown-value", f"open type {word!r} is none of ours{kept}", word)
    if not codes:
        for text in dict.fromkeys(b.ext.texts.get("open_type", []) if unknown else []):
            b.add(b.uri, WODP.openCondition, b.text(text))
        return
    code = max(codes, key=_RESTRICTION.__getitem__)
    if len(set(codes)) > 1:
        b.problem("open_type", "conflicting-values", f"open types {sorted(set(codes))} given; the most "
                  f"restrictive, {code}, is published", ",".join(b.ext.values["open_type"]))
    right = ACCESS_RIGHT[lookup("access_rights", code)]
    b.add(b.uri, WODP.openType, OPEN_TYPE[code])
    b.add(b.uri, DCT.accessRights, right)
    for t in (SKOS.Concept, DCT.RightsStatement):
        b.add(OPEN_TYPE[code], RDF.type, t)
    b.add(right, RDF.type, DCT.RightsStatement)


def _update_cycle(b: Builder) -> None:
    """Add the update cycle and the EU frequency."""
    word = b.ext.first("update_cycle")
    if not word:
        return
    found = lookup("update_cycles", word)
    if found is None:
        b.problem("update_cycle", "unknown-value", f"update cycle {word!r} is none of ours", word)
        return
    cycle, eu = found
    if cycle:
        b.add(b.uri, WODP.updateCycle, UPDATE_CYCLE[cycle])
        for t in (SKOS.Concept, DCT.Frequency):
            b.add(UPDATE_CYCLE[cycle], RDF.type, t)
    else:
        b.problem("update_cycle", "not-in-our-scheme", f"update cycle {word!r} has an EU frequency ({eu}) "
                  "but none of our update cycles", word)
    b.add(b.uri, DCT.accrualPeriodicity, FREQUENCY[eu])
    b.add(FREQUENCY[eu], RDF.type, DCT.Frequency)


def _dates(b: Builder) -> None:
    """Add issue and modification dates as xsd:date."""
    for target, predicate in (("issued", DCT.issued), ("modified", DCT.modified)):
        word = b.ext.first(target)
        if not word:
            continue
        day = parse_date(word)
        if day is None:
            b.problem(target, "bad-date", f"not a date: {word!r}", word)
        else:
            b.add(b.uri, predicate, Literal(day.isoformat(), datatype=XSD.date))


def _volume(b: Builder) -> None:
    """Add the number of records."""
    word = b.ext.first("data_volume")
    if word:
        count = parse_int(word)
        if count is None:
            b.problem("data_volume", "bad-value", f"not a count: {word!r}", word)
        else:
            b.add(b.uri, WODP.dataVolume, Literal(str(count), datatype=XSD.integer))


def _spatial(b: Builder) -> None:
    """Add the extent as bbox and geometry WKT with the CRS, and the spatialization status."""
    box = _box(b)
    status = "spatial" if box else "none"
    b.add(b.uri, WODP.spatializationStatus, SPATIALIZATION[status])
    if not box:
        return
    for t in extent_triples(b.uri, box, b.mapping.crs, None, centroid=False):
        b.add(t.subject, t.predicate, t.object)


def _source_crs(b: Builder) -> None:
    """Declare the data file's own coordinate system (wodp:sourceCRS), apart from the published CRS."""
    word = b.ext.first("source_crs")
    if not word:
        return
    iri = crs_iri(word)
    if iri is None:
        b.problem("source_crs", "unknown-value", f"unknown coordinate system {word!r} (WGS84, CGCS2000, GCJ-02, "
                  "BD-09, EPSG:n)", word)
        return
    b.add(b.uri, WODP.sourceCRS, NamedNode(iri))


def _box(b: Builder) -> tuple[float, float, float, float] | None:
    """Read a box from 'west,south,east,north' or the four bbox targets; report what is not one."""
    e = b.ext
    parts = [e.first(f"bbox_{side}") for side in ("west", "south", "east", "north")]
    if all(parts):
        try:
            box = check_bbox(*(float(p) for p in parts))
        except ValueError:
            box = None
        if box is None:
            b.problem("bbox_west", "bad-value", f"not a bounding box: {parts}", ",".join(parts))
        return box
    word = e.first("spatial")
    if not word:
        return None
    box = bbox(word)
    if box is None:
        b.problem("spatial", "unknown-value", f"spatial coverage {word!r} is not 'west,south,east,north'", word)
    return box


def _distributions(b: Builder) -> None:
    """Add one distribution per distribution object, else one per format word."""
    from mappings.distributions import distribution_triples

    distribution_triples(b)
