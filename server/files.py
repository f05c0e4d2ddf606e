"""Serve the demo catalogue's downloads, generated from the dataset on request (its data API is
server/data_api.py, over the loaded tables).

The door serves data: the open type decides who gets it (server.access_guard, docs/access.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from server import http
from server.access_guard import require_data
from core.errors import NotFoundError
from core.identifiers import is_dataset_id

bp = Blueprint("files", __name__)


def _demo_dataset(dataset_id: str):
    """Find a published demo dataset (the generator is deterministic, so it is rebuilt from the settings)."""
    platform = current_app.extensions["wodp"]
    if not is_dataset_id(dataset_id) or not dataset_id.startswith("demo."):
        raise NotFoundError(f"no downloadable files for {dataset_id!r}")
    if platform.store.record_modified(platform.dataset_uri(dataset_id)) is None:
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    require_data(platform, platform.dataset_uri(dataset_id))
    found = platform.demo_dataset(dataset_id)
    if found is None:
        raise NotFoundError(f"no downloadable files for {dataset_id!r}")
    return found


@bp.route("/files/<dataset_id>/<name>", methods=["GET", "HEAD"])
def download(dataset_id: str, name: str):
    """Download one distribution file of a demo dataset."""
    dataset = _demo_dataset(dataset_id)
    from demo.files import render_file

    try:
        content, media_type = render_file(dataset, name)
    except (KeyError, ValueError):
        raise NotFoundError(f"dataset {dataset_id} has no file {name!r}") from None
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{dataset_id}-{name}"'
    return http.conditional(response, http.etag_for("file", dataset_id, name, len(content)), None)
