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
