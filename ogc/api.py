"""Drive pygeoapi 0.24 with our own collections: OGC API Features and Records at /ogc, changed without a restart.

``OgcApi(settings, features)`` builds pygeoapi's config dict from our settings (never from pygeoapi's
environment variables; ``pygeoapi.flask_app`` is never imported) and one ``pygeoapi.api.API`` over it. The
collections are the feature store's layers: one per spatialized dataset plus ``catalog`` (the records).

For the code that publishes layers (``ogc.layers``):

- ``OgcApi.sync_layer(layer_id)``: call after ``FeatureStore.put_layer`` (new or replaced layer): the
  collection appears or is updated at once (extent, fields, titles);
- ``OgcApi.drop(layer_id)``: call after ``FeatureStore.drop_layer``: the collection answers 404 at once;
- ``OgcApi.sync_all()``: re-read every layer (e.g. after a bulk rebuild).

A layer whose dataset's data not everyone may read (its open type: 有条件开放, 不予开放; docs/access.md) is not
offered as a collection: ``OgcApi(..., public=...)`` is told by its caller which layers are public.

Each change swaps in a new ``resources`` dict (requests in flight keep the old one) and marks the OpenAPI
document stale; it is regenerated on the next ``/ogc/openapi`` request, so adding a layer costs microseconds.
The CRS and logging fixes pygeoapi needs are installed by ``ogc.crs.install`` (see its docstring).
"""

from __future__ import annotations

import logging
import threading
from importlib import resources as importlib_resources
from typing import Callable

from ogc import crs as ogc_crs
from ogc.features import LayerInfo
from ogc.provider import register_store, unregister_store

log = logging.getLogger(__name__)

LANGUAGES = ["zh-CN", "en"]
WUHAN_BBOX = [113.68, 29.97, 115.08, 31.36]
DATETIME_PARAMETER = {
    "name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
    "description": "RFC 3339 date-time or interval (open ends as '..'): only items whose time intersects it",
    "schema": {"type": "string"}}
PROVIDERS = {"feature": "ogc.provider.FeatureStoreProvider", "record": "ogc.provider.CatalogRecordProvider"}
# Conformance classes pygeoapi claims for every feature collection that our providers do not implement: no
# transactions (POST/PUT/DELETE answer 405), no ``/schema`` resource. CQL2 text filters work (ogc/cql.py, both
# backends); CQL2 JSON is not claimed (pygeoapi reads it from a POST body, and /ogc answers GET only).
# /ogc/conformance claims only what works (tests/test_ogc_conformance.py makes one request per claimed class).
NOT_IMPLEMENTED = frozenset({
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/advanced-property-roles",
})


def claim_only_what_works() -> None:
    """Drop the classes we do not implement from the lists pygeoapi's conformance handler reads (idempotent)."""
    from pygeoapi.api import itemtypes

    for name in ("CONFORMANCE_CLASSES_FEATURES", "CONFORMANCE_CLASSES_RECORDS"):
        classes = getattr(itemtypes, name)
        classes[:] = [c for c in classes if c not in NOT_IMPLEMENTED]


def _both(zh: str, en: str) -> dict:
    return {"zh-CN": zh, "en": en or zh}


def build_config(settings) -> dict:
    """Return pygeoapi's configuration dict (no collections) made from our settings."""
    site = settings.site
    base = settings.base_uri
    return {
        "server": {
            "bind": {"host": settings.server.host, "port": settings.server.port},
            "url": f"{base}/ogc",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": list(LANGUAGES),
            "pretty_print": False,
            "limits": {"default_items": settings.features.default_limit,
                       "max_items": settings.features.max_limit, "on_exceed": "error"},
            "map": {"url": f"{base}/static", "attribution": "天地图 Tianditu"},
            "templates": {"path": str(importlib_resources.files("ogc") / "templates")},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": _both(site.title_zh, site.title_en),
                "description": _both(site.description_zh, site.description_en),
                "keywords": {"zh-CN": ["开放数据", "武汉"], "en": ["open data", "Wuhan"]},
                "keywords_type": "theme",
                "terms_of_service": f"{base}/",
                "url": f"{base}/",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": _both(site.title_zh, site.title_en), "url": f"{base}/"},
            "contact": {"name": _both(site.title_zh, site.title_en), "url": f"{base}/",
                        "role": "pointOfContact"},
        },
        "resources": {},
    }


