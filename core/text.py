"""Find text that XML cannot carry, and quote long text as a bounded excerpt.

XML 1.0 allows TAB, LF, CR and the characters from U+0020 on, except the surrogates and U+FFFE/U+FFFF.
Every door that writes XML (CSW, RDF/XML, ISO 19139, the portal's pages) needs its text inside that set, so
the publication gate refuses anything else and names where it is (``first_unfit``); messages and log lines
quote what they are about through ``excerpt``, never a whole value.
"""

from __future__ import annotations

import re

# characters XML 1.0 cannot carry: C0 controls but TAB/LF/CR, lone surrogates, U+FFFE and U+FFFF
UNFIT_FOR_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def first_unfit(text: str) -> tuple[int, str] | None:
    """Return (index, character) of the first character XML cannot carry, or None when all fit."""
    match = UNFIT_FOR_XML.search(text)
    return (match.start(), match.group()) if match else None


def describe(char: str, zh: bool = False) -> str:
    """Name a character that XML cannot carry, e.g. 'U+0001 (a control character)' or 'U+0001（控制字符）'."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = ("a lone surrogate", "孤立代理项")
    elif code in (0xFFFE, 0xFFFF):
        kind = ("a noncharacter", "非字符")
    else:
        kind = ("a control character", "控制字符")
    return f"U+{code:04X}（{kind[1]}）" if zh else f"U+{code:04X} ({kind[0]})"


def visible(text: str) -> str:
    """Return text with every character XML cannot carry written as a \\uXXXX escape (safe to show anywhere)."""
    return UNFIT_FOR_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def excerpt(text: str, limit: int = 80, around: int | None = None) -> str:
    """Quote at most ``limit`` characters of text (around an index when given), unfit characters escaped."""
    if len(text) <= limit:
        return visible(text)
    start = 0 if around is None else max(0, min(around - limit // 2, len(text) - limit))
    head = "…" if start else ""
    tail = "…" if start + limit < len(text) else ""
    return head + visible(text[start:start + limit]) + tail


def bounded(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def lone_surrogate_message(found: tuple[str, int, str]) -> str:
    """Say where a lone surrogate is and why it is refused."""
    where, index, char = found
    return (f"field {where}: {describe(char)} at character {index + 1}, which no UTF-8 text (and no XML) "
            "can carry; remove it and send the record again")


_SURROGATE = re.compile("[\ud800-\udfff]")
