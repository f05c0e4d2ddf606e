"""Time and memory of the data checks on one generated CSV: read, load into DuckDB, check.

    PYTHONPATH=. .venv/bin/python bench/data_checks.py [ROWS]

Prints the seconds of each step and the peak resident memory of the process.
"""

from __future__ import annotations

import random
import resource
import sys
import time

from config.settings import InputLimits
from tabular.checks import Subject, check_table
from tabular.read import load, read_table, scratch


def make_csv(rows: int) -> bytes:
    rng = random.Random(12)
    lines = ["编号,区划代码,名称,地址,人数,金额,日期,备注"]
    for i in range(rows):
        lines.append(f"{i:08d},4201{rng.randint(2, 17):02d},单位{i},武汉市江岸区某路{rng.randint(1, 999)}号,"
                     f"{rng.randint(0, 5000)},{rng.uniform(0, 1e6):.2f},2024-{rng.randint(1, 12):02d}-"
                     f"{rng.randint(1, 28):02d},{'' if i % 3 else '无'}")
    return ("\n".join(lines) + "\n").encode("gb18030")


def main(rows: int) -> None:
    raw = make_csv(rows)
    started = time.perf_counter()
    table = read_table(raw, "bench.csv", InputLimits())
    read_s = time.perf_counter() - started
    con, name = scratch(512)
    started = time.perf_counter()
    load(table, con, name)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    runs = check_table(con, table, Subject("bench"), max_empty_share=0.2, name=name)
    check_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows} rows, {len(raw) / 1e6:.1f} MB ({table.encoding}): read {read_s:.2f} s, load {load_s:.2f} s, "
          f"checks {check_s:.2f} s; peak RSS {peak:.0f} MB; "
          f"found: {', '.join(f'{r.check} {r.value}' for r in runs if r.value) or 'nothing'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
