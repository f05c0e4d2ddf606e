"""What a batch of dataset graphs costs Oxigraph server, by the form of the write.

Usage:  .venv/bin/python bench/remote_writes.py [--datasets 1700] [--batch 100 1000] [--rounds 2]

The demo catalogue's graphs (demo/generator.py, ~96 triples a dataset, in the stored form) are written in
batches to a fresh Oxigraph server (the `oxigraph` package's, started here) in each form, the forms taking
turns in each round:

- ``replace``: the update a remote store sends to replace graphs it may hold (sparql/updates.py): a
  ``DROP SILENT GRAPH`` for each graph, then one ``INSERT DATA``;
- ``insert``: the same update without the drops (what it sends for graphs the store does not hold);
- ``nquads``: the same triples as N-Quads, POSTed to the Graph Store (``/store``): one transaction as well.

It prints, a dataset: the wall time of the request, the time to make its text in Python, and the server's CPU
(from /proc), and checks that every form stored the same number of quads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pyoxigraph as ox  # noqa: E402

from demo.generator import build_demo_catalog  # noqa: E402
from sparql.engines import OXIGRAPH, canonical_graphs  # noqa: E402
from sparql.updates import replacing_update  # noqa: E402

FORMS = ("replace", "insert", "nquads")


def _server(location: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = Path(sys.executable).with_name("oxigraph")
    proc = subprocess.Popen([str(binary), "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/query", params={"query": "ASK {}"})
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("Oxigraph server did not start")


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _body(form: str, batch: dict[str, list[ox.Triple]]) -> tuple[str, bytes, str]:
    if form == "nquads":
        quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(u)) for u, ts in batch.items() for t in ts]
        return "/store", ox.serialize(quads, format=ox.RdfFormat.N_QUADS), "application/n-quads"
    present = None if form == "replace" else ()
    return "/update", replacing_update(OXIGRAPH, batch, present).encode(), "application/sparql-update"


def run(form: str, graphs: dict[str, list[ox.Triple]], size: int, where: Path) -> dict:
    proc, url = _server(where)
    try:
        uris, made, started = list(graphs), 0.0, time.perf_counter()
        cpu = _cpu_s(proc.pid)
        with httpx.Client(timeout=300) as client:
            for n in range(0, len(uris), size):
                t = time.perf_counter()
                path, body, media = _body(form, {u: graphs[u] for u in uris[n:n + size]})
                made += time.perf_counter() - t
                answer = client.post(url + path, content=body, headers={"content-type": media})
                if answer.status_code >= 300:
                    raise SystemExit(f"{form}: {answer.status_code} {answer.text[:300]}")
            wall, cpu = time.perf_counter() - started, _cpu_s(proc.pid) - cpu
            count = client.post(url + "/query", data={"query": "SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }"},
                                headers={"accept": "text/csv"}).text.split()[-1]
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(where, ignore_errors=True)
    k = 1000 / len(uris)
    return {"form": form, "batch": size, "wall_ms": round(wall * k, 2), "text_ms": round(made * k, 2),
            "server_cpu_ms": round(cpu * k, 2), "quads": int(count)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1700)
    parser.add_argument("--batch", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    catalog = build_demo_catalog("https://data.wuhan.gov.cn/", count=args.datasets)
    graphs = canonical_graphs({d.uri: d.triples for d in catalog.datasets})
    print(f"{len(graphs)} datasets, {sum(map(len, graphs.values())) / len(graphs):.1f} triples a dataset; "
          "ms a dataset:")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.batch:
            for r in range(args.rounds):
                for form in FORMS:
                    print(run(form, graphs, size, Path(tmp) / f"{form}-{size}-{r}"), flush=True)


if __name__ == "__main__":
    main()
