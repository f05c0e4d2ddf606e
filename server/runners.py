"""Run the platform as several processes on the scaled-out configuration (docs/scale-out.md, "Several processes").

- ``wodp worker``: a harvest worker. It opens its own platform (a writer of the shared store and indexes) and
  takes harvest tasks from the PostgreSQL queue (harvesters/queue.py) until stopped; ``--scheduler`` also runs
  the sources' schedules there, deferring each due harvest to the queue, and the daily job (freshness, work
  orders, data checks: manage/daily.py) (run it in one worker only).
- ``wodp serve --gunicorn --workers N``: the web under gunicorn. Each gunicorn worker opens its own platform
  over the shared engines (a remote store, ``store.url``): it answers reads itself and makes writes (pushes,
  loads) itself, in turn with the other processes of the home (sparql/shared.py); before each request it moves
  to the generation the other processes published (``Platform.follow_shared``), which keys its answer cache.
  Harvests asked of it go to the queue (harvest.queue postgres) or run in it (inline).
"""

from __future__ import annotations

import logging
import os
import signal

from core.errors import WodpError

log = logging.getLogger(__name__)


def cmd_worker(settings, concurrency: int, scheduler: bool) -> int:
    """Take harvest tasks from the queue until SIGINT/SIGTERM (the task in hand is finished first)."""
    if settings.harvest.queue != "postgres" or not settings.database.url:
        raise WodpError("wodp worker takes harvest tasks from the queue: set harvest.queue to postgres and "
                        "database.url (docs/scale-out.md)")
    from server.platform import Platform

    platform = Platform.open(settings)
    harvesting = platform.harvesting
    if scheduler and harvesting is not None:
        from harvesters.scheduler import Scheduler

        platform.scheduler = Scheduler(harvesting, settings.harvest)  # due harvests are deferred to the queue
        platform.scheduler.start()
    if scheduler:  # the daily job (freshness, work orders, data checks) in one process of the deployment: the
        platform.start_daily()  # gunicorn web workers run none of it
    print(f"wodp worker {os.getpid()} taking harvest tasks ({concurrency} at a time) for {settings.home}",
          flush=True)
    try:
        harvesting.queue.work(harvesting, concurrency=concurrency)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        shared = getattr(platform.store, "_shared", None)
        if shared is not None:
            log.info("worker %d held the store for its publications %.1f s, waited for other processes %.1f s; "
                     "held the indexes %.1f s, waited %.1f s", os.getpid(), shared.store.held_s,
                     shared.store.waited_s, shared.indexes.held_s, shared.indexes.waited_s)
        platform.close()
    return 0


class FollowShared:
    """Before each request, move this process to the generation the other processes published; then answer
    (through the answer cache when there is one, keyed by that generation)."""

    def __init__(self, inner, platform, cache_bytes: int) -> None:
        from server.web import CachedApp

        self.inner, self.platform = inner, platform
        self.cached = CachedApp(inner, platform.store, cache_bytes) if cache_bytes > 0 else None

    def __call__(self, environ, start_response):
        generation = self.platform.follow_shared()
        if self.cached is not None:
            return self.cached.serve(environ, start_response, generation)
        return self.inner(environ, start_response)


def serve_gunicorn(settings, workers: int) -> int:
    """Serve the site with ``workers`` gunicorn worker processes, each with its own platform."""
    if not settings.store.url:
        raise WodpError("wodp serve --gunicorn needs a remote store (store.url): the embedded store opens in one "
                        "process only (docs/scale-out.md)")
    from gunicorn.app.base import BaseApplication

    from core.metrics import process_dead, use_multiprocess

    if settings.metrics.enabled:
        use_multiprocess(settings.home / "metrics")  # every worker's values, summed at /metrics
    opened: dict = {}

    def post_worker_init(worker) -> None:  # noqa: ARG001
        log.info("gunicorn worker %d ready", os.getpid())

    def worker_exit(server, worker) -> None:  # noqa: ARG001
        platform = opened.pop("platform", None)
        if platform is not None:
            platform.close()

    def child_exit(server, worker) -> None:  # noqa: ARG001
        process_dead(worker.pid)  # its in-flight gauge no longer counts

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            s = settings.server
            for key, value in {"bind": f"{s.host}:{s.port}", "workers": workers, "worker_class": "gthread",
                               "threads": s.threads, "timeout": 300, "graceful_timeout": 10,
                               "keepalive": int(s.idle_timeout_s), "limit_request_line": 8190,
                               "worker_exit": worker_exit, "child_exit": child_exit,
                               "post_worker_init": post_worker_init, "accesslog": None,
                               "proc_name": "wodp-web"}.items():
                self.cfg.set(key, value)

        def load(self):
            return _worker_app(settings, opened)

    print(f"wodp serving {settings.home} on http://{settings.server.host}:{settings.server.port} with {workers} "
          f"gunicorn workers (store {settings.store.url})", flush=True)
    Gunicorn().run()
    return 0


def _worker_app(settings, opened: dict):
    """Open this gunicorn worker's platform and application (called in the worker, after the fork)."""
    from server.app import create_app
    from server.metrics import wrap_inner
    from server.platform import Platform

    from contextlib import nullcontext

    from server import catalogue

    platform = Platform.open(settings)
    opened["platform"] = platform
    with getattr(platform.store, "exclusive", nullcontext)():  # one worker writes them; the others find them
        catalogue.install_in(platform)  # the vocabulary graphs, as `wodp serve` does: only what changed
    if platform.csw is not None:  # this worker's pycsw, before it takes its first connection (/health/ready)
        try:
            platform.csw.ensure_running()
        except Exception as exc:  # noqa: BLE001  /health/ready names it; the first /csw request tries again
            log.warning("pycsw did not start in gunicorn worker %d: %s", os.getpid(), exc)
    app = create_app(settings, platform)
    wrap_inner(app, lambda inner: FollowShared(inner, platform, settings.server.cache_bytes))
    return app
