"""What a dataset page shows of its data before anyone downloads it (issue 13, point 4).

- the first rows of each tabular file, from the data API's ``server.data_api.preview`` (docs/portal.md);
- each distribution's size (its ``dcat:byteSize``, else the size of the file the data API loaded) and row count,
  "unknown" where neither is known;
- whether the dataset is late: manage/freshness.py's rule (declared cycle against the last modification, due
  days moved past holidays), the one the management center measures with, applied to the page's own triples.

Nothing here reads data itself: a preview that cannot be had leaves the page as it was, with a line saying so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from server.portal.i18n import TEXT, translate

log = logging.getLogger(__name__)
PREVIEW_ROWS = 5
CELL_CHARS = 120  # longer cells are cut on the page (an ellipsis, the whole value in the cell's title)

TEXT.update({  # key: (zh-CN, en); the dataset page's preview, sizes, licence and freshness
    "preview": ("数据预览", "Data preview"),
    "preview_of": ("前 {shown} 行，共 {rows} 行", "First {shown} of {rows} rows"),
    "preview_of_unknown": ("前 {shown} 行，总行数未知", "First {shown} rows; the number of rows is unknown"),
    "preview_columns": ("{n} 列", "{n} columns"),
    "preview_table": ("{name} 的前几行", "First rows of {name}"),
    "preview_none": ("该数据集没有可预览的表格文件。", "This dataset has no tabular file to preview."),
    "preview_unavailable": ("数据预览暂不可用，请稍后再试或下载文件查看。",
                            "The preview is not available at the moment: try again later, or download the file."),
    "preview_spatial": ("含空间坐标", "spatial"),
    "d_rows": ("行数", "Rows"),
    "unknown": ("未知", "unknown"),
    "bytes_exact": ("{n} 字节", "{n} bytes"),
    "size_measured": ("（按所载文件计）", " (of the file loaded)"),
    "size_differs": ("（所载文件为 {size}）", " (the file loaded is {size})"),
    "f_license": ("许可协议", "Licence"),
    "f_freshness": ("更新状态", "Update status"),
    "fresh_on_time": ("按时（应于 {due} 前更新）", "On time (next update due by {due})"),
    "fresh_late": ("逾期 {days} 天（应于 {due} 前更新）", "{days} days late (the update was due by {due})"),
    "fresh_unknown": ("无法判断（{why}）", "Cannot tell ({why})"),
    "why_no-cycle": ("未声明更新周期", "no update cycle is declared"),
    "why_cycle-unreadable": ("所声明的更新周期无法计算", "the declared update cycle cannot be measured"),
    "why_no-deadline": ("该更新周期没有更新期限", "this update cycle sets no deadline"),
    "why_no-modified": ("没有唯一可读的最后更新日期", "there is no single readable last update date"),
    "why_calendar-unknown": ("到期日所在年份的节假日安排尚未公布", "the holidays of the due year are not published yet"),
    "fresh_rule": ("按声明的更新周期和最后更新日期计算，到期日遇节假日顺延至下一个工作日（与管理中心的时效统计相同）。",
                   "From the declared update cycle and the last update; a due day on a holiday moves to the next "
                   "working day (the rule of the management center's freshness figures)."),
    "map_extent": ("数据范围（外包框）", "Extent of the data (bounding box)"),
})


@dataclass(frozen=True)
class Preview:
    """The tables of a dataset with their first rows; ``available`` False when the data API failed to answer."""

    tables: tuple[dict, ...] = ()
    available: bool = True


def load_tables(platform, dataset_id: str, rows: int = PREVIEW_ROWS) -> Preview:
    """Return the dataset's tables with their first rows from the data API (server.data_api.preview).

    A failure of the data API is logged and gives a Preview that is not ``available`` (the page says so and
    answers as usual).
    """
    from server.data_api import preview

    try:
        return Preview(tuple(_table(t) for t in preview(platform, dataset_id, rows=rows)))
    except Exception:  # the page must answer whatever the data store does
        log.exception("no preview of %s", dataset_id)
        return Preview(available=False)


def _table(raw: dict) -> dict:
    """Read one table of the data API's preview into what the page shows."""
    columns = [c if isinstance(c, dict) else {"name": str(c), "type": ""} for c in raw.get("columns") or []]
    records = list(raw.get("records") or [])
    out = dict(raw, columns=columns, records=records, rows=_count(raw.get("rows")), bytes=_count(raw.get("bytes")))
    out["cells"] = [[_cell(record.get(c["name"])) for c in columns] for record in records]
    return out


def _count(value) -> int | None:
    """Return a non-negative whole number, or None for anything else (unknown, never guessed)."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 and str(number) == str(value).strip() else None


def _cell(value) -> dict:
    """Return a cell as the page shows it: its text (cut past CELL_CHARS) and, when cut, the whole text."""
    text = "" if value is None else str(value)
    if len(text) <= CELL_CHARS:
        return {"text": text, "full": None, "null": value is None}
    return {"text": text[:CELL_CHARS] + "…", "full": text, "null": False}


def size_text(n: int | None, lang: str) -> str:
    """Write a byte count for people: 1,234 B, 12.1 KB, 3.4 MB (1 KB = 1024 bytes); "unknown" for None."""
    if n is None:
        return translate("unknown", lang)
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def declared_bytes(text: str) -> int | None:
    """Read a dcat:byteSize value: a whole number of bytes, else None (a text is not a size we can show)."""
    return _count(text.strip()) if text else None


def file_name(url: str) -> str:
    """Return the last path segment of a download URL, unquoted."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else ""


def attach_tables(distributions: list[dict], tables) -> None:
    """Give each distribution its table of the preview (by download URL, else by unique file name), its rows and
    its size: ``bytes`` declared, ``bytes_loaded`` measured by the data API (shown when nothing is declared, or
    beside a declared size it differs from)."""
    tables = list(tables or ())
    by_source = {t.get("source"): t for t in tables if t.get("source")}
    names: dict[str, list[dict]] = {}
    for d in distributions:
        names.setdefault(file_name(d.get("download", "")), []).append(d)
    for d in distributions:
        d["bytes"] = declared_bytes(d.get("size", ""))
        table = by_source.get(d.get("download")) if d.get("download") else None
        name = file_name(d.get("download", ""))
        if table is None and name and len(names[name]) == 1:
            matches = [t for t in tables if t.get("name") == name]
            table = matches[0] if len(matches) == 1 else None
        d["table"] = table
        d["rows"] = table["rows"] if table else None
        d["bytes_loaded"] = table["bytes"] if table else None


def freshness_view(cycles: list[str], frequencies: list[str], modified: list[str], today=None) -> dict:
    """Measure the dataset as the management center does (manage.freshness.assess) on today's Beijing date."""
    from manage.freshness import assess, beijing_today

    a = assess(cycles, frequencies, modified, today or beijing_today())
    return {"status": a.status, "days_late": a.days_late, "due": a.due.isoformat() if a.due else "",
            "modified": a.modified.isoformat() if a.modified else "", "detail": a.detail or ""}
