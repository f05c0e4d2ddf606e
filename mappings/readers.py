"""Read record files (JSON, CSV, XLSX, ISO 19139 XML) into SourceRecords, with clear errors."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from typing import Any

from mappings.errors import InputTooLargeError, MappingInputError
from mappings.model import SourceRecord
from mappings.paths import resolve
from mappings.xmlread import xml_to_tree

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
FORMATS = ("json", "csv", "xlsx", "xml")
_DATA_CELL = re.compile(r"^\s*(\d[\d\s./:年月日-]*|https?://\S+|\S+@\S+\.\S+|[\d.,+-]+)\s*$")


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
                 max_bytes: int = DEFAULT_MAX_BYTES) -> list[SourceRecord]:
    """Read the records of a JSON, CSV, XLSX or XML file; raise MappingInputError on bad input."""
    if len(data) > max_bytes:
        raise InputTooLargeError(f"{len(data)} bytes exceed the limit of {max_bytes} bytes", file=filename)
    if not data.strip():
        raise MappingInputError("the file is empty", file=filename)
    kind = detect_format(data, filename)
    if kind == "xlsx":
        rows = _xlsx_rows(data, filename)
        return _records(source, filename, _table(rows, filename, mapping))
    text = decode(data, filename)
    if kind == "csv":
        return _records(source, filename, _table(_csv_rows(text, filename), filename, mapping))
    tree = _json(text, filename) if kind == "json" else xml_to_tree(text, filename)
    paths = list(getattr(mapping, "records", None) or [])
    return _records(source, filename, _find_records(normalise_value(tree), paths, filename))


def _records(source: str, filename: str, rows: list[dict]) -> list[SourceRecord]:
    """Wrap field dicts as SourceRecords numbered from 1."""
    return [SourceRecord(source=source, key=None, fields=row, origin=f"{filename}#{n}")
            for n, row in enumerate(rows, 1)]


def _json(text: str, filename: str) -> Any:
    """Parse JSON text, naming line and column on error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingInputError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                file=filename) from exc
    except RecursionError as exc:
        raise MappingInputError("JSON nested too deeply", file=filename) from exc


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


def _csv_rows(text: str, filename: str) -> list[list[str]]:
    """Split CSV text into rows, sniffing the delimiter among , ; tab and |."""
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        return [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise MappingInputError(f"malformed CSV: {exc}", file=filename) from exc


def _xlsx_rows(data: bytes, filename: str) -> list[list[str]]:
    """Read the first sheet of a workbook as rows of strings."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise MappingInputError(f"not a readable XLSX workbook: {exc}", file=filename) from exc
    try:
        sheet = book.worksheets[0]
        rows = [[_cell(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
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
    return all(c and not _DATA_CELL.match(c) for c in row) and len(set(row)) == len(row)

