"""Turn the claims of an identity platform (OpenID Connect ID token) into a platform account.

The account of a person is found by ``issuer|sub`` (external_id), made at the first sign-in, and given at every
sign-in the role and department the claims name (settings.oidc: role_claim through the roles table,
department_claim); the identity platform decides who is what, the platform keeps no other copy of it.
"""

from __future__ import annotations

import hashlib
import re

from access.accounts import LOGIN, AccountStore, SignInRefused
from access.roles import Role

# when several claim values map to different roles, the first of this order is taken (docs/access.md)
ROLE_ORDER = (Role.ADMIN, Role.REVIEWER, Role.AUDITOR, Role.PUBLISHER, Role.PUBLIC)


class IdentityRefused(SignInRefused):
    """The identity platform vouched for someone this platform has no role for (or cannot place)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.message = message


def _values(claim) -> list[str]:
    if claim is None:
        return []
    if isinstance(claim, (list, tuple)):
        return [str(v) for v in claim]
    return [v for v in re.split(r"[\s,]+", str(claim)) if v]


def role_from_claims(claims: dict, oidc) -> tuple[Role, str | None]:
    """Return the role and department the claims name, by the settings' table; raise IdentityRefused."""
    mapped = {Role(oidc.roles[v]) for v in _values(claims.get(oidc.role_claim)) if v in oidc.roles}
    role = next((r for r in ROLE_ORDER if r in mapped), None)
    if role is None and oidc.default_role:
        role = Role(oidc.default_role)
    if role is None:
        raise IdentityRefused("no-role", "统一身份认证平台未授予此人本平台的角色。 The identity platform gives this "
                                         f"person no role here (claim {oidc.role_claim!r}: "
                                         f"{_values(claims.get(oidc.role_claim)) or 'absent'}).")
    department = None
    if role is Role.PUBLISHER:
        department = str(claims.get(oidc.department_claim) or "").strip().upper() or None
        if department is None:
            raise IdentityRefused("no-department", "部门数据员需要所属部门（声明 "
                                  f"{oidc.department_claim!r}）。 A publisher needs a department: the claim "
                                  f"{oidc.department_claim!r} is absent.")
    return role, department


def account_for_claims(accounts: AccountStore, issuer: str, claims: dict, oidc):
    """Return the account of the person the claims name: found by issuer|sub, made at the first sign-in,
    its role and department brought to what the claims say; raise SignInRefused for a disabled account."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise IdentityRefused("no-subject", "身份令牌缺少 sub。 The ID token names no subject (sub).")
    external = f"{issuer.rstrip('/')}|{subject}"
    role, department = role_from_claims(claims, oidc)
    account = accounts.by_external_id(external)
    if account is None:
        login = str(claims.get(oidc.login_claim) or "").strip().lower()
        if not LOGIN.fullmatch(login) or accounts.by_login(login) is not None:
            login = "oidc-" + hashlib.sha256(external.encode()).hexdigest()[:12]
        name = str(claims.get(oidc.name_claim) or login)
        account = accounts.add(login, role, name, department, external_id=external)
    elif (account.role, account.department) != (role.value, department):
        account = accounts.set_role(account.id, role, department)
    if not account.active:
        raise SignInRefused("disabled", account)
    accounts.signed_in(account.id)
    return accounts.get(account.id)
