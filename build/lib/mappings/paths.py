"""Resolve mapping paths (a.b[c.d=value].*) over nested dicts and lists made from JSON or XML."""

from __future__ import annotations

import re
from typing import Any, Iterator

_SEGMENT = re.compile(r"([^.\[\]]+)(?:\[([^\]=]+)=([^\]]*)\])?")


def split_path(path: str) -> list[tuple[str, str | None, str | None]]:
    """Split a path into (name, filter path, filter value) segments."""
    segments, pos = [], 0
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if not match:
            raise ValueError(f"bad path {path!r} at {pos}")
        segments.append((match.group(1), match.group(2), match.group(3)))
        pos = match.end() + 1
    return segments


def resolve(tree: Any, path: str) -> list[Any]:
    """Return every value found at a path ('.' or '' is the tree itself); lists are flattened."""
    if path in ("", "."):
        return list(_flat(tree))
    if isinstance(tree, dict) and path in tree:
        return [v for v in _flat(tree[path]) if v is not None]
    values = list(_flat(tree))
    for name, fpath, fvalue in split_path(path):
        values = [v for item in values for v in _step(item, name)]
        if fpath is not None:
            values = [v for v in values if fvalue in (text(x) for x in resolve(v, fpath))]
    return [v for v in values if v is not None]


def first_segment(path: str) -> str:
    """Return the top-level field a path starts from."""
    return path.split(".", 1)[0].split("[", 1)[0]


def text(value: Any) -> str | None:
    """Return the text of a leaf value (an XML element's '#text'), else None for objects."""
    if isinstance(value, dict):
        value = value.get("#text")
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _step(item: Any, name: str) -> Iterator[Any]:
    """Yield the children of an item under a name ('*' for every non-attribute child)."""
    if not isinstance(item, dict):
        return
    if name == "*":
        for key, value in item.items():
            if not key.startswith(("@", "#")):
                yield from _flat(value)
    elif name in item:
        yield from _flat(item[name])


def _flat(value: Any) -> Iterator[Any]:
    """Yield a value, or the items of a list."""
    if isinstance(value, list):
        yield from value
    else:
        yield value
