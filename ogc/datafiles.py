"""Read a dataset's data file for spatialization: CSV, XLSX, JSON records or GeoJSON, bounded in size.

``parse_data`` returns tabular rows (a list of column → value mappings) or a GeoJSON object, which is what
``ogc.spatialize.spatialize`` takes. ``http_fetch`` reads a URL with a time and size limit. Every failure is a
``DataFileError`` naming the file and what was wrong.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from core.errors import BadRequestError


class DataFileError(BadRequestError):
    """A data file could not be read for spatialization."""

    code = "data-file"


def decode_text(raw: bytes, name: str) -> str:
    """Decode UTF-8 (with or without BOM), else GB18030 (which covers GBK); refuse anything else."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{name}: neither UTF-8 nor GB18030 text (byte {exc.start})") from None


def parse_data(raw: bytes, media: str | None, name: str, *, max_rows: int = 200_000) -> Any:
    """Parse a data file by its media type (sniffing JSON when unsure); rows beyond max_rows are refused."""
    if not raw.strip():
        raise DataFileError(f"{name}: the file is empty")
    if media == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" or raw[:2] == b"PK":
        rows = _xlsx_rows(raw, name, max_rows)
    elif media in ("application/json", "application/geo+json") or raw.lstrip()[:1] in (b"{", b"["):
        return _json(raw, name, max_rows)
    else:
        rows = list(csv.DictReader(io.StringIO(decode_text(raw, name))))
    if len(rows) > max_rows:
        raise DataFileError(f"{name}: {len(rows)} rows, more than the {max_rows} spatialized per dataset")
    return rows


def _json(raw: bytes, name: str, max_rows: int) -> Any:
    try:
        doc = json.loads(decode_text(raw, name))
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{name}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
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


def _xlsx_rows(raw: bytes, name: str, max_rows: int) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise DataFileError(f"{name}: not a readable XLSX workbook ({type(exc).__name__})") from None
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    header = [str(h) if h is not None else f"列{i + 1}" for i, h in enumerate(next(lines, ()) or ())]
    rows = []
    for line in lines:
        if len(rows) > max_rows:
            break
        rows.append({h: ("" if v is None else v) for h, v in zip(header, line)})
    return rows


def http_fetch(url: str, *, timeout_s: float = 30.0, max_bytes: int = 100 * 1024 * 1024) -> bytes:
    """GET a data file with a time and size limit."""
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise DataFileError(f"{url}: the server answered {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise DataFileError(f"{url}: larger than {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise DataFileError(f"{url}: cannot be read ({type(exc).__name__})") from None
