"""Make and check machine tokens: ``wodp.<token id>.<secret>``, stored only as a salted hash.

The token id lets a request find its one token row; the whole token is then checked against that row's hash
(constant-time comparison). A token is shown once, when it is made, and is never stored or logged in clear.

A token's secret is 256 random bits (``secrets.token_urlsafe(32)``): nobody can guess it from a fast hash, so it is
stored as a salted SHA-256 (``sha256$salt$digest``), checked in microseconds on every API-key request. A slow
password hash (scrypt, ~50–90 ms) only pays off for secrets people choose; tokens made before were stored with
scrypt (``scrypt$N$r$p$salt$digest``): they are still accepted, and re-stored as SHA-256 at their first use
(``needs_rehash``), as argon2-cffi does for password parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2 ** 14, 8, 1, 32
TOKEN_PREFIX = "wodp"
TOKEN_ID = re.compile(r"[0-9a-f]{12}")
MAX_TOKEN = 200

# what a token may be used for (a token carries one or more)
SCOPES = {"push": "the department push API (POST/DELETE /api/datasets, GET its reports)",
          "manage": "the management JSON APIs, with its account's role",
          "data": "an API key: the data of the 有条件开放 datasets its account was granted (services/applications.py)"}


def new_id() -> str:
    """Return a new id of an account or a token: 12 hex digits."""
    return secrets.token_hex(6)


def new_token(token_id: str) -> str:
    return f"{TOKEN_PREFIX}.{token_id}.{secrets.token_urlsafe(32)}"


def token_id_of(token: str) -> str | None:
    """Return the id inside a well-formed token, else None (nothing is hashed for a malformed one)."""
    parts = token.split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not TOKEN_ID.fullmatch(parts[1]) or not parts[2]:
        return None
    return parts[1]


def hash_token(token: str, salt: bytes | None = None) -> str:
    """Return the stored form of a token: ``sha256$<salt>$<digest>``, hex-encoded."""
    salt = salt if salt is not None else os.urandom(16)
    return f"sha256${salt.hex()}${_sha256(token, salt)}"


def scrypt_hash(token: str, salt: bytes | None = None) -> str:
    """Return a token's stored form as the releases before stored it (scrypt; read, no longer written)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(token.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DKLEN,
                            maxmem=64 * 1024 * 1024)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _sha256(token: str, salt: bytes) -> str:
    return hashlib.sha256(salt + token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored: str) -> bool:
    """Tell whether a token hashes to the stored form, SHA-256 or scrypt (constant-time comparison)."""
    try:
        kind, *rest = stored.split("$")
        if kind == "sha256":
            salt, digest = rest
            return hmac.compare_digest(_sha256(token, bytes.fromhex(salt)), digest)
        if kind != "scrypt":
            return False
        n, r, p, salt, digest = rest
        given = hashlib.scrypt(token.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(digest) // 2, maxmem=64 * 1024 * 1024)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(given.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """Tell whether a stored form is of an older kind, to be re-stored as SHA-256 once its token is seen."""
    return not stored.startswith("sha256$")


def check_scopes(scopes) -> tuple[str, ...]:
    """Return the scopes sorted, or raise ValueError naming an unknown one."""
    out = tuple(sorted({s.strip() for s in scopes if s.strip()}))
    unknown = [s for s in out if s not in SCOPES]
    if unknown or not out:
        raise ValueError(f"unknown token scope {', '.join(unknown) or '(none)'}: use {', '.join(SCOPES)}")
    return out
