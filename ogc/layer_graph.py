"""Write a layer into its dataset's graph: the OGC API Features and GeoJSON distributions, the data service, the extent.

``layer_triples`` is pure (a dataset graph in, the graph with the layer's triples out); ``ogc.layers`` calls it
when a data file is spatialized, and with the figures kept for an unchanged file, so both give the same graph.
"""

from __future__ import annotations

from typing import Sequence

import pyoxigraph as ox

from ontology.extent import GEOJSON_SUFFIX, extent_triples
from ontology.namespaces import CRS_4490 as PUBLISHED_CRS, DCAT, DCT, RDF

OGC_FEATURES = ox.NamedNode("http://www.opengis.net/doc/IS/ogcapi-features-1/1.0")
GEOJSON_TYPE = ox.NamedNode("http://publications.europa.eu/resource/authority/file-type/GEOJSON")
GEOJSON_MEDIA = ox.NamedNode("https://www.iana.org/assignments/media-types/application/geo+json")


def _lit(text: str, lang: str) -> ox.Literal:
    return ox.Literal(text, language=lang)


def layer_triples(base: str, uri: str, dataset_id: str, triples: Sequence[ox.Triple], placed: int,
                  extent) -> list[ox.Triple]:
    """Add the layer's distributions (``placed`` features), its data service and its extent to a dataset graph."""
    d = ox.NamedNode(uri)
    extent_node = ox.NamedNode(f"{uri}#extent")
    ours = {ox.NamedNode(f"{uri}#{n}") for n in ("ogc-features", "geojson-layer", "ogc-service",
                                                  "extent" + GEOJSON_SUFFIX)} | {extent_node}
    kept = [t for t in triples if t.subject not in ours and t.object not in ours]
    licence = next((o for t in triples if t.predicate == DCT.license for o in [t.object]), None)
    collection = ox.NamedNode(f"{base}/ogc/collections/{dataset_id}")
    service = ox.NamedNode(f"{uri}#ogc-service")
    features = ox.NamedNode(f"{uri}#ogc-features")
    download = ox.NamedNode(f"{uri}#geojson-layer")
    added = [
        ox.Triple(d, DCAT.distribution, features), ox.Triple(features, RDF.type, DCAT.Distribution),
        ox.Triple(features, DCT.title, _lit("OGC API Features 图层（CGCS2000）", "zh-CN")),
        ox.Triple(features, DCT.title, _lit("OGC API Features layer (CGCS2000)", "en")),
        ox.Triple(features, DCT.description, _lit(f"{placed} 个要素，可按范围、时间和属性查询", "zh-CN")),
        ox.Triple(features, DCT.description, _lit(f"{placed} features, queryable by bbox, time "
                                                  "and properties", "en")),
        ox.Triple(features, DCAT.accessURL, collection), ox.Triple(features, DCAT.accessService, service),
        ox.Triple(features, DCAT.mediaType, GEOJSON_MEDIA), ox.Triple(features, DCT.format, GEOJSON_TYPE),
        ox.Triple(features, DCT.conformsTo, OGC_FEATURES), ox.Triple(features, DCT.conformsTo, PUBLISHED_CRS),
        ox.Triple(download, DCT.conformsTo, PUBLISHED_CRS), ox.Triple(d, DCT.conformsTo, PUBLISHED_CRS),
        ox.Triple(PUBLISHED_CRS, RDF.type, DCT.Standard),
        ox.Triple(d, DCAT.distribution, download), ox.Triple(download, RDF.type, DCAT.Distribution),
        ox.Triple(download, DCT.title, _lit("GeoJSON 图层下载", "zh-CN")),
        ox.Triple(download, DCT.title, _lit("GeoJSON layer download", "en")),
        ox.Triple(download, DCT.description, _lit("全部要素，CGCS2000 经纬度（CRS84 轴序）", "zh-CN")),
        ox.Triple(download, DCT.description, _lit("All features, CGCS2000 longitude/latitude (CRS84 axis order)",
                                                  "en")),
        ox.Triple(download, DCAT.accessURL, ox.NamedNode(f"{base}/layers/{dataset_id}.geojson")),
        ox.Triple(download, DCAT.downloadURL, ox.NamedNode(f"{base}/layers/{dataset_id}.geojson")),
        ox.Triple(download, DCAT.mediaType, GEOJSON_MEDIA), ox.Triple(download, DCT.format, GEOJSON_TYPE),
        ox.Triple(service, RDF.type, DCAT.DataService),
        ox.Triple(service, DCT.title, _lit("武汉市开放数据 OGC API Features 服务", "zh-CN")),
        ox.Triple(service, DCT.title, _lit("Wuhan open data OGC API Features service", "en")),
        ox.Triple(service, DCAT.endpointURL, ox.NamedNode(f"{base}/ogc")),
        ox.Triple(service, DCAT.endpointDescription, ox.NamedNode(f"{base}/ogc/openapi")),
        ox.Triple(service, DCAT.servesDataset, d), ox.Triple(service, DCT.conformsTo, OGC_FEATURES),
        ox.Triple(OGC_FEATURES, RDF.type, DCT.Standard),
        ox.Triple(GEOJSON_TYPE, RDF.type, DCT.MediaTypeOrExtent), ox.Triple(GEOJSON_MEDIA, RDF.type, DCT.MediaType),
        *_extent(d, extent_node, extent),
    ]
    if licence is not None:
        added += [ox.Triple(features, DCT.license, licence), ox.Triple(download, DCT.license, licence),
                  ox.Triple(service, DCT.license, licence)]
    return kept + [t for t in added if t not in set(kept)]


def _extent(d: ox.NamedNode, node: ox.NamedNode, extent) -> list[ox.Triple]:
    """The layer's extent: CGCS2000 WKT (lat lon) and its GeoJSON twin (ontology.extent), node is d#extent."""
    w, s, e, n = extent
    if e - w < 1e-6 or n - s < 1e-6:  # a single point: a box of about 10 m around it
        w, e, s, n = w - 5e-5, e + 5e-5, s - 5e-5, n + 5e-5
    return extent_triples(d, (w, s, e, n), "EPSG:4490", 6)
