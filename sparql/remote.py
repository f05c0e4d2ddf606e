"""Keep the catalogue in a remote SPARQL 1.1 store (Query, Update, Graph Store Protocol) over HTTP.

Chosen by ``store.url`` (sparql/store.py ``open_store``); the embedded Oxigraph store stays the default.
It offers what ``CatalogStore`` offers, with the same publish events in commit order. What the remote engine
does not keep lives beside the home, as for the embedded store: the generation and time of the last change
(``store.state.json``) and the digest of every dataset graph (``store.digests.sqlite``, sparql/digests.py).

Every batch of datasets is one SPARQL Update request (``DROP SILENT GRAPH`` of each graph, then one
``INSERT DATA`` of all of them). Oxigraph server applies one request in one transaction, so a failed batch
leaves the store as it was. When the engine does not answer within ``store.timeout_s`` the outcome of a
write is unknown: the error says so, and its digests stay pending, so the next start-up reads those datasets
back from the store and the derived indexes follow what the store really holds.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx
import pyoxigraph as ox

from core.storage import guarded
from sparql import records
from sparql.digests import StoreDigests, graph_digest
from sparql.errors import StoreError
from sparql.store import DCAT_DATASET, RDF_TYPE, Listener, OxigraphStore, PublishEvent

log = logging.getLogger(__name__)

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"


def derived_urls(url: str) -> tuple[str, str, str]:
    """Return the query, update and Graph Store URLs of an Oxigraph server from one of them (or its root)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for tail in ("/query", "/update", "/store"):
        if path.endswith(tail):
            path = path[: -len(tail)]
            break
    return tuple(urlunsplit((parts.scheme, parts.netloc, path + tail, "", "")) for tail in ("/query", "/update", "/store"))


def _ntriples(triples: Iterable[ox.Triple]) -> str:
    return ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES).decode("utf-8")


