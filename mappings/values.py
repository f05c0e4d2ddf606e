"""Normalise source values: dates, vocabulary words (cycles, open types, formats, themes), contacts, boxes."""

from __future__ import annotations

import ast
import re
import unicodedata
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

import pyoxigraph as ox
import yaml

from mappings.paths import text

_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EPOCH = re.compile(r"^\d{10}(\d{3})?$")
# e-mail addresses are found in linear time (emails, _email_spans): a pattern like [\w.+-]+@… retries from every
# character of a long word and took 6.9-10 s on a 32,000-character value
_LOCAL_PART = re.compile(r"[\w.+-]+")
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s()-]{5,}\d")


@lru_cache(maxsize=None)
def vocabulary() -> dict[str, dict]:
    """Return the value vocabularies of mappings/vocabulary.yml, keys as compared (see word_key)."""
    raw = yaml.safe_load(resources.files("mappings").joinpath("vocabulary.yml").read_text(encoding="utf-8"))
    return {name: ({k if name == "open_type_markers" else word_key(str(k)): v for k, v in table.items()}
                   if isinstance(table, dict) else {word_key(str(k)): True for k in table})
            for name, table in raw.items()}


def lookup_open_type(word: str) -> tuple[str, str | None] | None:
    """Return (our open type, the marker it was recognised by or None when listed) of a word, else None."""
    code = lookup("open_types", word)
    if code is not None:
        return code, None
    key = word_key(word)
    for code, markers in vocabulary()["open_type_markers"].items():
        for marker in markers:
            if word_key(str(marker)) in key:
                return code, str(marker)
    return None


def is_empty_word(word: str) -> bool:
    """Tell whether a value says there is none (暂无, 无, '-' …)."""
    return word_key(word) in vocabulary()["empty_words"]


def is_service(word: str) -> bool:
    """Tell whether a format word names an API (接口, api, API服务 …) rather than a file format."""
    return bool(lookup("services", word))


@lru_cache(maxsize=None)
def theme_labels() -> dict[str, tuple[str, str | None]]:
    """Return theme word → (our theme code, EU data theme code) from ontology/themes.ttl and the vocabulary."""
    graph = ox.Store()
    ttl = resources.files("ontology").joinpath("themes.ttl").read_bytes()
    graph.load(ttl, format=ox.RdfFormat.TURTLE)
    eu: dict[str, str] = {}
    labels: dict[str, str] = {}
    for s, p, o, _ in graph:
        code = s.value.rsplit("/", 1)[-1]
        if p.value.endswith(("core#exactMatch", "core#closeMatch")):
            eu[code] = o.value.rsplit("/", 1)[-1]
        elif p.value.endswith("core#prefLabel"):
            labels[word_key(o.value)] = code
    labels.update({k: v for k, v in vocabulary()["themes"].items()})
    out = {word: (code, eu.get(code)) for word, code in labels.items()}
    out.update({f"#{code}": (code, eu.get(code)) for code in set(labels.values())})  # by code: "#T02"
    return out


def theme_of_code(code: str) -> tuple[str, str | None] | None:
    """Return (our theme code, EU data theme) of one of our theme codes ('T02'), else None."""
    return theme_labels().get(f"#{code.strip()}")


def folded(value: str) -> str:
    """Return a value as compared or parsed (NFKC: full-width forms made half-width); never published."""
    return unicodedata.normalize("NFKC", value)


def word_key(word: str) -> str:
    """Return a vocabulary word as compared: NFKC, lower case, without spaces."""
    return re.sub(r"\s+", "", folded(word)).lower()


def _without_trailing_parenthesis(text: str) -> str:
    r"""Drop a trailing '(…)' or '[…]' from the first opening bracket of the last line ('开放 (有条件)' → '开放 ').

    The same as re.sub(r"\s*[(\[].*[)\]]\s*$", "", text) without retrying from every bracket (quadratic).
    """
    end = len(text.rstrip())
    if not end or text[end - 1] not in ")]":
        return text
    line = text.rfind("\n", 0, end) + 1
    openers = [i for i in (text.find("(", line, end - 1), text.find("[", line, end - 1)) if i >= 0]
    return text[:min(openers)].rstrip() if openers else text


def lookup(table: str, word: str) -> Any:
    """Find a word in a vocabulary table, also without a trailing parenthesis; None if unknown."""
    entries = vocabulary()[table] if table != "themes" else theme_labels()
    key = word_key(word)
    if key in entries:
        return entries[key]
    stripped = word_key(_without_trailing_parenthesis(folded(word)))
    return entries.get(stripped)


