"""Screen dataset graphs before validation: text XML cannot carry, and literals longer than their limit.

The gate refuses such a dataset before anything else looks at it (SHACL, layers, the store, CSW): its report
names the dataset, the property, the position of the character or the length and the limit. The limits are
settings (section ``gate``): one for every literal, others per property by prefixed name or IRI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pyoxigraph as ox

from core.text import UNFIT_FOR_XML, describe, excerpt, first_unfit
from ontology.namespaces import PREFIXES
from shapes.report import VIOLATION, Finding, ValidationReport

SH = "http://www.w3.org/ns/shacl#"
MAX_LENGTH = SH + "MaxLengthConstraintComponent"
PATTERN = SH + "PatternConstraintComponent"
SHAPE = "wodp gate: text"  # a label, not an IRI: these checks are the gate's, not a shapes file's
MOST_FINDINGS = 20  # findings listed per dataset; past that, one more says how many were left out
ENGINE = "gate"


@dataclass(frozen=True)
class TextLimits:
    """The gate's limits on text: characters per literal (by property IRI) and per IRI."""

    max_literal_chars: int = 20_000
    max_iri_chars: int = 8_000
    per_property: Mapping[str, int] = field(default_factory=dict)  # full property IRI -> characters

    @classmethod
    def from_settings(cls, gate) -> "TextLimits":
        """Read the ``gate`` settings section; a prefixed name with an unknown prefix is a settings error."""
        from config.settings import SettingsError

        resolved = {}
        for name, limit in gate.literal_limits.items():
            try:
                resolved[expand(name)] = limit
            except ValueError as exc:
                raise SettingsError(f"gate.literal_limits: {exc}") from None
        return cls(gate.max_literal_chars, gate.max_iri_chars, resolved)

    def literal_limit(self, predicate: str) -> int:
        return self.per_property.get(predicate, self.max_literal_chars)


def expand(name: str) -> str:
    """Return the IRI of a prefixed name (dct:title) or of an IRI given whole."""
    if name.startswith(("http://", "https://", "urn:")):
        return name
    prefix, sep, local = name.partition(":")
    if not sep or prefix not in PREFIXES:
        raise ValueError(f"{name!r} is neither an IRI nor a prefixed name of a known prefix "
                         f"({', '.join(sorted(PREFIXES))})")
    return PREFIXES[prefix] + local


def short(iri: str) -> str:
    """Return the prefixed name of an IRI when a known prefix fits, else the IRI."""
    for prefix, base in PREFIXES.items():
        if iri.startswith(base) and len(iri) > len(base):
            return f"{prefix}:{iri[len(base):]}"
    return iri


def _label(term) -> str:
    return "_:" + term.value if isinstance(term, ox.BlankNode) else term.value


def _unfit(dataset_id: str, focus: str, where: str, path: str, text: str) -> Finding | None:
    found = first_unfit(text)
    if found is None:
        return None
    index, char = found
    return Finding(
        focus, path, PATTERN, VIOLATION, SHAPE,
        f"数据集 {dataset_id}：{where} 的第 {index + 1} 个字符是 {describe(char, zh=True)}，"
        "XML 无法承载此字符，请删除后重新提交",
        f"dataset {dataset_id}: {where} holds {describe(char)} at character {index + 1}, which XML cannot "
        "carry; remove it and send the record again",
        excerpt(text, 80, around=index))


def _too_long(dataset_id: str, focus: str, where: str, path: str, text: str, limit: int, key: str) -> Finding:
    return Finding(
        focus, path, MAX_LENGTH, VIOLATION, SHAPE,
        f"数据集 {dataset_id}：{where} 有 {len(text):,} 个字符，超过上限 {limit:,}（设置 {key}）",
        f"dataset {dataset_id}: {where} has {len(text):,} characters; the gate takes at most {limit:,} "
        f"(setting {key})",
        excerpt(text, 80))


def screen_graph(uri: str, triples: Sequence[ox.Triple], limits: TextLimits) -> list[Finding]:
    """Return the findings of one dataset graph: text XML cannot carry, literals and IRIs over their limit."""
    if _fits(triples, limits):
        return []  # the common case, decided by one search over all the graph's text
    findings: list[Finding] = []
    extra = 0
    for t in triples:
        for role, term in (("subject", t.subject), ("predicate", t.predicate), ("object", t.object)):
            if isinstance(term, ox.BlankNode):
                continue
            problem = _problem(uri, t, role, term, limits)
            if problem is None:
                continue
            if len(findings) < MOST_FINDINGS:
                findings.append(problem)
            else:
                extra += 1
    if extra:
        dataset_id = uri.rsplit("/", 1)[-1]
        findings.append(Finding(uri, None, PATTERN, VIOLATION, SHAPE,
                                f"数据集 {dataset_id}：另有 {extra} 处同类问题未列出",
                                f"dataset {dataset_id}: {extra} more problems of the same kinds are not listed"))
    return findings


def _fits(triples: Sequence[ox.Triple], limits: TextLimits) -> bool:
    """Tell quickly whether every literal is XML text within its limit and every IRI within its own.

    IRIs need no search for unfit characters: pyoxigraph refuses them in an IRI (ValueError, or a parse error).
    """
    literal, named, max_iri = ox.Literal, ox.NamedNode, limits.max_iri_chars
    least = min(limits.max_literal_chars, *limits.per_property.values()) if limits.per_property \
        else limits.max_literal_chars
    texts = []
    for t in triples:
        o = t.object
        if type(o) is literal:
            value = o.value
            if len(value) > least and len(value) > limits.literal_limit(t.predicate.value):
                return False
            texts.append(value)
        elif type(o) is named and len(o.value) > max_iri:
            return False
        if len(t.subject.value) > max_iri or len(t.predicate.value) > max_iri:
            return False
    return UNFIT_FOR_XML.search("\n".join(texts)) is None


def _problem(uri: str, t: ox.Triple, role: str, term, limits: TextLimits) -> Finding | None:
    """Describe what is wrong with one term of a triple (unfit text, or over its limit), if anything."""
    dataset_id = uri.rsplit("/", 1)[-1]
    path, focus, text = t.predicate.value, _label(t.subject), term.value
    if isinstance(term, ox.Literal):
        where, limit = short(path), limits.literal_limit(path)
        key = "gate.literal_limits" if path in limits.per_property else "gate.max_literal_chars"
    else:
        where, limit, key = f"the IRI ({role} of {short(path)})", limits.max_iri_chars, "gate.max_iri_chars"
    unfit = _unfit(dataset_id, focus, where, path, text)
    if unfit is not None:
        return unfit
    return _too_long(dataset_id, focus, where, path, text, limit, key) if len(text) > limit else None


def screen(graphs: Mapping[str, Sequence[ox.Triple]], limits: TextLimits, profile: str = ""
           ) -> dict[str, ValidationReport]:
    """Return the report of each dataset the gate refuses before validation (the others are not listed)."""
    refused = {}
    for uri, triples in graphs.items():
        findings = screen_graph(uri, triples, limits)
        if findings:
            refused[uri] = ValidationReport(tuple(findings), ENGINE, profile)
    return refused
