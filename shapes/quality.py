"""Measure a dataset's quality (completeness, freshness, conformance, links) as DQV measurements."""

from __future__ import annotations

import threading

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Mapping, Sequence

import pyoxigraph as ox

from ontology.namespaces import DCAT, DCT, DQV, PROV, RDF, UPDATE_CYCLE, WODP, XSD
from shapes.report import ValidationReport

# The Chinese core metadata elements counted by completeness: (label, predicate).
CORE_ELEMENTS = (
    ("资源名称", DCT.title), ("资源摘要", DCT.description), ("资源提供方", DCT.publisher),
    ("资源代码", WODP.resourceCode), ("资源分类", DCAT.theme), ("关键字", DCAT.keyword),
    ("开放类型", WODP.openType), ("更新周期", WODP.updateCycle), ("发布日期", DCT.issued),
    ("更新日期", DCT.modified), ("资源格式", DCAT.distribution), ("联系方式", DCAT.contactPoint),
    ("数据量", WODP.dataVolume), ("空间范围", DCT.spatial),
)
# Days a dataset may go without change under each declared cycle (None: no expectation).
CYCLE_DAYS = {
    "realtime": 1, "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "halfyearly": 183,
    "yearly": 366, "irregular": None, "never": None,
}
WEIGHTS = {"completeness": 0.4, "freshness": 0.3, "conformance": 0.3}
WARNING_COST = 0.1


@dataclass(frozen=True)
class Quality:
    """The measurements of one dataset, each from 0 to 1, and the weighted score from 0 to 100."""

    completeness: float
    freshness: float
    conformance: float
    link_availability: float | None
    score: float
    missing: tuple[str, ...]


def measure(uri: str, triples: Sequence[ox.Triple], report: ValidationReport,
            today: date | None = None, links: tuple[int, int] | None = None) -> Quality:
    """Measure one dataset graph; links is (answering, checked) when the link monitor knows it."""
    subject = ox.NamedNode(uri)
    present = {t.predicate for t in triples if t.subject == subject}
    missing = tuple(label for label, predicate in CORE_ELEMENTS if predicate not in present)
    completeness = 1 - len(missing) / len(CORE_ELEMENTS)
    freshness = _freshness(subject, triples, today or datetime.now(timezone.utc).date())
    conformance = 0.0 if not report.conforms else max(0.0, 1 - WARNING_COST * report.count("Warning"))
    parts = {"completeness": completeness, "freshness": freshness, "conformance": conformance}
    weights = dict(WEIGHTS)
    availability = None
    if links and links[1]:
        availability = links[0] / links[1]
        parts["links"] = availability
        weights = {k: v * 0.8 for k, v in weights.items()} | {"links": 0.2}
    score = 100 * sum(parts[k] * weights[k] for k in parts)
    return Quality(round(completeness, 3), round(freshness, 3), round(conformance, 3),
                   None if availability is None else round(availability, 3), round(score, 1), missing)


def _freshness(subject: ox.NamedNode, triples: Sequence[ox.Triple], today: date) -> float:
    cycle = modified = None
    for t in triples:
        if t.subject != subject:
            continue
        if t.predicate == WODP.updateCycle and t.object.value.startswith(UPDATE_CYCLE.base):
            cycle = t.object.value[len(UPDATE_CYCLE.base):]
        elif t.predicate == DCT.modified:
            modified = _to_date(t.object.value)
    days = CYCLE_DAYS.get(cycle or "", None)
    if cycle is None or modified is None:
        return 0.0 if cycle and days else (1.0 if cycle else 0.0)
    if days is None:
        return 1.0
    late = (today - modified).days - days
    if late <= 0:
        return 1.0
    return max(0.0, 1 - late / (3 * days + 30))


