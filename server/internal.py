"""Let local commands write through the running server, which holds the only store handle."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, current_app, jsonify, request

from core.errors import BadRequestError, WodpError
from core.identifiers import is_dataset_id
from core.private import write_private
from sparql.loader import parse_rdf, split_datasets

bp = Blueprint("internal", __name__, url_prefix="/internal")
TOKEN_HEADER = "X-WODP-Token"


class ForbiddenError(WodpError):
    status = 403
    code = "forbidden"


def write_server_file(home: Path, url: str, pid: int) -> str:
    """Record where the server listens and the token local commands must show; return the token."""
    token = secrets.token_urlsafe(32)
    write_private(home / "server.json", json.dumps({"url": url, "pid": pid, "token": token}).encode())
    return token


def _check() -> None:
    expected = current_app.config.get("WODP_INTERNAL_TOKEN")
    given = request.headers.get(TOKEN_HEADER, "")
    if request.remote_addr not in ("127.0.0.1", "::1") or not expected or not hmac.compare_digest(given, expected):
        raise ForbiddenError("internal endpoints answer local commands of this data directory only")


@bp.post("/load")
def load():
    """Publish the dataset graphs of an N-Quads body."""
    _check()
    graphs = split_datasets(parse_rdf(request.get_data(), ox.RdfFormat.N_QUADS, "request body"))
    if not graphs:
        raise BadRequestError("no dcat:Dataset in the request body")
    profile = request.args.get("profile", "wuhan")
    outcome = current_app.extensions["wodp"].publisher.publish(graphs, "load", profile=profile)
    return jsonify(outcome_json(outcome))


def outcome_json(outcome) -> dict:
    """Summarise a publication: counts, and the reasons of each dataset held back."""
    from publish.gate import report_to_json

    return {"put": len(outcome.published), "held": len(outcome.held), "warnings": outcome.warnings,
            "held_reports": {uri: report_to_json(r) for uri, r in outcome.held.items()}}


@bp.post("/harvest")
def harvest():
    """Run one harvest source, or all ({"source": NAME} or {"all": true}), and answer the job reports."""
    _check()
    ask = request.get_json(silent=True) or {}
    harvesting = current_app.extensions["wodp"].harvesting
    if ask.get("all"):
        return jsonify(jobs=harvesting.recover() + harvesting.run_all())
    if not isinstance(ask.get("source"), str):
        raise BadRequestError('expected {"source": NAME} or {"all": true}')
    return jsonify(jobs=[harvesting.run(ask["source"])])


@bp.post("/remove")
def remove():
    """Remove datasets by identifier."""
    _check()
    ids = request.get_json(silent=True)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequestError("expected a JSON list of dataset identifiers")
    return jsonify(remove_by_id(current_app.extensions["wodp"].store, ids))


def dataset_uris_by_id(store, ids) -> tuple[list[str], list[str]]:
    """Return (URIs of the stored datasets with these ids, ids not found), whatever base URI they were stored under.

    A dataset's URI is ``{base_uri}/datasets/{id}``, and the base URI may have changed since it was published
    (``--port``, ``site.base_uri``): so the id is looked for among the stored datasets' URIs.
    """
    wanted = {i for i in ids if is_dataset_id(i)}
    found: dict[str, list[str]] = {}
    for uri in store.dataset_uris():
        head, sep, tail = uri.rpartition("/datasets/")
        if sep and tail in wanted:
            found.setdefault(tail, []).append(uri)
    return [u for i in ids for u in found.get(i, ())], [i for i in ids if i not in found]


def remove_by_id(store, ids) -> dict:
    """Remove the datasets with these ids; answer how many were removed and which ids were not found."""
    uris, missing = dataset_uris_by_id(store, ids)
    event = store.remove_datasets(uris)
    return {"removed": len(event.removed), "uris": list(event.removed), "not_found": missing,
            "generation": event.generation}
