"""Serve Prometheus metrics at /metrics and count every request (docs/deployment.md, "Metrics").

``RequestMetrics`` wraps the application outermost in the process that accepted the client's connection: it
counts the request by route template (the URL rule, never the raw path: ``/datasets/<dataset_id>``), method and
status class, times it to the end of its answer and counts the requests in flight. A request a web process
hands to the writer is counted once, by the web process (the writer skips what arrives on its private socket).

``/metrics`` answers the metrics of every process (summed over the web processes and the writer in multi-process
mode: core/metrics.py) plus the state of this platform read at scrape time (``PlatformCollector``): store size,
index lag, queue depths. With several web processes the request is handed to the writer, which holds that state.
Only clients in ``metrics.allow`` may read it (others get 403); ``metrics.enabled`` false answers 404.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from core.errors import WodpError
from core.metrics import exposition, method_label, metrics, status_class

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
FORWARDED = "wodp.forwarded"  # set by the writer's socket (server/processes.py): counted by the web process
UNMATCHED = "<unmatched>"
SIZE_EVERY_S = 30.0  # bytes on disk are summed at most this often
MATCHED_PATHS = 4096  # paths whose rule is remembered (answers from the cache or from the writer)


class MetricsForbiddenError(WodpError):
    status = 403
    code = "forbidden"


@bp.route("/metrics", methods=["GET"])
def scrape():
    """Answer the metrics in Prometheus's text format, to allowed clients only."""
    platform = current_app.extensions["wodp"]
    settings = platform.settings.metrics
    if not settings.enabled:
        raise NotFound()
    if not allowed(request.remote_addr or "", tuple(settings.allow)):
        raise MetricsForbiddenError("the metrics answer the addresses of metrics.allow only")
    collector = platform.extras.get("metrics_collector")
    if collector is None:
        collector = platform.extras["metrics_collector"] = PlatformCollector(platform)
    body, content_type = exposition([collector])
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


@lru_cache(maxsize=64)
def _networks(allow: tuple[str, ...]):
    return [ipaddress.ip_network(entry, strict=False) for entry in allow]


def allowed(address: str, allow: tuple[str, ...]) -> bool:
    """Tell whether a client address is in one of the allowed networks (an IPv4-mapped IPv6 counts as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _networks(allow))


# -- requests -------------------------------------------------------------------------------------------------
class RequestMetrics:
    """WSGI middleware counting and timing requests by route template; ``inner`` may be wrapped further."""

    def __init__(self, app, url_map) -> None:
        self.inner, self.url_map = app, url_map
        self._matched: dict[tuple, str] = {}  # (method, script, path) → rule, oldest first
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get(FORWARDED):
            return self.inner(environ, start_response)
        m = metrics()
        started = time.perf_counter()
        m.in_flight.inc()
        seen: dict = {}

        def start(status, headers, exc_info=None):
            seen["status"] = status
            return start_response(status, headers, exc_info)

        try:
            body = self.inner(environ, start)
        except BaseException:
            self._record(environ, "500", started)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(body, wrapper):  # kept as is: the server may send the file
            self._record(environ, seen.get("status", "500"), started)
            return body
        return _Closing(body, lambda: self._record(environ, seen.get("status", "500"), started))

    def _record(self, environ, status: str, started: float) -> None:
        m = metrics()
        m.in_flight.dec()
        try:
            code = int(status.split(" ", 1)[0])
        except ValueError:
            code = 0
        route, method = self.route(environ), method_label(environ.get("REQUEST_METHOD", ""))
        m.requests.labels(route, method, status_class(code)).inc()
        m.latency.labels(route, method).observe(time.perf_counter() - started)

    def route(self, environ) -> str:
        """Return the URL rule the request matches (its template), or "<unmatched>".

        Flask matched it already when it answered (its request object is in the environ); an answer from the
        cache or from the writer is matched here, remembered for the most recent paths.
        """
        handled = environ.get("werkzeug.request")
        rule = getattr(handled, "url_rule", None)
        if rule is not None:
            return rule.rule
        key = (environ.get("REQUEST_METHOD", ""), environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
        found = self._matched.get(key)
        if found is None:
            found = self._match(environ)
            with self._lock:
                if len(self._matched) >= MATCHED_PATHS:
                    self._matched.pop(next(iter(self._matched)), None)
                self._matched[key] = found
        return found

    def _match(self, environ) -> str:
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except (NotFound, MethodNotAllowed):
            return UNMATCHED
        except Exception:  # noqa: BLE001  a redirect (strict slashes) or a malformed host: no template
            return UNMATCHED
        return rule.rule


class _Closing:
    """The answer's body; ``done`` runs once, when the body has been read through or closed, whichever is first."""

    def __init__(self, body, done) -> None:
        self.body, self.done, self._finished = body, done, False

    def __iter__(self):
        yield from self.body
        self._finish()

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self.done()

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self._finish()


def install(app) -> None:
    """Count the requests of ``app`` (outermost wrapper; a later wrapper goes inside: ``wrap_inner``)."""
    app.wsgi_app = RequestMetrics(app.wsgi_app, app.url_map)


def wrap_inner(app, wrap) -> None:
    """Put ``wrap(inner)`` inside the request metrics (or outermost when they are not installed)."""
    holder, outer = None, app.wsgi_app
    if getattr(outer, "outermost", False):  # the usage counting stays outside everything (server/usage_counting.py)
        holder, outer = outer, outer.inner
    if isinstance(outer, RequestMetrics):
        outer.inner = wrap(outer.inner)
    elif holder is not None:
        holder.inner = wrap(outer)
    else:
        app.wsgi_app = wrap(outer)


