"""Benchmark the same layer through our /ogc (pygeoapi) and MapServer 8's OGC API Features over FastCGI.

Run (after `make bench`'s system packages: cgi-mapserver, spawn-fcgi, nginx-light, gdal-bin):
    PYTHONPATH=. .venv/bin/python bench/ogc_vs_mapserver.py [--features 20000] [--rounds 3] [--requests 30]

Both servers hold the same 20,000 points (made here, deterministic). Ours: `wodp serve` (waitress) over the
embedded SQLite feature store. MapServer: `mapserv` as 2 FastCGI processes (spawn-fcgi) behind nginx,
reading a GeoPackage made from the same GeoJSON by ogr2ogr (with its R-tree, connections kept open
between requests: CLOSE_CONNECTION=DEFER, MapServer's advice for FastCGI). One keep-alive client on loopback sends each
request kind in turn, alternating servers in every round, so both see the same machine load; the figures
are the median latency per request kind and their ratio (ours / MapServer, lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAYER = "bench.points"
BBOX = (114.20, 30.50, 114.40, 30.65)  # central Wuhan, about 1/60 of the extent
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_features(n: int) -> list[dict]:
    rng = random.Random(20261129)
    kinds = ("学校", "医院", "公园", "图书馆", "体育场馆")
    return [{"type": "Feature", "id": i + 1,
             "properties": {"name": f"点位{i + 1:05d}", "kind": rng.choice(kinds), "value": round(rng.uniform(0, 100), 2)},
             "geometry": {"type": "Point", "coordinates": [round(rng.uniform(113.70, 115.00), 6),
                                                           round(rng.uniform(30.00, 31.30), 6)]}}
            for i in range(n)]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def start_ours(work: Path, features: list[dict]) -> tuple[subprocess.Popen, str]:
    from config import load_settings
    from ogc.features import LayerInfo
    from server.platform import Platform

    home = work / "home"
    settings = load_settings({}, home=home)
    platform = Platform.open(settings, start_workers=False)
    xs = [f["geometry"]["coordinates"][0] for f in features]
    ys = [f["geometry"]["coordinates"][1] for f in features]
    platform.features.put_layer(LayerInfo(id=LAYER, dataset_uri=None, title_zh="基准点位", title_en="Bench points",
                                          bbox=(min(xs), min(ys), max(xs), max(ys)), geometry_type="Point",
                                          fields={"name": "string", "kind": "string", "value": "number"}),
                                features)
    platform.close()
    port = free_port()
    env = dict(os.environ, WODP_HOME=str(home), WODP_SITE__BASE_URI=f"http://127.0.0.1:{port}",
               WODP_CSW__ENABLED="false", WODP_LOGGING__LEVEL="WARNING")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/wodp"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}/ogc"
    wait_for(f"{base}/collections/{LAYER}")
    return proc, base


MAPFILE = """MAP
  NAME "bench"
  EXTENT 113.68 29.97 115.08 31.36
  PROJECTION "EPSG:4326" END
  WEB
    METADATA
      "ows_title" "bench"
      "ows_enable_request" "*"
      "oga_enable_request" "*"
      "ows_srs" "EPSG:4326 EPSG:4490 EPSG:3857"
      "oga_onlineresource" "http://127.0.0.1:{port}/ms/ogcapi"
    END
  END
  LAYER
    NAME "points"
    TYPE POINT
    STATUS ON
    TEMPLATE "none.html"
    PROCESSING "CLOSE_CONNECTION=DEFER"
    CONNECTIONTYPE OGR
    CONNECTION "{gpkg}"
    DATA "points"
    PROJECTION "EPSG:4326" END
    METADATA
      "ows_title" "points"
      "ows_extent" "113.68 29.97 115.08 31.36"
      "gml_include_items" "all"
      "gml_featureid" "name"
      "gml_types" "auto"
    END
  END
