"""Local HTTP sources for harvester tests: real sockets on 127.0.0.1, ETags, counted 304s, injected faults."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict, bytes]


class FakeSource:
    """A threaded HTTP server: routes by path; faults by path ('500', 'timeout', 'die', 'malformed', 'block')."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict, dict], Answer]] = {}
        self.faults: dict[str, str] = {}
        self.fault_when: Callable[[str, dict], str | None] | None = None
        self.hits_304 = 0
        self.requests: list[str] = []
        self.release = threading.Event()
        self.blocked = threading.Event()
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                source._answer(self)

            def do_POST(self):
                source._answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def static(self, path: str, body: bytes, content_type: str) -> None:
        """Serve a document with a strong ETag and Last-Modified, answering 304 when they match."""
        self.routes[path] = lambda query, headers: (200, {"Content-Type": content_type}, body)

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append(h.path)
        fault = self.faults.get(parts.path) or (self.fault_when(parts.path, query) if self.fault_when else None)
        if fault == "block":
            self.blocked.set()
            self.release.wait(120)
        if fault == "timeout":
            time.sleep(3)
        route = self.routes.get(parts.path)
        if fault == "500" or route is None:
            status, headers, body = (500, {}, b"internal error") if fault == "500" else (404, {}, b"not found")
        else:
            headers_in = {k.lower(): v for k, v in h.headers.items()}
            status, headers, body = route(query, headers_in)
            if fault == "malformed":
                body = body[: len(body) // 2]
            if status == 200 and "ETag" not in headers:
                headers["ETag"] = '"' + hashlib.sha1(body).hexdigest() + '"'
            if status == 200 and headers_in.get("if-none-match") == headers["ETag"]:
                self.hits_304 += 1
                status, body = 304, b""
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            if fault == "die":
                h.send_header("Content-Length", str(len(body) + 1000))
                h.end_headers()
                h.wfile.write(body[: len(body) // 2])
                h.wfile.flush()
                h.close_connection = True
                return
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Changes(list):
    """A list that counts the changes made to it (not to its items): FakeCkan sorts its packages again only then."""

    version = 0


def _counted(name: str):
    def method(self, *args, **kwargs):
        self.version += 1
        return getattr(list, name)(self, *args, **kwargs)
    method.__name__ = name
    return method


for _name in ("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):
    setattr(_Changes, _name, _counted(_name))


class FakeCkan:
    """A CKAN action API (package_search) over a list of packages, sorted by id."""

    def __init__(self, source: FakeSource, packages: list[dict], path: str = "/api/3/action/package_search"):
        self.packages = _Changes(packages)
        self.on_page: Callable[[int], None] | None = None
        source.routes[path] = self.package_search

    def _ordered(self) -> list[dict]:
        """The packages sorted by id, sorted again only when the list changed (a bench source of 1.6 million
        packages took ~4 s to sort per page, and ~50 ms to look whether its list changed by the ids of its items)."""
        if getattr(self, "_sorted_version", None) != self.packages.version:
            self._sorted, self._sorted_version = sorted(self.packages, key=lambda p: p["id"]), self.packages.version
        return self._sorted

    def package_search(self, query: dict, headers: dict) -> Answer:
        rows, start = int(query.get("rows", 10)), int(query.get("start", 0))
        ordered = self._ordered()
        page = ordered[start:start + rows]
        body = json.dumps({"help": "package_search", "success": True,
                           "result": {"count": len(ordered), "results": page}}, ensure_ascii=False).encode()
        if self.on_page:
            self.on_page(start)
        return 200, {"Content-Type": "application/json"}, body


def ckan_package(n: int, title: str | None = None) -> dict:
    """Make a CKAN package that maps to a dataset conforming to DCAT-AP 3."""
    return {
        "id": f"pkg-{n:05d}", "name": f"dataset-{n:05d}", "title": title or f"Dataset {n}",
        "notes": f"Description of dataset {n}.", "metadata_created": "2021-03-04T00:00:00",
        "metadata_modified": "2024-10-01T00:00:00", "organization": {"title": "Wuhan Open Data"},
        "maintainer": "Data Office", "maintainer_email": "opendata@example.org",
        "license_url": "http://creativecommons.org/licenses/by/4.0/",
        "tags": [{"name": "transport"}, {"name": f"tag{n % 7}"}],
        "resources": [{"name": "CSV file", "format": "CSV", "url": f"http://files.example.org/{n}.csv",
                       "mimetype": "text/csv"}],
    }
