"""Read JSON from outside with bounded nesting and number size, and no lone surrogate in any string.

Python's json reads a 5,001-digit integer only to fail (ValueError past 4,300 digits), recurses once per
nesting level, and turns ``"\\ud800"`` into a string no encoder takes; each of those used to surface later
as a 500. ``loads`` refuses them while reading, naming the line and column or the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.text import lone_surrogate_message
from core.bounded import InputLimitError, InputRefusedError, bound

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))  # digits to 0, the rest to space


def loads(text: str | bytes, name: str, limits: Any) -> Any:
    """Parse JSON text; raise InputRefusedError (malformed, lone surrogate) or InputLimitError (depth, digits)."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputRefusedError(f"JSON that is not UTF-8 (bad byte at offset {exc.start})", name=name) from None
    digits = limits.json_max_number_digits

    def number(kind):
        def read(literal: str):
            if len(literal) > digits:
                line, column = _position(text, text.find(literal))
                raise InputLimitError(f"a number of {len(literal)} characters at line {line} column {column}, "
                                      f"more than {bound('json_max_number_digits', digits)}", name=name)
            return kind(literal)
        return read

    long_number = b"0" * (digits + 1) in raw.translate(_DIGITS)  # a digit run that long, maybe in a string
    hooks = {"parse_int": number(int), "parse_float": number(float)} if long_number else {}
    try:
        doc = json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        raise InputRefusedError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                name=name) from None
    except RecursionError:
        raise InputLimitError(f"JSON nested deeper than {bound('json_max_depth', limits.json_max_depth)}",
                              name=name) from None
    if raw.count(b"[") + raw.count(b"{") > limits.json_max_depth:
        _check_depth(doc, name, limits.json_max_depth)
    if b"\\u" in raw and _SURROGATE_ESCAPE.search(text):
        _check_strings(doc, name)
    return doc


def check_tree(doc: Any, name: str, max_depth: int) -> None:
    """Refuse nesting past max_depth and any lone surrogate in a document parsed by other means."""
    _check_depth(doc, name, max_depth)
    _check_strings(doc, name)


def _check_depth(doc: Any, name: str, max_depth: int) -> None:
    """Walk a document level by level; refuse it past max_depth, naming the path that goes deepest."""
    level, depth = [doc], 1
    while level:
        level = [v for node in level if isinstance(node, (dict, list))
                 for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list))]
        depth += 1
        if level and depth > max_depth:
            raise InputLimitError(f"JSON nested deeper than {bound('json_max_depth', max_depth)} "
                                  f"(at {_deep_path(doc, max_depth)})", name=name)


def _deep_path(doc: Any, max_depth: int) -> str:
    """Return the path of a container nested deeper than max_depth (searched depth-first, on failure only)."""
    stack: list[tuple[Any, str, int]] = [(doc, "$", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            return path if len(path) <= 120 else path[:60] + "…" + path[-40:]
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(value, (dict, list)):
                stack.append((value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}", depth + 1))
    return "$"


def _check_strings(doc: Any, name: str) -> None:
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            _check_string(node, name, path)
            continue
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(key, str):
                _check_string(key, name, f"{path} (a field name)")
            if isinstance(value, (dict, list, str)):
                stack.append((value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"))


def _check_string(value: str, name: str, path: str) -> None:
    found = _SURROGATE.search(value)
    if found:
        shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
        raise InputRefusedError(lone_surrogate_message((shown, found.start(), found.group())), name=name, status=422)


def _position(text: str, index: int) -> tuple[int, int]:
    if index < 0:
        return 0, 0
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
