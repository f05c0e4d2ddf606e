"""The department workbench (数据报送): drafts and submissions, the form, data files, validation, submit, withdraw.

Routes stay thin: manage.review.Workbench holds the rules, manage.submissions the state. Every route asks the
policy (server.auth.require) for the submission's department; every form posts its CSRF token.
"""

from __future__ import annotations

import threading

from flask import Response, current_app, redirect, request

from access.roles import Action, allowed
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from harvesters.provenance import account_uri, with_attribution
from manage import drafts
from manage.profile_form import FILES, TOP, form_fields
from manage.review import SubmissionInvalidError, Workbench
from manage.submissions import EDITABLE
from server.admin import admin_bp
from server.admin.wb_words import ACTIONS, word
from server.auth import current_principal, require
from server.internal import ForbiddenError

_lock = threading.Lock()


def _platform():
    return current_app.extensions["wodp"]


def workbench() -> Workbench:
    """Return the platform's Workbench, opening the submissions part on first use."""
    platform = _platform()
    found = platform.extras.get("workbench")
    if found is not None:
        return found
    with _lock:
        if "workbench" not in platform.extras:
            s = platform.settings
            accounts = getattr(platform, "accounts", None)
            platform.extras["workbench"] = Workbench(
                platform.submissions(), platform.publisher, s.base_uri, mode=s.review.mode,
                overdue_days=s.review.overdue_days, owner_rule=getattr(accounts, "owner_rule", None),
                attribute=lambda uri, triples, account: with_attribution(uri, triples,
                                                                         account_uri(s.base_uri, account)))
        return platform.extras["workbench"]


def lang() -> str:
    from server.portal.i18n import current_lang

    return current_lang()


def page(template: str, title: str, **context) -> Response:
    """Render an admin page on the portal's base template, with the workbench's words."""
    from server.portal.views import render_page

    current = lang()
    body = render_page(template, current, title=title, w=lambda key, **v: word(key, current, **v),
                       actions=ACTIONS, **context)
    return Response(body, mimetype="text/html")


def back(path: str, params: dict | None = None) -> Response:
    from server.portal.i18n import link

    return redirect(link(path, lang(), params), code=303)


def audit(action: str, target: str, before=None, after=None, detail=None) -> None:
    """Record a step in the audit log (server/audit.py): who, role, address, the digests before and after."""
    from server.audit import audit as record

    record(action, target, before=before, after=after, detail=detail)


def dataset_digest(dataset_id: str | None) -> str | None:
    """The content digest of the version of a dataset the store holds (None: none), for the audit log."""
    from server.audit import dataset_digest as digest

    if not dataset_id or not is_dataset_id(dataset_id):
        return None
    return digest(_platform().store, _platform().dataset_uri(dataset_id))


def who() -> tuple[str | None, str | None]:
    principal = current_principal()
    return principal.id, principal.role


def department_of_submission(submission_id: str, **_ignored) -> str:
    return workbench().store.get(submission_id).department


def own_department(**_ignored) -> str | None:
    """The department a list or a new draft is for: the principal's own (an admin names one: ?department=)."""
    principal = current_principal()
    return (principal.department or request.values.get("department") or "").strip().upper() or None


def named_department() -> str:
    """Return the department the request acts for, one of the scheme's; 400 when none is named."""
    from manage.profile_form import vocabulary
    from ontology.namespaces import DEPARTMENT

    code = own_department()
    if not code or DEPARTMENT.base + code not in vocabulary():
        raise BadRequestError("name the department to report for, e.g. ?department=D017 (an account bound to a "
                              "department reports for its own)", code="department-required")
    return code


# -- the form's values ---------------------------------------------------------------------------------------
def posted_values() -> dict:
    values = {}
    for f in form_fields():
        if f.kind == "multiselect":
            values[f.name] = [v.strip() for v in request.form.getlist(f.name) if v.strip()]
        else:
            values[f.name] = request.form.get(f.name, "").strip()
    return {k: v for k, v in values.items() if v}


def publisher_options(department: str | None):
    """The publisher picker: a department's publisher may only name its own department."""
    [publisher] = [f for f in form_fields() if f.name == "publisher"]
    if not department:
        return publisher.options
    return tuple(o for o in publisher.options if o.value.rsplit("/", 1)[-1] == department)


def form_context(sub, checked=None, notes=()):
    current = lang()
    wb = workbench()
    checked = checked or wb.check(sub)
    fields = []
    for f in form_fields():
        options = publisher_options(sub.department) if f.name == "publisher" else f.options
        value = sub.values.get(f.name)
        chosen = set(value if isinstance(value, list) else [value] if value else [])
        fields.append({"f": f, "label": f.label(current), "value": value or "", "chosen": chosen,
                       "options": [(o.value, o.en if current == "en" else o.zh) for o in options],
                       "findings": checked.placed.get(f.name, []),
                       "readonly": f.name == "resource_code" and sub.kind == "change"})
    return {"sub": sub, "fields": fields, "checked": checked, "top": checked.placed.get(TOP, []),
            "file_findings": checked.placed.get(FILES, []), "files": wb.store.files(sub.id),
            "crs_choices": [(v, en if current == "en" else zh) for v, zh, en in drafts.CRS_CHOICES],
            "editable": sub.status in EDITABLE, "review_needed": wb.needs_review(sub), "notes": list(notes),
            "events": wb.store.events(sub.id), "mode": wb.mode, "login_of": login_of}


