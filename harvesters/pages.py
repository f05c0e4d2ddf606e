"""Read and map one fetched page or file of a harvest: sandbox tasks (core.sandbox), their results plain data.

A harvester fetches in the server process (HTTP, paging, conditional requests) and hands each answer's body to
one of these functions through ``Harvester.isolate``; the runner maps each page's records through ``map_page``
the same way. In a server they run in a sandbox worker under ``sandbox.memory_mb`` and ``sandbox.timeout_s``
(a page past either fails its job with the limit named, and the server carries on); commands without workers
run them in their own process (``InlineSandbox``). Arguments and results are picklable: bodies as bytes,
records as ``SourceRecord``, dataset graphs as N-Triples per dataset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyoxigraph as ox

from mappings.model import SourceRecord


def to_ntriples(graphs: dict) -> dict[str, bytes]:
    """Write dataset graphs as N-Triples, one document per dataset (how graphs leave a worker)."""
    return {uri: ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) for uri, triples in graphs.items()}


def from_ntriples(documents: dict[str, bytes]) -> dict[str, list[ox.Triple]]:
    """Read dataset graphs written by to_ntriples (blank-node labels kept)."""
    return {uri: [q.triple for q in ox.parse(data, ox.RdfFormat.N_TRIPLES)] for uri, data in documents.items()}


def read_dcat_page(body: bytes, url: str, media: str, source: str, base_uri: str, limits,
                   asked: str | None = None) -> tuple:
    """Parse one DCAT page (``url`` where it was answered from, ``asked`` the URL requested): (total, next page,
    dataset graphs as N-Triples, problems, log lines)."""
    from harvesters.dcat import dataset_graphs, paging, parse_page
    from harvesters.dcat_forms import skolemise

    quads = parse_page(body, url, media, limits)
    count, following = paging(quads, asked or url)
    quads, notes = skolemise(quads, url)
    problems: list[str] = []
    found = dataset_graphs(quads, url, source, base_uri, problems)
    return count, following, to_ntriples(found), problems, list(notes)


def read_json_page(body: bytes, url: str, what: str, limits) -> Any:
    """Parse one JSON answer within the input limits (plain data back), or raise SourceFormatError."""
    from harvesters.base import json_body
    from harvesters.http import Response

    return json_body(Response(url, 200, {}, body), what, limits)


def read_csw_page(body: bytes, page: str, space: str, base_uri: str, limits) -> tuple:
    """Read one GetRecords answer: (matched, nextRecord, [(id, kind, record or N-Triples)], problems)."""
    from harvesters.csw import RDF_KINDS, read_page

    problems: list[str] = []
    matched, following, found = read_page(body, page, space, base_uri, limits, problems)
    found = [(ident, kind, to_ntriples(item) if kind in RDF_KINDS else item) for ident, kind, item in found]
    return matched, following, found, problems


def read_inventory(data: bytes, name: str, space: str, mapping: str, columns, max_bytes: int,
                   limits) -> list[SourceRecord]:
    """Read the records of one inventory file (CSV, XLSX, JSON) with its mapping's columns."""
    from mappings import load_mapping, read_records

    chosen = load_mapping(mapping)
    if columns:
        chosen = dataclasses.replace(chosen, columns=tuple(columns))
    return read_records(data, name, space, mapping=chosen, max_bytes=max_bytes, limits=limits)


def map_page(records: list[SourceRecord], mapping: str, base_uri: str, where: dict) -> tuple:
    """Map one page's records: (dataset graphs as N-Triples, the mapping result without its graphs)."""
    from mappings import apply_mapping, load_mapping

    mapped = apply_mapping(records, load_mapping(mapping), base_uri, **where)
    return to_ntriples(mapped.graphs), dataclasses.replace(mapped, graphs={})


def mapped_back(answer: tuple):
    """Return the MappingResult of a map_page answer, with its graphs read back."""
    documents, mapped = answer
    return dataclasses.replace(mapped, graphs=from_ntriples(documents))


def warm_up() -> None:
    """Import what reading pages needs, so that a sandbox worker's first page is quick."""
    import harvesters.csw  # noqa: F401
    import harvesters.dcat  # noqa: F401
    from mappings import available_mappings, load_mapping

    for name in available_mappings():
        load_mapping(name)
