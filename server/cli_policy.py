"""Who a `wodp` command acts as, and whether the access policy lets it (docs/access.md, "The command line").

Without ``--as``, a command acts as the operating-system account that runs it. Whoever can run `wodp` on the
machine with this WODP_HOME can read its databases, its secret key and its audit key directly: that account
is the instance's super-user, as the OS operator of a CKAN site (`ckan sysadmin`, `ckan db`) or of a
GeoNetwork installation is. Pretending otherwise would be theatre; what matters is that it is seen: every
changing command leaves an audit entry naming ``via: cli``, the OS user and the host.

With ``wodp --as ACCOUNT COMMAND …`` the command asks the policy table (access.roles.allowed) as that
account first, refuses with a clear message when the account may not, and its audit entries name the
account (actor, role) besides the OS user and host. It is for operators who run commands on behalf of a
staff account (a reviewer's `check-data`, an auditor's `audit export`) and want the policy to hold.
"""

from __future__ import annotations

import argparse

from access.roles import Action, allowed
from core.errors import WodpError

# the long-running processes: they run the instance as its OS account, whoever asks (their requests ask the policy)
INSTANCE = ("demo", "serve", "worker")
# commands that read or change nothing of the platform's people or data: the policy is not asked
PUBLIC = ("validate", "export", "calendar")


class CliRefusedError(WodpError):
    status = 403
    code = "forbidden"


def action_of(args: argparse.Namespace) -> Action | None:
    """Return the policy's action a command performs (None: one the policy does not govern)."""
    command = args.command
    if command in PUBLIC:
        return None
    if command == "freshness":
        return Action.WORK_ORDERS if args.measure else Action.READ_MANAGEMENT
    return {"load": Action.PUBLISH, "remove": Action.WITHDRAW, "check-data": Action.PUBLISH,
            "load-data": Action.PUBLISH,  # the data API's tables: the data of published datasets
            "harvest": Action.HARVEST, "account": Action.MANAGE_ACCOUNTS, "audit": Action.READ_AUDIT,
            "db": Action.MANAGE_SETTINGS}[command]


def acting_account(settings, who: str, args: argparse.Namespace):
    """Return the account ``--as`` names once the policy lets it perform the command; else refuse, saying why."""
    from server.cli_account import open_accounts

    if args.command in INSTANCE:
        raise CliRefusedError(f"wodp {args.command} runs the instance as its operating-system account; --as is for "
                              "the commands that act (load, remove, check-data, load-data, harvest, account, "
                              "audit, db, freshness)")
    accounts = open_accounts(settings)
    try:
        account = accounts.by_login(who.strip().lower()) or accounts.get(who)
    finally:
        accounts.close()
    if account is None:
        raise CliRefusedError(f"--as {who}: no such account (give its login name or id)")
    if not account.active:
        raise CliRefusedError(f"--as {account.login}: the account is disabled")
    action = action_of(args)
    if action is not None and not allowed(account.principal(), action):
        own = " (a publisher acts for its own department in the workbench and the push API)" \
            if account.role == "publisher" else ""
        raise CliRefusedError(f"--as {account.login}: a {account.role} account may not {action.value} "
                              f"(wodp {args.command}; the access policy, docs/access.md){own}; nothing was done")
    return account
