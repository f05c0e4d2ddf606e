"""Count what a harvest or a validation did with its records: the figures every report gives.

One ``Figures`` value gathers, over one or more mapping results and validation reports: records read,
datasets mapped, exact duplicates, key collisions, unplaced fields (field → records having it), unknown
values (field → value → count), bad values, missing mandatory fields, every problem counted by kind (so a
kind added later is never silent), the reasons datasets were held back (path and message → datasets) and the
warnings of the datasets published (path and message → datasets, with the nodes they name: a publisher
without a name, a theme without a label).
The harvest runner, ``wodp validate`` and ``POST /api/validate`` all count with it, so they agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

UNKNOWN_KINDS = ("unknown-value", "not-in-our-scheme")   # a value read but not found in our vocabularies
BAD_KINDS = ("bad-value", "bad-date")                    # a value that is not what its field must hold
NOT_PER_VALUE = ("unplaced-field", "duplicate", "key-collision", "missing-field")
NODES_SHOWN = 20     # nodes named per warning kind in a report: the first met (the count is of datasets)


@dataclass
class Figures:
    """What became of the records: read, mapped, what could not be placed or recognised, why held."""

    records_read: int = 0
    mapped: int = 0
    duplicates: int = 0
    key_collisions: int = 0
    unplaced_fields: Counter = field(default_factory=Counter)
    unknown_values: dict = field(default_factory=dict)
    bad_values: dict = field(default_factory=dict)
    missing_fields: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    held_reasons: Counter = field(default_factory=Counter)   # (path, message_en, message_zh) → datasets
    warnings: Counter = field(default_factory=Counter)       # of published datasets: (path, en, zh) → datasets
    warned_nodes: dict = field(default_factory=dict)         # (path, en, zh) → nodes named, other than datasets

    def add_mapping(self, result) -> None:
        """Count one mapping result (mappings.model.MappingResult)."""
        self.records_read += result.records
        self.mapped += len(result.graphs)
        self.duplicates += len(result.duplicates)
        self.unplaced_fields.update(result.unplaced_fields)
        self.add_problems(result.problems)

    def add_problems(self, problems: Iterable) -> None:
        """Count mapping problems by kind, and unknown, bad and missing values by field."""
        for p in problems:
            self.problems[p.kind] += 1
            where = p.field or "(record)"
            if p.kind == "key-collision":
                self.key_collisions += 1
            elif p.kind == "missing-field":
                self.missing_fields[where] += 1
            elif p.kind in BAD_KINDS:
                self.bad_values.setdefault(where, Counter())[p.value or ""] += 1
            elif p.kind in UNKNOWN_KINDS or (p.kind.startswith("unknown") and p.kind not in NOT_PER_VALUE):
                self.unknown_values.setdefault(where, Counter())[p.value or ""] += 1

    def add_graphs(self, count: int) -> None:
        """Count datasets read as RDF (no mapping): each is a record read and a dataset made."""
        self.records_read += count
        self.mapped += count

    def add_held(self, report: Mapping) -> None:
        """Count the reasons of one held dataset, from its validation report as JSON (publish.gate)."""
        self.held_reasons.update(held_reasons(report))

    def add_warned(self, uri: str, report: Mapping) -> None:
        """Count the warnings of one published dataset (its report as JSON) and the other nodes they name."""
        found = {}
        for f in report.get("findings", ()):
            if f.get("severity") == "Warning":
                key = (f.get("path") or "", f.get("message_en") or "", f.get("message_zh") or "")
                found.setdefault(key, set()).update({f["focus"]} if f.get("focus") not in (None, uri) else set())
        self.warnings.update(found.keys())     # one per dataset and kind
        for key, nodes in found.items():
            self._note_nodes(key, nodes)

    def _note_nodes(self, key: tuple, nodes) -> None:
        """Keep the first NODES_SHOWN nodes a warning kind names (a report stays small on a large harvest)."""
        kept = self.warned_nodes.setdefault(key, set())
        for node in sorted(nodes):
            if len(kept) >= NODES_SHOWN:
                return
            kept.add(node)

    def add(self, other: "Figures") -> None:
        """Add another set of figures to these."""
        for name in ("records_read", "mapped", "duplicates", "key_collisions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("unplaced_fields", "missing_fields", "problems", "held_reasons", "warnings"):
            getattr(self, name).update(getattr(other, name))
        for key, nodes in other.warned_nodes.items():
            self._note_nodes(key, nodes)
        for name in ("unknown_values", "bad_values"):
            mine = getattr(self, name)
            for where, values in getattr(other, name).items():
                mine.setdefault(where, Counter()).update(values)

    def as_json(self) -> dict:
        """Return the figures as plain JSON (most frequent first)."""
        return {
            "records_read": self.records_read, "mapped": self.mapped, "duplicates": self.duplicates,
            "key_collisions": self.key_collisions,
            "unplaced_fields": dict(self.unplaced_fields.most_common()),
            "unknown_values": _by_field(self.unknown_values),
            "bad_values": _by_field(self.bad_values),
            "missing_fields": dict(self.missing_fields.most_common()),
            "problems": dict(self.problems.most_common()),
            "held_reasons": [{"path": p, "message_en": en, "message_zh": zh, "datasets": n}
                             for (p, en, zh), n in self.held_reasons.most_common()],
            "warning_kinds": [{"path": p, "message_en": en, "message_zh": zh, "datasets": n,
                          "nodes": sorted(self.warned_nodes.get((p, en, zh), ()))}
                         for (p, en, zh), n in self.warnings.most_common()],
        }

    @classmethod
    def from_json(cls, doc: Mapping | None) -> "Figures":
        """Read figures written by as_json (an empty or missing document gives zero figures)."""
        doc = doc or {}
        return cls(
            records_read=doc.get("records_read", 0), mapped=doc.get("mapped", 0),
            duplicates=doc.get("duplicates", 0), key_collisions=doc.get("key_collisions", 0),
            unplaced_fields=Counter(doc.get("unplaced_fields", {})),
            unknown_values={k: Counter(v) for k, v in doc.get("unknown_values", {}).items()},
            bad_values={k: Counter(v) for k, v in doc.get("bad_values", {}).items()},
            missing_fields=Counter(doc.get("missing_fields", {})),
            problems=Counter(doc.get("problems", {})),
            held_reasons=Counter({(r["path"], r["message_en"], r.get("message_zh", "")): r["datasets"]
                                  for r in doc.get("held_reasons", [])}),
            warnings=Counter({(r["path"], r["message_en"], r.get("message_zh", "")): r["datasets"]
                              for r in doc.get("warning_kinds", [])}),
            warned_nodes={(r["path"], r["message_en"], r.get("message_zh", "")): set(r.get("nodes", ()))
                          for r in doc.get("warning_kinds", [])})


def held_reasons(report: Mapping) -> set[tuple[str, str, str]]:
    """Return the distinct (path, English message, Chinese message) of a report's violations."""
    found = {(f.get("path") or "", f.get("message_en") or "", f.get("message_zh") or "")
             for f in report.get("findings", ()) if f.get("severity") == "Violation"}
    return found or {("", report.get("reason") or "held back without a kept report", "")}


def _by_field(table: Mapping[str, Counter]) -> dict[str, dict[str, int]]:
    return {where: dict(values.most_common()) for where, values in
            sorted(table.items(), key=lambda kv: -sum(kv[1].values()))}
