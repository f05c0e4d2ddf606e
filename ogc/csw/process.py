"""Own the pycsw repository and the pycsw child process behind /csw.

pycsw 2.6.2 needs SQLAlchemy < 2 and OWSLib < 0.29, which clash with the main environment (docs/csw.md): it
runs in its own virtual environment, as a waitress server on a free loopback port. The process starts on the
first CSW request (most platforms never answer one), is restarted when it has died, and stops with the platform.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.errors import WodpError
from ogc.csw.databases import URL_ENV, redacted
from ogc.csw.repository import CswRepository

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
FORWARDED_HEADERS = ("Accept", "Content-Type", "Accept-Language")


class CswUnavailableError(WodpError):
    """The pycsw process cannot answer (not installed, not starting, dead or too slow)."""

    status = 503
    code = "csw-unavailable"


@dataclass(frozen=True)
class CswAnswer:
    """What pycsw answered: status, content type and body, passed through to the client."""

    status: int
    content_type: str
    body: bytes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pycsw_sections(settings, database: str, table: str = "records") -> dict:
    """Return pycsw's configuration (section → option → value) from the platform settings.

    ``database`` is pycsw's SQLAlchemy URL of the repository (``CswRepository.pycsw_url``), ``table`` its table.
    """
    site, csw = settings.site, settings.csw
    return {
        "server": {"url": f"{settings.base_uri}/csw", "mimetype": "application/xml; charset=UTF-8",
                   "encoding": "UTF-8", "language": "en-US", "maxrecords": str(csw.max_records),
                   "pretty_print": "false", "domainquerytype": "list", "domaincounts": "false",
                   "profiles": "apiso", "spatial_ranking": "false",
                   "ogc_schemas_base": "http://schemas.opengis.net"},
        "manager": {"transactions": "false", "allowed_ips": "127.0.0.1"},
        "metadata:main": {
            "identification_title": f"{site.title_zh} {site.title_en}",
            "identification_abstract": f"{site.description_zh} {site.description_en}",
            "identification_keywords": "开放数据,政府数据,武汉,open data,government,Wuhan",
            "identification_keywords_type": "theme", "identification_fees": "None",
            "identification_accessconstraints": "None",
            "provider_name": site.publisher, "provider_url": settings.base_uri,
            "contact_name": site.publisher, "contact_position": "管理中心 Management center",
            "contact_address": "", "contact_city": "武汉 Wuhan", "contact_stateorprovince": "湖北 Hubei",
            "contact_postalcode": "", "contact_country": "中国 China", "contact_phone": "", "contact_fax": "",
            "contact_email": "", "contact_url": settings.base_uri, "contact_hours": "", "contact_instructions": "",
            "contact_role": "pointOfContact"},
        "metadata:inspire": {"enabled": "false"},
        "repository": {"database": database, "table": table},
    }


def open_repository(settings) -> CswRepository:
    """Open pycsw's repository where the settings put it: PostgreSQL when database.url is set, else SQLite."""
    if settings.database.url:
        return CswRepository(settings.database.url)
    return CswRepository(settings.path(settings.csw.path))


class CswService:
    """The repository (a derived index following publish events) and the pycsw process reading it."""

    def __init__(self, settings, repository: CswRepository | None = None) -> None:
        self.settings = settings
        self.home = settings.home / "csw"
        self.home.mkdir(parents=True, exist_ok=True)
        self.repository = repository or open_repository(settings)
        self.python = Path(settings.csw.python) if settings.csw.python else ROOT / ".venv-csw" / "bin" / "python"
        self.timeout_s = settings.csw.timeout_s
        self._proc: subprocess.Popen | None = None
        self._port: int | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=self.timeout_s, trust_env=False)
        self.starts = 0  # how many times the process was started (restarts show here)

    # -- the derived index -----------------------------------------------------------------------
    def follow(self, store, event) -> None:
        """Follow a publish event (the platform calls this for every follower)."""
        self.repository.follow(store, event)

    def in_step_with(self, store) -> bool:
        return self.repository.in_step_with(store)

    def rebuild(self, store) -> None:
        self.repository.rebuild(store)

    # -- the process ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The process id of pycsw while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> None:
        if not self.python.exists():
            raise CswUnavailableError(f"the CSW service is not installed ({self.python} is missing; run make venv)")
        config = self.home / "pycsw.json"
        repository = self.repository
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "WODP_", "VIRTUAL_ENV"))}
        env["PYTHONPATH"] = str(ROOT)
        database = repository.pycsw_url
        if repository.path is None:  # PostgreSQL: the URL (a secret) goes through the environment, not the file
            env[URL_ENV] = repository.db.pycsw_url_limited(self.timeout_s)
            database = f"(from {URL_ENV}: {redacted(database)})"
        config.write_text(json.dumps(pycsw_sections(self.settings, database, repository.table),
                                     ensure_ascii=False, indent=1), encoding="utf-8")
        port = free_port()
        with open(self.home / "pycsw.log", "ab") as logfile:
            self._proc = subprocess.Popen(
                [str(self.python), "-m", "ogc.csw.service", "--port", str(port), "--config", str(config)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT)
        self._port = port
        self.starts += 1
        self._wait_ready()
        log.info("pycsw started (pid %d, port %d)", self._proc.pid, port)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.home / "pycsw.log").read_text("utf-8", errors="replace")[-2000:]
                log.error("pycsw exited with %s while starting:\n%s", self._proc.returncode, tail)
                raise CswUnavailableError("the CSW service could not start; see the server log")
            try:
                with socket.create_connection(("127.0.0.1", self._port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self._stop()
        raise CswUnavailableError(f"the CSW service did not start within {START_TIMEOUT_S:.0f} s")

    def ensure_running(self) -> str:
        """Start pycsw if it is not running (first request, or after it died); return its URL."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    log.warning("pycsw (pid %d) exited with %s: restarting", self._proc.pid, self._proc.returncode)
                self._start()
            return f"http://127.0.0.1:{self._port}/csw"

    def forward(self, method: str, query: str, body: bytes, headers: dict[str, str]) -> CswAnswer:
        """Send one CSW request to pycsw and return its answer; restart it once if it died."""
        self.repository.flush()  # every publish finished before this request is in the answer
        sent = {k: v for k, v in headers.items() if k in FORWARDED_HEADERS}
        for attempt in (1, 2):
            url = self.ensure_running()
            try:
                response = self._client.request(method, f"{url}?{query}" if query else url,
                                                content=body or None, headers=sent)
            except httpx.TimeoutException as exc:
                log.warning("pycsw did not answer within %g s: stopping it (the next request restarts it)",
                            self.timeout_s)
                with self._lock:
                    self._stop()
                raise CswUnavailableError(f"the CSW service did not answer within {self.timeout_s:g} s") from exc
            except httpx.TransportError as exc:
                if attempt == 2:
                    raise CswUnavailableError("the CSW service is not reachable") from exc
                log.warning("pycsw did not answer (%s): restarting it", exc)
                with self._lock:
                    self._stop()
                continue
            return CswAnswer(response.status_code, response.headers.get("content-type", "application/xml"),
                             response.content)
        raise CswUnavailableError("the CSW service is not reachable")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        """Stop pycsw and close the repository (twice is harmless)."""
        with self._lock:
            self._stop()
        self._client.close()
        self.repository.close()
