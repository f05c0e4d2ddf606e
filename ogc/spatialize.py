"""Spatialize datasets: turn tabular rows (coordinates or addresses) and GeoJSON into CGCS2000 features and a report.

Every row ends placed (a feature) or listed as unresolved with its reason; placed points outside Wuhan's extent,
or outside a boundary polygon when one is given, are flagged. Output is a GeoJSON FeatureCollection in CRS84
lon/lat order (CGCS2000 ≈ WGS84 at the sub-metre level) plus a SpatializationReport.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ogc.boundary import Boundary, Extent, geometry_extent, geojson_crs, iter_positions, map_coordinates
from ogc.coords import (WUHAN_EXTENT, Crs, crs_from_column_names, detect_order, in_extent, out_of_china,
                        parse_crs, to_cgcs2000)
from ogc.geocode import Geocoder, GeocoderError

_LON_WORDS = {"lon", "lng", "long", "longitude", "x", "经度", "东经"}
_LAT_WORDS = {"lat", "latitude", "y", "纬度", "北纬"}
_PAIR_WORDS = {"经纬度", "坐标", "经纬度坐标", "lnglat", "lonlat", "latlng", "latlon", "location", "coordinates",
               "coordinate", "coords", "coord", "point", "position", "位置", "gps", "xy"}
_ADDRESS_WORDS = ("地址", "address", "addr", "地点", "所在地", "门址", "住所", "位置")
_CRS_WORDS = re.compile(r"wgs84|wgs|gcj02|gcj|bd09ll|bd09|bd|baidu|gaode|amap|cgcs2000|cgcs|gps|百度|高德|火星|"
                        r"腾讯|中心点|中心|坐标|point|center|centre")
_PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,，;；\s]\s*(-?\d+(?:\.\d+)?)\s*$")
_PLACEHOLDERS = {"", "-", "--", "null", "none", "nan", "n/a", "na", "无", "暂无", "空"}


@dataclass(frozen=True)
class SpatializeOptions:
    """How to read one dataset: declared system, columns (else detected), geocoder, boundary or extent."""

    crs: str | None = None              # declared system of the coordinates ("GCJ-02", "EPSG:4490", "baidu" …)
    lon_column: str | None = None
    lat_column: str | None = None
    coord_column: str | None = None     # one column holding "lng,lat" (or "lat,lng")
    address_column: str | None = None
    order: str = "auto"                 # "auto", "lonlat" or "latlon"
    geocoder: Geocoder | None = None
    boundary: Boundary | None = None    # flag points outside it (else outside `extent`)
    extent: Extent = WUHAN_EXTENT


@dataclass(frozen=True)
class RowIssue:
    """One row (1-based, header excluded) or feature and why it is unresolved or flagged."""

    row: int
    reason: str


@dataclass(frozen=True)
class SpatializationReport:
    """What spatializing a dataset gave: counts, methods, the system read, and every problem row."""

    rows: int
    placed: int
    unresolved: int
    flagged: int
    methods: dict[str, int]
    source_crs: str | None
    crs_source: str                     # "declared", "column names", "geojson", "default"
    order: str | None                   # "lonlat" or "latlon" as read from the data
    columns: dict[str, str]
    swapped: int = 0                    # rows whose pair only fitted the other order
    unresolved_rows: tuple[RowIssue, ...] = ()
    flagged_rows: tuple[RowIssue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class SpatializationResult:
    """Features (CGCS2000, CRS84 lon/lat order) and the report."""

    features: tuple[dict[str, Any], ...]
    report: SpatializationReport
    extent: Extent | None = None

    def feature_collection(self) -> dict[str, Any]:
        """Return the features as a GeoJSON FeatureCollection (RFC 7946, no crs member)."""
        doc: dict[str, Any] = {"type": "FeatureCollection", "features": list(self.features)}
        if self.extent:
            doc["bbox"] = [round(v, 7) for v in self.extent]
        return doc


@dataclass
class _Plan:
    lon: str | None = None
    lat: str | None = None
    pair: str | None = None
    address: str | None = None
    crs: Crs = Crs.WGS84
    crs_source: str = "default"
    order: str | None = None
    issues: list[RowIssue] = field(default_factory=list)
    flags: list[RowIssue] = field(default_factory=list)
    methods: Counter = field(default_factory=Counter)
    swapped: int = 0


def _word(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    text = re.sub(r"\(.*?\)|（.*?）|\[.*?\]", "", text)
    return re.sub(r"[\s_\-.:/]+", "", _CRS_WORDS.sub("", text))


def _find_columns(names: list[str], options: SpatializeOptions, sample: list[Mapping[str, Any]]) -> _Plan:
    plan = _Plan(options.lon_column, options.lat_column, options.coord_column, options.address_column)
    words = {name: _word(name) for name in names}
    if not (plan.lon and plan.lat) and not plan.pair:
        plan.lon = plan.lon or next((n for n in names if words[n] in _LON_WORDS or words[n].endswith("经度")), None)
        plan.lat = plan.lat or next((n for n in names if words[n] in _LAT_WORDS or words[n].endswith("纬度")), None)
        if not (plan.lon and plan.lat):
            plan.lon = plan.lat = None
            plan.pair = next((n for n in names if _is_pair_name(n) and _pairs_in(sample, n)), None) \
                or next((n for n in names if _pairs_in(sample, n)), None)
    if not plan.address:
        plan.address = next((n for n in names if n not in (plan.lon, plan.lat, plan.pair)
                             and any(w in str(n).lower() for w in _ADDRESS_WORDS)), None)
    declared = parse_crs(options.crs)
    named = crs_from_column_names([c for c in (plan.lon, plan.lat, plan.pair) if c])
    if declared:
        plan.crs, plan.crs_source = declared, "declared"
    elif named:
        plan.crs, plan.crs_source = named, "column names"
    return plan


def _is_pair_name(name: str) -> bool:
    raw = re.sub(r"[\s_\-.:/]+", "", unicodedata.normalize("NFKC", str(name)).strip().lower())
    return raw in _PAIR_WORDS or _word(name) in _PAIR_WORDS


def _pairs_in(sample: list[Mapping[str, Any]], column: str) -> bool:
    values = [str(r.get(column) or "").strip() for r in sample]
    values = [v for v in values if v]
    return bool(values) and sum(bool(_PAIR.match(v)) for v in values) * 2 > len(values)


def parse_number(value: Any) -> float | None:
    """Read a coordinate value ("114.30", "114.30°E", "东经114.3"); None when empty; raise ValueError when unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if text.lower() in _PLACEHOLDERS:
        return None
    text = re.sub(r"^(东经|北纬|e|n)\s*|\s*(°|度)?\s*[enEN]?$", "", text)
    number = float(text)
    if number != number:  # NaN
        return None
    return number


