"""Mapping files: load mappings/*.yml (with extends), the synonyms vocabulary, and validate them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from mappings.errors import MappingError
from mappings.targets import DATASET_TARGETS, DISTRIBUTION_TARGETS

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TOP_KEYS = {"name", "description", "extends", "lang", "language", "country_code", "publishers", "jurisdiction",
             "synonyms", "pairs", "records", "columns", "key", "fields", "distribution", "crs"}
_RESERVED = {"synonyms", "vocabulary"}


@dataclass(frozen=True)
class FieldSpec:
    """Where a target's value is read: source paths (first non-empty wins), a split and a capture pattern."""

    paths: tuple[str, ...]
    split: str | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Mapping:
    """One mapping file, with its parents merged in."""

    name: str
    description: str = ""
    lang: str | None = None
    language: str | None = None
    country_code: str | None = None
    jurisdiction: str | None = None     # default jurisdiction of the records (a source's own one wins)
    synonyms: bool = False
    pairs: tuple[str, ...] = ()         # lists of {key, value} objects (CKAN extras) read through the synonyms
    records: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    key: FieldSpec | None = None
    key_hash: tuple[str, ...] = ()
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    distribution_from: tuple[str, ...] = ()
    distribution_fields: dict[str, FieldSpec] = field(default_factory=dict)
    crs: str = "CRS84"                  # CRS of boxes: "CRS84" (lon lat) or "EPSG:4490" (lat lon)
    chain: tuple[str, ...] = ()         # this mapping and the ones it extends


def available_mappings() -> list[str]:
    """Return the names of the mapping files shipped in mappings/."""
    names = (p.name[:-4] for p in resources.files("mappings").iterdir() if p.name.endswith(".yml"))
    return sorted(n for n in names if n not in _RESERVED)


def load_mapping(name: str) -> Mapping:
    """Load a mapping by name, merging the mappings it extends; MappingError if unknown or malformed."""
    return _build(name, _merged(name, ()))


@lru_cache(maxsize=None)
def synonyms() -> dict[str, str]:
    """Return the field-name synonyms: bare field name → target."""
    data = _yaml("synonyms")
    out: dict[str, str] = {}
    for target, names in data.items():
        if target not in DATASET_TARGETS:
            raise MappingError(f"synonyms.yml: unknown target {target!r}")
        for name in names:
            out.setdefault(bare_name(str(name)), target)
    return out


def bare_name(name: str) -> str:
    """Return a field name as compared with synonyms: NFKC, lower case, no spaces, '*' or trailing ':'."""
    import unicodedata

    return re.sub(r"[\s*]", "", unicodedata.normalize("NFKC", name)).rstrip(":").lower()


def known_field_names(mapping: Mapping | None) -> set[str]:
    """Return the bare field names a mapping (and the synonyms) knows, to recognise a header row."""
    names = set(synonyms())
    if mapping is not None:
        for spec in mapping.fields.values():
            names.update(bare_name(p) for p in spec.paths)
    return names


@lru_cache(maxsize=None)
def _yaml(name: str) -> dict:
    """Read mappings/{name}.yml as a dict."""
    if not _NAME.fullmatch(name):
        raise MappingError(f"unknown mapping {name!r}")
    path = resources.files("mappings").joinpath(f"{name}.yml")
    if not path.is_file():
        raise MappingError(f"unknown mapping {name!r}; known: {', '.join(available_mappings())}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{name}.yml: malformed YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{name}.yml: a mapping file is a YAML mapping")
    return data


def _merged(name: str, seen: tuple[str, ...]) -> dict:
    """Return a mapping file's data with its parent's merged under it."""
    if name in seen:
        raise MappingError(f"{name}.yml: extends itself through {' → '.join(seen)}")
    data = dict(_yaml(name))
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise MappingError(f"{name}.yml: unknown keys {sorted(unknown)}")
    parent = data.get("extends")
    base = _merged(parent, seen + (name,)) if parent else {"chain": ()}
    merged = {**base, **{k: v for k, v in data.items() if k not in ("fields", "distribution")}}
    merged["fields"] = {**base.get("fields", {}), **(data.get("fields") or {})}
    merged["distribution"] = data.get("distribution", base.get("distribution"))
    merged["chain"] = (name,) + base["chain"]
    return merged


