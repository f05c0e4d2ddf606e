"""Map a fetch page by page and publish what changed in bounded batches (the middle of a harvest job).

A fetch leaves its records in a spool (harvesters.spool) or, for small sources, in memory; either way the
runner goes through them one page at a time: a page whose raw records and mapping are unchanged is counted as
it was left, the others are mapped, each dataset graph is compared with the hash this source last published,
and the changed ones wait in the ``Outbox`` until a batch (``harvest.batch_size``) is full, which is then
published through the gate. So what a job holds is one page and one batch, whatever the size of the source;
what grows with the source is only what the report and the next harvest need (the URIs seen, per page).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Iterator, Mapping

from core.timings import step
from harvesters.base import HarvestError, mapping_context, profile_of
from harvesters.figures import Figures
from harvesters.pages import from_ntriples, map_page, mapped_back
from harvesters.provenance import content_hash, job_uri, started_literal, with_provenance
from harvesters.recheck import count_reads, recheck_held
from mappings import load_mapping
from publish.gate import report_to_json


class Outbox:
    """Changed dataset graphs waiting to be published, one batch at a time."""

    def __init__(self, ctx, src, owned, run, note) -> None:
        self.ctx, self.src, self.owned, self.run, self.note = ctx, src, owned, run, note
        self.size = ctx.settings.harvest.batch_size
        self.profile = profile_of(src)
        self.job_node = job_uri(ctx.settings.base_uri, run.job)
        self.started = started_literal(run.started)
        self.graphs: dict[str, list] = {}
        self.hashes: dict[str, str] = {}
        self.batches = 0

    def offer(self, uri: str, triples) -> None:
        """Count a dataset unchanged when its hash and state are as this source left them, else queue it."""
        with step("detect changes"):
            h = content_hash(uri, triples)
            entry = self.owned.get(uri)
            if entry and entry.hash == h and (entry.state == "held" or (
                    entry.state == "published" and self.ctx.publisher.store.has_dataset(uri))):
                again(self.ctx, uri, entry, self.run)
                return
        self.graphs[uri], self.hashes[uri] = triples, h
        if len(self.graphs) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Publish the queued datasets as one batch through the gate."""
        if not self.graphs:
            return
        run = self.run
        if not self.batches:
            self.note(f"publishing changed datasets (profile {self.profile}) in batches of {self.size}")
        self.batches += 1
        with step("provenance"):
            batch = {u: with_provenance(u, t, self.src.name, self.job_node, self.started)
                     for u, t in self.graphs.items()}
        outcome = self.ctx.publisher.publish(batch, self.src.name, self.profile, job=run.job, hashes=self.hashes)
        count_reads(run, outcome.data_files)
        for uri in outcome.published:
            entry = self.owned.get(uri)
            run.counts["updated" if entry is not None and entry.state != "withdrawn" else "new"] += 1
        for uri, report in outcome.held.items():
            run.counts["held"] += 1
            found = report_to_json(report)
            run.figures.add_held(found)
            run.error(uri, "validation", "held: " + reason(found))
        for uri, report in outcome.warned.items():
            run.figures.add_warned(uri, report_to_json(report))
        run.counts["superseded"] += len(outcome.superseded)
        self.note(f"batch {self.batches}: {len(outcome.published)} published, {len(outcome.held)} held, "
                  f"{len(outcome.superseded)} superseded")
        self.graphs, self.hashes = {}, {}


def map_pages(ctx, src, harvester, result, owned, run, previous: Mapping, outbox: Outbox) -> None:
    """Map the fetched records page by page and offer every dataset graph to the outbox; then the graphs the
    harvester read as RDF (DCAT, CSW)."""
    mapping = mapping_name(src, harvester) if result.records else None
    where = mapping_context(src, harvester.channel)
    # the same raw records, mapped the same way (the mapping's content, not only its name)
    tag = repr((load_mapping(mapping) if mapping else None, where, ctx.settings.base_uri))
    for page, records in by_page(result.records):
        with step("detect changes"):
            digest = run.page_digests[page] = page_digest(records, tag)
            unchanged = unchanged_page(ctx, page, digest, previous, owned)
        if unchanged:
            kept_page(ctx, page, previous, owned, run)   # no mapping, validation or hashing again
            continue
        with step("map"):
            mapped = mapped_back(ctx.isolate(map_page, records, mapping, ctx.settings.base_uri, where,
                                             what=f"mapping the records of {page}"))
        del records
        figures = Figures()
        figures.add_mapping(mapped)
        run.figures.add(figures)
        run.page_figures[page] = figures.as_json()
        for p in mapped.problems:
            run.error(p.origin, p.kind, f"{p.field or ''}: {p.message}")
        for uri, triples in mapped.graphs.items():
            if uri in run.seen:
                run.error(page, "key-collision", f"{uri} already came from another document; this one is left out")
                run.figures.key_collisions += 1
                run.counts["failed"] += 1
                continue
            run.seen.add(uri)
            run.pages.setdefault(page, set()).add(uri)
            outbox.offer(uri, triples)
    origins = {u: p for p, us in result.state.get("page_uris", {}).items() for u in us}
    for uri, triples in graph_items(result.graphs):
        if uri in run.seen:
            continue
        run.figures.add_graphs(1)
        run.seen.add(uri)
        if uri in origins:
            run.pages.setdefault(origins[uri], set()).add(uri)
        outbox.offer(uri, triples)


