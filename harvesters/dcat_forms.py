"""Read DCAT-AP 1.x/2.x/3 and national-profile documents as they come, without loss.

What a source leaves implicit is made explicit by rules that are written down, never guessed:

- an object of a DCAT-AP property whose range is a class (dct:license → dct:LicenseDocument, dcat:theme →
  skos:Concept …) gets that class when the source did not type it: an EU authority-table IRI gets the class of
  its table (harvesters/eu_vocabularies.yml), any other IRI or blank node the declared range of the property
  (RDFS range entailment: the source said it by using the property);
- a literal where DCAT-AP wants a resource (DCAT-AP 1.x: ``dct:format "CSV"``, ``dcat:mediaType "text/csv"``,
  ``dct:language "en"``) becomes the EU or IANA IRI it names (matched case-insensitively), else a node of the
  range class labelled with the literal exactly; an absolute IRI written as a literal becomes that IRI;
- a date given as a plain literal (``"2015-03-01"``) gets the XSD type its lexical form has; an ill-typed date
  (``"2022-03-22T08:51:36"^^xsd:date``) is re-typed; an empty one is dropped;
- a relative IRI is resolved against the page it came from.
Each change that is more than adding a type is reported as a per-record problem.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import yaml

from ontology.labels import label_triples
from ontology.namespaces import ADMS, DCAT, DCT, FOAF, RDF, RDFS, SKOS, VCARD, XSD

EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"
RELATIVE = "http://relative-iri.wodp.invalid"   # parse base: an IRI starting with it was relative in the source

RANGES: dict[ox.NamedNode, ox.NamedNode] = {
    DCT.language: DCT.LinguisticSystem, DCT.license: DCT.LicenseDocument, DCT.format: DCT.MediaTypeOrExtent,
    DCAT.mediaType: DCT.MediaType, DCAT.compressFormat: DCT.MediaType, DCAT.packageFormat: DCT.MediaType,
    DCT.accrualPeriodicity: DCT.Frequency, DCT.accessRights: DCT.RightsStatement, DCT.rights: DCT.RightsStatement,
    DCT.spatial: DCT.Location, DCAT.theme: SKOS.Concept, DCT.publisher: FOAF.Agent, DCT.creator: FOAF.Agent,
    DCAT.contactPoint: VCARD.Kind, DCT.conformsTo: DCT.Standard, DCT.provenance: DCT.ProvenanceStatement,
    DCT.temporal: DCT.PeriodOfTime,
}
URL_PROPERTIES = (DCAT.accessURL, DCAT.downloadURL, DCAT.landingPage, FOAF.page, DCAT.endpointURL)
DATE_PROPERTIES = (DCT.issued, DCT.modified, DCAT.startDate, DCAT.endDate, DCT.created)
_DATE_FORMS = ((re.compile(r"^-?\d{4}-\d{2}-\d{2}(Z|[+-]\d{2}:\d{2})?$"), XSD.date),
               (re.compile(r"^-?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"), XSD.dateTime),
               (re.compile(r"^-?\d{4}-\d{2}$"), XSD.gYearMonth), (re.compile(r"^-?\d{4}$"), XSD.gYear))
_PLAIN = (XSD.string, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"))
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")


@cache
def vocabularies() -> dict:
    """Return the EU authority tables we ship: table → class, file-type codes, ISO 639-1 → EU language code."""
    data = yaml.safe_load((Path(__file__).with_name("eu_vocabularies.yml")).read_text(encoding="utf-8"))
    data["classes"] = {table: _curie(cls) for table, cls in data["tables"].items()}
    return data


def _curie(text: str) -> ox.NamedNode:
    prefix, name = text.split(":", 1)
    return {"dct": DCT, "skos": SKOS, "foaf": FOAF}[prefix][name]


def eu_class(iri: str) -> ox.NamedNode | None:
    """Return the class of an EU authority-table IRI we know, else None."""
    if not iri.startswith(EU):
        return None
    return vocabularies()["classes"].get(iri[len(EU):].split("/", 1)[0])


def normalise(triples: list[ox.Triple], page: str, label: str) -> tuple[list[ox.Triple], list[str]]:
    """Return one dataset graph in explicit DCAT-AP form and the problems met (see the module text)."""
    problems: list[str] = []
    out: list[ox.Triple] = []
    for t in triples:
        t = ox.Triple(_absolute(t.subject, page, label, problems), t.predicate,
                      _absolute(t.object, page, label, problems))
        out += _object_form(t, page, label, problems)
    typed = {(t.subject, t.object) for t in out if t.predicate == RDF.type}
    for t in list(out):
        cls = RANGES.get(t.predicate)
        if cls is None or isinstance(t.object, ox.Literal):
            continue
        found = eu_class(t.object.value) if isinstance(t.object, ox.NamedNode) else None
        for c in {cls, found or cls}:
            if (t.object, c) not in typed:
                typed.add((t.object, c))
                out.append(ox.Triple(t.object, RDF.type, c))
    out += _access_urls(out, label, problems)
    return out + label_triples(out), problems


def _access_urls(triples: list[ox.Triple], label: str, problems: list[str]) -> list[ox.Triple]:
    """Give a distribution that has only download URLs each of them as an access URL too (reported).

    DCAT-AP makes dcat:accessURL mandatory; a download URL is an address the distribution is accessed at
    (ckanext-dcat writes the same pair). Nothing is added to a distribution without a URL.
    """
    access = {t.subject for t in triples if t.predicate == DCAT.accessURL}
    added = [ox.Triple(t.subject, DCAT.accessURL, t.object) for t in triples
             if t.predicate == DCAT.downloadURL and t.subject not in access and isinstance(t.object, ox.NamedNode)]
    if added:
        problems.append(f"{label}: {len({t.subject for t in added})} distributions had a download URL but no "
                        "access URL; the download URL is given as access URL too")
    return added


def resolved(iri: str, page: str) -> str:
    """Return an IRI parsed against the RELATIVE base as resolved against the page it came from."""
    if not iri.startswith(RELATIVE):
        return iri
    origin = re.match(r"^[a-z][a-z0-9+.-]*://[^/?#]*", page, re.I)
    return (origin.group(0) if origin else "") + iri[len(RELATIVE):]


def _absolute(term, page: str, label: str, problems: list[str]):
    """Resolve an IRI that was relative in the source against its page, and report it."""
    if isinstance(term, ox.NamedNode) and term.value.startswith(RELATIVE):
        absolute = resolved(term.value, page)
        problems.append(f"{label}: a relative IRI (path {term.value[len(RELATIVE):]!r} once resolved) taken "
                        f"against the page it came from: {absolute}")
        return ox.NamedNode(absolute)
    return term


def _object_form(t: ox.Triple, page: str, label: str, problems: list[str]) -> list[ox.Triple]:
    """Return a triple with its object in the form DCAT-AP gives it (dates typed, literals made resources)."""
    o = t.object
    if not isinstance(o, ox.Literal):
        return [t]
    if t.predicate in DATE_PROPERTIES:
        return _date(t, label, problems)
    if t.predicate in URL_PROPERTIES or (t.predicate in RANGES and re.match(r"^https?://\S+$", o.value)):
        return [ox.Triple(t.subject, t.predicate, _url(o.value, page, label, t.predicate, problems))]
    if t.predicate not in RANGES:
        return [t]
    if t.predicate == DCT.language:
        code = vocabularies()["languages"].get(o.value.strip().lower().split("-")[0])
        if code:
            return [ox.Triple(t.subject, t.predicate, ox.NamedNode(f"{EU}language/{code}"))]
    elif t.predicate == DCT.format:
        word = o.value.strip().upper().replace(" ", "_")
        if word in vocabularies()["file_types"]:
            return [ox.Triple(t.subject, t.predicate, ox.NamedNode(f"{EU}file-type/{word}"))]
        if _MEDIA_TYPE.match(o.value.strip()):
            return [ox.Triple(t.subject, t.predicate, ox.NamedNode(IANA + o.value.strip().lower()))]
    elif t.predicate in (DCAT.mediaType, DCAT.compressFormat, DCAT.packageFormat) and _MEDIA_TYPE.match(
            o.value.strip()):
        return [ox.Triple(t.subject, t.predicate, ox.NamedNode(IANA + o.value.strip().lower()))]
    node = ox.BlankNode("lit" + hashlib.sha1(f"{t.subject}|{t.predicate}|{o}".encode()).hexdigest()[:20])
    problems.append(f"{label}: {_short(t.predicate)} {o.value!r} names no IRI we know; kept as the label of a "
                    f"{_short(RANGES[t.predicate])}")
    return [ox.Triple(t.subject, t.predicate, node), ox.Triple(node, RDF.type, RANGES[t.predicate]),
            ox.Triple(node, RDFS.label, o)]


def _url(text: str, page: str, label: str, predicate, problems: list[str]):
    """Return an IRI written as a literal as the IRI; a relative one resolved against the page (reported)."""
    from urllib.parse import urljoin

    value = text.strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I):
        resolved = urljoin(page, value)
        problems.append(f"{label}: relative IRI {value!r} in {_short(predicate)} resolved against {page} "
                        f"as {resolved}")
        value = resolved
    try:
        return ox.NamedNode(value)
    except ValueError:
        problems.append(f"{label}: {_short(predicate)} {text!r} is not an IRI; kept as a literal")
        return ox.Literal(text)


def _date(t: ox.Triple, label: str, problems: list[str]) -> list[ox.Triple]:
    """Type a plain-literal date by its lexical form; re-type an ill-typed one; drop an empty one."""
    o = t.object
    text = o.value.strip()
    if not text:
        problems.append(f"{label}: empty {_short(t.predicate)} dropped")
        return []
    form = next((dt for pattern, dt in _DATE_FORMS if pattern.match(text)), None)
    if form is None:
        if o.datatype in (XSD.date, XSD.dateTime):
            problems.append(f"{label}: {_short(t.predicate)} {o.value!r} is not an {_short(o.datatype)}; "
                            "kept as a plain literal")
            return [ox.Triple(t.subject, t.predicate, ox.Literal(o.value))]
        return [t]
    if o.datatype in _PLAIN or o.datatype == form:
        return [ox.Triple(t.subject, t.predicate, ox.Literal(text, datatype=form))]
    problems.append(f"{label}: {_short(t.predicate)} {o.value!r} typed {_short(o.datatype)} is an "
                    f"{_short(form)}; re-typed")
    return [ox.Triple(t.subject, t.predicate, ox.Literal(text, datatype=form))]


def _short(iri: ox.NamedNode) -> str:
    for prefix, ns in (("dct:", DCT), ("dcat:", DCAT), ("xsd:", XSD), ("foaf:", FOAF), ("skos:", SKOS),
                       ("vcard:", VCARD), ("adms:", ADMS)):
        if iri.value.startswith(str(ns)):
            return prefix + iri.value[len(str(ns)):]
    return iri.value


def skolemise(quads: list[ox.Quad], source_url: str) -> tuple[list[ox.Quad], list[str]]:
    """Give every blank-node dcat:Dataset a stable IRI from its identifier, else its titles, else its content."""
    blanks = {q.subject for q in quads if q.predicate == RDF.type and q.object == DCAT.Dataset
              and isinstance(q.subject, ox.BlankNode)}
    if not blanks:
        return quads, []
    names, notes = {}, []
    for node in blanks:
        own = [q for q in quads if q.subject == node]
        for basis in (DCT.identifier, DCT.title):
            words = sorted(str(q.object) for q in own if q.predicate == basis and isinstance(q.object, ox.Literal))
            if words:
                break
        else:
            basis = None
            words = sorted(f"{q.predicate} {q.object}" for q in own if not isinstance(q.object, ox.BlankNode))
        digest = hashlib.sha1("\n".join([source_url, *words]).encode("utf-8")).hexdigest()[:20]
        names[node] = ox.NamedNode(f"{source_url.split('#')[0]}#dataset-{digest}")
        notes.append(f"{source_url}: a blank-node dataset named {names[node].value} from its "
                     + (_short(basis) if basis else "content (it has no identifier or title)"))
    swap = lambda term: names.get(term, term)  # noqa: E731
    return [ox.Quad(swap(q.subject), q.predicate, swap(q.object), q.graph_name) for q in quads], notes
