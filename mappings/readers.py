"""Read record files (JSON, CSV, XLSX, ISO 19139 XML) into SourceRecords, with clear errors."""

from __future__ import annotations

import csv
import re
import unicodedata
from contextlib import contextmanager
from typing import Any

from config.settings import InputLimits
from core.bounded import InputRefusedError
from core import csvsafe, jsonsafe, xlsxsafe
from mappings.errors import InputTooLargeError, MappingInputError
from mappings.model import SourceRecord
from mappings.paths import resolve
from mappings.xmlread import xml_to_tree

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
FORMATS = ("json", "csv", "xlsx", "xml")
_DATA_CELL = re.compile(r"\d[\d\s./:年月日-]*|https?://\S+|[^\s@]+@\S+\.\S+|[\d.,+-]+")  # fullmatch, trimmed


def normalise_text(value: str) -> str:
    """Return a field name in NFKC form (full-width letters, digits and punctuation made half-width), trimmed.

    Only names are normalised (they are matched against mappings and synonyms); values are carried exactly
    and normalised only where they are compared (mappings/values.py).
    """
    return unicodedata.normalize("NFKC", value).strip()


def normalise_value(value: Any) -> Any:
    """Return a JSON-like value with its field names normalised and its strings trimmed, otherwise exact."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [normalise_value(v) for v in value]
    if isinstance(value, dict):
        return {normalise_text(str(k)): normalise_value(v) for k, v in value.items()}
    return value


def decode(data: bytes, filename: str) -> str:
    """Decode bytes as UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    error: UnicodeDecodeError | None = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = error or exc
            continue
        if "\x00" in text or "\ufffd" in text:
            raise MappingInputError(f"text decoded as {encoding} holds NUL or replacement characters",
                                    file=filename)
        return text
    assert error is not None
    raise MappingInputError(f"not UTF-8, GBK or GB18030 text (bad byte at offset {error.start})",
                            file=filename) from error


def detect_format(data: bytes, filename: str) -> str:
    """Return json, csv, xlsx or xml from the file name, else from the first bytes."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in FORMATS:
        return suffix
    if suffix == "txt":
        return "csv"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not suffix:
        if data.startswith(b"PK\x03\x04"):
            return "xlsx"
        if head in (b"{", b"["):
            return "json"
        if head == b"<":
            return "xml"
    raise MappingInputError(f"unknown format {('.' + suffix) if suffix else '(no suffix)'}; "
                            "use .json .csv .xlsx or .xml", file=filename, status=415)


def read_records(data: bytes, filename: str, source: str, *, mapping: Any = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, limits: InputLimits | None = None) -> list[SourceRecord]:
    """Read the records of a JSON, CSV, XLSX or XML file; raise MappingInputError on bad input.

    ``limits`` are the bounds of settings input_limits (defaults when None), checked before or while parsing.
    """
    limits = limits or InputLimits()
    if len(data) > max_bytes:
        raise InputTooLargeError(f"{len(data)} bytes exceed the limit of {max_bytes} bytes", file=filename)
    if not data.strip():
        raise MappingInputError("the file is empty", file=filename)
    kind = detect_format(data, filename)
    with _refusals(filename):
        if kind == "xlsx":
            rows = _xlsx_rows(data, filename, limits)
            return _records(source, filename, _table(rows, filename, mapping))
        if kind == "xml":
            tree = xml_to_tree(data, filename, limits)
        else:
            text = decode(data, filename)
            if kind == "csv":
                return _records(source, filename, _table(_csv_rows(text, filename, limits), filename, mapping))
            tree = _json(text, filename, limits)
    paths = list(getattr(mapping, "records", None) or [])
    return _records(source, filename, _find_records(normalise_value(tree), paths, filename))


@contextmanager
def _refusals(filename: str):
    """Turn a bounded reader's refusal into a MappingInputError naming the file (status kept)."""
    try:
        yield
    except MappingInputError:
        raise
    except InputRefusedError as exc:
        raise MappingInputError(exc.what, file=filename, status=exc.status) from None


def _records(source: str, filename: str, rows: list[dict]) -> list[SourceRecord]:
    """Wrap field dicts as SourceRecords numbered from 1."""
    return [SourceRecord(source=source, key=None, fields=row, origin=f"{filename}#{n}")
            for n, row in enumerate(rows, 1)]


