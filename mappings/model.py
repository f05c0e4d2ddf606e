"""Values passed through the mapping engine: raw records in, dataset graphs and a report out."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox


@dataclass(frozen=True)
class SourceRecord:
    """One raw record as read from a source: its fields (original names) and where it came from."""

    source: str                 # source name, e.g. "shanghai" or "demo"; [a-z0-9_-]+
    key: str | None             # the source's own key of the record, if it has one
    fields: dict[str, object]   # field name as in the source → raw value (str, number, list, dict, None)
    origin: str = ""            # file and record number, e.g. "shanghai_shanghai.json#17"


@dataclass(frozen=True)
class Problem:
    """Something the engine could not do with one record: names the record, the field and why."""

    origin: str
    field: str | None
    kind: str                   # unplaced-field, missing-field, unknown-value, bad-date, duplicate, ...
    message: str
    value: str | None = None


@dataclass(frozen=True)
class MappingResult:
    """The dataset graphs made from the records, with every problem met on the way."""

    graphs: dict[str, list[ox.Triple]]       # dataset URI → triples (docs/model.md)
    problems: tuple[Problem, ...] = ()
    records: int = 0                         # records read
    duplicates: tuple[tuple[str, str], ...] = ()   # (origin kept, origin dropped) for exact duplicates
    unplaced_fields: dict[str, int] = field(default_factory=dict)  # source field name → records having it
    unknown_values: dict[str, dict[str, int]] = field(default_factory=dict)  # source field → value → records
    key_collisions: dict[str, int] = field(default_factory=dict)   # key shared by several records → records
    origins: dict[str, str] = field(default_factory=dict)  # record origin → dataset URI (a duplicate: its twin's)
