"""Keep department accounts: a token per account, stored only as a salted scrypt hash in SQLite.

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

import pyoxigraph as ox

from ontology.namespaces import DEPARTMENT, FOAF, RDF, WODP
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from core.private import private_dir, private_sqlite
from core.sqlite import ThreadConnections

SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2 ** 14, 8, 1, 32
TOKEN_PREFIX = "wodp"
_ACCOUNT_ID = re.compile(r"[0-9a-f]{12}")
_MAX_TOKEN = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts(
  id TEXT PRIMARY KEY, department TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL,
  created TEXT NOT NULL, revoked TEXT, last_used TEXT);
CREATE INDEX IF NOT EXISTS accounts_department ON accounts(department);
CREATE TABLE IF NOT EXISTS grants(
  dataset_id TEXT NOT NULL, department TEXT NOT NULL, granted TEXT NOT NULL, note TEXT,
  PRIMARY KEY (dataset_id, department));
"""
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
    """Department accounts in one SQLite file (readable by its owner only), one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        private_sqlite(self.path)  # 0600 before SQLite opens it: its -wal and -shm take the same mode
        self._db = ThreadConnections(self.path)
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._db.get()

    def close(self) -> None:
        """Close every connection of every thread."""
        self._db.close()

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
        self._conn().execute("INSERT INTO accounts(id, department, name, token_hash, created) VALUES (?,?,?,?,?)",
                             (account.id, account.department, account.name, hash_token(token), account.created))
        return account, token

    def get(self, account_id: str) -> Account | None:
        row = self._conn().execute("SELECT id, department, name, created, revoked, last_used FROM accounts"
                                   " WHERE id = ?", (account_id,)).fetchone()
        return Account(*row) if row else None

    def list(self, department: str | None = None) -> list[Account]:
        """Return every account (of one department when given), oldest first."""
        sql = "SELECT id, department, name, created, revoked, last_used FROM accounts"
        args: tuple = ()
        if department:
            sql, args = sql + " WHERE department = ?", (department,)
        return [Account(*row) for row in self._conn().execute(sql + " ORDER BY created, id", args)]

    def revoke(self, account_id: str) -> Account:
        """Revoke an account's token at once; raise NotFoundError for an unknown account."""
        conn = self._conn()
        conn.execute("UPDATE accounts SET revoked = ? WHERE id = ? AND revoked IS NULL", (_now(), account_id))
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
        self._conn().execute("INSERT OR REPLACE INTO grants(dataset_id, department, granted, note) VALUES (?,?,?,?)",
                             (dataset_id, department, _now(), note))
        return {"dataset_id": dataset_id, "department": department}

    def ungrant(self, department: str, dataset_id: str) -> bool:
        """Withdraw a grant; True if there was one."""
        cursor = self._conn().execute("DELETE FROM grants WHERE dataset_id = ? AND department = ?",
                                      (dataset_id, department.strip().upper()))
        return cursor.rowcount > 0

    def grants(self, department: str | None = None) -> list[dict]:
        """Return the grants (of one department when given), by dataset id."""
        sql, args = "SELECT dataset_id, department, granted, note FROM grants", ()
        if department:
            sql, args = sql + " WHERE department = ?", (department.strip().upper(),)
        rows = self._conn().execute(sql + " ORDER BY dataset_id, department", args)
        return [dict(zip(("dataset_id", "department", "granted", "note"), row)) for row in rows]

    def is_granted(self, department: str, dataset_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM grants WHERE dataset_id = ? AND department = ?",
                                    (dataset_id, department)).fetchone() is not None

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
        row = self._conn().execute("SELECT token_hash, revoked FROM accounts WHERE id = ?", (parts[1],)).fetchone()
        if row is None or row[1] is not None or not token_matches(token, row[0]):
            return None
        self._touch(parts[1])
        return self.get(parts[1])

    def _touch(self, account_id: str) -> None:
        try:
            self._conn().execute("UPDATE accounts SET last_used = ? WHERE id = ?", (_now(), account_id))
        except sqlite3.OperationalError:  # busy: the time of last use is informative only
            pass
