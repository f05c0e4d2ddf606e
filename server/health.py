"""Answer a load balancer's health checks: /health/live (the process is up) and /health/ready (it can serve).

``/health/live`` answers 200 as long as the process answers HTTP at all; it reads nothing (no store, no index,
no other process), so a busy or degraded platform is not restarted for being slow.

``/health/ready`` answers 200 when every check passes and 503 naming the failing ones otherwise, each check with
a short detail. The checks (docs/deployment.md, "Health checks"):

- ``startup``: the start-up work is done (the demo's first harvests; the web processes' writer is ready);
- ``store``: the triple store answers (embedded: its handle is whole and answers ASK {}; remote: the engine
  answers ASK {} within a few seconds);
- ``indexes``: every derived index applied the last publish event (none missed one, none waits for disk space);
- ``csw``: the pycsw process runs (a check that finds it stopped starts it in the background: the next one
  passes once it is up);
- ``disk``: the data directory has more free space than ``storage.min_free_mb`` and no write is waiting for space;
- ``database``: each configured PostgreSQL database answers SELECT 1 (PostGIS features, ``database.url``);
- in a web process (server.processes > 1), ``snapshot``: it reads the writer's current generation; the other
  checks are the writer's, asked over the private socket (``writer`` fails when the writer does not answer).

No detail names a path, a URL, a host or a credential: the answer is public.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from flask import Blueprint, Response, current_app

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@bp.route("/health/live", methods=["GET", "HEAD"])
def live():
    """Answer 200 while the process serves HTTP (it looks at nothing else)."""
    return _json({"status": "live"}, 200)


@bp.route("/health/ready", methods=["GET", "HEAD"])
def ready():
    """Answer 200 when every check passes, else 503 naming the failing checks."""
    checks = readiness(current_app.extensions["wodp"])
    failing = [c.name for c in checks if not c.ok]
    body = {"status": "not ready" if failing else "ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}}
    if failing:
        body["failing"] = failing
    response = _json(body, 503 if failing else 200)
    if failing:
        response.headers["Retry-After"] = "5"
    return response


def _json(body: dict, status: int) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def readiness(platform) -> list[Check]:
    """Run the readiness checks of this process (a web process adds the writer's)."""
    if platform.extras.get("reader"):
        return reader_checks(platform)
    return [_startup(platform), _store(platform.store), _indexes(platform), *_csw(platform), *_disk(platform),
            *_databases(platform.settings)]


def checks_json(checks: list[Check]) -> dict:
    return {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}


def reader_checks(platform) -> list[Check]:
    """A web process: its own snapshot, then the writer's checks (server/web.py hands them over)."""
    ask = platform.extras.get("ask_writer")
    if ask is None:
        return [Check("writer", False, "this web process has no writer")]
    try:
        generation, writer = ask()
    except Exception as exc:  # noqa: BLE001  any failure to hear from the writer is the same answer
        log.warning("readiness: the writer did not answer: %s", exc)
        return [Check("writer", False, "the writer process is not answering")]
    checks = [Check(name, bool(c.get("ok")), str(c.get("detail", ""))) for name, c in writer.items()]
    store = platform.store
    if generation is None or store.generation < generation:
        checks.append(Check("snapshot", False, f"reading generation {store.generation}, the writer is at "
                                               f"{generation}"))
    else:
        checks.append(Check("snapshot", True, f"reading generation {store.generation}"))
    return checks


def _startup(platform) -> Check:
    warm_up = platform.extras.get("warm_up")
    if warm_up is not None and not warm_up.is_set():
        return Check("startup", False, "the demo is running its first harvests")
    return Check("startup", True, "done")


def _store(store) -> Check:
    from sparql.store import OxigraphStore

    if not isinstance(store, OxigraphStore):  # a remote SPARQL engine (sparql/remote.py)
        return _remote_store(store)
    if getattr(store, "broken", None):
        return Check("store", False, "embedded: a write failed; the store waits to be reopened")
    try:
        store.query("ASK {}")
    except Exception as exc:  # noqa: BLE001
        log.warning("readiness: the store did not answer: %s", exc)
        return Check("store", False, "embedded: the store does not answer")
    return Check("store", True, f"embedded, generation {store.generation}")


def _remote_store(store) -> Check:
    import httpx

    try:
        answer = httpx.post(store.url, data={"query": "ASK {}"}, timeout=PROBE_TIMEOUT_S, trust_env=False,
                            headers={"Accept": "application/sparql-results+json"})
        answered = answer.status_code < 400
    except httpx.HTTPError as exc:
        log.warning("readiness: the remote store did not answer: %s", type(exc).__name__)
        answered = False
    if not answered:
        return Check("store", False, "remote: the SPARQL engine does not answer")
    return Check("store", True, f"remote, generation {store.generation}")


def _indexes(platform) -> Check:
    lag = platform.index_lag()
    behind = {name: n for name, n in lag.items() if n > 0}
    if behind:
        waiting = {type(i).__name__ for i in getattr(platform, "_behind", ())}
        parts = [f"{name} missed {n} publish event{'s' if n > 1 else ''}"
                 + (" (waits for disk space)" if name in waiting else
                    " (missed an event; repaired at the next start)" if name in platform.missed else "")
                 for name, n in sorted(behind.items())]
        return Check("indexes", False, "; ".join(parts))
    return Check("indexes", True, f"{len(lag)} indexes in step with the store")


_starting: dict[int, threading.Thread] = {}
_start_errors: dict[int, str] = {}


def _csw(platform) -> list[Check]:
    csw = platform.csw
    if csw is None:
        return []
    key = id(csw)
    thread = _starting.get(key)
    if thread is not None and thread.is_alive():
        return [Check("csw", False, "pycsw is starting")]
    if csw.pid is not None:
        return [Check("csw", True, "pycsw runs")]
    error = _start_errors.pop(key, None)
    _starting[key] = thread = threading.Thread(target=_start_csw, args=(csw, key), name="csw-start", daemon=True)
    thread.start()
    if error:
        return [Check("csw", False, f"pycsw is not running ({error}); starting it again")]
    return [Check("csw", False, "pycsw is not running; starting it")]


def _start_csw(csw, key: int) -> None:
    try:
        csw.ensure_running()
    except Exception as exc:  # noqa: BLE001  told at the next check
        message = getattr(exc, "message", None) or type(exc).__name__
        _start_errors[key] = "it could not start" if "/" in message else message  # no path in a public answer


def _disk(platform) -> list[Check]:
    guard = platform.storage
    if guard is None:
        return []
    try:
        free = guard.free_bytes()
    except OSError:
        return [Check("disk", False, "the free space of the data directory cannot be read")]
    if free < guard.min_free_bytes:
        return [Check("disk", False, "the data directory's free space is below storage.min_free_mb")]
    if guard.degraded:
        return [Check("disk", False, "a write failed for lack of space; waiting to recover")]
    return [Check("disk", True, "free space above storage.min_free_mb")]


def _databases(settings) -> list[Check]:
    """Ping each configured PostgreSQL database (features on PostGIS; database.url when that setting exists)."""
    targets = []
    if settings.features.backend == "postgis" and settings.features.dsn:
        targets.append(("features", settings.features.dsn))
    database = getattr(settings, "database", None)
    url = getattr(database, "url", None)
    if url and url.split(":", 1)[0].startswith("postgres"):
        targets.append(("database", url))
    if not targets:
        return []
    failed = [name for name, dsn in targets if not _ping_postgres(dsn)]
    if failed:
        return [Check("database", False, f"PostgreSQL does not answer ({', '.join(failed)})")]
    return [Check("database", True, f"PostgreSQL answers ({', '.join(n for n, _ in targets)})")]


def _ping_postgres(dsn: str) -> bool:
    import psycopg

    if dsn.startswith("postgresql+") or dsn.startswith("postgres+"):  # an SQLAlchemy URL: drop the driver
        dsn = "postgresql" + dsn[dsn.index(":"):]
    try:
        with psycopg.connect(dsn, connect_timeout=int(PROBE_TIMEOUT_S), autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception as exc:  # noqa: BLE001  never logged with the DSN: it may hold a password
        log.warning("readiness: PostgreSQL did not answer: %s", type(exc).__name__)
        return False
