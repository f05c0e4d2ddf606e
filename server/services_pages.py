"""The public's service pages (issue 13): 有条件开放 applications, API keys, use reports, and their review queues.

- ``/apply?datasets=ID,ID``: a signed-in account applies (purpose, scenario, fields, period, the commitment);
- ``/account/applications``: the applicant's applications, decisions, grants, API keys (made here, shown once)
  and use reports;
- ``/admin/applications``: the bureau's queue (every waiting application, overdue first) or, for a publisher, its
  department's; ``/admin/applications/<id>``: one application with the forms to decide, revoke.

Routes are thin: services/applications.py keeps the state and the rules, access/roles.py's POLICY decides who may
decide (``decide-application``: a department's publisher for its own datasets; ``grant-application``: the bureau's
reviewer), server/audit.py records each step. zh-CN first, ``?lang=en`` English; every form posts its CSRF token.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from flask import Blueprint, Response, current_app, redirect, request

from access.roles import Action, allowed
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from ontology.namespaces import DCT
from server.audit import audit
from server.portal.i18n import pick

bp = Blueprint("services", __name__)

WORDS = {  # key: (zh-CN, en)
    "apply_title": ("申请使用有条件开放数据", "Apply for conditionally open data"),
    "datasets": ("申请的数据集", "Datasets applied for"), "department": ("提供部门", "Department"),
    "purpose": ("申请用途", "Purpose"), "scenario": ("应用场景", "Use scenario"),
    "fields": ("所需字段", "Fields needed"), "from": ("使用期限自", "Period from"), "to": ("至", "to"),
    "commitment": ("安全承诺", "Security commitment"),
    "commit": ("我已阅读并签署以上安全承诺（版本 {v}）", "I have read and sign the commitment above (version {v})"),
    "submit": ("提交申请", "Submit the application"),
    "not_conditional": ("{id} 不是可申请的有条件开放数据集（{why}）", "{id} cannot be applied for ({why})"),
    "mine": ("我的数据申请", "My applications"), "none": ("暂无申请。", "No applications yet."),
    "status": ("状态", "Status"), "deadline": ("办理期限", "Deadline"), "submitted": ("提交时间", "Submitted"),
    "st_department": ("部门审核中", "with the department"), "st_bureau": ("数据局审核中", "with the data bureau"),
    "st_approved": ("已批准", "approved"), "st_refused": ("未通过", "refused"), "st_revoked": ("已撤销", "revoked"),
    "d_pending": ("待审核", "pending"), "d_approved": ("同意", "approved"), "d_refused": ("不同意", "refused"),
    "reason": ("理由", "Reason"), "expires": ("授权截止", "Grant ends"),
    "keys": ("API 密钥", "API keys"), "new_key": ("生成 API 密钥", "Make an API key"),
    "key_once": ("请立即保存此密钥，它只显示这一次：", "Save this key now, it is shown only this once:"),
    "key_use": ("调用方式：请求头 Authorization: Bearer <密钥>，或参数 ?api_key=<密钥>。",
                "Send it as 'Authorization: Bearer <key>' or '?api_key=<key>'."),
    "revoke_key": ("停用", "Revoke"), "revoked": ("已停用", "revoked"), "created": ("创建", "created"),
    "reports": ("使用情况报告", "Use reports"), "report": ("提交使用情况报告", "Submit a use report"),
    "report_due": ("下次报告截止 {day}", "Next report due {day}"),
    "report_overdue": ("使用情况报告已逾期（应于 {day} 前提交）", "Use report overdue (due {day})"),
    "queue": ("数据申请审核", "Application review"), "queue_dept": ("本部门待审核的数据申请", "Applications for the department's datasets"),
    "overdue": ("已超期", "overdue"), "unknown": ("未知（{why}）", "unknown ({why})"),
    "approve": ("同意", "Approve"), "refuse": ("不同意", "Refuse"), "decide": ("审核", "Decide"),
    "revoke": ("撤销授权", "Revoke the grant"), "applicant": ("申请人", "Applicant"),
    "decided": ("已办结", "Decided"), "reason_needed": ("不同意或撤销时须填写理由。", "A refusal or revocation needs its reason."),
    "commitment_signed": ("已签署安全承诺 {v}（{at}）", "Commitment {v} signed ({at})"),
}


def word(key: str, lang: str, **values) -> str:
    return pick(WORDS, key, lang, **values)


def _platform():
    return current_app.extensions["wodp"]


def _lang() -> str:
    from server.portal.i18n import current_lang

    return current_lang()


def _link(path: str, params: dict | None = None) -> str:
    from server.portal.i18n import link

    return link(path, _lang(), params)


def _page(template: str, title: str, status: int = 200, **context) -> Response:
    from server.portal.views import render_page

    from manage.dashboard import department_label

    lang = _lang()
    body = render_page(template, lang, title=title, w=lambda key, **v: word(key, lang, **v), today=_today(),
                       dept=lambda code: department_label(code, lang) or code, **context)
    return Response(body, status=status, mimetype="text/html")


def _today() -> date:
    from services.applications import beijing_day

    return beijing_day(datetime.now(timezone.utc))


def _signed_in():
    """Return the session's account; anonymous: 401 (a page is sent to sign in first)."""
    from server.auth import SignInRequired, current_account

    account = current_account()
    if account is None:
        raise SignInRequired("请先登录。 Sign in first.")
    return account


