"""The hook contract of the publication gate: the parts that take part in every publication.

A hook is any object with some of these methods; the gate calls each hook's method in the order the hooks
were added, at these points of one publication:

    admit(graphs, source)          before anything: which graphs this source may write (precedence)
    before_enrich(uris)            once per batch, before enrich: the datasets about to be enriched (a part
                                   reads what enrich needs of all of them at once)
    enrich(uri, triples)           before validation: what the part adds to a dataset (a layer's links)
    before_assess(uris)            after validation, once per batch: the valid datasets about to be assessed
                                   (a part reads what assess needs of all of them at once)
    assess(uri, triples, report)   after validation, for valid datasets: measurements (quality)
    published(created, updated, source, hashes, job)   after the store has them
    held(reports, source, hashes, job)                 datasets kept out by validation
    withdrawn(uris, source, job)                       datasets taken out of publication

and outside a publication:

    recheck(uris)                  of published datasets whose metadata did not change (a harvest found them
                                   unchanged), which draw on something outside their graph that changed (a
                                   layer's data file): per dataset "changed" (publish it again), "unchanged"
                                   or "failed: reason"
    reads(uris)                    right after enrich: how each dataset's outside input was read ("re-read",
                                   "unchanged", "failed"), for the job report

``GateHook`` gives no-op defaults, so a part overrides only what it needs.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pyoxigraph as ox

from shapes.report import ValidationReport

Graphs = Mapping[str, Sequence[ox.Triple]]


class GateHook:
    """A part's share in publication; every method is a no-op unless the part overrides it."""

    def admit(self, graphs: Graphs, source: str) -> tuple[dict[str, Sequence[ox.Triple]], tuple[str, ...]]:
        """Return the graphs this source may write, and the URIs it may not (held by a higher-ranked source)."""
        return dict(graphs), ()

    def before_enrich(self, uris: Sequence[str]) -> None:
        """Take note of the datasets of a batch, about to be enriched one by one."""

    def enrich(self, uri: str, triples: Sequence[ox.Triple]) -> list[ox.Triple]:
        """Return the dataset graph with what this part adds before validation."""
        return list(triples)

    def before_assess(self, uris: Sequence[str]) -> None:
        """Take note of the valid datasets of a batch, about to be assessed one by one."""

    def assess(self, uri: str, triples: Sequence[ox.Triple], report: ValidationReport) -> list[ox.Triple]:
        """Return a valid dataset's graph with what this part measures after validation."""
        return list(triples)

    def published(self, created: Sequence[str], updated: Sequence[str], source: str,
                  hashes: Mapping[str, str] | None, job: int | None) -> None:
        """Take note of datasets the store has just published (created or updated)."""

    def held(self, reports: Mapping[str, ValidationReport], source: str,
             hashes: Mapping[str, str] | None, job: int | None) -> None:
        """Take note of datasets held back by validation (their published version stays)."""

    def withdrawn(self, uris: Sequence[str], source: str, job: int | None) -> None:
        """Take note of datasets taken out of publication."""

    def recheck(self, uris: Sequence[str]) -> Mapping[str, str]:
        """Return, per published dataset this part draws outside input for, "changed", "unchanged" or "failed: …"."""
        return {}

    def reads(self, uris: Sequence[str]) -> Mapping[str, str]:
        """Return how this part read each enriched dataset's outside input ("re-read", "unchanged", "failed")."""
        return {}
