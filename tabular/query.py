"""The data API's query: parameters read against a table's typed columns, and SQL built from them.

Every value reaches DuckDB as a parameter and every column name as a quoted identifier (``tabular.read.quote``);
a parameter that names no column, an unknown operator or a value that is not of its column's type is a
``QueryError`` (400) naming it. Filters: ``FIELD=v`` (equality; ``FIELD__eq=v`` where FIELD is a reserved
name), ``FIELD__gt|__gte|__lt|__lte=v``, ``FIELD__in=a,b,c``, ``FIELD__contains=text`` (the value's text
contains it). ``sort=a,-b``; ``fields=a,b``; ``page`` from 1, ``page_size`` 1…1000. Rows keep the source's
order (its row number) unless sorted, and after the sort keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from core.errors import BadRequestError
from tabular.read import ROW_COLUMN, quote

RESERVED = ("fields", "sort", "page", "page_size", "format", "table", "api_key", "lang")
OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "IN", "contains": "contains"}
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_IN = 1000
_INTEGER = re.compile(r"-?\d{1,19}")
_DECIMAL = re.compile(r"-?\d{1,38}(\.\d{1,38})?")


class QueryError(BadRequestError):
    """A data API parameter that cannot be used (400): the message names the parameter and why."""

    code = "bad-query"


@dataclass(frozen=True)
class Filter:
    column: str
    operator: str  # a key of OPERATORS
    value: Any  # a typed value, or a tuple of them for ``in``


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()  # (column, descending)
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def parse_query(args: Iterable[tuple[str, str]], columns: Sequence[tuple[str, str]]) -> Query:
    """Read the request's parameters (name, value pairs, repeated names allowed) against the table's columns."""
    types = dict(columns)
    names = [n for n, _ in columns]
    fields, sort, page, size, filters = tuple(names), (), 1, DEFAULT_PAGE_SIZE, []
    seen: set[str] = set()
    for key, value in args:
        if key in seen:  # two values of one parameter: neither is taken over the other without a word
            hint = f"; to match any of several values: {key}__in=a,b" if key in types else ""
            raise QueryError(f"{key} is given more than once: give it once{hint}")
        seen.add(key)
        if key == "fields":
            fields = _fields(value, types)
        elif key == "sort":
            sort = _sort(value, types)
        elif key == "page":
            page = _whole(key, value, 1, 10**9)
        elif key == "page_size":
            size = _whole(key, value, 1, MAX_PAGE_SIZE)
        elif key in RESERVED:
            continue  # format, table, api_key, lang: read by the HTTP layer
        else:
            filters.append(_filter(key, value, types))
    return Query(fields, tuple(filters), sort, page, size)


def _fields(value: str, types: dict[str, str]) -> tuple[str, ...]:
    chosen = [f.strip() for f in value.split(",") if f.strip()]
    if not chosen:
        raise QueryError("fields: name at least one field")
    unknown = [f for f in chosen if f not in types]
    if unknown:
        raise QueryError(f"fields: no field named {', '.join(unknown)}; the fields are {', '.join(types)}")
    return tuple(dict.fromkeys(chosen))


def _sort(value: str, types: dict[str, str]) -> tuple[tuple[str, bool], ...]:
    keys = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        name = part[1:] if descending or part.startswith("+") else part
        if name not in types:
            raise QueryError(f"sort: no field named {name!r}; the fields are {', '.join(types)}")
        keys.append((name, descending))
    return tuple(keys)


def _whole(key: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,10}", value.strip()):
        raise QueryError(f"{key} must be a whole number from {low} to {high}, not {value[:40]!r}")
    number = int(value)
    if not low <= number <= high:
        raise QueryError(f"{key} must be a whole number from {low} to {high}, not {number}")
    return number


def _filter(key: str, value: str, types: dict[str, str]) -> Filter:
    if key in types:
        column, operator = key, "eq"
    else:
        column, _, operator = key.rpartition("__")
        if not column or column not in types:
            raise QueryError(f"{key}: no field of that name (filters are FIELD=value or FIELD__op=value, "
                             f"op one of {', '.join(OPERATORS)}); the fields are {', '.join(types)}")
        if operator not in OPERATORS:
            raise QueryError(f"{key}: unknown operator {operator!r}; the operators are {', '.join(OPERATORS)}")
    kind = types[column]
    if operator == "contains":
        return Filter(column, operator, value)
    if operator == "in":
        items = value.split(",")
        if len(items) > MAX_IN:
            raise QueryError(f"{key}: at most {MAX_IN} values")
        return Filter(column, operator, tuple(typed_value(key, v, kind) for v in items))
    return Filter(column, operator, typed_value(key, value, kind))


def typed_value(key: str, value: str, kind: str) -> Any:
    """Read a parameter's text as a value of the column's DuckDB type (QueryError when it is not one)."""
    text = value.strip()
    try:
        if kind in ("BIGINT", "INTEGER"):
            if _INTEGER.fullmatch(text) and -2**63 <= int(text) < 2**63:
                return int(text)
            raise ValueError
        if kind.startswith("DECIMAL") or kind == "DOUBLE":
            if not _DECIMAL.fullmatch(text) or sum(c.isdigit() for c in text) > 38:
                raise ValueError
            return Decimal(text)
        if kind == "DATE":
            return date.fromisoformat(text)
        if kind.startswith("TIMESTAMP"):
            return datetime.fromisoformat(text)
        if kind == "BOOLEAN":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
    except (ValueError, InvalidOperation, OverflowError):
        raise QueryError(f"{key}: {value[:60]!r} is not a value of the field's type ({type_name(kind)})") from None
    return value


def type_name(kind: str) -> str:
    """Name a DuckDB type as the API's documents do: integer, number, date, date-time, boolean, string."""
    if kind in ("BIGINT", "INTEGER"):
        return "integer"
    if kind.startswith("DECIMAL") or kind == "DOUBLE":
        return "number"
    if kind == "DATE":
        return "date"
    if kind.startswith("TIMESTAMP"):
        return "date-time"
    if kind == "BOOLEAN":
        return "boolean"
    return "string"