class OgcApi:
    """pygeoapi's API over the feature store's layers; collections added and removed while serving."""

    def __init__(self, settings, features, public: Callable[[LayerInfo], bool] | None = None) -> None:
        self.settings = settings
        self.features = features
        self.public = public or (lambda info: True)  # may everyone read this layer's data?
        self._key = register_store(features)
        self._lock = threading.RLock()
        self._openapi: dict | None = None
        self.config = build_config(settings)
        self.config["resources"] = {info.id: self.resource(info) for info in features.layers() if self.public(info)}
        self._api = None

    @property
    def api(self):
        """pygeoapi's API over our config, made at first use (or by ``warm_up``): importing pygeoapi and building
        pygeofilter's CQL parsers costs ~2 s of CPU, which the start-up's first answer does not wait for."""
        if self._api is None:
            with self._lock:
                if self._api is None:
                    ogc_crs.install()
                    claim_only_what_works()
                    from pygeoapi.api import API  # imported here, deliberately: pygeoapi is configured by our dict

                    self._api = API(self.config, {})  # keeps self.config itself: the collections stay ours
        return self._api

    def warm_up(self) -> threading.Thread:
        """Make pygeoapi's API in a background thread (the platform starts it once it is open)."""
        thread = threading.Thread(target=lambda: self.api, name="ogc-warm-up", daemon=True)
        thread.start()
        return thread

    # -- collections -------------------------------------------------------------------------
    def resource(self, info: LayerInfo) -> dict:
        """Return the pygeoapi resource (collection) definition of one layer."""
        kind = "record" if info.kind == "record" else "feature"
        provider = {"type": kind, "name": PROVIDERS[kind], "data": self._key, "layer": info.id, "id_field": "id"}
        if kind == "feature":
            provider.update(crs=list(ogc_crs.SUPPORTED_CRS), storage_crs=ogc_crs.STORAGE_CRS)
        links = []
        if info.dataset_uri:
            links.append({"type": "text/html", "rel": "describedby", "title": "数据集 Dataset",
                          "href": info.dataset_uri})
            links.append({"type": "application/geo+json", "rel": "alternate", "title": "GeoJSON (whole layer)",
                          "href": f"{self.settings.base_uri}/layers/{info.id}.geojson"})
        return {
            "type": "collection",
            "title": _both(info.title_zh, info.title_en),
            "description": _both(info.title_zh, info.title_en),
            "keywords": {"zh-CN": ["数据目录"] if kind == "record" else ["空间数据"],
                         "en": ["catalogue"] if kind == "record" else ["spatial data"]},
            "links": links,
            "extents": {"spatial": {"bbox": list(info.bbox or WUHAN_BBOX), "crs": ogc_crs.CRS84}},
            "providers": [provider],
        }

    def collection_ids(self) -> list[str]:
        return list(self.config["resources"])

    def _swap(self, change) -> None:
        with self._lock:  # self.config is the API's config too (pygeoapi keeps the dict it is given)
            resources = dict(self.config["resources"])
            change(resources)
            self.config["resources"] = resources
            self._openapi = None

    def sync_layer(self, layer_id: str) -> bool:
        """Publish (or update) the collection of a layer now in the store; False when the store has no such layer
        or its data is not public (its collection is then withdrawn)."""
        info = self.features.layer(layer_id)
        if info is None or not self.public(info):
            self.drop(layer_id)
            return False
        self._swap(lambda resources: resources.__setitem__(layer_id, self.resource(info)))
        return True

    def drop(self, layer_id: str) -> bool:
        """Withdraw a collection; False when there was none."""
        present = layer_id in self.config["resources"]
        if present:
            self._swap(lambda resources: resources.pop(layer_id, None))
        return present

    def on_layer(self, layer_id: str, info: LayerInfo | None) -> None:
        """Follow ogc.layers.Layers: a layer put (info) or dropped (None)."""
        if info is None:
            self.drop(layer_id)
        else:
            self.sync_layer(layer_id)

    def sync_all(self) -> None:
        """Make the collections exactly the store's layers."""
        layers = {info.id: self.resource(info) for info in self.features.layers() if self.public(info)}
        self._swap(lambda resources: (resources.clear(), resources.update(layers)))

    # -- OpenAPI -----------------------------------------------------------------------------
    def openapi(self) -> dict:
        """Return the OpenAPI document of the current collections (regenerated after a change)."""
        document = self._openapi
        if document is None:
            from pygeoapi.openapi import get_oas

            document = get_oas(self.api.config, fail_on_invalid_collection=False)
            self._declare_limits(document)
            with self._lock:
                self._openapi = document
        self.api.openapi = document
        return document

    def _declare_limits(self, document: dict) -> None:
        """Make every ``limit`` parameter say our limits (pygeoapi writes default 100, maximum 10000)."""
        features = self.settings.features
        for name, path in document.get("paths", {}).items():
            for operation in path.values():
                parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
                for parameter in parameters:
                    if parameter.get("name") == "limit" and "schema" in parameter:
                        parameter["schema"].update(minimum=1, maximum=features.max_limit,
                                                   default=features.default_limit)
                if name.endswith("/items") and not any("datetime" in str(p) for p in parameters):
                    parameters.append(DATETIME_PARAMETER)

    def close(self) -> None:
        unregister_store(self._key)
