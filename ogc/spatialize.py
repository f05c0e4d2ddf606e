"""Spatialize datasets: turn tabular rows (coordinates or addresses) and GeoJSON into CGCS2000 features and a report.

Every row ends placed (a feature) or listed as unresolved with its reason; placed points outside Wuhan's extent,
or outside a boundary polygon when one is given, are flagged. Output is a GeoJSON FeatureCollection in CRS84
lon/lat order (CGCS2000 ≈ WGS84 at the sub-metre level) plus a SpatializationReport.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.errors import BadRequestError
from ogc import columns
from ogc.boundary import Boundary, Extent, geometry_extent, geojson_crs, iter_positions, map_coordinates
from ogc.columns import PAIR, parse_number
from ogc.coords import (WUHAN_EXTENT, Crs, crs_from_column_names, detect_order, in_extent, out_of_china,
                        to_cgcs2000)
from ogc.geocode import Geocoder, place_address
from ogc.geometry import check_geometry
from ogc.projected import Projected, axis_columns, declared_projection, member_projection, source_system

PLACEMENT, PRECISION = "wodp_placement", "wodp_precision"  # added to each feature's properties


class UnknownCrsError(BadRequestError):
    """A declared source coordinate system is not one the platform converts."""

    code = "unknown-crs"

@dataclass(frozen=True)
class SpatializeOptions:
    """How to read one dataset: declared system, columns (else detected), geocoder, boundary or extent."""

    crs: str | None = None              # declared source system of the coordinates ("GCJ-02", "EPSG:4490", "baidu" …)
    crs_origin: str | None = None       # where it was declared ("dataset", "distribution"), for the report
    default_crs: str | None = None      # settings' spatial.source_crs: for data that declare nothing
    lon_column: str | None = None
    lat_column: str | None = None
    coord_column: str | None = None     # one column holding "lng,lat" (or "lat,lng")
    address_column: str | None = None
    order: str = "auto"                 # "auto", "lonlat" or "latlon"
    geocoder: Geocoder | None = None
    boundary: Boundary | None = None    # flag points outside it (else outside `extent`)
    districts: Boundary | None = None   # named district polygons: an address's named district must hold its place
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
    crs_source: str                     # "declared"/"dataset"/"distribution", "column names", "geojson", "settings",
                                        # "assumed" (nothing declared it: WGS84 assumed, said so in notes)
    order: str | None                   # "lonlat" or "latlon" as read from the data
    columns: dict[str, str]
    swapped: int = 0                    # rows whose pair only fitted the other order
    unresolved_rows: tuple[RowIssue, ...] = ()
    flagged_rows: tuple[RowIssue, ...] = ()
    precision: dict[str, int] = field(default_factory=dict)   # placed features by precision (PRECISIONS)
    order_source: str | None = None     # "values", "names", "settings": how the axis order was found
    repaired: int = 0                   # invalid geometries repaired (make_valid), each listed in flagged_rows
    notes: tuple[str, ...] = ()         # how the file was read: header, columns, system, order

    @property
    def crs_assumed(self) -> bool:
        """Tell whether nothing declared the source system (WGS84 was assumed)."""
        return self.crs_source == "assumed"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self) | {"crs_assumed": self.crs_assumed}


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
    crs: Crs | Projected = Crs.WGS84
    crs_source: str = "assumed"
    order: str | None = None
    issues: list[RowIssue] = field(default_factory=list)
    flags: list[RowIssue] = field(default_factory=list)
    methods: Counter = field(default_factory=Counter)
    precision: Counter = field(default_factory=Counter)
    swapped: int = 0
    order_source: str | None = None
    repaired: int = 0
    notes: list[str] = field(default_factory=list)


def _find_columns(names: list[str], options: SpatializeOptions, sample: list[Mapping[str, Any]]) -> _Plan:
    plan = _Plan(options.lon_column, options.lat_column, options.coord_column, options.address_column)
    if options.lon_column or options.coord_column:
        plan.notes.append("coordinate columns given by the mapping or settings")
    projected = declared_projection(options.crs, options.default_crs)
    if projected and not (plan.lon or plan.pair):  # metres: columns by the CRS's axes, never by Wuhan's degrees
        plan.lon, plan.lat, how = axis_columns(names, projected, sample)
        if plan.lon:
            plan.notes.append(f"{projected.value}: easting column {plan.lon}, northing column {plan.lat}, "
                              f"found {how}")
    if not (plan.lon and plan.lat) and not plan.pair:
        plan.lon, plan.lat = columns.by_names(names)
        if not (plan.lon and plan.lat):
            plan.pair = next((n for n in names if columns.is_pair_name(n) and columns.pairs_in(sample, n)), None) \
                or next((n for n in names if columns.pairs_in(sample, n)), None)
        if not (plan.lon or plan.pair):
            plan.lon, plan.lat = columns.by_values(names, sample)
            if plan.lon:
                plan.notes.append(f"coordinate columns found by their values: longitude {plan.lon}, "
                                  f"latitude {plan.lat}")
    if plan.lon and plan.lat and names.index(plan.lat) < names.index(plan.lon):
        plan.notes.append(f"latitude column {plan.lat} comes before longitude column {plan.lon} in the file")
    if not plan.address:
        plan.address = columns.address_column(names, (plan.lon, plan.lat, plan.pair))
    _choose_crs(plan, options, crs_from_column_names([c for c in (plan.lon, plan.lat, plan.pair) if c]))
    return plan


def _choose_crs(plan: _Plan, options: SpatializeOptions, named: Crs | None,
                inside: Crs | Projected | None = None) -> None:
    """Take the declared source system, else what the data says, else the settings' default, else assume WGS84."""
    declared, default = source_system(options.crs), source_system(options.default_crs)
    if options.crs and declared is None:
        raise UnknownCrsError(f"source coordinate system {options.crs!r} is not one we convert "
                              "(WGS84, CGCS2000, GCJ-02, BD-09, or a projected EPSG code on CGCS2000 or WGS84 "
                              "such as EPSG:4547)")
    found = named or inside
    if declared:
        plan.crs, plan.crs_source = declared, options.crs_origin or "declared"
        if found and found is not declared:
            plan.notes.append(f"the data says {found.value} ({'column names' if named else 'geojson'}) but "
                              f"{declared.value} is declared: read as {declared.value}")
    elif found:
        plan.crs, plan.crs_source = found, "column names" if named else "geojson"
    elif default:
        plan.crs, plan.crs_source = default, "settings"
    else:
        plan.crs, plan.crs_source = Crs.WGS84, "assumed"
        if plan.lon or plan.pair or not plan.address:  # an address-only table has no coordinates to read
            plan.notes.append("no source coordinate system declared: assumed WGS84 (= CGCS2000 to under a metre)")


