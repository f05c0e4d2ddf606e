"""Show harvest jobs and their reports: status, counts, per-record errors, log; dataset history.

Staff only (Action.READ_MANAGEMENT): the reports name the sources' addresses and the platform's files."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from access.roles import Action
from core.errors import BadRequestError, NotFoundError
from server.auth import require

bp = Blueprint("harvest_api", __name__)


def _jobs():
    harvesting = current_app.extensions["wodp"].harvesting
    if harvesting is None:
        raise NotFoundError("harvesting is not enabled in this process")
    return harvesting


def _json(body: dict) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), mimetype="application/json")


@bp.get("/api/harvest/sources")
@require(Action.READ_MANAGEMENT)
def sources():
    """List the configured harvest sources with their latest job."""
    harvesting = _jobs()
    out = []
    for name in harvesting.sources():
        latest = harvesting.jobs.jobs(name, limit=1)
        out.append({"name": name, "latest_job": latest[0].as_json() if latest else None})
    return _json({"sources": out})


@bp.get("/api/harvest/jobs")
@require(Action.READ_MANAGEMENT)
def jobs():
    """List recent jobs, newest first (?source=NAME, ?limit=N up to 500)."""
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise BadRequestError("limit must be a whole number") from None
    if not 1 <= limit <= 500:
        raise BadRequestError("limit must be between 1 and 500")
    found = _jobs().jobs.jobs(request.args.get("source"), limit=limit)
    return _json({"jobs": [job.as_json() for job in found]})


@bp.get("/api/harvest/jobs/<int:job_id>")
@require(Action.READ_MANAGEMENT)
def job(job_id: int):
    """Show one job's report: status, counts and figures, datasets changed, per-record errors and its log."""
    store = _jobs().jobs
    found = store.report(job_id)
    if found is None:
        raise NotFoundError(f"no harvest job {job_id}")
    return _json({**found, "errors": store.job_errors(job_id), "log": store.job_log(job_id)})
