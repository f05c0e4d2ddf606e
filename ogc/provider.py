"""Serve FeatureStore layers to pygeoapi: one feature provider and one record provider (OGC API Records).

pygeoapi makes a provider per request from the collection's provider definition (``load_plugin``); the
definition names the store by a key (``data``, see ``register_store``: the store itself cannot sit in
pygeoapi's config, which is deep-copied) and the layer (``layer``). Construction is cheap: one registry read.

Coordinates come from the store in CGCS2000 lon/lat; ``crs_transform_spec`` (made by ``ogc.crs``) names the
output CRS, and the transform for it is built once per process (``ogc.crs.output_transform``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace

from pygeoapi.provider.base import (BaseProvider, ProviderConnectionError, ProviderInvalidQueryError,
                                    ProviderItemNotFoundError, ProviderQueryError)

from ogc import crs as ogc_crs
from ogc.cql import FilterError, compile_filter
from ogc.features import FeatureQuery, FeatureStoreError
from ogc.features.values import normalise_instant, trim_features

_STORES: dict[str, object] = {}
_lock = threading.Lock()
MAX_Q_WORDS = 16
MAX_Q_LENGTH = 200
TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean", "date": "string"}


def register_store(store) -> str:
    """Make a feature store reachable from provider definitions; return its key (the definition's ``data``)."""
    key = f"wodp-features-{id(store):x}"
    with _lock:
        _STORES[key] = store
    return key


def unregister_store(key: str) -> None:
    with _lock:
        _STORES.pop(key, None)


def parse_datetime(value: str | None) -> tuple[str | None, str | None]:
    """Return (start, end) of an RFC 3339 instant or interval ('..' or empty: open); ValueError when invalid."""
    if value is None or value == "":
        return None, None
    text = str(value).strip()
    if "/" in text:
        parts = text.split("/")
        if len(parts) != 2:
            raise ValueError(f"datetime interval must have one '/': {text!r}")
        start, end = (None if p in ("", "..") else p for p in parts)
        if start is None and end is None:
            raise ValueError("datetime interval must have at least one bound")
    else:
        start = end = text
    start_n = normalise_instant(start) if start else None
    end_n = normalise_instant(end, end=True) if end else None
    if start_n and end_n and start_n > end_n:
        raise ValueError(f"datetime interval ends before it starts: {text!r}")
    return start_n, end_n


def parse_q(value: str | None) -> tuple[str, ...]:
    """Return the free-text words of ``q`` (split on spaces and commas); ValueError when unreasonable."""
    if not value:
        return ()
    if len(value) > MAX_Q_LENGTH:
        raise ValueError(f"q is longer than {MAX_Q_LENGTH} characters")
    words = tuple(w for w in re.split(r"[\s,，]+", value) if w)
    if len(words) > MAX_Q_WORDS:
        raise ValueError(f"q has more than {MAX_Q_WORDS} words")
    return words


class FeatureStoreProvider(BaseProvider):
    """pygeoapi feature provider over one FeatureStore layer."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.store = _STORES.get(self.data)
        self.layer_id = provider_def.get("layer")
        info = self.store.layer(self.layer_id) if self.store is not None else None
        if info is None:
            raise ProviderConnectionError(f"layer {self.layer_id} is not in the feature store")
        self.info = info
        self.id_field = "id"
        self.time_field = info.datetime_field
        self.title_field = provider_def.get("title_field")
        self._fields = {name: {"type": TYPES.get(kind, "string")} for name, kind in info.fields.items()}

    def get_fields(self) -> dict:
        return self._fields

    def _query_of(self, offset, limit, bbox, datetime_, properties, sortby, select_properties, skip_geometry,
                  q) -> FeatureQuery:
        try:
            start, end = parse_datetime(datetime_)
            words = parse_q(q)
        except ValueError as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
        return FeatureQuery(
            bbox=tuple(bbox[:4]) if bbox else None, datetime_start=start, datetime_end=end,
            properties=tuple((k, str(v)) for k, v in properties or ()), q=words,
            sortby=tuple((s["property"], s.get("order", "+") != "-") for s in sortby or ()),
            select_properties=tuple(select_properties or ()), skip_geometry=bool(skip_geometry),
            offset=int(offset), limit=int(limit))

    def query(self, offset=0, limit=10, resulttype="results", bbox=[], datetime_=None, properties=[], sortby=[],
              select_properties=[], skip_geometry=False, q=None, crs_transform_spec=None, **kwargs) -> dict:
        """Return one page of the layer as a GeoJSON FeatureCollection with numberMatched/numberReturned."""
        predicate = self._filter(kwargs.get("filterq"))
        query = self._query_of(offset, 0 if resulttype == "hits" else limit, bbox, datetime_, properties, sortby,
                               select_properties, skip_geometry, q)
        try:
            features, matched = self._run(query) if predicate is None else self._run_filtered(query, predicate)
        except FeatureStoreError as exc:
            raise ProviderQueryError(user_msg=str(exc)) from exc
        func = self._output(crs_transform_spec)
        for feature in features:
            feature["geometry"] = ogc_crs.transform_geometry(feature["geometry"], func)
        return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
                "numberReturned": len(features)}

    def _run(self, query: FeatureQuery) -> tuple[list, int]:
        return self.store.query(self.layer_id, query)

    def _filter(self, filterq):
        """Compile a CQL2 filter (pygeofilter AST from pygeoapi) into a predicate (ogc.cql); None without one."""
        if filterq is None:
            return None
        try:
            return compile_filter(filterq, self.info.fields)
        except FilterError as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc

    def _run_filtered(self, query: FeatureQuery, predicate) -> tuple[list, int]:
        """Run the query's other conditions in the store, keep what the filter accepts, then page here."""
        whole = replace(query, offset=0, limit=max(self.info.count, 1), select_properties=(), skip_geometry=False)
        kept = [f for f in self._run(whole)[0] if predicate(f)]
        page = kept[query.offset:query.offset + query.limit] if query.limit else []
        return trim_features(page, query), len(kept)

    def get(self, identifier, crs_transform_spec=None, **kwargs) -> dict:
        """Return one feature by id (ProviderItemNotFoundError: 404)."""
        feature = self.store.get(self.layer_id, str(identifier))
        if feature is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {identifier} in {self.layer_id}")
        feature["geometry"] = ogc_crs.transform_geometry(feature["geometry"], self._output(crs_transform_spec))
        return feature

    @staticmethod
    def _output(spec):
        if spec is None:
            return None
        try:
            return ogc_crs.output_transform(spec.target_crs_uri)
        except ValueError as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc


class CatalogRecordProvider(FeatureStoreProvider):
    """pygeoapi record provider over the catalogue's records layer (OGC API Records)."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.title_field = "title"

    @staticmethod
    def _lift_links(feature: dict) -> dict:
        """Move the record's links from its properties to the record itself (OGC API Records core)."""
        links = feature["properties"].pop("links", None)
        if links is not None:
            feature["links"] = links
        return feature

    def _run(self, query: FeatureQuery) -> tuple[list, int]:
        """``q`` is answered by the portal's search index where the platform gave one (ogc.records)."""
        from ogc import records

        index = records.text_index_for(self.store) if query.q else None
        if index is None:
            return super()._run(query)
        return records.query_through_index(self.store, self.layer_id, query, index)

    def query(self, *args, **kwargs) -> dict:
        result = super().query(*args, **kwargs)
        result["features"] = [self._lift_links(f) for f in result["features"]]
        return result

    def get(self, identifier, crs_transform_spec=None, **kwargs) -> dict:
        return self._lift_links(super().get(identifier, crs_transform_spec, **kwargs))
