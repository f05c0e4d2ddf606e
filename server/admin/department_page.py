"""The department's dashboard page (/admin/department): renders manage/dashboard.py's numbers, zh-CN and English."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, redirect, request

from manage.dashboard import DepartmentDashboard, calendar_outlook, department_dashboard, department_label
from manage.freshness import STATUSES
from server.audit import audit
from server.portal.i18n import pick

department_bp = Blueprint("admin_department", __name__, template_folder="templates")

WORDS = {  # key: (zh-CN, en)
    "title": ("部门数据概况", "Department overview"),
    "choose": ("选择部门", "Choose a department"),
    "show": ("查看", "Show"),
    "as_of": ("统计日期 {day}", "As of {day}"),
    "datasets": ("已发布数据集", "Published datasets"),
    "held": ("未通过校验（暂存）", "Held back by validation"),
    "broken_links": ("失效链接", "Broken links"),
    "overdue_updates": ("逾期未更新", "Overdue updates"),
    "on_time_rate": ("按时更新率", "On-time update rate"),
    "quality_score": ("平均质量得分", "Mean quality score"),
    "open_orders": ("待处理工单", "Open work orders"),
    "overdue_orders": ("其中已超期 {n}", "{n} past their deadline"),
    "unknown": ("暂无", "not known yet"),
    "freshness": ("更新时效（{day} 测量）", "Freshness (measured {day})"),
    "freshness_none": ("尚未测量更新时效。", "Freshness has not been measured yet."),
    "rate_note": ("按时更新率 = 按时 /（按时 + 逾期）；其余状态单独列出，不计入。",
                  "On-time rate = on time / (on time + late); the other statuses are listed, not counted in."),
    "on-time": ("按时", "on time"), "late": ("逾期", "late"), "no-cycle": ("未声明更新周期", "no cycle declared"),
    "cycle-unreadable": ("更新周期无法识别", "cycle not machine-readable"),
    "no-deadline": ("不定期或不更新", "irregular or never"), "no-modified": ("缺少更新日期", "no update date"),
    "calendar-unknown": ("节假日安排未公布", "calendar not yet published"),
    "orders": ("工单", "Work orders"), "orders_none": ("没有待处理的工单。", "No open work orders."),
    "kind": ("类型", "Kind"), "dataset": ("数据集", "Dataset"), "detail": ("问题", "Finding"),
    "status": ("状态", "Status"), "deadline": ("办理期限", "Deadline"), "opened": ("发起时间", "Opened"),
    "open": ("待处理", "open"), "in-progress": ("处理中", "in progress"), "resolved": ("已解决", "resolved"),
    "rejected": ("已驳回", "rejected"), "past": ("已超期", "past due"),
    "no_deadline": ("未定（{why}）", "not set ({why})"),
    "deadline_unknown": ("办理期限未知：{year} 年节假日安排尚未配置", "deadline unknown: the calendar for {year} is not configured"),
    "unknown_deadlines": ("办理期限未知的工单", "Work orders, deadline unknown"),
    "calendar_warning": (
        "节假日安排只配置到 {last} 年底（还有 {days} 天）：{year} 年的工作日无法计算，届时工单等办理期限将显示为“未知”。"
        "请在国务院办公厅发布 {year} 年放假调休安排后，将其录入节假日补充文件（设置项 manage.holidays_file，"
        "可用 wodp calendar check 检查），或升级 chinese-calendar。",
        "The official calendar is configured up to the end of {last} ({days} days from now): working days of {year} "
        "cannot be counted, and deadlines that reach it will show as unknown. Once the State Council's holiday "
        "notice for {year} is out, enter it in the holiday supplement (setting manage.holidays_file; check it with "
        "wodp calendar check) or update chinese-calendar."),
    "overdue-update": ("逾期未更新", "overdue update"), "broken-link": ("链接失效", "broken link"),
    "reminders": ("提醒", "Reminders"), "approaching": ("即将到期：还剩 {n} 个工作日", "due soon: {n} working days left"),
    "overdue": ("已超期", "past its deadline"), "due_today": ("今天到期", "due today"),
    "more": ("另有 {n} 条提醒，见下方工单列表。", "{n} more reminders: see the work orders below."),
    "applications": ("待审核的数据申请（超期在前）", "Applications waiting for the department (overdue first)"),
    "applications_none": ("没有待审核的数据申请。", "No application is waiting."),
    "requests": ("待答复的纠错与数据需求（超期在前）", "Error reports and data requests to answer (overdue first)"),
    "requests_none": ("没有待答复的纠错或数据需求。", "No error report or data request is waiting."),
    "rq_error": ("纠错", "error report"), "rq_data": ("数据需求", "data request"),
    "count": ("数量", "Count"), "status_col": ("状态", "Status"),
    "move": ("办理", "Update"), "note": ("说明", "Note"), "to": ("改为", "Move to"),
    "act_open": ("重新打开", "reopen"), "act_in-progress": ("开始处理", "start work"),
    "act_resolved": ("已解决", "resolved"), "act_rejected": ("驳回（非问题）", "reject (not a fault)"),
}


def word(key: str, lang: str, **values) -> str:
    return pick(WORDS, key, lang, **values)


def gather(platform, code: str, as_of=None) -> DepartmentDashboard:
    """Gather a department's numbers from the running platform's parts."""
    harvesting = getattr(platform, "harvesting", None)
    return department_dashboard(code, freshness=platform.freshness, workorders=platform.workorders,
                                quarantine=platform.quarantine, links=getattr(harvesting, "links", None),
                                quality_scores=platform.quality_scores, as_of=as_of,
                                calendar_warning_days=_warning_days(platform))


def _warning_days(platform) -> int:
    settings = getattr(platform, "settings", None)
    return settings.manage.calendar_warning_days if settings is not None else 30


def render_department(platform, code: str | None, lang: str, *, choices: list[str] | None = None,
                      settings=None, as_of=None, may_act: bool = False, calendar_notice: bool = False) -> str:
    """Render the page of one department (or, with no code, the choice of departments for staff).

    may_act: the viewer may move the department's work orders (a form per order, posting its CSRF token).
    calendar_notice: the viewer keeps the settings (the admin): warn when the official calendar runs out soon.
    """
    from manage.workorders import TRANSITIONS
    from server.portal.views import render_page

    board = gather(platform, code, as_of) if code else None
    name = department_label(code, lang) if code else None
    applications = getattr(platform, "applications", None)
    waiting = applications.department_queue(code) if code and applications is not None else None
    requests = getattr(platform, "requests", None)  # 纠错 and 数据需求 (services/requests.py)
    asked = requests.department_queue(code) if code and requests is not None else None
    return render_page(
        "admin_department.html", lang, settings=settings, title=word("title", lang), active="admin",
        w=lambda key, **values: word(key, lang, **values), board=board, code=code, name=name,
        statuses=STATUSES, choices=[(c, department_label(c, lang) or c) for c in (choices or [])],
        kind_word=lambda kind: word(kind, lang) if kind in WORDS else kind, may_act=may_act,
        moves=TRANSITIONS, applications=waiting, applications_today=_today(), requests=asked,
        outlook=calendar_outlook(board.as_of if board else as_of, _warning_days(platform)) if calendar_notice else None)


@department_bp.route("/admin/department", methods=["GET", "HEAD"])
def department():
    """Show a department's numbers: a publisher its own; staff who read every department choose one."""
    from access.roles import Action, allowed
    from server.auth import authorize, current_principal
    from server.portal.i18n import current_lang

    principal = current_principal()
    own = getattr(principal, "department", None)
    asked = (request.args.get("department") or "").strip().upper()[:20] or None
    code = asked or own
    authorize(Action.READ_MANAGEMENT, code)  # 401 anonymous; 403 another department's, or none for a publisher
    every = allowed(principal, Action.READ_MANAGEMENT, None)  # reads every department: may choose
    choices = _department_codes() if every else []
    if code is not None and department_label(code) is None and code not in choices:
        code = None  # not one of ours: nothing to show but the choice
    may_act = code is not None and allowed(principal, Action.WORK_ORDERS, code)
    return render_department(current_app.extensions["wodp"], code, current_lang(), choices=choices,
                             may_act=may_act, calendar_notice=allowed(principal, Action.MANAGE_SETTINGS, None))