def _raw_pair(row: Mapping[str, Any], plan: _Plan) -> tuple[float, float] | None:
    """Return the row's two numbers in column order; None when absent; raise ValueError naming the bad field."""
    if plan.pair:
        text = str(row.get(plan.pair) or "").strip()
        if not text:
            return None
        match = PAIR.match(unicodedata.normalize("NFKC", text))
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


def _place(row: Mapping[str, Any], plan: _Plan, options: SpatializeOptions
           ) -> tuple[float, float, str, str] | str:
    """Return (lon, lat, method, precision) for a row, or the reason it stays unresolved."""
    reason = ""
    if plan.pair or (plan.lon and plan.lat):
        try:
            pair = _raw_pair(row, plan)
            if pair is not None:
                if isinstance(plan.crs, Projected):  # (easting, northing), in the order plan.order says
                    lon, lat = plan.crs.to_cgcs2000(*(pair[::-1] if plan.order == "latlon" else pair))
                else:
                    lon, lat = to_cgcs2000(*_lonlat(pair, plan), plan.crs)
                return lon, lat, f"coordinates:{plan.crs.value}", "exact"
            reason = "no coordinates"
        except ValueError as exc:
            reason = str(exc)
    address = str(row.get(plan.address) or "").strip() if plan.address else ""
    if reason and not address:
        return reason
    districts = options.districts or (options.boundary if options.boundary and len(options.boundary.parts) > 1
                                      else None)  # a boundary file of named districts checks addresses too
    placed, why = place_address(address, options.geocoder, districts)
    if placed:
        return placed
    return f"{reason}; {why}" if reason else why


def _detect_order(rows: list[Mapping[str, Any]], plan: _Plan, options: SpatializeOptions) -> str | None:
    if isinstance(plan.crs, Projected):  # columns are easting, northing; a pair column is in the CRS's order
        plan.order_source = "crs"
        order = "latlon" if plan.pair and plan.crs.north_first else "lonlat"
        if plan.pair:
            plan.notes.append(f"pairs in column {plan.pair} read in the axis order of {plan.crs.value}: "
                              f"{plan.crs.axis_order()}")
        return order
    if options.order in ("lonlat", "latlon"):
        plan.order_source = "settings"
        return options.order
    pairs = []
    for row in rows:
        try:
            pair = _raw_pair(row, plan)
        except ValueError:
            continue
        if pair:
            pairs.append(pair)
    default = "latlon" if plan.pair and columns.word(plan.pair) in ("latlng", "latlon") else "lonlat"
    found = detect_order(pairs, options.extent)
    plan.order_source = "values" if found else "names" if pairs else None
    order = found or (default if pairs else None)
    if order:
        named = (f"columns {plan.lon}, {plan.lat}" if plan.lon else f"column {plan.pair}")
        plan.notes.append(f"axis order {order} ({named}), found by the {plan.order_source}")
    return order


def _properties(source: Mapping[str, Any], method: str, precision: str) -> dict[str, Any]:
    """Return a feature's properties: the source's values as they are, then how it was placed."""
    properties = dict(source)
    properties.setdefault(PLACEMENT, method)
    properties.setdefault(PRECISION, precision)
    return properties


