"""The admin console's read pages: overview, alerts, effective settings, and the trends JSON the charts read."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from flask import current_app, jsonify, redirect, render_template, request, url_for

from access.roles import Action, allowed
from core.errors import BadRequestError, NotFoundError
from manage import trends as trend_rules
from server.admin import admin_bp
from server.admin.settings_view import HIDDEN, effective_settings
from server.admin.job_words import job_message
from server.admin.words import translate
from server.auth import authorize, current_account, current_principal, require
from server.portal.i18n import current_lang, link


def platform():
    return current_app.extensions["wodp"]


def harvesting():
    """Return the platform's harvesting (jobs, sources), or say it is off in this process."""
    found = platform().harvesting
    if found is None:
        raise NotFoundError("harvesting is not enabled in this process")
    return found


def when(moment: float | None) -> str:
    """Write a moment as local time (trends.utc_offset_h), to the minute."""
    if moment is None:
        return ""
    zone = timezone(timedelta(hours=platform().settings.trends.utc_offset_h))
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M")


def render(template: str, section: str, status: int = 200, **context):
    """Render an admin template over the portal's base, with the console's words and links."""
    lang = current_lang()
    settings = platform().settings
    other = "zh" if lang == "en" else "en"
    args = {k: request.args.getlist(k) for k in request.args if k != "lang"}
    page = render_template(
        template, lang=lang, html_lang="en" if lang == "en" else "zh-CN", section=section,
        t=lambda key, **values: translate(key, lang, **values),
        job_note=lambda message: job_message(message, lang),  # a job's message, in Chinese on the zh page
        link=lambda path, params=None, keep_lang=True: link(path, lang if keep_lang else "zh", params),
        static=lambda name: url_for("portal.static", filename=name),
        admin_static=lambda name: url_for("admin.static", filename=name),
        site=settings.site, switch_href=link(request.path, other, args), when=when, HIDDEN=HIDDEN,
        account=current_account(), can_manage_accounts=allowed(current_principal(), Action.MANAGE_ACCOUNTS),
        can=_nav_reach(current_principal()),
        site_name=settings.site.title_en if lang == "en" else settings.site.title_zh,
        site_description=settings.site.description_en if lang == "en" else settings.site.description_zh,
        **context)
    return page, status


def _nav_reach(principal) -> dict[str, bool]:
    """Which of the other management pages the nav offers: the ones the principal may open."""
    own = principal.department
    return {"workbench": allowed(principal, Action.CREATE, own),  # an admin (no department) chooses one there
            "review": allowed(principal, Action.REVIEW), "audit": allowed(principal, Action.READ_AUDIT),
            "showcase": allowed(principal, Action.REVIEW_SHOWCASE),
            "moderation": allowed(principal, Action.REVIEW),  # ratings' comments (server/admin/moderation.py)
            "applications": allowed(principal, Action.GRANT_APPLICATION)  # 有条件开放 (server/services_pages.py)
            or (bool(own) and allowed(principal, Action.DECIDE_APPLICATION, own)),
            "requests": allowed(principal, Action.ASSIGN_REQUEST)  # 纠错 and 数据需求 (server/requests_pages.py)
            or (bool(own) and allowed(principal, Action.REPLY_REQUEST, own))}


def staff_nav() -> dict | None:
    """The management center's links for the pages outside the console's frame (department, workbench, review,
    audit): the pages the signed-in principal may open, the one shown marked; None for the anonymous."""
    principal = current_principal()
    if principal.id is None:
        return None
    lang, can = current_lang(), _nav_reach(principal)
    every = allowed(principal, Action.READ_MANAGEMENT)
    pages = [("/admin/", "overview", every), ("/admin/workbench", "nav_workbench", can["workbench"]),
             ("/admin/review", "nav_review", can["review"]),
             ("/admin/department", "department_page",
              every or allowed(principal, Action.READ_MANAGEMENT, principal.department)),
             ("/admin/applications", "nav_applications", can["applications"]),
             ("/admin/requests", "nav_requests", can["requests"]),
             ("/admin/moderation", "nav_moderation", can["moderation"]),
             ("/admin/showcase", "sc_queue", can["showcase"]),
             ("/admin/audit", "nav_audit", can["audit"])]
    links = [{"href": link(path, lang), "label": translate(key, lang),
              "active": path != "/admin/" and request.path.startswith(path)} for path, key, shown in pages if shown]
    account = current_account()
    return {"title": translate("admin", lang), "links": links, "sign_out": link("/admin/logout", lang),
            "sign_out_label": translate("auth_sign_out", lang),
            "who": f"{account.display_name or account.login} · {translate('role_' + account.role, lang)}"
            if account is not None else None}