# -- the platform's state at scrape time ------------------------------------------------------------------------
class PlatformCollector:
    """Gauges of the platform's state, read when Prometheus scrapes (this process's parts)."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self._datasets: tuple[int, int] | None = None  # (generation, count)
        self._bytes: tuple[float, dict[str, int]] | None = None

    def describe(self):
        return []  # read at scrape time only (not at registration)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        p = self.platform
        families = []

        def gauge(name: str, text: str, value=None, labels=None, rows=()):
            family = GaugeMetricFamily("wodp_" + name, text, value=value, labels=labels)
            for label_values, v in rows:
                family.add_metric(label_values, v)
            families.append(family)

        store = p.store
        gauge("store_generation", "Generation of the store (one more at each change)", store.generation)
        datasets = self._count(store)
        if datasets is not None:
            gauge("store_datasets", "Datasets in the store", datasets)
        for part, size in self._sizes().items():
            gauge(f"{part}_bytes", f"Bytes on disk of the {part.replace('_', ' ')}", size)
        if p.storage is not None:
            try:
                gauge("disk_free_bytes", "Free bytes of the data directory's filesystem", p.storage.free_bytes())
            except OSError:
                pass
        if p.followers:
            gauge("index_lag_events", "Publish events each derived index has not applied (0: in step with the store)",
                  labels=["index"], rows=[([name], lag) for name, lag in sorted(p.index_lag().items())])
        worker = getattr(getattr(p.csw, "repository", None), "_worker", None)
        if p.csw is not None:
            pending = (worker.submitted - worker.done) if worker is not None else 0
            gauge("csw_index_pending_events", "Publish events handed to the CSW index worker, not yet written",
                  pending)
            gauge("csw_up", "1 when the pycsw process runs", 1 if p.csw.pid is not None else 0)
        self._sandbox(p.sandbox, gauge)
        self._pool(p.pool, gauge)
        self._harvest(p, gauge)
        self._calendar(gauge)
        if p.audit is not None:  # entries that could not be written (the action stood): any is an alert
            gauge("audit_write_failures", "Audit log entries this process could not write since it started",
                  getattr(p.audit, "failures", 0))
        return families

    @staticmethod
    def _calendar(gauge) -> None:
        from manage.freshness import beijing_today
        from manage.workdays import covered_days_ahead

        gauge("calendar_covered_days_ahead", "Days after today (Beijing) the official working-day calendar is known "
              "(chinese-calendar and manage.holidays_file); working-day deadlines beyond it are unknown",
              covered_days_ahead(beijing_today()))

    def _count(self, store) -> int | None:
        cached = self._datasets
        if cached is not None and cached[0] == store.generation:
            return cached[1]
        try:
            count = store.count_datasets()
        except Exception as exc:  # noqa: BLE001  a store that does not answer: the gauge is left out
            log.warning("metrics: cannot count the datasets: %s", type(exc).__name__)
            return None
        self._datasets = (store.generation, count)
        return count

    def _sizes(self) -> dict[str, int]:
        now = time.monotonic()
        if self._bytes is not None and now - self._bytes[0] < SIZE_EVERY_S:
            return self._bytes[1]
        settings, sizes = self.platform.settings, {}
        store_path = getattr(self.platform.store, "path", None)
        if store_path is not None and not self.platform.extras.get("reader") and not settings.store.url:
            sizes["store"] = _tree_bytes(store_path)
        sizes["data_directory"] = _tree_bytes(settings.home, skip=("snapshots", "metrics"))
        self._bytes = (now, sizes)
        return sizes

    @staticmethod
    def _sandbox(sandbox, gauge) -> None:
        if sandbox is None or not hasattr(sandbox, "_waiting"):
            return
        gauge("sandbox_waiting_tasks", "Tasks waiting for a sandbox slot (uploads, pushes, harvest pages)",
              sandbox._waiting)
        gauge("sandbox_workers", "Sandbox worker processes", len(sandbox.worker_pids()))

    @staticmethod
    def _pool(pool, gauge) -> None:
        if pool is None or not hasattr(pool, "_idle"):
            return
        workers = len(pool.worker_pids())
        gauge("sparql_workers", "SPARQL worker processes", workers)
        gauge("sparql_workers_busy", "SPARQL worker processes running a query", max(0, workers - pool._idle.qsize()))

    @staticmethod
    def _harvest(platform, gauge) -> None:
        harvesting = platform.harvesting
        if harvesting is None:
            return
        gauge("harvest_running_jobs", "Harvest jobs running in this process", harvesting.running())
        scheduled = sum(1 for s in harvesting.configured() if s.enabled and s.schedule) \
            if platform.scheduler is not None else 0   # the settings' sources and the console's
        gauge("harvest_scheduled_sources", "Enabled harvest sources with a schedule the scheduler runs", scheduled)
        if harvesting.queue is not None:  # harvest.queue postgres: the tasks of every worker, by status
            try:
                depth = harvesting.queue.depth()
            except Exception as exc:  # noqa: BLE001  the scrape still answers the rest
                log.warning("cannot count the harvest queue: %s", exc)
                return
            gauge("harvest_queue_tasks", "Harvest tasks on the PostgreSQL queue, by status", labels=["status"],
                  rows=[((status,), n) for status, n in sorted(depth.items())])


def _tree_bytes(root, skip: tuple[str, ...] = ()) -> int:
    """Sum the sizes of the files under ``root`` (hard links counted once; top-level ``skip`` left out)."""
    total, seen = 0, set()
    for top, dirs, files in os.walk(root):
        if top == str(root):
            dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total
