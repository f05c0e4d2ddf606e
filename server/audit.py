"""Write the staff audit log from the routes, the harvests and the start-up (access/audit.py holds the log).

``audit(action, target, before, after, detail)`` records who asks (``server.auth.current_principal()``: a
session or a token), their role and the client's address (``request.remote_addr``, the client named by trusted
proxies when ``site.proxies`` is set; kept whole: this is the staff audit log, GB/T 22239 asks for it).

An entry that cannot be written (the disk full, the database gone) does not undo what was done: it is logged
as an error and counted (``wodp_audit_write_failures`` on /metrics), never dropped without a word.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from flask import current_app, has_app_context, has_request_context, request

from access.audit import AuditLog, Entry, canonical
from core.database import open_part
from core.private import private_dir, private_sqlite, write_private

log = logging.getLogger(__name__)

ANCHOR_FILE = "audit-anchor.json"
KEY_FILE = "audit.key"  # keys the digests of secret settings (their changes are seen, their values never)


def open_audit(settings) -> AuditLog:
    """Open the home's log: its part of the data layer (audit.sqlite, 0600, or the shared database) and its
    anchor file in the private home."""
    path = settings.home / "audit.sqlite"
    if not settings.database.url:
        private_dir(settings.home)
        private_sqlite(path)  # client addresses and account ids: its owner's only, as accounts.sqlite
    return AuditLog(open_part(settings.database, "audit", path), anchor=settings.home / ANCHOR_FILE)


# who asked for work handed to a thread (a harvest run from the console): (principal, client address); the
# thread runs in a copy of the asking request's context (harvesters.service.Harvesting.start)
REQUESTER: ContextVar[tuple | None] = ContextVar("wodp_requester", default=None)
# a `wodp` command's identity (server/cli_policy.py): {"principal": the --as account's or None, "detail": via
# cli, the OS user and host, and "as" the account's login}; set by server.cli.main and the /internal doors
CLI: ContextVar[dict | None] = ContextVar("wodp_cli", default=None)


@contextmanager
def acting_from_cli(principal=None, detail: dict | None = None):
    """Let the audit entries written while the block runs name a command's identity (principal, OS user, host)."""
    token = CLI.set({"principal": principal, "detail": detail or os_identity()})
    try:
        yield
    finally:
        CLI.reset(token)


def command_entry(settings, action: str, target: str, detail: dict | None = None, audit_log=None) -> None:
    """Append a command's change to the home's log: by its --as account (else none), detail via cli, user, host."""
    opened = audit_log is None
    audit_log = open_audit(settings) if opened else audit_log
    try:
        who = _principal(None) if not has_request_context() else None
        write(audit_log, actor=getattr(who, "id", None), role=_role(who), action=action, target=target,
              address=None, detail={**cli_detail(), **(detail or {})})
    finally:
        if opened:
            audit_log.close()


def os_identity() -> dict:
    """Who runs a command on this machine: via cli, the OS user (when the system knows one) and the host."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001  no login name (a container)
        user = None
    return {"via": "cli", "user": user, "host": socket.gethostname()}


@contextmanager
def requester_kept():
    """Keep the request's principal and address for the work it hands to a thread, while the block runs."""
    token = REQUESTER.set((_principal(None), request.remote_addr if has_request_context() else None))
    try:
        yield
    finally:
        REQUESTER.reset(token)


def _principal(principal):
    if principal is not None:
        return principal
    acting = CLI.get()
    if acting is not None:  # a command (here, or through an /internal door): its --as account, else none
        return acting["principal"]
    if not has_request_context():
        return None
    try:
        from server.auth import current_principal  # helper h1's sessions and tokens (issue 12)
    except ImportError:
        return None
    return current_principal()


def audit(action: str, target: str, before: str | None = None, after: str | None = None,
          detail: dict | None = None, *, principal=None, log_to: AuditLog | None = None) -> Entry | None:
    """Record an action on a target by the request's principal (or the one given), from the client's address."""
    audit_log = log_to
    if audit_log is None and has_app_context():
        audit_log = getattr(current_app.extensions.get("wodp"), "audit", None)
    if audit_log is None:
        return None
    who = _principal(principal)
    address = request.remote_addr if has_request_context() else None
    return write(audit_log, actor=getattr(who, "id", None), role=_role(who), action=action, target=target,
                 address=address, before=before, after=after, detail=detail)


