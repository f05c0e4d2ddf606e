"""The admin console's harvest sources: list, add, edit, disable or enable, run now, and one source's page.

Sources of the settings are shown read-only (marked so); sources added here are kept on the data layer
(harvesters/sources.py) so that every process sees them. Every change is audited (see ``_audit``).
"""

from __future__ import annotations

import hashlib
import json

from flask import jsonify, redirect, request

from access.roles import Action
from core.errors import NotFoundError, WodpError
from harvesters.base import KINDS
from harvesters.sources import CONSOLE, SourceConfigError, make_source
from server.admin import admin_bp
from server.admin.console import current_alerts, harvesting, platform, render
from server.admin.settings_view import hide_url
from server.admin.words import translate
from server.audit import audit, requester_kept
from server.auth import current_principal, require
from server.portal.i18n import current_lang, link

FIELDS = ("name", "kind", "url", "mapping", "schedule", "channel", "priority", "profile", "jurisdiction")


def _actor() -> str | None:
    """Return the id of the signed-in account making a change."""
    return current_principal().id


def _audit(action: str, target: str, before=None, after=None) -> None:
    """Append a source change to the audit log (server/audit.py): the digests before and after, the changed fields.

    Runs are not audited here: every run, whoever starts it, leaves harvest.start and harvest.finish (the audit
    log's observer of harvesters.service.Harvesting), with the signed-in account when a request started it.
    """
    old = json.loads(_describe(before)) if before is not None else {}
    new = json.loads(_describe(after)) if after is not None else {}
    changed = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
    audit(action, target, before=_digest(before), after=_digest(after), detail={"changed": changed})


def _describe(known) -> str:
    """Return a source as canonical JSON (URL passwords hidden): what the audit log digests and compares."""
    body = known.source.model_dump(mode="json", exclude_defaults=True)
    body["enabled"] = known.source.enabled
    if body.get("url"):
        body["url"] = hide_url(body["url"])
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _digest(known) -> str | None:
    return None if known is None else hashlib.sha256(_describe(known).encode()).hexdigest()


def _rows():
    h = harvesting()
    alerts = {}
    for a in current_alerts():
        alerts.setdefault(a.source, []).append(a)
    out = []
    for known in h.table.all():
        latest = h.jobs.jobs(known.name, limit=1)
        out.append({"known": known, "latest": latest[0].as_json() if latest else None,
                    "alerts": alerts.get(known.name, [])})
    return out


def _form_fields() -> dict:
    """Read the source form: plain fields, options as a JSON object, enabled as a checkbox."""
    fields = {k: request.form.get(k, "").strip() for k in FIELDS}
    raw = request.form.get("options", "").strip()
    if raw:
        try:
            options = json.loads(raw)
        except ValueError as exc:
            raise SourceConfigError(f"options: not JSON: {exc}") from None
        if not isinstance(options, dict):
            raise SourceConfigError("options: must be a JSON object, e.g. {\"rows\": 100}")
        fields["options"] = options
    fields["enabled"] = request.form.get("enabled") == "on"
    return fields


def _sources_page(form=None, error=None, status=200):
    return render("admin_sources.html", "sources", status, rows=_rows(), kinds=sorted(KINDS), form=form or {},
                  error=error, mappings=_mappings(), done=_done(), title=translate("sources", current_lang()))


def _mappings() -> list[str]:
    from mappings.spec import available_mappings

    return available_mappings()


def _done() -> str | None:
    """Return the sentence saying what the last change did (?done=…&name=…, after a redirect)."""
    done, name, lang = request.args.get("done"), request.args.get("name", ""), current_lang()
    if done in ("added", "saved", "enabled", "disabled"):
        return translate(f"done_{done}", lang, name=name)
    if done in ("queued", "starting"):
        return translate(f"done_{done}", lang)
    if done == "run":
        job = harvesting().jobs.job(int(request.args.get("job", "0") or 0)) if request.args.get(
            "job", "").isdigit() else None
        if job is not None and job.status == "running":
            return translate("done_running", lang, job=job.id)
        if job is not None:
            return translate("done_run", lang, job=job.id, status=translate(f"status_{job.status}", lang), **{
                k: job.counts.get(k, 0) for k in ("new", "updated", "held", "failed")})
    return None


def _back(name: str, done: str, **params) -> object:
    return redirect(link(f"/admin/sources/{name}", current_lang(), {"done": done, "name": name, **params}), 303)


@admin_bp.get("/sources")
@require(Action.READ_MANAGEMENT)
def sources_page():
    """List every source (settings' read-only, console's editable) with its latest job and alerts."""
    return _sources_page()


@admin_bp.post("/sources")
@require(Action.HARVEST)
def add_source():
    """Add a source to the data layer (refused, with the field named, when it is not valid)."""
    h = harvesting()
    try:
        fields = _form_fields()
        added = h.table.add(make_source(fields), by=_actor())
    except WodpError as exc:
        return _sources_page(form=request.form, error=exc.message, status=exc.status)
    _audit("harvest-source.add", f"harvest-source:{added.name}", after=added)
    return _back(added.name, "added")


