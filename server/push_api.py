"""Answer the department push API: create, update and withdraw own datasets, validated and published at once.

``POST /api/datasets`` takes a JSON record (through ``?mapping=``, default china-core) or RDF (by
Content-Type) with ``Authorization: Bearer TOKEN``; a department may only touch datasets whose publisher
is its own department. ``DELETE /api/datasets/{id}`` withdraws a dataset (410 afterwards);
``GET /api/datasets/{id}/report`` tells why a dataset is held back.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, request

from publish.gate import department_of, report_to_json
from server import throttle
from access.accounts import Account
from access.roles import Action, allowed
from server.errors import render_error
from server.internal import ForbiddenError
from harvesters.provenance import DEPARTMENT_ID_SPACE, account_uri, with_attribution
from server.audit import audit, audit_publication, dataset_digest, digests_before
from server.validation_api import (RDF_SUFFIXES, RDF_TYPES, graphs_from_ntriples, graphs_from_upload,
                                   graphs_to_ntriples, isolated)
from core import jsonsafe
from core.errors import BadRequestError, GoneError, NotFoundError, WodpError
from core.identifiers import is_dataset_id

log = logging.getLogger(__name__)

bp = Blueprint("push", __name__)

PUSH_SOURCE = "push"  # the channel; records get department ids wuhan.{资源代码}, shared with file and cloud
MAX_BYTES = 1024 * 1024  # defaults of push.max_bytes / push.max_datasets in config/default.yml
MAX_DATASETS = 100
GB_CHARSETS = ("gbk", "gb2312", "gb18030")


class UnauthorizedError(WodpError):
    """No token, a malformed one, or one that is unknown or revoked."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


