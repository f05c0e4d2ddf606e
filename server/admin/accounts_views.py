"""The admin console's accounts and roles: list, add (with a first password), change role, disable or enable.

Everything here needs ``manage-accounts`` (the admin). An admin cannot disable their own account or take
their own admin role away (the console would have nobody left to undo it). Every change is audited through
the audit log's account observer (server.audit.AccountAudit) when this build has one.
"""

from __future__ import annotations

from flask import redirect, request

from access.roles import Action, Role
from core.errors import WodpError
from server.admin import admin_bp
from server.admin.console import platform, render
from server.admin.words import translate
from server.auth import current_principal, require
from server.portal.i18n import current_lang, link

STAFF_ROLES = (Role.ADMIN, Role.REVIEWER, Role.PUBLISHER, Role.AUDITOR, Role.PUBLIC)


class SelfLockoutError(WodpError):
    status = 409
    code = "own-account"


def _accounts():
    return platform().accounts


def _note(action: str, before, after) -> None:
    """Hand an account change to the audit log's account observer (server/audit.py), when installed."""
    try:
        from server.audit import AccountAudit
    except ImportError:
        # TODO(lead): server.audit is not on this branch yet; the entries made here are account.add,
        # account.role, account.disable and account.enable (target account:{id})
        return
    AccountAudit(getattr(platform(), "audit", None)).account(action, before, after)


def _page(status: int = 200, error: str | None = None, form=None):
    done, lang = request.args.get("done"), current_lang()
    message = translate(f"done_account_{done}", lang, login=request.args.get("login", "")) \
        if done in ("added", "role", "disabled", "enabled") else None
    return render("admin_accounts.html", "accounts", status, accounts=_accounts().list(), roles=STAFF_ROLES,
                  error=error, form=form or {}, done=message, me=current_principal().id,
                  title=translate("accounts", lang))


def _back(done: str, login: str):
    return redirect(link("/admin/accounts", current_lang(), {"done": done, "login": login}), 303)


@admin_bp.get("/accounts")
@require(Action.MANAGE_ACCOUNTS)
def accounts_page():
    """List the accounts with their role, department and state, and the form to add one."""
    return _page()


@admin_bp.post("/accounts")
@require(Action.MANAGE_ACCOUNTS)
def add_account():
    """Make an account (a publisher needs its department; the password is held to access.password_*)."""
    form = request.form
    try:
        added = _accounts().add(form.get("login", ""), form.get("role", ""), form.get("display_name") or None,
                                form.get("department") or None, form.get("password") or None)
    except WodpError as exc:
        return _page(exc.status, exc.message, {k: v for k, v in form.items() if k != "password"})
    _note("account.add", None, added)
    return _back("added", added.login)


def _not_myself(account_id: str, what: str) -> None:
    if account_id == current_principal().id:
        raise SelfLockoutError(translate("own_account", current_lang(), what=what))


@admin_bp.post("/accounts/<account_id>/role")
@require(Action.MANAGE_ACCOUNTS)
def change_role(account_id: str):
    """Give an account another role (and department)."""
    accounts = _accounts()
    try:
        before = accounts.find(account_id)
        if request.form.get("role") != Role.ADMIN.value:
            _not_myself(before.id, "role")
        after = accounts.set_role(before.id, request.form.get("role", ""), request.form.get("department") or None)
    except WodpError as exc:
        return _page(exc.status, exc.message)
    _note("account.role", before, after)
    return _back("role", after.login)


@admin_bp.post("/accounts/<account_id>/disabled")
@require(Action.MANAGE_ACCOUNTS)
def disable_account(account_id: str):
    """Disable (disabled=1: its sessions and tokens stop at once) or enable (disabled=0) an account."""
    accounts = _accounts()
    disabled = request.form.get("disabled") == "1"
    try:
        before = accounts.find(account_id)
        if disabled:
            _not_myself(before.id, "disable")
        after = accounts.set_disabled(before.id, disabled)
    except WodpError as exc:
        return _page(exc.status, exc.message)
    _note("account.disable" if disabled else "account.enable", before, after)
    return _back("disabled" if disabled else "enabled", after.login)
