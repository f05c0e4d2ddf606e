"""Hash passwords with argon2 (argon2-cffi) and hold them to the password policy of the settings."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a request from making it hash megabytes


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()  # RFC 9106's second recommended parameters (argon2id, 64 MiB, t=3)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def password_matches(password: str, stored: str | None) -> bool:
    """Tell whether a password is the one hashed in ``stored``; an account without one matches nothing."""
    if not stored:
        hasher().hash(password[:MAX_LENGTH])  # as long as a real check: timing tells no account apart
        return False
    try:
        return hasher().verify(stored, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _classes(password: str) -> int:
    kinds = set()
    for ch in password:
        if ch.isdigit():
            kinds.add("digit")
        elif ch.isalpha() and ch.isupper():
            kinds.add("upper")
        elif ch.isalpha() and ch.islower():
            kinds.add("lower")
        elif not ch.isspace() or unicodedata.category(ch).startswith("P"):
            kinds.add("other")  # punctuation, symbols, and letters without case (汉字)
    return len(kinds)


@dataclass(frozen=True)
class PasswordPolicy:
    """The password rule of settings.access: a minimum length and a number of character classes."""

    min_length: int = 12
    min_classes: int = 3

    @classmethod
    def from_settings(cls, access) -> "PasswordPolicy":
        return cls(access.password_min_length, access.password_classes)

    def problems(self, password: str, login: str | None = None) -> list[tuple[str, str]]:
        """Return what is wrong with a password, each (zh-CN, en); empty when it passes."""
        out = []
        if len(password) < self.min_length:
            out.append((f"密码至少需要 {self.min_length} 个字符。",
                        f"the password needs at least {self.min_length} characters"))
        if len(password) > MAX_LENGTH:
            out.append((f"密码不能超过 {MAX_LENGTH} 个字符。", f"the password may have at most {MAX_LENGTH} characters"))
        if _classes(password) < self.min_classes:
            out.append((f"密码需包含以下至少 {self.min_classes} 类字符：小写字母、大写字母、数字、其他符号。",
                        f"the password needs at least {self.min_classes} of: lower-case letters, upper-case "
                        "letters, digits, other characters"))
        if login and login.lower() in password.lower():
            out.append(("密码不能包含登录名。", "the password must not contain the login name"))
        return out
