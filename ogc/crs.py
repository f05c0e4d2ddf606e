"""Replace pygeoapi's per-request CRS set-up with cached equivalents that know our axis order (one place).

Why (docs/ogc-api.md): every layer is stored in CGCS2000 longitude/latitude order and published with
storageCrs EPSG:4490, whose authority axis order is latitude, longitude. pygeoapi 0.24 then

1. swaps axes: with ``storage_crs`` EPSG:4490 it transforms a CRS84 ``bbox`` into 4490 *lat/lon* order
   before calling the provider, and returns stored lon/lat coordinates unchanged for ``crs=EPSG:4490``;
2. rebuilds the CRS objects and a ``pyproj.Transformer`` on every request (``get_crs``,
   ``create_crs_transform_spec`` with WKT round trips, ``transform_bbox``, ``get_transform_from_spec``):
   about 1 s per request reprojecting 4490 <-> CRS84.

``install()`` (called by ``ogc.api.OgcApi``, never at import time) points pygeoapi's items/item handlers at
``create_crs_transform_spec`` and ``transform_bbox`` below and its providers at a cached ``get_crs``:

- ``create_crs_transform_spec`` checks the ``crs`` parameter against the collection's list and returns a
  ready-made spec (cached per (storage, target)), or None for CRS84, which is what the store holds;
- ``transform_bbox`` always returns the box in the store's lon/lat order, whatever the storage CRS says;
- ``output_transform(target)`` gives the provider one function per target CRS, built once: identity for
  CRS84, an axis swap for EPSG:4490/4326 (CGCS2000 is taken equal to WGS84, docs/spatialization.md), a
  cached pyproj transformer for EPSG:3857.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Callable

import pyproj

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CGCS2000 = EPSG + "4490"
WGS84 = EPSG + "4326"
WEB_MERCATOR = EPSG + "3857"
SUPPORTED_CRS = [CGCS2000, CRS84, WGS84, WEB_MERCATOR]  # what every feature collection declares
STORAGE_CRS = CGCS2000
LATLON = {CGCS2000, WGS84}  # geographic, latitude first in the EPSG register

Position = Callable[[float, float], tuple[float, float]]
_lock = threading.Lock()
_installed = False


def _swap(x: float, y: float) -> tuple[float, float]:
    return y, x


@functools.lru_cache(maxsize=16)
def _mercator(inverse: bool) -> Callable:
    """Return the (cached) lon/lat <-> EPSG:3857 transform function."""
    if inverse:
        return pyproj.Transformer.from_crs(3857, 4326, always_xy=True).transform
    return pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform


def output_transform(target_uri: str | None) -> Position | None:
    """Return the function taking a stored (lon, lat) to the target CRS's axis order; None for CRS84."""
    uri = _norm(target_uri)
    if uri in (None, CRS84):
        return None
    if uri in LATLON:
        return _swap
    if uri == WEB_MERCATOR:
        return _mercator(False)
    raise ValueError(f"CRS {target_uri!r} is not supported")


def input_transform(source_uri: str | None) -> Position | None:
    """Return the function taking a (x, y) in the source CRS to stored (lon, lat); None for CRS84."""
    uri = _norm(source_uri)
    if uri in (None, CRS84):
        return None
    if uri in LATLON:
        return _swap
    if uri == WEB_MERCATOR:
        return _mercator(True)
    raise ValueError(f"CRS {source_uri!r} is not supported")


def _norm(uri) -> str | None:
    if uri is None:
        return None
    text = str(uri).strip()
    return CRS84 if text.lower() in (CRS84.lower(), "crs84", "ogc:crs84") else text


def transform_coordinates(coords, func: Position):
    """Apply func to every position of GeoJSON coordinates (nested lists), keeping any third value."""
    if coords and isinstance(coords[0], (int, float)):
        x, y = func(coords[0], coords[1])
        return [x, y, *coords[2:]]
    return [transform_coordinates(c, func) for c in coords]


def transform_geometry(geometry: dict | None, func: Position | None) -> dict | None:
    """Return the geometry with func applied to its positions (unchanged when func is None)."""
    if geometry is None or func is None:
        return geometry
    if geometry.get("type") == "GeometryCollection":
        return {**geometry, "geometries": [transform_geometry(g, func) for g in geometry.get("geometries", [])]}
    return {**geometry, "coordinates": transform_coordinates(geometry.get("coordinates", []), func)}


# -- the pygeoapi replacements ------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _cached_crs(uri: str) -> pyproj.CRS:
    from pygeoapi import crs as pg_crs

    return pg_crs.get_crs(uri)  # pygeoapi.crs itself is left as it is


def get_crs(crs) -> pyproj.CRS:
    """pygeoapi's get_crs, cached per URI (BaseProvider calls it on every request)."""
    return crs if isinstance(crs, pyproj.CRS) else _cached_crs(str(crs))


@functools.lru_cache(maxsize=64)
def _spec(storage_uri: str, target_uri: str):
    from pygeoapi.crs import CrsTransformSpec

    return CrsTransformSpec(source_crs_uri=storage_uri, source_crs_wkt="", target_crs_uri=target_uri,
                            target_crs_wkt="", always_xy=False)


def create_crs_transform_spec(provider_def: dict, query_crs_uri: str | None = None):
    """Check ``crs`` against the collection's list; return a cached spec, or None for CRS84 (as stored).

    Raises ValueError (pygeoapi answers 400) for a CRS the collection does not offer.
    """
    supported = provider_def.get("crs") or [CRS84]
    if query_crs_uri and query_crs_uri not in supported:
        raise ValueError(f"CRS {query_crs_uri!r} not supported for this collection. "
                         f"List of supported CRSs: {', '.join(supported)}.")
    target = query_crs_uri or CRS84
    if _norm(target) == CRS84:
        return None
    return _spec(provider_def.get("storage_crs", CRS84), target)


def transform_bbox(bbox: list, from_crs, to_crs=None, always_xy: bool = False) -> list:
    """Return the bbox (4 or 6 numbers, in from_crs axis order) as [minlon, minlat, maxlon, maxlat].

    The target is always the store's lon/lat order, whatever ``to_crs`` (the declared storage CRS) says.
    """
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    func = input_transform(str(from_crs))
    if func is None:
        return list(bbox)
    if _norm(str(from_crs)) == WEB_MERCATOR:
        xs, ys = func([bbox[0], bbox[2]], [bbox[1], bbox[3]])
        return [min(xs), min(ys), max(xs), max(ys)]
    (x1, y1), (x2, y2) = func(bbox[0], bbox[1]), func(bbox[2], bbox[3])
    return [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]


def _no_logging_setup(_config: dict) -> None:
    """Stand in for pygeoapi.log.setup_logger: logging is configured once, by our entry point."""


def install() -> None:
    """Point pygeoapi at the replacements above (idempotent; imports pygeoapi deliberately, here)."""
    global _installed
    with _lock:
        if _installed:
            return
        import pygeoapi.api as pg_api
        import pygeoapi.api.itemtypes as pg_items
        import pygeoapi.provider.base as pg_base

        pg_items.create_crs_transform_spec = create_crs_transform_spec
        pg_items.transform_bbox = transform_bbox
        pg_base.get_crs = get_crs
        pg_api.setup_logger = _no_logging_setup
        logging.getLogger("pygeoapi").setLevel(logging.ERROR)  # it logs every refused request as a warning
        _installed = True
