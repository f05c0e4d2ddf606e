"""Make the offline base map: Wuhan's district outlines as GeoJSON (CGCS2000 lon/lat), with no network.

Without a Tianditu key, or when its tiles fail to load, the portal's maps draw these outlines instead.
Two sources, chosen by settings:

* ``spatial.boundary_file`` (any GeoJSON of polygons, in the system ``spatial.boundary_crs`` or the one
  its ``crs`` member declares): the deployment's own, exact outlines; or
* the project's own approximation, made from public facts only: the Voronoi cells of the 13 district
  seats of ``ogc/gazetteer.json``, clipped to a coarse outline of the city (``CITY_OUTLINE``) drawn inside
  its published extent (113.68–115.08 E, 29.97–31.36 N). Every feature says ``approximate: true``; the
  lines are not administrative boundaries (docs/maps.md).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPoint, Point, Polygon, mapping, shape

from ogc.boundary import BoundaryFileError, geojson_crs, map_coordinates, read_boundary_file, topojson_to_geojson
from ogc.coords import WUHAN_EXTENT, Crs, parse_crs, to_cgcs2000
from ogc.geometry import repaired

log = logging.getLogger(__name__)

# A coarse outline of Wuhan (lon, lat), clockwise from the northern tip of Huangpi, written from the city's
# published extent and the positions of its outer districts (黄陂 north, 新洲 north-east, 江夏 south,
# 汉南 south-west, 蔡甸 west). Accurate to several kilometres; meant for orientation only.
CITY_OUTLINE: tuple[tuple[float, float], ...] = (
    (114.45, 31.36), (114.62, 31.25), (114.72, 31.08), (114.88, 31.02), (115.08, 30.88), (115.02, 30.68),
    (114.86, 30.55), (114.70, 30.47), (114.62, 30.30), (114.55, 30.08), (114.35, 29.97), (114.12, 30.08),
    (113.98, 30.18), (113.88, 30.33), (113.72, 30.42), (113.68, 30.55), (113.80, 30.70), (113.95, 30.78),
    (114.05, 30.88), (114.10, 31.05), (114.25, 31.20), (114.35, 31.32),
)
NAME_KEYS = ("name", "NAME", "名称", "name_zh", "NAME_CHN", "district", "dist_name", "Name")
CODE_KEYS = ("adcode", "code", "CODE", "区划代码", "ADCODE")
SIMPLIFY_DEG = 0.0002  # about 20 m: keeps a deployment's detailed outlines light to draw
DECIMALS = 5


def _gazetteer() -> dict[str, Any]:
    return json.loads(resources.files("ogc").joinpath("gazetteer.json").read_text("utf-8"))


def _rounded(geometry) -> dict[str, Any]:
    return json.loads(json.dumps(mapping(shapely.set_precision(geometry, 10 ** -DECIMALS))))


def _feature(geometry, name: str, code: str, approximate: bool, source: str) -> dict[str, Any]:
    label = geometry.representative_point()
    return {
        "type": "Feature", "id": code or name,
        "geometry": _rounded(geometry),
        "properties": {"name": name, "code": code, "approximate": approximate, "source": source,
                       "label_lon": round(label.x, DECIMALS), "label_lat": round(label.y, DECIMALS)},
    }


def approximate_districts() -> dict[str, Any]:
    """Return the 13 districts as Voronoi cells of their seats clipped to the coarse city outline."""
    districts = _gazetteer()["districts"]
    city = Polygon(CITY_OUTLINE)
    seats = MultiPoint([(d["lon"], d["lat"]) for d in districts])
    cells = shapely.voronoi_polygons(seats, extend_to=city.buffer(1.0))
    features = []
    for district in districts:
        seat = Point(district["lon"], district["lat"])
        cell = next(c for c in cells.geoms if c.contains(seat))
        features.append(_feature(cell.intersection(city), district["name"], district["code"], True,
                                 "Voronoi cells of the district seats (ogc/gazetteer.json) in a coarse city outline"))
    return {"type": "FeatureCollection", "name": "武汉市区界（近似）", "approximate": True,
            "features": features, "bbox": list(WUHAN_EXTENT)}


def _first(properties: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = properties.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def boundary_districts(path: str | Path, crs: str | None = None) -> dict[str, Any]:
    """Return the polygons of a deployment's boundary file in CGCS2000, with their names and codes."""
    path = Path(path)
    doc = read_boundary_file(path)
    doc = topojson_to_geojson(doc, path.name) if doc.get("type") == "Topology" else doc
    source = parse_crs(crs) or geojson_crs(doc) or Crs.WGS84  # the setting names the file's system
    convert = lambda lon, lat: to_cgcs2000(lon, lat, source)  # noqa: E731
    items = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    features = []
    for n, item in enumerate(items or ()):
        geometry = item.get("geometry") if item.get("type") == "Feature" else item
        if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        converted = {"type": geometry["type"], "coordinates": map_coordinates(geometry["coordinates"], convert)}
        properties = item.get("properties") or {}
        name = _first(properties, NAME_KEYS) or f"#{n + 1}"
        valid, problem = repaired(shape(converted), f"polygon {name}")  # never drawn invalid (ogc/geometry.py)
        if valid is None:
            raise BoundaryFileError(f"{path.name}: {problem}")
        if problem:
            log.warning("boundary file %s: %s", path.name, problem)
        polygon = valid.simplify(SIMPLIFY_DEG, preserve_topology=True)
        features.append(_feature(polygon, name, _first(properties, CODE_KEYS), False, path.name))
    if not features:
        raise BoundaryFileError(f"{path.name}: no Polygon or MultiPolygon feature")
    bounds = shapely.total_bounds([shape(f["geometry"]) for f in features])
    return {"type": "FeatureCollection", "name": path.stem, "approximate": False, "features": features,
            "bbox": [round(float(b), DECIMALS) for b in bounds]}


@lru_cache(maxsize=4)
def _cached(path: str | None, crs: str | None, mtime: float) -> bytes:
    doc = boundary_districts(path, crs) if path else approximate_districts()
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def basemap_geojson(settings) -> bytes:
    """Return the offline base map the settings choose, as UTF-8 GeoJSON (cached until the file changes)."""
    spatial = settings.spatial
    if not spatial.boundary_file:
        return _cached(None, None, 0.0)
    path = settings.path(spatial.boundary_file)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise BoundaryFileError(f"spatial.boundary_file {path.name}: cannot read ({exc.strerror})") from exc
    return _cached(str(path), spatial.boundary_crs, mtime)
