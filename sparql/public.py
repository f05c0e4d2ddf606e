"""Keep the triple store public: a dataset graph is stored as anyone may read it, its whole graph beside it.

The store is what the SPARQL door (and, on the scaled-out configuration, the engine's own endpoint) answers
from, and a SPARQL query can reach every triple of it. So a dataset whose open type keeps its data back
(有条件开放, 不予开放; access/policy.py) is stored as its public view: its distributions keep their
descriptions but not their download links (``public_view``). Its whole graph, as published, is kept in the
store's side file (``withheld`` in ``store.digests.sqlite``, sparql/digests.py), and ``dataset_triples``,
``quads`` and ``wodp export`` read it from there: the values of the source are carried exactly, only not
served to those who may not read them. Digests, and so the harvest's "unchanged", are of the whole graphs.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Sequence

import pyoxigraph as ox

from access.policy import public_view
from sparql.engines import canonical_graphs


def split(graphs: Mapping[str, Sequence[ox.Triple]], canonical: bool = False
          ) -> tuple[dict[str, Sequence[ox.Triple]], dict[str, bytes]]:
    """Return the graphs to store (public views) and the whole graphs (N-Triples) of those that differ.

    canonical: the graphs are not yet in the form the store keeps (typed literals canonical); their whole
    graphs are put in that form, so that they read back as the store would have given them.
    """
    public: dict[str, Sequence[ox.Triple]] = {}
    withheld: dict[str, list[ox.Triple]] = {}
    for uri, triples in graphs.items():
        view = public_view(uri, triples)
        public[uri] = view
        if len(view) != len(triples) or view != list(triples):
            withheld[uri] = list(triples)
    if canonical and withheld:
        withheld = canonical_graphs(withheld)
    return public, {uri: ox.serialize(t, format=ox.RdfFormat.N_TRIPLES) for uri, t in withheld.items()}


def read_whole(body: bytes) -> list[ox.Triple]:
    """The triples of a kept whole graph."""
    return [q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES)]


def whole_quads(quads: Iterable[ox.Quad], wholes: Mapping[str, bytes]) -> Iterator[ox.Quad]:
    """The quads of a store with each graph kept whole (``wholes``) in place of its public view."""
    for quad in quads:
        if not (isinstance(quad.graph_name, ox.NamedNode) and quad.graph_name.value in wholes):
            yield quad
    for uri, body in wholes.items():
        node = ox.NamedNode(uri)
        for t in read_whole(body):
            yield ox.Quad(t.subject, t.predicate, t.object, node)
