"""Write the audit log out as JSON Lines or CSV (for Excel: UTF-8 with a byte-order mark), and read it back.

JSON Lines carries every entry exactly (an unfiltered export verifies offline: ``verify_entries``). CSV is for
reading in a spreadsheet: a cell that Excel would run as a formula (it starts with ``= + - @``, a tab or a
carriage return, after any apostrophes) is written with one more leading apostrophe, which ``read_csv`` takes
off again; the detail column is the detail's canonical JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from typing import IO, Iterable, Iterator

from access.audit import COLUMNS, Entry, canonical

FORMATS = ("jsonl", "csv")
BOM = "\ufeff"
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def utc_bound(value: str | None) -> str | None:
    """Read a time bound (ISO 8601 date or date-time; without an offset, UTC) as the log writes times."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or time: {value!r} (e.g. 2026-12-01 or 2026-12-01T08:00:00+08:00)") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_jsonl(entries: Iterable[Entry], out: IO[str]) -> int:
    """Write one JSON object per line; return how many entries were written."""
    n = 0
    for entry in entries:
        out.write(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


def read_jsonl(lines: Iterable[str]) -> Iterator[Entry]:
    for line in lines:
        if line.strip():
            yield Entry.from_json(json.loads(line))


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA.match(text) else text


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") and _FORMULA.match(text[1:]) else text


def write_csv(entries: Iterable[Entry], out: IO[str]) -> int:
    """Write a header and one row per entry, after a byte-order mark; return how many entries were written."""
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for entry in entries:
        row = entry.as_json()
        row["detail"] = canonical(entry.detail) if entry.detail is not None else None
        writer.writerow([_cell(row[c]) for c in COLUMNS])
        n += 1
    return n


def read_csv(text: str) -> Iterator[Entry]:
    """Read a CSV export back (an empty cell is no value: the log keeps an empty optional field as none)."""
    reader = csv.reader(io.StringIO(text.removeprefix(BOM), newline=""))
    header = next(reader)
    for row in reader:
        values = {name: (_uncell(cell) if cell != "" else None) for name, cell in zip(header, row)}
        values["seq"] = int(values["seq"])
        values["detail"] = json.loads(values["detail"]) if values["detail"] is not None else None
        yield Entry.from_json(values)


def export(entries: Iterable[Entry], out: IO[str], fmt: str = "jsonl") -> int:
    """Write entries in a format of FORMATS; return how many were written."""
    if fmt == "jsonl":
        return write_jsonl(entries, out)
    if fmt == "csv":
        return write_csv(entries, out)
    raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
