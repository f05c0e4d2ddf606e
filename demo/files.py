"""Render the demo datasets' data: CSV, XLSX, JSON and GeoJSON files and pages of the data API.

Rows are drawn from ``random.Random(f"{dataset id}:{row number}")``, so every file and page is the same on
every run and any page can be made without the rows before it. A dataset serves exactly ``rows`` rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta

from openpyxl import Workbook

from demo.generator import FORMATS, DemoDataset
from demo.topics import CITY, COMPANY_WORDS, DISTRICTS, INDUSTRIES, STATUSES, SUBJECT_BY_ZH, ZONES, Area, Subject

MAX_PAGE_SIZE = 1000
_AREAS = {a.zh: a for a in (CITY, *DISTRICTS, *ZONES.values())}
_FILES = {name: fmt for fmt, (_, _, name, _, _) in FORMATS.items() if name}
_XLSX_TIME = (2026, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
Row = dict[str, object]


def columns(dataset: DemoDataset) -> tuple[str, ...]:
    """Return the column names of a dataset's rows (longitude and latitude last when spatial)."""
    base = {
        "F": ("序号", "名称", "类别", "所属行政区", "详细地址", "联系电话"),
        "L": ("序号", "名称", "类别", "编号", "发布日期", "状态"),
        "R": ("序号", "单位名称", "证照编号", "事项", "所属行政区", "发证日期", "有效期至"),
        "S": ("年份", "统计区域", "指标名称", "数值", "计量单位", "同比增长（%）"),
        "M": ("监测点位", "所属行政区", "监测日期", "监测项目", "监测值", "计量单位"),
    }[_subject(dataset).kind]
    return (*base, "经度", "纬度") if dataset.spatial else base


def rows(dataset: DemoDataset, start: int = 0, stop: int | None = None) -> list[Row]:
    """Return rows ``start``…``stop - 1`` of a dataset (all of them by default)."""
    stop = dataset.rows if stop is None else min(stop, dataset.rows)
    make = _ROW_MAKERS[_subject(dataset).kind]
    out = []
    for i in range(max(start, 0), stop):
        rng = random.Random(f"{dataset.id}:{i}")
        row = make(rng, dataset, i)
        if dataset.spatial:
            _place(rng, dataset, row)
        out.append(row)
    return out


MISSING_COORDINATES = 0.03  # share of a spatial dataset's rows with an address but no coordinates
UNKNOWN_ADDRESS = 0.005  # share with neither (left unresolved by spatialization)


def _place(rng: random.Random, dataset: DemoDataset, row: Row) -> None:
    """Give a row its coordinates; a few rows, as in real department files, have only an address or nothing."""
    w, s, e, n = dataset.bbox  # type: ignore[misc]
    row["经度"] = round(rng.uniform(w, e), 6)
    row["纬度"] = round(rng.uniform(s, n), 6)
    chance = rng.random()
    if chance < MISSING_COORDINATES + UNKNOWN_ADDRESS:
        row["经度"] = row["纬度"] = ""
        if chance < UNKNOWN_ADDRESS:
            row["详细地址"] = "地址不详"


def render_file(dataset: DemoDataset, name: str) -> tuple[bytes, str]:
    """Return (content, media type) of a dataset's file ``name``: data.csv, .xlsx, .json or .geojson.

    KeyError when the dataset has no such distribution.
    """
    fmt = _FILES.get(name)
    if fmt is None or fmt not in dataset.formats:
        raise KeyError(f"dataset {dataset.id} has no file {name!r}")
    media = FORMATS[fmt][1]
    data = rows(dataset)
    if fmt == "CSV":
        return _csv(dataset, data), media
    if fmt == "XLSX":
        return _xlsx(dataset, data), media
    if fmt == "JSON":
        return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"), media
    return json.dumps(_geojson(dataset, data), ensure_ascii=False).encode("utf-8"), media


def render_api_csv(dataset: DemoDataset) -> bytes:
    """Return the rows behind a dataset's data API distribution as CSV (what the data API loads for a dataset
    whose only distribution is its API). KeyError when the dataset has no API distribution."""
    if "API" not in dataset.formats:
        raise KeyError(f"dataset {dataset.id} has no data API")
    return _csv(dataset, rows(dataset))


def render_api_page(dataset: DemoDataset, page: int, page_size: int) -> dict:
    """Return one page of a dataset's rows for its data API, with the total and paging numbers.

    KeyError when the dataset has no API distribution; ValueError for a page below 1 or a page size
    outside 1…MAX_PAGE_SIZE.
    """
    if "API" not in dataset.formats:
        raise KeyError(f"dataset {dataset.id} has no data API")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page must be >= 1 and page_size within 1..{MAX_PAGE_SIZE}")
    start = (page - 1) * page_size
    return {
        "dataset": dataset.id, "title": dataset.title, "fields": list(columns(dataset)),
        "total": dataset.rows, "page": page, "page_size": page_size,
        "pages": max(1, math.ceil(dataset.rows / page_size)),
        "records": rows(dataset, start, start + page_size),
    }


