"""Re-check the data files of a harvest's unchanged spatial datasets, and count how data files were read.

A record whose metadata did not change is not mapped or published again, but the data file its layer was made
from may have changed. After publishing, the runner asks the gate's ``recheck`` hook (ogc.layers.Layers through
publish/): one conditional GET (or a hash) per data file; the datasets whose file changed are published again
from their stored graphs, with their metadata hash unchanged. The job report counts
``data_files: {re-read, unchanged, failed}`` (docs/harvesting.md, docs/spatialization.md).
"""

from __future__ import annotations

from typing import Mapping

from harvesters.base import profile_of
from harvesters.provenance import job_uri, started_literal, with_provenance
from publish.gate import report_to_json


def count_reads(run, reads: Mapping[str, str]) -> None:
    """Count how the data files of a publication were read; a file that could not be read is a job error."""
    for uri, read in reads.items():
        run.data_files["failed" if read.startswith("failed") else read] += 1
        if read.startswith("failed"):
            run.error(uri, "data-file", "the data file could not be read: the dataset is published "
                                                 "without a layer (the reason is in /api/layers)")


def recheck_data(ctx, src, owned, run, note) -> None:
    """Re-check the data files of unchanged spatial datasets; publish again those whose file changed.

    A data file is compared with what identifies its content (ETag, Last-Modified, sha256; ogc.datafile_state):
    an unchanged one costs a conditional GET (or a hash of a local file) and no publication; a changed one is
    read once, and its dataset published again with the same metadata hash (the ledger sees no metadata change).
    """
    size = ctx.settings.harvest.batch_size
    for n in range(0, len(run.unchanged), size):
        checked = ctx.publisher.recheck(run.unchanged[n:n + size])
        for uri, found in checked.items():
            _tally(run, uri, found)
        stale = [uri for uri, found in checked.items() if found == "changed"]
        if stale:
            note(f"{len(stale)} data files changed behind unchanged records: publishing their datasets again")
            _republish(ctx, src, stale, owned, run)
    if run.held_changed:
        note(f"{len(run.held_changed)} held datasets have a changed data file: publishing them again")
        _republish(ctx, src, run.held_changed, owned, run, held=True)


def recheck_held(ctx, uri: str, run) -> bool:
    """Re-check the data file of a held dataset whose record did not change; True when it changed."""
    found = ctx.publisher.recheck([uri]).get(uri)
    if found == "changed":
        run.held_changed.append(uri)
        return True
    if found is not None:
        _tally(run, uri, found)
    return False


def _tally(run, uri: str, found: str) -> None:
    if found.startswith("failed"):
        run.data_files["failed"] += 1
        run.error(uri, "data-file", f"the data file could not be checked; the layer stays as it was: "
                                             f"{found.removeprefix('failed: ')}")
    elif found == "unchanged":
        run.data_files["unchanged"] += 1


def _republish(ctx, src, uris: list, owned, run, held: bool = False) -> None:
    """Publish datasets again as they are (their data file changed), keeping their metadata hashes: published
    ones from the store, held ones from the quarantine (counted there: unchanged or held, until published)."""
    from harvesters.outbox import reason  # the outbox imports this module

    job_node = job_uri(ctx.settings.base_uri, run.job)
    started = started_literal(run.started)
    store = ctx.publisher.store
    graphs = {}
    for u in uris:
        kept = ctx.publisher.quarantine.get(u.rsplit("/", 1)[-1]) if held else None
        triples = kept.triples if kept is not None else store.dataset_triples(u)
        if triples:
            graphs[u] = with_provenance(u, triples, src.name, job_node, started)
    existed = {u: store.has_dataset(u) for u in graphs}
    hashes = {u: owned[u].hash for u in graphs if u in owned and owned[u].hash}
    outcome = ctx.publisher.publish(graphs, src.name, profile_of(src), job=run.job, hashes=hashes)
    count_reads(run, outcome.data_files)
    if held:  # not counted yet (recheck_held): those with nothing left to publish stay held
        run.counts["held"] += len(uris) - len(graphs)
    for uri in outcome.published:
        run.counts["updated" if existed[uri] else "new"] += 1
        if not held:  # counted unchanged by the runner; published again now
            run.counts["unchanged"] -= 1
    for uri, report in outcome.held.items():
        if not held:
            run.counts["unchanged"] -= 1
        run.counts["held"] += 1
        found = report_to_json(report)
        run.figures.add_held(found)
        run.error(uri, "validation", "held after its data file changed: " + reason(found))


def data_summary(run) -> str:
    """Return the end of a job's message that says how its data files were read (empty when none was)."""
    if not sum(run.data_files.values()):
        return ""
    return "; data files: " + ", ".join(f"{run.data_files.get(k, 0)} {k}" for k in ("re-read", "unchanged",
                                                                                    "failed"))
