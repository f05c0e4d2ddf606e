"""Turn pyoxigraph triples into an rdflib Graph for pySHACL, without a text round trip."""

from __future__ import annotations

from collections.abc import Iterable

import pyoxigraph as ox
import rdflib

_DATATYPES: dict[str, rdflib.URIRef] = {}
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def to_rdflib(term) -> rdflib.term.Node:
    """Return the rdflib term equal to a pyoxigraph term."""
    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return rdflib.BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return rdflib.Literal(term.value, lang=term.language)
        iri = term.datatype.value
        if iri == _XSD_STRING:
            return rdflib.Literal(term.value)
        datatype = _DATATYPES.get(iri)
        if datatype is None:
            datatype = _DATATYPES.setdefault(iri, rdflib.URIRef(iri))
        return rdflib.Literal(term.value, datatype=datatype)
    raise TypeError(f"cannot use {term!r} in a validated graph")


def rdflib_graph(triples: Iterable[ox.Triple], *, context_aware: bool = True) -> rdflib.Graph:
    """Return an in-memory rdflib Graph holding ``triples``.

    pySHACL needs a context-aware store for the data graph; a shapes graph is read faster from the simpler
    store without contexts (``context_aware=False``).
    """
    store = "Memory" if context_aware else "SimpleMemory"
    graph = rdflib.Graph(store=store, bind_namespaces="none")
    add = graph.add
    cache: dict = {}
    for t in triples:
        terms = []
        for term in (t.subject, t.predicate, t.object):
            node = cache.get(term)
            if node is None:
                node = cache[term] = to_rdflib(term)
            terms.append(node)
        add(tuple(terms))
    return graph
