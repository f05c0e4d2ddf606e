"""Check geometries before they are published: valid as they are, repaired with a report, or refused.

shapely's ``is_valid`` is the test; an invalid (Multi)Polygon — a self-intersecting ring, a ring closed from
polylines, a bow tie — is repaired with ``make_valid`` keeping only its polygonal part, and the repair is
reported with shapely's explanation; a geometry with nothing polygonal left, or that shapely cannot read, is
refused. Nothing invalid is published as it is.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon, mapping, shape
from shapely.validation import explain_validity, make_valid

_POLYGONAL = ("Polygon", "MultiPolygon")


def polygonal_part(geom):
    """Return the polygonal part of a geometry (a GeometryCollection's polygons), or None when there is none."""
    if geom.geom_type in _POLYGONAL:
        return None if geom.is_empty else geom
    if geom.geom_type == "GeometryCollection":
        polygons = [g for part in geom.geoms if (g := polygonal_part(part)) is not None]
        if polygons:
            return shapely.union_all(polygons)
    return None


def repaired(geom, label: str = "geometry") -> tuple[Any | None, str]:
    """Return (a valid shapely geometry or None, what was wrong and done: '' when it was valid)."""
    if geom.is_valid:
        return geom, ""
    why = explain_validity(geom)
    fixed = make_valid(geom)
    if geom.geom_type in _POLYGONAL:
        fixed = polygonal_part(fixed)
    if fixed is None or fixed.is_empty or not fixed.is_valid:
        return None, f"invalid {label} ({why}) cannot be repaired: refused"
    if geom.geom_type == "MultiPolygon" and fixed.geom_type == "Polygon":  # keep the layer's one geometry type
        fixed = MultiPolygon([fixed])
    return fixed, f"invalid {label} ({why}) repaired with make_valid"


def check_geometry(geometry: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Return (a valid GeoJSON geometry or None, the problem found: '' when valid as it came)."""
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException) as exc:
        return None, f"unreadable {geometry.get('type', 'geometry')} ({exc}): refused"
    kind = geometry.get("type", "geometry")
    fixed, problem = repaired(geom, kind)
    if fixed is None:
        return None, problem
    if not problem:
        return geometry, ""
    return _rounded(mapping(fixed)), problem


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    """Return shapely's GeoJSON mapping with lists (not tuples) and positions rounded to 8 decimals."""
    def walk(coords):
        if coords and isinstance(coords[0], (int, float)):
            return [round(float(c), 8) for c in coords]
        return [walk(c) for c in coords]

    if geometry["type"] == "GeometryCollection":
        return {"type": "GeometryCollection", "geometries": [_rounded(g) for g in geometry["geometries"]]}
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
