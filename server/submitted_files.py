"""Serve the data files departments attached to their published submissions (数据报送), by download URL.

``/files/submitted/{dataset_id}/{sha256 start}/{name}`` answers a file of the dataset's latest published submission; the
dataset's open type decides who gets it (server.access_guard), as for every other data file. Drafts' files are
never served here: only the workbench shows them, to their department and the reviewers.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, request

from core.errors import NotFoundError
from core.identifiers import is_dataset_id
from server.access_guard import require_data

bp = Blueprint("submitted_files", __name__)


@bp.route("/files/submitted/<dataset_id>/<digest>/<name>", methods=["GET", "HEAD"])
def download(dataset_id: str, digest: str, name: str):
    """Download a data file of a dataset published from the workbench."""
    platform = current_app.extensions["wodp"]
    if not is_dataset_id(dataset_id) or platform.store.record_modified(platform.dataset_uri(dataset_id)) is None:
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    require_data(platform, platform.dataset_uri(dataset_id))
    store = platform.submissions()
    found = store.published_file(dataset_id, digest, name)
    if found is None:
        raise NotFoundError(f"dataset {dataset_id} has no data file {name!r}")
    response = Response(store.path_of(found).read_bytes(), mimetype=found.media_type)
    response.headers["ETag"] = f'"{found.sha256}"'
    response.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(name)
    return response.make_conditional(request)