def _to_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def measurement_triples(uri: str, quality: Quality, at: datetime | None = None) -> list[ox.Triple]:
    """Write the measurements as dqv:QualityMeasurement nodes in the dataset's graph."""
    stamp = ox.Literal((at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=XSD.dateTime)
    values: Mapping[str, float | None] = {
        "qualityScore": quality.score, "completeness": quality.completeness, "freshness": quality.freshness,
        "conformance": quality.conformance, "linkAvailability": quality.link_availability,
    }
    out: list[ox.Triple] = []
    for metric, value in values.items():
        if value is None:
            continue
        out += _measurement(uri, metric, ox.Literal(f"{value}", datatype=XSD.decimal), stamp)
    return out


def _measurement(uri: str, metric: str, value: ox.Literal, stamp: ox.Literal) -> list[ox.Triple]:
    """Return one dqv:QualityMeasurement of the dataset ``uri`` for the wodp metric ``metric``."""
    subject, node = ox.NamedNode(uri), ox.NamedNode(f"{uri}#quality-{metric}")
    return [
        ox.Triple(subject, DQV.hasQualityMeasurement, node),
        ox.Triple(node, RDF.type, DQV.QualityMeasurement),
        ox.Triple(node, DQV.computedOn, subject),
        ox.Triple(node, DQV.isMeasurementOf, WODP[metric]),
        ox.Triple(WODP[metric], RDF.type, DQV.Metric),
        ox.Triple(node, DQV.value, value),
        ox.Triple(node, PROV.generatedAtTime, stamp),
    ]


SHARE_METRICS = frozenset({"emptyCellShare"})  # data-quality metrics (tabular/) valued 0 to 1; the others count


def data_quality_triples(uri: str, values: Mapping[str, float], at: datetime | None = None) -> list[ox.Triple]:
    """Write the data-quality checks' values (metric local name → value) as dqv:QualityMeasurement nodes."""
    stamp = ox.Literal((at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=XSD.dateTime)
    out: list[ox.Triple] = []
    for metric, value in sorted(values.items()):
        literal = ox.Literal(f"{round(value, 4)}", datatype=XSD.decimal) if metric in SHARE_METRICS \
            else ox.Literal(str(int(value)), datatype=XSD.integer)
        out += _measurement(uri, metric, literal, stamp)
    return out


def strip_measurements(uri: str, triples: Sequence[ox.Triple]) -> list[ox.Triple]:
    """Remove earlier quality measurements from a dataset graph."""
    prefix = f"{uri}#quality-"
    return [t for t in triples
            if not (isinstance(t.subject, ox.NamedNode) and t.subject.value.startswith(prefix))
            and not (t.predicate == DQV.hasQualityMeasurement)
            and not (t.predicate == RDF.type and t.object == DQV.Metric)]


def with_quality(uri: str, triples: Sequence[ox.Triple], report: ValidationReport,
                 links: tuple[int, int] | None = None) -> list[ox.Triple]:
    """Return the dataset graph with fresh measurements in place of any earlier ones (measured today)."""
    plain = strip_measurements(uri, triples)
    return plain + measurement_triples(uri, measure(uri, plain, report, links=links))


class QualityHook:
    """The publisher's quality hook: with_quality, with link counts looked up per dataset when known.

    ``links_of(uri)`` returns (answering, checked) from the link monitor, or None when it has not checked the
    dataset's links; it is set once the monitor's table is open (harvesters.service.Harvesting).
    """

    def __init__(self, links_of: Callable[[str], tuple[int, int] | None] | None = None,
                 links_of_many: Callable[[Sequence[str]], dict] | None = None) -> None:
        self.links_of, self.links_of_many = links_of, links_of_many
        self._batch = threading.local()  # .links: uri -> link counts of the batch in hand (before_assess)

    def before_assess(self, uris: Sequence[str]) -> None:
        """Read the link counts of a batch's datasets at once (the gate's before_assess point)."""
        if self.links_of_many is not None and uris:
            self._batch.links = self.links_of_many(list(uris))

    def assess(self, uri: str, triples: Sequence[ox.Triple], report: ValidationReport) -> list[ox.Triple]:
        """The gate's assess hook (publish/hooks.py): measure a valid dataset."""
        batch = getattr(self._batch, "links", {})
        if uri in batch:
            links = batch[uri]
        else:
            links = self.links_of(uri) if self.links_of else None
        return with_quality(uri, triples, report, links)