def _json(text: str, filename: str, limits: InputLimits) -> Any:
    """Parse JSON text within the limits (depth, number size, no lone surrogate), naming line and column."""
    return jsonsafe.loads(text, filename, limits)


def _find_records(tree: Any, paths: list[str], filename: str) -> list[dict]:
    """Return the record dicts: at the first mapping path that finds any, else the largest list of dicts."""
    for path in paths:
        found = [v for v in resolve(tree, path) if isinstance(v, dict)]
        if found:
            return found
    if isinstance(tree, list):
        records = [v for v in tree if isinstance(v, dict)]
        if len(records) != len(tree):
            raise MappingInputError("a JSON list of records holds non-objects", file=filename)
        return records
    if not isinstance(tree, dict):
        raise MappingInputError(f"expected a record (a JSON object) or a list of records, found "
                                f"{type(tree).__name__ if tree is not None else 'null'}", file=filename)
    best = _largest_dict_list(tree, depth=3)
    if best is None:
        return [tree]
    if isinstance(tree, dict) and _names_a_title(tree) and not any(_names_a_title(r) for r in best):
        return [tree]  # one record carrying a list of its own (its data files), not a document of records
    return best


def _names_a_title(tree: dict) -> bool:
    """Tell whether a JSON object is itself a record: one of its keys is a title field with a text value."""
    from mappings.spec import bare_name, synonyms

    table = synonyms()
    return any(isinstance(value, str) and value.strip() and table.get(bare_name(str(key))) == "title"
               for key, value in tree.items())


def _largest_dict_list(tree: Any, depth: int) -> list[dict] | None:
    """Find the longest list of objects within a few levels of a dict."""
    if depth == 0 or not isinstance(tree, dict):
        return None
    best: list[dict] | None = None
    for value in tree.values():
        candidate = value if isinstance(value, list) and value and all(isinstance(v, dict) for v in value) \
            else _largest_dict_list(value, depth - 1)
        if candidate and (best is None or len(candidate) > len(best)):
            best = candidate
    return best


def _csv_rows(text: str, filename: str, limits: InputLimits) -> list[list[str]]:
    """Split CSV text into rows, sniffing the delimiter among , ; tab and |."""
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csvsafe.csv_rows(text, dialect, filename, limits) if any(c.strip() for c in row)]


def _xlsx_rows(data: bytes, filename: str, limits: InputLimits) -> list[list[str]]:
    """Read the first sheet of a workbook as rows of strings (checked and streamed: core.xlsxsafe)."""
    rows = [[_cell(c) for c in row] for row in xlsxsafe.read_rows(data, filename, limits)]
    return [r for r in rows if any(c for c in r)]


def _cell(value: Any) -> str:
    """Render a spreadsheet cell as text (dates as ISO)."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table(rows: list[list[str]], filename: str, mapping: Any) -> list[dict]:
    """Turn rows into field dicts, using the header row or the mapping's column names."""
    if not rows:
        return []
    rows = [[c.strip() for c in row] for row in rows]
    columns = [normalise_text(c) for c in (getattr(mapping, "columns", None) or [])]
    if _is_header(rows[0], columns, mapping):
        header, body = [normalise_text(c) for c in rows[0]], rows[1:]
    elif columns:
        header, body = columns, rows
    else:
        raise MappingInputError("the first row looks like data, not a header row, and the mapping gives "
                                "no column names (columns:)", file=filename, record="1")
    if any(not h for h in header) or len(set(header)) != len(header):
        raise MappingInputError("the header row has empty or repeated column names", file=filename)
    out = []
    for n, row in enumerate(body, 1):
        if len(row) > len(header):
            raise MappingInputError(f"{len(row)} cells but {len(header)} columns", file=filename,
                                    record=str(n))
        out.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(header)})
    return out


def _is_header(row: list[str], columns: list[str], mapping: Any) -> bool:
    """Tell whether a first row names columns rather than holding data."""
    from mappings.spec import bare_name, known_field_names

    names = known_field_names(mapping) | {bare_name(c) for c in columns}
    if any(bare_name(c) in names for c in row):
        return True
    if columns:
        return False
    return all(c and not _DATA_CELL.fullmatch(c.strip()) for c in row) and len(set(row)) == len(row)

