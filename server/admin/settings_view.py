"""Show the effective settings with every secret hidden (keys marked secret in config/settings.py, passwords in URLs).

A secret is never rendered, not even in part: the page says only whether it is set. Values that are not
marked secret but may carry one anyway are hidden too: the password of any URL, and option keys that name a
token, password, secret or key (harvest.sources[].options).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from config.settings import SECTIONS, secret_keys

HIDDEN = object()   # stands for a secret that is set
SECRET_WORDS = re.compile(r"(token|passw|secret|credential|api[_-]?key|^key$|_key$|dsn)", re.I)


def hide_url(text: str) -> str:
    """Replace the password of a URL (scheme://user:password@host) by ***; other text is returned as it is."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or parts.password is None:
        return text
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def shown(value):
    """Return a value fit to show: URL passwords hidden, secret-looking keys of mappings hidden, recursively."""
    if isinstance(value, str):
        return hide_url(value)
    if isinstance(value, dict):
        return {k: (HIDDEN if value[k] not in (None, "") else None) if SECRET_WORDS.search(str(k)) else shown(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(v) for v in value]
    return value


def effective_settings(settings) -> list[tuple[str, list[tuple[str, object, bool]]]]:
    """Return [(section, [(key, value to show, is_secret)])]; a secret's value is HIDDEN (set) or None (not set)."""
    secrets = secret_keys()
    out = []
    for section in SECTIONS:
        model = getattr(settings, section)
        rows = []
        for key in type(model).model_fields:
            value = getattr(model, key)
            if (section, key) in secrets:
                rows.append((key, HIDDEN if value not in (None, "") else None, True))
            else:
                plain = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
                if isinstance(plain, list):
                    plain = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in plain]
                rows.append((key, shown(plain), False))
        out.append((section, rows))
    return out
