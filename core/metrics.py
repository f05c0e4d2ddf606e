"""Count what the platform does, for Prometheus: one set of metrics per process, any part may update it.

prometheus_client chooses at import time whether values live in memory or in files shared by several processes
(``PROMETHEUS_MULTIPROC_DIR``). So nothing imports it at module level here: an entry point that runs several
processes calls ``use_multiprocess(directory)`` first (the writer, before it starts its web processes, which
inherit the variable); every other process keeps its values in memory. ``metrics()`` makes the set on first use.

Labels are bounded: route templates (never raw paths), status classes, methods from a fixed list, source kinds,
job statuses and SPARQL outcomes. Gauges that describe the state of one process (queue depths, store size) are
not kept here: the process that owns that state reports them at scrape time (server/metrics.py).
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "wodp_"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HARVEST_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

_lock = threading.Lock()
_set: "Metrics | None" = None


@dataclass(frozen=True)
class Metrics:
    """The metrics of this process (prometheus_client objects)."""

    requests: object  # Counter: route, method, status class
    latency: object  # Histogram: route, method
    in_flight: object  # Gauge (live sum over processes)
    sparql_queries: object  # Counter: outcome (answered, timeout, refused, busy, error)
    harvest_jobs: object  # Counter: kind, status
    harvest_seconds: object  # Histogram: kind
    cache: object  # Counter: result (hit, miss)


def multiprocess_dir() -> Path | None:
    """Return the directory of shared values when this process writes there, else None."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def use_multiprocess(directory: Path, *, clean: bool = True) -> None:
    """Keep this process's values (and those of the processes it starts) in ``directory``.

    Call before the first metric is made. ``clean`` empties the directory: values of an earlier run must not
    count again (the writer cleans it at start, the web processes it starts do not).
    """
    directory = Path(directory)
    if clean:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(directory)
    from prometheus_client import values

    with _lock:
        if _set is None and not getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MultiProcessValue()  # imported before the variable was set


def process_dead(pid: int) -> None:
    """Drop the live gauges of a process that ended (its counters keep counting in the sum)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def metrics() -> Metrics:
    """Return this process's metrics, made on first use."""
    global _set
    if _set is not None:
        return _set
    with _lock:
        if _set is None:
            _set = _make()
    return _set


def _make() -> Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        requests=Counter(PREFIX + "http_requests", "HTTP requests answered, by route template, method and status "
                         "class", ["route", "method", "status"]),
        latency=Histogram(PREFIX + "http_request_duration_seconds", "Time from a request's arrival to the end of "
                          "its answer, by route template and method", ["route", "method"], buckets=LATENCY_BUCKETS),
        in_flight=Gauge(PREFIX + "http_requests_in_flight", "Requests being answered now",
                        multiprocess_mode="livesum"),
        sparql_queries=Counter(PREFIX + "sparql_queries", "SPARQL queries by outcome: answered, timeout (stopped at "
                               "sparql.timeout_s), refused (update, too long, too deep, a known crasher), busy (no "
                               "worker or the client's share taken), error", ["outcome"]),
        harvest_jobs=Counter(PREFIX + "harvest_jobs", "Harvest jobs ended, by source kind and status", ["kind",
                             "status"]),
        harvest_seconds=Histogram(PREFIX + "harvest_job_duration_seconds", "Duration of harvest jobs by source kind",
                                  ["kind"], buckets=HARVEST_BUCKETS),
        cache=Counter(PREFIX + "answer_cache_lookups", "Lookups of the answer cache (server.cache_bytes) by result",
                      ["result"]),
    )


def method_label(method: str) -> str:
    """Return the method as a label: one of the known methods, or "other"."""
    return method if method in METHODS else "other"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def exposition(extra=()) -> tuple[bytes, str]:
    """Return the text of every metric (summed over the processes in multi-process mode) and its media type.

    ``extra`` are collectors of this process's state (objects with ``collect()``), added to the answer.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    metrics()  # made before the first scrape, so that a fresh process shows its metrics at zero
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))
    else:
        registry = CollectorRegistry()
        registry.register(_Merged(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Merged:
    """The default registry's metrics (ours, and the process and Python collectors) inside another registry."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def collect(self):
        return self.registry.collect()
