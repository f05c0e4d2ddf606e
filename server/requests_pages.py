"""The public's error reports (纠错) and data requests (数据需求), and the departments' replies (issue 13, point 5).

- ``/requests/error/<dataset id>``: a signed-in public account reports what is wrong in a dataset (field, row);
- ``/requests/new``: it asks for data (what, for what use, optionally the department);
- ``/requests``: the public 数据需求 page, every request with its status, deadline, reply and the time it took;
- ``/requests/<n>``: one request; its department's publisher replies there (``reply-request``), the data bureau
  assigns it to a department (``assign-request``);
- ``/admin/requests``: the bureau's queue (every waiting request) or a publisher's (its department's).

Routes are thin: services/requests.py keeps the state and the rules, access/roles.py's POLICY decides who may
reply or assign, server/audit.py records each step (``request.file``, ``request.assign``, ``request.reply``).
zh-CN first, ``?lang=en`` English; every form posts its CSRF token (server/auth.py checks it).
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, redirect, request

from access.roles import Action, Role, allowed
from core.errors import BadRequestError, NotFoundError
from server.audit import audit
from server.portal.i18n import TEXT, current_lang, link, pick

bp = Blueprint("requests", __name__)
LIST_LIMIT = 200  # the newest shown on /requests, of each kind (the page says how many there are in all)

TEXT.update({  # key: (zh-CN, en); the menu, the footer and the dataset page's 纠错 panel
    "rq_errors": ("数据纠错", "Error reports"),
    "rq_report": ("我要纠错", "Report an error"),
    "rq_none": ("暂无纠错。", "No error reported."),
    "rq_sign_in": ("登录后可纠错。", "Sign in to report an error."),
})

WORDS = {  # key: (zh-CN, en)
    "list_title": ("数据需求与纠错", "Data requests and error reports"),
    "list_lead": ("公众提出的数据需求和数据纠错，由相关部门在规定的工作日内答复；答复后连同用时在此公开。",
                  "Data requests and error reports from the public are answered by the departments within the "
                  "working days set; each is public here with its reply and the time it took."),
    "new_title": ("提出数据需求", "Request data"), "error_title": ("数据纠错", "Report an error"),
    "wanted": ("需要什么数据", "What data"), "use": ("用途", "For what use"),
    "department": ("提供部门", "Department"), "any_department": ("不确定（由数据局分配）", "Not sure (the data bureau assigns it)"),
    "dataset": ("数据集", "Dataset"), "field": ("字段（可选）", "Field (optional)"), "row": ("行（可选）", "Row (optional)"),
    "field_l": ("字段", "Field"), "row_l": ("行", "Row"),
    "what": ("问题描述", "What is wrong"), "submit": ("提交", "Send"),
    "sign_in": ("登录后可提出数据需求或纠错。", "Sign in to request data or report an error."),
    "sign_in_link": ("登录", "Sign in"),
    "kind_error": ("纠错", "error report"), "kind_data": ("数据需求", "data request"),
    "st_unassigned": ("待分配", "to be assigned"), "st_open": ("办理中", "with the department"),
    "st_replied": ("已答复", "replied"),
    "filed": ("提交时间", "Filed"), "deadline": ("答复期限", "Reply due"), "status": ("状态", "Status"),
    "reply": ("答复", "Reply"), "replied": ("答复时间", "Replied"),
    "took": ("用时 {n} 个工作日", "took {n} working days"),
    "took_0": ("用时不足 1 个工作日", "took less than a working day"), "colon": ("：", ": "),
    "took_unknown": ("用时未知（{why}）", "time taken unknown ({why})"),
    "late": ("逾期答复", "replied late"), "overdue": ("已超期", "overdue"),
    "unknown": ("未知（{why}）", "unknown ({why})"), "waiting_bureau": ("待数据局分配", "waiting for the data bureau"),
    "none": ("暂无。", "None yet."), "requests": ("数据需求", "Data requests"), "errors": ("数据纠错", "Error reports"),
    "new": ("提出数据需求", "Request data"), "queue": ("纠错与数据需求办理", "Error reports and data requests"),
    "queue_dept": ("本部门待答复的纠错与数据需求（超期在前）", "Waiting for the department's reply (overdue first)"),
    "answered": ("已答复", "Replied"), "send_reply": ("提交答复", "Send the reply"),
    "assign": ("分配给部门", "Assign to a department"), "assign_do": ("分配", "Assign"),
    "where": ("位置", "Where"), "number": ("编号", "No."),
    "shown": ("显示最新 {shown} 条，共 {total} 条。", "The newest {shown} of {total} are shown."),
    "waiting_n": ("另有 {n} 条正在办理，答复后公开。", "{n} more are being handled: each is shown with its reply."),
    "mine_waiting": ("此件正在办理，部门答复后公开；现在只有您和办理人员能看到。",
                     "This is being handled and is shown to the public with its reply; until then only you and "
                     "the staff handling it see it."),
}


def word(key: str, lang: str, **values) -> str:
    return pick(WORDS, key, lang, **values)


def _platform():
    return current_app.extensions["wodp"]


def _requests():
    found = _platform().requests
    if found is None:
        raise NotFoundError("error reports and data requests are not open in this process")
    return found


def _today():
    from services.requests import beijing_day

    return beijing_day(datetime.now(timezone.utc))


def _departments(lang: str) -> list[tuple[str, str]]:
    from manage.dashboard import department_label
    from server.admin.department_page import _department_codes

    return [(code, department_label(code, lang) or code) for code in _department_codes()]


def _page(template: str, title: str, status: int = 200, **context) -> Response:
    from manage.dashboard import department_label
    from server.auth import current_principal
    from server.portal.views import render_page

    lang = current_lang()
    principal = current_principal()
    body = render_page(template, lang, title=title, active="requests", w=lambda key, **v: word(key, lang, **v),
                       today=_today(), signed_in=principal.id is not None,
                       public=principal.id is not None and principal.role == Role.PUBLIC,
                       dept=lambda code: (department_label(code, lang) or code) if code else "", **context)
    return Response(body, status=status, mimetype="text/html")


def dataset_context(platform, dataset_id: str) -> dict:
    """What the dataset page's 纠错 panel shows: the dataset's error reports, with their replies and times."""
    from manage.dashboard import department_label

    lang = current_lang()
    return {"reports": platform.requests.of_dataset(dataset_id), "today": _today(),
            "waiting": platform.requests.waiting_on_dataset(dataset_id),
            "w": lambda key, **v: word(key, lang, **v),
            "dept": lambda code: (department_label(code, lang) or code) if code else ""}


def _public_account():
    """Return the signed-in public account; anonymous: 401 (sent to sign in), staff: 403."""
    from server.auth import NotAllowed, SignInRequired, current_account, current_principal

    principal = current_principal()
    if principal.id is None:
        raise SignInRequired("请先登录。 Sign in first to request data or report an error.")
    if principal.role != Role.PUBLIC:
        raise NotAllowed("纠错和数据需求面向公众账号。 Error reports and data requests are for public accounts.")
    return principal, current_account()


def _filed(r) -> None:
    audit("request.file", f"request:{r.id}", after=r.status,
          detail={"kind": r.kind, "dataset": r.dataset, "department": r.department, "deadline": r.deadline,
                  "deadline_note": r.deadline_note})


# -- the public ---------------------------------------------------------------------------------------------
@bp.route("/requests", methods=["GET"])
def listing():
    """The public 数据需求 page: every data request and error report, its status, deadline and reply."""
    requests = _requests()
    lang = current_lang()
    return _page("requests_list.html", word("list_title", lang), data=requests.public("data", limit=LIST_LIMIT),
                 errors=requests.public("error", limit=LIST_LIMIT),
                 totals={kind: requests.count(kind) for kind in ("data", "error")},
                 waiting={kind: requests.count(kind, replied=False) for kind in ("data", "error")})


@bp.route("/requests/new", methods=["GET", "POST"])
def new():
    """The data request form; its post files the request and shows it."""
    lang = current_lang()
    departments = _departments(lang)
    errors: list[str] = []
    if request.method == "POST":
        principal, _account = _public_account()
        chosen = (request.form.get("department") or "").strip().upper() or None
        if chosen is not None and chosen not in {c for c, _ in departments}:
            raise BadRequestError(f"{chosen!r} is not one of the departments")
        try:
            r = _requests().request_data(principal.id, wanted=request.form.get("wanted", ""),
                                         use=request.form.get("use", ""), department=chosen)
        except BadRequestError as exc:
            errors.append(exc.message)
        else:
            _filed(r)
            return redirect(link(f"/requests/{r.id}", lang), code=303)
    return _page("requests_form.html", word("new_title", lang), status=400 if errors else 200, kind="data",
                 departments=departments, errors=errors, form=request.form, target=None)


@bp.route("/requests/error/<dataset_id>", methods=["GET", "POST"])
def report_error(dataset_id: str):
    """The 纠错 form of a dataset; its post files the report, sent to the dataset's department."""
    from server.services_pages import describe

    lang = current_lang()
    target = describe(dataset_id)
    if target.get("uri") is None or target.get("why") == "not in this catalogue":
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    errors: list[str] = []
    if request.method == "POST":
        principal, _account = _public_account()
        try:
            r = _requests().report_error(principal.id, dataset_id, target.get("title"), target.get("department"),
                                         what=request.form.get("what", ""), field=request.form.get("field"),
                                         row=request.form.get("row"))
        except BadRequestError as exc:
            errors.append(exc.message)
        else:
            _filed(r)
            return redirect(link(f"/requests/{r.id}", lang), code=303)
    return _page("requests_form.html", word("error_title", lang), status=400 if errors else 200, kind="error",
                 departments=[], errors=errors, form=request.form, target=target)


