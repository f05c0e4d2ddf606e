"""Show the reports of the derived data: each layer (rows placed, unresolved), each index (datasets left out).

Staff only (Action.READ_MANAGEMENT): the public reads layers through /ogc and /map."""

from __future__ import annotations

import json
from dataclasses import asdict

from flask import Blueprint, Response, current_app

from access.roles import Action
from core.errors import NotFoundError
from server.auth import require
from core.identifiers import is_dataset_id
from server.access_guard import require_data

bp = Blueprint("layers_api", __name__)


def _json(body: dict) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), mimetype="application/json")


def _summary(info) -> dict:
    report = info.report or {}
    return {"id": info.id, "dataset": info.dataset_uri, "title_zh": info.title_zh, "title_en": info.title_en,
            "features": info.count, "bbox": info.bbox, "geometry_type": info.geometry_type,
            "rows": report.get("rows"), "placed": report.get("placed"), "unresolved": report.get("unresolved"),
            "flagged": report.get("flagged"), "methods": report.get("methods"),
            "source_crs": report.get("source_crs"), "modified": info.modified}


@bp.get("/api/layers")
@require(Action.READ_MANAGEMENT)
def layers():
    """List every layer with its spatialization counts, and the spatial datasets left without a layer."""
    platform = current_app.extensions["wodp"]
    found = [i for i in platform.features.layers() if i.kind == "feature"]
    problems = dict(platform.layers.problems) if platform.layers is not None else {}
    return _json({"layers": [_summary(i) for i in sorted(found, key=lambda i: i.id)],
                  "total": len(found), "without_layer": problems})


@bp.get("/api/layers/<layer_id>")
@require(Action.READ_MANAGEMENT)
def layer(layer_id: str):
    """One layer's full spatialization report: every unresolved and flagged row with its reason."""
    platform = current_app.extensions["wodp"]
    if not is_dataset_id(layer_id):
        raise NotFoundError(f"no layer {layer_id!r}")
    info = platform.features.layer(layer_id)
    if info is None or info.kind != "feature":
        problem = (platform.layers.problems.get(layer_id) if platform.layers is not None else None)
        raise NotFoundError(f"no layer {layer_id!r}" + (f": {problem}" if problem else ""))
    if info.dataset_uri:  # the report quotes the rows it could not place: data, as the open type allows
        require_data(platform, info.dataset_uri)
    body = _summary(info)
    body["report"] = info.report
    body["fields"] = info.fields
    return _json(body)


@bp.get("/api/indexes")
@require(Action.READ_MANAGEMENT)
def indexes():
    """List the derived indexes (search, changes, layers, records, CSW) and the datasets each had to leave out."""
    platform = current_app.extensions["wodp"]
    found = []
    for follower in platform.followers:
        skipped = follower.skipped()
        found.append({"index": type(follower).__name__, "skipped": len(skipped),
                      "skipped_datasets": [{"dataset": uri, "reason": reason} for uri, reason in skipped.items()]})
    return _json({"indexes": found, "skipped": sum(i["skipped"] for i in found)})
