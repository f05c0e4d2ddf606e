"""Measure the data API on a 1-million-row table: p50/p95 of filtered pages of 100 rows, through the Flask app.

A small demo platform is opened; one of its open datasets gets, in place of its own tables, a table of N rows
(default 1,000,000: a code, a district, a category, a decimal value, a date, a longitude and a latitude) as a
Parquet file of the data API's store. By default that file is written by DuckDB with the types the loader
gives such a CSV (BIGINT, VARCHAR, DECIMAL(18, s) as the loader narrows DECIMAL(38, s) whose values fit,
DATE); ``--loader`` writes the CSV and loads it through ``tabular.datastore.load_file`` (tabular.read: slower,
much more memory). Each query is asked ``--rounds`` times with the test client (no network), after one
warm-up (the first request of a process copies the table into its memory: timed apart).

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/data_api.py [--rows N] [--rounds R] [--loader]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

QUERIES = {
    "equality + range, page 3": "所属行政区=江岸区&数值__gte=1000&数值__lt=4000&page=3&page_size=100",
    "range + sort desc": "数值__gte=1000&数值__lt=1100&sort=-数值&page_size=100",
    "contains + date range": "类别__contains=学校&发布日期__gte=2020-01-01&发布日期__lt=2021-01-01"
                             "&page_size=100",
    "in + sort, deep page": "所属行政区__in=江岸区,洪山区&sort=发布日期,-数值&page=200&page_size=100",
    "no filter, page 5000": "page=5000&page_size=100",
    "geojson, range": "经度__gte=114.3&经度__lt=114.31&format=geojson&page_size=100",
}
SQL = """COPY (SELECT range + 1 AS _row, range + 1 AS 序号,
  ['江岸区','江汉区','硚口区','汉阳区','武昌区','青山区','洪山区','东西湖区'][range % 8 + 1] AS 所属行政区,
  ['小学','中学','医院','公园','学校食堂','停车场'][range % 6 + 1] AS 类别,
  CAST(((range * 7919) % 500000) / 100.0 AS DECIMAL(18, 2)) AS 数值,
  DATE '2015-01-01' + CAST(range % 4000 AS INTEGER) AS 发布日期,
  CAST(113.7 + ((range * 104729) % 1000000) / 1000000.0 * 1.2 AS DECIMAL(18, 6)) AS 经度,
  CAST(29.97 + ((range * 15485863) % 1000000) / 1000000.0 * 1.0 AS DECIMAL(18, 6)) AS 纬度
  FROM range({rows})) TO '{path}' (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 100000)"""
COLUMNS = (("序号", "BIGINT"), ("所属行政区", "VARCHAR"), ("类别", "VARCHAR"), ("数值", "DECIMAL(18, 2)"),
           ("发布日期", "DATE"), ("经度", "DECIMAL(18, 6)"), ("纬度", "DECIMAL(18, 6)"))


def big_table(folder: Path, rows: int, loader: bool, limits) -> tuple[str, tuple, int]:
    import duckdb

    if not loader:
        path = folder / "bench-1m.parquet"
        duckdb.connect().execute(SQL.format(rows=rows, path=str(path)))
        return path.name, COLUMNS, path.stat().st_size
    from tabular.datastore import load_file

    csv_path = folder / "bench.csv"
    select = SQL.split("COPY (", 1)[1].split(") TO", 1)[0].replace("range + 1 AS _row, ", "")
    duckdb.connect().execute(f"COPY ({select.format(rows=rows)}) TO '{csv_path}' (HEADER)")
    loaded = load_file(csv_path.read_bytes(), "bench.csv", limits, str(folder), max_rows=rows + 1)
    return loaded.file, loaded.columns, loaded.bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--loader", action="store_true")
    args = parser.parse_args()

    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.access_guard import dataset_access
    from server.platform import Platform
    from tabular.datastore import Manifest, StoredTable

    home = Path(tempfile.mkdtemp(prefix="bench-data-api-"))
    settings = load_settings({}, overrides={"demo": {"datasets": 20, "spatial": 2}, "rate_limits": {"enabled": False},
                                            "data_api": {"load_at_publication": False}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    try:
        load_demo(platform)
        platform.data_loader.drain()
        manifest = next(m for m in platform.datastore.manifests() if m.tables and dataset_access(
            platform.store, platform.dataset_uri(m.dataset)).open_type.value == "unconditional")
        folder = platform.datastore.folder(manifest.dataset)
        started = time.perf_counter()
        name, columns, size = big_table(folder, args.rows, args.loader, settings.input_limits)
        made = time.perf_counter() - started
        table = StoredTable("big.csv", "bench", args.rows, size, tuple(columns), "bench", "now", name,
                            lon="经度", lat="纬度")
        platform.datastore.put(Manifest(manifest.dataset, manifest.digest, "now", (table,)))
        client = create_app(platform=platform).test_client()
        print(f"table: {args.rows} rows, {size / 1e6:.1f} MB Parquet, made in {made:.1f} s "
              f"({'loader' if args.loader else 'DuckDB'}); {args.rounds} rounds per query")
        print(f"{'query':32} {'matched':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for label, query in QUERIES.items():
            url = f"/api/data/{manifest.dataset}?" + "&".join(
                f"{quote(k)}={quote(v, safe=',')}" for k, _, v in (p.partition("=") for p in query.split("&")))
            t = time.perf_counter()
            first = client.get(url)
            if label == next(iter(QUERIES)):
                print(f"first request (copies the table into the process's memory): "
                      f"{(time.perf_counter() - t) * 1000:.0f} ms")
            assert first.status_code == 200, first.get_data(as_text=True)
            body = first.get_json()
            matched = body.get("total", body.get("numberMatched"))
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                answer = client.get(url)
                times.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{label:32} {matched:>9} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}")
    finally:
        platform.close()


if __name__ == "__main__":
    main()