@bp.route("/requests/<int:request_id>", methods=["GET"])
def detail(request_id: int):
    """One request with its reply; the forms to reply (its department) and to assign (the bureau)."""
    from server.auth import current_principal

    r = _requests().get(request_id)
    principal = current_principal()
    may_reply = r.status == "open" and allowed(principal, Action.REPLY_REQUEST, r.department)
    may_assign = r.status != "replied" and allowed(principal, Action.ASSIGN_REQUEST)
    if r.status != "replied" and not (may_reply or may_assign or (principal.id and principal.id == r.account_id)):
        raise NotFoundError(f"request {request_id} is public once its department has replied")
    lang = current_lang()
    return _page("requests_detail.html", f"{word('kind_' + r.kind, lang)} #{r.id}", r=r, may_reply=may_reply,
                 may_assign=may_assign, departments=_departments(lang) if may_assign else [])


# -- the departments and the bureau -----------------------------------------------------------------------
@bp.route("/admin/requests", methods=["GET"])
def queue():
    """The bureau's queue (every waiting request) or a publisher's (its department's), overdue first."""
    from server.auth import authorize, current_principal

    principal = current_principal()
    requests = _requests()
    lang = current_lang()
    if allowed(principal, Action.ASSIGN_REQUEST):
        waiting, done, title = requests.bureau_queue(), requests.answered(), word("queue", lang)
    else:
        authorize(Action.REPLY_REQUEST, principal.department)  # 401 / 403 unless a department's publisher
        waiting = requests.department_queue(principal.department)
        done, title = requests.answered(principal.department), word("queue_dept", lang)
    return _page("requests_queue.html", title, waiting=waiting, done=done)