# -- what a dataset id names --------------------------------------------------------------------------------
DESCRIBE = """SELECT ?p ?o WHERE { GRAPH <%s> { <%s> ?p ?o
  VALUES ?p { <http://purl.org/dc/terms/publisher> <http://purl.org/dc/terms/title> } } }"""


def describe(dataset_id: str) -> dict:
    """Return a dataset's IRI, title, owning department and whether it may be applied for (with why not)."""
    from manage.freshness import department_of
    from server.access_guard import dataset_access

    platform = _platform()
    if not is_dataset_id(dataset_id):
        return {"id": dataset_id, "ok": False, "why": "not a dataset id"}
    uri = platform.dataset_uri(dataset_id)
    if platform.store.record_modified(uri) is None:
        return {"id": dataset_id, "uri": uri, "ok": False, "why": "not in this catalogue"}
    kind = dataset_access(platform.store, uri).open_type.value
    publishers, titles = [], []
    for row in platform.store.query(DESCRIBE % (uri, uri)):
        (publishers if row[0].value == DCT.publisher.value else titles).append(row[1])
    department, why = department_of([p.value for p in publishers])
    zh = [t.value for t in titles if (getattr(t, "language", "") or "").startswith("zh")]
    title = zh[0] if zh else (titles[0].value if titles else None)
    info = {"id": dataset_id, "uri": uri, "title": title, "department": department, "open_type": kind}
    if kind != "conditional":
        return info | {"ok": False, "why": f"open type {kind}"}
    if not department:
        return info | {"ok": False, "why": why}
    return info | {"ok": True, "why": None}


def _ids(raw: str) -> list[str]:
    ids = [i.strip() for part in raw.split(",") for i in part.split() if i.strip()]
    if len(ids) > 50:
        raise BadRequestError("at most 50 datasets in one application")
    return list(dict.fromkeys(ids))


