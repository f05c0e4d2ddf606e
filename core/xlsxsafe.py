"""Check an XLSX workbook from outside before any spreadsheet library opens it.

A 205 KB workbook can hold a 200 MB cell, 5 million shared strings, or parts that inflate a thousandfold;
openpyxl reads the shared-string table whole even in read-only mode and answers a cell pointing past it with
an IndexError. ``check_xlsx`` bounds all of that from the zip directory and one streaming pass (expat, in
chunks, no DTD) over the XML parts, so nothing is held in memory beyond one chunk:

- parts, total uncompressed size and the ratio of every part over 1 MiB, from the zip directory (zipfile
  never inflates a part past the size its directory declares);
- sheets, rows, cells, shared strings, characters of one cell or shared string;
- every shared-string reference of a cell points into the table.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from core.bounded import InputLimitError, InputRefusedError, bound

RATIO_FLOOR = 1024 * 1024  # parts smaller than this are not held to the compression ratio
CHUNK = 256 * 1024


def check_xlsx(data: bytes, name: str, limits: Any) -> dict[str, int]:
    """Refuse a workbook past any bound of input_limits (xlsx_*) or holding a DTD in any part; return its counts
    (cells, rows, strings)."""
    if data.count(b"PK\x01\x02") > limits.xlsx_max_parts:  # central directory entries, counted before zipfile
        raise InputLimitError(f"a workbook of more than {bound('xlsx_max_parts', limits.xlsx_max_parts)} zip parts",
                              name=name)
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InputRefusedError(f"not a readable XLSX workbook: {exc}", name=name) from None
    with book:
        infos = book.infolist()
        _check_directory(infos, name, limits)
        sheets = [i for i in infos if i.filename.lower().startswith("xl/worksheets/") and i.filename.endswith(".xml")]
        if len(sheets) > limits.xlsx_max_sheets:
            raise InputLimitError(f"{len(sheets)} sheets, more than {bound('xlsx_max_sheets', limits.xlsx_max_sheets)}",
                                  name=name)
        scan = _Scan(name, limits)
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                scan.part(book, info)
    return scan.counts


def read_rows(data: bytes, name: str, limits: Any, *, first_sheet: bool = True):
    """Yield the rows (lists of values) of a workbook's first sheet, after check_xlsx, with openpyxl streaming.

    Cells are held to xlsx_max_cell_chars exactly; a cell pointing past the shared-string table, or any other
    part openpyxl cannot read, is an InputRefusedError naming the row.
    """
    from openpyxl import load_workbook

    counts = check_xlsx(data, name, limits)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise InputRefusedError(f"not a readable XLSX workbook: {type(exc).__name__}: {str(exc)[:200]}",
                                name=name) from None
    row_number = 0
    try:
        if not book.worksheets:
            return
        rows = book.worksheets[0].iter_rows(values_only=True)
        while True:
            row_number += 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except IndexError:
                raise InputRefusedError(f"row {row_number} has a cell pointing past the end of the shared-string "
                                        f"table ({counts['strings']} strings)", name=name) from None
            except Exception as exc:  # a malformed cell (a bad date, a bad number) in openpyxl's reader
                raise InputRefusedError(f"row {row_number} cannot be read: {type(exc).__name__}: {str(exc)[:200]}",
                                        name=name) from None
            for value in row:
                if isinstance(value, str) and len(value) > limits.xlsx_max_cell_chars:
                    raise InputLimitError(f"row {row_number} has a cell of {len(value)} characters, more than "
                                          f"{bound('xlsx_max_cell_chars', limits.xlsx_max_cell_chars)}", name=name)
            yield list(row)
    finally:
        book.close()


def _check_directory(infos: list[zipfile.ZipInfo], name: str, limits: Any) -> None:
    total = sum(i.file_size for i in infos)
    if total > limits.xlsx_max_uncompressed_bytes:
        raise InputLimitError(f"{total} bytes once unpacked, more than "
                              f"{bound('xlsx_max_uncompressed_bytes', limits.xlsx_max_uncompressed_bytes)}", name=name)
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > limits.xlsx_max_ratio * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise InputLimitError(f"part {info.filename} unpacks {ratio} times its packed size "
                                  f"({info.compress_size} to {info.file_size} bytes), more than "
                                  f"{bound('xlsx_max_ratio', limits.xlsx_max_ratio)}", name=name)


class _Scan:
    """One streaming pass over each XML part at C speed (bytes methods, no per-element callback).

    Cells and shared strings are counted by their tags (``<c ``, ``<si>``, prefixed or not); the longest run
    between two ``<`` bounds the size of any one cell text or shared string in bytes (4 per character at most),
    the exact character count being checked again as rows are read.
    """

    def __init__(self, name: str, limits: Any) -> None:
        self.name, self.limits = name, limits
        self.counts = {"cells": 0, "rows": 0, "strings": 0}
        self.longest = 4 * limits.xlsx_max_cell_chars + 256

    def part(self, book: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        lower = info.filename.lower()
        kind = "strings" if lower.endswith("sharedstrings.xml") else \
            "sheet" if lower.startswith("xl/worksheets/") else "other"
        carry = b""
        try:
            with book.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    buffer = carry + chunk
                    cut = buffer.rfind(b"<")
                    if cut <= 0:
                        carry = buffer
                        self._check_run(len(carry), info)
                        continue
                    self._scan(buffer[:cut], kind, info)
                    carry = buffer[cut:]
                self._scan(carry, kind, info)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise InputRefusedError(f"part {info.filename} cannot be unpacked: {exc}", name=self.name) from None

    def _scan(self, piece: bytes, kind: str, info: zipfile.ZipInfo) -> None:
        if b"<!DOCTYPE" in piece or b"<!ENTITY" in piece:
            raise InputRefusedError(f"part {info.filename} has a document type declaration; DTDs and entities "
                                    "are never read in a workbook", name=self.name)
        self._check_run(max(map(len, piece.split(b"<"))), info)
        if kind == "sheet":
            self._add("cells", sum(piece.count(t) for t in (b"<c ", b"<c>", b":c ", b":c>")), "xlsx_max_cells")
            self._add("rows", piece.count(b"<row") + piece.count(b":row "), "xlsx_max_rows")
        elif kind == "strings":
            self._add("strings", sum(piece.count(t) for t in (b"<si>", b"<si ", b":si>", b":si ")),
                      "xlsx_max_shared_strings", "shared strings")

    def _add(self, what: str, count: int, setting: str, label: str | None = None) -> None:
        self.counts[what] += count
        most = getattr(self.limits, setting)
        if self.counts[what] > most:
            raise InputLimitError(f"more than {bound(setting, most)} {label or what}", name=self.name)

    def _check_run(self, length: int, info: zipfile.ZipInfo) -> None:
        if length > self.longest:
            raise InputLimitError(f"part {info.filename} holds a cell text or string of more than {length} bytes, "
                                  f"past {bound('xlsx_max_cell_chars', self.limits.xlsx_max_cell_chars)} "
                                  "characters", name=self.name)
