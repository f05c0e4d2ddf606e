"""Read a dataset's data file for spatialization: CSV, XLSX, JSON records or GeoJSON, bounded in size.

``parse_data`` returns tabular rows (a list of column → value mappings) or a GeoJSON object, which is what
``ogc.spatialize.spatialize`` takes. ``http_fetch`` reads a URL with a time and size limit. Every failure is a
``DataFileError`` naming the file and what was wrong.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core import csvsafe, jsonsafe, xlsxsafe
from core.bounded import InputRefusedError
from core.errors import BadRequestError


class DataFileError(BadRequestError):
    """A data file could not be read for spatialization."""

    code = "data-file"


class Rows(list):
    """Tabular rows (column → value mappings), with notes on how the file was read (header, encoding)."""

    def __init__(self, rows=(), notes: tuple[str, ...] = ()) -> None:
        super().__init__(rows)
        self.notes = tuple(notes)


_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or bool(_NUMBER.match(str(value or "")))


def first_row_is_data(lines: list[list[Any]]) -> bool:
    """Tell whether a table's first row is data, not a header: it holds a number where the next row does too.

    A header names its columns; a first row with a number (a coordinate, an id) in a column that holds
    numbers below it is a row of data ("汉口北,114.329481,30.711953,1号线,1").
    """
    if not lines:
        return False
    first = lines[0]
    below = lines[1] if len(lines) > 1 else None
    for index, value in enumerate(first):
        if _is_number(value) and (below is None or (index < len(below) and _is_number(below[index]))):
            return True
    return False


def table_rows(lines: list[list[Any]], name: str, encoding: str | None = None) -> Rows:
    """Turn a table's lines into rows keyed by its header, or by 列1, 列2 … when the first row is data."""
    notes = [f"read as {encoding}"] if encoding else []
    if first_row_is_data(lines):
        width = max(len(line) for line in lines)
        header = [f"列{i + 1}" for i in range(width)]
        body = lines
        notes.append(f"no header row: the first row holds numbers and is read as data; columns named "
                     f"列1…列{width}")
    else:
        first = lines[0] if lines else ()
        header = [str(h).strip() if h not in (None, "") else f"列{i + 1}" for i, h in enumerate(first)]
        body = lines[1:]
        notes.append("first row read as the header")
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:  # a second column of the same name must not overwrite the first
            seen: dict[str, int] = {}
            for i, h in enumerate(header):
                seen[h] = seen.get(h, 0) + 1
                header[i] = h if seen[h] == 1 else f"{h}_{seen[h]}"
            notes.append(f"columns named twice ({', '.join(twice)}): the later ones are read as name_2 …")
    wider = [n for n, line in enumerate(body, start=1) if len(line) > len(header)]
    if wider:  # never drop a value: extra fields get columns of their own
        extra = [f"列{i + 1}" for i in range(len(header), max(len(line) for line in body))]
        header = header + extra
        notes.append(f"{len(wider)} rows have more fields than the header (first: row {wider[0]}); "
                     f"the extra fields are kept as {', '.join(extra)}")
    rows = [{h: ("" if v is None else v) for h, v in zip(header, line)} for line in body
            if any(v not in (None, "") for v in line)]
    return Rows(rows, tuple(notes))


def decode_text(raw: bytes, name: str) -> str:
    """Decode UTF-8 (with or without BOM), else GB18030 (which covers GBK); refuse anything else."""
    return _decode(raw, name)[0]


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "UTF-8 with BOM" if raw.startswith(b"\xef\xbb\xbf") else "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "GB18030 (GBK)"
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{name}: neither UTF-8 nor GB18030 text (byte {exc.start})") from None


