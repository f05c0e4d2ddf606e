"""Hold the harvest parts of one process: job store, ledger, and running sources by name."""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from harvesters.base import HarvestBusyError
from core.database import open_part
from harvesters.jobs import JobStore
from harvesters.provenance import Ledger
from harvesters.runner import HarvestContext, run_harvest

log = logging.getLogger(__name__)


class Harvesting:
    """Run harvests of the configured sources against one publisher; one job per source at a time."""

    def __init__(self, settings, publisher, transport=None, sandbox=None) -> None:
        self.settings = settings
        self.jobs = JobStore(open_part(settings.database, "harvest", settings.path(settings.harvest.db_path)))
        self.ledger = Ledger(self.jobs, settings.harvest.precedence, settings.harvest.sources)
        publisher.add_hook(self.ledger)  # precedence, provenance and history of every publication
        # publications stored but never recorded (a crash, or a full disk without a reserve): recorded now
        self.ledger.reconcile(publisher.store)
        from harvesters.links import LinkTable

        self.links = LinkTable(open_part(settings.database, "links", settings.path(settings.harvest.db_path)))
        for hook in publisher.hooks:
            if getattr(hook, "links_of", False) is None:  # shapes.quality.QualityHook
                hook.links_of = self.links.counts  # link availability in every publication
                hook.links_of_many = self.links.counts_of  # a batch's at once
        from harvesters.sources import SourceTable

        self.table = SourceTable(self.jobs.db, settings.harvest.sources)  # settings' and console's sources
        self.context = HarvestContext(settings, publisher, self.jobs, transport, sandbox=sandbox,  # pages read there
                                      table=self.table)
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._given_up: set[int] = set()
        self._background: set[threading.Thread] = set()  # runs started by ``start``, ended before closing
        self.queue = None  # harvesters.queue.HarvestQueue when harvest.queue is postgres: submit defers there
        # told of each run: harvest_started(source, trigger), harvest_ended(source, trigger, report, error),
        # and harvest_queued(source, trigger) when a run is put on the queue for a worker
        self.observers: list = []
        # jobs left running by a process that died are interrupted, not running: say so at once
        for job in self.jobs.recover(settings.harvest.stale_after_s):
            log.warning("harvest job %d of %s was interrupted: %s", job.id, job.source, job.message)

    def sources(self) -> list[str]:
        """Return the names of the enabled sources (of the settings, then those added in the console)."""
        return [k.name for k in self.table.all() if k.source.enabled]

    def configured(self) -> list:
        """Return every source (config.settings.HarvestSource), enabled or not, settings' and console's."""
        return [k.source for k in self.table.all()]

    def run(self, name: str, trigger: str = "manual", on_job=None) -> dict:
        """Run one source now (refused while the same source runs in this process); ``on_job(id)`` is told
        the job's id once it is recorded."""
        with self._lock:
            if name in self._running:
                raise HarvestBusyError(f"a harvest of {name!r} is already running")
            self._running.add(name)
        started, kind, status = time.monotonic(), "unknown", "error"
        report, error = None, None
        self._tell("harvest_started", name, trigger)
        try:
            src = self.context.source(name)
            kind = src.kind
            self.ledger.know(src)  # a source added in the console: its channel and priority
            if src.kind == "links":
                from harvesters.links import run_link_check

                report = run_link_check(src, self.context, self.links, trigger, on_job)
            else:
                report = run_harvest(name, self.context, trigger, on_job)
            status = str(report.get("status", "unknown"))
            return report
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._lock:
                self._running.discard(name)
            _count_job(kind, status, time.monotonic() - started)
            self._tell("harvest_ended", name, trigger, report, error)

    def _tell(self, point: str, *args) -> None:
        """Tell the observers (the audit log) of a run; an observer that fails never stops a harvest."""
        for observer in self.observers:
            try:
                getattr(observer, point, lambda *_: None)(*args)
            except Exception:  # noqa: BLE001
                log.exception("harvest observer %s failed at %s", type(observer).__name__, point)

    def submit(self, name: str, trigger: str = "manual") -> dict:
        """Run one source here (harvest.queue inline), or put it on the queue for a worker (postgres)."""
        if self.queue is not None:
            deferred = self.queue.defer(name, trigger)
            self._tell("harvest_queued", name, trigger)  # who asked (a worker runs it: harvest_started there)
            return deferred
        return self.run(name, trigger)

    def start(self, name: str, trigger: str = "manual", wait_s: float = 30.0) -> dict:
        """Hand a run to a worker and answer at once: put it on the queue (harvest.queue postgres), or run it
        in a thread of this process (inline) and answer its job's id as soon as the job is recorded.

        The thread keeps the caller's context (contextvars: who asked, for the audit log). A run refused
        before its job exists (the source runs already, an unknown source) raises here, as ``run`` would.
        """
        if self.queue is not None:
            return self.submit(name, trigger)
        with self._lock:
            if name in self._running:
                raise HarvestBusyError(f"a harvest of {name!r} is already running")
        recorded, outcome = threading.Event(), {}

        def work() -> None:
            try:
                self.run(name, trigger, on_job=lambda job: (outcome.setdefault("id", job), recorded.set()))
            except BaseException as exc:  # noqa: BLE001  before its job: raised to the caller; after: logged
                outcome.setdefault("error", exc)
                if "id" in outcome:
                    log.exception("harvest of %s (job %s) failed", name, outcome["id"])
            finally:
                recorded.set()
                with self._lock:
                    self._background.discard(thread)

        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True,
                                  name=f"wodp-harvest-{name}")
        with self._lock:
            self._background.add(thread)
        thread.start()
        recorded.wait(wait_s)
        if "id" not in outcome and "error" in outcome:
            raise outcome["error"]
        if "id" not in outcome:
            return {"source": name, "status": "starting", "message": f"the harvest of {name} is starting"}
        return {"source": name, "status": "running", "id": outcome["id"]}

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Wait for the runs started in the background (``start``) to end; return whether they all did."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._background)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def running(self) -> int:
        """Return how many jobs run in this process now."""
        with self._lock:
            return len(self._running)

    def run_all(self, trigger: str = "manual") -> list[dict]:
        """Run every enabled source in turn; one failing source does not stop the others."""
        return [self.run(name, trigger) for name in self.sources()]

    def due_retries(self, now: float | None = None) -> list[str]:
        """Return the sources whose interrupted job is due for a retry (harvest.retry_limit, retry_backoff_s)."""
        h = self.settings.harvest
        now = time.time() if now is None else now
        self.jobs.recover(h.stale_after_s)
        out = []
        for name in self.sources():
            job, attempts = self.jobs.interrupted(name)
            if job is None or name in self._running:
                continue
            if attempts > h.retry_limit:
                if job.id not in self._given_up:
                    self._given_up.add(job.id)
                    message = (f"{job.message}; not retried by itself: interrupted {attempts} times in a row "
                               f"(harvest.retry_limit {h.retry_limit}); the next scheduled or manual run retries it")
                    self.jobs.note_message(job.id, message)
                    log.warning("harvest of %s interrupted %d times in a row: not retried again by itself",
                                name, attempts)
                continue
            wait = 0.0 if attempts <= 1 else h.retry_backoff_s * 2 ** (attempts - 2)
            if now >= (job.finished or job.started) + wait:
                out.append(name)
        return out

    def recover(self) -> list[dict]:
        """Mark stale running jobs interrupted and retry their sources; return the retries' reports."""
        self.jobs.recover(self.settings.harvest.stale_after_s)
        out = []
        for name in self.sources():
            if self.jobs.interrupted(name)[0] is not None:
                log.info("retrying the interrupted harvest of %s", name)
                out.append(self.run(name, trigger="retry"))
        return out

    def close(self) -> None:
        if not self.wait(self.settings.harvest.timeout_s * 2):  # a run in the background: its job is kept
            log.warning("closing while a harvest runs in the background; its job will read as interrupted")
        if self.queue is not None:
            self.queue.close()
        self.links.close()
        self.jobs.close()


def _count_job(kind: str, status: str, seconds: float) -> None:
    """Count an ended job for /metrics (status: succeeded, failed, interrupted, or error when it raised)."""
    from core.metrics import metrics

    m = metrics()
    m.harvest_jobs.labels(kind, status).inc()
    m.harvest_seconds.labels(kind).observe(seconds)