def kept_page(ctx, page: str, previous: Mapping, owned, run) -> None:
    """Count the datasets of a page that answered 304 as they last were: unchanged, or held again."""
    before = previous.get("pages", {}).get(page, {})
    figures = before.get("figures") or {}
    run.figures.add(Figures.from_json({**figures, "held_reasons": []}))
    run.page_figures[page] = figures
    for uri in before.get("uris", ()):
        run.seen.add(uri)
        run.pages.setdefault(page, set()).add(uri)
        again(ctx, uri, owned.get(uri), run)


def again(ctx, uri: str, entry, run) -> None:
    """Count a dataset whose content did not change: held again if validation held it, else unchanged."""
    if entry is None or entry.state != "held":
        run.counts["unchanged"] += 1
        run.unchanged.append(uri)   # its data file is checked after the pages (harvesters.recheck)
        return
    if recheck_held(ctx, uri, run):  # its data file changed since it was held: published again after the pages
        return
    run.counts["held"] += 1
    kept = ctx.publisher.quarantine.get(uri.rsplit("/", 1)[-1])
    report = kept.report if kept is not None else {"reason": "held back; its report is no longer kept"}
    run.figures.add_held(report)
    run.error(uri, "validation", "still held (unchanged since it was held): " + reason(report))


def reason(report: Mapping) -> str:
    """Say in one line why a dataset is held: its first violation."""
    first = next((f for f in report.get("findings", ()) if f.get("severity") == "Violation"), None)
    if first is None:
        return report.get("reason") or "held back"
    return f"{report.get('violations', 0)} violations, first: {first.get('path')}: {first.get('message_en')}"


def page_digest(records, tag: str) -> str:
    """Hash a page's raw records in order, with what maps them (mapping, jurisdiction, base URI)."""
    digest = hashlib.sha256(tag.encode("utf-8"))
    for record in records:
        digest.update(json.dumps([record.source, record.key, record.fields], ensure_ascii=False, sort_keys=True,
                                 default=str).encode("utf-8"))
    return digest.hexdigest()


def unchanged_page(ctx, page: str, digest: str, previous: Mapping, owned) -> bool:
    """Tell whether a page brings exactly what it brought last time, and all it gave is still as it was left."""
    before = previous.get("pages", {}).get(page, {})
    if before.get("digest") != digest or not before.get("uris"):
        return False
    store = ctx.publisher.store
    return all(entry is not None and (entry.state == "held" or (entry.state == "published"
                                                                and store.has_dataset(uri)))
               for uri, entry in ((u, owned.get(u)) for u in before["uris"]))


def by_page(records) -> Iterator[tuple[str, list]]:
    """Yield (page, records) by the document or page they came from (their origin before '#'): from a spool
    one page at a time, from a tuple grouped in memory."""
    if hasattr(records, "pages"):
        yield from records.pages()
        return
    pages: dict[str, list] = {}
    for record in records:
        pages.setdefault(record.origin.rsplit("#", 1)[0], []).append(record)
    yield from pages.items()


def graph_items(graphs) -> Iterator[tuple[str, list]]:
    """Yield (uri, triples) of the dataset graphs a harvester read as RDF: from a spool of N-Triples one page
    at a time, or from a dict."""
    if not hasattr(graphs, "pages"):
        yield from graphs.items()
        return
    for _, documents in graphs.pages():
        for uri, triples in from_ntriples(dict(documents)).items():
            yield uri, triples


def page_counts(records) -> Counter:
    """Return how many records each page gave."""
    if hasattr(records, "counts"):
        return Counter(records.counts())
    return Counter(r.origin.rsplit("#", 1)[0] for r in records)


def mapping_name(src, harvester) -> str:
    """Return the name of the mapping a source's records go through."""
    name = src.mapping or harvester.default_mapping
    if not name:
        raise HarvestError(f"source {src.name!r} gives records but no mapping")
    return name
