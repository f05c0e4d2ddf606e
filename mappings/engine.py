"""Apply a mapping to records: deduplicate, key, build one graph per dataset, gather every problem."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Mapping as dictlike, Sequence

from ontology.labels import label_triples
from mappings.extract import Extracted, extract, record_fields, record_key
from mappings.paths import first_segment
from mappings.graph import Builder, build
from mappings.infer import infer_fields
from mappings.model import MappingResult, Problem, SourceRecord
from mappings.spec import Mapping
from mappings.targets import MANDATORY
from mappings.values import word_key
from core.identifiers import dataset_id


def apply_mapping(records: list[SourceRecord], mapping: Mapping, base_uri: str, *,
                  jurisdiction: str | None = None, publishers: Sequence[str] = (),
                  themes: dictlike[str, str] | None = None) -> MappingResult:
    """Map records to dataset graphs (docs/model.md), reporting duplicates, gaps and unknown values.

    ``jurisdiction`` is the source's administrative division code (420100 is Wuhan); None takes the
    mapping's own (``jurisdiction:`` of the mapping file). Publishers are matched to our departments only
    when it is Wuhan's; otherwise each becomes an organisation of its own (mappings/departments.py).
    ``publishers`` and ``themes`` are the source's own lists (harvest.sources[]): publisher names help place
    a field we have never seen; theme words map to our theme codes. Keys are computed over all records
    together, so map a source's records in one call: records whose keys collide are keyed by their other
    fields instead, and the collision is reported (never a record dropped).
    """
    where = mapping.jurisdiction if jurisdiction is None else (jurisdiction.strip() or None)
    problems: list[Problem] = []
    unique, duplicates = _deduplicate(records, problems)
    inferred = infer_fields(unique, mapping, publishers)
    declared = {word_key(k): str(v) for k, v in (themes or {}).items()}
    extracted = [_extracted(record, mapping, inferred) for record in unique]
    keys, collisions = _keys(unique, mapping, extracted, problems)
    graphs: dict[str, list] = {}
    origins: dict[str, str] = {}
    for record, ext, key in zip(unique, extracted, keys):
        _report_missing(record, mapping, ext, problems)
        builder = Builder(base_uri.rstrip("/"), record.source, key, dataset_id(record.source, key), mapping, ext,
                          record.origin, jurisdiction=where, source_themes=declared)
        graph = build(builder)
        graphs[builder.uri.value] = graph + label_triples(graph)
        origins[record.origin] = builder.uri.value
        problems += builder.problems
    origins.update((dropped, origins[kept]) for kept, dropped in duplicates)
    unplaced = _report_fields(unique, extracted, mapping, inferred, problems)
    return MappingResult(graphs=graphs, problems=tuple(_once_per_agent(problems)), records=len(records),
                         duplicates=tuple(duplicates), unplaced_fields=unplaced,
                         unknown_values=_unknown_values(problems), key_collisions=collisions, origins=origins)


def _report_fields(records: list[SourceRecord], exts: list[Extracted], mapping: Mapping, inferred: dict,
                   problems: list[Problem]) -> dict[str, int]:
    """Report empty values, inferred fields and unplaced fields with counts; return field → records unplaced."""
    unplaced: Counter[str] = Counter()
    used: Counter[str] = Counter()
    first: dict[str, str] = {}
    for record, ext in zip(records, exts):
        problems += [Problem(record.origin, name, "empty-value", f"{word!r} says there is no value", word)
                     for name, word in ext.empty]
        for name in ext.inferred:
            used[name] += 1
            first.setdefault(name, record.origin)
        for name in record_fields(record):
            if name not in ext.placed:
                unplaced[name] += 1
                first.setdefault(name, record.origin)
    problems += [Problem(first[name], name, "inferred-field", f"field {name!r} placed on {inferred[name][0]}: "
                         f"{inferred[name][1]} ({count} records)", inferred[name][0]) for name, count in used.items()]
    problems += [Problem(first[name], name, "unplaced-field",
                         f"field {name!r} fits no target of mapping {mapping.name!r} ({count} records)")
                 for name, count in unplaced.items()]
    return dict(unplaced)


def _extracted(record: SourceRecord, mapping: Mapping, inferred: dict) -> Extracted:
    """Extract a record's targets; the fields its key is read from count as placed."""
    ext = extract(record, mapping, inferred)
    ext.placed.update(first_segment(path) for path in _key_paths(mapping))
    return ext


