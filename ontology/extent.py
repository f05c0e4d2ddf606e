"""Describe a bounding box as dct:spatial locations that GeoDCAT-AP readers, ckanext-dcat and piveau all read.

One extent is written as two ``dct:Location`` nodes, because DCAT-AP 3 allows at most one ``locn:geometry``
per location:

* ``<dataset#extent>``: the GeoDCAT-AP form, WKT literals (``gsp:wktLiteral``) that start with the CRS IRI, in the
  axis order of that CRS (EPSG:4490 and EPSG:4326: latitude first);
* ``<dataset#extent-geojson>``: the same box as a GeoJSON geometry (RFC 7946: longitude, latitude) typed
  ``https://www.iana.org/assignments/media-types/application/vnd.geo+json``, the one datatype that both
  ckanext-dcat (``profiles/base.py`` ``_parse_geodata``) and piveau (``GeoParsing.kt`` ``parseGeoLiteral``) read.
  Neither reads a WKT literal that starts with a CRS IRI. Its ``dcat:bbox`` and ``dcat:centroid`` stay WKT.

The coordinates are the source's own numbers (CGCS2000 and WGS84 agree to well under a metre in Wuhan); only
their order changes between the two forms. See docs/interop.md.
"""

from __future__ import annotations

import json

import pyoxigraph as ox

from ontology.namespaces import DCAT, DCT, GSP, LOCN, RDF

GEOJSON_DATATYPE = ox.NamedNode("https://www.iana.org/assignments/media-types/application/vnd.geo+json")
WKT_DATATYPE = ox.NamedNode(GSP.wktLiteral.value)
CRS_IRIS = {"EPSG:4490": "http://www.opengis.net/def/crs/EPSG/0/4490",
            "EPSG:4326": "http://www.opengis.net/def/crs/EPSG/0/4326",
            "CRS84": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
LAT_FIRST = {"EPSG:4490", "EPSG:4326"}
GEOJSON_SUFFIX = "-geojson"

BBox = tuple[float, float, float, float]  # west, south, east, north (lon/lat)


def _fmt(value: float, decimals: int | None) -> str:
    return repr(value) if decimals is None else f"{value:.{decimals}f}"


def wkt_polygon(bbox: BBox, crs: str = "EPSG:4490", decimals: int | None = 6) -> str:
    """Return the box as a GeoSPARQL WKT polygon that starts with its CRS IRI, in the CRS's axis order."""
    w, s, e, n = bbox
    corners = ((w, s), (w, n), (e, n), (e, s), (w, s))
    lat_first = crs in LAT_FIRST
    ring = ", ".join(f"{_fmt(y, decimals)} {_fmt(x, decimals)}" if lat_first else f"{_fmt(x, decimals)} {_fmt(y, decimals)}"
                     for x, y in corners)
    return f"<{CRS_IRIS[crs]}> POLYGON(({ring}))"


def wkt_point(lon: float, lat: float, crs: str = "EPSG:4490", decimals: int | None = 6) -> str:
    """Return a point as a GeoSPARQL WKT literal text that starts with its CRS IRI."""
    x, y = (lat, lon) if crs in LAT_FIRST else (lon, lat)
    return f"<{CRS_IRIS[crs]}> POINT({_fmt(x, decimals)} {_fmt(y, decimals)})"


def geojson_polygon(bbox: BBox, decimals: int | None = 6) -> str:
    """Return the box as a GeoJSON Polygon (longitude, latitude; counter-clockwise outer ring)."""
    w, s, e, n = bbox
    r = (lambda v: v) if decimals is None else (lambda v: round(v, decimals))
    ring = [[r(w), r(s)], [r(e), r(s)], [r(e), r(n)], [r(w), r(n)], [r(w), r(s)]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def extent_triples(dataset: ox.NamedNode, bbox: BBox, crs: str = "EPSG:4490", decimals: int | None = 6,
                   centroid: bool = True) -> list[ox.Triple]:
    """Return dct:spatial with the GeoDCAT-AP WKT location and its GeoJSON twin (see the module docstring)."""
    w, s, e, n = bbox
    wkt = ox.Literal(wkt_polygon(bbox, crs, decimals), datatype=WKT_DATATYPE)
    geojson = ox.Literal(geojson_polygon(bbox, decimals), datatype=GEOJSON_DATATYPE)
    point = ox.Literal(wkt_point((w + e) / 2, (s + n) / 2, crs, decimals), datatype=WKT_DATATYPE)
    out: list[ox.Triple] = []
    for node, geometry in ((ox.NamedNode(f"{dataset.value}#extent"), wkt),
                           (ox.NamedNode(f"{dataset.value}#extent{GEOJSON_SUFFIX}"), geojson)):
        out += [ox.Triple(dataset, DCT.spatial, node), ox.Triple(node, RDF.type, DCT.Location),
                ox.Triple(node, DCAT.bbox, wkt), ox.Triple(node, LOCN.geometry, geometry)]
        if centroid:
            out.append(ox.Triple(node, DCAT.centroid, point))
    return out
