"""Run every benchmark in turn (`make bench`); each prints its own table. See bench/RESULTS.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = [
    ["bench/sparql_vs_oxigraph.py", "--seconds", "4", "--rounds", "2"],
    ["bench/validation.py"],
    ["bench/harvest.py", "--datasets", "10000"],
    ["bench/ogc_vs_mapserver.py"],
]


def main() -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}")
    failed = 0
    for args in BENCHES:
        print(f"\n$ python {' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, *args], cwd=ROOT, env=env) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