def _subject(dataset: DemoDataset) -> Subject:
    return SUBJECT_BY_ZH[dataset.subject]


def _area(dataset: DemoDataset, rng: random.Random) -> Area:
    area = _AREAS[dataset.area]
    return rng.choice(DISTRICTS) if area is CITY else area


def _day(rng: random.Random, first: int = 2015, last: int = 2025) -> date:
    start = date(first, 1, 1)
    return start + timedelta(days=rng.randrange((date(last, 12, 31) - start).days + 1))


def _facility(rng: random.Random, ds: DemoDataset, i: int) -> Row:
    area, kind = _area(ds, rng), rng.choice(_subject(ds).items)
    return {"序号": i + 1, "名称": f"{area.zh[:-1] if area.zh.endswith('区') else area.zh}{rng.choice(area.places)}{kind}{i + 1:03d}",
            "类别": kind, "所属行政区": area.zh,
            "详细地址": f"武汉市{area.zh}{rng.choice(area.roads)}{rng.randint(1, 999)}号",
            "联系电话": f"027-8{rng.randrange(10**7):07d}"}


def _list(rng: random.Random, ds: DemoDataset, i: int) -> Row:
    kind = rng.choice(_subject(ds).items)
    return {"序号": i + 1, "名称": f"{rng.choice(CITY_PREFIXES)}{kind}（第{i + 1}号）", "类别": kind,
            "编号": f"WH-{ds.department}-{i + 1:05d}", "发布日期": _day(rng).isoformat(), "状态": rng.choice(STATUSES)}


def _register(rng: random.Random, ds: DemoDataset, i: int) -> Row:
    area, issued = _area(ds, rng), _day(rng, ds.year or 2018, ds.year or 2025)
    return {"序号": i + 1, "单位名称": f"武汉{rng.choice(COMPANY_WORDS)}{rng.choice(INDUSTRIES)}有限公司",
            "证照编号": f"{ds.department}{issued.year}{i + 1:06d}", "事项": rng.choice(_subject(ds).items),
            "所属行政区": area.zh, "发证日期": issued.isoformat(),
            "有效期至": issued.replace(year=issued.year + rng.choice((3, 5)), day=min(issued.day, 28)).isoformat()}


def _statistic(rng: random.Random, ds: DemoDataset, i: int) -> Row:
    name, _, unit = rng.choice(_subject(ds).items).partition(":")
    year = ds.year or 2018 + i % 8
    return {"年份": year, "统计区域": _area(ds, rng).zh, "指标名称": name,
            "数值": round(rng.uniform(10, 5000), 2), "计量单位": unit, "同比增长（%）": round(rng.uniform(-8, 15), 1)}


def _monitoring(rng: random.Random, ds: DemoDataset, i: int) -> Row:
    area = _area(ds, rng)
    name, _, unit = rng.choice(_subject(ds).items).partition(":")
    return {"监测点位": f"{rng.choice(area.places)}监测点", "所属行政区": area.zh,
            "监测日期": _day(rng, ds.year or 2025, ds.year or 2025).isoformat(), "监测项目": name,
            "监测值": round(rng.uniform(0.1, 150), 2), "计量单位": unit}


CITY_PREFIXES = ("武汉市", "市级", "全市")
_ROW_MAKERS: dict[str, Callable[[random.Random, DemoDataset, int], Row]] = {
    "F": _facility, "L": _list, "R": _register, "S": _statistic, "M": _monitoring,
}


def _csv(dataset: DemoDataset, data: list[Row]) -> bytes:
    """Write UTF-8 CSV with a byte-order mark so that Excel reads the Chinese text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(dataset), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(data)
    return out.getvalue().encode("utf-8-sig")


def _xlsx(dataset: DemoDataset, data: list[Row]) -> bytes:
    """Write one worksheet, with fixed document and zip times so the bytes never change."""
    book = Workbook(write_only=True)
    fixed = datetime(2026, 1, 1)
    book.properties.created = book.properties.modified = fixed  # type: ignore[assignment]
    sheet = book.create_sheet("数据")
    names = columns(dataset)
    sheet.append(list(names))
    for row in data:
        sheet.append([row[n] for n in names])
    raw = io.BytesIO()
    book.save(raw)
    fixed_zip = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(fixed_zip, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = _MODIFIED.sub(rb"\g<1>2026-01-01T00:00:00Z\g<2>", content)
            dst.writestr(zipfile.ZipInfo(info.filename, _XLSX_TIME), content, zipfile.ZIP_DEFLATED)
    return fixed_zip.getvalue()


def _geojson(dataset: DemoDataset, data: list[Row]) -> dict:
    """Make a FeatureCollection of points in CRS84 (longitude, latitude)."""
    features = []
    for row in data:
        props = {k: v for k, v in row.items() if k not in ("经度", "纬度")}
        point = {"type": "Point", "coordinates": [row["经度"], row["纬度"]]} if row["经度"] != "" else None
        features.append({"type": "Feature", "id": row["序号"], "geometry": point, "properties": props})
    return {"type": "FeatureCollection", "name": dataset.title, "features": features}
