"""Data-quality checks on the data itself: each returns a ``CheckRun`` (its measured value and its findings).

On a data file loaded into DuckDB (``tabular.read``): empty rows, empty columns, the share of empty cells
(past a threshold), duplicate rows, mixed types in a column. On a dataset's distributions: formats that are
not machine-readable (PDF, DOC/DOCX, images, scans: by the declared format or media type and by the file's
magic bytes), broken links (the link monitor's results, passed in). On the catalogue's titles: a dataset split
into many (``split_series``: one department's titles differing only by a month, quarter, year or a district).

Each check looks only at its own defect: the share of empty cells leaves out the empty rows and columns
(counted by their own checks), duplicates leave out empty rows. A ``Finding`` says what was found in Chinese
and English with the counts, rows (source row numbers, the first ``MAX_LISTED``) and columns concerned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from tabular.cells import date_formats, family
from tabular.read import ROW_COLUMN, Table, quote

MAX_LISTED = 20  # rows, groups or columns listed in a finding's detail (the counts are always whole)
ERROR, WARNING, INFO = "error", "warning", "info"

# check name -> (metric local name in the wodp vocabulary, how a dataset's files combine: "sum" or "max")
CHECKS: dict[str, tuple[str, str]] = {
    "empty-rows": ("emptyRows", "sum"),
    "empty-columns": ("emptyColumns", "sum"),
    "empty-cells": ("emptyCellShare", "max"),
    "duplicate-rows": ("duplicateRows", "sum"),
    "mixed-types": ("mixedTypeColumns", "sum"),
    "unreadable-file": ("unreadableFiles", "sum"),
    "not-machine-readable": ("nonMachineReadableDistributions", "sum"),
    "broken-links": ("brokenLinks", "sum"),
    "split-series": ("splitSeriesSize", "max"),
}
FILE_CHECKS = ("empty-rows", "empty-columns", "empty-cells", "duplicate-rows", "mixed-types")


@dataclass(frozen=True)
class Finding:
    """One defect of a dataset (of one of its distributions, or of the dataset when None)."""

    dataset_id: str
    distribution: str | None
    check: str
    severity: str
    detail: dict
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class CheckRun:
    """One check run on one file or dataset: the measured value (dqv:value) and what it found."""

    check: str
    value: float
    findings: tuple[Finding, ...] = ()
    distribution: str | None = None


@dataclass(frozen=True)
class Subject:
    """What a file check is about: the dataset and the distribution the file came from."""

    dataset_id: str
    distribution: str | None = None
    label: str = ""  # the file's name or URL, in messages

    def finding(self, check: str, severity: str, detail: dict, zh: str, en: str) -> Finding:
        where_zh = f"（{self.label}）" if self.label else ""
        where_en = f" ({self.label})" if self.label else ""
        return Finding(self.dataset_id, self.distribution, check, severity, detail, zh + where_zh, en + where_en)

    def run(self, check: str, value: float, *findings: Finding) -> CheckRun:
        return CheckRun(check, value, tuple(findings), self.distribution)


def _rows(con, sql: str, params: Sequence = ()) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def _listed(values: Sequence) -> list:
    return list(values[:MAX_LISTED])


# -- checks of a loaded file --------------------------------------------------------------------------------
def check_table(con, table: Table, subject: Subject, *, max_empty_share: float, name: str = "data"
                ) -> list[CheckRun]:
    """Run every file check on a table loaded as ``name``; return one CheckRun per check."""
    data = [c.name for c in table.columns]
    empty_rows = _empty_rows(con, name, data)
    counts = _rows(con, f"SELECT {', '.join(f'count({quote(c)})' for c in data)} FROM {quote(name)}")[0] \
        if table.cells and data else ()
    empty_columns = [c for c, n in zip(data, counts) if n == 0]
    return [
        empty_rows_run(subject, empty_rows, len(table.cells)),
        empty_columns_run(subject, empty_columns, len(data)),
        empty_cells_run(con, name, subject, data, empty_columns, max_empty_share),
        duplicate_rows_run(con, name, subject, data),
        mixed_types_run(table, subject),
    ]


def _empty_rows(con, name: str, columns: list[str]) -> list[int]:
    if not columns:
        return []
    where = " AND ".join(f"{quote(c)} IS NULL" for c in columns)
    return [r[0] for r in _rows(con, f"SELECT {quote(ROW_COLUMN)} FROM {quote(name)} WHERE {where} ORDER BY 1")]


def empty_rows_run(subject: Subject, rows: list[int], total: int) -> CheckRun:
    if not rows:
        return subject.run("empty-rows", 0)
    detail = {"count": len(rows), "rows_total": total, "rows": _listed(rows)}
    return subject.run("empty-rows", len(rows), subject.finding(
        "empty-rows", WARNING, detail,
        f"{len(rows)} 行为空行（共 {total} 行），如第 {_join(rows)} 行",
        f"{len(rows)} of {total} rows are empty, e.g. row {_join(rows)}"))


def empty_columns_run(subject: Subject, columns: list[str], total: int) -> CheckRun:
    if not columns:
        return subject.run("empty-columns", 0)
    detail = {"count": len(columns), "columns_total": total, "columns": _listed(columns)}
    return subject.run("empty-columns", len(columns), subject.finding(
        "empty-columns", WARNING, detail,
        f"{len(columns)} 列没有任何值（共 {total} 列）：{_join(columns)}",
        f"{len(columns)} of {total} columns hold no value: {_join(columns)}"))


def empty_cells_run(con, name: str, subject: Subject, columns: list[str], empty_columns: list[str],
                    threshold: float) -> CheckRun:
    """Share of empty cells in the rows and columns that hold something (empty ones have their own checks)."""
    kept = [c for c in columns if c not in empty_columns]
    if not kept:
        return subject.run("empty-cells", 0)
    filled = " OR ".join(f"{quote(c)} IS NOT NULL" for c in kept)
    counts = _rows(con, f"SELECT count(*), {', '.join(f'count(*) - count({quote(c)})' for c in kept)} "
                        f"FROM {quote(name)} WHERE {filled}")[0]
    rows, per_column = counts[0], dict(zip(kept, counts[1:]))
    cells = rows * len(kept)
    empty = sum(per_column.values())
    share = round(empty / cells, 4) if cells else 0
    if share <= threshold:
        return subject.run("empty-cells", share)
    worst = {c: n for c, n in sorted(per_column.items(), key=lambda x: -x[1]) if n}
    detail = {"count": empty, "cells": cells, "share": share, "threshold": threshold,
              "columns": dict(list(worst.items())[:MAX_LISTED])}
    return subject.run("empty-cells", share, subject.finding(
        "empty-cells", WARNING, detail,
        f"空单元格占 {share:.1%}（{empty}/{cells}），超过阈值 {threshold:.0%}；最多的列：{_join(list(worst))}",
        f"{share:.1%} of the cells are empty ({empty} of {cells}), over the threshold of {threshold:.0%}; "
        f"most in: {_join(list(worst))}"))


def duplicate_rows_run(con, name: str, subject: Subject, columns: list[str]) -> CheckRun:
    """Rows equal in every column to an earlier row (empty rows left to their own check)."""
    if not columns:
        return subject.run("duplicate-rows", 0)
    listed = ", ".join(quote(c) for c in columns)
    filled = " OR ".join(f"{quote(c)} IS NOT NULL" for c in columns)
    groups = _rows(con, f"SELECT list({quote(ROW_COLUMN)} ORDER BY {quote(ROW_COLUMN)}) AS rows FROM "
                        f"{quote(name)} WHERE {filled} GROUP BY {listed} HAVING count(*) > 1 ORDER BY rows[1]")
    if not groups:
        return subject.run("duplicate-rows", 0)
    extra = sum(len(g[0]) - 1 for g in groups)
    detail = {"count": extra, "groups": len(groups), "rows": [list(g[0]) for g in groups[:MAX_LISTED]]}
    first = groups[0][0]
    return subject.run("duplicate-rows", extra, subject.finding(
        "duplicate-rows", WARNING, detail,
        f"{extra} 行与前面的行完全相同（{len(groups)} 组），如第 {_join(first)} 行",
        f"{extra} rows repeat an earlier row exactly ({len(groups)} groups), e.g. rows {_join(first)}"))


def mixed_types_run(table: Table, subject: Subject) -> CheckRun:
    """Columns holding values of several kinds: numbers and text, or dates in several formats."""
    mixed: dict[str, dict[str, int]] = {}
    rows: dict[str, dict[str, int]] = {}
    for column in table.columns:
        kinds = {k: n for k, n in column.profile.filled().items() if k != "geometry"}
        families = {"date" if family(k) == "datetime" else family(k) for k in kinds}
        if len(families) > 1 or len(date_formats(set(kinds))) > 1:
            mixed[column.name] = kinds
            rows[column.name] = {k: column.profile.first_row[k] for k in kinds}
    if not mixed:
        return subject.run("mixed-types", 0)
    detail = {"count": len(mixed), "columns": dict(list(mixed.items())[:MAX_LISTED]),
              "first_rows": dict(list(rows.items())[:MAX_LISTED])}
    said = "; ".join(f"{c}: {', '.join(f'{k} {n}' for k, n in kinds.items())}" for c, kinds in mixed.items())
    return subject.run("mixed-types", len(mixed), subject.finding(
        "mixed-types", WARNING, detail,
        f"{len(mixed)} 列混有不同类型的值（数字与文本、多种日期格式）：{said}",
        f"{len(mixed)} columns mix kinds of values (numbers and text, several date formats): {said}"))


# -- checks of a dataset's distributions --------------------------------------------------------------------
# declared formats (dct:format local names of the EU file-type table, or plain names) and media types
NOT_MACHINE_READABLE = {
    "PDF": "PDF", "PDFA1A": "PDF", "PDFA1B": "PDF", "PDFA2A": "PDF", "PDFA2B": "PDF", "PDFA3": "PDF",
    "PDFUA": "PDF", "PDFX": "PDF", "DOC": "DOC", "DOCX": "DOCX", "WPS": "WPS", "RTF": "RTF", "OFD": "OFD",
    "PPT": "PPT", "PPTX": "PPTX", "JPEG": "JPEG image", "JPG": "JPEG image", "PNG": "PNG image",
    "GIF": "GIF image", "TIFF": "TIFF image", "TIF": "TIFF image", "BMP": "BMP image", "WEBP": "WEBP image",
    "application/pdf": "PDF", "application/msword": "DOC", "application/rtf": "RTF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.ms-powerpoint": "PPT", "application/ofd": "OFD",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
}
_SNIFFED_NOT_READABLE = ("PDF", "OLE2 (DOC/XLS/PPT)", "RTF", "DOCX", "PPTX", "PNG image", "JPEG image",
                         "GIF image", "TIFF image", "BMP image", "WEBP image")


@dataclass(frozen=True)
class Distribution:
    """A distribution as the checks see it: its IRI, declared format and media type, what its file's bytes are."""

    iri: str
    format: str | None = None  # dct:format (an IRI or a name)
    media_type: str | None = None  # dcat:mediaType (an IRI or a type)
    sniffed: str | None = None  # what its file's bytes are (tabular.read.sniff), when it was read
    url: str | None = None


