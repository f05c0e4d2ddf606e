"""Values both feature-store backends read the same way: instants for `datetime`, a geometry's bounding box."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from ogc.features import BBox, FeatureStoreError


def normalise_instant(value: str, *, end: bool = False) -> str:
    """Return an ISO 8601 date or date-time as 'YYYY-MM-DDTHH:MM:SSZ' (UTC); a date is its first/last second.

    Raises ValueError on anything else (the message names the value).
    """
    text = str(value).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            if end:
                moment += timedelta(days=1, seconds=-1)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            moment = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not an RFC 3339 date or date-time: {text!r}") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def geometry_bbox(geometry: dict | None) -> BBox | None:
    """Return the lon/lat bounding box of a GeoJSON geometry (None when empty or absent)."""
    if not geometry:
        return None
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if not isinstance(coords, (list, tuple)):
            raise FeatureStoreError(f"a {geometry.get('type')} geometry has coordinates that are not arrays")
        if coords and isinstance(coords[0], (int, float)):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        else:
            for part in coords or ():
                walk(part)

    if geometry.get("type") == "GeometryCollection":
        boxes = [b for g in geometry.get("geometries", ()) if (b := geometry_bbox(g))]
        for b in boxes:
            xs += [b[0], b[2]]
            ys += [b[1], b[3]]
    else:
        walk(geometry.get("coordinates"))
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def trim_features(features: list[dict], query) -> list[dict]:
    """Keep only the properties a query selects and drop geometries it skips, in place; return the features."""
    if query.select_properties or query.skip_geometry:
        for feature in features:
            if query.select_properties:
                feature["properties"] = {k: v for k, v in feature["properties"].items()
                                         if k in query.select_properties}
            if query.skip_geometry:
                feature["geometry"] = None
    return features


def extent_after(bbox: BBox | None, added: BBox | None, removed: list[tuple], reaches) -> tuple[bool, BBox | None]:
    """A layer's extent after a write, from its stored extent, without reading the layer.

    ``added`` is the extent of the rows written, ``removed`` the boxes of the rows deleted, and
    ``reaches(i, value)`` tells whether a row left in the layer still reaches edge ``i`` (0 minx, 1 miny,
    2 maxx, 3 maxy) at ``value``. Returns ``(False, None)`` when a deleted row made an edge that no row reaches
    any more: only a full read gives the new edge then.
    """
    if bbox is not None:
        for box in removed:
            for i, edge in enumerate(bbox):
                if box[i] is not None and box[i] == edge and not reaches(i, edge):
                    return False, None
    if bbox is None or added is None:
        return True, bbox if added is None else tuple(added)
    return True, (min(bbox[0], added[0]), min(bbox[1], added[1]), max(bbox[2], added[2]), max(bbox[3], added[3]))
