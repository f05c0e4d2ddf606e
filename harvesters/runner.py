"""Run one harvest job: fetch → map → detect change → publish through the gate → withdraw → report."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from core.errors import WodpError
from harvesters.base import (FetchResult, HarvestBusyError, HarvestError, UnknownSourceError, harvester_class,
                              mapping_context, profile_of)
from harvesters.figures import Figures
from harvesters.http import HttpClient
from harvesters.jobs import JobStore
from harvesters.pages import map_page, mapped_back
from harvesters.recheck import count_reads, data_summary, recheck_data, recheck_held
from mappings import load_mapping
from publish.gate import report_to_json
from harvesters.provenance import (DEPARTMENT_ID_SPACE, content_hash, job_uri, started_literal,
                                   with_provenance)

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

    def isolate(self, function, *args, what: str, **kwargs):
        """Run the reading or mapping of one page in the sandbox (waiting for a slot, never turned away)."""
        if self.sandbox is None:
            return function(*args, **kwargs)
        return self.sandbox.run(function, *args, what=what, background=True, **kwargs)

    def source(self, name: str):
        """Return a configured source by name."""
        for s in self.settings.harvest.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.settings.harvest.sources) or "none"
        raise UnknownSourceError(f"no harvest source {name!r} in settings (known: {known})")


@dataclass
class _Run:
    job: int
    started: float
    counts: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    pages: dict = field(default_factory=dict)         # page → URIs of the datasets it gave
    figures: Figures = field(default_factory=Figures)
    page_figures: dict = field(default_factory=dict)  # page → its mapping figures (reused when it answers 304)
    page_digests: dict = field(default_factory=dict)  # page → digest of its raw records and how they are mapped
    unchanged: list = field(default_factory=list)     # published datasets whose metadata did not change
    held_changed: list = field(default_factory=list)  # held datasets whose metadata did not change, but their file
    data_files: Counter = field(default_factory=Counter)  # data files of spatial datasets: re-read, unchanged, failed


class NoDatasetError(HarvestError):
    """A document or page of the source gave no dataset (or the whole listing is empty)."""

    code = "no-dataset"


def run_harvest(name: str, ctx: HarvestContext, trigger: str = "manual") -> dict:
    """Run one job for a source; a failing source changes nothing published; return the job report."""
    src = ctx.source(name)
    ctx.jobs.recover(ctx.settings.harvest.stale_after_s, source=name)
    if ctx.jobs.running(name):
        raise HarvestBusyError(f"a harvest of {name!r} is already running")
    interrupted, _ = ctx.jobs.interrupted(name)  # this job completes it (docs/harvesting.md)
    retry_of = interrupted.id if interrupted else None
    run = _Run(ctx.jobs.start(name, retry_of=retry_of, trigger=trigger), time.time())
    note = _noter(ctx.jobs, run.job)
    if retry_of:
        note(f"retrying interrupted job {retry_of}")
    http = HttpClient(ctx.settings.harvest.timeout_s, ctx.settings.harvest.max_bytes, ctx.transport, ctx.headers)
    status, message = "failed", ""
    try:
        harvester = harvester_class(src.kind)(src, ctx.settings.harvest, ctx.settings.home, note, http=http,
                                               base_uri=ctx.settings.base_uri, limits=ctx.settings.input_limits,
                                               isolate=ctx.isolate)
        previous = ctx.jobs.state(name)
        result = harvester.fetch(previous)
        for line in result.log:
            note(line)
        run.errors += [("fetch", "record", p) for p in result.problems]
        # problems of records the harvester mapped itself (CSW): in the job's errors and its figures
        run.errors += [(p.origin, p.kind, f"{p.field or ''}: {p.message}") for p in result.mapped]
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
        ctx.jobs.errors(run.job, run.errors)
        figures = {**run.figures.as_json(), "fetch_problems": run.counts.pop("fetch_problems", 0),
                   "data_files": {k: run.data_files.get(k, 0) for k in ("re-read", "unchanged", "failed")}}
        ctx.jobs.finish(run.job, status, dict(run.counts), message, figures)
    report = ctx.jobs.report(run.job)
    report["conditional_hits"] = http.conditional_hits
    report["errors"] = len(run.errors)
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
        _kept_page(ctx, page, previous, owned, run)
    if result.not_modified:
        note("the source answered 304 Not Modified: nothing to map")
        recheck_data(ctx, src, owned, run, note)
        return
    _check_found(src, result, owned, note, ctx.settings.home)
    changed, hashes = _changed_graphs(ctx, src, harvester, result, owned, run, previous)
    _publish(ctx, src, harvester, changed, hashes, owned, run, note)
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


def _kept_page(ctx, page: str, previous: Mapping, owned, run: _Run) -> None:
    """Count the datasets of a page that answered 304 as they last were: unchanged, or held again."""
    before = previous.get("pages", {}).get(page, {})
    figures = before.get("figures") or {}
    run.figures.add(Figures.from_json({**figures, "held_reasons": []}))
    run.page_figures[page] = figures
    for uri in before.get("uris", ()):
        run.seen.add(uri)
        run.pages.setdefault(page, set()).add(uri)
        _again(ctx, uri, owned.get(uri), run)


def _again(ctx, uri: str, entry, run: _Run) -> None:
    """Count a dataset whose content did not change: held again if validation held it, else unchanged."""
    if entry is None or entry.state != "held":
        run.counts["unchanged"] += 1
        run.unchanged.append(uri)
        return
    if recheck_held(ctx, uri, run):  # its data file changed since it was held: published again after the pages
        return
    run.counts["held"] += 1
    kept = ctx.publisher.quarantine.get(uri.rsplit("/", 1)[-1])
    report = kept.report if kept is not None else {"reason": "held back; its report is no longer kept"}
    run.figures.add_held(report)
    run.errors.append((uri, "validation", "still held (unchanged since it was held): " + reason(report)))


def reason(report: Mapping) -> str:
    """Say why a dataset is held: its first violation, or the reason kept with it."""
    first = next((f for f in report.get("findings", ()) if f.get("severity") == "Violation"), None)
    if first is None:
        return report.get("reason") or "held back"
    return f"{report.get('violations', 0)} violations, first: {first.get('path')}: {first.get('message_en')}"


def _check_found(src, result: FetchResult, owned, note, home) -> None:
    """Fail on a document or page with no dataset, and on an empty listing, unless options.allow_empty."""
    if not result.complete:
        return   # an incremental listing may rightly bring nothing
    read = Counter(r.origin.rsplit("#", 1)[0] for r in result.records)
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


def _changed_graphs(ctx, src, harvester, result: FetchResult, owned, run: _Run, previous: Mapping):
    """Return the dataset graphs that differ from what this source last published, with their hashes."""
    candidates: dict[str, list] = {}
    mapping = _mapping(src, harvester) if result.records else None
    where = mapping_context(src, harvester.channel)
    # the same raw records, mapped the same way (the mapping's content, not only its name)
    tag = repr((load_mapping(mapping) if mapping else None, where, ctx.settings.base_uri))
    for page, records in _by_page(result.records).items():
        digest = run.page_digests[page] = _page_digest(records, tag)
        if _unchanged_page(ctx, page, digest, previous, owned):
            _kept_page(ctx, page, previous, owned, run)   # no mapping, validation or hashing again
            continue
        mapped = mapped_back(ctx.isolate(map_page, records, mapping, ctx.settings.base_uri, where,
                                         what=f"mapping the records of {page}"))
        figures = Figures()
        figures.add_mapping(mapped)
        run.figures.add(figures)
        run.page_figures[page] = figures.as_json()
        run.errors += [(p.origin, p.kind, f"{p.field or ''}: {p.message}") for p in mapped.problems]
        for uri, triples in mapped.graphs.items():
            if uri in run.seen:
                run.errors.append((page, "key-collision", f"{uri} already came from another document; "
                                                          "this one is left out"))
                run.figures.key_collisions += 1
                run.counts["failed"] += 1
                continue
            candidates[uri] = triples
            run.seen.add(uri)
            run.pages.setdefault(page, set()).add(uri)
    origins = {u: p for p, us in result.state.get("page_uris", {}).items() for u in us}
    fresh = [u for u in result.graphs if u not in run.seen]
    run.figures.add_graphs(len(fresh))
    for uri in fresh:
        candidates[uri] = result.graphs[uri]
        run.seen.add(uri)
        if uri in origins:
            run.pages.setdefault(origins[uri], set()).add(uri)
    changed, hashes = {}, {}
    for uri, triples in candidates.items():
        h = content_hash(uri, triples)
        entry = owned.get(uri)
        if entry and entry.hash == h and (entry.state == "held" or (entry.state == "published"
                                                                    and ctx.publisher.store.has_dataset(uri))):
            _again(ctx, uri, entry, run)
            continue
        changed[uri], hashes[uri] = triples, h
    return changed, hashes


def _page_digest(records, tag: str) -> str:
    """Hash a page's raw records in order, with what maps them (mapping, jurisdiction, base URI)."""
    digest = hashlib.sha256(tag.encode("utf-8"))
    for record in records:
        digest.update(json.dumps([record.source, record.key, record.fields], ensure_ascii=False, sort_keys=True,
                                 default=str).encode("utf-8"))
    return digest.hexdigest()


