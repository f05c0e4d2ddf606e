"""One web process of `wodp serve` with server.processes > 1: serve reads from a snapshot, hand the rest over.

The parent (server/processes.py) is the writer: it holds the store read-write, the gate, the scheduler, the
SPARQL workers and pycsw, and answers on a private Unix socket. A web process (``python -m server.web``) shares
the public listening socket with its siblings and:

- answers GET and HEAD of the read doors (LOCAL_PREFIXES: portal, dataset pages, /catalog, /changes, /ogc,
  /def, /files, /layers, /api/data) itself, from the writer's snapshot of the store and the writer's SQLite indexes;
- hands every other request (writes, /api, /sparql, /csw, /internal, the demo's sources) to the writer over the
  Unix socket, body and answer streamed, with the client's address in a header only the writer's socket trusts;
  when the client goes away while the writer works, the Unix connection is closed, so the writer's own
  disconnect detection stops the request's task (server/disconnect.py);
- before each local request, reads the store's generation (a small file the writer replaces at each commit) and,
  when it moved, asks the writer for the snapshot of the new generation before answering: a GET after a push
  answered 201 sees the push, whichever process answers it; on a remote store (store.url) there is no snapshot:
  the web process reads the shared engine directly and only takes the new generation (for its answer cache);
- keeps answers of GET requests whose answer depends only on the store (ResponseCache), keyed by the
  generation they were made from: an entry of an older generation is never served;
- answers /health/live itself, and /health/ready with the writer's checks and its own (server/health.py).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import select
import socket
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

from core.metrics import metrics
from server.disconnect import client_gone

log = logging.getLogger("wodp.web")
DISCONNECT_POLL_S = 0.1  # how often a forwarded request looks at its client while the writer works

LOCAL_PREFIXES = ("/datasets", "/catalog", "/changes", "/ogc", "/def/", "/files/", "/layers/", "/map", "/static/",
                  "/api/data/")
CACHED_PREFIXES = ("/datasets", "/catalog", "/changes", "/ogc", "/def/", "/map")
CLIENT_HEADER = "X-WODP-Client-Addr"  # trusted on the writer's private socket only
HEALTH_PREFIX = "/health/"  # answered by each web process (server/health.py)
READINESS_TIMEOUT_S = 10.0
SNAPSHOT_PATH = "/_wodp/snapshot"  # answered by the writer's socket only (server/processes.py)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade"}
KEY_HEADERS = ("HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_ACCEPT_ENCODING", "HTTP_ORIGIN", "HTTP_HOST",
               "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PREFIX")
UNCACHED_WHEN = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_AUTHORIZATION", "HTTP_X_WODP_TOKEN",
                 "HTTP_RANGE")


def keyed(environ) -> bool:
    """Tell whether a request bears a token or API key: the writer, which holds the accounts, grants and quota
    counters, answers it (server/access_guard.py)."""
    return bool(environ.get("HTTP_AUTHORIZATION")) or "api_key=" in environ.get("QUERY_STRING", "")


def is_local(method: str, path: str) -> bool:
    """Tell whether a web process answers this request itself (reads of the read doors)."""
    return method in ("GET", "HEAD") and (path == "/" or path.startswith(LOCAL_PREFIXES))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Writer:
    """The writer process as seen from a web process: its socket and the store's generation file."""

    def __init__(self, socket_path: str, store_path: Path, ready_file: Path, timeout_s: float = 900.0):
        self.socket_path = socket_path
        self.store_path = store_path
        self.ready_file = ready_file
        self.timeout_s = timeout_s

    def connection(self, timeout: float | None = None) -> _UnixConnection:
        return _UnixConnection(self.socket_path, timeout or self.timeout_s)

    def generation(self) -> int | None:
        from sparql.store import read_generation

        state = read_generation(self.store_path)
        return None if state is None else state[0]

    def ready(self) -> bool:
        return self.ready_file.exists()

    def snapshot(self) -> dict:
        """Ask the writer for the snapshot of its current generation: {generation, path, modified}."""
        conn = self.connection(60)
        try:
            conn.request("GET", SNAPSHOT_PATH)
            answer = conn.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise OSError(f"the writer refused a snapshot: {answer.status} {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    def readiness(self) -> dict:
        """Ask the writer for its readiness checks ({name: {ok, detail}}), whatever its status."""
        conn = self.connection(READINESS_TIMEOUT_S)
        try:
            conn.request("GET", "/health/ready", headers={CLIENT_HEADER: "127.0.0.1"})
            answer = conn.getresponse()
            body = answer.read()
            if answer.status not in (200, 503):
                raise OSError(f"the writer answered {answer.status} to /health/ready")
            return json.loads(body)["checks"]
        finally:
            conn.close()


def forward(writer: Writer, environ, start_response):
    """Hand one request to the writer and stream its answer back."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    # PATH_INFO is percent-decoded (and latin-1 in WSGI): quote it again for the request line
    target = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=~") or "/"
    target += f"?{query}" if query else ""
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
               if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in HOP_BY_HOP}
    headers.pop("X-Wodp-Client-Addr", None)
    headers[CLIENT_HEADER] = environ.get("REMOTE_ADDR", "")
    headers["X-WODP-Scheme"] = environ.get("wsgi.url_scheme", "http")
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = environ[key]
    conn = writer.connection()
    try:
        conn.putrequest(environ["REQUEST_METHOD"], target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        conn.endheaders()
        stream = environ["wsgi.input"]
        while length > 0:
            chunk = stream.read(min(length, 1 << 16))
            if not chunk:
                break
            conn.send(chunk)
            length -= len(chunk)
        if not _await_answer(conn, client_gone(environ), writer.timeout_s):
            # the client went away while the writer worked: closing our connection is what the writer's own
            # disconnect detection sees, so its task (a sandboxed upload) is stopped too
            conn.close()
            log.info("%s %s: the client went away; the writer's connection was closed", environ["REQUEST_METHOD"],
                     path)
            start_response("499 Client Closed Request", [("Content-Length", "0")])
            return [b""]
        answer = conn.getresponse()
    except OSError:
        conn.close()
        log.exception("the writer process did not answer %s %s", environ["REQUEST_METHOD"], path)
        body = b"the platform's writer process is not answering; try again shortly\n"
        start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                                   ("Retry-After", "5"), ("Content-Length", str(len(body)))])
        return [body]
    start_response(f"{answer.status} {answer.reason}",
                   [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP])

    def stream_answer():
        try:
            while chunk := answer.read(1 << 16):
                yield chunk
        finally:
            conn.close()

    return stream_answer()


def _await_answer(conn: _UnixConnection, gone, timeout_s: float) -> bool:
    """Wait for the writer's answer to begin, looking at the client every 0.1 s; False when the client went away.

    ``gone`` is server.disconnect.client_gone's check (None when the server cannot tell: then just wait).
    """
    if gone is None or conn.sock is None:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        readable, _, _ = select.select([conn.sock], [], [], DISCONNECT_POLL_S)
        if readable:
            return True
        if gone():
            return False
    return True  # the read that follows times out as before


class ResponseCache:
    """Answers of GET requests, bounded in bytes, each valid for the store generation it was made from."""

    def __init__(self, max_bytes: int, max_entry_bytes: int = 4 << 20) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes // 4)
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._generation = -1
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(environ) -> tuple | None:
        """Return the cache key of a request, or None when its answer must not come from the cache."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not (path == "/" or path.startswith(CACHED_PREFIXES)):
            return None
        if any(environ.get(name) for name in UNCACHED_WHEN):
            return None
        if path.startswith("/datasets/"):  # a dataset's page and RDF carry its feedback and usage (services/),
            return None                    # which change without a new store generation
        if "api_key=" in environ.get("QUERY_STRING", ""):
            return None  # an API key's answer holds only while its grant does (server/access_guard.py)
        cookie = environ.get("HTTP_COOKIE", "")
        if cookie and any(not part.strip().startswith("lang=") for part in cookie.split(";") if part.strip()):
            return None  # a cookie other than the language may name who asks
        return (path, environ.get("QUERY_STRING", ""), cookie.strip(), environ.get("wsgi.url_scheme"),
                *(environ.get(name, "") for name in KEY_HEADERS))

    def get(self, generation: int, key: tuple):
        with self._lock:
            if generation != self._generation:
                self._entries.clear()
                self._bytes, self._generation = 0, generation
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self._entries.move_to_end(key)
                self.hits += 1
        metrics().cache.labels("miss" if entry is None else "hit").inc()
        return entry

    def put(self, generation: int, key: tuple, status: str, headers: list, body: bytes) -> None:
        size = len(body) + sum(len(k) + len(v) for k, v in headers) + 200
        if size > self.max_entry_bytes:
            return
        with self._lock:
            if generation != self._generation or key in self._entries:
                return
            self._entries[key] = (status, headers, body)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, old_headers, old_body) = self._entries.popitem(last=False)
                self._bytes -= len(old_body) + sum(len(k) + len(v) for k, v in old_headers) + 200


