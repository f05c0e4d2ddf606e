"""Measure what the sandbox costs a small upload, and how long a fresh worker takes to become warm.

A 3-record XLSX through china-core and SHACL (the /api/validate task, ``validate_upload``) is validated 20 times
in this process and 20 times in a warm sandbox worker; the medians are printed with the worker's start-up time.

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/sandbox.py``
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

from core.sandbox import Limits, Sandbox
from server.platform import SANDBOX_TASKS
from server.validation_api import validate_upload, warm_up

RECORD = {"资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-09999", "资源提供方": "武汉市交通运输局",
          "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
          "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
          "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345"}


def workbook(rows: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(RECORD))
    for i in range(rows):
        sheet.append(list((RECORD | {"资源代码": f"420100-D017-{10000 + i:05d}"}).values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def median_ms(call, times: int = 20) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1000


def main() -> None:
    args = (workbook(3), "upload.xlsx", "china-core", "http://127.0.0.1:8000", 10 << 20, None, "wuhan")
    warm_up()
    print(f"in process:     {median_ms(lambda: validate_upload(*args)):7.1f} ms (median of 20)")
    with tempfile.TemporaryDirectory() as slots:
        box = Sandbox(Limits(workers=1), Path(slots), preload=SANDBOX_TASKS)
        started = time.monotonic()
        box.start()
        while not box.worker_pids():
            time.sleep(0.02)
        print(f"worker warm in: {time.monotonic() - started:7.2f} s")
        print(f"in a worker:    {median_ms(lambda: box.run(validate_upload, *args)):7.1f} ms (median of 20)")
        box.close()


if __name__ == "__main__":
    main()
