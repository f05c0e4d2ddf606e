"""Serve the portal's maps: the map page of all layers, the offline base map, each page's map settings.

The browser side is ``static/map.js`` over the vendored Leaflet (``static/vendor/leaflet``); every page
gives it one JSON document (``map_config``) naming the base map (Tianditu tiles when a key is set, else the
offline district outlines of ``ogc.basemap``) and the layers it may draw, each read from OGC API Features
(``/ogc/collections/{id}/items``). See docs/maps.md.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Response, request

from ogc.basemap import basemap_geojson
from ogc.boundary import BoundaryFileError
from ogc.coords import WUHAN_EXTENT
from server import http
from server.portal.i18n import current_lang, link, translate
from server.portal.views import platform, portal_bp, render_page
from core.errors import WodpError

log = logging.getLogger(__name__)

# Tianditu WMTS GetTile (KVP), one endpoint per layer and tile-matrix set (TIANDITU.md §1).
TILE_TEMPLATE = ("{url}/{layer}_{set}/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
                 "&STYLE=default&TILEMATRIXSET={set}&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                 "&TILECOL={{x}}&tk={key}")
LABELS = {"vec": "cva", "img": "cia"}  # each base layer with its Chinese annotation layer
# Leaflet CRS of each matrix set; "c" starts at Tianditu level 1 = Leaflet EPSG4326 zoom 0 (zoomOffset 1).
MATRIX_SETS = {"c": {"crs": "EPSG4326", "zoom_offset": 1, "min_zoom": 0, "max_zoom": 17},
               "w": {"crs": "EPSG3857", "zoom_offset": 0, "min_zoom": 1, "max_zoom": 18}}
COLORS = ("#d7301f", "#2b8cbe", "#31a354", "#756bb1", "#e6550d", "#c51b8a", "#636363", "#8c6d31",
          "#17becf", "#393b79")
WORDS = ("map_shown", "map_shown_of", "map_loading", "map_failed", "map_offline", "map_tiles_failed",
         "map_approximate", "map_tianditu")


def tianditu_config(settings) -> dict | None:
    """Return the Tianditu tile layers the settings choose, or None when no key is set (offline base map)."""
    t = settings.tianditu
    if not t.key:
        return None
    key = quote(t.key, safe="")
    url = t.url.rstrip("/")
    layers = [t.layers, LABELS[t.layers]]
    return {"layers": layers, "matrix_set": t.matrix_set, "subdomains": t.subdomains,
            "templates": [TILE_TEMPLATE.format(url=url, layer=name, set=t.matrix_set, key=key) for name in layers]}


def layer_entry(info, index: int, lang: str, max_limit: int) -> dict:
    """Describe one layer for the map: title, count, extent, colour, its items URL and its dataset page."""
    limit = max(1, min(info.count, max_limit))
    return {
        "id": info.id, "title": (info.title_en if lang == "en" else info.title_zh) or info.title_zh or info.id,
        "count": info.count, "limit": limit, "bbox": list(info.bbox) if info.bbox else None,
        "geometry_type": info.geometry_type, "color": COLORS[index % len(COLORS)],
        "items": link(f"/ogc/collections/{quote(info.id, safe='')}/items", "zh", {"f": "json", "limit": limit}),
        "href": link(f"/datasets/{quote(info.id, safe='')}", lang),
    }


def map_config(settings, lang: str, layers: list[dict], view: list[float] | None = None) -> dict:
    """Return everything map.js needs: CRS, base map, layers, initial view and the words in lang."""
    matrix = MATRIX_SETS[settings.tianditu.matrix_set]
    return {
        "crs": matrix["crs"], "zoom_offset": matrix["zoom_offset"],
        "min_zoom": matrix["min_zoom"], "max_zoom": matrix["max_zoom"],
        "tianditu": tianditu_config(settings),
        "basemap": link("/map/basemap.geojson", "zh"),
        "view": view or list(WUHAN_EXTENT), "layers": layers,
        "words": {key: translate(key, lang) for key in WORDS},
    }


def _public(plat, info) -> bool:
    """Whether everyone may read the layer's features (its dataset's open type, docs/access.md)."""
    ogc = getattr(plat, "ogc", None)
    return ogc.public(info) if ogc is not None else True


def feature_layers(plat) -> list:
    """Return the platform's feature layers (not the catalogue's records), or [] when there are none."""
    if plat.features is None:
        return []
    try:
        return [info for info in plat.features.layers() if info.kind == "feature" and _public(plat, info)]
    except Exception:  # a broken feature store must not take the portal down
        log.exception("cannot list the feature layers")
        return []


def dataset_map(plat, dataset_id: str, lang: str, extent=None) -> dict | None:
    """Return the map config of a dataset page: its layer's features, and its extent (w, s, e, n: the
    metadata's bounding box) drawn as a box; with neither, None (no map shown)."""
    info = None
    if plat.features is not None:
        try:
            info = plat.features.layer(dataset_id)
        except Exception:
            log.exception("cannot read the layer of %s", dataset_id)
    layers = []
    if info is not None and info.kind == "feature" and info.count > 0 and _public(plat, info):
        entry = layer_entry(info, 0, lang, plat.settings.features.max_limit)
        entry["checked"] = True
        layers.append(entry)
    if not layers and not extent:
        return None
    config = map_config(plat.settings, lang, layers, view=(layers[0]["bbox"] if layers else None) or
                        (list(extent) if extent else None))
    if extent:
        config["extent"] = list(extent)
        config["words"]["map_extent"] = translate("map_extent", lang)
    return config


@portal_bp.route("/map", methods=["GET", "HEAD"])
def map_page():
    """Show every layer on one map: a list to switch layers on and off, features loaded on demand."""
    lang = current_lang()
    plat = platform()
    layers = [layer_entry(info, n, lang, plat.settings.features.max_limit)
              for n, info in enumerate(sorted(feature_layers(plat), key=lambda i: i.id))]
    wanted = set(request.args.getlist("layer"))
    for n, entry in enumerate(layers):
        entry["checked"] = entry["id"] in wanted if wanted else n == 0
    from server.portal.dataset_page import json_for_script

    chosen = [e["bbox"] for e in layers if e["checked"] and e.get("bbox")] if wanted else []
    view = [min(b[0] for b in chosen), min(b[1] for b in chosen), max(b[2] for b in chosen),
            max(b[3] for b in chosen)] if chosen else None  # the layers asked for; else the whole city
    config = map_config(plat.settings, lang, layers, view=view)
    return render_page("portal_map.html", lang, layers=layers, map_json=json_for_script(config),
                       config=config, title=translate("map", lang))


@portal_bp.route("/map/basemap.geojson", methods=["GET", "HEAD"])
def basemap():
    """Serve the offline base map: district outlines in CGCS2000 lon/lat (docs/maps.md)."""
    settings = platform().settings
    try:
        body = basemap_geojson(settings)
    except BoundaryFileError as exc:
        raise WodpError(f"the offline base map is unavailable: {exc.message}", status=500,
                        code="basemap-unavailable") from exc
    response = Response(body, mimetype="application/geo+json")
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return http.conditional(response, http.etag_for("basemap", body.decode("utf-8")), None)
