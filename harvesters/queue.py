"""Run harvest jobs as tasks on a PostgreSQL queue (procrastinate) that any number of worker processes take from.

Chosen by ``harvest.queue: postgres`` with ``database.url`` set; the default (``inline``) runs every harvest in
the process that asks for it, as before. With the queue:

- the scheduler, ``wodp harvest`` and ``POST /internal/harvest`` *defer* a ``harvest`` task for a source instead
  of running it; the task carries a queueing lock and a lock named after the source, so a source is queued at
  most once and never harvested by two workers at once; a task that finds its source's job still running (a
  process not yet known to be gone) is tried again later;
- ``wodp worker`` runs a worker process (its own platform, a writer of the shared store and indexes:
  docs/scale-out.md, "Several processes"); it takes tasks one at a time per ``--concurrency`` slot;
- a worker sends a heartbeat every ``harvest.queue_heartbeat_s``; every worker looks, at the same pace, for tasks
  whose worker has been silent for ``harvest.queue_stalled_after_s`` (killed, machine gone) and puts them back
  on the queue, where another worker takes them. The harvest job row the dead worker left running is marked
  interrupted by the next run of the source (harvesters/jobs.py), which completes it: a publication is one
  batch, all or none (publish/gate.py), so nothing is left half-done.

The queue's tables are procrastinate's own schema, created in ``database.url`` by ``ensure_schema`` when a
process first uses the queue (a worker's start, a first deferral), once: several processes starting together
take a PostgreSQL advisory lock to create it. ``wodp db upgrade`` creates it too, with the data layer's tables,
so a fresh shared database is ready after that one command.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import procrastinate
from procrastinate import exceptions as pexc
from procrastinate.schema import SchemaManager

from core.errors import WodpError
from harvesters.base import HarvestBusyError

log = logging.getLogger(__name__)
QUEUE = "harvest"
SCHEMA_LOCK = 7_204_117_011  # pg_advisory_lock key of the schema's creation (any constant of ours)


class QueueError(WodpError):
    status = 503
    code = "queue-unavailable"


def dsn(url: str) -> str:
    """Return a libpq URL psycopg takes (SQLAlchemy's ``postgresql+psycopg://`` form included)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres+psycopg://", "postgres://", 1)


def schema_present(url: str) -> bool:
    """Tell whether procrastinate's tables are in the database (``wodp db current``)."""
    import psycopg

    with psycopg.connect(dsn(url), autocommit=True) as conn:
        return conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]


def ensure_schema(url: str) -> bool:
    """Create procrastinate's tables in the database unless they are there; return True when created."""
    import psycopg

    with psycopg.connect(dsn(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]
            if present:
                return False
            conn.execute(SchemaManager.get_schema())
            log.info("created the harvest queue's tables (procrastinate)")
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class HarvestQueue:
    """The queue of one process: defer harvests (any process), or run a worker (``wodp worker``)."""

    def __init__(self, settings) -> None:
        if not settings.database.url:
            raise QueueError("harvest.queue is postgres but database.url is not set")
        self.settings = settings
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn(settings.database.url)))
        self.harvesting = None  # set by a worker: the Harvesting its tasks run with
        self._opened = False
        self._open_lock = threading.Lock()

        harvest_settings = getattr(settings, "harvest", None)
        busy_wait = int(getattr(harvest_settings, "queue_stalled_after_s", 30))
        retry = procrastinate.RetryStrategy(max_attempts=10, wait=max(1, busy_wait),
                                            retry_exceptions={HarvestBusyError})

        @self.app.task(name="harvest", queue=QUEUE, retry=retry)
        def harvest(source: str, trigger: str = "queue") -> dict:
            return self._run(source, trigger)

        self.task = harvest

    # -- deferring -----------------------------------------------------------------------------
    def _open(self) -> None:
        with self._open_lock:
            if not self._opened:
                ensure_schema(self.settings.database.url)
                self.app.open()
                self._opened = True

    def defer(self, source: str, trigger: str = "manual") -> dict:
        """Put a harvest of one source on the queue; say so when it is queued already."""
        self._open()
        lock = f"harvest:{source}"
        try:
            job_id = self.task.configure(lock=lock, queueing_lock=lock).defer(source=source, trigger=trigger)
        except pexc.AlreadyEnqueued:
            return {"source": source, "status": "queued", "queued": False,
                    "message": f"a harvest of {source} is already waiting in the queue"}
        except pexc.ConnectorException as exc:
            raise QueueError(f"cannot put the harvest of {source} on the queue: {exc}") from exc
        return {"source": source, "status": "queued", "queued": True, "task": job_id,
                "message": f"harvest of {source} queued (task {job_id}); a worker takes it"}

    def depth(self) -> dict[str, int]:
        """Count the queue's tasks by status (todo, doing, succeeded, failed, ...)."""
        self._open()
        rows = self.app.connector.get_sync_connector().execute_query_all(
            query="SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs WHERE queue_name = %(q)s "
                  "GROUP BY status", q=QUEUE)
        return {row["status"]: int(row["n"]) for row in rows}

    def close(self) -> None:
        if self._opened:
            self.app.close()
            self._opened = False

    # -- working -------------------------------------------------------------------------------
    def _run(self, source: str, trigger: str) -> dict:
        if self.harvesting is None:
            raise QueueError("this process defers harvests; it does not run them (wodp worker does)")
        report = self.harvesting.run(source, trigger=trigger)
        log.info("harvest of %s: %s (%s)", source, report.get("status"), report.get("message"))
        return {k: report.get(k) for k in ("id", "source", "status", "message")}

    def work(self, harvesting, concurrency: int = 1, wait: bool = True) -> None:
        """Take harvest tasks until stopped (SIGINT/SIGTERM), and put back those of silent workers."""
        ensure_schema(self.settings.database.url)
        self.harvesting = harvesting
        h = self.settings.harvest
        asyncio.run(self._work(concurrency, wait, h.queue_heartbeat_s, h.queue_stalled_after_s))

    async def _work(self, concurrency: int, wait: bool, heartbeat_s: float, stalled_s: float) -> None:
        async with self.app.open_async():
            watcher = asyncio.create_task(self._retry_stalled(heartbeat_s, stalled_s))
            try:
                await self.app.run_worker_async(queues=[QUEUE], concurrency=concurrency, wait=wait,
                                                update_heartbeat_interval=heartbeat_s,
                                                stalled_worker_timeout=stalled_s,
                                                delete_jobs="successful")
            finally:
                watcher.cancel()

    async def _retry_stalled(self, every_s: float, stalled_s: float) -> None:
        """Put back on the queue the tasks of workers silent for ``stalled_s`` (killed mid-task)."""
        manager = self.app.job_manager
        while True:
            try:
                for job in await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_s):
                    log.warning("task %s (%s) was taken by a worker that went silent: queued again", job.id,
                                job.task_kwargs.get("source"))
                    await manager.retry_job(job)
            except Exception:  # noqa: BLE001  the database may be briefly away: look again later
                log.exception("looking for stalled harvest tasks failed")
            await asyncio.sleep(every_s)
