"""Find the coordinate, pair and address columns of tabular rows: by their names, else by their values.

A file without a header row (ogc.datafiles names its columns 列1, 列2 …) has no names to go by: its longitude
and latitude columns are the two numeric columns whose values fall in Wuhan's (else China's) longitudes and
latitudes, and the report says the columns were found by their values.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Mapping

from ogc.coords import CHINA_BOX, WUHAN_EXTENT

LON_WORDS = {"lon", "lng", "long", "longitude", "x", "经度", "东经"}
LAT_WORDS = {"lat", "latitude", "y", "纬度", "北纬"}
PAIR_WORDS = {"经纬度", "坐标", "经纬度坐标", "lnglat", "lonlat", "latlng", "latlon", "location", "coordinates",
              "coordinate", "coords", "coord", "point", "position", "位置", "gps", "xy"}
ADDRESS_WORDS = ("地址", "address", "addr", "地点", "所在地", "门址", "住所", "位置")
CRS_WORDS = re.compile(r"wgs84|wgs|gcj02|gcj|bd09ll|bd09|bd|baidu|gaode|amap|cgcs2000|cgcs|gps|百度|高德|火星|"
                       r"腾讯|中心点|中心|坐标|point|center|centre")
# one way through the separator (linear on long runs of spaces: no two adjacent \s* to share them out)
PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(?:\s*[,，;；]\s*|\s+)(-?\d+(?:\.\d+)?)\s*$")
_PREFIX = re.compile(r"^(东经|北纬|e|n)\s*")
_BRACKETS = (("(", ")"), ("（", "）"), ("[", "]"))
PLACEHOLDERS = {"", "-", "--", "null", "none", "nan", "n/a", "na", "无", "暂无", "空"}


def word(name: str) -> str:
    """Return a column name reduced to its meaning: NFKC, lower case, no brackets, CRS words or separators."""
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    text = _without_brackets(text)
    return re.sub(r"[\s_\-.:/]+", "", CRS_WORDS.sub("", text))


def _without_brackets(text: str) -> str:
    r"""Drop every '(…)', '（…）' and '[…]' (to the first closer), in one pass: re.sub(r"\(.*?\)|…") retried
    from every opener of a long value without a closer (quadratic)."""
    out, pos, kinds = [], 0, list(_BRACKETS)
    while True:
        found = []
        for kind in list(kinds):
            start = text.find(kind[0], pos)
            end = text.find(kind[1], start + 1) if start >= 0 else -1
            if end < 0:
                kinds.remove(kind)  # no closer after pos: none later either
            else:
                found.append((start, end))
        if not found:
            return "".join(out) + text[pos:]
        start, end = min(found)
        out.append(text[pos:start])
        pos = end + 1


def is_pair_name(name: str) -> bool:
    """Tell whether a column name says it holds a coordinate pair ("坐标", "lnglat" …)."""
    raw = re.sub(r"[\s_\-.:/]+", "", unicodedata.normalize("NFKC", str(name)).strip().lower())
    return raw in PAIR_WORDS or word(name) in PAIR_WORDS


def pairs_in(sample: list[Mapping[str, Any]], column: str) -> bool:
    """Tell whether most non-empty values of a column are coordinate pairs."""
    values = [str(r.get(column) or "").strip() for r in sample]
    values = [v for v in values if v]
    return bool(values) and sum(bool(PAIR.match(v)) for v in values) * 2 > len(values)


def parse_number(value: Any) -> float | None:
    """Read a coordinate value ("114.30", "114.30°E", "东经114.3"); None when empty; raise ValueError when unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{value} is too large for a coordinate") from None
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if text.lower() in PLACEHOLDERS:
            return None
        text = _PREFIX.sub("", text).rstrip()  # then the suffix by hand: "\s*(°|度)?\s*[enEN]?$" is quadratic
        if text[-1:] in ("e", "n", "E", "N") and len(text) > 1:
            text = text[:-1].rstrip()
        if text[-1:] in ("°", "度"):
            text = text[:-1].rstrip()
        number = float(text)
    if number != number:  # NaN
        return None
    if math.isinf(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def by_names(names: list[str]) -> tuple[str | None, str | None]:
    """Return the (longitude, latitude) columns their names declare, or (None, None)."""
    words = {name: word(name) for name in names}
    lon = next((n for n in names if words[n] in LON_WORDS or words[n].endswith("经度")), None)
    lat = next((n for n in names if words[n] in LAT_WORDS or words[n].endswith("纬度")), None)
    return (lon, lat) if lon and lat else (None, None)


def _numbers(sample: list[Mapping[str, Any]], column: str) -> list[float]:
    found = []
    for row in sample:
        try:
            number = parse_number(row.get(column))
        except (TypeError, ValueError):
            return []  # a column with text in it holds no coordinates
        if number is not None and number != -1:
            found.append(number)
    return found


def _share(values: list[float], low: float, high: float) -> float:
    return sum(low <= v <= high for v in values) / len(values) if values else 0.0


def by_values(names: list[str], sample: list[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """Return the two numeric columns whose values are longitudes and latitudes (Wuhan first, then China).

    The order of the result is (longitude column, latitude column) whatever their order in the file.
    """
    numeric = {n: v for n in names if (v := _numbers(sample, n))}
    for west, south, east, north in (WUHAN_EXTENT, CHINA_BOX):
        lons = [n for n, v in numeric.items() if _share(v, west, east) > 0.9]
        lats = [n for n, v in numeric.items() if _share(v, south, north) > 0.9 and n not in lons]
        if len(lons) == 1 and len(lats) == 1:
            return lons[0], lats[0]
    return None, None


def address_column(names: list[str], taken: tuple[str | None, ...]) -> str | None:
    """Return the first column whose name says it holds an address."""
    return next((n for n in names if n not in taken and any(w in str(n).lower() for w in ADDRESS_WORDS)), None)