def _role(who) -> str | None:
    role = getattr(who, "role", None)
    return None if role is None else str(role)


def write(audit_log: AuditLog, **fields) -> Entry | None:
    """Append an entry; an entry that cannot be written is logged and counted, the action stands."""
    try:
        return audit_log.record(**fields)
    except Exception as exc:  # noqa: BLE001  the audited action happened: say so loudly, never undo it
        audit_log.failures = getattr(audit_log, "failures", 0) + 1
        log.error("audit log: the entry %s on %s by %s could not be written: %s", fields.get("action"),
                  fields.get("target"), fields.get("actor"), exc)
        return None


# -- datasets ---------------------------------------------------------------------------------------------------
def dataset_digest(store, uri: str) -> str | None:
    """The content digest of the version the store holds (None: it holds none)."""
    from harvesters.provenance import content_hash

    triples = store.dataset_triples(uri)
    return content_hash(uri, triples) if triples else None


def cli_detail() -> dict:
    """Who acted from the command line: via cli, the OS user and host, and the --as account's login if any."""
    acting = CLI.get()
    return dict(acting["detail"]) if acting is not None else os_identity()


def audit_publication(platform, graphs: dict, outcome, before: dict, existed: dict, *, principal=None,
                      detail: dict | None = None) -> None:
    """One entry per dataset a publication stored (created or updated) or held back (the gate's decision)."""
    from harvesters.provenance import content_hash

    detail = detail or {}
    for uri in outcome.published:
        audit("dataset.publish", f"dataset:{uri.rsplit('/', 1)[-1]}", before.get(uri),
              dataset_digest(platform.store, uri), {**detail, "status": "updated" if existed.get(uri) else "created"},
              principal=principal, log_to=platform.audit)
    for uri, report in outcome.held.items():
        audit("dataset.hold", f"dataset:{uri.rsplit('/', 1)[-1]}", before.get(uri), content_hash(uri, graphs[uri]),
              {**detail, "violations": report.count("Violation")}, principal=principal, log_to=platform.audit)


def digests_before(platform, graphs: dict) -> tuple[dict, dict]:
    """Before a publication: which datasets the store holds, and their digests."""
    existed = {uri: platform.store.record_modified(uri) is not None for uri in graphs}
    return existed, {uri: dataset_digest(platform.store, uri) for uri, was in existed.items() if was}


# -- accounts, tokens, grants ------------------------------------------------------------------------------------
def account_digest(account) -> str | None:
    """A digest of an account's state as the platform shows it (never its password hash or tokens)."""
    if account is None:
        return None
    return hashlib.sha256(canonical(account.as_json()).encode("utf-8")).hexdigest()


class AccountAudit:
    """Entries for account, token and grant changes, by the request's principal or (outside a request) the
    command line (detail ``via: cli`` and the system user)."""

    def __init__(self, audit_log: AuditLog | None) -> None:
        self.log = audit_log

    def _write(self, action: str, target: str, before=None, after=None, detail: dict | None = None) -> None:
        if has_request_context():
            audit(action, target, before, after, detail, log_to=self.log)
        elif self.log is not None:
            who = _principal(None)  # the command's --as account, else none (the OS account: detail names it)
            write(self.log, actor=getattr(who, "id", None), role=_role(who), action=action, target=target,
                  address=None, before=before, after=after, detail={**cli_detail(), **(detail or {})})

    def account(self, action: str, before, after) -> None:
        """An account made or changed: its role and department before and after, its login."""
        detail = {"login": after.login, "role": after.role, "department": after.department}
        if before is not None:
            for key in ("role", "department", "disabled"):
                if getattr(before, key) != getattr(after, key):
                    detail[key] = [getattr(before, key), getattr(after, key)]
        self._write(action, f"account:{after.id}", account_digest(before), account_digest(after), detail)

    def token(self, action: str, token) -> None:
        self._write(action, f"token:{token.id}", detail={"account": token.account_id, "scopes": list(token.scopes)})

    def grant(self, action: str, dataset_id: str, department: str) -> None:
        self._write(action, f"dataset:{dataset_id}", detail={"department": department})


