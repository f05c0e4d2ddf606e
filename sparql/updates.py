"""Write the SPARQL Update that replaces graphs, as each engine takes it (sparql/engines.py)."""

from __future__ import annotations

import re
from typing import Collection, Iterable, Mapping, Sequence

import pyoxigraph as ox

from sparql.engines import Engine

TEMPLATE_TRIPLES = 100  # triples of one INSERT template (Virtuoso compiles a request into SQL: 10,000 lines at most)
# Virtuoso's answers to a request too large to compile (nothing of it ran)
TOO_LARGE = re.compile(r"exceeded 10000 lines|memory exhausted|Query too large")
DATA_TRIPLES = 2000  # triples of one INSERT DATA operation on Virtuoso (its parser runs out of memory near 5,000)


def _ntriples(triples: Iterable[ox.Triple]) -> str:
    return ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES).decode("utf-8")


def blank_node_groups(triples: Sequence[ox.Triple], size: int) -> tuple[list[ox.Triple], list[list[ox.Triple]]]:
    """Split triples into those without blank nodes and groups of those with them, a blank node's triples
    always in one group (a group is one INSERT template: its blank nodes stay one node each), groups of about
    ``size`` triples (Virtuoso compiles a template into SQL, and refuses past 10,000 lines of it)."""
    plain, parent = [], {}

    def root(node):
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    linked = []
    for t in triples:
        blanks = [n for n in (t.subject, t.object) if isinstance(n, ox.BlankNode)]
        if not blanks:
            plain.append(t)
            continue
        linked.append((t, blanks[0]))
        if len(blanks) == 2:
            parent[root(blanks[1])] = root(blanks[0])
    components: dict = {}
    for t, blank in linked:
        components.setdefault(root(blank), []).append(t)
    groups: list[list[ox.Triple]] = []
    for component in components.values():
        if not groups or len(groups[-1]) + len(component) > size:
            groups.append([])
        groups[-1].extend(component)
    return plain, groups


def replacing_update(engine: Engine, graphs: Mapping[str, Sequence[ox.Triple]],
                     present: Collection[str] | None = None) -> str:
    """One update replacing every graph: the drops, then the inserts (blank nodes scoped to one insert).

    ``present``: the graphs the store may hold (None: any of them); only those are dropped. A drop is not free
    even of a graph the store does not hold: in Oxigraph server the drops of 1,000 absent graphs cost about as
    much as inserting their ~96,000 triples (bench/RESULTS.md)."""
    encode = engine.codec.encode if engine.codec else list
    dropped = [uri for uri in graphs if present is None or uri in present]
    operations = [f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in dropped]
    if engine.insert_data:
        bodies = [f"GRAPH {ox.NamedNode(uri)} {{ {_ntriples(encode(t))} }}" for uri, t in graphs.items() if t]
        if bodies:
            operations.append("INSERT DATA { " + "\n".join(bodies) + " }")
        return " ;\n".join(operations)
    # Virtuoso: INSERT DATA refuses blank nodes, so those go in INSERT … WHERE {} templates (all of a node's
    # triples in one template); it compiles a request into SQL, at most 10,000 lines of it, so the graphs are
    # dropped in one operation, and a request it finds too large is sent in halves (_write_parts)
    if len(dropped) > 1:
        values = " ".join(str(ox.NamedNode(uri)) for uri in dropped)
        operations = [f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} WHERE {{ VALUES ?g {{ {values} }} "
                      f"GRAPH ?g {{ ?s ?p ?o }} }}"]
    plain, templates = [], []
    for uri, triples in graphs.items():
        if not triples:
            continue
        graph = ox.NamedNode(uri)
        without, groups = blank_node_groups(encode(triples), TEMPLATE_TRIPLES)
        for start in range(0, len(without), DATA_TRIPLES):
            plain.append((graph, without[start:start + DATA_TRIPLES]))
        # one graph per template: with several, Virtuoso 7.2.5 fails (SR002 string_output_string)
        templates += [f"INSERT {{ GRAPH {graph} {{ {_ntriples(group)} }} }} WHERE {{}}" for group in groups]
    chunk, count = [], 0
    for graph, part in plain:
        if count + len(part) > DATA_TRIPLES and chunk:
            operations.append("INSERT DATA { " + "\n".join(chunk) + " }")
            chunk, count = [], 0
        chunk.append(f"GRAPH {graph} {{ {_ntriples(part)} }}")
        count += len(part)
    if chunk:
        operations.append("INSERT DATA { " + "\n".join(chunk) + " }")
    return " ;\n".join(operations + templates)