# -- applying -----------------------------------------------------------------------------------------------
@bp.route("/apply", methods=["GET", "POST"])
def apply():
    """The application form; its post files the application and goes to the applicant's page."""
    account = _signed_in()
    platform = _platform()
    settings = platform.settings.applications
    raw = request.values.get("datasets", "")
    found = [describe(i) for i in _ids(raw)]
    lang = _lang()
    errors = [word("not_conditional", lang, id=d["id"], why=d["why"]) for d in found if not d["ok"]]
    form = request.form
    if request.method == "POST" and found and not errors:
        try:
            period_from = date.fromisoformat(form.get("period_from", ""))
            period_to = date.fromisoformat(form.get("period_to", ""))
        except ValueError:
            errors.append("期限须为日期（YYYY-MM-DD）。 The period needs two dates (YYYY-MM-DD).")
        else:
            try:
                app = platform.applications.apply(
                    account.id, [(d["uri"], d["department"], d["title"]) for d in found],
                    purpose=form.get("purpose", ""), scenario=form.get("scenario", ""),
                    fields=form.get("fields", ""), period_from=period_from, period_to=period_to,
                    committed=form.get("commitment") == "signed")
            except BadRequestError as exc:
                errors.append(exc.message)
            else:
                audit("application.submit", f"application:{app.id}", after=app.status,
                      detail={"datasets": [i.dataset for i in app.items], "departments": app.departments(),
                              "period": [app.period_from, app.period_to],
                              "commitment_version": app.commitment_version, "committed_at": app.committed_at,
                              "department_deadline": app.department_deadline, "deadline_note": app.deadline_note})
                return redirect(_link("/account/applications") + f"#app-{app.id}")
    if not found:
        errors.append("请在数据集页面点击“申请使用”。 Choose datasets from their pages (申请使用).")
    commitment = settings.commitment_en if lang == "en" else settings.commitment_zh
    return _page("services_apply.html", word("apply_title", lang), status=400 if errors and request.method == "POST"
                 else 200, found=found, errors=errors, raw=raw, form=form, commitment=commitment,
                 version=settings.commitment_version)


# -- the applicant's page ---------------------------------------------------------------------------------
@bp.route("/account/applications", methods=["GET"])
def mine():
    account = _signed_in()
    platform = _platform()
    keys = [t for t in platform.accounts.tokens(account.id) if "data" in t.scopes]
    return _page("services_account.html", word("mine", _lang()), apps=platform.applications.of_account(account.id),
                 keys=keys, new_key=None, every=platform.settings.applications.report_every_days)


@bp.route("/account/keys", methods=["POST"])
def new_key():
    """Make an API key (a token of scope data) of the signed-in account; show it this once."""
    account = _signed_in()
    platform = _platform()
    token, secret = platform.accounts.add_token(account.id, ("data",), (request.form.get("name") or "API key")[:100])
    audit("api-key.create", f"token:{token.id}", detail={"account": account.id, "scopes": list(token.scopes)})
    keys = [t for t in platform.accounts.tokens(account.id) if "data" in t.scopes]
    response = _page("services_account.html", word("mine", _lang()), apps=platform.applications.of_account(account.id),
                     keys=keys, new_key=secret, every=platform.settings.applications.report_every_days)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/keys/<token_id>/revoke", methods=["POST"])
def revoke_key(token_id: str):
    account = _signed_in()
    platform = _platform()
    token = platform.accounts.token(token_id)
    if token is None or token.account_id != account.id or "data" not in token.scopes:
        raise NotFoundError(f"no API key {token_id!r} of this account")
    platform.accounts.revoke_token(token_id)
    audit("api-key.revoke", f"token:{token_id}", detail={"account": account.id})
    return redirect(_link("/account/applications") + "#keys")


@bp.route("/account/applications/<int:app_id>/report", methods=["POST"])
def report(app_id: int):
    account = _signed_in()
    app = _platform().applications.report(app_id, account.id, request.form.get("report", ""))
    audit("application.report", f"application:{app_id}", detail={"reports": len(app.reports)})
    return redirect(_link("/account/applications") + f"#app-{app_id}")


# -- the queues and decisions -----------------------------------------------------------------------------
@bp.route("/admin/applications", methods=["GET"])
def queue():
    """The bureau's queue (every waiting application) or a publisher's (its department's datasets)."""
    from server.auth import authorize, current_principal

    principal = current_principal()
    applications = _platform().applications
    lang = _lang()
    if allowed(principal, Action.GRANT_APPLICATION):  # the bureau (and the admin): every waiting application
        waiting, done, title = applications.bureau_queue(), applications.decided(), word("queue", lang)
    else:
        authorize(Action.DECIDE_APPLICATION, principal.department)  # 401 / 403 unless a department's publisher
        waiting = applications.department_queue(principal.department)
        done, title = applications.decided(principal.department), word("queue_dept", lang)
    return _page("services_queue.html", title, waiting=waiting, done=done, department=principal.department)


