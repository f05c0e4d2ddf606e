"""Publish dataset graphs through the SHACL gate: valid ones are stored, the others held back.

Before validation the gate screens each graph's text (publish/screen.py): text XML cannot carry and literals
over their limit (settings ``gate``) hold the dataset with a report, keeping none of its text.

The parts that take part in publication (precedence and provenance, layers, quality) are hooks
(publish/hooks.py), added by the one factory that builds the gate for the server and the CLI
(server.platform.Platform).

The writes of one publication, in order: held datasets to the quarantine, the valid ones to the store (one
transaction: all or none), then the ``published`` hooks (the ledger's rows). When the disk is full, the
publication is refused before any write (``storage.check``); a write that fails half-way is retried with the
disk reserve released (``storage.rescue``) and, when the ledger still cannot take its rows, the store write is
undone, so a 507 means nothing was stored (docs/architecture.md, "Disk full and other I/O errors").
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pyoxigraph as ox

from core.errors import WodpError
from core.storage import StorageFullError, guarded, storage_error, storage_kind
from core.timings import step
from ontology.namespaces import DCT, DEPARTMENT
from publish.hooks import GateHook
from publish.screen import TextLimits, screen
from shapes.report import ValidationReport
from sparql.quarantine import Quarantine
from sparql.store import OxigraphStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishOutcome:
    """What one publication did: datasets stored, datasets held back with their reports."""

    published: tuple[str, ...] = ()
    held: dict[str, ValidationReport] = field(default_factory=dict)
    warnings: int = 0
    superseded: tuple[str, ...] = ()  # kept out because a higher-ranked channel holds them (precedence)
    warned: dict[str, ValidationReport] = field(default_factory=dict)  # published datasets' reports with warnings
    data_files: dict[str, str] = field(default_factory=dict)  # dataset → "re-read", "unchanged", "failed"


def department_of(uri: str, triples: Sequence[ox.Triple]) -> str | None:
    """Return the code of the dataset's publisher when it is one of our departments."""
    subject = ox.NamedNode(uri)
    for t in triples:
        if t.subject == subject and t.predicate == DCT.publisher and isinstance(t.object, ox.NamedNode):
            if t.object.value.startswith(DEPARTMENT.base):
                return t.object.value[len(DEPARTMENT.base):]
    return None


