"""Build the dataset graph of docs/model.md from the extracted values of one record."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyoxigraph import Literal, NamedNode, Triple

from mappings.departments import department_label, match_department
from mappings.extract import Extracted
from mappings.model import Problem
from mappings.spec import Mapping
from mappings.values import bbox, check_bbox, emails, lookup, parse_date, parse_int, phones
from ontology.extent import extent_triples
from ontology.namespaces import (ACCESS_RIGHT, DATA_THEME, DCAT, DCT, FOAF, FREQUENCY, GSP, LANGUAGE, LOCN,
                                 OPEN_TYPE, ORG, RDF, SKOS, SPATIALIZATION, THEME, UPDATE_CYCLE, VCARD, WODP,
                                 XSD)
from core.identifiers import dataset_id

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
                 _volume, _spatial, _distributions):
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
    """Link the publisher: one of our departments, else an agent minted under the source."""
    name = b.ext.first("publisher")
    if not name:
        return
    uri = match_department(name) if b.mapping.publishers == "wuhan" else None
    label = department_label(uri) if uri else name
    if uri is None:
        uri = f"{b.base}/agents/{dataset_id(b.source, name)}"
        b.problem("publisher", "not-in-our-scheme", f"publisher {name!r} is not one of our departments; "
                  "an agent is minted under the source", name)
    agent = NamedNode(uri)
    b.add(b.uri, DCT.publisher, agent)
    b.add(agent, RDF.type, FOAF.Agent)
    b.add(agent, RDF.type, ORG.Organization)
    b.add(agent, FOAF.name, Literal(label, language="zh-CN") if uri.startswith("https://data.wuhan.gov.cn/def/")
          else b.text(label))


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
    """Add our themes and their EU data themes; report words matching none."""
    for word in dict.fromkeys(b.ext.values.get("theme", [])):
        found = lookup("themes", word)
        if not found:
            b.problem("theme", "unknown-value", f"theme {word!r} matches none of our themes", word)
            continue
        code, eu = found
        b.add(b.uri, DCAT.theme, THEME[code])
        b.add(THEME[code], RDF.type, SKOS.Concept)
        if eu:
            b.add(b.uri, DCAT.theme, DATA_THEME[eu])
            b.add(DATA_THEME[eu], RDF.type, SKOS.Concept)


def _open_type(b: Builder) -> None:
    """Add the open type and its EU access right."""
    word = b.ext.first("open_type")
    if not word:
        return
    code = lookup("open_types", word)
    if code is None:
        b.problem("open_type", "unknown-value", f"open type {word!r} is none of ours", word)
        return
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
