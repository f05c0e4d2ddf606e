"""Keep the platform's accounts: staff and public accounts, their passwords, their scoped machine tokens.

An account has a login name, a display name, a role (access.roles), a department code when it is a publisher's,
an argon2 password hash (none for an account that only holds tokens), and the state of its sign-ins: disabled,
failed attempts, locked until, last sign-in. A machine token (``wodp.<token id>.<secret>``, access.tokens)
belongs to one account, carries scopes (``push``, ``manage``) and acts with its account's role.

A department's push account of the first releases is a publisher account of that department holding one push
token (migration accounts_0002: the token id is the old account id, so its token keeps working).

The tables live on the data layer's part ``accounts`` (its embedded file ``accounts.sqlite``, readable by its
owner only, or the shared PostgreSQL database), beside the push grants (identifiers a department may publish
without its code inside the 资源代码).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyoxigraph as ox
from sqlalchemy.exc import IntegrityError, OperationalError

from access import passwords, tokens
from access.policy import Principal
from access.roles import Role
from core.database import Database, open_database
from core.errors import BadRequestError, NotFoundError, WodpError
from core.identifiers import is_dataset_id
from core.private import private_dir, private_sqlite
from core.stamps import parse_stamp as _parse, stamp as _stamp, utc_now as _now
from ontology.namespaces import DEPARTMENT, FOAF, RDF, WODP

LOGIN = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
_DEPARTMENT_CODE = re.compile(r"(?<![A-Za-z0-9])D\d{3}(?![A-Za-z0-9])")
_COLUMNS = ("id", "login", "display_name", "role", "department", "external_id", "disabled", "failed_attempts",
            "locked_until", "created", "last_sign_in", "password_hash")
TOUCH_EVERY_S = 60  # a token's time of last use is noted at most this often (not one write per API request)
_TOKEN_COLUMNS = ("id", "account_id", "name", "scopes", "created", "revoked", "last_used")


def coded_department(dataset_id: str) -> str | None:
    """Return the department code inside a dataset id's key (``wuhan.420100-D017-13134`` -> D017), else None."""
    found = _DEPARTMENT_CODE.search(dataset_id.partition(".")[2])
    return found.group() if found else None


@lru_cache(maxsize=1)
def department_codes() -> dict[str, str]:
    """Return code → zh-CN name of every department in ontology/departments.ttl."""
    store = ox.Store()
    store.load(resources.files("ontology").joinpath("departments.ttl").read_bytes(), format=ox.RdfFormat.TURTLE)
    codes = {}
    for quad in store.quads_for_pattern(None, RDF.type, WODP.Department):
        uri = quad.subject.value
        if uri.startswith(DEPARTMENT.base):
            names = [q.object for q in store.quads_for_pattern(quad.subject, FOAF.name, None)]
            zh = [n.value for n in names if (n.language or "").startswith("zh")]
            codes[uri[len(DEPARTMENT.base):]] = zh[0] if zh else ""
    return codes


@dataclass(frozen=True)
class Account:
    """An account as the platform knows it (never its password hash or tokens)."""

    id: str
    login: str
    display_name: str
    role: str
    department: str | None = None
    external_id: str | None = None
    disabled: str | None = None
    failed_attempts: int = 0
    locked_until: str | None = None
    created: str = ""
    last_sign_in: str | None = None
    has_password: bool = False
    password_stamp: str = ""  # a digest of the password hash: a session opened before a new password ends


    @property
    def name(self) -> str:  # the push API's and the first releases' word
        return self.display_name

    @property
    def active(self) -> bool:
        return self.disabled is None

    def locked(self, now: datetime | None = None) -> bool:
        until = _parse(self.locked_until)
        return until is not None and until > (now or _now())

    def principal(self) -> Principal:
        return Principal(id=self.id, role=self.role, department=self.department)

    def as_json(self) -> dict:
        return {"id": self.id, "login": self.login, "display_name": self.display_name, "role": self.role,
                "department": self.department, "disabled": self.disabled, "locked_until": self.locked_until,
                "created": self.created, "last_sign_in": self.last_sign_in, "password": self.has_password}


