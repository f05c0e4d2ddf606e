"""Read the targets of one record through a mapping: explicit paths first, then field-name synonyms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mappings.model import SourceRecord
from mappings.paths import first_segment, resolve, text
from mappings.spec import FieldSpec, Mapping, bare_name, synonyms
from mappings.targets import DATASET_TARGETS, DEFAULT_SPLIT, DISTRIBUTION_TARGETS
from mappings.values import folded, is_empty_word, split_values

_EXACT = {"title", "description"}      # texts: carried whatever they say


@dataclass
class Extracted:
    """The values of one record, by target, with the source field each came from."""

    values: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    distributions: list[dict[str, str]] = field(default_factory=list)
    placed: set[str] = field(default_factory=set)
    inferred: set[str] = field(default_factory=set)     # fields placed by mappings/infer.py
    empty: list[tuple[str, str]] = field(default_factory=list)  # (field, word) saying there is no value
    texts: dict[str, list[str]] = field(default_factory=dict)   # target → the source's texts, as given (unsplit)

    def first(self, target: str) -> str | None:
        """Return the first value of a target, or None."""
        found = self.values.get(target)
        return found[0] if found else None


def extract(record: SourceRecord, mapping: Mapping,
            inferred: dict[str, tuple[str, str]] | None = None) -> Extracted:
    """Return the target values of a record and the top-level fields that were placed.

    Named fields come first (the mapping's paths, then the synonyms); ``inferred`` fields (mappings/infer.py)
    fill only the targets still empty.
    """
    out = Extracted()
    for target, spec in mapping.fields.items():
        _fill(out, target, record.fields, spec, DATASET_TARGETS)
    if mapping.synonyms:
        _fill_synonyms(out, record.fields)
    for path in mapping.pairs:
        _fill_pairs(out, record.fields, path)
    for name, (target, _) in (inferred or {}).items():
        if name in record.fields and target not in out.values:
            _fill(out, target, record.fields, FieldSpec((name,)), DATASET_TARGETS)
            if target in out.values:
                out.inferred.add(name)
    for path in mapping.distribution_from:
        out.placed.add(first_segment(path))
        for item in resolve(record.fields, path):
            dist = _distribution(item, mapping.distribution_fields)
            if dist:
                out.distributions.append(dist)
    return out


def record_fields(record: SourceRecord) -> list[str]:
    """Return the top-level fields of a record that hold a value."""
    return [name for name, value in record.fields.items() if value not in (None, "", [], {})]


def _fill(out: Extracted, target: str, fields: Any, spec: FieldSpec, table: dict) -> None:
    """Set a target from the first path of a spec that holds a value (words saying 'none' are no value)."""
    for path in spec.paths:
        out.placed.add(first_segment(path))
        values = _values(fields, path, target, spec, table)
        if target not in _EXACT:
            out.empty += [(path, w) for w in values if is_empty_word(w)]
            values = [w for w in values if not is_empty_word(w)]
        if values and target not in out.values:
            out.values[target] = values
            out.sources[target] = path
            out.texts[target] = [t for t in (text(v) for v in resolve(fields, path)) if t and t.strip()]


def _fill_synonyms(out: Extracted, fields: dict) -> None:
    """Place fields the mapping does not name through the synonyms vocabulary."""
    known = synonyms()
    for name in fields:
        target = known.get(bare_name(name))
        if target is None or name in out.placed:
            continue
        if target in out.values:
            out.placed.add(name)
        else:
            _fill(out, target, fields, FieldSpec((name,)), DATASET_TARGETS)


def _fill_pairs(out: Extracted, fields: dict, path: str) -> None:
    """Place the {key, value} items at a path (CKAN extras) whose key is a field-name synonym."""
    known = synonyms()
    for item in resolve(fields, path):
        name = text(item.get("key")) if isinstance(item, dict) else None
        target = known.get(bare_name(name)) if name and not re.search(r"[\[\]=.]", name) else None
        if target and target not in out.values:
            _fill(out, target, fields, FieldSpec((f"{path}[key={name}].value",)), DATASET_TARGETS)


def _values(fields: Any, path: str, target: str, spec: FieldSpec, table: dict) -> list[str]:
    """Return the words found at a path: every split item for list targets, the first text otherwise."""
    found = resolve(fields, path)
    if table[target][1] == "list":
        words = split_values(found, spec.split or DEFAULT_SPLIT.get(target))
    else:
        words = [t.strip() for t in (text(v) for v in found) if t and t.strip()][:1]
    if spec.pattern:
        words = [_capture(spec.pattern, w) for w in words]
    return [w for w in words if w]


def _capture(pattern: str, word: str) -> str:
    """Return the first group of a pattern's match in a word, else the word itself."""
    match = re.search(pattern, word)
    return (match.group(1) if match.groups() else match.group(0)) if match else word


def _distribution(item: Any, specs: dict[str, FieldSpec]) -> dict[str, str]:
    """Read one distribution object's targets."""
    found = Extracted()
    for target, spec in specs.items():
        _fill(found, target, item, spec, DISTRIBUTION_TARGETS)
    return {target: values[0] for target, values in found.values.items()}


def record_key(record: SourceRecord, mapping: Mapping, ext: Extracted) -> tuple[str, str]:
    """Return (key, how it was found): the source's key, else the detail-page URL, else title+publisher.

    The key is compared in NFKC form ('ＷＨ－００１' and 'WH-001' are one key); the values stay exact.
    """
    key, how = _raw_key(record, mapping, ext)
    return folded(key), how


def _raw_key(record: SourceRecord, mapping: Mapping, ext: Extracted) -> tuple[str, str]:
    if record.key:
        return record.key, "record"
    if mapping.key is not None:
        found = Extracted()
        _fill(found, "resource_code", record.fields, mapping.key, DATASET_TARGETS)
        if found.first("resource_code"):
            return found.first("resource_code"), "key"
    if mapping.key_hash:
        parts = [(text(v) or "") for path in mapping.key_hash for v in resolve(record.fields, path)[:1]]
        if any(parts):
            return "|".join(parts), "hash"
    if ext.first("resource_code"):
        return ext.first("resource_code"), "resource_code"
    if ext.first("landing_page"):
        return ext.first("landing_page"), "landing_page"
    return "|".join([ext.first("title") or "", ext.first("publisher") or ""]), "title+publisher"
