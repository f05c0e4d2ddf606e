"""Write SPARQL results (JSON, XML, CSV, TSV) and graphs with a cap on their size."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Iterable, Iterator
from xml.sax.saxutils import escape, quoteattr

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


def _json_term(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):
        return {"type": "triple", "value": {
            "subject": _json_term(term.subject), "predicate": _json_term(term.predicate),
            "object": _json_term(term.object)}}
    raise TypeError(f"unexpected term {term!r}")


def _xml_term(term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    return f"<literal>{escape(str(term))}</literal>"


def _csv_value(term) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    if isinstance(term, (ox.NamedNode, ox.Literal)):
        return term.value
    return str(term)


def write_solutions(solutions: ox.QuerySolutions, fmt: Format, limits: Limits) -> bytes:
    """Serialize SELECT solutions in fmt, stopping at the limits."""
    names = [v.value for v in solutions.variables]
    out = CappedBuffer(limits)
    rows = _capped(solutions, limits)
    if fmt.media_type.endswith("+json"):
        out.write(json.dumps({"head": {"vars": names}}, ensure_ascii=False)[:-1].encode())
        out.write(b',"results":{"bindings":[')
        for i, row in enumerate(rows):
            binding = {n: _json_term(row[n]) for n in names if row[n] is not None}
            out.write((b"," if i else b"") + json.dumps(binding, ensure_ascii=False).encode())
        out.write(b"]}}")
    elif fmt.media_type.endswith("+xml"):
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                  b'<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>')
        out.write("".join(f"<variable name={quoteattr(n)}/>" for n in names).encode())
        out.write(b"</head><results>")
        for row in rows:
            cells = "".join(
                f"<binding name={quoteattr(n)}>{_xml_term(row[n])}</binding>"
                for n in names if row[n] is not None
            )
            out.write(f"<result>{cells}</result>".encode())
        out.write(b"</results></sparql>\n")
    elif fmt.media_type == "text/csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(names)
        out.write(text.getvalue().encode())
        for row in rows:
            text.seek(0)
            text.truncate()
            writer.writerow([_csv_value(row[n]) for n in names])
            out.write(text.getvalue().encode())
    else:  # TSV: terms in their Turtle form
        out.write(("\t".join("?" + n for n in names) + "\n").encode())
        for row in rows:
            cells = ["" if row[n] is None else str(row[n]) for n in names]
            out.write(("\t".join(c.replace("\t", "\\t").replace("\n", "\\n") for c in cells) + "\n").encode())
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
