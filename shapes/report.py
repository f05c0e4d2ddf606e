"""What validation finds: one Finding per SHACL result, gathered in a ValidationReport."""

from __future__ import annotations

from dataclasses import dataclass, field

VIOLATION = "Violation"
WARNING = "Warning"
INFO = "Info"


@dataclass(frozen=True)
class Finding:
    """One SHACL validation result, with a message a department officer can read."""

    focus: str                  # IRI (or blank node label) of the focus node
    path: str | None            # IRI of the property path when it is a single predicate, else its SPARQL text
    constraint: str             # IRI of the constraint component, e.g. sh:MinCountConstraintComponent
    severity: str               # VIOLATION, WARNING or INFO
    shape: str                  # IRI or label of the source shape
    message_zh: str
    message_en: str
    value: str | None = None    # the offending value, as N-Triples text


@dataclass(frozen=True)
class ValidationReport:
    """All findings about one or more datasets."""

    findings: tuple[Finding, ...] = ()
    engine: str = ""
    profile: str = ""

    @property
    def conforms(self) -> bool:
        return not any(f.severity == VIOLATION for f in self.findings)

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    def for_focus(self, prefix: str) -> "ValidationReport":
        """Return the findings whose focus node is or belongs to one dataset URI (prefix match on '#')."""
        kept = tuple(f for f in self.findings if f.focus == prefix or f.focus.startswith(prefix + "#"))
        return ValidationReport(kept, self.engine, self.profile)

    extra: dict = field(default_factory=dict, compare=False, hash=False)


# constraint components that all say "the value is missing" (a plain or a qualified minimum count)
MISSING = frozenset({"http://www.w3.org/ns/shacl#MinCountConstraintComponent",
                     "http://www.w3.org/ns/shacl#QualifiedMinCountConstraintComponent"})
_MIN_COUNT = "http://www.w3.org/ns/shacl#MinCountConstraintComponent"
_RANK = {VIOLATION: 0, WARNING: 1, INFO: 2}


def problem_kind(constraint: str | None) -> str:
    """Return what kind of problem a constraint component reports: "missing" for the minimum counts, else its name."""
    if constraint in MISSING:
        return "missing"
    return (constraint or "").rsplit("#", 1)[-1]


def merge_findings(findings: list[dict], own_shapes: str = "https://data.wuhan.gov.cn/def/shapes/wuhan") -> list[dict]:
    """Say each problem once: merge the findings (report JSON) about one focus, path, kind and value.

    DCAT-AP 3 and the Wuhan profile check some properties each (a description missing is found by the
    DCAT-AP shape, the Wuhan shape and the Wuhan shape asking for Chinese text). The merged finding keeps the
    most severe one's severity, the message of the profile's own shape when it is among them (it names the
    field as the form does; a plain minimum count's before a qualified one's), and in ``sources`` how many findings it stands for, in ``shapes`` their shapes.
    """
    groups: dict[tuple, list[dict]] = {}
    for f in findings:
        key = (f.get("focus"), f.get("path"), problem_kind(f.get("constraint")), f.get("value"))
        groups.setdefault(key, []).append(f)
    merged = []
    for items in groups.values():
        best = min(items, key=lambda f: (_RANK.get(f.get("severity"), 9),
                                         not str(f.get("shape") or "").startswith(own_shapes),
                                         f.get("constraint") != _MIN_COUNT))  # "missing" said plainly
        merged.append({**best, "sources": sum(f.get("sources", 1) for f in items),
                       "shapes": [s for f in items for s in f.get("shapes", [f.get("shape")])]})
    return merged
