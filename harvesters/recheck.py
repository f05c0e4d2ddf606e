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
            run.errors.append((uri, "data-file", "the data file could not be read: the dataset is published "
                                                 "without a layer (the reason is in /api/layers)"))


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
            if found.startswith("failed"):
                run.data_files["failed"] += 1
                run.errors.append((uri, "data-file", f"the data file could not be checked; the layer stays as "
                                                     f"it was: {found.removeprefix('failed: ')}"))
            elif found == "unchanged":
                run.data_files["unchanged"] += 1
        stale = [uri for uri, found in checked.items() if found == "changed"]
        if stale:
            note(f"{len(stale)} data files changed behind unchanged records: publishing their datasets again")
            _republish(ctx, src, stale, owned, run)


def _republish(ctx, src, uris: list, owned, run) -> None:
    """Publish stored datasets again as they are (their data file changed), keeping their metadata hashes."""
    from harvesters.runner import reason  # the runner imports this module

    job_node = job_uri(ctx.settings.base_uri, run.job)
    started = started_literal(run.started)
    graphs = {u: with_provenance(u, ctx.publisher.store.dataset_triples(u), src.name, job_node, started)
              for u in uris}
    hashes = {u: owned[u].hash for u in uris if u in owned and owned[u].hash}
    outcome = ctx.publisher.publish(graphs, src.name, profile_of(src), job=run.job, hashes=hashes)
    count_reads(run, outcome.data_files)
    for uri in outcome.published:
        run.counts["unchanged"] -= 1
        run.counts["updated"] += 1
    for uri, report in outcome.held.items():
        run.counts["unchanged"] -= 1
        run.counts["held"] += 1
        found = report_to_json(report)
        run.figures.add_held(found)
        run.errors.append((uri, "validation", "held after its data file changed: " + reason(found)))


def data_summary(run) -> str:
    """Return the end of a job's message that says how its data files were read (empty when none was)."""
    if not sum(run.data_files.values()):
        return ""
    return "; data files: " + ", ".join(f"{run.data_files.get(k, 0)} {k}" for k in ("re-read", "unchanged",
                                                                                    "failed"))
