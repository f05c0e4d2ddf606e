"""The floor of a Python front end for /sparql: a WSGI app under waitress that answers a constant result.

Usage:  .venv/bin/python bench/sparql_floor.py [--seconds 4] [--rounds 2]

The same keep-alive clients as bench/sparql_vs_oxigraph.py POST a query to a WSGI app served by waitress (16
threads, as `wodp serve`); the app reads the body and answers a constant 48-byte SPARQL JSON result, no query
run. Whatever our server does per query comes on top of this, so it bounds what any waitress + Python front
end can reach against Oxigraph's own server on this machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from sparql_vs_oxigraph import pct, run_round, wait_for  # noqa: E402

PORT = 18050
APP = f'''
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body = b'{{"head":{{"vars":[]}},"results":{{"bindings":[]}}}}'
    start_response("200 OK", [("Content-Type", "application/sparql-results+json"),
                              ("Content-Length", str(len(body)))])
    return [body]
import waitress
waitress.serve(app, host="127.0.0.1", port={PORT}, threads=16, _quiet=True)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", APP])
    try:
        wait_for(f"http://127.0.0.1:{PORT}/sparql?query=ASK%7B%7D", 30)
        for clients in (4, 1):
            latencies: list[float] = []
            for _ in range(args.rounds):
                latencies += run_round(f"http://127.0.0.1:{PORT}", "/sparql", "ASK {}", args.seconds, clients)
            rate = len(latencies) / (args.seconds * args.rounds)
            print(f"waitress, constant answer x{clients}: {rate:,.0f} answers/s, p50 {pct(latencies, 0.5):.2f} ms, "
                  f"p95 {pct(latencies, 0.95):.2f} ms")
    finally:
        server.terminate()
        server.wait(timeout=10)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
