"""Run the site as one writer and several web processes (server.processes > 1; docs/architecture.md).

``WebProcesses`` is run by the `wodp serve` (or `wodp demo`) process, which stays the writer: it holds the store
read-write, the gate, the scheduler, the SPARQL workers and pycsw. It

- serves the whole application on a private Unix socket (mode 0600, in a directory of its own), where the web
  processes hand over what they do not answer themselves (server/web.py); on that socket only, the client's
  address the web process names is believed, and ``/_wodp/snapshot`` gives the snapshot of the current store
  generation (made at most once per generation, shared with the SPARQL workers: sparql/snapshots.py);
- makes the public listening socket and starts ``server.processes`` web processes that share it;
- restarts a web process that dies, and stops them all, promptly, when it stops (each also dies with it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.metrics import process_dead
from server.front import listen_socket, make_server
from server.metrics import FORWARDED
from server.web import CLIENT_HEADER, SNAPSHOT_PATH

log = logging.getLogger(__name__)
ROOT = str(Path(__file__).resolve().parents[1])
_CLIENT_KEY = "HTTP_" + CLIENT_HEADER.upper().replace("-", "_")


class WriterSocketApp:
    """The writer's application as the web processes reach it over the private socket."""

    def __init__(self, app, platform, snapshots) -> None:
        self.app, self.platform, self.snapshots = app, platform, snapshots

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == SNAPSHOT_PATH:
            if self.snapshots is None:  # a remote store: the web processes read the engine itself
                start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
                return [b""]
            generation, path = self.snapshots.current()
            body = json.dumps({"generation": generation, "path": path,
                               "modified": getattr(self.platform.store, "_modified", time.time())}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        environ[FORWARDED] = True  # counted by the web process that accepted it (server/metrics.py)
        environ["REMOTE_ADDR"] = environ.pop(_CLIENT_KEY, "") or "unknown"
        scheme = environ.pop("HTTP_X_WODP_SCHEME", "")
        if scheme in ("http", "https"):
            environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


class WebProcesses:
    """The writer's side: its private socket, the shared public socket and the web processes."""

    def __init__(self, settings, app, platform, ready: threading.Event | None = None) -> None:
        self.settings, self.app, self.platform = settings, app, platform
        self.count = settings.server.processes
        self.ready_event = ready
        self.runtime = Path(tempfile.mkdtemp(prefix="wodp-"))  # 0700: the writer's socket lives here
        self.socket_path = str(self.runtime / "writer.sock")
        self.ready_file = self.runtime / "ready"
        self.children: list[subprocess.Popen | None] = [None] * self.count
        self.restarts = 0
        self._stopping = threading.Event()
        self._listener = None
        self._writer_server = None

    def start(self) -> str:
        """Serve the writer's socket, open the public socket, start the web processes; return the public URL."""
        from sparql.snapshots import Snapshots

        platform, settings = self.platform, self.settings
        snapshots = (platform.pool.snapshots if platform.pool is not None
                     else Snapshots(platform.store, settings.home / "snapshots"))
        inner = WriterSocketApp(self.app, platform, snapshots)
        self._writer_server = make_server(inner, settings.server, unix_socket=self.socket_path,
                                          proxies=settings.site.proxies)
        threading.Thread(target=self._writer_server.run, name="writer-socket", daemon=True).start()
        host, port = settings.server.host, settings.server.port
        self._listener = listen_socket(host, port)
        for index in range(self.count):
            self.children[index] = self._spawn(index)
        threading.Thread(target=self._open_when_ready, name="web-ready", daemon=True).start()
        return f"http://{host}:{self._listener.getsockname()[1]}"

    def _open_when_ready(self) -> None:
        if self.ready_event is not None:
            while not self.ready_event.wait(0.5):
                if self._stopping.is_set():
                    return
        self.ready_file.touch()  # from now on the web processes answer reads themselves

    def _spawn(self, index: int) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        fd = self._listener.fileno()
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.web", str(fd), self.socket_path, str(self.ready_file), str(index)],
            stdin=subprocess.PIPE, pass_fds=(fd,), env=env, cwd=ROOT)
        proc.stdin.write(self.settings.model_dump_json().encode())  # secrets too: a pipe, never a file
        proc.stdin.close()
        log.info("web process %d started (pid %d)", index, proc.pid)
        return proc

    def watch(self) -> None:
        """Restart web processes that die, until stop() (runs in the calling thread)."""
        while not self._stopping.wait(0.5):
            for index, proc in enumerate(self.children):
                if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                    log.warning("web process %d (pid %d) exited with %s: starting another", index, proc.pid,
                                proc.returncode)
                    process_dead(proc.pid)  # its in-flight gauge no longer counts
                    self.restarts += 1
                    self.children[index] = self._spawn(index)

    def pids(self) -> list[int]:
        return [p.pid for p in self.children if p is not None]

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the web processes (SIGTERM, then SIGKILL after grace_s) and the writer's socket."""
        self._stopping.set()
        procs = [p for p in self.children if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            process_dead(proc.pid)
        if self._listener is not None:
            self._listener.close()
        if self._writer_server is not None:
            self._writer_server.close()
        shutil.rmtree(self.runtime, ignore_errors=True)
