"""Turn one dataset graph into one pycsw 2.6 repository row with an ISO 19139 gmd:MD_Metadata document.

The row carries the columns pycsw's own ISO loader (``pycsw.core.metadata._parse_iso``) would fill, so DC
(csw:Record), ISO (gmd:MD_Metadata, dumped from the ``xml`` column for the full view) and every filter read
the same values. The mapping DCAT → ISO/DC is in docs/csw.md.

Extents arrive as GeoSPARQL WKT literals, usually ``<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((lat
lon, …))``: EPSG:4490 and EPSG:4326 put latitude first, CRS84 (and a literal without a CRS) longitude first.
Rows always carry lon/lat (pycsw's ``wkt_geometry`` and ISO's EX_GeographicBoundingBox are lon/lat).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Sequence

import pyoxigraph as ox
from lxml import etree

from access.policy import public_view
from ogc.csw.iso import NS, iso_document
from ogc.wkt import wkt_bbox
from sparql import records as store_records
from ontology import namespaces as ns

DCAT = ns.DCAT.base
DCT = ns.DCT.base
FOAF = ns.FOAF.base
VCARD = ns.VCARD.base
SKOS = ns.SKOS.base
LOCN = ns.LOCN.base
SCHEMA = ns.SCHEMA.base
RDF_TYPE = ns.RDF.type.value
OGC_FEATURES = "http://www.opengis.net/doc/IS/ogcapi-features-1/1.0"
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"

PROTOCOL_DOWNLOAD = "WWW:DOWNLOAD-1.0-http--download"
PROTOCOL_LINK = "WWW:LINK-1.0-http--link"
PROTOCOL_FEATURES = "OGC:API-Features"

# EU data themes → ISO 19115 MD_TopicCategoryCode (closest category; themes without one get none)
TOPIC_CATEGORIES = {"AGRI": "farming", "ECON": "economy", "EDUC": "society", "ENER": "utilitiesCommunication",
                    "ENVI": "environment", "HEAL": "health", "REGI": "planningCadastre", "SOCI": "society",
                    "TECH": "utilitiesCommunication", "TRAN": "transportation", "GOVE": "society",
                    "JUST": "society", "INTR": "society"}

COLUMNS = ("identifier", "typename", "schema", "mdsource", "insert_date", "xml", "anytext", "language", "type",
           "title", "title_alternate", "abstract", "keywords", "keywordstype", "parentidentifier", "relation",
           "time_begin", "time_end", "topicategory", "resourcelanguage", "creator", "publisher", "contributor",
           "organization", "securityconstraints", "accessconstraints", "otherconstraints", "date",
           "date_revision", "date_creation", "date_publication", "date_modified", "format", "source", "crs",
           "geodescode", "denominator", "distancevalue", "distanceuom", "wkt_geometry", "servicetype",
           "servicetypeversion", "operation", "couplingtype", "operateson", "operatesonidentifier",
           "operatesoname", "degree", "classification", "conditionapplyingtoaccessanduse", "lineage",
           "responsiblepartyrole", "specificationtitle", "specificationdate", "specificationdatetype", "links")


class Graph:
    """The triples of one dataset graph, indexed by subject and predicate."""

    def __init__(self, triples: Iterable[ox.Triple]) -> None:
        self._by = defaultdict(lambda: defaultdict(list))
        for t in triples:
            self._by[t.subject.value][t.predicate.value].append(t.object)

    def objects(self, subject: str, predicate: str) -> list:
        return self._by.get(subject, {}).get(predicate, [])

    def value(self, subject: str, predicate: str) -> str | None:
        objs = self.objects(subject, predicate)
        return objs[0].value if objs else None

    def text(self, subject: str, predicate: str, lang: str = "zh") -> str | None:
        """Return the literal in lang (prefix match), else one without a language, else any."""
        objs = [o for o in self.objects(subject, predicate) if isinstance(o, ox.Literal)]
        for wanted in (lang, ""):
            for o in objs:
                if (o.language or "").lower().startswith(wanted) and (wanted or not o.language):
                    return o.value
        return objs[0].value if objs else None


# -- geometry ------------------------------------------------------------------------------------
def bbox_polygon(box: tuple[float, float, float, float]) -> str:
    """Write the box as pycsw's lon/lat WKT polygon (the ring order of pycsw.core.util.bbox2wktpolygon)."""
    w, s, e, n = (_num(v) for v in box)
    return f"POLYGON(({w} {s}, {w} {n}, {e} {n}, {e} {s}, {w} {s}))"


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def dataset_bbox(g: Graph, uri: str) -> tuple[float, float, float, float] | None:
    """Return the union of the extents of the dataset's dct:spatial locations (lon/lat)."""
    boxes = []
    for place in g.objects(uri, DCT + "spatial"):
        for predicate in (DCAT + "bbox", LOCN + "geometry"):
            box = next((b for b in (wkt_bbox(o.value) for o in g.objects(place.value, predicate)) if b), None)
            if box:
                boxes.append(box)
                break
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


