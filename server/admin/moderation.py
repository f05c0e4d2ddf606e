"""The moderation page of the management center: /admin/moderation lists comments waiting for a decision;
a reviewer or admin (Action.REVIEW) approves one or rejects it with a reason. Each decision is an entry of the
audit log. Thin: the rules are services/feedback.py."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from access.roles import Action
from core.errors import BadRequestError, NotFoundError
from server.audit import audit
from server.auth import current_principal, require
from server.portal.i18n import current_lang, link, translate

bp = Blueprint("admin_moderation", __name__, url_prefix="/admin/moderation", template_folder="templates")

WORDS: dict[str, tuple[str, str]] = {  # key: (zh-CN, en)
    "m_title": ("评论审核", "Comment moderation"), "admin": ("管理中心", "Management center"),
    "m_pending": ("待审核评论 {n} 条（最早在前）", "{n} comments waiting (oldest first)"),
    "m_empty": ("没有待审核的评论。", "No comment is waiting."),
    "m_dataset": ("数据集", "Dataset"), "m_author": ("作者", "Author"), "m_time": ("时间（UTC）", "Time (UTC)"),
    "m_body": ("内容", "Comment"), "m_decide": ("处理", "Decision"),
    "m_approve": ("通过", "Approve"), "m_reject": ("驳回", "Reject"),
    "m_reason": ("驳回理由", "Reason for rejecting"),
    "m_recent": ("最近的决定", "Recent decisions"), "m_status": ("结果", "Outcome"),
    "approved": ("已通过", "approved"), "rejected": ("已驳回", "rejected"),
}


def _feedback():
    found = getattr(current_app.extensions["wodp"], "feedback", None)
    if found is None:
        raise NotFoundError("feedback is not open in this process")
    return found


def _words(lang: str) -> dict:
    return {k: (en if lang == "en" else zh) for k, (zh, en) in WORDS.items()}


def _render(template: str, **context) -> str:
    lang = current_lang()
    settings = current_app.extensions["wodp"].settings
    other = "zh" if lang == "en" else "en"
    words = _words(lang)
    return render_template(
        template, lang=lang, html_lang="en" if lang == "en" else "zh-CN", active="admin", w=words,
        t=lambda key, **values: words[key] if key in words else translate(key, lang, **values),
        link=lambda path, params=None, keep_lang=True: link(path, lang if keep_lang else "zh", params),
        static=lambda name: url_for("portal.static", filename=name), site=settings.site,
        switch_href=link(request.path, other, {k: v for k, v in request.args.items() if k != "lang"}),
        title=words["m_title"], site_name=settings.site.title_en if lang == "en" else settings.site.title_zh,
        site_description=settings.site.description_en if lang == "en" else settings.site.description_zh, **context)


@bp.get("")
@bp.get("/")
@require(Action.REVIEW)
def page():
    """List the pending comments and the latest decisions."""
    feedback = _feedback()
    pending = feedback.comments(None, "pending", limit=500)
    return _render("admin_moderation.html", pending=pending, decided=feedback.decided(50))


@bp.post("/<int:comment_id>")
@require(Action.REVIEW)
def decide(comment_id: int):
    """Approve (decision=approve) or reject (decision=reject, with reason) one pending comment."""
    feedback = _feedback()
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        raise BadRequestError("decision must be approve or reject")
    reason = (request.form.get("reason") or "").strip() or None
    principal = current_principal()
    before = feedback.decide(comment_id, decision == "approve", principal.id, reason)
    audit(f"feedback.comment.{decision}", f"comment:{comment_id}", before=before.status,
          after="approved" if decision == "approve" else "rejected",
          detail={"dataset": before.dataset, **({"reason": reason} if reason else {})})
    return redirect(link("/admin/moderation", current_lang()), code=303)
