"""Say who may do what: the roles, the actions and the one policy table (role × action → reach).

Every route and every command asks ``allowed(principal, action, department)``; nothing else decides. A role
reaches an action either everywhere (``Reach.ALL``) or only for its own department (``Reach.OWN``: a
department publisher acts on its department's datasets only, so the caller names the department concerned;
asked with no department, an own-department grant is refused). A role absent from an action's row may not do it.
docs/access.md holds the table as ``policy_table()`` writes it (a test keeps the two equal).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The roles of accounts: four staff roles and the public's."""

    ADMIN = "admin"            # 系统管理员: everything, accounts, harvest, settings
    REVIEWER = "reviewer"      # 数据局审核: reviews, publishes and withdraws any department's datasets
    PUBLISHER = "publisher"    # 部门数据员: reports (报送) its own department's datasets
    AUDITOR = "auditor"        # 审计员: reads the management center and the audit log, changes nothing
    PUBLIC = "public"          # 公众账号: nothing of management (open data never needs an account)


STAFF = (Role.ADMIN, Role.REVIEWER, Role.PUBLISHER, Role.AUDITOR)


class Action(StrEnum):
    """What a principal may ask to do."""

    READ_MANAGEMENT = "read-management"  # management pages/APIs: jobs, quarantine, quality, layers, dashboards
    CREATE = "create"                    # a department's datasets (报送)
    EDIT = "edit"
    SUBMIT = "submit"
    REVIEW = "review"
    PUBLISH = "publish"
    WITHDRAW = "withdraw"
    HARVEST = "harvest"                  # run harvests, manage sources
    MANAGE_ACCOUNTS = "manage-accounts"
    READ_AUDIT = "read-audit"
    MANAGE_SETTINGS = "manage-settings"
    WORK_ORDERS = "work-orders"          # open/assign/close data-quality work orders
    DECIDE_APPLICATION = "decide-application"  # 有条件开放 applications: a department's decision on its datasets
    GRANT_APPLICATION = "grant-application"    # the data bureau's decision, grants and their revocation
    REPLY_REQUEST = "reply-request"            # 纠错 and 数据需求: a department's reply to what was sent to it
    ASSIGN_REQUEST = "assign-request"          # the data bureau sends a request to a department
    REVIEW_SHOWCASE = "review-showcase"        # the showcase (应用成果): approve, return or take down an item


class Reach(StrEnum):
    """How far a role's permission goes."""

    ALL = "all"        # any department, or none
    OWN = "own"        # only the principal's own department


ALL, OWN = Reach.ALL, Reach.OWN

POLICY: dict[Role, dict[Action, Reach]] = {
    Role.ADMIN: {action: ALL for action in Action},
    Role.REVIEWER: {Action.READ_MANAGEMENT: ALL, Action.REVIEW: ALL, Action.PUBLISH: ALL, Action.WITHDRAW: ALL,
                    Action.WORK_ORDERS: ALL, Action.GRANT_APPLICATION: ALL, Action.ASSIGN_REQUEST: ALL,
                    Action.REVIEW_SHOWCASE: ALL},
    Role.PUBLISHER: {Action.READ_MANAGEMENT: OWN, Action.CREATE: OWN, Action.EDIT: OWN, Action.SUBMIT: OWN,
                     Action.WITHDRAW: OWN, Action.WORK_ORDERS: OWN, Action.DECIDE_APPLICATION: OWN,
                     Action.REPLY_REQUEST: OWN},
    Role.AUDITOR: {Action.READ_MANAGEMENT: ALL, Action.READ_AUDIT: ALL},
    Role.PUBLIC: {},
}


def role_of(principal) -> Role | None:
    """Return the principal's role, None for an anonymous one or a role this code does not know."""
    try:
        return Role(principal.role) if getattr(principal, "role", None) else None
    except ValueError:
        return None


def reach(role: Role | str | None, action: Action) -> Reach | None:
    """Return how far a role may do an action (None: not at all)."""
    try:
        return POLICY.get(Role(role), {}).get(Action(action)) if role else None
    except ValueError:
        return None


def allowed(principal, action: Action, department: str | None = None) -> bool:
    """Tell whether the principal may do the action (for the department's datasets when one is named)."""
    if principal is None or getattr(principal, "id", None) is None:
        return False  # anonymous: no action of the table, whatever its role field says
    found = reach(role_of(principal), action)
    if found is ALL:
        return True
    if found is OWN:
        own = getattr(principal, "department", None)
        return bool(own) and department is not None and department.strip().upper() == own.upper()
    return False


# -- the table as docs/access.md shows it ---------------------------------------------------------------
_CELL = {ALL: "all", OWN: "own department", None: "—"}


def policy_table() -> str:
    """Write POLICY as a Markdown table (rows: actions; columns: roles)."""
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for action in Action:
        lines.append(f"| {action.value} | " + " | ".join(_CELL[POLICY[r].get(action)] for r in roles) + " |")
    return "\n".join(lines)
