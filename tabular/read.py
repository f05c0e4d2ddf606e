"""Read a data file (CSV, XLSX, JSON array of objects, GeoJSON) into a ``Table``, and load it into DuckDB.

Every value is carried as the source wrote it: CSV cells are text, typed per column only where the type keeps
each value exactly (``tabular.cells``: 420102 is a number, 0101 stays text, so a column of codes stays text);
XLSX and JSON keep their own types (a number stored as text stays text). An empty cell is NULL in DuckDB.
Nothing is dropped without a note: columns without a header are named 列N, a second column of the same name
``name_2``, extra fields of a long row get columns of their own, and ``Table.notes`` says so. Empty rows are
kept (the checks count them), each row keeps its number in the source (``_row``: the line of a CSV, the row
of a sheet, the index of a JSON record from 1).

The bounded readers of ``core`` do the parsing (``csvsafe``, ``xlsxsafe``, ``jsonsafe``), under the settings
``input_limits`` the caller passes; run ``read_table`` in the sandbox (core.sandbox) for untrusted files.
"""

from __future__ import annotations

import atexit
import csv
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable, Sequence

from core import csvsafe, jsonsafe, xlsxsafe
from core.bounded import InputLimitError, InputRefusedError
from tabular.cells import Profile, family, kind_of
from tabular.decode import decode_text

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROW_COLUMN = "_row"  # the source row number of each row, first column of every loaded table
CHUNK = 50_000  # rows inserted into DuckDB at once


class NotTabularError(InputRefusedError):
    """A file that is no table we read (a PDF, a document, an image …): named by what its bytes are."""

    code = "not-tabular"

    def __init__(self, what: str, *, name: str, kind: str) -> None:
        super().__init__(what, name=name, status=422)
        self.kind = kind


@dataclass
class Column:
    """One column: its name as the table shows it, its DuckDB type and what its cells hold."""

    name: str
    profile: Profile = field(default_factory=Profile)

    @property
    def type(self) -> str:
        return "VARCHAR" if self.profile.kinds.get("geometry") else self.profile.sql_type()


@dataclass
class Table:
    """A data file's rows (cells as text, None for a missing field) with their source row numbers."""

    name: str
    format: str  # csv, xlsx, json, geojson
    encoding: str | None
    columns: list[Column]
    cells: list[list[str | None]]
    rows: list[int]
    notes: list[str] = field(default_factory=list)

    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.columns)


