"""Boundaries and extents: load polygons from GeoJSON in any supported system, test points against them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ogc.coords import Crs, in_extent, parse_crs, to_cgcs2000
from core.errors import BadRequestError

Ring = tuple[tuple[float, float], ...]
Extent = tuple[float, float, float, float]


class BoundaryFileError(BadRequestError):
    """A boundary file could not be read or holds no polygon."""

    code = "boundary-malformed"


def geojson_crs(doc: dict[str, Any]) -> Crs | None:
    """Return the system a GeoJSON document's (legacy) `crs` member names, or None."""
    member = doc.get("crs") if isinstance(doc, dict) else None
    if isinstance(member, dict):
        props = member.get("properties") or {}
        return parse_crs(props.get("name") or props.get("href"))
    if isinstance(member, str):
        return parse_crs(member)
    return None


def map_coordinates(coords: Any, fn: Callable[[float, float], tuple[float, float]]) -> Any:
    """Apply fn(lon, lat) to every position of a GeoJSON coordinates array, keeping extra ordinates."""
    if coords and isinstance(coords[0], (int, float)):
        lon, lat = fn(float(coords[0]), float(coords[1]))
        return [round(lon, 8), round(lat, 8), *coords[2:]]
    return [map_coordinates(part, fn) for part in coords]


def iter_positions(coords: Any) -> Iterator[tuple[float, float]]:
    """Yield every (lon, lat) position of a GeoJSON coordinates array."""
    if coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for part in coords or ():
        yield from iter_positions(part)


def geometry_extent(geometry: dict[str, Any]) -> Extent | None:
    """Return a geometry's bounding box, or None when it has no position."""
    parts = geometry.get("geometries") if geometry.get("type") == "GeometryCollection" else [geometry]
    xs: list[float] = []
    ys: list[float] = []
    for part in parts or ():
        for lon, lat in iter_positions(part.get("coordinates") or []):
            xs.append(lon)
            ys.append(lat)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _ring_contains(ring: Ring, x: float, y: float) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@dataclass(frozen=True)
class Polygon:
    """One polygon: an outer ring, its holes and its bounding box."""

    outer: Ring
    holes: tuple[Ring, ...]
    extent: Extent

    def contains(self, lon: float, lat: float) -> bool:
        """Tell whether a point lies inside the outer ring and outside every hole (ray casting)."""
        if not in_extent(lon, lat, self.extent):
            return False
        if not _ring_contains(self.outer, lon, lat):
            return False
        return not any(_ring_contains(hole, lon, lat) for hole in self.holes)


def _polygon(rings: list[Any], convert: Callable[[float, float], tuple[float, float]]) -> Polygon:
    converted = [tuple(convert(float(p[0]), float(p[1])) for p in ring) for ring in rings if ring]
    outer = converted[0]
    xs = [p[0] for p in outer]
    ys = [p[1] for p in outer]
    return Polygon(outer, tuple(converted[1:]), (min(xs), min(ys), max(xs), max(ys)))


@dataclass(frozen=True)
class Boundary:
    """A named area made of polygons in CGCS2000, with its extent."""

    name: str
    polygons: tuple[Polygon, ...]
    extent: Extent
    source_crs: Crs

    def contains(self, lon: float, lat: float) -> bool:
        """Tell whether a CGCS2000 point lies inside any polygon."""
        return in_extent(lon, lat, self.extent) and any(p.contains(lon, lat) for p in self.polygons)

    @classmethod
    def from_geojson(cls, doc: dict[str, Any], crs: Crs | str | None = None, name: str = "boundary") -> Boundary:
        """Build a boundary from every (Multi)Polygon of a GeoJSON document, converting from its system."""
        source = parse_crs(crs) if isinstance(crs, str) else crs
        source = source or geojson_crs(doc) or Crs.WGS84
        convert = lambda lon, lat: to_cgcs2000(lon, lat, source)  # noqa: E731
        polygons: list[Polygon] = []
        for geometry in _geometries(doc):
            if geometry.get("type") == "Polygon":
                polygons.append(_polygon(geometry["coordinates"], convert))
            elif geometry.get("type") == "MultiPolygon":
                polygons.extend(_polygon(rings, convert) for rings in geometry["coordinates"])
        if not polygons:
            raise BoundaryFileError(f"{name}: no Polygon or MultiPolygon geometry")
        extent = (min(p.extent[0] for p in polygons), min(p.extent[1] for p in polygons),
                  max(p.extent[2] for p in polygons), max(p.extent[3] for p in polygons))
        return cls(name, tuple(polygons), extent, source)


def _geometries(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = doc.get("type")
    if kind == "FeatureCollection":
        for feature in doc.get("features") or ():
            yield from _geometries(feature)
    elif kind == "Feature":
        if doc.get("geometry"):
            yield from _geometries(doc["geometry"])
    elif kind == "GeometryCollection":
        for geometry in doc.get("geometries") or ():
            yield from _geometries(geometry)
    elif kind:
        yield doc


def read_boundary_file(path: str | Path) -> dict[str, Any]:
    """Read a boundary file's GeoJSON object, or fail with a BoundaryFileError naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise BoundaryFileError(f"{path.name}: cannot read a GeoJSON boundary ({exc.__class__.__name__})") from exc
    if not isinstance(doc, dict):
        raise BoundaryFileError(f"{path.name}: not a GeoJSON object")
    return doc


def load_boundary(path: str | Path, crs: Crs | str | None = None) -> Boundary:
    """Read a boundary GeoJSON file (a setting, or a test's real file); `crs` overrides its declaration."""
    return Boundary.from_geojson(read_boundary_file(path), crs, name=Path(path).name)