def login_of(account_id: str | None) -> str:
    """Show an account by its login name (its id when the account is gone)."""
    accounts = getattr(_platform(), "accounts", None)
    found = accounts.get(account_id) if accounts is not None and account_id else None
    return getattr(found, "login", None) or account_id or ""


# -- the pages -----------------------------------------------------------------------------------------------
@admin_bp.get("/workbench")
@require(Action.CREATE, department=own_department)
def workbench_home():
    """List the department's drafts and submissions; staff bound to none (an admin) first choose the department."""
    principal, choices = current_principal(), []
    if not principal.department and allowed(principal, Action.CREATE, None):  # as /admin/department does
        from manage.dashboard import department_label
        from server.admin.department_page import _department_codes

        choices = [(c, department_label(c, lang()) or c) for c in _department_codes()]
        if own_department() is None:
            return page("workbench_list.html", word("workbench", lang()), department=None, subs=[],
                        choices=choices, mode=workbench().mode)
    department = named_department()
    subs = workbench().store.of_department(department)
    return page("workbench_list.html", word("workbench", lang()), department=department, subs=subs,
                choices=choices, mode=workbench().mode)


@admin_bp.route("/workbench/new", methods=["GET", "POST"])
@require(Action.CREATE, department=own_department)
def workbench_new():
    """Show an empty form (GET); start a draft from what was posted, or a change of a published dataset (POST)."""
    department = named_department()
    wb = workbench()
    actor, role = who()
    if request.method == "GET":
        return page("workbench_form.html", word("new", lang()), **_blank_context(department))
    dataset_id = request.form.get("dataset", "").strip()
    if dataset_id:
        owner = _owner_of(dataset_id)
        if owner != department:
            raise ForbiddenError(f"dataset {dataset_id} belongs to department {owner or '(none)'}; "
                                 f"this account reports for department {department}")
        sub = wb.start_change(dataset_id, department, actor, role)
    else:
        values = posted_values()
        sub = wb.store.create(department, actor, role, values=values)
        sub = wb.store.update(sub.id, values, actor, role, dataset_id=drafts.dataset_id_of(values))
    audit("submission.create", f"submission:{sub.id}", detail={"kind": sub.kind, "department": department,
                                                            "dataset": sub.dataset_id})
    return back(f"/admin/workbench/{sub.id}")


def _owner_of(dataset_id: str) -> str | None:
    from publish.gate import department_of

    if not is_dataset_id(dataset_id):
        raise NotFoundError(f"{dataset_id!r} is not a dataset identifier")
    platform = _platform()
    uri = platform.dataset_uri(dataset_id)
    triples = platform.store.dataset_triples(uri)
    if not triples:
        raise NotFoundError(f"no published dataset {dataset_id!r}")
    return department_of(uri, triples)


def _blank_context(department: str | None) -> dict:
    from manage.review import Checked
    from manage.submissions import DRAFT, Submission

    sub = Submission("", department or "", None, "new", DRAFT, {}, None, "", None, "", None, None, None, None)
    return form_context(sub, Checked(None, [], {}, {})) | {"events": [], "files": []}


@admin_bp.get("/workbench/<submission_id>")
@require(Action.EDIT, department=department_of_submission)
def workbench_item(submission_id: str):
    """Show a submission's form with its validation report beside the fields."""
    sub = workbench().store.get(submission_id)
    notes = []
    if sub.kind == "change" and sub.status in EDITABLE:
        missing = workbench().dropped(sub, lang())
        if missing:
            notes.append(word("not_carried", lang(), fields="、".join(missing)))
    return page("workbench_form.html", sub.values.get("title") or word("workbench", lang()),
                **form_context(sub, notes=notes))


@admin_bp.post("/workbench/<submission_id>")
@require(Action.EDIT, department=department_of_submission)
def workbench_save(submission_id: str):
    """Save the form (and so validate it again)."""
    wb = workbench()
    actor, role = who()
    before = wb.store.get(submission_id)
    values = posted_values()
    if before.kind == "change":
        values["resource_code"] = before.values.get("resource_code", "")
    sub = wb.store.update(submission_id, values, actor, role, dataset_id=drafts.dataset_id_of(values))
    audit("submission.edit", f"submission:{submission_id}", detail={"fields": sorted(values)})
    return back(f"/admin/workbench/{sub.id}")


def read_data_file(raw: bytes, media: str, name: str, limits=None) -> int:
    """Read a data file with the platform's bounded readers (a sandbox task); return its rows or features."""
    from ogc.datafiles import parse_data

    parsed = parse_data(raw, media, name, limits=limits)
    if isinstance(parsed, dict):
        return len(parsed.get("features") or []) if "features" in parsed else 1
    return len(parsed)