class RemoteStore:
    """A remote SPARQL 1.1 store; ``home`` is the path whose siblings keep the state and digest files."""

    def __init__(self, url: str, home: Path | None, *, update_url: str | None = None, gsp_url: str | None = None,
                 timeout_s: float = 30.0) -> None:
        query_url, default_update, default_gsp = derived_urls(url)
        self.url = url if urlsplit(url).path.rstrip("/") else query_url  # the server's root: its /query
        self.update_url = update_url or default_update
        self.gsp_url = gsp_url or default_gsp
        self.timeout_s = timeout_s
        self.path = home
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._write_lock = threading.Lock()
        self._emit_lock = threading.RLock()
        self._emitting = threading.local()
        self._listeners: list[Listener] = []
        self._state_file = None if home is None else home.parent / (home.name + ".state.json")
        if home is not None:
            home.parent.mkdir(parents=True, exist_ok=True)
        self._digests = StoreDigests(None if home is None else home.parent / (home.name + ".digests.sqlite"))
        self.generation, self._modified = self._read_state()
        self._last_stamp = None
        self.broken: str | None = None  # never set: a remote engine has no handle to reopen
        self._state_saved = True

    # the bookkeeping of the embedded store, shared as is (state file, stamps, events, digests)
    _read_state = OxigraphStore._read_state
    _bump = OxigraphStore._bump
    _save_state = OxigraphStore._save_state
    _next_stamp = OxigraphStore._next_stamp
    stamp_after = OxigraphStore.stamp_after
    last_modified = OxigraphStore.last_modified
    subscribe = OxigraphStore.subscribe
    _emit = OxigraphStore._emit
    _settle = OxigraphStore._settle
    _check_writable = OxigraphStore._check_writable
    announce_reset = OxigraphStore.announce_reset
    digests = OxigraphStore.digests

    def __repr__(self) -> str:
        return f"RemoteStore({self.url!r})"

    # -- HTTP --------------------------------------------------------------------------------
    def _send(self, doing: str, method: str, url: str, *, write: bool = False, **kwargs) -> httpx.Response:
        """Send one request; raise StoreError naming the engine's answer (or its silence)."""
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            unknown = " (it may or may not have been applied; checked at the next start-up)" if write else ""
            raise StoreError(f"{doing} failed: the store at {url} did not answer within {self.timeout_s:g} s"
                             f"{unknown}", status=504) from exc
        except httpx.HTTPError as exc:
            raise StoreError(f"{doing} failed: cannot reach the store at {url}: {exc}", status=503) from exc
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:500]
            raise StoreError(f"{doing} failed: the store at {url} answered {response.status_code}: {text}",
                             status=502)
        return response

    def _update(self, doing: str, update: str) -> None:
        self._send(doing, "POST", self.update_url, write=True, content=update.encode("utf-8"),
                   headers={"Content-Type": "application/sparql-update; charset=utf-8"})

    def query(self, sparql: str, **kwargs):
        """Run a trusted query of our own on the remote engine; results as pyoxigraph's.

        SELECT gives rows (``row[0]``, ``row["name"]``), ASK a boolean, CONSTRUCT and DESCRIBE a list of triples.
        ``use_default_graph_as_union`` (the default, as for the embedded store) asks for the union of the graphs.
        """
        union = kwargs.pop("use_default_graph_as_union", True)
        if kwargs:
            raise StoreError(f"the remote store does not take the query options {sorted(kwargs)}")
        params = {"union-default-graph": ""} if union else {}
        response = self._send("a query", "POST", self.url, params=params, data={"query": sparql},
                              headers={"Accept": f"{RESULTS_JSON}, {N_TRIPLES};q=0.9"})
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if kind == RESULTS_JSON:
            answer = ox.parse_query_results(response.content, format=ox.QueryResultsFormat.JSON)
            return bool(answer) if isinstance(answer, ox.QueryBoolean) else answer
        if kind == N_TRIPLES:
            return [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]
        raise StoreError(f"a query failed: the store at {self.url} answered in {kind or 'no media type'}, "
                         f"not {RESULTS_JSON} or {N_TRIPLES}", status=502)

    # -- writes ------------------------------------------------------------------------------
    def _present(self, uris: Sequence[str]) -> dict[str, ox.Literal | None]:
        """Return which of the graphs exist, with the issued date of their catalogue record (if any)."""
        if not uris:
            return {}
        values = " ".join(f"({ox.NamedNode(u)} {records.record_uri(u)})" for u in uris)
        rows = self.query(f"SELECT ?g ?i WHERE {{ VALUES (?g ?r) {{ {values} }} "
                          f"FILTER EXISTS {{ GRAPH ?g {{ ?s ?p ?o }} }} "
                          f"OPTIONAL {{ GRAPH ?g {{ ?r {records.ISSUED} ?i }} }} }}", use_default_graph_as_union=False)
        return {row["g"].value: row["i"] for row in rows}

    @staticmethod
    def _replacing(graphs: Mapping[str, Sequence[ox.Triple]]) -> str:
        """One update replacing every graph: all drops, then one INSERT DATA (blank nodes scoped to it)."""
        drops = [f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in graphs]
        bodies = [f"GRAPH {ox.NamedNode(uri)} {{ {_ntriples(t)} }}" for uri, t in graphs.items() if t]
        if bodies:
            drops.append("INSERT DATA { " + "\n".join(bodies) + " }")
        return " ;\n".join(drops)

    def put_datasets(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> PublishEvent:
        """Replace the dataset graphs with the given triples, in one update request."""
        with self._write_lock:
            stamp = records.now_literal(self._next_stamp())
            present = self._present(list(graphs))
            fresh = [uri for uri in graphs if uri not in present]
            stored = {uri: records.with_record(uri, triples, stamp, present.get(uri))
                      for uri, triples in graphs.items()}
            digests = {uri: graph_digest(triples) for uri, triples in stored.items()}
            guarded(f"noting the digests of {len(graphs)} datasets", lambda: self._digests.intend(digests))
            if stored:
                self._update(f"storing {len(graphs)} datasets", self._replacing(stored))
            self._settle(digests)
            event = PublishEvent(self._bump(), put=tuple(graphs), created=tuple(fresh), graphs=stored,
                                 digests=digests)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def restore(self, previous: Mapping[str, Sequence[ox.Triple]], reason: str = "undone") -> PublishEvent:
        """Put graphs back exactly as they were (an empty one: the graph did not exist), in one request."""
        with self._write_lock:
            gone = [uri for uri, triples in previous.items() if not triples]
            digests = {uri: graph_digest(triples) if triples else None for uri, triples in previous.items()}
            guarded("noting the digests of an undone publication", lambda: self._digests.intend(digests))
            if previous:
                self._update("undoing a publication", self._replacing(previous))
            self._settle(digests)
            put = tuple(uri for uri in previous if previous[uri])
            event = PublishEvent(self._bump(), put=put, removed=tuple(gone), reason=reason,
                                 graphs={uri: list(previous[uri]) for uri in put},
                                 digests={uri: digests[uri] for uri in put})
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def remove_datasets(self, uris: Iterable[str], reason: str = "") -> PublishEvent:
        """Remove dataset graphs in one update request; unknown URIs are ignored."""
        uris = tuple(dict.fromkeys(uris))
        with self._write_lock:
            present = self._present(list(uris))
            gone = [uri for uri in uris if uri in present]
            if gone:
                guarded(f"noting the removal of {len(gone)} datasets",
                        lambda: self._digests.intend(dict.fromkeys(gone)))
                self._update(f"removing {len(gone)} datasets",
                             " ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in gone))
                self._settle(gone)
            event = PublishEvent(self._bump(), removed=tuple(gone), reason=reason)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def put_graph(self, uri: str, triples: Iterable[ox.Triple]) -> None:
        """Replace a non-dataset graph (vocabulary, catalogue description) in one request."""
        with self._write_lock:
            self._update(f"storing graph {uri}", self._replacing({uri: list(triples)}))
            self._bump()

    def clear(self) -> PublishEvent:
        """Remove every named graph of the remote store."""
        with self._write_lock:
            self._update("clearing the store", "DROP SILENT NAMED")
            self._digests.clear()
            event = PublishEvent(self._bump(), reset=True)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def recover(self) -> bool:
        """Nothing to reopen (each request stands alone); save a state file a full disk kept back."""
        with self._write_lock:
            if not self._state_saved:
                self._save_state()
            return self._state_saved

    # -- reads -------------------------------------------------------------------------------
    def dataset_triples(self, uri: str) -> list[ox.Triple]:
        """Read one graph through the Graph Store Protocol (none: an empty list)."""
        try:
            response = self._http.get(self.gsp_url, params={"graph": uri}, headers={"Accept": N_TRIPLES})
        except httpx.TimeoutException as exc:
            raise StoreError(f"reading {uri} failed: the store at {self.gsp_url} did not answer within "
                             f"{self.timeout_s:g} s", status=504) from exc
        except httpx.HTTPError as exc:
            raise StoreError(f"reading {uri} failed: cannot reach the store at {self.gsp_url}: {exc}",
                             status=503) from exc
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:500]
            raise StoreError(f"reading {uri} failed: the store at {self.gsp_url} answered "
                             f"{response.status_code}: {text}", status=502)
        return [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]

    def record_modified(self, uri: str):
        rows = self.query(f"SELECT ?m WHERE {{ GRAPH {ox.NamedNode(uri)} {{ {records.record_uri(uri)} "
                          f"{records.MODIFIED} ?m }} }} LIMIT 1", use_default_graph_as_union=False)
        return records.parse_datetime(next((row[0] for row in rows), None))

    def has_dataset(self, uri: str) -> bool:
        node = ox.NamedNode(uri)
        return self.query(f"ASK {{ GRAPH {node} {{ {node} {RDF_TYPE} {DCAT_DATASET} }} }}",
                          use_default_graph_as_union=False)

    def dataset_uris(self) -> list[str]:
        rows = self.query("SELECT ?d WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } } ORDER BY ?d",
                          use_default_graph_as_union=False)
        return [row[0].value for row in rows]

    def count_datasets(self) -> int:
        rows = self.query("SELECT (COUNT(?d) AS ?n) WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }",
                          use_default_graph_as_union=False)
        return int(next(iter(rows))[0].value)

    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        """The quads of one named graph, or of every named graph (the platform writes no default graph)."""
        if graph is not None:
            node = ox.NamedNode(graph)
            return iter([ox.Quad(t.subject, t.predicate, t.object, node) for t in self.dataset_triples(graph)])
        rows = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }", use_default_graph_as_union=False)
        return iter([ox.Quad(row["s"], row["p"], row["o"], row["g"]) for row in rows])

    def snapshot(self, directory: Path) -> None:
        raise StoreError("a remote store has no snapshots: queries go to its endpoint")

    def close(self) -> None:
        """Release the connections and the digest table (twice is harmless)."""
        self._http.close()
        try:
            self._digests.close()
        except Exception:  # noqa: BLE001  closed already
            pass