def _known(name: str):
    found = harvesting().table.get(name)
    if found is None:
        raise NotFoundError(f"no harvest source {name!r}")
    return found


@admin_bp.get("/sources/<name>")
@require(Action.READ_MANAGEMENT)
def source_page(name: str):
    """Show one source: its definition, its alerts, its trend chart and its jobs."""
    known = _known(name)
    jobs = [j.as_json() for j in harvesting().jobs.jobs(name, limit=50)]
    alerts = [a for a in current_alerts() if a.source == name]
    url = hide_url(known.source.url) if known.source.url else None
    # just run from here and still running (or about to start): the page looks again every 2 s until it ends
    refresh = request.args.get("done") in ("run", "starting") and (
        any(j["status"] == "running" for j in jobs) or request.args.get("done") == "starting")
    return render("admin_source.html", "sources", known=known, url=url, jobs=jobs, alerts=alerts, done=_done(),
                  changed_by=_login_of(known.updated_by), refresh=refresh,
                  days=platform().settings.trends.days, title=f"{translate('source', current_lang())} {name}")


@admin_bp.route("/sources/<name>/edit", methods=["GET", "POST"])
@require(Action.HARVEST)
def edit_source(name: str):
    """Edit a console source (settings' sources are refused: they are changed in the settings)."""
    known = _known(name)
    if known.origin != CONSOLE:
        return render("admin_source_form.html", "sources", 409, known=known, form={}, kinds=sorted(KINDS),
                      mappings=_mappings(), error=translate("read_only_note", current_lang()),
                      title=translate("edit_source", current_lang()))
    if request.method == "GET":
        src = known.source
        form = {**{k: getattr(src, k) if getattr(src, k) is not None else "" for k in FIELDS},
                "options": json.dumps(src.options, ensure_ascii=False) if src.options else "",
                "enabled": "on" if src.enabled else ""}
        return render("admin_source_form.html", "sources", known=known, form=form, kinds=sorted(KINDS),
                      mappings=_mappings(), error=None, title=translate("edit_source", current_lang()))
    try:
        fields = {**_form_fields(), "name": name}   # a source keeps its name (its datasets' ids hang on it)
        before, after = harvesting().table.update(make_source(fields), by=_actor())
    except WodpError as exc:
        return render("admin_source_form.html", "sources", exc.status, known=known, form=request.form,
                      kinds=sorted(KINDS), mappings=_mappings(), error=exc.message,
                      title=translate("edit_source", current_lang()))
    _audit("harvest-source.edit", f"harvest-source:{name}", before=before, after=after)
    return _back(name, "saved")


@admin_bp.post("/sources/<name>/enabled")
@require(Action.HARVEST)
def enable_source(name: str):
    """Enable (enabled=1) or disable (enabled=0) a console source."""
    _known(name)
    enabled = request.form.get("enabled") == "1"
    try:
        before, after = harvesting().table.set_enabled(name, enabled, by=_actor())
    except WodpError as exc:
        return _source_refused(name, exc)
    _audit("harvest-source.enable" if enabled else "harvest-source.disable", f"harvest-source:{name}",
           before=before, after=after)
    return _back(name, "enabled" if enabled else "disabled")


@admin_bp.post("/sources/<name>/run")
@require(Action.HARVEST)
def run_source(name: str):
    """Hand a run of the source to a worker (the queue, or a thread of this process) and answer at once: back
    to the source's page, which shows the job running (or queued); a JSON client gets 202 and the job's link."""
    _known(name)
    try:
        with requester_kept():  # the run's audit entries name who asked
            report = harvesting().start(name, trigger="console")
    except WodpError as exc:
        return _source_refused(name, exc)
    status, job = report.get("status"), report.get("id")
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        body = {"source": name, "status": status, "job": job, "message": report.get("message")}
        answer = jsonify({k: v for k, v in body.items() if v is not None})
        answer.status_code = 202
        answer.headers["Location"] = f"/api/harvest/jobs/{job}" if job else f"/admin/sources/{name}"
        return answer
    if status == "queued":
        return _back(name, "queued")
    return _back(name, "run", job=job) if job else _back(name, "starting")


def _login_of(account_id: str | None) -> str | None:
    """Return the login name of the account that last changed a source (its id when the account is gone)."""
    if account_id is None:
        return None
    found = platform().accounts.get(account_id) if platform().accounts is not None else None
    return found.login if found is not None else account_id


def _source_refused(name: str, exc: WodpError):
    known = _known(name)
    jobs = [j.as_json() for j in harvesting().jobs.jobs(name, limit=50)]
    return render("admin_source.html", "sources", exc.status, known=known, jobs=jobs,
                  url=hide_url(known.source.url) if known.source.url else None,
                  alerts=[a for a in current_alerts() if a.source == name], changed_by=_login_of(known.updated_by),
                  done=translate("refused", current_lang(), reason=exc.message),
                  days=platform().settings.trends.days, title=f"{translate('source', current_lang())} {name}")