def _raw_pair(row: Mapping[str, Any], plan: _Plan) -> tuple[float, float] | None:
    """Return the row's two numbers in column order; None when absent; raise ValueError naming the bad field."""
    if plan.pair:
        text = str(row.get(plan.pair) or "").strip()
        if not text:
            return None
        match = _PAIR.match(unicodedata.normalize("NFKC", text))
        if not match:
            raise ValueError(f"{plan.pair} is not a coordinate pair: {text[:40]!r}")
        return float(match.group(1)), float(match.group(2))
    values = []
    for column in (plan.lon, plan.lat):
        try:
            values.append(parse_number(row.get(column)))
        except ValueError:
            raise ValueError(f"{column} is not a number: {str(row.get(column))[:40]!r}") from None
    if values[0] is None and values[1] is None:
        return None
    if values[0] is None or values[1] is None:
        raise ValueError(f"{plan.lon if values[0] is None else plan.lat} is empty")
    return values[0], values[1]


def _lonlat(pair: tuple[float, float], plan: _Plan) -> tuple[float, float]:
    """Return (lon, lat) from a raw pair; raise ValueError when it is no position in China."""
    a, b = pair
    lon, lat = (b, a) if plan.order == "latlon" else (a, b)
    if out_of_china(lon, lat) and not out_of_china(lat, lon):
        plan.swapped += 1
        return lat, lon
    if out_of_china(lon, lat):
        if max(abs(a), abs(b)) > 1000:
            raise ValueError(f"({a:g}, {b:g}) look like projected metres; give geographic coordinates")
        raise ValueError(f"({a:g}, {b:g}) is not a position in China (missing-value placeholder?)")
    return lon, lat