@admin_bp.app_context_processor
def _staff_nav_processor() -> dict:
    return {"staff_nav": staff_nav}


def source_infos() -> list[trend_rules.SourceInfo]:
    """Return what the alert rules need of every source: enabled, and its schedule's interval."""
    from harvesters.scheduler import CronError, cycle_cron, schedule_interval_s

    h = harvesting()
    out = []
    for src in h.configured():
        interval = None
        if src.schedule:
            text = cycle_cron(h.context.publisher.store, src.name) if src.schedule == "cycle" else src.schedule
            try:
                interval = schedule_interval_s(text)
            except CronError:
                interval = None   # refused when the source was added; a settings typo is reported by the scheduler
        limit = src.options.get("max_run_s") if isinstance(src.options.get("max_run_s"), (int, float)) else None
        out.append(trend_rules.SourceInfo(src.name, src.enabled, interval, limit))
    return out


def current_alerts() -> list[trend_rules.Alert]:
    return trend_rules.alerts(harvesting().jobs.db, source_infos(), platform().settings.trends)


@admin_bp.get("/")
def overview():
    """Show the counts of sources, running jobs and alerts, the alerts and the latest jobs.

    A department's publisher (read-management for its own department only) is sent to its department's page.
    """
    principal = current_principal()
    if principal.id is not None and not allowed(principal, Action.READ_MANAGEMENT) and \
            allowed(principal, Action.READ_MANAGEMENT, principal.department):
        return redirect(link("/admin/department", current_lang()))
    authorize(Action.READ_MANAGEMENT)
    h = harvesting()
    known = h.table.all()
    found = current_alerts()
    jobs = h.jobs.jobs(limit=15)
    stats = {"sources": len(known), "enabled": sum(1 for k in known if k.source.enabled),
             "running": sum(1 for j in h.jobs.jobs(limit=200) if j.status == "running"), "alerts": len(found)}
    return render("admin_overview.html", "overview", stats=stats, alerts=found[:10], jobs=[j.as_json() for j in jobs],
                  days=platform().settings.trends.days, title=translate("admin", current_lang()))


@admin_bp.get("/alerts")
@require(Action.READ_MANAGEMENT)
def alerts_page():
    """List every alert: stuck, failing, overdue, held back, not run."""
    return render("admin_alerts.html", "alerts", alerts=current_alerts(),
                  limits=platform().settings.trends, title=translate("alerts", current_lang()))


@admin_bp.get("/settings")
@require(Action.READ_MANAGEMENT)
def settings_page():
    """Show the effective settings, every secret hidden."""
    return render("admin_settings.html", "settings", sections=effective_settings(platform().settings),
                  title=translate("settings", current_lang()))


def _days() -> int:
    limits = platform().settings.trends
    raw = request.args.get("days")
    if raw is None:
        return limits.days
    try:
        days = int(raw)
    except ValueError:
        raise BadRequestError("days must be a whole number") from None
    if not 1 <= days <= limits.max_days:
        raise BadRequestError(f"days must be between 1 and {limits.max_days}")
    return days


@admin_bp.get("/api/trends")
@require(Action.READ_MANAGEMENT)
def trends_api():
    """Return per source and day: runs, new, updated, unchanged, held, failed, withdrawn, duration (JSON)."""
    h = harvesting()
    name = request.args.get("source") or None
    if name is not None and h.table.get(name) is None:
        raise NotFoundError(f"no harvest source {name!r}")
    days = _days()
    limits = platform().settings.trends
    found = trend_rules.trends(h.jobs.db, name, days, utc_offset_h=limits.utc_offset_h)
    return jsonify({"days": days, "utc_offset_h": limits.utc_offset_h, "generated": time.time(),
                    "sources": {src: trend_rules.chart_data(series) for src, series in found.items()}})