@admin_bp.post("/workbench/<submission_id>/files")
@require(Action.EDIT, department=department_of_submission)
def workbench_attach(submission_id: str):
    """Attach a data file (CSV, XLSX, JSON, GeoJSON) with its coordinate system, read before it is kept."""
    from server.validation_api import isolated

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequestError("choose a data file to attach (CSV, XLSX, JSON, GeoJSON)")
    name = upload.filename.replace("/", "_").replace("\\", "_").strip()
    kind = drafts.FILE_KINDS.get(drafts.suffix(name))
    if kind is None:
        raise BadRequestError(f"{name}: the workbench takes CSV, XLSX, JSON and GeoJSON files", status=415,
                              code="unsupported-media-type")
    crs = request.form.get("crs", "").strip() or None
    if crs is not None and drafts.crs_of(crs) is None:
        raise BadRequestError(f"{crs!r} is not a coordinate system of the platform (CGCS2000, WGS84, GCJ02, BD09)")
    wb = workbench()
    data = upload.read(wb.store.max_file_bytes + 1)
    platform = _platform()
    rows = isolated(read_data_file, data, kind[1], name, platform.settings.input_limits, what=f"the data file {name}")
    actor, role = who()
    kept = wb.store.attach(submission_id, name, data, kind[1], drafts.crs_of(crs), rows, actor, role)
    audit("submission.attach", f"submission:{submission_id}", after=kept.sha256,
          detail={"name": name, "size": kept.size, "crs": kept.crs})
    return back(f"/admin/workbench/{submission_id}")


@admin_bp.post("/workbench/<submission_id>/files/<file_id>/delete")
@require(Action.EDIT, department=department_of_submission)
def workbench_detach(submission_id: str, file_id: str):
    actor, role = who()
    workbench().store.detach(submission_id, file_id, actor, role)
    audit("submission.detach", f"submission:{submission_id}", detail={"file": file_id})
    return back(f"/admin/workbench/{submission_id}")


@admin_bp.post("/workbench/<submission_id>/submit")
@require(Action.SUBMIT, department=department_of_submission)
def workbench_submit(submission_id: str):
    """Submit: to the review queue, or published at once when no review is needed."""
    wb = workbench()
    actor, role = who()
    sub = wb.store.get(submission_id)
    before = dataset_digest(sub.dataset_id or drafts.dataset_id_of(sub.values))
    try:
        sub, _checked = wb.submit(sub, actor, role)
    except SubmissionInvalidError as exc:
        sub = wb.store.get(submission_id)
        return Response(page("workbench_form.html", sub.values.get("title") or word("workbench", lang()),
                             **form_context(sub, exc.checked, notes=[exc.message])).get_data(),
                        status=422, mimetype="text/html")
    audit("submission.submit", f"submission:{submission_id}", detail={"status": sub.status,
                                                                       "dataset": sub.dataset_id})
    if sub.status == "published":
        audit("dataset.publish", f"dataset:{sub.dataset_id}", before, dataset_digest(sub.dataset_id),
              {"via": "workbench", "submission": sub.id, "review": False,
               "status": "updated" if before else "created"})
    return back(f"/admin/workbench/{sub.id}")


@admin_bp.post("/workbench/<submission_id>/withdraw")
@require(Action.WITHDRAW, department=department_of_submission)
def workbench_withdraw(submission_id: str):
    wb = workbench()
    actor, role = who()
    sub = wb.withdraw(wb.store.get(submission_id), actor, role)
    audit("submission.withdraw", f"submission:{submission_id}", detail={"status": sub.status})
    return back("/admin/workbench", {"department": sub.department})


def department_of_dataset(dataset_id: str, **_ignored) -> str | None:
    """The department a published dataset belongs to (404: no such published dataset)."""
    return _owner_of(dataset_id)


@admin_bp.post("/datasets/<dataset_id>/withdraw")
@require(Action.WITHDRAW, department=department_of_dataset)
def dataset_withdraw(dataset_id: str):
    """Withdraw a published dataset (a reviewer any, a publisher its department's): kept as a tombstone, answering
    410 from now on; a version held back for it is discarded too. The reason, when given, goes to the audit log."""
    from manage.review import SOURCE

    platform = _platform()
    uri = platform.dataset_uri(dataset_id)
    reason = request.form.get("reason", "").strip()[:2000] or None
    before = dataset_digest(dataset_id)
    department = _owner_of(dataset_id)
    platform.publisher.withdraw([uri], SOURCE)
    detail = {"department": department, "via": "workbench", "reason": reason}
    audit("dataset.withdraw", f"dataset:{dataset_id}", before, None, detail)
    actor, role = who()
    platform.submissions().withdraw_published(dataset_id, actor, role, reason=reason,
                                              detail={"via": "workbench"})  # 已发布 → 已撤回
    if platform.quarantine.release(dataset_id):  # a held-back version goes too
        audit("dataset.discard-held", f"dataset:{dataset_id}", None, None, detail)
    return back(f"/datasets/{dataset_id}")
