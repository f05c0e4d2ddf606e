"""Stamp each dataset graph with its catalogue record (when it entered and last changed here)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

import pyoxigraph as ox

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF_PRIMARY_TOPIC = ox.NamedNode("http://xmlns.com/foaf/0.1/primaryTopic")
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
CATALOG_RECORD = ox.NamedNode(DCAT + "CatalogRecord")
DCAT_RECORD = ox.NamedNode(DCAT + "record")
DCAT_DATASET_P = ox.NamedNode(DCAT + "dataset")
ISSUED = ox.NamedNode(DCT + "issued")
MODIFIED = ox.NamedNode(DCT + "modified")
XSD_DATETIME = ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime")


def now_literal(moment: datetime | None = None) -> ox.Literal:
    """Return the time as an xsd:dateTime literal in UTC with milliseconds, in canonical form.

    Canonical as Oxigraph writes it back (``…00.3Z``, ``…00Z``: no trailing zeros), so the triples a publish
    event carries are the very ones a reader gets from the store.
    """
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    fraction = f"{moment.microsecond // 1000:03d}".rstrip("0")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
    return ox.Literal(text, datatype=XSD_DATETIME)


def record_uri(dataset_uri: str) -> ox.NamedNode:
    return ox.NamedNode(dataset_uri + "#record")


def with_record(dataset_uri: str, triples: Sequence[ox.Triple], modified: ox.Literal,
                issued: ox.Literal | None = None) -> list[ox.Triple]:
    """Return the triples without any old record, plus a record issued/modified as given."""
    return without_record(dataset_uri, triples) + record_triples(dataset_uri, triples, modified, issued)


def without_record(dataset_uri: str, triples: Sequence[ox.Triple]) -> list[ox.Triple]:
    """Return the triples without the dataset's catalogue record (nor the catalogue's link to it)."""
    record = record_uri(dataset_uri)
    return [t for t in triples if t.subject != record and not (t.predicate == DCAT_RECORD and t.object == record)]


def record_triples(dataset_uri: str, triples: Sequence[ox.Triple], modified: ox.Literal,
                   issued: ox.Literal | None = None) -> list[ox.Triple]:
    """Return the catalogue record of a dataset graph, issued/modified as given, linked from its catalogues."""
    record = record_uri(dataset_uri)
    catalogs = {t.subject for t in triples if t.predicate == DCAT_DATASET_P}
    return [
        ox.Triple(record, RDF_TYPE, CATALOG_RECORD),
        ox.Triple(record, FOAF_PRIMARY_TOPIC, ox.NamedNode(dataset_uri)),
        ox.Triple(record, ISSUED, issued or modified),
        ox.Triple(record, MODIFIED, modified),
    ] + [ox.Triple(catalog, DCAT_RECORD, record) for catalog in catalogs]


def record_dates(triples: Sequence[ox.Triple], dataset_uri: str) -> tuple[ox.Literal | None, ox.Literal | None]:
    """Return (issued, modified) of the record in a stored dataset graph (the last of each, as written).

    Read from the end: a graph made by ``with_record`` ends with its record, so a harvest's followers find both
    dates in a few triples instead of scanning the graph each."""
    record = record_uri(dataset_uri)
    issued = modified = None
    for t in reversed(triples if isinstance(triples, (list, tuple)) else list(triples)):
        if t.subject == record:
            if t.predicate == ISSUED:
                issued = t.object if issued is None else issued
            elif t.predicate == MODIFIED:
                modified = t.object if modified is None else modified
            if issued is not None and modified is not None:
                break
    return issued, modified


def parse_datetime(literal: ox.Literal | None) -> datetime | None:
    if literal is None:
        return None
    try:
        return datetime.fromisoformat(literal.value.replace("Z", "+00:00"))
    except ValueError:
        return None