def _flag(lon: float, lat: float, options: SpatializeOptions) -> str | None:
    if options.boundary is not None:
        return None if options.boundary.contains(lon, lat) else f"outside the boundary {options.boundary.name}"
    return None if in_extent(lon, lat, options.extent) else "outside Wuhan's extent"


def _geocode(address: str, geocoder: Geocoder | None) -> tuple[tuple[float, float, str] | None, str]:
    if not address:
        return None, "no coordinates and no address"
    if geocoder is None:
        return None, f"address {address[:60]!r} needs a geocoder"
    try:
        result = geocoder.geocode(address)
    except GeocoderError as exc:
        return None, f"address {address[:60]!r}: {exc.message}"
    if result is None:
        return None, f"address {address[:60]!r} not found"
    return (result.lon, result.lat, result.method), ""


def _place(row: Mapping[str, Any], plan: _Plan, options: SpatializeOptions) -> tuple[float, float, str] | str:
    """Return (lon, lat, method) for a row, or the reason it stays unresolved."""
    reason = ""
    if plan.pair or (plan.lon and plan.lat):
        try:
            pair = _raw_pair(row, plan)
            if pair is not None:
                lon, lat = to_cgcs2000(*_lonlat(pair, plan), plan.crs)
                return lon, lat, f"coordinates:{plan.crs.value}"
            reason = "no coordinates"
        except ValueError as exc:
            reason = str(exc)
    address = str(row.get(plan.address) or "").strip() if plan.address else ""
    if reason and not address:
        return reason
    placed, why = _geocode(address, options.geocoder)
    if placed:
        return placed
    return f"{reason}; {why}" if reason else why


def _detect_order(rows: list[Mapping[str, Any]], plan: _Plan, options: SpatializeOptions) -> str | None:
    if options.order in ("lonlat", "latlon"):
        return options.order
    pairs = []
    for row in rows:
        try:
            pair = _raw_pair(row, plan)
        except ValueError:
            continue
        if pair:
            pairs.append(pair)
    default = "latlon" if plan.pair and _word(plan.pair) in ("latlng", "latlon") else "lonlat"
    return detect_order(pairs, options.extent) or (default if pairs else None)


def spatialize_rows(rows: Iterable[Mapping[str, Any]], options: SpatializeOptions = SpatializeOptions()
                    ) -> SpatializationResult:
    """Place tabular rows by their coordinates (any supported system, either order) or their address."""
    rows = list(rows)
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    plan = _find_columns(names, options, rows[:200])
    if plan.pair or (plan.lon and plan.lat):
        plan.order = _detect_order(rows, plan, options)
    features, xs, ys = [], [], []
    for number, row in enumerate(rows, start=1):
        placed = _place(row, plan, options)
        if isinstance(placed, str):
            plan.issues.append(RowIssue(number, placed))
            continue
        lon, lat, method = placed
        plan.methods[method] += 1
        if flag := _flag(lon, lat, options):
            plan.flags.append(RowIssue(number, flag))
        xs.append(lon)
        ys.append(lat)
        features.append({"type": "Feature", "id": number, "properties": dict(row),
                         "geometry": {"type": "Point", "coordinates": [round(lon, 8), round(lat, 8)]}})
    columns = {k: v for k, v in (("lon", plan.lon), ("lat", plan.lat), ("pair", plan.pair),
                                 ("address", plan.address)) if v}
    return _result(features, len(rows), plan, columns, xs, ys)


