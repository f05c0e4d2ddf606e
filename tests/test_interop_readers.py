"""Our /catalog as ckanext-dcat and piveau read it: their parsing rules, transcribed from their public code.

The rules below are transcriptions (not imports: neither tool is installed here) of
* ckanext-dcat, ckanext/dcat/profiles/base.py: ``RDFProfile._object_value`` (a literal tagged exactly
  ``ckan.locale_default``, else the first literal parsed), ``_parse_geodata`` and ``_spatial`` (only a literal typed
  ``https://www.iana.org/assignments/media-types/application/vnd.geo+json``, or untyped, is read as GeoJSON; a
  ``gsp:wktLiteral`` goes through geomet's WKT reader), as called from euro_dcat_ap_base.py
  ``_parse_dataset_base`` for ``title``, ``notes`` and ``publisher_name``; the harvester parses with rdflib;
* piveau, piveau-utils src/main/kotlin/io/piveau/rdf/LanguageTag.kt ``parseLangTag`` (the language is the tag's first
  subtag), piveau-indexing Indexing.kt ``indexingDataset``/``indexingMultiLang`` (title and description keyed by that
  language) and GeoParsing.kt ``parseGeoLiteral`` with Visitors.kt ``GeoSpatialVisitor`` (``locn:geometry`` of each
  ``dct:spatial``; only the vnd.geo+json datatype, Virtuoso's geometry and GML are read, anything else is ``{}``).
"""

from __future__ import annotations

import json

import pytest
import rdflib
from rdflib import RDF, RDFS, BNode, Literal, URIRef

from ogc.wkt import wkt_bbox

DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
FOAF = rdflib.Namespace("http://xmlns.com/foaf/0.1/")
LOCN = rdflib.Namespace("http://www.w3.org/ns/locn#")
GSP = rdflib.Namespace("http://www.opengis.net/ont/geosparql#")
GEOJSON_IMT = "https://www.iana.org/assignments/media-types/application/vnd.geo+json"
VIRTRDF_GEOMETRY = "http://www.openlinksw.com/schemas/virtrdf#Geometry"


# --- ckanext-dcat, profiles/base.py ---------------------------------------------------------------------------

def ckan_object_value(g: rdflib.Graph, subject, predicate, default_lang: str) -> str:
    """RDFProfile._object_value (non-multilingual): exact tag match, else the first literal."""
    fallback = ""
    for o in g.objects(subject, predicate):
        if isinstance(o, Literal):
            if o.language and o.language == default_lang:
                return str(o)
            elif fallback == "":
                fallback = str(o)
        elif len(list(g.objects(o, RDFS.label))):
            return str(next(g.objects(o, RDFS.label)))
        else:
            return str(o)
    return fallback


def _wkt_loads(text: str):
    """Stand-in for geomet.wkt.loads: it raises ValueError on text that does not start with a WKT type name."""
    from shapely import wkt
    from shapely.geometry import mapping

    try:
        return mapping(wkt.loads(text))
    except Exception as exc:  # shapely's GEOSException; geomet raises ValueError here
        raise ValueError(str(exc)) from exc


def ckan_parse_geodata(g: rdflib.Graph, spatial, predicate, cur_value):
    """RDFProfile._parse_geodata."""
    for geometry in g.objects(spatial, predicate):
        if geometry.datatype == URIRef(GEOJSON_IMT) or not geometry.datatype:
            try:
                json.loads(str(geometry))
                cur_value = str(geometry)
            except (ValueError, TypeError):
                pass
        if not cur_value and geometry.datatype == GSP.wktLiteral:
            try:
                cur_value = json.dumps(_wkt_loads(str(geometry)))
            except (ValueError, TypeError):
                pass
    return cur_value


