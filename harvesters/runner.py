"""Run one harvest job: fetch → map → detect change → publish through the gate → withdraw → report."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from harvesters.base import FetchResult, HarvestBusyError, HarvestError, UnknownSourceError, harvester_class
from harvesters.http import HttpClient
from harvesters.jobs import JobStore
from core.errors import WodpError
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
    digests: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)


def run_harvest(name: str, ctx: HarvestContext, trigger: str = "manual") -> dict:
    """Run one job for a source; a failing source changes nothing published; return the job report."""
    src = ctx.source(name)
    interrupted = ctx.jobs.recover(ctx.settings.harvest.stale_after_s, source=name)
    if ctx.jobs.running(name):
        raise HarvestBusyError(f"a harvest of {name!r} is already running")
    retry_of = interrupted[-1].id if interrupted else None
    run = _Run(ctx.jobs.start(name, retry_of=retry_of, trigger=trigger), time.time())
    note = _noter(ctx.jobs, run.job)
    if retry_of:
        note(f"retrying interrupted job {retry_of}")
    http = HttpClient(ctx.settings.harvest.timeout_s, ctx.settings.harvest.max_bytes, ctx.transport, ctx.headers)
    status, message = "failed", ""
    try:
        harvester = harvester_class(src.kind)(src, ctx.settings.harvest, ctx.settings.home, note, http=http,
                                               base_uri=ctx.settings.base_uri)
        previous = ctx.jobs.state(name)
        result = harvester.fetch(previous)
        for line in result.log:
            note(line)
        run.errors += [("fetch", "record", p) for p in result.problems]
        run.errors += [(p.origin, p.kind, f"{p.field or ''}: {p.message}") for p in result.mapped
                       if p.kind in ("bad-value", "bad-date", "key-collision", "duplicate")]
        _process(ctx, src, harvester, result, previous, run, note)
        status, message = "succeeded", _summary(run.counts, http.conditional_hits)
    except WodpError as exc:
        message = f"{type(exc).__name__}: {exc.message}; nothing published from {name} was changed by fetching" \
            if not run.counts else f"{type(exc).__name__}: {exc.message}"
        note(message)
    except Exception as exc:  # a bug must not leave the job running
        message = f"internal error: {type(exc).__name__}: {exc}"
        log.exception("harvest of %s failed", name)
        note(message)
    finally:
        http.close()
        ctx.jobs.errors(run.job, run.errors)
        ctx.jobs.finish(run.job, status, dict(run.counts), message)
    report = ctx.jobs.job(run.job).as_json()
    report["conditional_hits"] = http.conditional_hits
    report["errors"] = len(run.errors)
    return report


def _noter(jobs: JobStore, job: int):
    def note(line: str) -> None:
        jobs.log(job, line)
        jobs.heartbeat(job)
    return note


def _summary(counts: Counter, hits: int) -> str:
    parts = [f"{counts.get(k, 0)} {k}" for k in ("new", "updated", "unchanged", "withdrawn", "failed")]
    if counts.get("superseded"):
        parts.append(f"{counts['superseded']} superseded")
    return ", ".join(parts) + (f"; {hits} conditional hits (304)" if hits else "")


def _process(ctx: HarvestContext, src, harvester, result: FetchResult, previous: Mapping, run: _Run, note) -> None:
    """Map, compare, publish and withdraw; save the source state only once everything is done."""
    owned = ctx.jobs.entries(src.name)
    if result.not_modified:
        run.counts["unchanged"] = sum(1 for e in owned.values() if e.state in ("published", "held"))
        note("the source answered 304 Not Modified: nothing to do")
        return
    changed, hashes = _changed_graphs(ctx, src, harvester, result, previous, owned, run)
    _publish(ctx, src, harvester, changed, hashes, owned, run, note)
    if result.complete:
        gone = [u for u, e in owned.items() if e.state == "published" and u not in run.seen]
        if gone:
            note(f"withdrawing {len(gone)} datasets gone from the source")
            done = ctx.publisher.withdraw(gone, src.name, reason="gone from source", job=run.job)
            run.counts["withdrawn"] += len(done)
    state = {**result.state, "digests": run.digests}
    if run.pages:
        state["pages"] = {url: {**result.state.get("pages", {}).get(url, {}), "uris": sorted(uris)}
                          for url, uris in run.pages.items()}
    ctx.jobs.save_state(src.name, state)


def _changed_graphs(ctx, src, harvester, result: FetchResult, previous: Mapping, owned, run: _Run):
    """Return the dataset graphs that differ from what this source last published, with their hashes."""
    store = ctx.publisher.store
    base = ctx.settings.base_uri
    known = previous.get("digests", {})
    for page in result.state.get("kept_pages", ()):
        for uri in previous.get("pages", {}).get(page, {}).get("uris", ()):
            run.seen.add(uri)
            run.pages.setdefault(page, set()).add(uri)
            run.counts["unchanged"] += 1
        run.digests.update({d: u for d, u in known.items() if u in run.seen})
    candidates: dict[str, list] = {}
    mapping = _mapping(src, harvester) if result.records else None
    tag = mapping.name + ":" + ",".join(mapping.chain) if mapping else ""
    for record in result.records:
        digest = _digest(record, tag)
        uri = known.get(digest)
        entry = owned.get(uri) if uri else None
        if entry and entry.state in ("published", "held") and uri not in run.seen and (
                entry.state == "held" or store.has_dataset(uri)):
            _seen(run, uri, record.origin, digest)
            run.counts["unchanged"] += 1
            continue
        from mappings import apply_mapping

        mapped = apply_mapping([record], mapping, base)
        run.errors += [(p.origin, p.kind, f"{p.field or ''}: {p.message}") for p in mapped.problems
                       if p.kind in ("bad-value", "bad-date", "key-collision", "duplicate")]
        for uri, triples in mapped.graphs.items():
            if uri in run.seen or uri in candidates:
                run.errors.append((record.origin, "key-collision", f"{uri} already came from another record"))
                run.counts["failed"] += 1
                continue
            candidates[uri] = triples
            _seen(run, uri, record.origin, digest)
    for uri, triples in result.graphs.items():
        if uri not in run.seen:
            candidates[uri] = triples
            run.seen.add(uri)
            origin = next((p for p, us in result.state.get("page_uris", {}).items() if uri in us), None)
            if origin:
                run.pages.setdefault(origin, set()).add(uri)
    changed, hashes = {}, {}
    for uri, triples in candidates.items():
        h = content_hash(uri, triples)
        entry = owned.get(uri)
        if entry and entry.hash == h and (entry.state == "held" or (entry.state == "published"
                                                                    and store.has_dataset(uri))):
            run.counts["unchanged"] += 1
            continue
        changed[uri], hashes[uri] = triples, h
    return changed, hashes


def _seen(run: _Run, uri: str, origin: str, digest: str) -> None:
    run.seen.add(uri)
    run.digests[digest] = uri
    run.pages.setdefault(origin.rsplit("#", 1)[0], set()).add(uri)


def _mapping(src, harvester):
    from mappings import load_mapping

    name = src.mapping or harvester.default_mapping
    if not name:
        raise HarvestError(f"source {src.name!r} gives records but no mapping")
    return load_mapping(name)


def _digest(record, tag: str) -> str:
    """Hash a raw record with the mapping that reads it: the same digest maps to the same graph."""
    text = json.dumps([tag, record.source, record.key, record.fields], ensure_ascii=False, sort_keys=True,
                      default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _publish(ctx, src, harvester, changed: dict, hashes: dict, owned, run: _Run, note) -> None:
    """Publish changed datasets in batches, each batch one publication through the gate."""
    if not changed:
        return
    profile = src.profile or harvester.default_profile
    job_node = job_uri(ctx.settings.base_uri, run.job)
    started = started_literal(run.started)
    uris = list(changed)
    note(f"publishing {len(uris)} changed datasets (profile {profile})")
    size = ctx.settings.harvest.batch_size
    for n in range(0, len(uris), size):
        batch = {u: with_provenance(u, changed[u], src.name, job_node, started) for u in uris[n:n + size]}
        outcome = ctx.publisher.publish(batch, src.name, profile, job=run.job, hashes=hashes)
        for uri in outcome.published:
            run.counts["updated" if uri in owned and owned[uri].state != "withdrawn" else "new"] += 1
        for uri, report in outcome.held.items():
            run.counts["failed"] += 1
            first = next((f for f in report.findings if f.severity == "Violation"), None)
            run.errors.append((uri, "validation", f"{report.count('Violation')} violations"
                               + (f", first: {first.path}: {first.message_en}" if first else "")))
        run.counts["superseded"] += len(outcome.superseded)
        note(f"batch {n // size + 1}: {len(outcome.published)} published, {len(outcome.held)} held, "
             f"{len(outcome.superseded)} superseded")


def record_source(kind: str, name: str, channel: str | None) -> str:
    """Return the id space of a source's records: department channels share one, others use their name."""
    return DEPARTMENT_ID_SPACE if (channel or {"inventory": "file", "cloud": "cloud"}.get(kind)) in (
        "push", "cloud", "file") else name