@bp.route("/requests/<int:request_id>/reply", methods=["POST"])
def reply(request_id: int):
    """The department's reply (a publisher of the department the request is with)."""
    from server.auth import authorize

    requests = _requests()
    before = requests.get(request_id)
    principal = authorize(Action.REPLY_REQUEST, before.department)  # 403: another department's publisher
    if before.department is None:
        raise BadRequestError(f"request {request_id} waits for the data bureau to assign it a department")
    after = requests.answer(request_id, before.department, principal.id, request.form.get("reply", ""))
    audit("request.reply", f"request:{request_id}", before=before.status, after=after.status,
          detail={"kind": after.kind, "department": after.department, "dataset": after.dataset,
                  "reply_days": after.reply_days, "reply_note": after.reply_note, "deadline": after.deadline,
                  "late": after.late_reply()})
    return redirect(link(f"/requests/{request_id}", current_lang()), code=303)


@bp.route("/requests/<int:request_id>/assign", methods=["POST"])
def assign(request_id: int):
    """The data bureau sends a request to a department (its deadline counts from now)."""
    from server.auth import authorize

    principal = authorize(Action.ASSIGN_REQUEST)
    requests = _requests()
    before = requests.get(request_id)
    department = (request.form.get("department") or "").strip().upper()
    if department not in {c for c, _ in _departments("zh")}:
        raise BadRequestError(f"{department or '(none)'} is not one of the departments")
    after = requests.assign(request_id, department, principal.id)
    audit("request.assign", f"request:{request_id}", before=before.status, after=after.status,
          detail={"kind": after.kind, "from": before.department, "department": department,
                  "deadline": after.deadline, "deadline_note": after.deadline_note})
    return redirect(link(f"/requests/{request_id}", current_lang()), code=303)