# -- formats ------------------------------------------------------------------------------------------------
MAGIC = (  # (leading bytes, kind) of files that are not tables
    (b"%PDF", "PDF"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 (DOC/XLS/PPT)"), (b"{\\rtf", "RTF"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"), (b"II*\x00", "TIFF image"), (b"MM\x00*", "TIFF image"), (b"BM", "BMP image"),
    (b"Rar!", "RAR archive"), (b"7z\xbc\xaf\x27\x1c", "7z archive"), (b"\x1f\x8b", "gzip archive"),
)


def sniff(raw: bytes) -> str:
    """Name what a file's bytes are: csv, json, xlsx, docx, pptx, zip, or a kind from MAGIC (PDF, PNG image …)."""
    head = raw[:8]
    if head[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP image"
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"PK\x03\x04"):
        names = raw[:4096] + raw[-65536:]
        if b"xl/" in names:
            return "xlsx"
        if b"word/" in names:
            return "DOCX"
        if b"ppt/" in names:
            return "PPTX"
        return "ZIP archive"
    text = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if text.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "csv"


def read_table(raw: bytes, name: str, limits: Any, *, media: str | None = None, encoding: str | None = None,
               max_rows: int | None = None) -> Table:
    """Read a data file into a Table; refuse a file that is not tabular, past a bound, or in no accepted encoding.

    ``limits`` are settings input_limits; ``encoding`` a declared one (else UTF-8, GBK, GB18030 are tried, and
    the one read is in ``Table.encoding``); ``max_rows`` bounds the rows kept (past it: InputLimitError).
    """
    kind = sniff(raw)
    if kind == "xlsx" or (media == XLSX_MEDIA and kind == "ZIP archive"):
        table = _from_xlsx(raw, name, limits)
    elif kind == "json":
        text, used = decode_text(raw, name, encoding)
        table = _from_json(jsonsafe.loads(text, name, limits), name, used)
    elif kind == "csv":
        if not raw.strip():
            raise InputRefusedError("the file is empty", name=name, status=422)
        text, used = decode_text(raw, name, encoding)
        lines = csvsafe.csv_rows(text, _dialect(text), name, limits)
        table = _from_lines(lines, name, "csv", used, line_numbers=_csv_line_numbers(text, len(lines)))
    else:
        raise NotTabularError(f"a {kind} file, not a table (CSV, XLSX, JSON or GeoJSON)", name=name, kind=kind)
    if max_rows is not None and len(table.cells) > max_rows:
        raise InputLimitError(f"{len(table.cells)} rows, more than the {max_rows} read", name=name)
    spaces = sum(c.profile.spaces for c in table.columns)
    if spaces:
        table.notes.append(f"{spaces} cells hold only spaces: they are empty (NULL) in the loaded table")
    return table


def _dialect(text: str):
    """Comma-separated, unless the first line has no comma and a tab or semicolon."""
    first = text.split("\n", 1)[0]
    delimiter = "," if "," in first else "\t" if "\t" in first else ";" if ";" in first else ","
    return type("Dialect", (csv.excel,), {"delimiter": delimiter})


def _csv_line_numbers(text: str, count: int) -> list[int]:
    """Number the records of a CSV by the line each starts on (a quoted field may span lines)."""
    if count == text.count("\n") + (0 if text.endswith("\n") else 1):  # one record per line: no need to parse
        return list(range(1, count + 1))
    reader = csv.reader(text.splitlines(keepends=True), _dialect(text))
    numbers, start = [], 1
    for _ in reader:
        numbers.append(start)
        start = reader.line_num + 1
    return numbers if len(numbers) == count else list(range(1, count + 1))


def _from_lines(lines: list[list[Any]], name: str, fmt: str, encoding: str | None, *,
                line_numbers: Sequence[int], kinds: list[list[str]] | None = None) -> Table:
    """Make a table from lines whose first is the header (unless it holds numbers where the next does)."""
    notes = [f"read as {encoding}"] if encoding else []
    if not lines:
        return Table(name, fmt, encoding, [], [], [], notes)
    width = max(len(line) for line in lines)
    first_kinds = kinds[0] if kinds else [kind_of(str(v or "")) for v in lines[0]]
    second_kinds = (kinds[1] if kinds else [kind_of(str(v or "")) for v in lines[1]]) if len(lines) > 1 else []
    # a number over a number of the same kind (114.32 over 114.33) is data; 2021 over 1.5 is a header
    header_is_data = any(k in ("integer", "decimal") and (not second_kinds or (
        i < len(second_kinds) and second_kinds[i] == k)) for i, k in enumerate(first_kinds))
    if header_is_data:
        header: list[Any] = [None] * width
        body, numbers, body_kinds = lines, list(line_numbers), kinds
        notes.append(f"no header row: the first row holds numbers and is read as data; columns named 列1…列{width}")
    else:
        header = list(lines[0]) + [None] * (width - len(lines[0]))
        body, numbers, body_kinds = lines[1:], list(line_numbers[1:]), kinds[1:] if kinds else None
        if len(lines[0]) < width:
            notes.append(f"rows have up to {width} fields, the header {len(lines[0])}: the extra fields are "
                         f"kept as columns 列{len(lines[0]) + 1}…列{width}")
    columns = [Column(n) for n in _names(header, notes)]
    cells = [[None if v is None else str(v) for v in line] + [None] * (width - len(line)) for line in body]
    if body_kinds is None:  # text cells (CSV): each distinct value of a column is classified once
        for position, column in enumerate(columns):
            _profile_text(column.profile, [row[position] for row in cells], numbers)
        return Table(name, fmt, encoding, columns, cells, numbers, notes)
    for index, row in enumerate(cells):
        line_kinds = body_kinds[index]
        for position, value in enumerate(row):
            kind = line_kinds[position] if position < len(line_kinds) else "empty"
            columns[position].profile.add(value or "", kind, numbers[index])
    return Table(name, fmt, encoding, columns, cells, numbers, notes)


def _profile_text(profile: Profile, values: list[str | None], numbers: list[int]) -> None:
    """Count the kinds of a column's cells by its distinct values (in the order they first appear)."""
    numeric = []
    for value, count in Counter(values).items():
        text = value or ""
        kind = kind_of(text)
        if kind == "integer" or kind == "decimal":
            numeric.append(text)
        row = numbers[values.index(value)] if kind not in profile.first_row else None
        profile.add(text, kind, row, count, numbers=False)
    if numeric:
        profile.add_numbers(numeric)


def _names(header: list[Any], notes: list[str]) -> list[str]:
    """Column names as the header writes them; 列N for a missing one, name_2 … for a repeated one."""
    names, seen, blank, twice = [], set(), [], []
    for index, value in enumerate(header):
        label = "" if value is None else str(value)
        if not label.strip():
            label = f"列{index + 1}"
            blank.append(label)
        base, count = label, 1
        while label.casefold() in seen or label == ROW_COLUMN:
            count += 1
            label = f"{base}_{count}"
        if count > 1:
            twice.append(f"{base} → {label}")
        seen.add(label.casefold())
        names.append(label)
    if blank and len(blank) < len(header):
        notes.append(f"{len(blank)} columns without a header are named {', '.join(blank[:5])}"
                     f"{' …' if len(blank) > 5 else ''}")
    if twice:
        notes.append(f"columns named twice (DuckDB names ignore case) are read as: {', '.join(twice)}")
    return names


# -- XLSX and JSON keep their own types ---------------------------------------------------------------------
def typed_cell(value: Any) -> tuple[str | None, str]:
    """Return (text, kind) of a typed value (XLSX, JSON): numbers stay numbers, text stays text."""
    if value is None:
        return None, "empty"
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int):
        return str(value), "integer" if -10**18 < value < 10**18 else "text"
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text, "decimal" if "." in text else "integer" if kind_of(text) == "integer" else "text"
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat(), "date:YYYY-MM-DD"
        return value.isoformat(sep=" "), "datetime:YYYY-MM-DD hh:mm:ss" if not value.microsecond \
            and value.tzinfo is None else "datetime:other"
    if isinstance(value, date):
        return value.isoformat(), "date:YYYY-MM-DD"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False), "text"
    text = str(value)
    kind = kind_of(text)
    return text, "text" if family(kind) == "number" else kind  # a number written as text stays text