def where(query: Query) -> tuple[str, list]:
    """Return the WHERE clause (or "") and its parameters."""
    parts, params = [], []
    for f in query.filters:
        column = quote(f.column)
        if f.operator == "contains":
            parts.append(f"contains(CAST({column} AS VARCHAR), ?)")
            params.append(f.value)
        elif f.operator == "in":
            parts.append(f"{column} IN ({', '.join('?' * len(f.value))})")
            params += list(f.value)
        else:
            parts.append(f"{column} {OPERATORS[f.operator]} ?")
            params.append(f.value)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def run_query(cursor, relation: tuple[str, list], query: Query) -> tuple[int, list[tuple]]:
    """Return (rows matched, the page's rows as tuples in the order of ``query.fields``); ``relation`` is the
    SQL to read the table from and its parameters (DataStore.relation)."""
    condition, params = where(query)
    source, source_params = relation
    total = cursor.execute(f"SELECT count(*) FROM {source}{condition}", [*source_params, *params]).fetchone()[0]
    if query.offset >= total:
        return total, []
    order = [f"{quote(c)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in query.sort] + [quote(ROW_COLUMN)]
    columns = ", ".join(quote(f) for f in query.fields)
    sql = f"SELECT {columns} FROM {source}{condition} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
    rows = cursor.execute(sql, [*source_params, *params, query.page_size, query.offset]).fetchall()
    return total, rows


def pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def json_value(value: Any) -> Any:
    """A cell as JSON carries it: numbers as numbers (a decimal a float cannot hold exactly as text), dates as
    ISO text."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def text_value(value: Any) -> str:
    """A cell as CSV writes it: as the table holds it (decimals exactly), empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)