# -- harvest runs ----------------------------------------------------------------------------------------------
class HarvestAudit:
    """An observer of harvesters.service.Harvesting: one entry when a run starts, one when it ends."""

    def __init__(self, audit_log: AuditLog) -> None:
        self.log = audit_log

    def _who(self):
        if has_request_context():
            return _principal(None)
        handed = REQUESTER.get()  # a run handed to a thread by a request: who asked
        return handed[0] if handed else _principal(None)  # else a command's --as account, or none

    @staticmethod
    def _detail(detail: dict) -> dict:
        """A run a command started (here or through an /internal door) names it: via cli, OS user, host."""
        return {**cli_detail(), **detail} if CLI.get() is not None else detail

    @staticmethod
    def _address():
        if has_request_context():
            return request.remote_addr
        handed = REQUESTER.get()
        return handed[1] if handed else None

    def harvest_started(self, source: str, trigger: str) -> None:
        who = self._who()
        write(self.log, actor=getattr(who, "id", None), role=_role(who), action="harvest.start",
              target=f"harvest-source:{source}", address=self._address(), detail=self._detail({"trigger": trigger}))

    def harvest_queued(self, source: str, trigger: str) -> None:
        """A run put on the queue (harvest.queue postgres): who asked; the worker records its start and end."""
        who = self._who()
        write(self.log, actor=getattr(who, "id", None), role=_role(who), action="harvest.queue",
              target=f"harvest-source:{source}", address=self._address(), detail=self._detail({"trigger": trigger}))

    def harvest_ended(self, source: str, trigger: str, report: dict | None, error: BaseException | None) -> None:
        who = self._who()
        if report is not None:
            detail = {"trigger": trigger, "job": report.get("id"),
                      "status": report.get("status"),
                      "counts": {k: report[k] for k in ("new", "updated", "unchanged", "held", "withdrawn",
                                                         "failed", "superseded") if k in report}}
        else:
            detail = {"trigger": trigger, "status": "error", "error": type(error).__name__ if error else None}
        write(self.log, actor=getattr(who, "id", None), role=_role(who), action="harvest.finish",
              target=f"harvest-source:{source}", address=self._address(), detail=self._detail(detail))


# -- settings at start-up --------------------------------------------------------------------------------------
def settings_values(settings, key: bytes) -> dict[str, object]:
    """Flatten the effective settings to dotted keys; a secret is replaced by its keyed digest (HMAC-SHA-256)."""
    secret = {(section, name) for section, model in type(settings).model_fields.items()
              for name in _secret_fields(model.annotation)}
    out: dict[str, object] = {}
    for section, values in settings.model_dump(mode="json").items():
        if not isinstance(values, dict):
            out[section] = values
            continue
        for name, value in values.items():
            if (section, name) in secret and value is not None:
                value = "hmac:" + hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
            out[f"{section}.{name}"] = value
    return out


def _secret_fields(model) -> set[str]:
    fields = getattr(model, "model_fields", {})
    return {name for name, f in fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("secret")}


def audit_key(home: Path) -> bytes:
    """Return the home's key for secret settings' digests, made (private) on first use."""
    path = Path(home) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        write_private(path, secrets.token_hex(32).encode("ascii"))
        return bytes.fromhex(path.read_text("ascii").strip())


def record_settings(audit_log: AuditLog, settings) -> Entry | None:
    """Record the effective settings' digest when it differs from the last start's (first start: loaded)."""
    values = settings_values(settings, audit_key(settings.home))
    previous = audit_log.state("settings.values")
    old = _loads(previous)
    changed = {k: _change(old.get(k), values.get(k)) for k in sorted(set(values) | set(old))
               if values.get(k) != old.get(k)}
    digest = hashlib.sha256(canonical(values).encode("utf-8")).hexdigest()
    entry = audit_log.record_if_changed(
        "settings", digest, action="settings.changed" if previous else "settings.loaded", target="settings",
        detail={"changed": changed} if previous else {"keys": len(values)})
    if entry is not None or previous is None:
        audit_log.set_state("settings.values", canonical(values))
    return entry


def _change(old, new):
    """A changed setting as [before, after]; a secret only as "secret changed" (its keyed digests say nothing)."""
    if any(isinstance(v, str) and v.startswith("hmac:") for v in (old, new)):
        return "secret changed" if old is not None and new is not None else ("secret set" if new else "secret unset")
    return [old, new]


def _loads(text: str | None) -> dict:
    return json.loads(text) if text else {}
