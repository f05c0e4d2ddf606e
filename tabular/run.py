"""Check one data file from end to end: read it, load it into DuckDB, run the file checks (a sandbox task).

``check_file`` takes the file's bytes and returns plain data (``FileChecked``), so that it can run in a
sandbox worker (core.sandbox) under the memory and time limits of the settings ``sandbox``. A file that is
not a table (a PDF, an image …) is left to the format check (``sniffed`` says what it is); a table that
cannot be read (no accepted encoding, a broken workbook, past a bound) is an ``unreadable-file`` finding
whose message is the reader's (it names the file, and the byte or line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.bounded import InputRefusedError
from tabular.checks import ERROR, CheckRun, FILE_CHECKS, Subject, check_table
from tabular.read import load, read_table, scratch, sniff

TABULAR = ("csv", "json", "xlsx")


@dataclass(frozen=True)
class FileChecked:
    """What checking one file found: the runs of the file checks, what its bytes are, how it was read."""

    runs: tuple[CheckRun, ...]
    sniffed: str
    encoding: str | None = None
    rows: int = 0
    columns: int = 0
    notes: tuple[str, ...] = ()


def check_file(raw: bytes, name: str, dataset_id: str, distribution: str | None, limits: Any, *,
               media: str | None = None, encoding: str | None = None, max_empty_share: float = 0.2,
               max_rows: int | None = None, memory_mb: int = 256) -> FileChecked:
    """Read a data file and run the file checks on it (see the module's docstring)."""
    kind = sniff(raw)
    subject = Subject(dataset_id, distribution, name)
    if kind not in TABULAR:
        return FileChecked((), kind)
    try:
        table = read_table(raw, name, limits, media=media, encoding=encoding, max_rows=max_rows)
    except InputRefusedError as exc:
        finding = subject.finding("unreadable-file", ERROR, {"count": 1, "error": exc.what, "code": exc.code},
                                  f"数据文件无法读取：{exc.what}", f"the data file cannot be read: {exc.what}")
        return FileChecked((subject.run("unreadable-file", 1, finding),), kind)
    con, scratch_table = scratch(memory_mb)
    try:
        load(table, con, scratch_table)
        runs = check_table(con, table, subject, max_empty_share=max_empty_share, name=scratch_table)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {scratch_table}")
        con.close()
    runs.append(subject.run("unreadable-file", 0))
    rows, columns = table.shape()
    return FileChecked(tuple(runs), kind, table.encoding, rows, columns, tuple(table.notes))


SCOPE = FILE_CHECKS + ("unreadable-file",)  # the checks one file's reading replaces
