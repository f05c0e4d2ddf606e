"""The feature store behind OGC API Features: one layer per spatialized dataset, plus the catalogue's records.

Every backend keeps the same contract (``FeatureStore``), so pygeoapi's provider (``ogc.provider``) and the
tests see no difference between the embedded SQLite store (``ogc.features.sqlite``, SQLite's built-in R*Tree,
no compiled extension) and PostGIS (``ogc.features.postgis``, the scale-out backend).

Coordinates are stored and exchanged in CGCS2000 longitude/latitude order (CRS84 axis order; CGCS2000 is
taken equal to WGS84 at the sub-metre level, docs/spatialization.md). Reprojection to other CRSs is the
provider's job, never the store's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Protocol, Sequence

Feature = dict[str, Any]  # a GeoJSON Feature: {"type": "Feature", "id": ..., "geometry": ..., "properties": ...}
BBox = tuple[float, float, float, float]  # minlon, minlat, maxlon, maxlat


@dataclass(frozen=True)
class LayerInfo:
    """What the store knows of one layer (an OGC API collection)."""

    id: str  # collection id: the dataset id (e.g. "demo.d001-0001"), or "catalog" for the records
    dataset_uri: str | None  # the dataset the layer was made from (None for the catalogue)
    title_zh: str
    title_en: str
    count: int = 0
    bbox: BBox | None = None  # extent of the features (None when empty)
    geometry_type: str | None = None  # "Point", "Polygon", … or "Geometry" when mixed
    fields: dict[str, str] = field(default_factory=dict)  # property -> "string" | "number" | "integer" | "boolean" | "date"
    datetime_field: str | None = None  # property holding each feature's date (ISO 8601), for `datetime`
    kind: str = "feature"  # "feature" or "record" (OGC API Records)
    modified: datetime | None = None  # when the dataset's catalogue record last changed
    report: dict[str, Any] = field(default_factory=dict)  # the spatialization report (ogc.spatialize)


@dataclass(frozen=True)
class FeatureQuery:
    """One items request, already in storage terms (lon/lat bbox, parsed datetime)."""

    bbox: BBox | None = None
    datetime_start: str | None = None  # ISO 8601 date or date-time; None: open
    datetime_end: str | None = None
    properties: Sequence[tuple[str, str]] = ()  # property = value (string comparison)
    q: Sequence[str] = ()  # free-text words, all must match (records)
    sortby: Sequence[tuple[str, bool]] = ()  # (property, ascending)
    select_properties: Sequence[str] = ()  # empty: all
    skip_geometry: bool = False
    offset: int = 0
    limit: int = 10


class FeatureStoreError(Exception):
    """The feature store failed (message names the layer and the cause)."""


class FeatureStore(Protocol):
    """What every backend offers."""

    def put_layer(self, info: LayerInfo, features: Iterable[Feature]) -> LayerInfo:
        """Replace a layer atomically (all features or none); return its info with count and bbox computed."""

    def drop_layer(self, layer_id: str) -> bool:
        """Remove a layer; False when there was none."""

    def layer(self, layer_id: str) -> LayerInfo | None: ...

    def layers(self) -> list[LayerInfo]: ...

    def query(self, layer_id: str, query: FeatureQuery) -> tuple[list[Feature], int]:
        """Return one page of features and the number matched (before paging)."""

    def get(self, layer_id: str, feature_id: str) -> Feature | None: ...

    def close(self) -> None: ...

    # Optional, added for the catalogue's records layer (ogc.records); backward compatible: a backend without
    # them gets the whole 'catalog' layer rewritten by put_layer on every publish. PostGIS: please implement
    # both (same semantics as ogc/features/sqlite.py) so a 200-dataset publish does not rewrite 10,000 records.
    # def upsert_features(self, layer_id: str, features: Iterable[Feature], info: LayerInfo | None = None) -> LayerInfo:
    #     """Insert or replace features by id (layer created empty from info when missing); return the new info."""
    # def delete_features(self, layer_id: str, feature_ids: Iterable[str]) -> LayerInfo | None:
    #     """Delete features by id; return the new info (None when the layer does not exist)."""
    # def iter_features(self, layer_id: str) -> Iterator[Feature]:
    #     """Yield the whole layer in order (GET /layers/<id>.geojson; else it pages through query)."""


def open_feature_store(settings) -> FeatureStore:
    """Open the backend the settings name (features.backend)."""
    backend = settings.features.backend
    if backend == "sqlite":
        from ogc.features.sqlite import SQLiteFeatureStore

        return SQLiteFeatureStore(settings.path(settings.features.path))
    if backend == "postgis":
        from ogc.features.postgis import PostGISFeatureStore

        dsn = settings.features.dsn or (settings.database.url or "").replace("+psycopg://", "://", 1)
        if not dsn:  # the shared database (database.url) serves when the features have no DSN of their own
            raise FeatureStoreError("features.backend is postgis but neither features.dsn nor database.url is set "
                                    "(WODP_FEATURES__DSN, WODP_DATABASE__URL)")
        return PostGISFeatureStore(dsn)
    raise FeatureStoreError(f"unknown features.backend {backend!r}")
