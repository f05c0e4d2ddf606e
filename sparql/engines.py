"""Know the remote SPARQL engines the platform runs on: their endpoints, default graph and what they alter.

A remote store (sparql/remote.py) speaks SPARQL 1.1 to any engine; what differs between engines lives here,
one ``Engine`` per kind, looked up by name (``store.engine``) or found from the server's ``Server`` header.
On every engine a dataset graph is stored in the form the embedded store keeps (``canonical``: Oxigraph's
canonical numbers, booleans and times; pyoxigraph writes every language tag in lower case), so every door
answers the same terms whichever engine holds the catalogue.

- ``oxigraph``: Oxigraph server. ``/query``, ``/update``, ``/store``; the union of the graphs is asked with
  the ``union-default-graph`` parameter; it keeps every literal as written; one update request is one transaction.
- ``virtuoso``: OpenLink Virtuoso 7. ``/sparql`` for queries and updates, ``/sparql-graph-crud`` for the Graph
  Store Protocol; its default graph is already the union of all graphs, among them three graphs of its own
  (``VIRTUOSO_OWN_GRAPHS``: ~2,500 triples describing its RDF views), which are never exported or dropped but
  which a query over every triple of the default graph sees. (Its ``DEFINE input:default-graph-exclude`` would
  hide them, but with it 7.2.5 answers wrongly: ``ASK { GRAPH <absent> { ?s ?p ?o } }`` is true.)
  It does not keep every literal as Oxigraph does (measured on 7.2.5, tests/test_remote_store.py): it rewrites
  numbers (``xsd:long`` → ``xsd:integer``, a decimal ``12`` → an integer, integers past 2^63 wrap, doubles),
  time zones (``+00:00`` → ``Z``), fractions of seconds (padded to three digits, cut at six) and durations
  (``P1Y2M`` → ``14``), turns ``geo:wktLiteral`` into its own geometry type with rounded coordinates (and
  refuses a WKT literal that names its CRS), and refuses some datatypes (``xsd:time``,
  ``xsd:dayTimeDuration``). ``VirtuosoCodec`` therefore sends every literal it cannot prove the engine keeps
  under a stand-in datatype (``urn:wodp:as-written:datatype:<the datatype, quoted>``) and turns it back on
  every read: what the platform reads equals what it stored. IRIs longer than ``VIRTUOSO_MAX_IRI`` are cut
  by the engine: a graph holding one is refused, named.
- ``generic``: any other SPARQL 1.1 engine whose default graph is the union of its named graphs (e.g. Fuseki
  with ``unionDefaultGraph``, GraphDB); ``store.update_url`` and ``store.gsp_url`` must be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pyoxigraph as ox

from sparql.errors import StoreError

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = ox.NamedNode(XSD + "string")
STAND_IN = "urn:wodp:as-written:"  # + "datatype:" + the quoted IRI of the datatype as written
VIRTUOSO_MAX_IRI = 1500  # characters; measured: 1,509 kept, 2,009 cut to 1,879 by Virtuoso 7.2.5
# graphs Virtuoso keeps for itself (its RDF views, LDP and URIQA descriptions): never ours to read or drop
VIRTUOSO_OWN_GRAPHS = ("http://www.openlinksw.com/schemas/virtrdf#", "http://www.w3.org/ns/ldp#",
                       "http://localuriqaserver/sparql")


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _root(url: str, tails: tuple[str, ...]) -> str:
    path = urlsplit(url).path.rstrip("/")
    for tail in tails:
        if path.endswith(tail):
            return path[: -len(tail)]
    return path


def canonical(triples: Iterable[ox.Triple]) -> list[ox.Triple]:
    """The triples as Oxigraph stores them (numbers, booleans and times in canonical form, no duplicates): the
    form of the embedded store, which the remote store keeps too, on every engine."""
    return canonical_graphs({"": triples})[""]


_CANONICAL = ox.NamedNode("urn:wodp:canonical")


def canonical_graphs(graphs: Mapping[str, Iterable[ox.Triple]]) -> dict[str, list[ox.Triple]]:
    """``canonical`` of several graphs at once, in the order given. Only typed literals other than strings can
    change (IRIs, blank nodes, strings and language-tagged strings are stored as they are): those are put once
    each into an in-memory store, which writes each in its canonical form."""
    graphs = {uri: list(triples) for uri, triples in graphs.items()}
    typed: dict[ox.Literal, ox.Literal] = {}
    for triples in graphs.values():
        for t in triples:
            o = t.object
            if isinstance(o, ox.Literal) and o.datatype != XSD_STRING and not o.language:
                typed[o] = o
    if typed:
        literals = list(typed)
        store = ox.Store()
        store.extend([ox.Quad(ox.NamedNode(f"{_CANONICAL.value}:{i}"), _CANONICAL, literal)
                      for i, literal in enumerate(literals)])
        for quad in store.quads_for_pattern(None, _CANONICAL, None, ox.DefaultGraph()):
            typed[literals[int(quad.subject.value.rsplit(":", 1)[1])]] = quad.object
    return {uri: list(dict.fromkeys(
        t if not isinstance(t.object, ox.Literal) or (c := typed.get(t.object)) is None or c == t.object
        else ox.Triple(t.subject, t.predicate, c) for t in triples)) for uri, triples in graphs.items()}


# lexical forms Virtuoso 7.2.5 gives back exactly as written, by datatype (anything else goes as a stand-in)
_INTEGER = re.compile(r"-?[1-9][0-9]{0,14}|0")
_KEPT = {
    XSD + "string": None, XSD + "date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?"),
    # a fraction of one to three digits, which Virtuoso pads to three (read back without the zeros, as Oxigraph)
    XSD + "dateTime": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?!24)[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,2}[1-9])?"
                                 r"(Z|(?![+-]00:00)[+-][0-9]{2}:[0-9]{2})?"),
    XSD + "gYear": re.compile(r"[0-9]{4}"), XSD + "gYearMonth": re.compile(r"[0-9]{4}-[0-9]{2}"),
    XSD + "anyURI": None, XSD + "integer": _INTEGER,
    XSD + "decimal": re.compile(r"-?(0|[1-9][0-9]{0,11})\.[0-9]{0,5}[1-9]"),
    XSD + "boolean": re.compile(r"true|false"),
}
_BOOLEAN_BACK = {"1": "true", "0": "false"}
_PADDED = re.compile(r"(\.[0-9]*0)(?=Z|[+-][0-9]{2}:[0-9]{2}$|$)")


@dataclass(frozen=True)
class Engine:
    """What one kind of SPARQL engine needs: where its endpoints are and how its queries and literals go."""

    name: str
    query_path: str = ""
    update_path: str = ""
    gsp_path: str = ""
    roots: tuple[str, ...] = ()  # endings of a query URL that name its endpoints, cut to find the root
    union_parameter: bool = False  # asks the union of the graphs with ?union-default-graph (Oxigraph)
    own_graphs: tuple[str, ...] = ()
    insert_data: bool = True  # INSERT DATA takes blank nodes (Virtuoso refuses them there: INSERT … WHERE {})
    atomic_request: bool = True  # a failing operation undoes the earlier ones of its request
    codec: "VirtuosoCodec | None" = field(default=None, compare=False)

    def urls(self, url: str, update_url: str | None, gsp_url: str | None) -> tuple[str, str, str]:
        """Return the query, update and Graph Store URLs from the configured ones."""
        if not self.query_path:
            if not (update_url and gsp_url):
                raise StoreError(f"store.engine {self.name}: set store.update_url and store.gsp_url as well "
                                 "(a generic engine's endpoints cannot be derived from store.url)")
            return url, update_url, gsp_url
        root = _root(url, self.roots)
        query = url if urlsplit(url).path.rstrip("/") not in ("", root) else _with_path(url, root + self.query_path)
        return (query, update_url or _with_path(url, root + self.update_path),
                gsp_url or _with_path(url, root + self.gsp_path))

    def ours(self, graph: str) -> bool:
        return graph not in self.own_graphs


class VirtuosoCodec:
    """Send literals Virtuoso would alter under a stand-in datatype; read them back as written."""

    def encode_term(self, term):
        if isinstance(term, ox.NamedNode):
            if len(term.value) > VIRTUOSO_MAX_IRI:
                raise StoreError(f"Virtuoso cuts IRIs longer than {VIRTUOSO_MAX_IRI} characters; this one has "
                                 f"{len(term.value)}: {term.value[:120]}…", status=422)
            return term
        if not isinstance(term, ox.Literal):
            return term
        if term.language:
            return term  # lower case, as pyoxigraph makes every tag, and as Virtuoso keeps it
        datatype = term.datatype.value
        if datatype in _KEPT:
            pattern = _KEPT[datatype]
            if pattern is None or pattern.fullmatch(term.value):
                return term
        elif not datatype.startswith(XSD) and not datatype.startswith("http://www.opengis.net/") \
                and not datatype.startswith("http://www.openlinksw.com/"):
            return term  # a datatype of its own, unknown to the engine: kept as written
        return ox.Literal(term.value, datatype=ox.NamedNode(STAND_IN + "datatype:" + quote(datatype, safe="")))

    def decode_term(self, term):
        if not isinstance(term, ox.Literal):
            return term
        if term.language:
            return term
        datatype = term.datatype.value
        if datatype.startswith(STAND_IN + "datatype:"):
            return ox.Literal(term.value, datatype=ox.NamedNode(unquote(datatype[len(STAND_IN) + 9:])))
        if datatype == XSD + "boolean" and term.value in _BOOLEAN_BACK:  # its JSON results say 1 and 0
            return ox.Literal(_BOOLEAN_BACK[term.value], datatype=term.datatype)
        if datatype == XSD + "dateTime" and _PADDED.search(term.value):  # ….500Z → ….5Z, ….000Z → …Z
            return ox.Literal(_PADDED.sub(lambda m: m.group(1).rstrip("0").rstrip("."), term.value),
                              datatype=term.datatype)
        return term

    def encode(self, triples: Iterable[ox.Triple]) -> list[ox.Triple]:
        return [ox.Triple(self.encode_term(t.subject), self.encode_term(t.predicate), self.encode_term(t.object))
                for t in triples]

    def decode(self, triples: Iterable[ox.Triple]) -> list[ox.Triple]:
        return [ox.Triple(t.subject, t.predicate, self.decode_term(t.object)) for t in triples]

    def decode_json_term(self, value: dict) -> dict:
        """Decode one term of a SPARQL JSON result (the form the engine answers /sparql in)."""
        if value.get("type") not in ("literal", "typed-literal"):
            return value
        if "xml:lang" in value:
            term = ox.Literal(value["value"], language=value["xml:lang"])
        else:
            term = ox.Literal(value["value"], datatype=ox.NamedNode(value.get("datatype", XSD + "string")))
        term = self.decode_term(term)
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD + "string":
            out["datatype"] = term.datatype.value
        return out


OXIGRAPH = Engine("oxigraph", "/query", "/update", "/store", roots=("/query", "/update", "/store"),
                  union_parameter=True)
VIRTUOSO = Engine("virtuoso", "/sparql", "/sparql", "/sparql-graph-crud",
                  roots=("/sparql-graph-crud-auth", "/sparql-graph-crud", "/sparql-auth", "/sparql"),
                  own_graphs=VIRTUOSO_OWN_GRAPHS, insert_data=False, atomic_request=False, codec=VirtuosoCodec())
GENERIC = Engine("generic")
ENGINES = {e.name: e for e in (OXIGRAPH, VIRTUOSO, GENERIC)}


def engine_from_server(header: str) -> Engine:
    """The engine a ``Server`` response header names (Oxigraph server, Virtuoso), else the generic one."""
    lowered = header.lower()
    if "virtuoso" in lowered:
        return VIRTUOSO
    if "oxigraph" in lowered:
        return OXIGRAPH
    return GENERIC