class RemotePool:
    """Answer user queries (/sparql) on the remote store's own endpoint, in place of the worker pool.

    The same checks as the pool come first (length, nesting, no update, no SERVICE, the client's share); the
    query is then parsed on an empty in-memory store, which names a malformed query as the pool does and tells
    its kind for content negotiation. Our time limit (``sparql.timeout_s``) holds on the connection: the engine's
    answer must be complete within it, and no more than ``sparql.max_result_bytes`` of it is read. The engine's
    own limit (``oxigraph serve --timeout-s``) stops the query on its side. ``sparql.max_results`` is not counted
    here (the answer is passed on as the engine wrote it); the byte limit bounds it.
    """

    snapshots = None  # nothing to share with web processes: they would ask the engine themselves

    def __init__(self, store: RemoteStore, settings) -> None:
        from collections import Counter, OrderedDict

        from sparql.fairness import ClientShares

        self.store = store
        self.settings = settings
        self.shares = ClientShares(settings.max_workers_per_client, settings.client_queue,
                                   settings.client_wait_s, settings.timeout_s)
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopped: OrderedDict[str, str] = OrderedDict()  # (never filled: no worker of ours dies)
        self._http = httpx.Client(timeout=httpx.Timeout(settings.timeout_s))

    def check(self, query: str):
        """The pool's checks before a query is sent (sparql/pool.py ``QueryPool.check``)."""
        from sparql.pool import QueryPool

        return QueryPool.check(self, query)

    def start(self) -> None:
        """Nothing to start: the engine runs the queries."""

    def worker_pids(self) -> list[int]:
        return []

    def run(self, query: str, accept: str | None = None, format_name: str | None = None,
            default_graphs: tuple[str, ...] = (), named_graphs: tuple[str, ...] = (), client: str = ""):
        from sparql import errors
        from sparql.formats import formats_for, negotiate
        from sparql.pool import QueryResult
        from sparql.worker import query_kind

        text = self.check(query)
        try:  # parsed on an empty store: a malformed query is named here, and its kind is known
            kind = query_kind(ox.Store().query(query))
        except SyntaxError as exc:
            raise errors.QueryError(f"malformed query: {exc}") from exc
        except ValueError as exc:
            raise errors.QueryError(f"invalid query: {exc}") from exc
        fmt = negotiate(formats_for(kind), accept, format_name, kind)
        if fmt is None:
            from core.errors import NotAcceptableError

            offered = ", ".join(f.media_type for f in formats_for(kind))
            raise NotAcceptableError(f"cannot answer a {kind.upper()} query in the requested type; offered: {offered}")
        params: list[tuple[str, str]] = [("default-graph-uri", g) for g in default_graphs]
        params += [("named-graph-uri", g) for g in named_graphs]
        if not default_graphs and not text.names_dataset:
            params.append(("union-default-graph", ""))  # as the pool: the union of the dataset graphs
        limit_s, limit_bytes = self.settings.timeout_s, self.settings.max_result_bytes
        with self.shares.hold(client):
            started = time.monotonic()
            try:
                with self._http.stream("POST", self.store.url, params=params, data={"query": query},
                                       headers={"Accept": fmt.media_type}) as response:
                    if response.status_code >= 400:
                        body = " ".join(response.read().decode("utf-8", "replace").split())[:500]
                        if response.status_code == 400:
                            raise errors.QueryError(f"the store refused the query: {body}")
                        raise StoreError(f"the store at {self.store.url} answered {response.status_code}: {body}",
                                         status=502)
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit_bytes:
                            raise errors.QueryTooLargeError(
                                f"the answer is larger than {limit_bytes} bytes; narrow the query (LIMIT)")
                        if time.monotonic() - started > limit_s:
                            raise httpx.ReadTimeout("past the time limit")
                        chunks.append(chunk)
            except httpx.TimeoutException as exc:
                self.stats["timeout"] += 1
                raise errors.QueryTimeoutError(
                    f"the query ran past the time limit of {limit_s:g} s and was stopped") from exc
            except httpx.HTTPError as exc:
                raise StoreError(f"cannot reach the store at {self.store.url}: {exc}", status=503) from exc
        return QueryResult(fmt.media_type, b"".join(chunks), time.monotonic() - started)

    def close(self) -> None:
        self._http.close()


def wait_until_up(url: str, timeout_s: float = 20.0) -> None:
    """Wait until a SPARQL endpoint answers a query (for tests and start-up scripts)."""
    deadline = time.monotonic() + timeout_s
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, data={"query": "ASK {}"}, timeout=2).status_code < 500:
                return
        except httpx.HTTPError as exc:
            error = exc
        time.sleep(0.1)
    raise StoreError(f"the store at {url} did not answer within {timeout_s:g} s ({error})")