@dataclass(frozen=True)
class Token:
    """A machine token of an account (never its secret)."""

    id: str
    account_id: str
    name: str | None
    scopes: tuple[str, ...]
    created: str
    revoked: str | None = None
    last_used: str | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "account": self.account_id, "name": self.name, "scopes": list(self.scopes),
                "created": self.created, "revoked": self.revoked, "last_used": self.last_used}


class SignInRefused(WodpError):
    """401: a sign-in that did not succeed; ``reason`` says why (for the audit log), the message says little."""

    status = 401
    code = "sign-in-refused"

    def __init__(self, reason: str, account: Account | None = None, until: str | None = None) -> None:
        if reason == "locked":
            message = f"账号已被锁定，请于 {until} (UTC) 之后再试。 The account is locked until {until} (UTC)."
        else:
            message = "登录名或密码错误。 Wrong login name or password."
        super().__init__(message)
        self.reason, self.account, self.until = reason, account, until


class AccountStore:
    """Accounts, tokens and push grants: an embedded SQLite file readable by its owner only, or the shared database."""

    def __init__(self, where: "Path | Database", policy: passwords.PasswordPolicy | None = None,
                 lockout_failures: int = 5, lockout_minutes: float = 15) -> None:
        if not isinstance(where, Database):
            path = Path(where)
            private_dir(path.parent)
            private_sqlite(path)  # 0600 before SQLite opens it: its -wal and -shm take the same mode
            where = open_database(None, "accounts", path)
        self.db = where
        self.path = where.path
        self.policy = policy or passwords.PasswordPolicy()
        self.lockout_failures, self.lockout_minutes = lockout_failures, lockout_minutes

    @classmethod
    def from_settings(cls, where, access) -> "AccountStore":
        return cls(where, passwords.PasswordPolicy.from_settings(access), access.lockout_failures,
                   access.lockout_minutes)

    def _run(self, sql: str, params: dict | None = None) -> list:
        return self.db.run(sql, params) or []

    def close(self) -> None:
        """Close the accounts' connections."""
        self.db.close()

    # -- accounts ---------------------------------------------------------------------------------------
    def add(self, login: str, role: Role | str, display_name: str | None = None, department: str | None = None,
            password: str | None = None, external_id: str | None = None, account_id: str | None = None) -> Account:
        """Make an account; raise BadRequestError for a bad login, role, department or password."""
        login = (login or "").strip().lower()
        if not LOGIN.fullmatch(login):
            raise BadRequestError(f"login name {login!r}: use 2-64 of a-z 0-9 . _ @ -, starting with a letter or digit")
        role = _role(role)
        department = _department(role, department)
        if password is not None:
            self._check_password(password, login)
        row = {"id": account_id or tokens.new_id(), "login": login, "display_name": (display_name or login).strip()[:200],
               "role": role.value, "department": department, "external_id": external_id,
               "password_hash": passwords.hash_password(password) if password is not None else None,
               "created": _stamp(_now())}
        try:
            self._run("INSERT INTO accounts (id, login, display_name, role, department, external_id, password_hash, "
                      "failed_attempts, created) VALUES (:id, :login, :display_name, :role, :department, "
                      ":external_id, :password_hash, 0, :created)", row)
        except (IntegrityError, sqlite3.IntegrityError):
            raise BadRequestError(f"there is an account {login!r} already", status=409, code="conflict") from None
        return self.get(row["id"])

    def get(self, account_id: str) -> Account | None:
        return self._one("id = :v", account_id)

    def by_login(self, login: str) -> Account | None:
        return self._one("login = :v", (login or "").strip().lower())

    def by_external_id(self, external_id: str) -> Account | None:
        return self._one("external_id = :v", external_id)

    def find(self, who: str) -> Account:
        """Return the account named by its id or its login name; raise NotFoundError."""
        account = self.get(who) or self.by_login(who)
        if account is None:
            raise NotFoundError(f"no account {who!r}")
        return account

    def _one(self, where: str, value) -> Account | None:
        rows = self.db.rows(f"SELECT {', '.join(_COLUMNS)} FROM accounts WHERE {where}", {"v": value})
        return _account(rows[0]) if rows else None

    def list(self, department: str | None = None, role: str | None = None) -> list[Account]:
        """Return the accounts (of one department, of one role when given), oldest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM accounts WHERE 1 = 1"
        if department:
            sql += " AND department = :department"
        if role:
            sql += " AND role = :role"
        rows = self.db.rows(sql + " ORDER BY created, login",
                            {"department": (department or "").upper() or None, "role": role})
        return [_account(row) for row in rows]

    def set_disabled(self, who: str, disabled: bool) -> Account:
        """Disable an account (its sessions and tokens stop at once) or enable it again."""
        account = self.find(who)
        self._run("UPDATE accounts SET disabled = :d, failed_attempts = 0, locked_until = NULL WHERE id = :id",
                  {"d": _stamp(_now()) if disabled else None, "id": account.id})
        return self.get(account.id)

    def set_role(self, who: str, role: Role | str, department: str | None = None) -> Account:
        """Give an account another role (and the department a publisher needs)."""
        account = self.find(who)
        role = _role(role)
        department = _department(role, department or (account.department if role is Role.PUBLISHER else None))
        self._run("UPDATE accounts SET role = :role, department = :dep WHERE id = :id",
                  {"role": role.value, "dep": department, "id": account.id})
        return self.get(account.id)

    def set_password(self, who: str, password: str) -> Account:
        """Set an account's password (held to the policy); unlocks it."""
        account = self.find(who)
        self._check_password(password, account.login)
        self._run("UPDATE accounts SET password_hash = :h, failed_attempts = 0, locked_until = NULL WHERE id = :id",
                  {"h": passwords.hash_password(password), "id": account.id})
        return self.get(account.id)

    def _check_password(self, password: str, login: str) -> None:
        problems = self.policy.problems(password, login)
        if problems:
            raise BadRequestError("; ".join(f"{zh} {en}" for zh, en in problems), code="weak-password")

    # -- signing in -------------------------------------------------------------------------------------
    def sign_in(self, login: str, password: str, now: datetime | None = None) -> Account:
        """Return the account a login name and password open; raise SignInRefused (counted, locking at N)."""
        now = now or _now()
        login = (login or "").strip().lower()[:64]
        rows = self.db.rows("SELECT password_hash FROM accounts WHERE login = :v", {"v": login})
        account = self.by_login(login) if rows else None
        stored = rows[0][0] if rows else None
        if account is not None and account.locked(now):
            raise SignInRefused("locked", account, account.locked_until)
        if not passwords.password_matches(password or "", stored):
            if account is None:
                raise SignInRefused("unknown-login")
            self._failed(account, now)
            raise SignInRefused("wrong-password" if stored else "no-password", account)
        if not account.active:
            raise SignInRefused("disabled", account)
        update = {"id": account.id, "now": _stamp(now), "h": stored}
        if passwords.needs_rehash(stored):
            update["h"] = passwords.hash_password(password)
        self._run("UPDATE accounts SET failed_attempts = 0, locked_until = NULL, last_sign_in = :now, "
                  "password_hash = :h WHERE id = :id", update)
        return self.get(account.id)

    def _failed(self, account: Account, now: datetime) -> None:
        rows = self._run("UPDATE accounts SET failed_attempts = failed_attempts + 1 WHERE id = :id "
                         "RETURNING failed_attempts", {"id": account.id})
        if rows and rows[0][0] >= self.lockout_failures:
            until = _stamp(now + timedelta(minutes=self.lockout_minutes))
            self._run("UPDATE accounts SET locked_until = :until, failed_attempts = 0 WHERE id = :id",
                      {"until": until, "id": account.id})
            raise SignInRefused("locked", replace(account, locked_until=until), until)

    def signed_in(self, account_id: str, now: datetime | None = None) -> None:
        """Record a sign-in made elsewhere (OpenID Connect)."""
        self._run("UPDATE accounts SET last_sign_in = :now WHERE id = :id",
                  {"now": _stamp(now or _now()), "id": account_id})

    # -- tokens -----------------------------------------------------------------------------------------
    def add_token(self, who: str, scopes=("push",), name: str | None = None,
                  token_id: str | None = None) -> tuple[Token, str]:
        """Make a token for an account; return it and its secret form (shown this once only)."""
        account = self.find(who)
        try:
            scopes = tokens.check_scopes(scopes)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        if "push" in scopes and (account.role != Role.PUBLISHER or not account.department):
            raise BadRequestError("a push token acts for a department: only a publisher account may hold one")
        token_id = token_id or tokens.new_id()
        secret = tokens.new_token(token_id)
        self._run("INSERT INTO account_tokens (id, account_id, name, scopes, token_hash, created) "
                  "VALUES (:id, :account, :name, :scopes, :hash, :created)",
                  {"id": token_id, "account": account.id, "name": (name or "")[:200] or None,
                   "scopes": " ".join(scopes), "hash": tokens.hash_token(secret), "created": _stamp(_now())})
        return self.token(token_id), secret

    def token(self, token_id: str) -> Token | None:
        rows = self.db.rows(f"SELECT {', '.join(_TOKEN_COLUMNS)} FROM account_tokens WHERE id = :id",
                            {"id": token_id})
        return _token(rows[0]) if rows else None

    def tokens(self, who: str | None = None) -> list[Token]:
        """Return the tokens (of one account when given), oldest first."""
        sql = f"SELECT {', '.join(_TOKEN_COLUMNS)} FROM account_tokens"
        params = {}
        if who:
            sql += " WHERE account_id = :account"
            params["account"] = self.find(who).id
        return [_token(row) for row in self.db.rows(sql + " ORDER BY created, id", params)]

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token at once; raise NotFoundError for an unknown one."""
        self._run("UPDATE account_tokens SET revoked = :now WHERE id = :id AND revoked IS NULL",
                  {"now": _stamp(_now()), "id": token_id})
        found = self.token(token_id)
        if found is None:
            raise NotFoundError(f"no token {token_id!r}")
        return found

    def verify_token(self, secret: str) -> tuple[Account, Token] | None:
        """Return the account and token a secret token belongs to (active token, enabled account), else None."""
        token_id = tokens.token_id_of(secret)
        if token_id is None:
            return None
        rows = self.db.rows("SELECT token_hash, revoked, account_id FROM account_tokens WHERE id = :id",
                            {"id": token_id})
        if not rows or rows[0][1] is not None or not tokens.token_matches(secret, rows[0][0]):
            return None
        account = self.get(rows[0][2])
        if account is None or not account.active:
            return None
        token = self.token(token_id)
        self._touch(token, secret if tokens.needs_rehash(rows[0][0]) else None)
        return account, token

    def _touch(self, token: Token, rehash: str | None) -> None:
        """Note the token's last use (at most once a minute: not a write per request) and re-store an old hash."""
        now = _now()
        if rehash is None and token.last_used and _stamp(now - timedelta(seconds=TOUCH_EVERY_S)) < token.last_used:
            return
        sql, params = "UPDATE account_tokens SET last_used = :now", {"now": _stamp(now), "id": token.id}
        if rehash is not None:
            sql, params["hash"] = sql + ", token_hash = :hash", tokens.hash_token(rehash)
        try:
            self._run(sql + " WHERE id = :id", params)
        except (OperationalError, sqlite3.OperationalError):  # busy: the time of last use is informative only
            pass

    # -- the push API's department accounts (as the first releases made them) ------------------------
    def create(self, department: str, name: str | None = None) -> tuple[Account, str]:
        """Make a department's push account: a publisher account holding one push token (shown this once)."""
        department = _department(Role.PUBLISHER, department)
        account_id = tokens.new_id()
        account = self.add(f"push-{account_id}", Role.PUBLISHER, name or department_codes()[department], department,
                           account_id=account_id)
        _, secret = self.add_token(account.id, ("push",), "push", token_id=account_id)
        return account, secret

    def verify(self, secret: str) -> Account | None:
        """Return the publisher account a push token acts for, else None (the push API's check)."""
        found = self.verify_token(secret)
        if found is None or "push" not in found[1].scopes or not found[0].department:
            return None
        return found[0]

    def revoke(self, token_id: str) -> Token:
        """Revoke a token (the push API's word for it)."""
        return self.revoke_token(token_id)

    # -- grants: identifiers a department may publish without its code inside ---------------------------
    def grant(self, department: str, dataset_id: str, note: str | None = None) -> dict:
        """Let a department publish one dataset id (one without its code, or another department's)."""
        department = _department(Role.PUBLISHER, department)
        if not is_dataset_id(dataset_id):
            raise BadRequestError(f"{dataset_id!r} is not a dataset identifier (source.key, e.g. wuhan.420100-D017-1)")
        self._run("INSERT INTO push_grants (dataset_id, department, granted, note) VALUES (:d, :dep, :now, :note) "
                  "ON CONFLICT (dataset_id, department) DO UPDATE SET granted = excluded.granted, note = excluded.note",
                  {"d": dataset_id, "dep": department, "now": _stamp(_now()), "note": note})
        return {"dataset_id": dataset_id, "department": department}

    def ungrant(self, department: str, dataset_id: str) -> bool:
        """Withdraw a grant; True if there was one."""
        rows = self._run("DELETE FROM push_grants WHERE dataset_id = :d AND department = :dep RETURNING dataset_id",
                         {"d": dataset_id, "dep": department.strip().upper()})
        return len(rows) > 0

    def grants(self, department: str | None = None) -> list[dict]:
        """Return the grants (of one department when given), by dataset id."""
        sql = "SELECT dataset_id, department, granted, note FROM push_grants"
        if department:
            sql += " WHERE department = :department"
        rows = self.db.rows(sql + " ORDER BY dataset_id, department",
                            {"department": department.strip().upper() if department else None})
        return [dict(zip(("dataset_id", "department", "granted", "note"), row)) for row in rows]

    def is_granted(self, department: str, dataset_id: str) -> bool:
        return bool(self.db.rows("SELECT 1 FROM push_grants WHERE dataset_id = :d AND department = :dep",
                                 {"d": dataset_id, "dep": department}))

    def owner_rule(self, department: str, dataset_id: str) -> str | None:
        """Return None when a department may publish an id (its code inside the 资源代码, or a grant), else why not."""
        coded = coded_department(dataset_id)
        if coded == department or self.is_granted(department, dataset_id):
            return None
        rule = (f"a department publishes only identifiers with its own code inside the 资源代码 (e.g. "
                f"wuhan.420100-{department}-…) or identifiers granted to it (wodp account grant {department} "
                f"{dataset_id})")
        if coded is not None:
            return (f"the 资源代码 of dataset {dataset_id} carries department code {coded}, so it is {coded}'s; "
                    f"this token acts for department {department}: {rule}")
        return (f"the 资源代码 of dataset {dataset_id} carries no department code and is not granted to "
                f"department {department}: {rule}")


def _role(role) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        raise BadRequestError(f"unknown role {role!r}: use {', '.join(r.value for r in Role)}") from None


def _department(role: Role, department: str | None) -> str | None:
    """Check the department of an account: a publisher's is a code of ontology/departments.ttl, others have none."""
    if role is not Role.PUBLISHER:
        if department:
            raise BadRequestError(f"a {role.value} account acts for no department; only a publisher has one")
        return None
    code = (department or "").strip().upper()
    if code not in department_codes():
        raise BadRequestError(f"unknown department code {code or '(none)'!r}: a publisher needs a code of "
                              "ontology/departments.ttl (D001 … D099)")
    return code


def _account(row) -> Account:
    values = dict(zip(_COLUMNS, row))
    stored = values.pop("password_hash")
    values["failed_attempts"] = int(values["failed_attempts"] or 0)
    stamp = hashlib.sha256(stored.encode()).hexdigest()[:16] if stored else ""
    return Account(**values, has_password=bool(stored), password_stamp=stamp)


def _token(row) -> Token:
    values = dict(zip(_TOKEN_COLUMNS, row))
    values["scopes"] = tuple(values["scopes"].split())
    return Token(**values)
