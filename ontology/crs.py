"""Name the coordinate systems data arrive in, and give each its IRI (a leaf: mappings, shapes and ogc use it).

A dataset's *source* coordinate system (``wodp:sourceCRS``) says what its data file's coordinates are in;
the CRS of what the platform publishes is always CGCS2000 (``dct:conformsTo`` EPSG:4490). GCJ-02 and BD-09
have no EPSG code: their IRIs are ours, ``https://data.wuhan.gov.cn/def/crs/gcj02`` and ``…/bd09``
(ontology/wodp.ttl, docs/spatialization.md). WGS84 and CGCS2000 use their OGC EPSG IRIs.
"""

from __future__ import annotations

import re

from ontology.namespaces import CRS

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000_IRI = EPSG + "4490"
WGS84_IRI = EPSG + "4326"
GCJ02_IRI = CRS.gcj02.value
BD09_IRI = CRS.bd09.value

# system name → its IRI; the names are those of ogc.coords.Crs
IRIS = {"WGS84": WGS84_IRI, "CGCS2000": CGCS2000_IRI, "GCJ02": GCJ02_IRI, "BD09": BD09_IRI}

# declared names (settings, mappings, GeoJSON crs members, metadata) → system; compared after squash()
ALIASES = {
    "WGS84": ("wgs84", "wgs", "epsg4326", "4326", "crs84", "ogcdefcrsogc13crs84", "ogcdefcrsepsg4326", "gps",
              "wwwopengisnetdefcrsogc13crs84", "wwwopengisnetdefcrsepsg04326"),
    "CGCS2000": ("cgcs2000", "cgcs", "epsg4490", "4490", "ogcdefcrsepsg4490", "2000国家大地坐标系",
                 "国家2000", "天地图", "tianditu", "wwwopengisnetdefcrsepsg04490"),
    "GCJ02": ("gcj02", "gcj", "火星坐标", "国测局", "国测局坐标", "amap", "gaode", "高德", "tencent", "qq", "腾讯",
              "datawuhangovcndefcrsgcj02"),
    "BD09": ("bd09", "bd09ll", "bd", "baidu", "百度", "百度坐标", "datawuhangovcndefcrsbd09"),
}


# words of projected systems: a name holding one is never read as the geographic system it also names
PROJECTED_MARKERS = ("gauss", "kruger", "krüger", "高斯", "克吕格", "度带", "投影", "utm", "mercator", "墨卡托")


def squash(text: str) -> str:
    """Return a name reduced for matching: lower case, no spaces or punctuation."""
    return re.sub(r"[\s_\-:./()（）]+", "", str(text).strip().lower())


def system_name(name: str | None) -> str | None:
    """Return the system a declared name or IRI denotes ("GCJ-02", "EPSG:4490", our IRIs …), or None."""
    if not name:
        return None
    key = squash(name)
    if any(marker in key for marker in PROJECTED_MARKERS):  # "CGCS2000 / 3-degree Gauss-Kruger": metres
        return None
    for prefix in ("https", "http", "urn"):
        key = key.removeprefix(prefix)
    for system, aliases in ALIASES.items():
        if key in aliases:
            return system
    for system, aliases in ALIASES.items():
        if any(key.endswith(alias) for alias in aliases if len(alias) >= 4):
            return system
    # a name with a gloss ("GCJ-02（高德）", "百度坐标 BD09"): the one system whose distinctive names it holds
    named = {system for system, aliases in ALIASES.items()
             if any(alias in key for alias in aliases if len(alias) >= 4 or (len(alias) >= 2 and not alias.isascii()))}
    return named.pop() if len(named) == 1 else None


def crs_iri(name: str | None) -> str | None:
    """Return the IRI of a declared system: ours for GCJ-02/BD-09, EPSG's otherwise; None when unknown."""
    system = system_name(name)
    if system:
        return IRIS[system]
    match = re.fullmatch(r"\s*(?:epsg\s*:\s*|" + re.escape(EPSG) + r")(\d{4,5})\s*", str(name or ""), re.I)
    # a projected system named with its code in a gloss: "CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547)"
    match = match or re.search(r"epsg\s*[:：]\s*(\d{4,5})\b", str(name or ""), re.I)
    return EPSG + match.group(1) if match else None
