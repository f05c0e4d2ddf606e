"""Let local commands write through the running server, which holds the only store handle."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, current_app, g, jsonify, request

from core.errors import BadRequestError, WodpError
from server import throttle
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
    """Refuse anyone but a local command of this home (it shows the token of server.json); then let the audit
    entries of the request name that command (server.audit.CLI: its OS user and host, its --as account)."""
    expected = current_app.config.get("WODP_INTERNAL_TOKEN")
    given = request.headers.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")  # bytes: any header
    if (request.remote_addr not in ("127.0.0.1", "::1") or not expected
            or not hmac.compare_digest(given, expected.encode("utf-8"))):
        throttle.token_refused()
        raise ForbiddenError("internal endpoints answer local commands of this data directory only")
    g.wodp_command = _command()


def _command():
    """The command's identity from its X-WODP-Command header (server/cli_policy.py asked the policy there)."""
    from server.audit import acting_from_cli

    try:
        said = json.loads(request.headers.get("X-WODP-Command") or "{}")
    except ValueError:
        said = {}
    said = said if isinstance(said, dict) else {}
    detail = {"via": "cli", **{k: str(said[k]) for k in ("user", "host", "as") if said.get(k) is not None}}
    accounts = current_app.extensions["wodp"].accounts
    account = accounts.get(str(said["account"])) if said.get("account") and accounts is not None else None
    return acting_from_cli(account.principal() if account is not None else None, detail)


@bp.post("/load")
def load():
    """Publish the dataset graphs of an N-Quads body."""
    _check()
    graphs = split_datasets(parse_rdf(request.get_data(), ox.RdfFormat.N_QUADS, "request body"))
    if not graphs:
        raise BadRequestError("no dcat:Dataset in the request body")
    profile = request.args.get("profile", "wuhan")
    from server.audit import cli_detail

    with g.wodp_command:
        return jsonify(load_graphs(current_app.extensions["wodp"], graphs, profile, cli_detail()))


def load_graphs(platform, graphs: dict, profile: str, via: dict) -> dict:
    """Publish loaded graphs (`wodp load`, here or through the server) with an audit entry per dataset."""
    from server.audit import audit_publication, digests_before

    existed, before = digests_before(platform, graphs)
    outcome = platform.publisher.publish(graphs, "load", profile=profile)
    audit_publication(platform, graphs, outcome, before, existed, detail={**via, "source": "load"})
    return outcome_json(outcome)


def outcome_json(outcome) -> dict:
    """Summarise a publication: counts, and the reasons of each dataset held back."""
    from publish.gate import report_to_json

    return {"put": len(outcome.published), "held": len(outcome.held), "warnings": outcome.warnings,
            "data_files": data_file_counts(outcome),
            "held_reports": {uri: report_to_json(r) for uri, r in outcome.held.items()}}


def data_file_counts(outcome) -> dict[str, int]:
    """Count how a publication read the data files of its spatial datasets: re-read, unchanged, failed."""
    found = list(getattr(outcome, "data_files", {}).values())
    return {kind: sum(1 for read in found if read.startswith(kind)) for kind in ("re-read", "unchanged", "failed")}


@bp.post("/harvest")
def harvest():
    """Run one harvest source, or all ({"source": NAME} or {"all": true}), and answer the job reports."""
    _check()
    ask = request.get_json(silent=True) or {}
    harvesting = current_app.extensions["wodp"].harvesting
    if not ask.get("all") and not isinstance(ask.get("source"), str):
        raise BadRequestError('expected {"source": NAME} or {"all": true}')
    with g.wodp_command:
        if ask.get("all"):
            retried = harvesting.recover()
            done = {job["source"] for job in retried}
            return jsonify(jobs=retried + [harvesting.run(n) for n in harvesting.sources() if n not in done])
        return jsonify(jobs=[harvesting.submit(ask["source"])])  # queued for a worker with harvest.queue postgres


@bp.post("/remove")
def remove():
    """Remove datasets by identifier."""
    _check()
    ids = request.get_json(silent=True)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequestError("expected a JSON list of dataset identifiers")
    from server.audit import cli_detail
    from server.catalogue import remove_datasets

    with g.wodp_command:
        return jsonify(remove_datasets(current_app.extensions["wodp"], ids, cli_detail()))



@bp.post("/load-data")
def load_data():
    """Load datasets' files for the data API again ({"ids": [...]} or {"all": true}) and answer the counts."""
    _check()
    ids = _ids_or_all()
    from server.audit import cli_detail
    from server.data_loading import run_load_data

    with g.wodp_command:
        return jsonify(run_load_data(current_app.extensions["wodp"], ids, cli_detail()))


def _ids_or_all() -> list[str] | None:
    """The datasets a command names in its body: {"ids": [ID, ...]}, or None for {"all": true}; else 400."""
    ask = request.get_json(silent=True) or {}
    ids = ask.get("ids")
    if not ask.get("all") and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise BadRequestError('expected {"ids": [ID, ...]} or {"all": true}')
    return None if ask.get("all") else ids


@bp.post("/check-data")
def check_data():
    """Run the data-quality checks ({"ids": [...]} or {"all": true}) and answer their counts."""
    _check()
    ids = _ids_or_all()
    from server.audit import cli_detail
    from server.data_checks import run_check_data

    with g.wodp_command:
        return jsonify(run_check_data(current_app.extensions["wodp"], ids, cli_detail()))
