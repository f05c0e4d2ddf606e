"""Run one harvest job: fetch → map → detect change → publish through the gate → withdraw → report."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from core.errors import WodpError
from core.timings import StepClock, step
from harvesters.base import FetchResult, HarvestBusyError, HarvestError, UnknownSourceError, harvester_class
from harvesters.figures import Figures
from harvesters.http import HttpClient
from harvesters.jobs import JobStore
from harvesters.outbox import Outbox, kept_page, map_pages, page_counts
from harvesters.provenance import DEPARTMENT_ID_SPACE
from harvesters.recheck import data_summary, recheck_data

log = logging.getLogger(__name__)


@dataclass
class HarvestContext:
    """The parts a harvest needs: settings, the publication gate, the job store, an HTTP transport seam."""

    settings: Any                    # config.settings.Settings
    publisher: Any                   # publish.gate.Publisher (with a Ledger)
    jobs: JobStore
    transport: Any = None            # httpx.BaseTransport for tests
    headers: dict = field(default_factory=dict)
    sandbox: Any = None              # core.sandbox.Sandbox: where fetched pages are read and mapped (None: here)
    table: Any = None                # harvesters.sources.SourceTable: the settings' and the console's sources
    # other links the link monitor checks beside the distributions': name → a callable giving their URLs (the
    # showcase's items, services/showcase.py); their status is kept per URL, they belong to no dataset
    more_links: dict = field(default_factory=dict)

    def isolate(self, function, *args, what: str, **kwargs):
        """Run the reading or mapping of one page in the sandbox (waiting for a slot, never turned away)."""
        if self.sandbox is None:
            return function(*args, **kwargs)
        return self.sandbox.run(function, *args, what=what, background=True, **kwargs)

    def source(self, name: str):
        """Return a source by name: from the settings, or added in the admin console (harvesters.sources)."""
        every = [k.source for k in self.table.all()] if self.table is not None else self.settings.harvest.sources
        for s in every:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in every) or "none"
        raise UnknownSourceError(f"no harvest source {name!r} in settings or the console (known: {known})")


ERRORS_HELD = 1000  # per-record errors kept in memory before they are written to the job's errors


@dataclass
class _Run:
    job: int
    started: float
    jobs: JobStore | None = None
    counts: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)        # not yet written to the job store
    error_count: int = 0
    seen: set = field(default_factory=set)
    pages: dict = field(default_factory=dict)         # page → URIs of the datasets it gave
    figures: Figures = field(default_factory=Figures)
    page_figures: dict = field(default_factory=dict)  # page → its mapping figures (reused when it answers 304)
    page_digests: dict = field(default_factory=dict)  # page → digest of its raw records and how they are mapped
    unchanged: list = field(default_factory=list)     # published datasets whose metadata did not change
    held_changed: list = field(default_factory=list)  # held datasets whose metadata did not change, but their file
    data_files: Counter = field(default_factory=Counter)  # data files of spatial datasets: re-read, unchanged, failed

    def error(self, origin: str, kind: str, message: str) -> None:
        """Note one per-record error; they go to the job store in bounded chunks, so none is held for long."""
        self.errors.append((origin, kind, message))
        self.error_count += 1
        if len(self.errors) >= ERRORS_HELD and self.jobs is not None:
            self.write_errors()

    def write_errors(self) -> None:
        """Write the errors noted so far to the job store."""
        if self.errors and self.jobs is not None:
            self.jobs.errors(self.job, self.errors)
        self.errors = []


class NoDatasetError(HarvestError):
    """A document or page of the source gave no dataset (or the whole listing is empty)."""

    code = "no-dataset"


def run_harvest(name: str, ctx: HarvestContext, trigger: str = "manual", on_job=None) -> dict:
    """Run one job for a source; a failing source changes nothing published; return the job report.

    ``on_job(job_id)`` is told the job's id as soon as the job is recorded (a run in the background).
    """
    src = ctx.source(name)
    ctx.jobs.recover(ctx.settings.harvest.stale_after_s, source=name)
    if ctx.jobs.running(name):
        raise HarvestBusyError(f"a harvest of {name!r} is already running")
    interrupted, _ = ctx.jobs.interrupted(name)  # this job completes it (docs/harvesting.md)
    retry_of = interrupted.id if interrupted else None
    run = _Run(ctx.jobs.start(name, retry_of=retry_of, trigger=trigger), time.time(), ctx.jobs)
    if on_job is not None:
        on_job(run.job)
    note = _noter(ctx.jobs, run.job)
    if retry_of:
        note(f"retrying interrupted job {retry_of}")
    http = HttpClient(ctx.settings.harvest.timeout_s, ctx.settings.harvest.max_bytes, ctx.transport, ctx.headers)
    status, message, result, clock = "failed", "", None, StepClock()
    try:
        with clock:
            harvester = harvester_class(src.kind)(src, ctx.settings.harvest, ctx.settings.home, note, http=http,
                                                   base_uri=ctx.settings.base_uri, limits=ctx.settings.input_limits,
                                                   isolate=ctx.isolate)
            previous = ctx.jobs.state(name)
            with step("fetch"):
                result = harvester.fetch(previous)
            for line in result.log:
                note(line)
            for p in result.problems:
                run.error("fetch", "record", p)
            # problems of records the harvester mapped itself (CSW): in the job's errors and its figures
            for p in result.mapped:
                run.error(p.origin, p.kind, f"{p.field or ''}: {p.message}")
            run.figures.add_problems(result.mapped)
            run.counts["fetch_problems"] = len(result.problems)
            _process(ctx, src, harvester, result, previous, run, note)
        status, message = "succeeded", _summary(run.counts, run.figures, http.conditional_hits) + data_summary(run)
    except WodpError as exc:
        text = exc.message + _limit_named(exc)
        message = f"{type(exc).__name__}: {text}; nothing published from {name} was changed by fetching" \
            if not _wrote(run.counts) else f"{type(exc).__name__}: {text}"
        note(message)
    except Exception as exc:  # a bug must not leave the job running
        message = f"internal error: {type(exc).__name__}: {exc}"
        log.exception("harvest of %s failed", name)
        note(message)
    finally:
        http.close()
        close = getattr(result and result.records, "close", None)
        if close is not None:
            close()   # the spool of fetched pages
        run.write_errors()
        figures = {**run.figures.as_json(), "fetch_problems": run.counts.pop("fetch_problems", 0),
                   "data_files": {k: run.data_files.get(k, 0) for k in ("re-read", "unchanged", "failed")},
                   "steps_s": clock.as_json()}
        ctx.jobs.finish(run.job, status, dict(run.counts), message, figures)
    report = ctx.jobs.report(run.job)
    report["conditional_hits"] = http.conditional_hits
    report["errors"] = run.error_count
    return report


def _limit_named(exc: WodpError) -> str:
    """Name the setting a page went over when the sandbox stopped its reading (memory or time)."""
    from core.sandbox import SandboxMemoryError, SandboxTimeoutError

    if isinstance(exc, SandboxMemoryError):
        return " (settings sandbox.memory_mb)"
    if isinstance(exc, SandboxTimeoutError):
        return " (settings sandbox.timeout_s)"
    return ""


def _wrote(counts: Counter) -> bool:
    return any(counts.get(k) for k in ("new", "updated", "withdrawn", "held"))


def _noter(jobs: JobStore, job: int):
    def note(line: str) -> None:
        jobs.log(job, line)
        jobs.heartbeat(job)
    return note


def _summary(counts: Counter, figures: Figures, hits: int) -> str:
    head = f"{figures.records_read} records read, {figures.mapped} mapped; "
    parts = [f"{counts.get(k, 0)} {k}" for k in ("new", "updated", "unchanged", "held", "withdrawn", "failed")]
    if counts.get("superseded"):
        parts.append(f"{counts['superseded']} superseded")
    unknown = sum(sum(values.values()) for values in figures.unknown_values.values())
    tail = [f"{n} {what}" for n, what in ((len(figures.unplaced_fields), "unplaced fields"),
                                          (unknown, "unknown values"), (figures.key_collisions, "key collisions"),
                                          (figures.duplicates, "duplicates")) if n]
    return head + ", ".join(parts) + (f"; {', '.join(tail)}" if tail else "") + (
        f"; {hits} conditional hits (304)" if hits else "")


def _process(ctx: HarvestContext, src, harvester, result: FetchResult, previous: Mapping, run: _Run, note) -> None:
    """Map, compare, publish and withdraw; save the source state only once everything is done."""
    owned = ctx.jobs.entries(src.name)
    kept = result.state.get("kept_pages", ())
    for page in kept:
        kept_page(ctx, page, previous, owned, run)
    if result.not_modified:
        note("the source answered 304 Not Modified: nothing to map")
        recheck_data(ctx, src, owned, run, note)
        return
    _check_found(src, result, owned, note, ctx.settings.home)
    outbox = Outbox(ctx, src, owned, run, note)
    map_pages(ctx, src, harvester, result, owned, run, previous, outbox)
    outbox.flush()
    recheck_data(ctx, src, owned, run, note)
    if result.complete:
        _withdraw_gone(ctx, src, owned, run, note)
    ctx.jobs.save_state(src.name, _state(result, run))


def _withdraw_gone(ctx, src, owned, run: _Run, note) -> None:
    """Withdraw the datasets a complete listing no longer holds; held ones leave the quarantine too."""
    gone = [u for u, e in owned.items() if e.state in ("published", "held") and u not in run.seen]
    if not gone:
        return
    note(f"withdrawing {len(gone)} datasets gone from the source")
    done = set(ctx.publisher.withdraw(gone, src.name, reason="gone from source", job=run.job))
    held = [u for u in gone if owned[u].state == "held"]
    for uri in held:
        ctx.publisher.quarantine.release(uri.rsplit("/", 1)[-1])
    never = [u for u in held if u not in done]   # held back and never published: nothing to tombstone
    if never:
        note(f"{len(never)} held datasets gone from the source leave the quarantine")
        ctx.jobs.record(((u, src.name, owned[u].channel, owned[u].rank, None, "withdrawn", "withdrawn")
                         for u in never), run.job)
    run.counts["withdrawn"] += len(done) + len(never)


def _state(result: FetchResult, run: _Run) -> dict:
    """Return the source state to keep: the harvester's, with each page's dataset URIs and mapping figures."""
    if not run.pages:
        return dict(result.state)
    pages = result.state.get("pages", {})
    return {**result.state, "pages": {url: {**pages.get(url, {}), "uris": sorted(run.pages.get(url, ())),
                                            "figures": run.page_figures.get(url, {}),
                                            "digest": run.page_digests.get(url)}
                                      for url in dict.fromkeys([*pages, *run.pages])}}


def _check_found(src, result: FetchResult, owned, note, home) -> None:
    """Fail on a document or page with no dataset, and on an empty listing, unless options.allow_empty."""
    if not result.complete:
        return   # an incremental listing may rightly bring nothing
    read = page_counts(result.records)
    read.update({page: len(uris) for page, uris in result.state.get("page_uris", {}).items()})
    kept = set(result.state.get("kept_pages", ()))
    empty = [page for page in result.state.get("pages", {}) if page not in kept and not read.get(page)]
    if not result.records and not result.graphs and not kept:
        path = src.path and (src.path if Path(src.path).is_absolute() else str(Path(home) / src.path))
        empty = empty or [src.url or path or src.name]
    if not empty:
        return
    published = sum(1 for e in owned.values() if e.state == "published")
    where = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    if (src.options or {}).get("allow_empty"):
        note(f"no dataset found in {where}; options.allow_empty is set, so its datasets are withdrawn")
        return
    raise NoDatasetError(f"no dataset found in {where}" + (
        f"; the {published} datasets published from {src.name} stay published (set the source option "
        "allow_empty: true to accept an empty listing and withdraw them)" if published else ""))


def record_source(kind: str, name: str, channel: str | None) -> str:
    """Return the id space of a source's records: department channels share one, others use their name."""
    return DEPARTMENT_ID_SPACE if (channel or {"inventory": "file", "cloud": "cloud"}.get(kind)) in (
        "push", "cloud", "file") else name