def lookup_format(word: str) -> tuple[str | None, str | None] | None:
    """Find a format word, then the parts after and before a '-' ('数据库-sqlServer')."""
    found = lookup("formats", word)
    if found is None and "-" in folded(word):
        head, _, tail = folded(word).partition("-")
        found = lookup("formats", tail) or lookup("formats", head)
    return tuple(found) if found else None


def parse_date(value: str) -> date | None:
    """Parse '2022-6-27', '2022/06/27', '2022年6月27日', '2022-06-27 10:00:00', ISO, '20220627', epoch ms."""
    value = folded(value).strip()
    if _EPOCH.match(value):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).date()
    match = _YMD.search(value) or _COMPACT.match(value)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def split_values(value: Any, separator: str | None) -> list[str]:
    """Flatten a list value or a list-like string ("['a', 'b']", "[a]", "a,b") into trimmed words."""
    items = value if isinstance(value, list) else [value]
    words: list[str] = []
    for item in items:
        item = text(item)
        if item is None:
            continue
        item = item.strip()
        if item.startswith("[") and item.endswith("]"):
            words += _bracket_list(item)
        elif separator:
            words += [w.strip() for w in re.split(separator, item)]
        else:
            words.append(item)
    return [w for w in words if w]


def _bracket_list(item: str) -> list[str]:
    """Read "['api', 'xls']" (a Python or JSON list) or "[xls]" as words."""
    try:
        parsed = ast.literal_eval(item)
        if isinstance(parsed, list):
            return [str(p).strip() for p in parsed]
    except (ValueError, SyntaxError):
        pass
    return [w.strip(" '\"") for w in item[1:-1].split(",")]


def parse_int(value: str) -> int | None:
    """Parse a non-negative integer count ('19053', '1,234', '42 octets'); None if there is none."""
    match = re.match(r"^\s*(\d[\d,]*)\b", folded(value))
    return int(match.group(1).replace(",", "")) if match else None


def _email_spans(value: str) -> list[tuple[int, int]]:
    r"""Return the spans of e-mail addresses (local@domain.tld) in a text, each character looked at a few times.

    A run of local-part characters can only end in '@' at its end, so each run is tried once: the same matches
    as re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), without its quadratic retries.
    """
    spans, pos = [], 0
    while (local := _LOCAL_PART.search(value, pos)) is not None:
        at = local.end()
        domain = _DOMAIN.match(value, at + 1) if value.startswith("@", at) else None
        if domain:
            spans.append((local.start(), domain.end()))
            pos = domain.end()
        else:
            pos = at
    return spans


def emails(value: str) -> list[str]:
    """Return the e-mail addresses in a text ('mailto:' prefixes allowed)."""
    value = folded(value)
    return [value[start:end] for start, end in _email_spans(value)]


def _without_emails(value: str) -> str:
    out, last = [], 0
    for start, end in _email_spans(value):
        out += [value[last:start], " "]
        last = end
    return "".join(out) + value[last:]


def phones(value: str, country_code: str | None) -> list[str]:
    """Return tel: URIs of the phone numbers in a text; with a country code, '0571-…' becomes '+86-571-…'."""
    out = []
    for raw in _PHONE.findall(_without_emails(folded(value))):
        digits = re.sub(r"[^\d+]", "", raw)
        if len(digits.lstrip("+")) < 7:
            continue
        if digits.startswith("+"):
            out.append("tel:" + re.sub(r"-+", "-", re.sub(r"[\s()]+", "-", raw.strip())).strip("-"))
        elif country_code and digits.startswith("0"):
            area, number = _area_split(raw, digits)
            out.append(f"tel:+{country_code}-{area}-{number}" if area else f"tel:+{country_code}-{number}")
        elif country_code and digits.startswith("1") and len(digits) == 11:
            out.append(f"tel:+{country_code}-{digits}")
        else:
            out.append(f"tel:{digits}")
    return out


def _area_split(raw: str, digits: str) -> tuple[str, str]:
    """Split a Chinese number with a leading 0 into area code (without 0) and subscriber number."""
    match = re.match(r"\(?0(\d{2,3})\)?[\s-]*(\d{7,8})$", raw.strip())
    if match:
        return match.group(1), match.group(2)
    return "", digits.lstrip("0")


def bbox(value: str) -> tuple[float, float, float, float] | None:
    """Parse 'west,south,east,north' into floats; None unless four numbers in range."""
    parts = re.split(r"[,;\s]+", folded(value).strip())
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        return None
    return check_bbox(w, s, e, n)


def check_bbox(w: float, s: float, e: float, n: float) -> tuple[float, float, float, float] | None:
    """Return the box if its corners are valid longitudes and latitudes in order."""
    if -180 <= w <= e <= 180 and -90 <= s <= n <= 90:
        return w, s, e, n
    return None