def _unchanged_page(ctx, page: str, digest: str, previous: Mapping, owned) -> bool:
    """Tell whether a page brings exactly what it brought last time, and all it gave is still as it was left."""
    before = previous.get("pages", {}).get(page, {})
    if before.get("digest") != digest or not before.get("uris"):
        return False
    store = ctx.publisher.store
    return all(entry is not None and (entry.state == "held" or (entry.state == "published"
                                                                and store.has_dataset(uri)))
               for uri, entry in ((u, owned.get(u)) for u in before["uris"]))


def _by_page(records) -> dict[str, list]:
    """Group records by the document or page they came from (their origin before '#')."""
    pages: dict[str, list] = {}
    for record in records:
        pages.setdefault(record.origin.rsplit("#", 1)[0], []).append(record)
    return pages


def _mapping(src, harvester) -> str:
    """Return the name of the mapping a source's records go through."""
    name = src.mapping or harvester.default_mapping
    if not name:
        raise HarvestError(f"source {src.name!r} gives records but no mapping")
    return name


def _publish(ctx, src, harvester, changed: dict, hashes: dict, owned, run: _Run, note) -> None:
    """Publish changed datasets in batches, each batch one publication through the gate."""
    if not changed:
        return
    profile = profile_of(src)
    job_node = job_uri(ctx.settings.base_uri, run.job)
    started = started_literal(run.started)
    uris = list(changed)
    note(f"publishing {len(uris)} changed datasets (profile {profile})")
    size = ctx.settings.harvest.batch_size
    for n in range(0, len(uris), size):
        batch = {u: with_provenance(u, changed[u], src.name, job_node, started) for u in uris[n:n + size]}
        outcome = ctx.publisher.publish(batch, src.name, profile, job=run.job, hashes=hashes)
        count_reads(run, outcome.data_files)
        for uri in outcome.published:
            run.counts["updated" if uri in owned and owned[uri].state != "withdrawn" else "new"] += 1
        for uri, report in outcome.held.items():
            run.counts["held"] += 1
            found = report_to_json(report)
            run.figures.add_held(found)
            run.errors.append((uri, "validation", "held: " + reason(found)))
        for uri, report in outcome.warned.items():
            run.figures.add_warned(uri, report_to_json(report))
        run.counts["superseded"] += len(outcome.superseded)
        note(f"batch {n // size + 1}: {len(outcome.published)} published, {len(outcome.held)} held, "
             f"{len(outcome.superseded)} superseded")


def record_source(kind: str, name: str, channel: str | None) -> str:
    """Return the id space of a source's records: department channels share one, others use their name."""
    return DEPARTMENT_ID_SPACE if (channel or {"inventory": "file", "cloud": "cloud"}.get(kind)) in (
        "push", "cloud", "file") else name

