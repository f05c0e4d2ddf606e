"""The public's feedback on a dataset page: a rating (1-5) and comments, by a signed-in public account.

Thin: the rules are services/feedback.py. Forms post with the session's CSRF token; anonymous posts are refused
(401), staff accounts too (403: feedback is the public's). Usage counts and the feedback shown on the page come
from ``page_context``.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request

from access.roles import Role
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from server.auth import NotAllowed, SignInRequired, current_account, current_principal
from server.portal.i18n import TEXT, current_lang, link

feedback_bp = Blueprint("feedback", __name__)

TEXT.update({  # key: (zh-CN, en); the dataset page's feedback and usage panel
    "usage": ("浏览与下载", "Views and downloads"),
    "u_kind": ("类别", "Kind"), "u_total": ("累计", "Total"), "u_last30": ("近 30 天", "Last 30 days"),
    "u_view": ("浏览", "Views"), "u_download": ("下载", "Downloads"), "u_api": ("接口调用", "API calls"),
    "u_note": ("不含网络爬虫；不记录访问者地址。", "Robots not included; no visitor's address is kept."),
    "feedback": ("评分与评论", "Ratings and comments"),
    "f_rating": ("平均评分 {value} / 5（{count} 人评分）", "Rated {value} / 5 by {count}"),
    "f_unrated": ("尚无评分。", "Not rated yet."),
    "f_your": ("您的评分", "Your rating"), "f_rate": ("提交评分", "Rate"),
    "f_comment": ("发表评论", "Comment"), "f_send": ("提交评论", "Send"),
    "f_pending": ("评论经审核后公开。", "Comments are shown once a moderator approves them."),
    "f_sign_in": ("登录后可评分和评论。", "Sign in to rate and comment."),
    "f_sign_in_link": ("登录", "Sign in"),
    "f_staff": ("评分和评论面向公众账号。", "Ratings and comments are for public accounts."),
    "f_none": ("暂无评论。", "No comments yet."),
    "f_my_pending": ("您的评论（待审核）", "Your comment (waiting for moderation)"),
})


def _platform():
    return current_app.extensions["wodp"]


def page_context(platform, dataset_id: str) -> dict:
    """What the dataset page shows of usage and feedback, and what the visitor may do."""
    out: dict = {"usage": None, "rating": None, "comments": [], "may_rate": False, "my_rating": None,
                 "signed_in": False, "my_pending": [], "max_chars": platform.settings.services.comment_max_chars}
    if platform.usage is not None:
        out["usage"] = platform.usage.dataset_totals(dataset_id)
    if getattr(platform, "requests", None) is not None:  # 纠错 and their replies (server/requests_pages.py)
        from server.requests_pages import dataset_context

        out["rq"] = dataset_context(platform, dataset_id)
    if platform.feedback is not None:
        out["rating"] = platform.feedback.rating(dataset_id)
        out["comments"] = platform.feedback.comments(dataset_id)
        principal = current_principal()
        out["signed_in"] = principal.id is not None
        out["may_rate"] = principal.id is not None and principal.role == Role.PUBLIC
        if out["may_rate"]:
            out["my_rating"] = platform.feedback.rating_of(dataset_id, principal.id)
            out["my_pending"] = [c for c in platform.feedback.comments(dataset_id, "pending")
                                 if c.account == principal.id]
    return out


def _public_account(dataset_id: str):
    """Return the signed-in public account posting about an existing dataset; else refuse (401/403/404)."""
    platform = _platform()
    if not is_dataset_id(dataset_id) or platform.store.record_modified(platform.dataset_uri(dataset_id)) is None:
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    if platform.feedback is None:
        raise NotFoundError("feedback is not open in this process")
    principal = current_principal()
    if principal.id is None:
        raise SignInRequired("请先登录。 Sign in first to rate or comment.")
    if principal.role != Role.PUBLIC:
        raise NotAllowed("评分和评论面向公众账号。 Ratings and comments are for public accounts.")
    return principal, current_account()


def _back(dataset_id: str, anchor: str):
    return redirect(link(f"/datasets/{dataset_id}", current_lang()) + anchor, code=303)


@feedback_bp.post("/feedback/<dataset_id>/rating")
def rate(dataset_id: str):
    """Set (or change) the account's rating of the dataset."""
    principal, _account = _public_account(dataset_id)
    raw = (request.form.get("rating") or "").strip()
    if not raw.isdigit():
        raise BadRequestError(f"a rating is a whole number from 1 to 5, got {raw[:10]!r}")
    _platform().feedback.rate(dataset_id, principal.id, int(raw))
    return _back(dataset_id, "#feedback")


@feedback_bp.post("/feedback/<dataset_id>/comment")
def comment(dataset_id: str):
    """File a comment; it waits for moderation (/admin/moderation)."""
    principal, account = _public_account(dataset_id)
    author = (account.display_name or account.login) if account is not None else principal.id
    _platform().feedback.comment(dataset_id, principal.id, author, request.form.get("body", ""))
    return _back(dataset_id, "#feedback")
