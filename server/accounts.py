"""Keep department accounts: a token per account, stored only as a salted scrypt hash (core.database).

A token reads ``wodp.{account id}.{secret}``: the account id lets a request find its one account
row, and the whole token is checked against that row's hash (constant-time comparison). Tokens are
shown once, when the account is made, and are never stored or logged in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy.exc import OperationalError

import pyoxigraph as ox

from ontology.namespaces import DEPARTMENT, FOAF, RDF, WODP
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from core.database import Database, open_database
from core.private import private_dir, private_sqlite

SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2 ** 14, 8, 1, 32
TOKEN_PREFIX = "wodp"
_ACCOUNT_ID = re.compile(r"[0-9a-f]{12}")
_MAX_TOKEN = 200

# a department code inside a 资源代码 (420100-D017-13134): the department that owns the identifier
_DEPARTMENT_CODE = re.compile(r"(?<![A-Za-z0-9])D\d{3}(?![A-Za-z0-9])")


def coded_department(dataset_id: str) -> str | None:
    """Return the department code inside a dataset id's key (``wuhan.420100-D017-13134`` -> D017), else None."""
    found = _DEPARTMENT_CODE.search(dataset_id.partition(".")[2])
    return found.group() if found else None


@dataclass(frozen=True)
class Account:
    """A department's account (never its token)."""

    id: str
    department: str
    name: str
    created: str
    revoked: str | None = None
    last_used: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def as_json(self) -> dict:
        return {"id": self.id, "department": self.department, "name": self.name, "created": self.created,
                "revoked": self.revoked, "last_used": self.last_used}


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


def hash_token(token: str, salt: bytes | None = None) -> str:
    """Return the stored form of a token: scrypt parameters, salt and hash, hex-encoded."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(token.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DKLEN,
                            maxmem=64 * 1024 * 1024)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def token_matches(token: str, stored: str) -> bool:
    """Tell whether a token hashes to the stored form (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        given = hashlib.scrypt(token.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(digest) // 2, maxmem=64 * 1024 * 1024)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(given.hex(), digest)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountStore:
    """Department accounts: an embedded SQLite file readable by its owner only, or the shared database."""

    def __init__(self, where: "Path | Database") -> None:
        if not isinstance(where, Database):
            path = Path(where)
            private_dir(path.parent)
            private_sqlite(path)  # 0600 before SQLite opens it: its -wal and -shm take the same mode
            where = open_database(None, "accounts", path)
        self.db = where
        self.path = where.path

    def _run(self, sql: str, params: dict | None = None) -> list:
        return self.db.run(sql, params) or []

    def close(self) -> None:
        """Close the accounts' connections."""
        self.db.close()

    def create(self, department: str, name: str | None = None) -> tuple[Account, str]:
        """Make an account for a department; return it and its token (shown this once only)."""
        department = department.strip().upper()
        codes = department_codes()
        if department not in codes:
            raise BadRequestError(f"unknown department code {department!r}: use a code of ontology/departments.ttl "
                                  "(D001 … D099)")
        account_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}.{account_id}.{secrets.token_urlsafe(32)}"
        account = Account(account_id, department, (name or codes[department]).strip()[:200], _now())
        self._run("INSERT INTO push_accounts (id, department, name, token_hash, created) "
                  "VALUES (:id, :department, :name, :hash, :created)",
                  {"id": account.id, "department": account.department, "name": account.name,
                   "hash": hash_token(token), "created": account.created})
        return account, token

    def get(self, account_id: str) -> Account | None:
        rows = self.db.rows("SELECT id, department, name, created, revoked, last_used FROM push_accounts"
                            " WHERE id = :id", {"id": account_id})
        return Account(*rows[0]) if rows else None

    def list(self, department: str | None = None) -> list[Account]:
        """Return every account (of one department when given), oldest first."""
        sql = "SELECT id, department, name, created, revoked, last_used FROM push_accounts"
        if department:
            sql += " WHERE department = :department"
        return [Account(*row) for row in self.db.rows(sql + " ORDER BY created, id", {"department": department})]

    def revoke(self, account_id: str) -> Account:
        """Revoke an account's token at once; raise NotFoundError for an unknown account."""
        self._run("UPDATE push_accounts SET revoked = :now WHERE id = :id AND revoked IS NULL",
                  {"now": _now(), "id": account_id})
        account = self.get(account_id)
        if account is None:
            raise NotFoundError(f"no account {account_id!r}")
        return account

    # -- grants: identifiers a department may publish without its code inside ---------------------------
    def grant(self, department: str, dataset_id: str, note: str | None = None) -> dict:
        """Let a department publish one dataset id (one without its code, or another department's)."""
        department = department.strip().upper()
        if department not in department_codes():
            raise BadRequestError(f"unknown department code {department!r}: use a code of ontology/departments.ttl")
        if not is_dataset_id(dataset_id):
            raise BadRequestError(f"{dataset_id!r} is not a dataset identifier (source.key, e.g. wuhan.420100-D017-1)")
        self._run("INSERT INTO push_grants (dataset_id, department, granted, note) VALUES (:d, :dep, :now, :note) "
                  "ON CONFLICT (dataset_id, department) DO UPDATE SET granted = excluded.granted, note = excluded.note",
                  {"d": dataset_id, "dep": department, "now": _now(), "note": note})
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

    def verify(self, token: str) -> Account | None:
        """Return the active account a token belongs to, else None."""
        parts = token.split(".") if len(token) <= _MAX_TOKEN else []
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _ACCOUNT_ID.fullmatch(parts[1]):
            return None
        rows = self.db.rows("SELECT token_hash, revoked FROM push_accounts WHERE id = :id", {"id": parts[1]})
        row = rows[0] if rows else None
        if row is None or row[1] is not None or not token_matches(token, row[0]):
            return None
        self._touch(parts[1])
        return self.get(parts[1])

    def _touch(self, account_id: str) -> None:
        try:
            self._run("UPDATE push_accounts SET last_used = :now WHERE id = :id", {"now": _now(), "id": account_id})
        except (OperationalError, sqlite3.OperationalError):  # busy: the time of last use is informative only
            pass