def ckan_spatial(g: rdflib.Graph, subject) -> dict:
    """RDFProfile._spatial."""
    uri = text = geom = bbox = cent = None
    for spatial in g.objects(subject, DCT.spatial):
        if isinstance(spatial, URIRef):
            uri = str(spatial)
        if isinstance(spatial, Literal):
            text = str(spatial)
        if (spatial, RDF.type, DCT.Location) in g:
            geom = ckan_parse_geodata(g, spatial, LOCN.geometry, geom)
            bbox = ckan_parse_geodata(g, spatial, DCAT.bbox, bbox)
            cent = ckan_parse_geodata(g, spatial, DCAT.centroid, cent)
    return {"uri": uri, "text": text, "geom": geom, "bbox": bbox, "centroid": cent}


# --- piveau ---------------------------------------------------------------------------------------------------

def piveau_lang(tag: str, default: str) -> str:
    """LanguageTag.kt parseLangTag: the language part of the tag (the machine-translation form aside)."""
    elements = tag.split("-")
    if len(elements) in (1, 2):
        return default if not elements[0].strip() else elements[0]
    if len(elements) in (3, 4, 5):
        return elements[0]
    return default


def piveau_multilang(g: rdflib.Graph, subject, predicate, default: str = "en") -> dict[str, str]:
    """Indexing.kt indexingMultiLang over every value: one entry per language, the last one of a language wins."""
    out: dict[str, str] = {}
    for o in g.objects(subject, predicate):
        if isinstance(o, Literal):
            out[piveau_lang(o.language or "", default)] = str(o)
    return out


def piveau_geo_literal(value: Literal) -> dict:
    """GeoParsing.kt parseGeoLiteral (the GML envelope branch is not used by us and left out)."""
    datatype = str(value.datatype) if value.datatype else ""
    if datatype == GEOJSON_IMT:
        return json.loads(str(value))
    if datatype == VIRTRDF_GEOMETRY:
        try:
            return _wkt_loads(str(value))
        except ValueError:
            return {}
    return {}


def piveau_spatial(g: rdflib.Graph, subject) -> dict:
    """Indexing.kt ``DCTerms.spatial -> putIfNotEmpty("spatial", GeoSpatialVisitor)``."""
    spatial: dict = {}
    for obj in g.objects(subject, DCT.spatial):
        found: dict = {}
        if isinstance(obj, URIRef) or (isinstance(obj, BNode) and (obj, RDF.type, DCT.Location) in g):
            for geometry in g.objects(obj, LOCN.geometry):
                if isinstance(geometry, Literal):
                    found.update(piveau_geo_literal(geometry))
        elif isinstance(obj, Literal):
            found = piveau_geo_literal(obj)
        if found:
            spatial = found
    return spatial


# --- the catalogue as served ----------------------------------------------------------------------------------

def _catalog(client, suffix: str, fmt: str) -> rdflib.Graph:
    g = rdflib.Graph()
    page, size = 1, 1000
    while True:
        response = client.get(f"/catalog.{suffix}?page_size={size}&page={page}")
        assert response.status_code == 200
        g.parse(data=response.data, format=fmt)  # as ckanext-dcat's RDFParser does, page by page into one graph
        total = int(next(g.objects(None, rdflib.URIRef("http://www.w3.org/ns/hydra/core#totalItems"))))
        if page * size >= total:
            return g
        page += 1


def _truth(store, uri: str) -> tuple[str, str, tuple | None]:
    """The Chinese and English titles and the WKT extent (lon/lat box) of a dataset, from the store."""
    zh = en = None
    box = None
    for t in store.dataset_triples(uri):
        if t.subject.value == uri and t.predicate.value == str(DCT.title):
            lang = (t.object.language or "").lower()
            zh = t.object.value if lang.startswith("zh") else zh
            en = t.object.value if lang == "en" else en
        if t.predicate.value == str(DCAT.bbox) and t.subject.value == uri + "#extent":
            box = wkt_bbox(t.object.value)
    return zh, en, box


@pytest.fixture(scope="module", params=[("ttl", "turtle"), ("rdf", "xml")], ids=["turtle", "rdfxml"])
def served(request, demo_app):
    suffix, fmt = request.param
    return _catalog(demo_app.test_client(), suffix, fmt)