END
"""

NGINX = """worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  fastcgi_temp_path {work}/nginx-fcgi;
  server {{
    listen 127.0.0.1:{port};
    location ~ ^/ms(/.*)$ {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param PATH_INFO /bench$1;
      fastcgi_param MAPSERVER_CONFIG_FILE {work}/mapserver.conf;
      fastcgi_keep_conn on;
      fastcgi_pass 127.0.0.1:{fcgi};
    }}
  }}
}}
"""


def start_mapserver(work: Path, features: list[dict]) -> tuple[list[subprocess.Popen], str, list[int]]:
    for tool in ("mapserv", "spawn-fcgi", "nginx", "ogr2ogr"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: run `make bench` (it installs the bench's system packages)")
    geojson = work / "points.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                       encoding="utf-8")
    gpkg = work / "points.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(gpkg), str(geojson), "-nln", "points"], check=True)
    port, fcgi = free_port(), free_port()
    (work / "bench.map").write_text(MAPFILE.format(port=port, gpkg=gpkg), encoding="utf-8")
    (work / "mapserver.conf").write_text(
        f'CONFIG\n  ENV\n    MS_MAP_PATTERN "^{work}"\n  END\n  MAPS\n    bench "{work}/bench.map"\n  END\nEND\n',
        encoding="utf-8")
    env = dict(os.environ, MAPSERVER_CONFIG_FILE=str(work / "mapserver.conf"))
    # spawn-fcgi starts the mapserv processes in sessions of their own and says their pids
    spawned = subprocess.run(["spawn-fcgi", "-a", "127.0.0.1", "-p", str(fcgi), "-F", "2", "--",
                              shutil.which("mapserv")], env=env, capture_output=True, text=True, check=True)
    mapservs = [int(pid) for pid in re.findall(r"PID: (\d+)", spawned.stdout + spawned.stderr)]
    (work / "nginx.conf").write_text(NGINX.format(work=work, port=port, fcgi=fcgi), encoding="utf-8")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx_proc = subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/ms/ogcapi"
    wait_for(f"{base}/collections/points/items?f=json&limit=1")
    return [nginx_proc], base, mapservs


def cases(ours: str, theirs: str) -> list[tuple[str, str, str]]:
    """(case, our URL, MapServer URL) — the same request to both."""
    bbox = ",".join(map(str, BBOX))
    out = []
    for limit in (10, 100, 1000):
        out.append((f"items limit={limit}", f"{ours}/collections/{LAYER}/items?f=json&limit={limit}",
                    f"{theirs}/collections/points/items?f=json&limit={limit}"))
    out.append(("items bbox limit=100", f"{ours}/collections/{LAYER}/items?f=json&limit=100&bbox={bbox}",
                f"{theirs}/collections/points/items?f=json&limit=100&bbox={bbox}"))
    return out


def timed(client: httpx.Client, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        response.read()
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
    return times


def check_same_answers(client: httpx.Client, table: list[tuple[str, str, str]]) -> None:
    for name, ours, theirs in table:
        a, b = client.get(ours).json(), client.get(theirs).json()
        if len(a["features"]) != len(b["features"]) or a.get("numberMatched") != b.get("numberMatched"):
            raise SystemExit(f"{name}: the servers disagree: ours {len(a['features'])}/{a.get('numberMatched')}, "
                             f"MapServer {len(b['features'])}/{b.get('numberMatched')}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30, help="requests per case, server and round")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wodp-bench-ogc-"))
    features = make_features(args.features)
    procs: list[subprocess.Popen] = []
    pids: list[int] = []
    try:
        ours_proc, ours = start_ours(work, features)
        procs.append(ours_proc)
        ms_procs, theirs, pids = start_mapserver(work, features)
        procs += ms_procs
        table = cases(ours, theirs)
        crs_pair = (f"{ours}/collections/{LAYER}/items?f=json&limit=100&crs={CRS84}",
                    f"{ours}/collections/{LAYER}/items?f=json&limit=100&crs={CRS4490}")
        results: dict[str, dict[str, list[float]]] = {}
        with httpx.Client(timeout=60) as client:
            check_same_answers(client, table)
            for _ in range(args.rounds):
                for name, a, b in table:
                    slot = results.setdefault(name, {"ours": [], "mapserver": []})
                    slot["ours"] += timed(client, a, args.requests)
                    slot["mapserver"] += timed(client, b, args.requests)
                slot = results.setdefault("crs 4490 vs CRS84 (ours, limit=100)", {"ours": [], "mapserver": []})
                slot["mapserver"] += timed(client, crs_pair[0], args.requests)  # CRS84 in the reference column
                slot["ours"] += timed(client, crs_pair[1], args.requests)
        print(f"{args.features} points, {args.rounds} rounds x {args.requests} requests per case and server\n")
        print(f"{'case':40} {'ours ms':>9} {'MapServer ms':>13} {'ratio':>7}")
        for name, slot in results.items():
            a, b = statistics.median(slot["ours"]) * 1000, statistics.median(slot["mapserver"]) * 1000
            right = "CRS84 ms" if name.startswith("crs") else ""
            print(f"{name:40} {a:9.2f} {b:13.2f} {a / b:7.2f} {right}")
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in pids:  # mapserv's FastCGI loop ignores SIGTERM
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