def _from_xlsx(raw: bytes, name: str, limits: Any) -> Table:
    lines, kinds = [], []
    for line in xlsxsafe.read_rows(raw, name, limits):
        typed = [typed_cell(v) for v in line]
        lines.append([t for t, _ in typed])
        kinds.append([k for _, k in typed])
    trailing = 0
    while lines and all(v is None for v in lines[-1]):  # rows a sheet's formatting reaches, never written
        lines.pop(), kinds.pop()
        trailing += 1
    written = max((i + 1 for line in lines for i, v in enumerate(line) if v is not None), default=0)
    unwritten = max((len(line) for line in lines), default=0) - written
    lines, kinds = [line[:written] for line in lines], [k[:written] for k in kinds]
    table = _from_lines(lines, name, "xlsx", None, line_numbers=range(1, len(lines) + 1), kinds=kinds)
    if trailing:
        table.notes.append(f"{trailing} empty rows after the last written row of the sheet are not read")
    if unwritten > 0:
        table.notes.append(f"{unwritten} empty columns after the last written column of the sheet are not read")
    return table


def _from_json(doc: Any, name: str, encoding: str) -> Table:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise InputRefusedError("GeoJSON whose features are not a list of objects", name=name, status=422)
        records = [dict(f.get("properties") or {}, **{"\0geometry": f.get("geometry")}) for f in features]
        table = _from_records(records, name, "geojson", encoding)
        return table
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise InputRefusedError("JSON that is neither GeoJSON nor an array of objects", name=name, status=422)
    return _from_records(doc, name, "json", encoding)