@bp.route("/admin/applications/<int:app_id>", methods=["GET"])
def detail(app_id: int):
    from server.auth import authorize, current_principal

    principal = current_principal()
    app = _platform().applications.get(app_id)
    if not allowed(principal, Action.GRANT_APPLICATION):
        if not any(allowed(principal, Action.DECIDE_APPLICATION, d) for d in app.departments()):
            authorize(Action.DECIDE_APPLICATION, app.departments()[0])  # 401 / 403
    mine = [d for d in app.departments() if allowed(principal, Action.DECIDE_APPLICATION, d)]
    applicant = _platform().accounts.get(app.account_id)
    return _page("services_detail.html", f"{word('queue', _lang())} #{app.id}", app=app, mine=mine,
                 bureau=allowed(principal, Action.GRANT_APPLICATION), applicant=applicant,
                 every=_platform().settings.applications.report_every_days)


def _decision() -> tuple[bool, str | None]:
    choice = request.form.get("decision")
    if choice not in ("approve", "refuse"):
        raise BadRequestError("decision must be approve or refuse")
    return choice == "approve", (request.form.get("reason") or "").strip() or None


@bp.route("/admin/applications/<int:app_id>/department", methods=["POST"])
def decide_department(app_id: int):
    """A department's decision on its own datasets of the application (department: the form's, checked)."""
    from server.auth import authorize

    applications = _platform().applications
    app = applications.get(app_id)
    department = (request.form.get("department") or "").strip().upper()
    if department not in app.departments():
        raise BadRequestError(f"application {app_id} names no dataset of department {department or '(none)'}")
    principal = authorize(Action.DECIDE_APPLICATION, department)  # 403: another department's publisher
    approve, reason = _decision()
    after = applications.decide_department(app_id, department, principal.id, approve, reason)
    audit("application.department-decision", f"application:{app_id}", before=app.status, after=after.status,
          detail={"department": department, "decision": "approved" if approve else "refused", "reason": reason,
                  "datasets": [i.dataset for i in after.items if i.department == department],
                  "bureau_deadline": after.bureau_deadline, "deadline_note": after.deadline_note})
    return redirect(_link(f"/admin/applications/{app_id}"))


@bp.route("/admin/applications/<int:app_id>/bureau", methods=["POST"])
def decide_bureau(app_id: int):
    from server.auth import authorize

    principal = authorize(Action.GRANT_APPLICATION)
    applications = _platform().applications
    before = applications.get(app_id)
    approve, reason = _decision()
    after = applications.decide_bureau(app_id, principal.id, approve, reason)
    audit("application.bureau-decision", f"application:{app_id}", before=before.status, after=after.status,
          detail={"decision": "approved" if approve else "refused", "reason": reason, "expires": after.expires,
                  "granted": [g.dataset for g in after.grants]})
    return redirect(_link(f"/admin/applications/{app_id}"))


@bp.route("/admin/applications/<int:app_id>/revoke", methods=["POST"])
def revoke(app_id: int):
    """Revoke the grants: the bureau all of them, a department those of its own datasets."""
    from server.auth import authorize, current_principal

    applications = _platform().applications
    app = applications.get(app_id)
    department = (request.form.get("department") or "").strip().upper() or None
    if department is None:
        principal = authorize(Action.GRANT_APPLICATION)
    else:
        principal = authorize(Action.DECIDE_APPLICATION, department)
    reason = request.form.get("reason", "")
    after = applications.revoke(app_id, principal.id, reason, department=department)
    audit("application.revoke", f"application:{app_id}", before=app.status, after=after.status,
          detail={"department": department, "reason": reason.strip(),
                  "revoked": [g.dataset for g in after.grants if g.revoked and g.revoked_by == principal.id]})
    return redirect(_link(f"/admin/applications/{app_id}"))
