"""Read the parts of CSW answers a mapping cannot: bounding boxes in their CRS's axis order, localised texts
(ISO 19139 PT_FreeText, Dublin Core titles with xml:lang) and RDF (GeoDCAT-AP) records."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pyoxigraph as ox

from harvesters.dcat_forms import RELATIVE, skolemise, vocabularies
from mappings.paths import resolve, text
from ontology.namespaces import DCT, WODP

ISO, DC = "iso19139", "dublin-core"
RDF_KINDS = ("rdf",)
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DCAT_NS = "http://www.w3.org/ns/dcat#"
# CRSs whose first axis is latitude (EPSG geographic 2D CRSs we meet in catalogues) and those lon/lat
LAT_FIRST = {"4326", "4490", "4258", "4269", "4979", "4610", "4214"}
_EPSG = re.compile(r"(?:EPSG(?:/\d+)?[:/]+(?:[\d.]*:)?|epsg\.io/)(\d+)$", re.I)
_LON_FIRST = re.compile(r"CRS:?84h?$|OGC/1\.3/CRS84h?$", re.I)


def axis_order(crs: str | None) -> str | None:
    """Return 'latlon' or 'lonlat' for a CRS identifier we can read, else None."""
    if not crs:
        return None
    crs = crs.strip()
    if _LON_FIRST.search(crs):
        return "lonlat"
    match = _EPSG.search(crs)
    if match and match.group(1) in LAT_FIRST:
        return "latlon"
    return None


def boxes_in_axis_order(fields: dict, origin: str, problems: list[str]) -> dict:
    """Give every ows:BoundingBox (and ows:WGS84BoundingBox) west/south/east/north read in its CRS's order."""
    boxes = []
    for name, default in (("BoundingBox", None), ("WGS84BoundingBox", "urn:ogc:def:crs:OGC:1.3:CRS84")):
        found = fields.get(name)
        for box in found if isinstance(found, list) else [found] if found is not None else []:
            boxes.append(_box(box, default, origin, problems))
    if not boxes:
        return fields
    out = {k: v for k, v in fields.items() if k != "WGS84BoundingBox"}
    out["BoundingBox"] = boxes
    return out


def _box(box: Any, default: str | None, origin: str, problems: list[str]) -> Any:
    if not isinstance(box, dict):
        return box
    crs = box.get("@crs") or default
    order = axis_order(crs)
    try:
        low = [float(v) for v in str(text(box.get("LowerCorner")) or "").split()]
        high = [float(v) for v in str(text(box.get("UpperCorner")) or "").split()]
    except ValueError:
        low = high = []
    if len(low) != 2 or len(high) != 2:
        problems.append(f"{origin}: a bounding box without two corners of two numbers; not placed")
        return box
    if order is None:
        problems.append(f"{origin}: a bounding box in CRS {crs!r}, whose axis order we do not know; not placed")
        return box
    (a1, a2), (b1, b2) = low, high
    west, south, east, north = (a2, a1, b2, b1) if order == "latlon" else (a1, a2, b1, b2)
    return {**box, "west": str(west), "south": str(south), "east": str(east), "north": str(north)}


def _iso_languages(fields: dict) -> dict[str, str]:
    """Return the ISO record's locale ids (#FR) → language tags (fr)."""
    tags = {code.lower(): short for short, code in _short_codes().items()}
    out = {}
    for loc in resolve(fields, "locale.PT_Locale"):
        if isinstance(loc, dict) and loc.get("@id"):
            code = text((resolve(loc, "languageCode.LanguageCode.@codeListValue") or [None])[0]) or ""
            full = vocabularies()["languages"].get(code.lower())
            tag = tags.get((full or "").lower())
            if tag:
                out["#" + loc["@id"]] = tag
    return out


def _short_codes() -> dict[str, str]:
    """Return two-letter language tag → EU language code."""
    return {k: v for k, v in vocabularies()["languages"].items() if len(k) == 2}


def _localised(fields: dict, kind: str, target: str) -> list[tuple[str, str | None]]:
    """Return (text, language tag) of every version of a record's title or description."""
    if kind == ISO:
        path = {"title": "identificationInfo.*.citation.CI_Citation.title",
                "description": "identificationInfo.*.abstract"}[target]
        locales = _iso_languages(fields)
        out = []
        for node in resolve(fields, path)[:1]:
            for group in resolve(node, "PT_FreeText.textGroup.LocalisedCharacterString"):
                tag = locales.get(group.get("@locale")) if isinstance(group, dict) else None
                if tag and text(group):
                    out.append((text(group).strip(), tag))
        return out
    names = ("title",) if target == "title" else ("abstract", "description")
    out = []
    for name in names:
        for node in resolve(fields, name):
            if isinstance(node, dict) and node.get("@lang") and text(node):
                out.append((text(node).strip(), node["@lang"].lower()))
    return out


def localised_texts(uri: str, triples: list[ox.Triple], record, kind: str) -> list[ox.Triple]:
    """Return a mapped graph with every language version of its title and description the record holds."""
    node = ox.NamedNode(uri)
    triples = list(triples)
    for target, predicate in (("title", DCT.title), ("description", DCT.description)):
        versions = _localised(record.fields, kind, target)
        for value, tag in versions:
            have = [t for t in triples if t.subject == node and t.predicate == predicate]
            plain = [t for t in have if t.object.value == value and not t.object.language]
            if plain:
                triples = [t for t in triples if t not in plain]
                have = [t for t in have if t not in plain]
            if not any((t.object.language or "").lower() == tag for t in have):
                triples.append(ox.Triple(node, predicate, ox.Literal(value, language=tag)))
    return triples


def rdf_documents(body: str, page: str, source: str, base_uri: str, problems: list[str], limits=None) -> list:
    """Return [(key, {uri: triples})] of the RDF (GeoDCAT-AP) datasets inside a GetRecords answer.

    The answer is read through core.xmlsafe (no DTD, no entity) before pyoxigraph sees any part of it.
    """
    from config.settings import InputLimits
    from core.xmlsafe import parse_xml
    from harvesters.dcat import dataset_graphs

    root = parse_xml(body, page, limits or InputLimits())
    results = next((e for e in root.iter() if e.tag.endswith("}SearchResults")), None)
    if results is None:
        return []
    out = []
    for child in results:
        if child.tag == f"{{{RDF_NS}}}RDF":
            xml = ET.tostring(child, encoding="unicode")
        elif child.tag.startswith(f"{{{DCAT_NS}}}") or child.tag == f"{{{RDF_NS}}}Description":
            xml = f'<rdf:RDF xmlns:rdf="{RDF_NS}">{ET.tostring(child, encoding="unicode")}</rdf:RDF>'
        else:
            continue
        try:
            quads = list(ox.parse(xml.encode("utf-8"), format=ox.RdfFormat.RDF_XML, base_iri=RELATIVE + "/"))
        except SyntaxError as exc:
            problems.append(f"{page}: an RDF record that is not RDF/XML: {exc}; skipped")
            continue
        quads, notes = skolemise(quads, page)
        problems += notes
        for uri, graph in dataset_graphs(quads, page, source, base_uri, problems).items():
            key = next((t.object.value for t in graph if t.predicate == WODP.sourceKey), uri)
            out.append((key, {uri: graph}))
    return out
