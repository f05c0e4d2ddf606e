"""Publish dataset graphs through the SHACL gate: valid ones are stored, the others held back."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pyoxigraph as ox

from ontology.namespaces import DCT, DEPARTMENT
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

    def __init__(self, store: OxigraphStore, quarantine: Quarantine, validator, profile: str = "wuhan",
                 quality=None) -> None:
        self.store = store
        self.quarantine = quarantine
        self.validator = validator
        self.profile = profile
        self.quality = quality  # callable(uri, triples, report) -> the graph with DQV measurements

    def publish(self, graphs: Mapping[str, Sequence[ox.Triple]], source: str) -> PublishOutcome:
        """Validate every dataset graph; store those without violations in one publish."""
        accepted: dict[str, list[ox.Triple]] = {}
        held: dict[str, ValidationReport] = {}
        warnings = 0
        for uri, triples in graphs.items():
            report = self.validator.validate(list(triples), profile=self.profile)
            dataset_id = uri.rsplit("/", 1)[-1]
            if report.conforms:
                accepted[uri] = list(self.quality(uri, triples, report)) if self.quality else list(triples)
                warnings += report.count("Warning")
            else:
                held[uri] = report
                self.quarantine.hold(dataset_id, uri, list(triples), report_to_json(report), source,
                                     department_of(uri, triples))
        if accepted:
            self.store.put_datasets(accepted)
            for uri in accepted:
                self.quarantine.release(uri.rsplit("/", 1)[-1])
        if held:
            log.info("%s: %d datasets held back by validation", source, len(held))
        return PublishOutcome(tuple(accepted), held, warnings)


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
