"""A faithful local government cloud data center (政务云中心接口, docs/cloud-center-api.md) as a WSGI app.

Used by the tests (served on a loopback port) and by ``wodp demo`` (mounted under /demo-sources/cloud).
It holds a list of records (dicts with 资源代码 and the Chinese core metadata fields) and answers
``GET /api/v1/resources`` with token check, paging, ``updated_since``, stable ordering and page ETags.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timezone
from typing import Callable, Iterable
from urllib.parse import parse_qs

MAX_PAGE_SIZE = 500
PATH = "/api/v1/resources"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Read an ISO 8601 time (a trailing Z or an offset; naive times are UTC)."""
    moment = datetime.fromisoformat(text.strip().replace(" ", "+").replace("Z", "+00:00"))  # "+" read as space
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class CloudCenterApp:
    """The cloud center over a list of records; change it with put/delete (each stamps updated_at)."""

    def __init__(self, records: Iterable[dict] = (), tokens: Iterable[str] = (), *,
                 clock: Callable[[], str] = utc_now) -> None:
        self.tokens = set(tokens)
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, dict] = {}
        self.requests: list[dict] = []      # each answered query (for tests: what a harvester asked)
        self.fault: Callable[[dict], int | None] | None = None  # query → status to answer instead (500, 429)
        for record in records:
            self.put(record)

    def put(self, record: dict) -> dict:
        """Add or replace a record by its 资源代码, stamping updated_at (unless given)."""
        stored = dict(record)
        stored.setdefault("updated_at", self.clock())
        with self._lock:
            self._records[str(stored["资源代码"])] = stored
        return stored

    def delete(self, code: str) -> None:
        with self._lock:
            self._records.pop(code, None)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") != PATH:
            return _answer(start_response, 404, {"error": "not_found", "message": f"no resource {path}"})
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"error": "method_not_allowed", "message": "GET only"})
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or not any(hmac.compare_digest(token, t) for t in self.tokens):
            return _answer(start_response, 401, {"error": "invalid_token", "message": "a valid Bearer token is required"},
                           [("WWW-Authenticate", 'Bearer realm="cloud-center"')])
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.requests.append(query)
        if self.fault is not None:
            status = self.fault(query)
            if status:
                extra = [("Retry-After", "1")] if status == 429 else []
                return _answer(start_response, status, {"error": "unavailable", "message": f"HTTP {status}"}, extra)
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("page_size", "100"))
            since = parse_time(query["updated_since"]) if query.get("updated_since") else None
        except ValueError as exc:
            return _answer(start_response, 400, {"error": "bad_request", "message": str(exc)})
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return _answer(start_response, 400, {"error": "bad_request",
                                                 "message": f"page ≥ 1 and 1 ≤ page_size ≤ {MAX_PAGE_SIZE}"})
        as_of = self.clock()
        with self._lock:
            chosen = [r for _, r in sorted(self._records.items())
                      if since is None or parse_time(r["updated_at"]) >= since]
        items = chosen[(page - 1) * size: page * size]
        content = {"total": len(chosen), "page": page, "page_size": size, "items": items}
        etag = '"' + hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32] + '"'
        if etag in [t.strip() for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]:
            start_response("304 Not Modified", [("ETag", etag)])
            return [b""]
        return _answer(start_response, 200, {**content, "as_of": as_of}, [("ETag", etag)])


REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _answer(start_response, status: int, doc: dict, headers: list | None = None):
    body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    start_response(f"{status} {REASONS.get(status, 'Error')}",
                   [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body))),
                    *(headers or [])])
    return [body]


def demo_records(count: int = 12, department: str = "武汉市交通运输局", code_prefix: str = "420100-D017-8") -> list[dict]:
    """Make records in the Chinese core metadata for the demo cloud center."""
    cycles = ["每日", "每周", "每月", "每季度"]
    return [{
        "资源代码": f"{code_prefix}{n:04d}", "资源名称": f"政务云演示数据集{n}", "资源提供方": department,
        "资源摘要": f"由政务云数据中心接口提供的演示数据集{n}。", "资源分类": "交通运输", "开放类型": "无条件开放",
        "更新周期": cycles[n % len(cycles)], "发布日期": "2023-01-05", "更新日期": "2024-11-20",
        "资源格式": "csv,json", "关键字": "政务云、演示", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn",
        "数据量": str(1000 + n),
    } for n in range(1, count + 1)]
