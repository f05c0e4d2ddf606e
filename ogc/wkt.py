"""Read the extent of a GeoSPARQL WKT literal, honouring the axis order of its CRS.

``<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((lat lon, …))``: EPSG:4490 and EPSG:4326 put latitude
first; CRS84, and a literal without a CRS (GeoSPARQL's default is CRS84), put longitude first.
"""

from __future__ import annotations

import re

# EPSG codes of geographic CRSs whose axis order is latitude, longitude
LAT_FIRST = {"4326", "4490", "4258", "4610"}
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

BBox = tuple[float, float, float, float]


def wkt_bbox(literal: str) -> BBox | None:
    """Return (minlon, minlat, maxlon, maxlat) of a GeoSPARQL WKT literal (None when unreadable)."""
    text = literal.strip()
    lat_first = False
    if text.startswith("<"):
        crs, _, text = text[1:].partition(">")
        code = crs.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].split(".")[0]
        lat_first = "EPSG" in crs.upper() and code in LAT_FIRST
    numbers = [float(n) for n in NUMBER.findall(text.split("(", 1)[-1])] if "(" in text else []
    if len(numbers) < 2 or len(numbers) % 2:
        return None
    first, second = numbers[0::2], numbers[1::2]
    lons, lats = (second, first) if lat_first else (first, second)
    box = (min(lons), min(lats), max(lons), max(lats))
    if not (-180 <= box[0] <= box[2] <= 180 and -90 <= box[1] <= box[3] <= 90):
        return None
    return box