def _from_records(records: list[dict], name: str, fmt: str, encoding: str) -> Table:
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    header = ["geometry" if k == "\0geometry" else k for k in keys]
    notes = [f"read as {encoding}"]
    columns = [Column(n) for n in _names(header, notes)]
    cells = []
    for number, record in enumerate(records, start=1):
        row = []
        for column, key in zip(columns, keys):
            if key == "\0geometry":
                value = record.get(key)
                text, kind = (None, "empty") if value is None else (json.dumps(value, ensure_ascii=False), "geometry")
            else:
                text, kind = typed_cell(record.get(key))
            column.profile.add(text or "", kind, number)
            row.append(text)
        cells.append(row)
    return Table(name, fmt, encoding, columns, cells, list(range(1, len(records) + 1)), notes)


# -- DuckDB -------------------------------------------------------------------------------------------------
def quote(identifier: str) -> str:
    """Quote a DuckDB identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def connect(path: str | None = None, *, memory_mb: int = 512, threads: int = 1):
    """Open a DuckDB database (in memory by default) bounded in memory and threads."""
    import duckdb

    con = duckdb.connect(path or ":memory:")
    con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
    con.execute(f"SET threads = {int(threads)}")
    return con


_scratch = None
_scratch_lock = threading.Lock()
_scratch_names = itertools.count(1)


def scratch(memory_mb: int = 512):
    """Return (a cursor on this process's in-memory DuckDB database, a table name of its own).

    Opening a DuckDB database costs ~70 ms; checks in a warm worker share one, each in its own table (drop it
    when done). The memory limit is the first caller's.
    """
    global _scratch
    with _scratch_lock:
        if _scratch is None:
            _scratch = connect(memory_mb=memory_mb)
            atexit.register(_close_scratch)
        return _scratch.cursor(), f"scratch_{next(_scratch_names)}"


def _close_scratch() -> None:
    """Close the shared database before the interpreter ends (DuckDB's bindings report what is left open)."""
    global _scratch
    with _scratch_lock:
        if _scratch is not None:
            _scratch.close()
            _scratch = None


def load(table: Table, con=None, name: str = "data"):
    """Create the DuckDB table ``name`` from a Table (``_row`` first, then its typed columns); return con."""
    con = con or connect()
    columns = [f"{quote(ROW_COLUMN)} BIGINT"] + [f"{quote(c.name)} {c.type}" for c in table.columns]
    con.execute(f"CREATE OR REPLACE TABLE {quote(name)} ({', '.join(columns)})")
    selects = ["unnest($1::BIGINT[])"] + [
        f"unnest(${i + 2}::VARCHAR[])" + ("" if c.type == "VARCHAR" else f"::{c.type}")
        for i, c in enumerate(table.columns)]
    insert = f"INSERT INTO {quote(name)} SELECT {', '.join(selects)}"
    for start in range(0, len(table.cells), CHUNK):
        part = table.cells[start:start + CHUNK]
        params: list[Iterable] = [table.rows[start:start + CHUNK]]
        params += [[_cell(row[i]) for row in part] for i in range(len(table.columns))]
        con.execute(insert, params)
    return con


def _cell(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value