# -- reading the dataset ---------------------------------------------------------------------------
def _local(uri: str) -> str:
    return re.split(r"[/#]", uri.rstrip("/"))[-1]


def _clean(text: str | None) -> str:
    """Make a value safe for pycsw's comma/caret-separated columns (links, keywords)."""
    return re.sub(r"[,^]", "，", " ".join((text or "").split()))


def _period(g: Graph, uri: str) -> tuple[str | None, str | None]:
    for period in g.objects(uri, DCT + "temporal"):
        begin = g.value(period.value, DCAT + "startDate") or g.value(period.value, SCHEMA + "startDate")
        end = g.value(period.value, DCAT + "endDate") or g.value(period.value, SCHEMA + "endDate")
        if begin or end:
            return begin, end
    return None, None


def _links(g: Graph, uri: str) -> list[dict]:
    """Return one online resource per distribution URL: downloads, OGC API Features, other access URLs."""
    links = []
    for dist in sorted(o.value for o in g.objects(uri, DCAT + "distribution")):
        name = g.text(dist, DCT + "title") or _local(dist)
        fmt = g.value(dist, DCT + "format")
        description = g.text(dist, DCT + "description") or (_local(fmt) if fmt else "")
        features = any(o.value == OGC_FEATURES for o in g.objects(dist, DCT + "conformsTo"))
        downloads = [o.value for o in g.objects(dist, DCAT + "downloadURL")]
        for url in downloads:
            links.append(dict(name=name, description=description, protocol=PROTOCOL_DOWNLOAD, url=url))
        for url in (o.value for o in g.objects(dist, DCAT + "accessURL")):
            if features:
                links.append(dict(name=name, description=description, protocol=PROTOCOL_FEATURES, url=url))
            elif not downloads:
                links.append(dict(name=name, description=description, protocol=PROTOCOL_LINK, url=url))
    return links


def _formats(g: Graph, uri: str) -> list[str]:
    out: list[str] = []
    for dist in g.objects(uri, DCAT + "distribution"):
        for fmt in g.objects(dist.value, DCT + "format"):
            name = _local(fmt.value).upper() if isinstance(fmt, ox.NamedNode) else fmt.value
            if name and name not in out:
                out.append(name)
    return out


