"""Read CSV from outside with bounded rows and field size, errors naming the line and the bound."""

from __future__ import annotations

import csv
import io
from typing import Any

from core.bounded import InputLimitError, InputRefusedError, bound


def csv_rows(text: str, dialect: Any, name: str, limits: Any) -> list[list[str]]:
    """Split CSV text into rows; refuse more than csv_max_rows rows or a field over csv_max_field_chars."""
    most, longest = limits.csv_max_rows, limits.csv_max_field_chars
    # csv's limit is process-wide; every reader sets the same value from the settings
    csv.field_size_limit(longest)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(rows) >= most:
                raise InputLimitError(f"more than {bound('csv_max_rows', most)} rows (line {reader.line_num})",
                                      name=name)
            if row and max(map(len, row)) > longest:
                raise _field_too_long(name, reader.line_num, longest)
            rows.append(row)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _field_too_long(name, reader.line_num, longest) from None
        raise InputRefusedError(f"malformed CSV at line {reader.line_num}: {exc}", name=name) from None
    return rows


def _field_too_long(name: str, line: int, longest: int) -> InputLimitError:
    return InputLimitError(f"line {line}: a field longer than {bound('csv_max_field_chars', longest)} characters",
                           name=name)
