"""Write SPARQL results (JSON, XML, CSV, TSV) and graphs with a cap on their size."""

from __future__ import annotations

import io
import json
import re
from typing import Iterable, Iterator

import pyoxigraph as ox

from ontology.namespaces import PREFIXES
from sparql.errors import QueryTooLargeError
from sparql.formats import Format

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class Limits:
    """Result caps: solutions or triples, and serialized bytes."""

    def __init__(self, max_results: int, max_bytes: int) -> None:
        self.max_results = max_results
        self.max_bytes = max_bytes

    def too_many(self) -> QueryTooLargeError:
        return QueryTooLargeError(
            f"the result has more than {self.max_results} solutions; add a LIMIT or page with OFFSET"
        )

    def too_big(self) -> QueryTooLargeError:
        return QueryTooLargeError(
            f"the result is larger than {self.max_bytes} bytes; add a LIMIT or page with OFFSET"
        )


class CappedBuffer(io.RawIOBase):
    """A bytes sink that raises once it holds more than its cap."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.size += len(data)
        if self.size > self.limits.max_bytes:
            raise self.limits.too_big()
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _capped(items: Iterable, limits: Limits) -> Iterator:
    for count, item in enumerate(items, start=1):
        if count > limits.max_results:
            raise limits.too_many()
        yield item


NATIVE_RESULTS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}


def write_solutions(solutions: ox.QuerySolutions, fmt: Format, limits: Limits) -> bytes:
    """Serialize SELECT solutions in fmt with Oxigraph's writers, stopping at the byte limit."""
    out = CappedBuffer(limits)
    try:
        solutions.serialize(out, NATIVE_RESULTS[fmt.media_type])
    except QueryTooLargeError:
        raise
    except Exception:
        if out.size > limits.max_bytes:
            raise limits.too_big() from None
        raise
    return out.getvalue()


def write_boolean(value: bool, fmt: Format) -> bytes:
    """Serialize an ASK answer."""
    if fmt.media_type.endswith("+json"):
        return json.dumps({"head": {}, "boolean": bool(value)}).encode()
    word = "true" if value else "false"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns="http://www.w3.org/2005/'
            f'sparql-results#"><head/><boolean>{word}</boolean></sparql>\n').encode()


def _curie(iri: str, prefixes: dict[str, str]) -> str:
    for prefix, base in prefixes.items():
        if iri.startswith(base) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", iri[len(base):]):
            return f"{prefix}:{iri[len(base):]}"
    return iri


def _jsonld_value(term, prefixes: dict[str, str]) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"@id": _curie(term.value, prefixes)}
    if isinstance(term, ox.BlankNode):
        return {"@id": "_:" + term.value}
    if isinstance(term, ox.Literal):
        if term.language:
            return {"@value": term.value, "@language": term.language}
        if term.datatype.value not in (XSD_STRING, RDF_LANGSTRING):
            return {"@value": term.value, "@type": _curie(term.datatype.value, prefixes)}
        return {"@value": term.value}
    raise TypeError(f"RDF-star terms are not written as JSON-LD: {term!r}")


def write_jsonld(triples: Iterable[ox.Triple], out: io.RawIOBase | None = None,
                 prefixes: dict[str, str] | None = None) -> bytes:
    """Write JSON-LD with its @context inline (prefixes only), one node object per subject."""
    prefixes = dict(PREFIXES if prefixes is None else prefixes)
    nodes: dict[str, dict] = {}
    for t in triples:
        subject = t.subject
        key = "_:" + subject.value if isinstance(subject, ox.BlankNode) else _curie(subject.value, prefixes)
        node = nodes.setdefault(key, {"@id": key})
        if t.predicate.value == RDF_TYPE and isinstance(t.object, ox.NamedNode):
            node.setdefault("@type", []).append(_curie(t.object.value, prefixes))
        else:
            node.setdefault(_curie(t.predicate.value, prefixes), []).append(
                _jsonld_value(t.object, prefixes))
    doc = {"@context": prefixes, "@graph": list(nodes.values())}
    data = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
    if out is not None:
        out.write(data)
    return data


def write_graph(triples: Iterable[ox.Triple], fmt: Format, limits: Limits) -> bytes:
    """Serialize triples in an RDF format, stopping at the limits."""
    out = CappedBuffer(limits)
    if fmt.rdf == ox.RdfFormat.JSON_LD:
        write_jsonld(_capped(triples, limits), out)
        return out.getvalue()
    prefixes = PREFIXES if fmt.rdf in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML) else None
    ox.serialize(_capped(triples, limits), out, fmt.rdf, prefixes=prefixes)
    return out.getvalue()
