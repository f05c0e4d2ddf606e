"""Read coordinates in a projected system given by its EPSG code (Gauss–Krüger, UTM) into CGCS2000 lon/lat.

Wuhan's surveying data come in CGCS2000 / 3-degree Gauss–Krüger CM 114E (EPSG:4547; its neighbours 4546 and
4548), other data in UTM (EPSG:32649, 32650). ``projected_crs`` accepts any EPSG code that pyproj knows as a
projected system on the CGCS2000 or WGS84 datum (taken equal to each other, docs/spatialization.md), so that
the conversion is the projection's own inverse and no datum shift is guessed; systems on other datums (Xian
1980, Beijing 1954: their parameters to CGCS2000 are not public at the metre level) are not converted.

The axis order is the CRS's own, as the EPSG register defines it: EPSG:4547 is northing (X), easting (Y);
UTM is easting (E), northing (N). A pair of values in one column is read in that order; columns are matched by
the axis abbreviations of the CRS (X/Y mean northing/easting in EPSG:4547, as in Chinese surveying), by
meaning (easting/northing, 东坐标/北坐标, 横坐标/纵坐标), else by their values (northings in China are
millions of metres, eastings without a zone prefix hundreds of thousands). A point whose converted position
falls outside the CRS's area of use is refused, with the reason, never placed.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

import pyproj

EPSG_IRI = "http://www.opengis.net/def/crs/EPSG/0/"
_DATUMS = (4490, 4326)  # CGCS2000, WGS84: their projections are inverted to CGCS2000 lon/lat as they are
_CODE = re.compile(r"^\s*(?:epsg\s*[:：]?\s*|urn:ogc:def:crs:epsg:[\d.]*:|https?://www\.opengis\.net/def/crs/epsg/0/)"
                   r"(\d{4,5})\s*$", re.I)
EAST_WORDS = {"easting", "east", "东坐标", "东向坐标", "横坐标", "东"}
NORTH_WORDS = {"northing", "north", "北坐标", "北向坐标", "纵坐标", "北"}
NORTHINGS = (1.5e6, 6.5e6)  # metres north of the equator, China's latitudes (about 14°–58°)
EASTINGS = (1e5, 9e5)       # a transverse Mercator zone's eastings without a zone prefix (false easting 500 km)


@dataclass(frozen=True)
class Projected:
    """A projected source system: its EPSG code, name, area of use and axis order."""

    code: int
    name: str
    area: tuple[float, float, float, float]  # west, south, east, north (degrees)
    axes: tuple[tuple[str, str], ...]         # ((abbreviation, direction), …) in the CRS's order

    @property
    def value(self) -> str:
        """The name used in reports and placement methods (``EPSG:4547``)."""
        return f"EPSG:{self.code}"

    @property
    def iri(self) -> str:
        return f"{EPSG_IRI}{self.code}"

    @property
    def north_first(self) -> bool:
        """Tell whether the CRS's first axis is the northing (EPSG:4547: X north, Y east)."""
        return self.axes[0][1] == "north"

    def axis_order(self) -> str:
        """Say the CRS's axis order in words, for the report."""
        return ", ".join(f"{'northing' if d == 'north' else 'easting'} ({a})" for a, d in self.axes)

    def to_cgcs2000(self, easting: float, northing: float) -> tuple[float, float]:
        """Return (lon, lat) in CGCS2000 of a point; raise ValueError when it is outside the area of use."""
        if not (math.isfinite(easting) and math.isfinite(northing)):
            raise ValueError(f"({easting}, {northing}) is not a position")
        lon, lat = _inverse(self.code)(easting, northing)
        west, south, east, north = self.area
        if not (math.isfinite(lon) and math.isfinite(lat)) or not (west <= lon <= east and south <= lat <= north):
            where = f"({lon:.6f}, {lat:.6f})" if math.isfinite(lon) and math.isfinite(lat) else "no position"
            raise ValueError(f"easting {easting:g}, northing {northing:g} in {self.value} gives {where}, outside "
                             f"its area of use {west:g}–{east:g}°E, {south:g}–{north:g}°N; not placed")
        return lon, lat

    def from_cgcs2000(self, lon: float, lat: float) -> tuple[float, float]:
        """Return (easting, northing) of a CGCS2000 point (for tests and round trips)."""
        return _forward(self.code)(lon, lat)


