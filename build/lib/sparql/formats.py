"""Negotiate SPARQL result and RDF formats from Accept headers and format parameters."""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox


@dataclass(frozen=True)
class Format:
    """One media type we can write, with its short names and file suffix."""

    media_type: str
    names: tuple[str, ...]
    suffix: str
    rdf: ox.RdfFormat | None = None


SELECT_FORMATS = (
    Format("application/sparql-results+json", ("json", "srj"), "srj"),
    Format("application/sparql-results+xml", ("xml", "srx"), "srx"),
    Format("text/csv", ("csv",), "csv"),
    Format("text/tab-separated-values", ("tsv",), "tsv"),
)
ASK_FORMATS = SELECT_FORMATS[:2]
GRAPH_FORMATS = (
    Format("text/turtle", ("turtle", "ttl"), "ttl", ox.RdfFormat.TURTLE),
    Format("application/n-triples", ("nt", "ntriples", "n-triples"), "nt", ox.RdfFormat.N_TRIPLES),
    Format("application/ld+json", ("jsonld", "json-ld", "json"), "jsonld", ox.RdfFormat.JSON_LD),
    Format("application/rdf+xml", ("rdf", "rdfxml", "xml", "rdf+xml"), "rdf", ox.RdfFormat.RDF_XML),
)
# Aliases clients send for the types above.
ALIASES = {
    "application/json": {"select": "application/sparql-results+json", "graph": "application/ld+json"},
    "text/javascript": {"select": "application/sparql-results+json"},
    "application/javascript": {"select": "application/sparql-results+json"},
    "application/xml": {"select": "application/sparql-results+xml", "graph": "application/rdf+xml"},
    "text/xml": {"select": "application/sparql-results+xml", "graph": "application/rdf+xml"},
    "application/x-turtle": {"graph": "text/turtle"},
    "text/plain": {"graph": "application/n-triples"},
    "application/turtle": {"graph": "text/turtle"},
}


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """Return (media type, q) pairs of an Accept header, best first; order kept among equals."""
    if not header:
        return [("*/*", 1.0)]
    items = []
    for index, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = max(0.0, min(1.0, float(param[2:])))
                except ValueError:
                    q = 0.0
        items.append((media, q, index))
    items.sort(key=lambda item: (-item[1], item[2]))
    return [(media, q) for media, q, _ in items if q > 0]


def negotiate(
    formats: tuple[Format, ...], accept: str | None, name: str | None, kind: str
) -> Format | None:
    """Pick a format by explicit name (format= parameter) or else by the Accept header."""
    if name:
        wanted = name.strip().lower()
        for fmt in formats:
            if wanted in fmt.names or wanted == fmt.media_type:
                return fmt
        alias = ALIASES.get(wanted, {}).get(kind)
        return next((f for f in formats if f.media_type == alias), None)
    for media, _q in parse_accept(accept):
        if media in ("*/*", "application/*", "text/*"):
            if media == "text/*":
                return next((f for f in formats if f.media_type.startswith("text/")), None)
            return formats[0]
        for fmt in formats:
            if fmt.media_type == media:
                return fmt
        alias = ALIASES.get(media, {}).get(kind)
        if alias:
            return next(f for f in formats if f.media_type == alias)
    return None


def formats_for(kind: str) -> tuple[Format, ...]:
    return {"select": SELECT_FORMATS, "ask": ASK_FORMATS, "graph": GRAPH_FORMATS}[kind]


def graph_format_by_suffix(suffix: str) -> Format | None:
    return next((f for f in GRAPH_FORMATS if f.suffix == suffix), None)