def _key_paths(mapping: Mapping) -> tuple[str, ...]:
    """Return the source paths the key is read from (they count as placed)."""
    return (mapping.key.paths if mapping.key else ()) + mapping.key_hash


def _deduplicate(records: list[SourceRecord], problems: list[Problem]) -> tuple[list, list]:
    """Keep the first of exactly equal records; report the others as duplicates."""
    seen: dict[str, str] = {}
    unique, duplicates = [], []
    for record in records:
        canon = _canonical(record)
        if canon in seen:
            duplicates.append((seen[canon], record.origin))
            problems.append(Problem(record.origin, None, "duplicate",
                                    f"exact duplicate of {seen[canon]}; dropped"))
        else:
            seen[canon] = record.origin
            unique.append(record)
    return unique, duplicates


def _canonical(record: SourceRecord) -> str:
    """Return a record as canonical JSON (source, key and fields; key order ignored)."""
    return json.dumps([record.source, record.key, record.fields], ensure_ascii=False, sort_keys=True, default=str)


def _keys(records: list[SourceRecord], mapping: Mapping, exts: list[Extracted],
          problems: list[Problem]) -> tuple[list[str], dict[str, int]]:
    """Return each record's key; records sharing one are keyed by their other fields, and reported.

    The fallback does not depend on record order: every record of a colliding group is keyed by its title,
    publisher and issue date, and where those still collide, by the SHA-1 of all its fields.
    """
    keyed = [record_key(r, mapping, e) for r, e in zip(records, exts)]
    keys = [k for k, _ in keyed]
    collisions: dict[str, int] = {}
    reported: dict[int, int] = {}       # record index → index of its key-collision problem
    fallbacks = (("title, publisher and issue date",
                  lambda i: "|".join(exts[i].first(t) or "" for t in ("title", "publisher", "issued"))),
                 ("a hash of all their fields",
                  lambda i: f"{keys[i]}|" + hashlib.sha1(_canonical(records[i]).encode("utf-8")).hexdigest()[:20]))
    for instead, fallback in fallbacks:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, record in enumerate(records):
            groups[(record.source, keys[i])].append(i)
        for group in (g for g in groups.values() if len(g) > 1):
            first = group[0]
            if first in reported:       # still colliding after the first fallback: say what was used at last
                old = problems[reported[first]]
                problems[reported[first]] = Problem(old.origin, old.field, old.kind,
                                                    old.message + f"; where those agree too, by {instead}",
                                                    old.value)
            else:
                key, how = keys[first], keyed[first][1]
                collisions[key] = len(group)
                reported.update((i, len(problems)) for i in group)
                problems.append(Problem(records[first].origin, how, "key-collision",
                                        f"{len(group)} records share the key {key!r} (from {how}); each is "
                                        f"keyed by {instead} instead", key))
            for i in group:
                keys[i] = fallback(i)
    return keys, collisions


def _report_missing(record: SourceRecord, mapping: Mapping, ext: Extracted, problems: list[Problem]) -> None:
    """Report every mandatory target the record leaves empty (nothing is invented for it)."""
    for target in MANDATORY:
        present = ext.values.get(target) or (target == "format" and ext.distributions) or (
            target == "contact" and any(ext.values.get(t) for t in ("contact_name", "contact_email",
                                                                    "contact_phone")))
        if not present:
            problems.append(Problem(record.origin, target, "missing-field",
                                    f"no value for {target} in the record (mapping {mapping.name!r})"))


def _unknown_values(problems: list[Problem]) -> dict[str, dict[str, int]]:
    """Count the values no vocabulary knew, by source field: field → value → records."""
    out: dict[str, Counter] = defaultdict(Counter)
    for p in problems:
        if p.kind == "unknown-value" and p.value is not None:
            out[p.field or ""][p.value] += 1
    return {name: dict(values.most_common()) for name, values in out.items()}


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
