"""`wodp account`: accounts, roles, passwords, tokens and push grants from the command line (access.accounts).

The command runs as the owner of WODP_HOME (who can read the accounts file anyway): it is how the first admin
is made (`wodp account add --role admin --login NAME`). Tokens are printed once, when they are made.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from core.errors import WodpError


def open_accounts(settings):
    """Open the account store of a home (its file, or the shared database)."""
    from access.accounts import AccountStore
    from core.database import open_part

    path = settings.home / "accounts.sqlite"
    where = open_part(settings.database, "accounts", path) if settings.database.url else path
    return AccountStore.from_settings(where, settings.access)


def _password(args, login: str, required: bool) -> str | None:
    """Read a password: one line of stdin (--password-stdin), else asked twice on a terminal."""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        if required:
            raise WodpError("give the password on standard input with --password-stdin")
        return None
    first = getpass.getpass(f"password for {login}: ")
    if first != getpass.getpass("again: "):
        raise WodpError("the two passwords differ; nothing was changed")
    return first


def _print_account(a) -> None:
    state = "disabled " + a.disabled if a.disabled else ("locked until " + a.locked_until if a.locked() else "active")
    print(f"{a.id}  {a.login:<24} {a.role:<9} {a.department or '-':<5} {state:<30} "
          f"created {a.created}  last sign-in {a.last_sign_in or '-'}  {a.display_name}")


def cmd_account(args: argparse.Namespace, settings) -> int:
    """Run one `wodp account` action; each change is an entry of the audit log (server/audit.py)."""
    from server.audit import AccountAudit, open_audit

    accounts = open_accounts(settings)
    audit_log = open_audit(settings)
    try:
        return _run(args, accounts, AccountAudit(audit_log))
    finally:
        audit_log.close()
        accounts.close()


def _run(args, accounts, note=None) -> int:
    from server.audit import AccountAudit

    note = note or AccountAudit(None)
    action = args.action
    if action == "add":
        args.department = args.department_option or args.department
    if action == "add" and not args.role:  # the first releases' form: a department's push account
        if not args.department:
            raise WodpError("say --role (admin, reviewer, publisher, auditor, public) and --login, or give a "
                            "department code for a push account")
        account, token = accounts.create(args.department, args.name)
        note.account("account.add", None, account)
        print(f"account {account.id} for {account.department} {account.display_name}")
        print(f"token (shown this once only; it is stored hashed): {token}")
    elif action == "add":
        if not args.login:
            raise WodpError("--login NAME is needed")
        password = _password(args, args.login, required=False)
        account = accounts.add(args.login, args.role, args.name, args.department, password)
        note.account("account.add", None, account)
        print(f"account {account.id} {account.login} ({account.role}"
              f"{', ' + account.department if account.department else ''}) made")
        if not account.has_password:
            print(f"it has no password yet: wodp account passwd {account.login}")
    elif action == "list":
        for a in accounts.list(args.department, args.role):
            _print_account(a)
    elif action in ("disable", "enable"):
        before = accounts.find(args.who)
        a = accounts.set_disabled(args.who, action == "disable")
        note.account(f"account.{action}", before, a)
        print(f"account {a.login} {'disabled' if a.disabled else 'enabled'}")
    elif action == "role":
        before = accounts.find(args.who)
        a = accounts.set_role(args.who, args.role, args.department)
        note.account("account.role", before, a)
        print(f"account {a.login} is now {a.role}{' of ' + a.department if a.department else ''}")
    elif action == "passwd":
        account = accounts.find(args.who)
        changed = accounts.set_password(account.id, _password(args, account.login, required=True))
        note.account("account.password", account, changed)
        print(f"password of {account.login} set")
    elif action == "token":
        _token(args, accounts, note)
    elif action == "revoke":
        t = accounts.revoke(args.id)
        note.token("token.revoke", t)
        print(f"token {t.id} of account {t.account_id} revoked at {t.revoked}")
    else:
        _grants(args, accounts, note)
    return 0


def _token(args, accounts, note) -> None:
    if args.token_action == "add":
        token, secret = accounts.add_token(args.who, args.scope or ["push"], args.name)
        note.token("token.add", token)
        print(f"token {token.id} of account {token.account_id}, scopes {' '.join(token.scopes)}")
        print(f"token (shown this once only; it is stored hashed): {secret}")
    elif args.token_action == "revoke":
        t = accounts.revoke_token(args.id)
        note.token("token.revoke", t)
        print(f"token {t.id} of account {t.account_id} revoked at {t.revoked}")
    else:
        for t in accounts.tokens(args.who):
            state = f"revoked {t.revoked}" if t.revoked else "active"
            print(f"{t.id}  account {t.account_id}  {' '.join(t.scopes):<12} {state:<28} created {t.created}"
                  f"  last used {t.last_used or '-'}  {t.name or ''}".rstrip())


def _grants(args, accounts, note) -> None:
    if args.action == "grants":
        for g in accounts.grants(args.department):
            print(f"{g['dataset_id']}  {g['department']}  granted {g['granted']}  {g['note'] or ''}".rstrip())
        return
    from harvesters.provenance import channel_dataset_id

    dataset_id = args.id if "." in args.id else channel_dataset_id(args.id)  # a bare 资源代码
    if args.action == "grant":
        granted = accounts.grant(args.department, dataset_id, args.note)
        note.grant("grant.add", dataset_id, granted["department"])
        print(f"department {granted['department']} may publish {dataset_id}")
    elif accounts.ungrant(args.department, dataset_id):
        note.grant("grant.remove", dataset_id, args.department.upper())
        print(f"grant of {dataset_id} to {args.department.upper()} withdrawn")
    else:
        raise WodpError(f"no grant of {dataset_id} to {args.department.upper()}")


DEMO_ROLES = (("admin", None), ("reviewer", None), ("publisher", "D017"), ("auditor", None), ("public", None))


def demo_accounts(accounts, base_uri: str, audit_log=None) -> list[str]:
    """Make the demo's one account per role (once per home); return the lines that say how to sign in.

    A password is made and shown only when its account is made: a later `wodp demo` on the same home says the
    accounts exist and how to set a new password.
    """
    import secrets

    made, kept = [], []
    for role, department in DEMO_ROLES:
        login = f"demo-{role}"
        if accounts.by_login(login) is not None:
            kept.append(login)
            continue
        password = f"Wd-{secrets.token_urlsafe(12)}-{secrets.randbelow(90) + 10}"
        account = accounts.add(login, role, f"演示{role}", department, password)
        if audit_log is not None:
            from server.audit import AccountAudit

            AccountAudit(audit_log).account("account.add", None, account)
        made.append(f"  {role:<10} {login:<16} {password}" + (f"  (department {department})" if department else ""))
    lines = [f"demo accounts: sign in at {base_uri}/admin/login (?lang=en for English)"]
    if made:
        lines += ["  role       login            password (shown this once only)", *made]
    if kept:
        lines.append(f"  {', '.join(kept)}: made by an earlier run; a new password: wodp account passwd LOGIN")
    return lines


def add_parser(sub) -> argparse.ArgumentParser:
    """Add `wodp account` and its actions to the command line."""
    p = sub.add_parser("account", help="accounts, roles, passwords and tokens; department push grants")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="make an account (--role, --login); or, given only a department code, "
                                       "a department push account whose token is printed once")
    a.add_argument("department", nargs="?", help="department code of ontology/departments.ttl, e.g. D017")
    a.add_argument("--role", choices=["admin", "reviewer", "publisher", "auditor", "public"])
    a.add_argument("--login", help="login name (a-z 0-9 . _ @ -)")
    a.add_argument("--department", dest="department_option", help="a publisher's department code")
    a.add_argument("--name", help="display name (default: the login name, or the department's name)")
    a.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    a = actions.add_parser("list", help="list the accounts (never their passwords or tokens)")
    a.add_argument("--department", help="only this department's")
    a.add_argument("--role", help="only this role's")
    for name, text in (("disable", "disable an account: its sessions and tokens stop at once"),
                       ("enable", "enable an account again (and unlock it)")):
        actions.add_parser(name, help=text).add_argument("who", help="account id or login name")
    a = actions.add_parser("role", help="give an account another role")
    a.add_argument("who", help="account id or login name")
    a.add_argument("role", choices=["admin", "reviewer", "publisher", "auditor", "public"])
    a.add_argument("--department", help="the department of a publisher")
    a = actions.add_parser("passwd", help="set an account's password (and unlock it)")
    a.add_argument("who", help="account id or login name")
    a.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    t = actions.add_parser("token", help="an account's machine tokens: add (printed once), revoke, list")
    tokens = t.add_subparsers(dest="token_action", required=True)
    a = tokens.add_parser("add", help="make a token for an account and print it once")
    a.add_argument("who", help="account id or login name")
    a.add_argument("--scope", action="append", choices=["push", "manage"], help="what it may do (default: push)")
    a.add_argument("--name", help="what the token is for")
    tokens.add_parser("revoke", help="revoke a token at once").add_argument("id", help="token id (wodp.<id>.…)")
    tokens.add_parser("list", help="list tokens (never their secrets)").add_argument("who", nargs="?")
    actions.add_parser("revoke", help="revoke a token at once (as `token revoke`)").add_argument("id")
    for action, text in (("grant", "let a department publish a dataset id without its code inside the 资源代码"),
                         ("ungrant", "withdraw such a grant")):
        a = actions.add_parser(action, help=text)
        a.add_argument("department", help="department code, e.g. D012")
        a.add_argument("id", help="dataset id (wuhan.420100-D017-13134) or a bare 资源代码")
        if action == "grant":
            a.add_argument("--note", help="why (kept with the grant)")
    actions.add_parser("grants", help="list the grants").add_argument("--department", help="only this department's")
    return p