def spatialize_rows(rows: Iterable[Mapping[str, Any]], options: SpatializeOptions = SpatializeOptions()
                    ) -> SpatializationResult:
    """Place tabular rows by their coordinates (any supported system, either order) or their address."""
    notes = list(getattr(rows, "notes", ()))  # ogc.datafiles.Rows: how the file was read (header …)
    rows = list(rows)
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    plan = _find_columns(names, options, rows[:200])
    plan.notes[:0] = notes
    if plan.pair or (plan.lon and plan.lat):
        plan.order = _detect_order(rows, plan, options)
    features, xs, ys = [], [], []
    for number, row in enumerate(rows, start=1):
        placed = _place(row, plan, options)
        if isinstance(placed, str):
            plan.issues.append(RowIssue(number, placed))
            continue
        lon, lat, method, precision = placed
        plan.methods[method] += 1
        plan.precision[precision] += 1
        if flag := _flag(lon, lat, options):
            plan.flags.append(RowIssue(number, flag))
        xs.append(lon)
        ys.append(lat)
        features.append({"type": "Feature", "id": number, "properties": _properties(row, method, precision),
                         "geometry": {"type": "Point", "coordinates": [round(lon, 8), round(lat, 8)]}})
    found = {k: v for k, v in (("lon", plan.lon), ("lat", plan.lat), ("pair", plan.pair),
                               ("address", plan.address)) if v}
    return _result(features, len(rows), plan, found, xs, ys)


def _result(features: list[dict[str, Any]], rows: int, plan: _Plan, found: dict[str, str],
            xs: list[float], ys: list[float]) -> SpatializationResult:
    report = SpatializationReport(
        rows=rows, placed=len(features), unresolved=len(plan.issues), flagged=len(plan.flags),
        methods=dict(plan.methods), source_crs=plan.crs.value, crs_source=plan.crs_source, order=plan.order,
        columns=found, swapped=plan.swapped, unresolved_rows=tuple(plan.issues), flagged_rows=tuple(plan.flags),
        precision=dict(plan.precision), order_source=plan.order_source, repaired=plan.repaired,
        notes=tuple(plan.notes))
    extent = (min(xs), min(ys), max(xs), max(ys)) if xs else None
    return SpatializationResult(tuple(features), report, extent)


def spatialize_geojson(doc: Mapping[str, Any], options: SpatializeOptions = SpatializeOptions()
                       ) -> SpatializationResult:
    """Take GeoJSON as it comes: keep every feature, convert its geometry to CGCS2000, check it, note the system."""
    if doc.get("type") == "FeatureCollection":
        items = list(doc.get("features") or [])
    elif doc.get("type") == "Feature":
        items = [doc]
    else:
        items = [{"type": "Feature", "properties": {}, "geometry": dict(doc)}]
    plan = _Plan()
    _choose_crs(plan, options, None, geojson_crs(dict(doc)) or member_projection(doc))
    sample = [p for f in items[:50] for p in list(iter_positions((f.get("geometry") or {}).get("coordinates")))[:5]]
    plan.order = options.order if options.order in ("lonlat", "latlon") else detect_order(sample, options.extent)
    swap = plan.order == "latlon"
    convert = (lambda x, y: to_cgcs2000(y, x, plan.crs)) if swap else (lambda x, y: to_cgcs2000(x, y, plan.crs))
    if isinstance(plan.crs, Projected):  # GeoJSON positions are (easting, northing), as GDAL writes them
        plan.order, plan.order_source = "lonlat", "crs"
        convert = plan.crs.to_cgcs2000
    features, xs, ys = [], [], []
    for number, item in enumerate(items, start=1):
        geometry = item.get("geometry")
        box = geometry_extent(geometry) if isinstance(geometry, dict) else None
        if box is None:
            plan.issues.append(RowIssue(number, "feature has no geometry"))
            continue
        try:
            converted, problem = check_geometry(_convert_geometry(geometry, convert))
        except ValueError as exc:  # a position outside the projected system's area of use
            plan.issues.append(RowIssue(number, str(exc)))
            continue
        if converted is None:
            plan.issues.append(RowIssue(number, problem))
            continue
        if problem:
            plan.repaired += 1
            plan.flags.append(RowIssue(number, problem))
        box = geometry_extent(converted)
        lon, lat = (converted["coordinates"][:2] if converted.get("type") == "Point"
                    else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
        if flag := _flag(lon, lat, options):
            plan.flags.append(RowIssue(number, flag))
        plan.methods[f"geojson:{plan.crs.value}"] += 1
        plan.precision["exact"] += 1
        xs += [box[0], box[2]]
        ys += [box[1], box[3]]
        feature = {"type": "Feature", "geometry": converted,
                   "properties": _properties(item.get("properties") or {}, f"geojson:{plan.crs.value}", "exact")}
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


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a CSV file's rows (UTF-8 with or without BOM, else GB18030; a first row of numbers is data)."""
    from ogc.datafiles import parse_data

    path = Path(path)
    return parse_data(path.read_bytes(), "text/csv", path.name)


def spatialize_file(path: str | Path, options: SpatializeOptions = SpatializeOptions()) -> SpatializationResult:
    """Spatialize a CSV, XLSX, JSON or GeoJSON file."""
    from ogc.datafiles import parse_data

    path = Path(path)
    return spatialize(parse_data(path.read_bytes(), None, path.name), options)