def _result(features: list[dict[str, Any]], rows: int, plan: _Plan, columns: dict[str, str],
            xs: list[float], ys: list[float]) -> SpatializationResult:
    report = SpatializationReport(
        rows=rows, placed=len(features), unresolved=len(plan.issues), flagged=len(plan.flags),
        methods=dict(plan.methods), source_crs=plan.crs.value, crs_source=plan.crs_source, order=plan.order,
        columns=columns, swapped=plan.swapped, unresolved_rows=tuple(plan.issues), flagged_rows=tuple(plan.flags))
    extent = (min(xs), min(ys), max(xs), max(ys)) if xs else None
    return SpatializationResult(tuple(features), report, extent)


def spatialize_geojson(doc: Mapping[str, Any], options: SpatializeOptions = SpatializeOptions()
                       ) -> SpatializationResult:
    """Take GeoJSON as it comes: keep every feature, convert its geometry to CGCS2000, note the system read."""
    if doc.get("type") == "FeatureCollection":
        items = list(doc.get("features") or [])
    elif doc.get("type") == "Feature":
        items = [doc]
    else:
        items = [{"type": "Feature", "properties": {}, "geometry": dict(doc)}]
    plan = _Plan()
    declared, inside = parse_crs(options.crs), geojson_crs(dict(doc))
    plan.crs, plan.crs_source = (declared, "declared") if declared else (inside, "geojson") if inside \
        else (Crs.WGS84, "default")
    sample = [p for f in items[:50] for p in list(iter_positions((f.get("geometry") or {}).get("coordinates")))[:5]]
    plan.order = options.order if options.order in ("lonlat", "latlon") else detect_order(sample, options.extent)
    swap = plan.order == "latlon"
    convert = (lambda x, y: to_cgcs2000(y, x, plan.crs)) if swap else (lambda x, y: to_cgcs2000(x, y, plan.crs))
    features, xs, ys = [], [], []
    for number, item in enumerate(items, start=1):
        geometry = item.get("geometry")
        box = geometry_extent(geometry) if isinstance(geometry, dict) else None
        if box is None:
            plan.issues.append(RowIssue(number, "feature has no geometry"))
            continue
        converted = _convert_geometry(geometry, convert)
        box = geometry_extent(converted)
        lon, lat = (converted["coordinates"][:2] if converted.get("type") == "Point"
                    else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
        if flag := _flag(lon, lat, options):
            plan.flags.append(RowIssue(number, flag))
        plan.methods[f"geojson:{plan.crs.value}"] += 1
        xs += [box[0], box[2]]
        ys += [box[1], box[3]]
        feature = {"type": "Feature", "properties": dict(item.get("properties") or {}), "geometry": converted}
        feature["id"] = item.get("id", number)
        features.append(feature)
    return _result(features, len(items), plan, {}, xs, ys)


def _convert_geometry(geometry: Mapping[str, Any], convert) -> dict[str, Any]:
    if geometry.get("type") == "GeometryCollection":
        return {"type": "GeometryCollection",
                "geometries": [_convert_geometry(g, convert) for g in geometry.get("geometries") or ()]}
    return {"type": geometry["type"], "coordinates": map_coordinates(geometry["coordinates"], convert)}


def spatialize(data: Any, options: SpatializeOptions = SpatializeOptions()) -> SpatializationResult:
    """Spatialize a dataset: a GeoJSON object, or tabular rows (mappings of column → value)."""
    if isinstance(data, Mapping) and "type" in data:
        return spatialize_geojson(data, options)
    return spatialize_rows(data, options)


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV file's rows (UTF-8 with or without BOM, else GB18030)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    return list(csv.DictReader(io.StringIO(text)))


def spatialize_file(path: str | Path, options: SpatializeOptions = SpatializeOptions()) -> SpatializationResult:
    """Spatialize a CSV or GeoJSON file."""
    path = Path(path)
    if path.suffix.lower() in (".json", ".geojson"):
        return spatialize(json.loads(path.read_text(encoding="utf-8-sig")), options)
    return spatialize_rows(read_rows(path), options)