@bp.errorhandler(UnauthorizedError)
def _unauthorized(exc: UnauthorizedError) -> Response:
    response = render_error(exc.status, exc.code, exc.message)
    challenge = 'Bearer realm="wodp"' + (f', error="{exc.error}"' if exc.error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


def _platform():
    return current_app.extensions["wodp"]


def _account(action: Action = Action.CREATE) -> Account:
    """Return the publisher account of the request's push token, else raise UnauthorizedError (403 when the
    policy does not let it do ``action`` for its department)."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise UnauthorizedError("this API needs a department token: send 'Authorization: Bearer TOKEN'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        throttle.token_refused()
        raise UnauthorizedError("the Authorization header must read 'Bearer TOKEN'", "invalid_request")
    account = _platform().accounts.verify(token.strip())
    if account is None:
        throttle.token_refused()
        raise UnauthorizedError("the token is unknown or has been revoked", "invalid_token")
    if not allowed(account.principal(), action, account.department):
        raise ForbiddenError(f"the {account.role} account of this token may not {action.value} datasets of "
                             f"department {account.department}")
    return account


def _settings():
    return current_app.extensions["wodp"].settings.push


def _limit(name: str, default: int) -> int:
    """Return a push limit: from the settings (push.max_bytes, push.max_datasets), or a test's app.config."""
    configured = {"WODP_PUSH_MAX_BYTES": _settings().max_bytes, "WODP_PUSH_MAX_DATASETS": _settings().max_datasets}
    return int(current_app.config.get(name, configured.get(name, default)))


# -- reading the body ----------------------------------------------------------------------------
def _body() -> tuple[bytes, str, str | None]:
    """Return (bytes, name, mapping) of a push body: a JSON record, or RDF by Content-Type."""
    max_bytes = _limit("WODP_PUSH_MAX_BYTES", MAX_BYTES)
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadRequestError(f"the body has {request.content_length} bytes; a push takes at most {max_bytes}",
                              status=413, code="payload-too-large")
    data = request.get_data()
    if len(data) > max_bytes:
        raise BadRequestError(f"the body has {len(data)} bytes; a push takes at most {max_bytes}",
                              status=413, code="payload-too-large")
    if request.mimetype in ("application/json", "text/json"):
        return data, "request-body.json", request.args.get("mapping") or _settings().default_mapping
    fmt = RDF_TYPES.get(request.mimetype)
    if fmt is None:
        raise BadRequestError(
            f"unsupported Content-Type {request.mimetype or '(none)'}: push a JSON record (application/json, "
            "through ?mapping=, default china-core) or RDF (text/turtle, application/ld+json, "
            "application/rdf+xml, application/n-triples)", status=415, code="unsupported-media-type")
    suffix = next(s for s, f in RDF_SUFFIXES.items() if f == fmt)
    return data, f"request-body.{suffix}", None


def _json_body(data: bytes, charset: str | None, limits=None) -> bytes:
    """Check a JSON body: UTF-8 unless a GB charset is declared, one object or a list of objects."""
    charset = (charset or "utf-8").lower()
    if charset in GB_CHARSETS:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise BadRequestError(f"request body: not {charset.upper()} text (bad byte at offset {exc.start})") \
                from None
    elif charset in ("utf-8", "utf8"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequestError(
                f"request body: not UTF-8 (bad byte at offset {exc.start}); send JSON in UTF-8 (RFC 8259), "
                "or declare the encoding, e.g. 'Content-Type: application/json; charset=GBK'") from None
    else:
        raise BadRequestError(f"unsupported charset {charset!r}: use UTF-8 (or GBK, GB18030)",
                              status=415, code="unsupported-media-type")
    doc = jsonsafe.loads(text, "request body", limits)
    records = doc if isinstance(doc, list) else [doc]
    if not records or not all(isinstance(r, dict) and r for r in records):
        raise BadRequestError("request body: expected one JSON object (a dataset record) or a list of them")
    return text.encode("utf-8")


def read_push(data: bytes, name: str, mapping: str | None, charset: str | None, base_uri: str,
              max_bytes: int, limits=None) -> tuple[dict[str, bytes], list]:
    """Read a push body into dataset graphs (N-Triples per dataset) and mapping problems; a sandbox task."""
    if name.endswith(".json"):
        data = _json_body(data, charset, limits)
    graphs, problems = graphs_from_upload(data, name, mapping, base_uri, max_bytes, source=DEPARTMENT_ID_SPACE,
                                          limits=limits)
    return graphs_to_ntriples(graphs), problems


def _graphs() -> tuple[dict, list]:
    """Turn the push body into dataset graphs of this catalogue; return (graphs, mapping problems)."""
    platform = _platform()
    data, name, mapping = _body()
    documents, problems = isolated(read_push, data, name, mapping, request.mimetype_params.get("charset"),
                                   platform.settings.base_uri, _limit("WODP_PUSH_MAX_BYTES", MAX_BYTES),
                                   platform.settings.input_limits, what="the push body")
    graphs = graphs_from_ntriples(documents)
    most = _limit("WODP_PUSH_MAX_DATASETS", MAX_DATASETS)
    if len(graphs) > most:
        raise BadRequestError(f"the body holds {len(graphs)} datasets; a push takes at most {most}",
                              status=413, code="payload-too-large")
    prefix = platform.dataset_uri("")
    for uri in graphs:
        if not uri.startswith(prefix) or not is_dataset_id(uri[len(prefix):]):
            raise BadRequestError(f"dataset URI <{uri}> is not one of this catalogue: "
                                  f"use {prefix}{{source}}.{{key}} (key of A-Z a-z 0-9 - _)")
    return graphs, problems


# -- ownership -----------------------------------------------------------------------------------
def owner_of(platform, dataset_id: str) -> tuple[str | None, str | None]:
    """Return (department, state) of a dataset: published, held, withdrawn; (None, None) if unknown."""
    uri = platform.dataset_uri(dataset_id)
    triples = platform.store.dataset_triples(uri)
    if triples:
        return department_of(uri, triples), "published"
    for state, keeper in (("withdrawn", platform.tombstones), ("held", platform.quarantine)):
        kept = keeper.get(dataset_id) if keeper is not None else None
        if kept is not None:
            return kept.department, state
    return None, None


def _check_owner(account: Account, graphs: dict, problems: list) -> None:
    """Refuse (403) a push of a dataset that names another publisher, or whose id is not the department's.

    The id is the department's when its 资源代码 carries the department's code (wuhan.420100-D017-…) or when
    the id is granted to it (``wodp account grant``); such a department may publish it even over a version
    another department published before this rule.
    """
    platform = _platform()
    prefix = platform.dataset_uri("")
    for uri, triples in graphs.items():
        dataset_id = uri[len(prefix):]
        named = department_of(uri, triples)
        if named != account.department:
            what = (f"names department {named} as its publisher" if named else
                    "names no department of ontology/departments.ttl as its publisher (dct:publisher)")
            hints = "; ".join(p.message for p in problems
                              if p.field == "publisher" or p.kind == "not-in-our-scheme")
            raise ForbiddenError(f"dataset {dataset_id} {what}; this token may only publish datasets of "
                                 f"department {account.department}" + (f" ({hints})" if hints else ""))
        refused = platform.accounts.owner_rule(account.department, dataset_id)
        if refused is None:
            continue
        holder, state = owner_of(platform, dataset_id)
        if state is not None and holder != account.department:
            raise ForbiddenError(f"dataset {dataset_id} belongs to department {holder or '(none of ours)'}; "
                                 + refused)
        raise ForbiddenError(refused)


def _own(account: Account, dataset_id: str) -> str | None:
    """Return the state of one of the account's datasets; 404 if unknown, 403 if another department's.

    The account's are those its department published, and those whose id is its own (owner rule above).
    """
    if not is_dataset_id(dataset_id):
        raise NotFoundError(f"{dataset_id!r} is not a dataset identifier")
    platform = _platform()
    holder, state = owner_of(platform, dataset_id)
    if state is None:
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    if holder != account.department and platform.accounts.owner_rule(account.department, dataset_id) is not None:
        raise ForbiddenError(f"dataset {dataset_id} belongs to department {holder or '(none)'}; this token "
                             f"acts for department {account.department} only")
    return state


# -- the doors -----------------------------------------------------------------------------------
def _json(body: dict, status: int, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=mimetype)


@bp.post("/api/datasets")
def push():
    """Validate pushed datasets and publish those that conform at once: 201 new, 200 updated, 422 held."""
    account = _account()
    platform = _platform()
    from server.internal import data_file_counts

    graphs, problems = _graphs()
    _check_owner(account, graphs, problems)
    agent = account_uri(platform.settings.base_uri, account.id)  # PROV: who made this version
    graphs = {uri: with_attribution(uri, triples, agent) for uri, triples in graphs.items()}
    existed, before = digests_before(platform, graphs)
    outcome = platform.publisher.publish(graphs, PUSH_SOURCE)
    log.info("push by account %s of %s: %d published, %d held back", account.id, account.department,
             len(outcome.published), len(outcome.held))
    audit_publication(platform, graphs, outcome, before, existed, principal=account.principal(),
                      detail={"department": account.department, "source": PUSH_SOURCE})
    prefix = platform.dataset_uri("")
    published = [{"id": uri[len(prefix):], "uri": uri, "status": "updated" if existed[uri] else "created"}
                 for uri in outcome.published]
    held = [{"id": uri[len(prefix):], "uri": uri, "report": report_to_json(report),
             "report_url": f"{platform.settings.base_uri}/api/datasets/{uri[len(prefix):]}/report"}
            for uri, report in outcome.held.items()]
    superseded = list(getattr(outcome, "superseded", ()))  # held by a higher-ranked channel (precedence)
    body = {"department": account.department, "published": published, "held": held, "superseded": superseded,
            "warnings": outcome.warnings, "mapping_problems": [p.__dict__ for p in problems],
            "data_files": data_file_counts(outcome)}
    if held:
        detail = (f"{len(held)} of {len(graphs)} datasets failed validation and were held back; the published "
                  "version (if any) is unchanged: see held[].report")
        problem = {"type": "urn:wodp:error:validation-failed", "title": "Unprocessable Content", "status": 422,
                   "detail": detail, "instance": request.path}
        return _json(problem | body, 422, "application/problem+json")
    if superseded and not published:
        problem = {"type": "urn:wodp:error:superseded", "title": "Conflict", "status": 409, "instance": request.path,
                   "detail": "another channel of higher precedence holds these datasets; nothing was published"}
        return _json(problem | body, 409, "application/problem+json")
    created = [p for p in published if p["status"] == "created"]
    response = _json(body, 201 if created else 200)
    if len(created) == 1:
        response.headers["Location"] = created[0]["uri"]
    return response


@bp.delete("/api/datasets/<dataset_id>")
def withdraw(dataset_id: str):
    """Withdraw one of the department's datasets: kept as a tombstone, answering 410 from now on."""
    account = _account(Action.WITHDRAW)
    platform = _platform()
    state = _own(account, dataset_id)
    uri = platform.dataset_uri(dataset_id)
    if state == "withdrawn":
        raise GoneError(f"dataset {dataset_id} was already withdrawn")
    before = dataset_digest(platform.store, uri) if state == "published" else None
    if state == "published":
        platform.publisher.withdraw([uri], PUSH_SOURCE)
        audit("dataset.withdraw", f"dataset:{dataset_id}", before, None,
              {"department": account.department, "source": PUSH_SOURCE}, principal=account.principal())
        platform.submissions().withdraw_published(dataset_id, account.id, account.role,
                                                  detail={"via": "push"})  # its workbench submission: 已撤回
    discarded = platform.quarantine.release(dataset_id)  # a held-back version goes too
    if discarded:
        audit("dataset.discard-held", f"dataset:{dataset_id}", None, None,
              {"department": account.department, "source": PUSH_SOURCE}, principal=account.principal())
    log.info("dataset %s withdrawn by account %s of %s", dataset_id, account.id, account.department)
    return _json({"id": dataset_id, "uri": uri, "status": "withdrawn" if state == "published" else "discarded",
                  "held_version_discarded": discarded}, 200)


@bp.get("/api/datasets/<dataset_id>/report")
def report(dataset_id: str):
    """Tell the department where one of its datasets stands and, when held back, why."""
    account = _account(Action.READ_MANAGEMENT)
    platform = _platform()
    _own(account, dataset_id)
    uri = platform.dataset_uri(dataset_id)
    modified = platform.store.record_modified(uri)
    held = platform.quarantine.get(dataset_id)
    withdrawn = modified is None and platform.tombstones.get(dataset_id) is not None
    return _json({"id": dataset_id, "uri": uri, "published": modified is not None,
                  "modified": modified.isoformat() if modified else None, "withdrawn": withdrawn,
                  "held": held is not None, "held_at": held.held_at if held else None,
                  "report": held.report if held else None}, 200)