def test_ckanext_dcat_reads_chinese_titles_and_every_geometry(served, demo_platform):
    g = served
    datasets = list(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == demo_platform.store.count_datasets()
    wrong_title, wrong_en, spatial, read, wrong_geom = [], [], 0, 0, []
    for d in datasets:
        zh, en, box = _truth(demo_platform.store, str(d))
        for locale in ("zh_CN", "zh_Hans_CN"):  # CKAN <= 2.9 and CKAN >= 2.10 names of the Chinese locale
            if ckan_object_value(g, d, DCT.title, locale) != zh:
                wrong_title.append((str(d), locale))
        if en and ckan_object_value(g, d, DCT.title, "en") != en:
            wrong_en.append(str(d))
        if box is None:
            continue
        spatial += 1
        geom = ckan_spatial(g, d)["geom"]
        if geom is None:
            continue
        read += 1
        shape = json.loads(geom)
        xs = [p[0] for p in shape["coordinates"][0]]
        ys = [p[1] for p in shape["coordinates"][0]]
        if max(abs(a - b) for a, b in zip((min(xs), min(ys), max(xs), max(ys)), box)) > 1e-6:
            wrong_geom.append(str(d))
    assert wrong_title == [] and wrong_en == []
    assert spatial >= 200 and read == spatial and wrong_geom == []


def test_ckanext_dcat_reads_department_names_in_both_languages(served):
    from ontology.labels import department_names

    known = {str(node.value): {(n.language or "").lower(): n.value for n in names}
             for node, names in department_names().items()}
    g = served
    publishers = {next(g.objects(d, DCT.publisher)) for d in g.subjects(RDF.type, DCAT.Dataset)}
    ours = [p for p in publishers if str(p) in known]
    assert len(ours) > 10
    wrong = [(str(p), ckan_object_value(g, p, FOAF.name, "en"), ckan_object_value(g, p, FOAF.name, "zh_CN"))
             for p in ours if ckan_object_value(g, p, FOAF.name, "en") != known[str(p)]["en"]
             or ckan_object_value(g, p, FOAF.name, "zh_CN") != known[str(p)]["zh-cn"]]
    assert wrong == []


def test_piveau_reads_chinese_titles_and_every_geometry(served, demo_platform):
    g = served
    missing, spatial, wrong_geom = [], 0, []
    for d in g.subjects(RDF.type, DCAT.Dataset):
        zh, en, box = _truth(demo_platform.store, str(d))
        titles = piveau_multilang(g, d, DCT.title)
        if titles.get("zh") != zh or (en and titles.get("en") != en):
            missing.append(str(d))
        if not piveau_multilang(g, d, DCT.description).get("zh"):
            missing.append(str(d) + " description")
        if box is None:
            continue
        spatial += 1
        shape = piveau_spatial(g, d)
        ring = shape.get("coordinates", [[]])[0]
        if shape.get("type") != "Polygon" or (min(p[0] for p in ring), min(p[1] for p in ring)) != \
                pytest.approx(box[:2], abs=1e-6):
            wrong_geom.append(str(d))
    assert missing == []
    assert spatial >= 200 and wrong_geom == []


def test_without_the_geojson_twin_neither_reader_gets_a_geometry(served):
    """The WKT literal alone (CRS IRI first, lat/lon) is lost by both: the reason the GeoJSON twin exists."""
    g = served
    d = next(d for d in g.subjects(RDF.type, DCAT.Dataset) if (d, DCT.spatial, None) in g)
    wkt_only = rdflib.Graph()
    for t in g.triples((None, None, None)):
        if not str(t[0]).endswith("#extent-geojson") and not str(t[2]).endswith("#extent-geojson"):
            wkt_only.add(t)
    assert ckan_spatial(wkt_only, d)["geom"] is None
    assert piveau_spatial(wkt_only, d) == {}
    assert ckan_spatial(g, d)["geom"] is not None and piveau_spatial(g, d)
