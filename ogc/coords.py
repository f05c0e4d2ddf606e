"""Convert coordinates between WGS84/CGCS2000, GCJ-02 and BD-09; detect axis order and declared systems.

CGCS2000 (EPSG:4490) is taken equal to WGS84 at the sub-metre level (see docs/spatialization.md): a point
in WGS84 is the same point in CGCS2000. GCJ-02 is the published forward algorithm (Krasovsky ellipsoid);
its inverse has no closed form and is computed by fixed-point iteration to well under a millimetre.
BD-09 is Baidu's published transform on top of GCJ-02, inverted the same way.
All functions take and return (lon, lat) in degrees, GeoJSON order.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Iterable

from ontology.crs import IRIS, system_name

WUHAN_EXTENT = (113.68, 29.97, 115.08, 31.36)   # lon min, lat min, lon max, lat max (CGCS2000)
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # where GCJ-02 applies (the published rough box)

_A = 6378245.0                                   # Krasovsky 1940 semi-major axis, as in the GCJ-02 algorithm
_EE = 0.00669342162296594323                     # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0                 # BD-09 constant
_EARTH_RADIUS_M = 6371008.8                      # mean Earth radius (IUGG) for haversine
_TOLERANCE_DEG = 1e-10                           # about 0.01 mm: stop the inverse iterations here
_MAX_ITERATIONS = 40


class Crs(StrEnum):
    """Name a horizontal coordinate system that data in China arrive in."""

    WGS84 = "WGS84"
    CGCS2000 = "CGCS2000"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


# substrings of column names that declare a system ("gcj_lng", "百度经度", "wgs84_lat")
_CRS_NAME_HINTS = (
    (Crs.BD09, ("bd09", "baidu", "百度", "bdlng", "bdlat", "bdlon", "bd_")),
    (Crs.GCJ02, ("gcj", "gaode", "amap", "高德", "火星", "腾讯", "tencent")),
    (Crs.CGCS2000, ("cgcs", "4490", "2000坐标", "国家2000")),
    (Crs.WGS84, ("wgs", "4326", "gps")),
)


def parse_crs(name: str | None) -> Crs | None:
    """Return the system a declared name or IRI denotes (EPSG code, URN, our /def/crs/ IRIs, common name), or None."""
    system = system_name(name)
    return Crs(system) if system else None


def convertible(name: str | None) -> bool:
    """Tell whether a declared source system is one we convert (a geographic one above, or a projected EPSG code)."""
    from ogc.projected import projected_crs

    return parse_crs(name) is not None or projected_crs(name) is not None


def crs_iri(crs: Crs) -> str:
    """Return a system's IRI (EPSG's for WGS84 and CGCS2000, ours for GCJ-02 and BD-09)."""
    return IRIS[crs.value]


def crs_from_column_names(names: Iterable[str]) -> Crs | None:
    """Return the system that column names declare ("gcj02_lng", "百度纬度"), or None."""
    for name in names:
        low = str(name).lower()
        for crs, hints in _CRS_NAME_HINTS:
            if any(hint in low for hint in hints):
                return crs
    return None


def out_of_china(lon: float, lat: float) -> bool:
    """Tell whether a point is outside the box where GCJ-02 applies."""
    return not (CHINA_BOX[0] <= lon <= CHINA_BOX[2] and CHINA_BOX[1] <= lat <= CHINA_BOX[3])


def _gcj_offset(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
             + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
             + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Apply the GCJ-02 transform (unchanged outside China's box)."""
    if out_of_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def _invert(forward, lon: float, lat: float) -> tuple[float, float]:
    """Solve forward(x) = (lon, lat) by fixed-point iteration (the offsets vary slowly)."""
    x, y = lon, lat
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        x, y = x - dx, y - dy
        if abs(dx) < _TOLERANCE_DEG and abs(dy) < _TOLERANCE_DEG:
            break
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Invert GCJ-02 by iteration to under a millimetre."""
    if out_of_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Apply Baidu's BD-09 transform to a GCJ-02 point."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Invert BD-09 to GCJ-02: the published approximation, refined by iteration."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    gx, gy = z * math.cos(theta), z * math.sin(theta)
    for _ in range(_MAX_ITERATIONS):
        bx, by = gcj02_to_bd09(gx, gy)
        dx, dy = bx - lon, by - lat
        gx, gy = gx - dx, gy - dy
        if abs(dx) < _TOLERANCE_DEG and abs(dy) < _TOLERANCE_DEG:
            break
    return gx, gy


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert BD-09 to WGS84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _convertible(lon: float, lat: float) -> bool:
    """Tell whether numbers can be a position (finite, degrees within ±10,000: BD-09 squares them)."""
    return math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 1e4 and abs(lat) <= 1e4


def to_cgcs2000(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Convert a point in `crs` to CGCS2000 (= WGS84 at the sub-metre level); a non-position is kept as is."""
    if not _convertible(lon, lat):
        return lon, lat  # not a position on Earth: the caller's extent check reports it
    if crs is Crs.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs is Crs.BD09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat


def from_cgcs2000(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Convert a CGCS2000 point to `crs`; numbers that cannot be a position are kept as is."""
    if not _convertible(lon, lat):
        return lon, lat
    if crs is Crs.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs is Crs.BD09:
        return wgs84_to_bd09(lon, lat)
    return lon, lat


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two points (NaN when one is not a position)."""
    if not (_convertible(lon1, lat1) and _convertible(lon2, lat2)):
        return math.nan
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def in_extent(lon: float, lat: float, extent: tuple[float, float, float, float] = WUHAN_EXTENT) -> bool:
    """Tell whether a point lies in an extent (lon min, lat min, lon max, lat max)."""
    return extent[0] <= lon <= extent[2] and extent[1] <= lat <= extent[3]


def is_lonlat(a: float, b: float, extent: tuple[float, float, float, float] = WUHAN_EXTENT) -> bool:
    """Tell whether (a, b) reads as (lon, lat): in the extent, else in China's box."""
    return in_extent(a, b, extent) or (not in_extent(b, a, extent) and not out_of_china(a, b))


def detect_order(pairs: Iterable[tuple[float, float]],
                 extent: tuple[float, float, float, float] = WUHAN_EXTENT) -> str | None:
    """Return "lonlat" or "latlon" for the order most pairs fit (Wuhan first, then China), or None."""
    votes = {"lonlat": 0, "latlon": 0}
    for a, b in pairs:
        if in_extent(a, b, extent):
            votes["lonlat"] += 2
        elif in_extent(b, a, extent):
            votes["latlon"] += 2
        elif not out_of_china(a, b):
            votes["lonlat"] += 1
        elif not out_of_china(b, a):
            votes["latlon"] += 1
    if votes["lonlat"] == votes["latlon"]:
        return None
    return max(votes, key=votes.__getitem__)
