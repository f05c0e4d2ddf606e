"""Apply a mapping to records: deduplicate, key, build one graph per dataset, gather every problem."""

from __future__ import annotations

import json
from collections import Counter

from ontology.labels import label_triples
from mappings.extract import Extracted, extract, record_fields, record_key
from mappings.paths import first_segment
from mappings.graph import Builder, build
from mappings.model import MappingResult, Problem, SourceRecord
from mappings.spec import Mapping
from mappings.targets import MANDATORY
from core.identifiers import dataset_id


def apply_mapping(records: list[SourceRecord], mapping: Mapping, base_uri: str) -> MappingResult:
    """Map records to dataset graphs (docs/model.md), reporting duplicates, gaps and unknown values."""
    base = base_uri.rstrip("/")
    problems: list[Problem] = []
    unique, duplicates = _deduplicate(records, problems)
    graphs: dict[str, list] = {}
    unplaced: Counter[str] = Counter()
    first_origin: dict[str, str] = {}
    for record in unique:
        ext = extract(record, mapping)
        ext.placed.update(first_segment(path) for path in _key_paths(mapping))
        for name in record_fields(record):
            if name not in ext.placed:
                unplaced[name] += 1
                first_origin.setdefault(name, record.origin)
        _report_missing(record, mapping, ext, problems)
        key, _ = record_key(record, mapping, ext)
        ident = _unique_id(record, key, graphs, base, problems)
        builder = Builder(base, record.source, key, ident, mapping, ext, record.origin)
        graph = build(builder)
        graphs[builder.uri.value] = graph + label_triples(graph)
        problems += builder.problems
    problems += [Problem(first_origin[name], name, "unplaced-field",
                         f"field {name!r} fits no target of mapping {mapping.name!r} ({count} records)")
                 for name, count in unplaced.items()]
    return MappingResult(graphs=graphs, problems=tuple(_once_per_agent(problems)), records=len(records),
                         duplicates=tuple(duplicates), unplaced_fields=dict(unplaced))


def _key_paths(mapping: Mapping) -> tuple[str, ...]:
    """Return the source paths the key is read from (they count as placed)."""
    return (mapping.key.paths if mapping.key else ()) + mapping.key_hash


def _deduplicate(records: list[SourceRecord], problems: list[Problem]) -> tuple[list, list]:
    """Keep the first of exactly equal records; report the others as duplicates."""
    seen: dict[str, str] = {}
    unique, duplicates = [], []
    for record in records:
        canon = json.dumps([record.source, record.key, record.fields], ensure_ascii=False, sort_keys=True,
                           default=str)
        if canon in seen:
            duplicates.append((seen[canon], record.origin))
            problems.append(Problem(record.origin, None, "duplicate",
                                    f"exact duplicate of {seen[canon]}; dropped"))
        else:
            seen[canon] = record.origin
            unique.append(record)
    return unique, duplicates


def _report_missing(record: SourceRecord, mapping: Mapping, ext: Extracted, problems: list[Problem]) -> None:
    """Report every mandatory target the record leaves empty (nothing is invented for it)."""
    for target in MANDATORY:
        present = ext.values.get(target) or (target == "format" and ext.distributions) or (
            target == "contact" and any(ext.values.get(t) for t in ("contact_name", "contact_email",
                                                                    "contact_phone")))
        if not present:
            problems.append(Problem(record.origin, target, "missing-field",
                                    f"no value for {target} in the record (mapping {mapping.name!r})"))


def _unique_id(record: SourceRecord, key: str, graphs: dict, base: str, problems: list[Problem]) -> str:
    """Return the dataset id of a key; a different record with the same key gets a numbered key."""
    ident = dataset_id(record.source, key)
    n = 1
    while f"{base}/datasets/{ident}" in graphs:
        n += 1
        ident = dataset_id(record.source, f"{key}|{n}")
    if n > 1:
        problems.append(Problem(record.origin, None, "key-collision",
                                f"another record has the key {key!r}; this one is numbered {n}", key))
    return ident


def _once_per_agent(problems: list[Problem]) -> list[Problem]:
    """Keep one not-in-our-scheme problem per publisher name; keep all others."""
    seen: set[tuple] = set()
    out = []
    for p in problems:
        if p.kind == "not-in-our-scheme":
            if (p.field, p.value) in seen:
                continue
            seen.add((p.field, p.value))
        out.append(p)
    return out