def parse_data(raw: bytes, media: str | None, name: str, *, max_rows: int = 200_000, limits=None) -> Any:
    """Parse a data file by its media type (sniffing JSON when unsure); rows beyond max_rows are refused.

    ``limits`` are settings input_limits (defaults when None): XLSX, JSON and CSV are read through the
    bounded readers of core (core.xlsxsafe, core.jsonsafe, core.csvsafe).
    """
    from config.settings import InputLimits

    limits = limits or InputLimits()
    if not raw.strip():
        raise DataFileError(f"{name}: the file is empty")
    try:
        if media == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" or raw[:2] == b"PK":
            rows = _xlsx_rows(raw, name, max_rows, limits)
        elif media in ("application/json", "application/geo+json") or raw.lstrip()[:1] in (b"{", b"["):
            return _json(raw, name, max_rows, limits)
        else:
            text, encoding = _decode(raw, name)
            lines = csvsafe.csv_rows(text, _dialect(text), name, limits)
            rows = table_rows([line for line in lines if line], name, encoding)
    except InputRefusedError as exc:
        raise DataFileError(exc.message, status=exc.status) from None
    if len(rows) > max_rows:
        raise DataFileError(f"{name}: {len(rows)} rows, more than the {max_rows} spatialized per dataset")
    return rows


def _json(raw: bytes, name: str, max_rows: int, limits) -> Any:
    doc = jsonsafe.loads(decode_text(raw, name), name, limits)
    if isinstance(doc, dict) and "type" in doc:
        if len(doc.get("features") or ()) > max_rows:
            raise DataFileError(f"{name}: more than the {max_rows} features spatialized per dataset")
        return doc
    if isinstance(doc, dict):  # a page of records: {"records": [...]}, {"data": [...]} …
        doc = next((v for v in doc.values() if isinstance(v, list)), None)
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise DataFileError(f"{name}: JSON is neither GeoJSON nor a list of records")
    if len(doc) > max_rows:
        raise DataFileError(f"{name}: {len(doc)} records, more than the {max_rows} spatialized per dataset")
    return doc


def _xlsx_rows(raw: bytes, name: str, max_rows: int, limits) -> list[dict[str, Any]]:
    lines = []
    for line in xlsxsafe.read_rows(raw, name, limits):
        if len(lines) > max_rows + 1:
            break
        if any(v not in (None, "") for v in line):
            lines.append(line)
    return table_rows(lines, name)


def _dialect(text: str):
    """Return the CSV dialect: comma, else the tab or semicolon the first line uses."""
    first = text.split("\n", 1)[0]
    for delimiter in (",", "\t", ";"):
        if delimiter in first:
            return _Dialect(delimiter)
    return _Dialect(",")


class _Dialect(csv.excel):
    def __init__(self, delimiter: str) -> None:
        super().__init__()
        self.delimiter = delimiter


def http_fetch(url: str, *, timeout_s: float = 30.0, max_bytes: int = 100 * 1024 * 1024) -> bytes:
    """GET a data file with a time and size limit."""
    return http_fetch_if_changed(url, None, None, timeout_s=timeout_s, max_bytes=max_bytes).body


def http_fetch_if_changed(url: str, etag: str | None, last_modified: str | None, *, timeout_s: float = 30.0,
                          max_bytes: int = 100 * 1024 * 1024):
    """GET a data file, conditionally when validators are known: a ``Fetched`` whose body is None on a 304."""
    import httpx

    from ogc.datafile_state import Fetched

    headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True, headers=headers) as response:
            validators = response.headers.get("ETag"), response.headers.get("Last-Modified")
            if response.status_code == 304 and headers:
                return Fetched(None, *validators)
            if response.status_code != 200:
                raise DataFileError(f"{url}: the server answered {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise DataFileError(f"{url}: larger than {max_bytes} bytes")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), *validators)
    except httpx.HTTPError as exc:
        raise DataFileError(f"{url}: cannot be read ({type(exc).__name__})") from None


def file_fetch(url: str, root: str | Path | None, *, max_bytes: int = 100 * 1024 * 1024) -> bytes:
    """Read a file: URL, only inside the directory ``root`` (settings spatial.data_dir); refuse any other."""
    if root is None:
        raise DataFileError(f"{url}: file: URLs are not read (set spatial.data_dir to allow a directory)")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DataFileError(f"{url}: a file: URL must name a local path")
    path = Path(unquote(parts.path)).resolve()
    base = Path(root).resolve()
    if not path.is_relative_to(base):
        raise DataFileError(f"{url}: outside spatial.data_dir; not read")
    try:
        if path.stat().st_size > max_bytes:
            raise DataFileError(f"{url}: larger than {max_bytes} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{url}: cannot be read ({exc.strerror})") from None
