"""Read RDF files into dataset graphs: one graph per dcat:Dataset with the nodes it owns."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from core.bounded import InputRefusedError
from core.errors import BadRequestError
from core.xmlsafe import utf8_xml

DATASET = ox.NamedNode("http://www.w3.org/ns/dcat#Dataset")
CATALOG_DATASET = ox.NamedNode("http://www.w3.org/ns/dcat#dataset")
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


class RdfInputError(BadRequestError):
    code = "malformed-rdf"


def format_for(path: Path, media_type: str | None = None) -> ox.RdfFormat:
    """Find the RDF format from a media type or a file suffix."""
    fmt = None
    if media_type:
        fmt = ox.RdfFormat.from_media_type(media_type.split(";")[0].strip())
    if fmt is None:
        suffix = path.suffix.lstrip(".").lower()
        fmt = ox.RdfFormat.from_extension({"jsonld": "jsonld", "json": "jsonld"}.get(suffix, suffix))
    if fmt is None:
        raise RdfInputError(f"{path.name}: unknown RDF format; use .ttl, .nt, .nq, .trig, .rdf or .jsonld")
    return fmt


def parse_rdf(data: bytes, fmt: ox.RdfFormat, name: str, base_iri: str | None = None,
              limits=None) -> list[ox.Quad]:
    """Parse RDF bytes; any syntax error becomes an RdfInputError naming the input and position.

    RDF/XML passes core.xmlsafe first (no DTD, no entity, bounded size and nesting; ``limits`` as settings
    input_limits, defaults when None): pyoxigraph expands entities as they are declared.
    """
    if not data.strip():
        raise RdfInputError(f"{name}: the file is empty")
    if fmt == ox.RdfFormat.RDF_XML:
        from config.settings import InputLimits

        data = utf8_xml(data, name, limits or InputLimits())
    try:
        return list(ox.parse(data, fmt, base_iri=base_iri))
    except SyntaxError as exc:
        raise RdfInputError(f"{name}: not valid {fmt.name}: {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RdfInputError(f"{name}: cannot read as {fmt.name}: {exc}") from exc


def split_datasets(quads: Iterable[ox.Quad]) -> dict[str, list[ox.Triple]]:
    """Group triples into one graph per dataset: the dataset, and every node only it reaches."""
    quads = list(quads)
    by_graph: dict[object, list[ox.Triple]] = defaultdict(list)
    for q in quads:
        by_graph[q.graph_name].append(q.triple)
    out: dict[str, list[ox.Triple]] = {}
    for graph, triples in by_graph.items():
        if isinstance(graph, ox.NamedNode) and any(
                t.subject == graph and t.predicate == RDF_TYPE and t.object == DATASET for t in triples):
            out[graph.value] = triples  # already one graph per dataset (N-Quads, TriG)
            continue
        out.update(_split_triples(triples))
    return out


def _split_triples(triples: list[ox.Triple]) -> dict[str, list[ox.Triple]]:
    by_subject: dict[object, list[ox.Triple]] = defaultdict(list)
    for t in triples:
        by_subject[t.subject].append(t)
    datasets = [t.subject for t in triples
                if t.predicate == RDF_TYPE and t.object == DATASET and isinstance(t.subject, ox.NamedNode)]
    out: dict[str, list[ox.Triple]] = {}
    for dataset in datasets:
        seen = {dataset}
        todo = [dataset]
        graph: list[ox.Triple] = []
        while todo:
            node = todo.pop()
            for t in by_subject.get(node, ()):
                graph.append(t)
                obj = t.object
                if obj in by_subject and obj not in seen and obj not in datasets:
                    seen.add(obj)
                    todo.append(obj)
        graph += [t for t in triples if t.predicate == CATALOG_DATASET and t.object == dataset]
        out[dataset.value] = graph
    return out


def read_files(paths: Iterable[Path]) -> dict[str, list[ox.Triple]]:
    """Read RDF files into dataset graphs; fail on the first unreadable file, naming it."""
    graphs: dict[str, list[ox.Triple]] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RdfInputError(f"{path}: cannot read: {exc.strerror}") from exc
        found = split_datasets(parse_rdf(data, format_for(path), path.name, base_iri=path.resolve().as_uri()))
        if not found:
            raise RdfInputError(f"{path}: no dcat:Dataset found")
        graphs.update(found)
    return graphs