@department_bp.route("/admin/workorders/<int:order_id>/status", methods=["POST"])
def move_work_order(order_id: int):
    """Move a work order (in progress, resolved, rejected, reopened) with a note; back to its department's page."""
    from access.roles import Action
    from core.errors import BadRequestError
    from server.auth import authorize
    from server.portal.i18n import current_lang, link

    orders = current_app.extensions["wodp"].workorders
    order = orders.get(order_id)  # 404 when there is none
    principal = authorize(Action.WORK_ORDERS, order.department)
    status = (request.form.get("status") or "").strip()
    note = (request.form.get("note") or "").strip()[:2000] or None
    if not status:
        raise BadRequestError("choose the status the work order moves to")
    moved = orders.transition(order_id, status, principal.id, note)  # 409 for a move the rules refuse
    _audit("workorder.status", f"workorder:{order_id}", order.status, moved.status,
           {"department": order.department, "dataset": order.dataset, "kind": order.kind, "note": note})
    return redirect(link("/admin/department", current_lang(), {"department": order.department}) + f"#wo-{order_id}")


def _audit(action: str, target: str, before: str, after: str, detail: dict) -> None:
    """Append the change to the audit log (server/audit.py)."""
    audit(action, target, before=before, after=after, detail=detail)


def _today():
    from services.applications import beijing_day

    return beijing_day(datetime.now(timezone.utc))


def _department_codes() -> list[str]:
    from ontology.labels import department_names
    from ontology.namespaces import DEPARTMENT

    return sorted(node.value[len(DEPARTMENT.base):] for node in department_names()
                  if node.value.startswith(DEPARTMENT.base))