def epsg_code(name: Any) -> int | None:
    """Return the EPSG code a declared name or IRI gives (``EPSG:4547``, its OGC IRI or URN), or None."""
    match = _CODE.match(unicodedata.normalize("NFKC", str(name or "")))
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=64)
def _projected(code: int) -> Projected | None:
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        return None
    if not crs.is_projected or crs.geodetic_crs is None or crs.geodetic_crs.to_epsg() not in _DATUMS:
        return None
    if crs.area_of_use is None or len(crs.axis_info) != 2:
        return None
    return Projected(code, crs.name, tuple(crs.area_of_use.bounds),
                     tuple((a.abbrev, a.direction) for a in crs.axis_info))


def projected_crs(name: Any) -> Projected | None:
    """Return the projected system a declared EPSG code names, when we convert it (CGCS2000 or WGS84 datum)."""
    code = epsg_code(name)
    return _projected(code) if code is not None else None


def source_system(name: Any):
    """Return the system a declared source name gives: a geographic ``ogc.coords.Crs``, a ``Projected``, or None."""
    from ogc.coords import parse_crs

    return parse_crs(name) or projected_crs(name)


def declared_projection(crs: str | None, default_crs: str | None) -> Projected | None:
    """Return the projected system data are declared in (else the settings' default names), or None."""
    from ogc.coords import parse_crs

    name = crs or default_crs
    return projected_crs(name) if name and parse_crs(name) is None else None


def member_projection(doc: Mapping[str, Any]) -> Projected | None:
    """Return the projected system a GeoJSON ``crs`` member names (GDAL: ``urn:ogc:def:crs:EPSG::4547``)."""
    member = doc.get("crs")
    name = (member.get("properties") or {}).get("name") if isinstance(member, dict) else member
    return projected_crs(name) if isinstance(name, str) else None


@functools.lru_cache(maxsize=64)
def _inverse(code: int):
    """(easting, northing) → (lon, lat) on the CRS's own datum (CGCS2000 = WGS84 here), built once per code."""
    crs = pyproj.CRS.from_epsg(code)
    return pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform


@functools.lru_cache(maxsize=64)
def _forward(code: int):
    crs = pyproj.CRS.from_epsg(code)
    return pyproj.Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True).transform


def _word(name: str) -> str:
    return re.sub(r"[\s_\-.:/()（）\[\]]+", "", unicodedata.normalize("NFKC", str(name)).strip().lower())


def axis_columns(names: list[str], crs: Projected, sample: list[Mapping[str, Any]]
                 ) -> tuple[str | None, str | None, str]:
    """Return (easting column, northing column, how they were found) for a table in a projected system."""
    words = {n: _word(n) for n in names}
    by_axis = {}
    for abbrev, direction in crs.axes:  # the CRS's own abbreviations: X is the northing in EPSG:4547
        found = next((n for n in names if words[n] in (abbrev.lower(), f"{abbrev.lower()}坐标")), None)
        if found:
            by_axis[direction] = found
    if len(by_axis) == 2:
        return by_axis["east"], by_axis["north"], f"by the axis names of {crs.value}: {crs.axis_order()}"
    east = next((n for n in names if words[n] in EAST_WORDS), None)
    north = next((n for n in names if words[n] in NORTH_WORDS), None)
    if east and north:
        return east, north, "by their names (easting, northing)"
    east, north = _by_values(names, sample)
    return east, north, "by their values (northings in millions of metres)"


def _by_values(names: list[str], sample: list[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    from ogc.columns import parse_number

    share: dict[str, tuple[float, float]] = {}
    for n in names:
        try:
            values = [v for r in sample if (v := parse_number(r.get(n))) is not None]
        except (TypeError, ValueError):
            continue
        if values:
            share[n] = (sum(EASTINGS[0] <= v <= EASTINGS[1] for v in values) / len(values),
                        sum(NORTHINGS[0] <= v <= NORTHINGS[1] for v in values) / len(values))
    easts = [n for n, (e, _) in share.items() if e > 0.9]
    norths = [n for n, (_, m) in share.items() if m > 0.9]
    return (easts[0], norths[0]) if len(easts) == 1 and len(norths) == 1 else (None, None)