class WebProcessApp:
    """The WSGI application of a web process: local reads from a fresh snapshot, the rest to the writer."""

    def __init__(self, app, platform, writer: Writer, cache_bytes: int) -> None:
        self.app, self.platform, self.writer = app, platform, writer
        self.cached = CachedApp(app, platform.store, cache_bytes) if cache_bytes > 0 else None
        self._refresh_lock = threading.Lock()

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if path.startswith(HEALTH_PREFIX):  # answered here; /health/ready asks the writer (writer_readiness)
            return self.app(environ, start_response)
        if not is_local(method, path) or keyed(environ) or not self.writer.ready():
            return forward(self.writer, environ, start_response)
        try:
            generation = self.fresh()
        except OSError:
            log.exception("cannot bring the snapshot up to date: handing the request to the writer")
            return forward(self.writer, environ, start_response)
        if self.cached is not None:
            return self.cached.serve(environ, start_response, generation)
        return self.app(environ, start_response)

    def writer_readiness(self) -> tuple[int | None, dict]:
        """Move to the writer's current snapshot when it is ready; return its generation and its readiness checks."""
        if self.writer.ready():
            self.fresh()
        return self.writer.generation(), self.writer.readiness()

    def fresh(self) -> int:
        """Move to the writer's snapshot when the store's generation moved; return the generation read from."""
        store = self.platform.store
        current = self.writer.generation()
        if current is None or current <= store.generation:
            return store.generation
        with self._refresh_lock:
            if self.writer.generation() > store.generation:  # another thread may have moved already
                if hasattr(store, "follow"):  # a remote store: the engine holds the writer's writes already
                    from sparql.store import read_generation

                    generation, modified = read_generation(self.writer.store_path) or (current, time.time())
                    self.platform.refresh(None, generation, modified)
                else:
                    answer = self.writer.snapshot()
                    self.platform.refresh(answer["path"], int(answer["generation"]), float(answer["modified"]))
        return store.generation