def _field(value: Any, where: str) -> FieldSpec:
    """Read a field spec: a path, a list of paths, or {from, split, pattern}."""
    if isinstance(value, str):
        return FieldSpec((value,))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return FieldSpec(tuple(value))
    if isinstance(value, dict) and "from" in value and set(value) <= {"from", "split", "pattern"}:
        paths = value["from"] if isinstance(value["from"], list) else [value["from"]]
        for regex in (value.get("split"), value.get("pattern")):
            if regex is not None:
                _regex(regex, where)
        return FieldSpec(tuple(str(p) for p in paths), value.get("split"), value.get("pattern"))
    raise MappingError(f"{where}: a field is a path, a list of paths or {{from, split, pattern}}")


def _regex(regex: str, where: str) -> None:
    try:
        re.compile(regex)
    except re.error as exc:
        raise MappingError(f"{where}: bad regular expression {regex!r}: {exc}") from exc


def _fields(data: dict, allowed: dict, where: str) -> dict[str, FieldSpec]:
    """Read a block of target → field spec, refusing unknown targets; null drops an inherited target."""
    out = {}
    for target, value in (data or {}).items():
        if target not in allowed:
            raise MappingError(f"{where}: unknown target {target!r}; known: {', '.join(allowed)}")
        if value is not None:
            out[target] = _field(value, f"{where}.{target}")
    return out


def _build(name: str, data: dict) -> Mapping:
    """Make a Mapping from merged file data."""
    key = data.get("key") or {}
    if not isinstance(key, dict) or set(key) - {"from", "pattern", "hash"}:
        raise MappingError(f"{name}.yml: key is {{from, pattern}} or {{hash: [fields]}}")
    dist = data.get("distribution") or {}
    if set(dist) - {"from", "fields"}:
        raise MappingError(f"{name}.yml: distribution is {{from, fields}}")
    if data.get("crs", "CRS84") not in ("CRS84", "EPSG:4490"):
        raise MappingError(f"{name}.yml: crs is 'CRS84' or 'EPSG:4490'")
    if data.get("publishers", "source") not in ("wuhan", "source"):
        raise MappingError(f"{name}.yml: publishers is 'wuhan' or 'source'")
    jurisdiction = data.get("jurisdiction", "420100" if data.get("publishers") == "wuhan" else None)
    if jurisdiction is not None and not re.fullmatch(r"\d{6}", str(jurisdiction)):
        raise MappingError(f"{name}.yml: jurisdiction is a six-digit administrative division code or null")
    as_tuple = lambda v: tuple(v) if isinstance(v, list) else ((v,) if v else ())  # noqa: E731
    return Mapping(
        name=name, description=str(data.get("description", "")), lang=data.get("lang"),
        language=data.get("language"), country_code=data.get("country_code"),
        jurisdiction=None if jurisdiction is None else str(jurisdiction), synonyms=bool(data.get("synonyms", False)),
        pairs=as_tuple(data.get("pairs")),
        records=as_tuple(data.get("records")), columns=as_tuple(data.get("columns")),
        key=_field({k: v for k, v in key.items() if k != "hash"}, f"{name}.key") if "from" in key else None,
        key_hash=as_tuple(key.get("hash")),
        fields=_fields(data.get("fields"), DATASET_TARGETS, f"{name}.fields"),
        distribution_from=as_tuple(dist.get("from")),
        distribution_fields=_fields(dist.get("fields"), DISTRIBUTION_TARGETS, f"{name}.distribution"),
        crs=data.get("crs", "CRS84"), chain=tuple(data["chain"]),
    )
