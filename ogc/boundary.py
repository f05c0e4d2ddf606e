"""Boundaries and extents: load polygons from GeoJSON or TopoJSON in any supported system, check them valid
(repaired with a report, or refused), test points against them and tell which named part holds a point."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import shapely
from shapely.errors import GEOSException
from shapely.geometry import Point, shape

from core.errors import BadRequestError
from ogc.coords import Crs, in_extent, parse_crs, to_cgcs2000
from ogc.geometry import repaired

log = logging.getLogger(__name__)
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


def _name(properties: dict[str, Any], number: int) -> str:
    for key in ("name", "NAME", "名称", "adname", "district"):
        if properties.get(key) not in (None, ""):
            return str(properties[key])
    return f"#{number}"


@dataclass(frozen=True)
class Boundary:
    """A named area made of named polygons (districts …) in CGCS2000, checked valid, with its extent.

    ``repairs`` lists the polygons that were invalid in the file and were repaired (make_valid); a polygon
    that could not be repaired is refused with a BoundaryFileError, never used as it is.
    """

    name: str
    parts: tuple[tuple[str, Any], ...]   # (name, shapely (Multi)Polygon) in CGCS2000
    extent: Extent
    source_crs: Crs
    repairs: tuple[str, ...] = ()

    @property
    def polygons(self) -> tuple[Any, ...]:
        """Return the shapely polygons of every part."""
        return tuple(geom for _, geom in self.parts)

    def contains(self, lon: float, lat: float) -> bool:
        """Tell whether a CGCS2000 point lies inside (or on the edge of) any part."""
        return self.part_of(lon, lat) is not None

    def part_of(self, lon: float, lat: float) -> str | None:
        """Return the name of the part (district) holding a CGCS2000 point, or None."""
        if not in_extent(lon, lat, self.extent):
            return None
        point = Point(lon, lat)
        return next((name for name, geom in self.parts if geom.covers(point)), None)

    @classmethod
    def from_geojson(cls, doc: dict[str, Any], crs: Crs | str | None = None, name: str = "boundary") -> Boundary:
        """Build a boundary from every (Multi)Polygon of a GeoJSON (or TopoJSON) document, from its system."""
        doc = topojson_to_geojson(doc, name) if doc.get("type") == "Topology" else doc
        source = parse_crs(crs) if isinstance(crs, str) else crs
        source = source or geojson_crs(doc) or Crs.WGS84
        convert = lambda lon, lat: to_cgcs2000(lon, lat, source)  # noqa: E731
        parts, repairs = [], []
        for number, (properties, geometry) in enumerate(_geometries(doc), start=1):
            if geometry.get("type") not in ("Polygon", "MultiPolygon"):
                continue
            label = _name(properties, number)
            converted = {"type": geometry["type"], "coordinates": map_coordinates(geometry["coordinates"], convert)}
            try:
                geom = shape(converted)
            except (ValueError, TypeError, IndexError, GEOSException) as exc:
                raise BoundaryFileError(f"{name}: polygon {label} is unreadable ({exc})") from None
            fixed, problem = repaired(geom, f"polygon {label}")
            if fixed is None:
                raise BoundaryFileError(f"{name}: {problem}")
            if problem:
                repairs.append(problem)
            parts.append((label, prepared(fixed)))
        if not parts:
            raise BoundaryFileError(f"{name}: no Polygon or MultiPolygon geometry")
        bounds = shapely.total_bounds([geom for _, geom in parts])
        return cls(name, tuple(parts), tuple(float(b) for b in bounds), source, tuple(repairs))


def prepared(geom):
    """Return the geometry prepared for fast repeated point tests."""
    shapely.prepare(geom)
    return geom


def _geometries(doc: dict[str, Any], properties: dict[str, Any] | None = None
                ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (the feature's properties, geometry) for every geometry of a GeoJSON object."""
    kind = doc.get("type")
    if kind == "FeatureCollection":
        for feature in doc.get("features") or ():
            yield from _geometries(feature)
    elif kind == "Feature":
        if doc.get("geometry"):
            yield from _geometries(doc["geometry"], doc.get("properties") or {})
    elif kind == "GeometryCollection":
        for geometry in doc.get("geometries") or ():
            yield from _geometries(geometry, properties)
    elif kind:
        yield properties or {}, doc


def topojson_to_geojson(doc: dict[str, Any], name: str = "boundary") -> dict[str, Any]:
    """Return a TopoJSON topology's objects as one GeoJSON FeatureCollection (arcs decoded, transform applied)."""
    try:
        arcs = _decoded_arcs(doc)
        features = []
        for obj in (doc.get("objects") or {}).values():
            items = obj.get("geometries") if obj.get("type") == "GeometryCollection" else [obj]
            for item in items or ():
                geometry = _topo_geometry(item, arcs)
                if geometry:
                    features.append({"type": "Feature", "properties": item.get("properties") or {},
                                     "geometry": geometry})
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BoundaryFileError(f"{name}: malformed TopoJSON ({exc.__class__.__name__}: {exc})") from None
    return {"type": "FeatureCollection", "features": features, **({"crs": doc["crs"]} if "crs" in doc else {})}


def _decoded_arcs(doc: dict[str, Any]) -> list[list[tuple[float, float]]]:
    transform = doc.get("transform")
    arcs = []
    for arc in doc.get("arcs") or ():
        if transform:  # quantized: delta-encoded integers
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            points = []
            for dx, dy, *_ in arc:
                x, y = x + dx, y + dy
                points.append((x * sx + tx, y * sy + ty))
        else:
            points = [(float(p[0]), float(p[1])) for p in arc]
        arcs.append(points)
    return arcs


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    ring: list[tuple[float, float]] = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points[1:] if ring else points)
    return [list(p) for p in ring]


def _topo_geometry(item: dict[str, Any], arcs) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": [_ring(r, arcs) for r in item["arcs"]]}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[_ring(r, arcs) for r in p] for p in item["arcs"]]}
    return None


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
    """Read a boundary GeoJSON or TopoJSON file (a setting, or a test's real file); `crs` overrides its declaration.

    Each polygon repaired on the way is logged (a warning naming the polygon and shapely's reason).
    """
    boundary = Boundary.from_geojson(read_boundary_file(path), crs, name=Path(path).name)
    for repair in boundary.repairs:
        log.warning("boundary file %s: %s", Path(path).name, repair)
    return boundary