class Publisher:
    """The one way datasets enter the store: validate each, store the valid, quarantine the rest."""

    BATCH = 50  # from this many datasets on, validate them as one graph with the batch engine
    CHUNK = 500  # at most this many datasets in one graph given to the batch engine (its memory stays bounded)

    def __init__(self, store: OxigraphStore, quarantine: Quarantine, validator, profile: str = "wuhan",
                 batch_validator=None, tombstones: Quarantine | None = None, hooks: Sequence[GateHook] = (),
                 digest=None, storage=None, limits: TextLimits | None = None) -> None:
        self.store = store
        self.quarantine = quarantine
        self.tombstones = tombstones
        self.validator = validator
        self.batch_validator = batch_validator
        self.profile = profile
        self.hooks: list[GateHook] = list(hooks)  # called in this order at each point of a publication
        self.digest = digest  # (uri, triples) -> content hash, for publications that bring none (pushes, loads)
        self.limits = limits or TextLimits()  # text the gate refuses before validation (publish/screen.py)
        self.storage = storage  # core.storage.DiskGuard: refuses writes on a full disk, releases its reserve
        self._pending: list[tuple] = []  # hook calls that could not be made for lack of space, made at recovery
        self._pending_lock = threading.Lock()

    # -- the disk --------------------------------------------------------------------------------------------
    def _ready(self, doing: str) -> None:
        """Refuse a publication before any write when the disk is full (507); make the calls left pending."""
        if self.storage is not None:
            self.storage.check(doing)
        guarded("writing ledger rows left pending by a full disk", self.flush_pending)

    def _rescue(self, doing: str, fn):
        if self.storage is None:
            return fn()
        return self.storage.rescue(doing, fn)

    def flush_pending(self) -> bool:
        """Make the hook calls (ledger rows) left pending by a full disk; True when none is left."""
        with self._pending_lock:
            while self._pending:
                method, args = self._pending[0]
                method(*args)
                self._pending.pop(0)
        return True

    def _call_or_defer(self, doing: str, method, args: tuple) -> None:
        """Call a hook after the store changed; on a full disk, keep the call to be made when space is back."""
        try:
            self._rescue(doing, lambda: method(*args))
        except Exception as exc:
            if storage_kind(exc) is None or self.storage is None:
                raise
            log.warning("%s is pending until space is freed: %s", doing, str(exc))
            self._pending.append((method, args))
            self.storage.mark_degraded()

    def _note_published(self, created, updated, source, hashes, job) -> None:
        for published in self._each("published"):
            self._rescue("recording the publication in the ledger",
                         lambda: published(created, updated, source, hashes, job))

    def add_hook(self, hook: GateHook) -> None:
        """Add a part to every publication from now on (after the hooks already there)."""
        self.hooks.append(hook)

    def _each(self, point: str):
        """Yield the bound method of every hook that implements a point of the contract."""
        for hook in self.hooks:
            method = getattr(hook, point, None)
            if method is not None:
                yield method

    def reports(self, graphs: Mapping[str, Sequence[ox.Triple]], profile: str) -> dict[str, ValidationReport]:
        """Validate each dataset graph; many at once go through the batch engine, CHUNK datasets a graph."""
        if self.batch_validator is not None and len(graphs) > self.CHUNK:
            uris = list(graphs)
            found: dict[str, ValidationReport] = {}
            for n in range(0, len(uris), self.CHUNK):
                found.update(self._reports({u: graphs[u] for u in uris[n:n + self.CHUNK]}, profile))
            return found
        return self._reports(graphs, profile)

    def _reports(self, graphs: Mapping[str, Sequence[ox.Triple]], profile: str) -> dict[str, ValidationReport]:
        if self.batch_validator is None or len(graphs) < self.BATCH:
            return {uri: self.validator.validate(list(t), profile=profile) for uri, t in graphs.items()}
        merged = list({t: None for triples in graphs.values() for t in triples})
        report = self.batch_validator.validate(merged, profile=profile)
        owners: dict[str, list[str]] = {}
        for uri, triples in graphs.items():
            for subject in {_label(t.subject) for t in triples}:
                owners.setdefault(subject, []).append(uri)
        findings: dict[str, list] = {uri: [] for uri in graphs}
        for finding in report.findings:
            if finding.focus not in owners and finding.severity == "Violation":
                # a violation we cannot attribute (a relabelled blank node): validate one by one
                return {uri: self.validator.validate(list(t), profile=profile) for uri, t in graphs.items()}
            for uri in owners.get(finding.focus, ()):
                findings[uri].append(finding)
        return {uri: ValidationReport(tuple(f), report.engine, profile) for uri, f in findings.items()}

    def publish(self, graphs: Mapping[str, Sequence[ox.Triple]], source: str,
                profile: str | None = None, *, job: int | None = None,
                hashes: Mapping[str, str] | None = None) -> PublishOutcome:
        """Validate every dataset graph; store those without violations in one publish."""
        self._ready("publishing datasets")
        superseded: list[str] = []
        for admit in self._each("admit"):
            with step("precedence"):
                graphs, refused = admit(graphs, source)
            superseded += refused
        if not graphs:
            return PublishOutcome(superseded=tuple(superseded))
        if hashes is None and self.digest is not None:
            hashes = {uri: self.digest(uri, triples) for uri, triples in graphs.items()}
        held: dict[str, ValidationReport] = {}
        with step("screen"):
            screened = screen(graphs, self.limits, profile or self.profile)
        for uri, report in screened.items():
            # text XML cannot carry, or longer than its limit: held with its report, its text never kept
            held[uri] = report
            self.quarantine.hold(uri.rsplit("/", 1)[-1], uri, [], report_to_json(report), source,
                                 department_of(uri, graphs[uri]))
        graphs = {uri: triples for uri, triples in graphs.items() if uri not in held}
        for before in self._each("before_enrich"):  # what enrich needs of the whole batch, read at once
            with step("enrich"):
                before(list(graphs))
        for enrich in self._each("enrich"):  # e.g. a layer's distributions and extent, validated with the rest
            with step("enrich"):
                graphs = {uri: enrich(uri, triples) for uri, triples in graphs.items()}
        data_files: dict[str, str] = {}
        for reads in self._each("reads"):  # how each data file was read (the job report counts them)
            data_files.update(reads(list(graphs)))
        accepted: dict[str, list[ox.Triple]] = {}
        warnings, warned = 0, {}
        with step("validate"):
            reports = self.reports(graphs, profile or self.profile) if graphs else {}
        valid = [uri for uri in graphs if reports[uri].conforms]
        for before in self._each("before_assess"):  # what assess needs of the whole batch, read at once
            with step("quality"):
                before(valid)
        for uri, triples in graphs.items():
            report = reports[uri]
            dataset_id = uri.rsplit("/", 1)[-1]
            if report.conforms:
                triples = list(triples)
                for assess in self._each("assess"):
                    with step("quality"):
                        triples = assess(uri, triples, report)
                accepted[uri] = triples
                warnings += report.count("Warning")
                if report.count("Warning"):
                    warned[uri] = report
            else:
                held[uri] = report
                with step("quarantine"):
                    guarded("keeping a dataset held back by validation", lambda: self.quarantine.hold(
                        dataset_id, uri, list(triples), report_to_json(report), source,
                        department_of(uri, triples)))
        if accepted:
            with step("store: keep previous versions"):  # read before the turn (undone only on a full disk)
                previous = self._previous(accepted) if self.storage is not None else None
            prepare = getattr(self.store, "prepare", None)  # a shared store: its CPU work before the turn
            if prepare is not None:
                accepted = prepare(accepted)
            # a store shared by several processes: the store's turn for the ledger's note, the write and the
            # change log, then the indexes' turn for the other indexes and the ledger's rows (sparql/shared.py)
            with step("store"), self._publication():
                self._store_accepted(accepted, source, hashes, job, previous)
        if held:
            log.info("%s: %d datasets held back by validation", source, len(held))
            for note_held in self._each("held"):
                self._call_or_defer("recording datasets held back in the ledger", note_held,
                                    (held, source, hashes, job))
        return PublishOutcome(tuple(accepted), held, warnings, tuple(superseded), warned, data_files)

    def _previous(self, accepted: Mapping[str, Sequence[ox.Triple]]) -> dict[str, list[ox.Triple]]:
        """The datasets' graphs as stored now (empty: not stored), to put back if the publication is undone."""
        graphs_of = getattr(self.store, "dataset_graphs", None)
        if graphs_of is not None:  # a remote store: one request for the batch
            return graphs_of(list(accepted))
        return {uri: self.store.dataset_triples(uri) for uri in accepted}

    def _store_accepted(self, accepted: dict[str, list[ox.Triple]], source: str, hashes, job, previous) -> None:
        """Store valid datasets and record them in the ledger: both, or (when the disk is full) neither."""
        for intend in self._each("intend"):  # the ledger's rows written ahead: no restart leaves a gap
            try:
                with step("ledger"):
                    self._rescue("recording the publication ahead in the ledger",
                                 lambda: intend(list(accepted), source, hashes, job))
            except Exception as exc:
                error = storage_error(exc, "recording the publication ahead in the ledger")
                if error is None:
                    raise
                if self.storage is not None:
                    self.storage.mark_degraded()
                raise error from exc
        try:
            created = self.store.put_datasets(accepted).created  # one transaction: all or none
        except WodpError as exc:
            if storage_kind(exc) is not None and self.storage is not None:
                self.storage.mark_degraded()
            raise
        with step("quarantine"):
            for uri in accepted:
                self.quarantine.release(uri.rsplit("/", 1)[-1])
                if self.tombstones is not None:
                    self.tombstones.release(uri.rsplit("/", 1)[-1])
        fresh = set(created)
        updated = [u for u in accepted if u not in fresh]
        try:
            with step("ledger"):
                self._note_published(created, updated, source, hashes, job)
        except Exception as exc:
            error = storage_error(exc, "recording the publication in the ledger")
            if error is None or previous is None:
                raise
            self._undo(previous, error, (created, updated, source, hashes, job))
            raise error from exc

    def _undo(self, previous: dict, error: WodpError, call: tuple) -> None:
        """Put the store back as it was before a publication whose ledger rows could not be written."""
        self.storage.mark_degraded()
        try:
            self._rescue("undoing a publication", lambda: self.store.restore(previous))
            log.warning("publication of %d datasets undone: %s", len(previous), error.message)
        except Exception as exc:  # the store keeps them: their ledger rows are written when space is back
            log.error("cannot undo a publication of %d datasets (%s); their ledger rows are pending",
                      len(previous), str(exc))
            self._pending += [(published, call) for published in self._each("published")]
            raise StorageFullError(
                f"the server's disk is full: the datasets were stored but their ledger rows could not be written; "
                "they will be written as soon as space is freed") from exc

    def recheck(self, uris: Sequence[str]) -> dict[str, str]:
        """Ask every hook which published datasets with unchanged metadata changed outside their graph."""
        found: dict[str, str] = {}
        for recheck in self._each("recheck"):
            found.update(recheck(list(uris)))
        return found

    def withdraw(self, uris: Sequence[str], source: str, reason: str = "withdrawn", *,
                 job: int | None = None) -> tuple[str, ...]:
        """Take datasets out of publication, keeping each as a tombstone (answering 410); return those withdrawn."""
        if self.tombstones is None:
            raise RuntimeError("this publisher keeps no tombstones")
        self._ready("withdrawing datasets")
        kept = []
        for uri in uris:
            triples = self.store.dataset_triples(uri)
            if not triples:
                continue
            guarded("keeping a withdrawn dataset's tombstone", lambda: self.tombstones.hold(
                uri.rsplit("/", 1)[-1], uri, triples, {"reason": reason}, source, department_of(uri, triples)),
                "nothing was withdrawn")
            kept.append(uri)
        if kept:
            with self._publication():
                try:
                    self.store.remove_datasets(kept, reason=reason)
                except WodpError:
                    for uri in kept:
                        self.tombstones.release(uri.rsplit("/", 1)[-1])
                    raise
                for withdrawn in self._each("withdrawn"):
                    self._call_or_defer("recording the withdrawal in the ledger", withdrawn, (kept, source, job))
        return tuple(kept)

    def _publication(self):
        """Take the turns of a store shared by several processes for one publication (sparql/shared.py): its
        write in the store's turn, what follows in the indexes' turn; a store of one process needs no turn."""
        publication = getattr(self.store, "publication", None)
        return publication() if publication is not None else nullcontext()


def _label(term) -> str:
    return "_:" + term.value if isinstance(term, ox.BlankNode) else term.value


def report_to_json(report: ValidationReport) -> dict:
    """Write a report as plain JSON (for the quarantine, the API and the CLI)."""
    return {
        "conforms": report.conforms,
        "engine": report.engine,
        "profile": report.profile,
        "violations": report.count("Violation"),
        "warnings": report.count("Warning"),
        "findings": [
            {"focus": f.focus, "path": f.path, "constraint": f.constraint, "severity": f.severity,
             "shape": f.shape, "message_zh": f.message_zh, "message_en": f.message_en, "value": f.value}
            for f in report.findings
        ],
    }
