"""The auditor's page of the management center: /admin/audit lists the audit log with filters, exports it, and
verifies its chain (Action.READ_AUDIT). Thin: the log, its filters and its exports are access/audit*.py."""

from __future__ import annotations

import io

from flask import Blueprint, Response, current_app, render_template, request, url_for

from access.audit import verify
from access.roles import Action
from access.audit_export import FORMATS, export, utc_bound
from core.errors import BadRequestError, NotFoundError
from server.audit import audit
from server.auth import require
from server.portal.i18n import current_lang, link

bp = Blueprint("admin_audit", __name__, url_prefix="/admin/audit", template_folder="templates")
PAGE = 100

WORDS: dict[str, tuple[str, str]] = {  # key: (zh-CN, en)
    "title": ("审计日志", "Audit log"), "admin": ("管理中心", "Management center"),
    "since": ("起始时间", "From"), "until": ("截止时间", "Until"), "actor": ("操作账号", "Account"),
    "action": ("操作", "Action"), "filter": ("筛选", "Filter"), "clear": ("清除筛选", "Clear filters"),
    "time_hint": ("ISO 8601，未注明时区按 UTC，如 2026-12-01T08:00+08:00",
                  "ISO 8601, UTC unless it says, e.g. 2026-12-01T08:00+08:00"),
    "action_hint": ("精确匹配；以“.”结尾时匹配前缀，如 dataset.", "exact; a trailing '.' matches a prefix, e.g. dataset."),
    "seq": ("序号", "No."), "at": ("时间（UTC）", "Time (UTC)"), "role": ("角色", "Role"),
    "target": ("对象", "Target"), "address": ("客户端地址", "Client address"),
    "digests": ("摘要（前 → 后）", "Digests (before → after)"), "detail": ("详情", "Detail"),
    "none": ("（系统）", "(system)"), "empty": ("没有符合条件的记录。", "No entry matches."),
    "export": ("导出", "Export"), "jsonl": ("JSON Lines", "JSON Lines"), "csv": ("CSV（Excel）", "CSV (Excel)"),
    "older": ("更早的记录", "Older entries"), "newest": ("最新记录", "Newest entries"),
    "shown": ("显示 {n} 条（日志共 {total} 条，最新在前）", "{n} shown ({total} entries in the log, newest first)"),
    "verify": ("校验哈希链", "Verify the hash chain"),
    "verify_ok": ("哈希链完整：{n} 条记录均与其哈希一致，且依次相接；锚点 #{anchor}。",
                  "The chain is whole: all {n} entries match their hashes and follow each other; anchor #{anchor}."),
    "verify_bad": ("哈希链已损坏：第一条问题记录为 #{seq}。", "The chain is broken: the first bad entry is #{seq}."),
    "switch": ("English", "中文"),
}


def _t(key: str, lang: str, **values) -> str:
    zh, en = WORDS[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def _log():
    found = getattr(current_app.extensions["wodp"], "audit", None)
    if found is None:
        raise NotFoundError("the audit log is not open in this process")
    return found


def _filters() -> dict:
    args = request.args
    try:
        since, until = utc_bound(args.get("since")), utc_bound(args.get("until"))
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    return {"since": since, "until": until, "actor": (args.get("actor") or "").strip() or None,
            "action": (args.get("action") or "").strip() or None}


def _render(template: str, **context) -> str:
    lang = current_lang()
    settings = current_app.extensions["wodp"].settings
    other = "zh" if lang == "en" else "en"
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return render_template(
        template, lang=lang, html_lang="en" if lang == "en" else "zh-CN", active="admin",
        t=lambda key, **values: _t(key, lang, **values) if key in WORDS else _portal_t(key, lang, **values),
        link=lambda path, params=None, keep_lang=True: link(path, lang if keep_lang else "zh", params),
        static=lambda name: url_for("portal.static", filename=name), site=settings.site,
        switch_href=link(request.path, other, args), title=_t("title", lang),
        site_name=settings.site.title_en if lang == "en" else settings.site.title_zh,
        site_description=settings.site.description_en if lang == "en" else settings.site.description_zh, **context)


def _portal_t(key: str, lang: str, **values) -> str:
    from server.portal.i18n import translate

    return translate(key, lang, **values)


@bp.get("")
@bp.get("/")
@require(Action.READ_AUDIT)
def page():
    """List entries newest first, a page at a time (?before=SEQ for older ones), with the filters."""
    audit_log, filters = _log(), _filters()
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        raise BadRequestError("before must be an entry number") from None
    entries = list(audit_log.entries(**filters, before_seq=before, limit=PAGE, newest_first=True))
    raw = {k: request.args.get(k, "") for k in ("since", "until", "actor", "action")}
    older = (link("/admin/audit", current_lang(), raw | {"before": entries[-1].seq})
             if len(entries) == PAGE and entries[-1].seq > 1 else None)
    exports = {fmt: link(f"/admin/audit/export.{fmt}", "zh", raw) for fmt in FORMATS}
    return _render("admin_audit.html", entries=entries, logins=_logins(entries), filters=raw,
                   total=audit_log.count(), older=older,
                   exports=exports, any_filter=any(raw.values()) or before is not None, report=None)


def _logins(entries) -> dict[str, str]:
    """The login name of each account the entries name as actor (an account gone keeps its id only)."""
    accounts = getattr(current_app.extensions["wodp"], "accounts", None)
    found = {}
    for actor in {e.actor for e in entries if e.actor} if accounts is not None else ():
        account = accounts.get(actor)
        if account is not None:
            found[actor] = account.login
    return found


@bp.get("/verify")
@require(Action.READ_AUDIT)
def verify_page():
    """Walk the whole chain and say whether it is whole, naming the first bad entry."""
    report = verify(_log())
    return _render("admin_audit.html", entries=[], filters={}, total=report.entries, older=None, exports={},
                   any_filter=False, report=report), 200 if report.ok else 409


@bp.get("/export.<fmt>")
@require(Action.READ_AUDIT)
def export_file(fmt: str):
    """Download the entries the filters select (the download is itself an entry of the log)."""
    if fmt not in FORMATS:
        raise NotFoundError(f"no export format {fmt!r} (known: {', '.join(FORMATS)})")
    audit_log, filters = _log(), _filters()
    out = io.StringIO(newline="")
    n = export(audit_log.entries(**filters), out, fmt)
    audit("audit.export", "audit-log", detail={"via": "web", "format": fmt, "entries": n,
                                               "filters": {k: v for k, v in filters.items() if v}})
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else "application/jsonl; charset=utf-8"
    return Response(out.getvalue().encode("utf-8"), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="audit-log.{fmt}"'})
