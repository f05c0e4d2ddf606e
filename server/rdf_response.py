"""Choose the representation of an RDF resource and write it."""

from __future__ import annotations

from typing import Iterable

import pyoxigraph as ox
from flask import request

from core.errors import NotAcceptableError
from sparql.formats import GRAPH_FORMATS, Format, graph_format_by_suffix, negotiate, parse_accept
from sparql.results import Limits, write_graph

HTML = "text/html"
SUFFIXES = tuple(f.suffix for f in GRAPH_FORMATS)
UNLIMITED = Limits(10**9, 1 << 40)


def split_suffix(name: str) -> tuple[str, Format | None]:
    """Split 'x.ttl' into ('x', Turtle); a name without a known suffix is returned whole."""
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix in SUFFIXES:
        return stem, graph_format_by_suffix(suffix)
    return name, None


def choose(html_default: bool) -> Format | str:
    """Pick an RDF format or "text/html" from the Accept header (format= also accepted)."""
    name = request.args.get("format")
    if name:
        if name.lower() == "html":
            return HTML
        fmt = negotiate(GRAPH_FORMATS, None, name, "graph")
        if fmt is None:
            raise NotAcceptableError(
                f"unknown format {name!r}; use one of html, {', '.join(f.names[0] for f in GRAPH_FORMATS)}")
        return fmt
    header = request.headers.get("Accept", "")
    for media, _q in parse_accept(header):
        if media in (HTML, "application/xhtml+xml"):
            return HTML
        if media in ("*/*", "text/*"):
            return HTML if html_default else GRAPH_FORMATS[0]
        fmt = negotiate(GRAPH_FORMATS, media, None, "graph")
        if fmt is not None:
            return fmt
    offered = [HTML] + [f.media_type for f in GRAPH_FORMATS]
    raise NotAcceptableError("cannot answer in the requested type; offered: " + ", ".join(offered))


def serialize(triples: Iterable[ox.Triple], fmt: Format) -> bytes:
    return write_graph(triples, fmt, UNLIMITED)


def content_type(fmt: Format) -> str:
    return fmt.media_type + ("; charset=utf-8" if fmt.media_type.startswith("text/") or
                             fmt.media_type.endswith("json") else "")