def declared_kind(dist: Distribution) -> str | None:
    """Return the non-machine-readable kind a distribution declares (format or media type), or None."""
    for value in (dist.format, dist.media_type):
        if not value:
            continue
        key = value.rstrip("/").rsplit("/", 1)[-1] if "/file-type/" in value else \
            value.split("/media-types/", 1)[-1]
        found = NOT_MACHINE_READABLE.get(key) or NOT_MACHINE_READABLE.get(key.upper())
        if found:
            return found
    if image := (dist.media_type or "").split("/media-types/", 1)[-1]:
        if image.startswith("image/"):
            return f"{image[6:].upper()} image"
    return None


def not_machine_readable_run(dataset_id: str, distributions: Iterable[Distribution]) -> CheckRun:
    """Distributions in formats a program cannot read as data: declared so, or so by their magic bytes."""
    found = []
    for dist in distributions:
        declared = declared_kind(dist)
        by_bytes = dist.sniffed if dist.sniffed in _SNIFFED_NOT_READABLE else None
        if declared or by_bytes:
            found.append({"distribution": dist.iri, "url": dist.url, "declared": declared, "bytes": by_bytes})
    if not found:
        return CheckRun("not-machine-readable", 0)
    kinds = sorted({f["bytes"] or f["declared"] for f in found})
    detail = {"count": len(found), "distributions": found[:MAX_LISTED]}
    finding = Finding(dataset_id, found[0]["distribution"] if len(found) == 1 else None, "not-machine-readable",
                      WARNING, detail,
                      f"{len(found)} 个数据资源不是机器可读格式（{'、'.join(kinds)}），请提供 CSV、XLSX 或 JSON",
                      f"{len(found)} distributions are not machine-readable ({', '.join(kinds)}); "
                      "publish CSV, XLSX or JSON")
    return CheckRun("not-machine-readable", len(found), (finding,))


@dataclass(frozen=True)
class Link:
    """One link of a dataset as the link monitor last found it (harvesters/links.py LinkStatus)."""

    url: str
    broken: bool
    status: int | None = None
    error: str | None = None


def broken_links_run(dataset_id: str, links: Iterable[Link]) -> CheckRun | None:
    """Links of the dataset that were broken at the link monitor's last check; None when none was checked."""
    links = list(links)
    if not links:
        return None
    broken = [x for x in links if x.broken]
    if not broken:
        return CheckRun("broken-links", 0)
    detail = {"count": len(broken), "checked": len(links),
              "links": [{"url": x.url, "status": x.status, "error": x.error} for x in broken[:MAX_LISTED]]}
    finding = Finding(dataset_id, None, "broken-links", ERROR, detail,
                      f"{len(broken)} 个链接无法访问（共检查 {len(links)} 个）：{_join([x.url for x in broken])}",
                      f"{len(broken)} of {len(links)} links are broken: {_join([x.url for x in broken])}")
    return CheckRun("broken-links", len(broken), (finding,))


def _join(values: Sequence[Any], most: int = 5) -> str:
    shown = ", ".join(str(v) for v in list(values)[:most])
    return shown + (" …" if len(values) > most else "")
