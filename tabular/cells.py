"""Tell what each cell holds (its kind) and choose a column's DuckDB type that keeps every value exactly.

A cell's kind is one of: ``empty`` (nothing, or only spaces), ``integer`` (no leading zero, no sign but
``-``), ``code`` (digits with a leading zero: 420102 is an integer, 0101 a code), ``decimal`` (digits with
a fraction), ``date`` in one of several formats (``date:YYYY-MM-DD``, ``date:YYYY/MM/DD``,
``date:YYYY年M月D日`` …), ``datetime:…``, ``boolean`` (true/false/是/否 in JSON only) or ``text``.

A column is typed only when every value keeps its meaning in that type: integers → BIGINT, integers and
decimals → DECIMAL(p, s) (the same numbers), ISO dates → DATE, ISO date-times → TIMESTAMP; anything else,
and any column holding a code, stays VARCHAR with its values as written. Kinds are counted per column
(``Profile``) for the mixed-type check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

# one pass for the three number kinds: the group that matched names the kind
_NUMBERISH = re.compile(r"(-?(?:0|[1-9]\d{0,17}))|(0\d+)|(-?(?:0|[1-9]\d*)\.\d+)")
_NUMBER_KINDS = {1: "integer", 2: "code", 3: "decimal"}
_DATE_FORMATS = (  # (pattern, kind, strptime format or None for Y/M/D groups)
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), "date:YYYY-MM-DD"),
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), "date:YYYY-M-D"),
    (re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"), "date:YYYY/M/D"),
    (re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"), "date:YYYY.M.D"),
    (re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"), "date:YYYY年M月D日"),
    (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), "date:DD/MM/YYYY"),
)
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_DATETIME_OTHER = re.compile(r"(\d{4})[/.年-](\d{1,2})[/.月-](\d{1,2})日?[ T]?\d{1,2}[:时]\d{1,2}([:分]\d{1,2}秒?)?")
MAX_PRECISION = 38
ISO_DATE, ISO_DATETIME = "date:YYYY-MM-DD", "datetime:YYYY-MM-DD hh:mm:ss"


def kind_of(value: str) -> str:
    """Return the kind of one cell's text."""
    first = value[:1]
    if not (first.isdigit() or first == "-"):  # most text: one look at its first character
        return "text" if value.strip() else "empty"
    found = _NUMBERISH.fullmatch(value)
    if found:
        return _NUMBER_KINDS[found.lastindex]
    if len(value) <= 32 and first.isdigit():
        return _date_kind(value)
    return "text"


def _date_kind(value: str) -> str:
    found = _DATETIME.fullmatch(value)
    if found:
        try:
            datetime(*map(int, found.groups()))
            return "datetime:YYYY-MM-DD hh:mm:ss"
        except ValueError:
            return "text"
    if _DATETIME_OTHER.fullmatch(value):
        return "datetime:other"
    for pattern, kind in _DATE_FORMATS:
        found = pattern.fullmatch(value)
        if found:
            parts = list(map(int, found.groups()))
            y, m, d = (parts[2], parts[1], parts[0]) if kind == "date:DD/MM/YYYY" else parts
            try:
                date(y, m, d)
            except ValueError:
                return "text"
            return kind
    return "text"


def family(kind: str) -> str:
    """Group kinds that mix without harm: numbers (integer, decimal, code) and the rest by name."""
    if kind in ("integer", "decimal", "code"):
        return "number"
    return kind.split(":", 1)[0]


@dataclass
class Profile:
    """What one column holds: kinds counted, the first source row of each kind, and decimal digits."""

    kinds: dict[str, int] = field(default_factory=dict)
    first_row: dict[str, int] = field(default_factory=dict)
    scale: int = 0  # most digits after the point of a decimal
    digits: int = 0  # most digits before the point of a number
    spaces: int = 0  # cells holding only spaces (read as empty)

    def add_numbers(self, values: list[str]) -> None:
        """Widen the digits and scale to hold these integers and decimals (distinct values, counted apart)."""
        parts = [v.lstrip("-").partition(".") for v in values]
        self.digits = max(self.digits, max(len(w) for w, _, _ in parts))
        self.scale = max(self.scale, max(len(f) for _, _, f in parts))

    def add(self, value: str, kind: str, row: int | None, count: int = 1, numbers: bool = True) -> None:
        """Count ``count`` cells holding ``value`` of ``kind``, the first of them in source row ``row``."""
        self.kinds[kind] = self.kinds.get(kind, 0) + count
        if row is not None:
            self.first_row.setdefault(kind, row)
        if kind == "empty" and value:
            self.spaces += count
        elif numbers and kind in ("integer", "decimal"):
            whole, _, fraction = value.lstrip("-").partition(".")
            self.digits = max(self.digits, len(whole))
            self.scale = max(self.scale, len(fraction))

    def filled(self) -> dict[str, int]:
        """Return the kinds of the non-empty cells."""
        return {k: n for k, n in self.kinds.items() if k != "empty"}

    def sql_type(self) -> str:
        """Return the DuckDB type keeping every value of the column exactly."""
        kinds = set(self.filled())
        if not kinds:
            return "VARCHAR"
        if kinds == {"integer"}:
            return "BIGINT"
        if kinds <= {"integer", "decimal"} and self.digits + self.scale <= MAX_PRECISION:
            return f"DECIMAL({MAX_PRECISION}, {self.scale})"
        if kinds == {ISO_DATE}:
            return "DATE"
        if kinds <= {ISO_DATE, ISO_DATETIME}:  # a sheet's date-times at midnight read as dates: the same instants
            return "TIMESTAMP"
        if kinds == {"boolean"}:
            return "BOOLEAN"
        return "VARCHAR"


def date_formats(kinds: set[str]) -> set[str]:
    """Return the date formats among kinds, ISO dates and ISO date-times counted as one."""
    formats = {k for k in kinds if family(k) in ("date", "datetime")}
    return {ISO_DATETIME} if formats == {ISO_DATE, ISO_DATETIME} else formats