class CachedApp:
    """The answer cache in front of an application: a web process's (after it moved to the writer's snapshot),
    or the one process's (server.processes 1). An answer is kept for the store generation it was made from, and
    only when the store is still at that generation once it is made."""

    def __init__(self, app, store, cache_bytes: int) -> None:
        self.app, self.store, self.cache = app, store, ResponseCache(cache_bytes)

    def __call__(self, environ, start_response):
        return self.serve(environ, start_response, self.store.generation)

    def serve(self, environ, start_response, generation: int):
        key = self.cache.key(environ)
        if key is None:
            return self.app(environ, start_response)
        entry = self.cache.get(generation, key)
        if entry is not None:
            status, headers, body = entry
            start_response(status, headers)
            return [body]
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if captured.get("status", "").startswith("200") and generation == self.store.generation:
            self.cache.put(generation, key, captured["status"], list(captured["headers"]), body)
        return [body]


def _die_with_parent() -> None:
    """Ask the kernel to stop this process when the parent (the writer) dies, however it dies."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> int:
    """Run one web process: settings as JSON on stdin, the shared socket's descriptor and the writer's paths."""
    import signal

    _die_with_parent()
    fd, socket_path, ready_file, index = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    from config.settings import Settings

    settings = Settings.model_validate_json(sys.stdin.buffer.read())
    logging.basicConfig(level=settings.logging.level,
                        format=f"%(asctime)s %(levelname)s web{index} %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from server.app import create_app
    from server.front import make_server
    from server.platform import Platform

    from server.metrics import wrap_inner

    platform = Platform.open_reader(settings)
    app = create_app(settings, platform)
    writer = Writer(socket_path, settings.path(settings.store.path), Path(ready_file))
    web = None

    def _web(inner):
        nonlocal web
        web = WebProcessApp(inner, platform, writer, settings.server.cache_bytes)
        return web

    wrap_inner(app, _web)  # inside the request metrics: requests handed to the writer are counted here
    platform.extras["ask_writer"] = web.writer_readiness
    listener = socket.socket(fileno=fd)
    server = make_server(app, settings.server, sock=listener, proxies=settings.site.proxies)

    def _stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        if writer.ready():
            web.fresh()
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        platform.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
