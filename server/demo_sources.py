"""Local sources of each harvester kind for ``wodp demo``, mounted under /demo-sources (demo mode only).

The demo server answers them itself: the government cloud data center (the faithful local implementation of
docs/cloud-center-api.md), a CKAN action API, a paged DCAT-AP feed, a department inventory file (GBK CSV) and
a few distribution files (one missing, so the link monitor has a broken link to show). ``demo_sources`` returns
the matching ``harvest.sources``; ``run_demo_harvests`` runs each once and prints its job report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
import threading

from harvesters.cloud_center_app import CloudCenterApp, demo_records

log = logging.getLogger(__name__)
PREFIX = "/demo-sources"
FILES = {"stations.csv": "站点,经度,纬度\n汉口站,114.26,30.62\n", "rainfall.csv": "日期,雨量\n2024-06-01,12.5\n",
         "budget.csv": "年度,金额\n2024,100\n"}
COLUMNS = ["资源代码", "资源名称", "资源提供方", "资源摘要", "资源分类", "开放类型", "更新周期", "发布日期",
           "更新日期", "资源格式", "关键字", "联系方式", "数据量"]


class DemoSources:
    """The WSGI app behind /demo-sources and the harvest sources that read it."""

    def __init__(self, public_base: str) -> None:
        self.public = public_base.rstrip("/") + PREFIX      # what dataset links point at
        self.token = secrets.token_urlsafe(24)
        self.cloud = CloudCenterApp(demo_records(12), tokens=[self.token])
        self.documents = {"/ckan/api/3/action/package_search": None, "/dcat/catalog.ttl": self._dcat(1),
                          "/dcat/catalog-2.ttl": self._dcat(2), "/inventory/inventory.csv": self._inventory()}

    def sources(self, local_base: str) -> list[dict]:
        """Return the harvest.sources of the demo, reading the sources at the server's own address."""
        at = local_base.rstrip("/") + PREFIX
        hourly = "17 * * * *"
        return [
            {"name": "sample-cloud", "kind": "cloud", "url": f"{at}/cloud", "schedule": hourly,
             "options": {"page_size": 5}},
            {"name": "sample-files", "kind": "inventory", "url": f"{at}/inventory/inventory.csv", "schedule": hourly},
            {"name": "sample-ckan", "kind": "ckan", "url": f"{at}/ckan", "schedule": hourly, "options": {"rows": 2}},
            {"name": "sample-dcat", "kind": "dcat", "url": f"{at}/dcat/catalog.ttl", "schedule": hourly},
            {"name": "sample-links", "kind": "links", "schedule": "47 * * * *",
             "options": {"sources": ["sample-ckan", "sample-dcat"], "timeout_s": 5}},
        ]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/cloud/"):
            return self.cloud({**environ, "PATH_INFO": path[len("/cloud"):]}, start_response)
        if path == "/ckan/api/3/action/package_search":
            return _send(start_response, "200 OK", "application/json", self._package_search(environ))
        if path.startswith("/files/") and path[len("/files/"):] in FILES:
            return _send(start_response, "200 OK", "text/csv; charset=utf-8", FILES[path[7:]].encode("utf-8"))
        if self.documents.get(path):
            kind = "text/turtle" if path.endswith(".ttl") else "text/csv; charset=gbk"
            return _send(start_response, "200 OK", kind, self.documents[path])
        return _send(start_response, "404 Not Found", "text/plain", b"not found")

    def _package_search(self, environ) -> bytes:
        from urllib.parse import parse_qs

        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        rows, start = int(query.get("rows", 10)), int(query.get("start", 0))
        packages = [self._package(n) for n in range(1, 6)]
        return json.dumps({"success": True, "result": {"count": len(packages),
                                                       "results": packages[start:start + rows]}},
                          ensure_ascii=False).encode("utf-8")

    def _package(self, n: int) -> dict:
        name = list(FILES)[n % len(FILES)] if n != 5 else "missing.csv"   # one link is broken on purpose
        return {"id": f"pkg-{n:03d}", "name": f"sample-{n:03d}", "title": f"Sample CKAN dataset {n}",
                "notes": f"A dataset of the demo CKAN source ({n}).", "metadata_created": "2023-03-04T00:00:00",
                "metadata_modified": "2024-10-01T00:00:00", "organization": {"title": "Demo CKAN"},
                "maintainer": "Data Office", "maintainer_email": "opendata@example.org",
                "license_url": "http://creativecommons.org/licenses/by/4.0/", "tags": [{"name": "demo"}],
                "resources": [{"name": "CSV file", "format": "CSV", "mimetype": "text/csv",
                               "url": f"{self.public}/files/{name}"}]}

    def _dcat(self, page: int) -> bytes:
        p = self.public
        following = f'hydra:nextPage "{p}/dcat/catalog-2.ttl" ;' if page == 1 else ""
        items = []
        for n in ((1, 2) if page == 1 else (3,)):
            name = list(FILES)[n % len(FILES)]
            items.append(f"""
<{p}/dcat/ds{n}> a dcat:Dataset ; dct:identifier "ds{n}" ;
  dct:title "DCAT 演示数据集 {n}"@zh-CN ; dct:description "由演示 DCAT-AP 目录提供的数据集 {n}。"@zh-CN ;
  dcat:distribution <{p}/dcat/ds{n}/csv> .
<{p}/dcat/ds{n}/csv> a dcat:Distribution ; dcat:accessURL <{p}/files/{name}> ;
  dcat:downloadURL <{p}/files/{name}> .""")
        return (f"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
<{p}/dcat/catalog.ttl> a hydra:PagedCollection ; hydra:totalItems 3 ; {following} hydra:itemsPerPage 2 .
""" + "\n".join(items) + "\n").encode("utf-8")

    def _inventory(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        records = demo_records(4, department="武汉市水务局", code_prefix="420100-D033-7")
        records.append(demo_records(1)[0])  # also in the cloud center: precedence keeps the cloud's version
        for r in records:
            writer.writerow([r[c].replace("政务云", "部门目录") if c == "资源名称" else r[c] for c in COLUMNS])
        return out.getvalue().encode("gbk")


def _send(start_response, status: str, kind: str, body: bytes):
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


class WarmUpGate:
    """Answer 503 (Retry-After) outside /demo-sources until the demo's first harvests are done."""

    def __init__(self, app, sources: DemoSources) -> None:
        self.app, self.sources, self.ready = app, sources, threading.Event()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.sources({**environ, "PATH_INFO": path[len(PREFIX):],
                                 "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + PREFIX}, start_response)
        if not self.ready.is_set() and not path.startswith("/health/"):  # /health/ready says why it is not ready
            body = "the demo is running its first harvests; ask again in a moment\n".encode()
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "2"),
                                                       ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def run_demo_harvests(platform, names: list[str], generator_total: int, gate: WarmUpGate) -> None:
    """Run each demo source once, print its job report, then the store's dataset total; open the gate."""
    try:
        for name in names:
            try:
                r = platform.harvesting.run(name, trigger="demo")
            except Exception as exc:  # a demo source must not stop the demo
                print(f"harvest job {name}: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(f"harvest job {r['id']} {name}: {r['status']}: {r['message']}", flush=True)
        total = platform.store.count_datasets()
        print("demo harvests done:", flush=True)
        print(f"  {'harvested datasets':<28} {total - generator_total}", flush=True)
        print(f"  {'datasets':<28} {total}", flush=True)
    finally:
        gate.ready.set()