def read_dataset(triples: Sequence[ox.Triple], uri: str) -> dict:
    """Collect the fields the row and the ISO document are made of."""
    g = Graph(triples)
    publisher = g.value(uri, DCT + "publisher")
    contact = g.value(uri, DCAT + "contactPoint")
    themes = [o.value for o in g.objects(uri, DCAT + "theme")]
    issued, modified = store_records.record_dates(triples, uri)
    begin, end = _period(g, uri)
    language = g.value(uri, DCT + "language")
    return {
        "uri": uri, "id": g.value(uri, DCT + "identifier") or _local(uri),
        "title": g.text(uri, DCT + "title") or "", "title_en": g.text(uri, DCT + "title", "en"),
        "abstract": g.text(uri, DCT + "description") or "",
        "abstract_en": g.text(uri, DCT + "description", "en"),
        "keywords": [o.value for o in g.objects(uri, DCAT + "keyword")],
        "themes": [(t, g.text(t, SKOS + "prefLabel") or _local(t)) for t in themes],
        "topic": next((TOPIC_CATEGORIES[_local(t)] for t in themes
                       if t.startswith(EU_THEME) and _local(t) in TOPIC_CATEGORIES), None),
        "publisher": (g.text(publisher, FOAF + "name") or g.text(publisher, SKOS + "prefLabel") or _local(publisher))
        if publisher else None,
        "contact": {"name": g.text(contact, VCARD + "fn"),
                    "email": (g.value(contact, VCARD + "hasEmail") or "").removeprefix("mailto:") or None,
                    "phone": (g.value(contact, VCARD + "hasTelephone") or "").removeprefix("tel:") or None}
        if contact else {},
        "issued": g.value(uri, DCT + "issued"), "modified": g.value(uri, DCT + "modified"),
        "record_issued": issued.value if issued is not None else None,
        "record_modified": modified.value if modified is not None else None,
        "language": "zho" if language is None or _local(language).upper() in ("ZHO", "CHI", "ZH") else
        _local(language).lower(),
        "access": g.value(uri, DCT + "accessRights"),
        "licenses": sorted({o.value for d in g.objects(uri, DCAT + "distribution")
                            for o in g.objects(d.value, DCT + "license")}),
        "crs": [o.value for o in g.objects(uri, DCT + "conformsTo") if "/def/crs/" in o.value],
        "bbox": dataset_bbox(g, uri), "begin": begin, "end": end,
        "links": _links(g, uri), "formats": _formats(g, uri),
    }


def crs_urn(uri: str) -> str:
    """Write http://www.opengis.net/def/crs/EPSG/0/4490 as urn:ogc:def:crs:EPSG::4490."""
    match = re.search(r"/crs/([A-Za-z]+)/[^/]*/([^/]+)$", uri)
    return f"urn:ogc:def:crs:{match.group(1)}::{match.group(2)}" if match else uri


# -- the row -----------------------------------------------------------------------------------------
def dataset_row(triples: Sequence[ox.Triple], uri: str) -> dict:
    """Return the pycsw repository row (column → value) of one stored dataset graph."""
    d = read_dataset(public_view(uri, triples), uri)  # no links to data the open type keeps back (docs/access.md)
    root = iso_document(d)
    xml = etree.tostring(root, encoding="unicode")
    anytext = " ".join(v.strip() for v in root.xpath("//text()") if v.strip())
    links = "^".join(",".join(_clean(link[k]) if k != "url" else link[k].replace(",", "%2C")
                              for k in ("name", "description", "protocol", "url")) for link in d["links"])
    row = dict.fromkeys(COLUMNS)
    row.update(
        identifier=uri, typename="gmd:MD_Metadata", schema=NS["gmd"], mdsource="local",
        insert_date=d["record_modified"] or d["record_issued"] or d["modified"], xml=xml, anytext=anytext,
        language=d["language"], resourcelanguage=d["language"], type="dataset", title=d["title"],
        title_alternate=d["title_en"], abstract=d["abstract"],
        keywords=",".join(_clean(k) for k in d["keywords"]) or None,
        keywordstype="theme" if d["keywords"] else None, topicategory=d["topic"],
        publisher=d["publisher"], organization=d["contact"].get("name") or d["publisher"],
        responsiblepartyrole="pointOfContact", accessconstraints=d["access"],
        otherconstraints=";".join(d["licenses"]) or None,
        date=d["modified"], date_revision=d["modified"], date_publication=d["issued"],
        date_modified=d["modified"] or d["record_modified"], format=",".join(d["formats"]) or None, source=uri,
        crs=crs_urn(d["crs"][0]) if d["crs"] else None,
        wkt_geometry=bbox_polygon(d["bbox"]) if d["bbox"] else None,
        time_begin=d["begin"], time_end=d["end"], links=links or None,
    )
    return row
