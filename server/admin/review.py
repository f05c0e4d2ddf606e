"""The reviewers' pages (审核): the queue, oldest first with working days waited, and one submission's diff
against what is published, approved (published through the gate) or returned with a reason."""

from __future__ import annotations

from flask import Response, request

from access.roles import Action
from manage.review import SubmissionInvalidError
from server.admin import admin_bp
from server.admin.wb_words import word
from server.admin.workbench import audit, back, dataset_digest, form_context, lang, page, who, workbench
from server.auth import require


@admin_bp.get("/review")
@require(Action.REVIEW)
def review_queue():
    """List the submissions waiting for review, the oldest first; overdue ones marked."""
    wb = workbench()
    return page("review_queue.html", word("review_queue", lang()), items=wb.queue(),
                overdue_days=wb.overdue_days, mode=wb.mode)


def _item(submission_id: str, status: int = 200, notes=(), checked=None) -> Response:
    wb = workbench()
    sub = wb.store.get(submission_id)
    context = form_context(sub, checked, notes)
    body = page("review_item.html", sub.values.get("title") or word("review", lang()), diff=wb.diff(sub, lang()),
                **context).get_data()
    return Response(body, status=status, mimetype="text/html")


@admin_bp.get("/review/<submission_id>")
@require(Action.REVIEW)
def review_item(submission_id: str):
    """Show a submission: what it changes in the published dataset, field by field, its report and history."""
    return _item(submission_id)


@admin_bp.post("/review/<submission_id>/approve")
@require(Action.PUBLISH)
def review_approve(submission_id: str):
    """Approve and publish through the gate; a submission the gate holds back stays in the queue (422)."""
    wb = workbench()
    actor, role = who()
    sub = wb.store.get(submission_id)
    before = dataset_digest(sub.dataset_id)
    try:
        sub, _checked = wb.approve(sub, actor, role)
    except SubmissionInvalidError as exc:
        audit("review.approve-refused", f"submission:{submission_id}", detail={"reason": exc.message})
        return _item(submission_id, 422, [exc.message], exc.checked)
    audit("review.approve", f"submission:{submission_id}", detail={"dataset": sub.dataset_id})
    audit("dataset.publish", f"dataset:{sub.dataset_id}", before, dataset_digest(sub.dataset_id),
          {"via": "workbench", "submission": sub.id, "review": True, "status": "updated" if before else "created"})
    return back(f"/admin/review/{submission_id}")


@admin_bp.post("/review/<submission_id>/return")
@require(Action.REVIEW)
def review_return(submission_id: str):
    """Return a submission to its department with a reason (required)."""
    wb = workbench()
    actor, role = who()
    reason = request.form.get("reason", "")
    sub = wb.send_back(wb.store.get(submission_id), actor, role, reason)
    audit("review.return", f"submission:{submission_id}", detail={"reason": sub.reason})
    return back("/admin/review")
