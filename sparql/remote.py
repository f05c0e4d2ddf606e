"""Keep the catalogue in a remote SPARQL 1.1 store (Query, Update, Graph Store Protocol) over HTTP.

Chosen by ``store.url`` (sparql/store.py ``open_store``); the embedded Oxigraph store stays the default.
It offers what ``CatalogStore`` offers, with the same publish events in commit order. What the remote engine
does not keep lives beside the home, as for the embedded store: the generation and time of the last change
(``store.state.json``) and the digest of every dataset graph (``store.digests.sqlite``, sparql/digests.py).
What differs between engines (endpoints, default graph, literals they alter) is in sparql/engines.py.

Every batch of datasets is one SPARQL Update request (``DROP SILENT GRAPH`` of each graph, then one insert of
all of them). Oxigraph server applies one request in one transaction, so a failed batch leaves the store as
it was. Virtuoso runs one request in one transaction too (a server killed mid-request keeps none of it), but
an operation it refuses does not undo the earlier operations of the request: for such an engine the graphs
the batch replaces are read first, and put back in one request when the engine refuses the batch. When the
engine does not answer within ``store.timeout_s`` the outcome of a write is unknown: the error says so, and
its digests stay pending, so the next start-up reads those datasets back from the store and the derived
indexes follow what the store really holds.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import pyoxigraph as ox

from core.storage import guarded
from sparql import records
from sparql.answers import Row, broken_off, cut_short, json_boolean, json_term
from core.timings import step
from sparql.digests import StoreDigests, digest_lines_many, digests_adding, graph_digest
from sparql.engines import ENGINES, OXIGRAPH, VIRTUOSO, Engine, canonical_graphs, engine_from_server
from sparql.updates import TOO_LARGE, replacing_update
from sparql.errors import StoreError
from pyoxigraph import QueryTriples
from sparql.shared import SharedWrites
from sparql.public import WithheldGraphs, read_whole, split, whole_quads
from sparql.store import DCAT_DATASET, RDF_TYPE, Listener, OxigraphStore, PublishEvent, withheld_path

log = logging.getLogger(__name__)

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"


def derived_urls(url: str) -> tuple[str, str, str]:
    """Return the query, update and Graph Store URLs of an Oxigraph server from one of them (or its root)."""
    return OXIGRAPH.urls(url, None, None)


def _one_process_at_a_time(method):
    """Run a write in the store's turn of its publication (sparql/shared.py): the engine's write, the new
    generation and the change log's rows; the event's other followers run after the hand-over to the
    indexes' turn (``_emit``), while another process may take the store's turn for its own write."""

    @functools.wraps(method)
    def held(self, *args, **kwargs):
        shared = self._shared
        if shared is None:
            return method(self, *args, **kwargs)
        with shared.publication():
            shared.write_turn()
            return method(self, *args, **kwargs)

    return held


class Prepared(dict):
    """Dataset graphs (uri → triples as given) made ready for the store before its turn (``prepare``)."""

    def __init__(self, graphs: Mapping[str, Sequence[ox.Triple]], bodies: dict[str, list[ox.Triple]],
                 lines: dict[str, set[str]]) -> None:
        super().__init__(graphs)
        self.bodies, self.lines = bodies, lines


class RemoteStore:
    """A remote SPARQL 1.1 store; ``home`` is the path whose siblings keep the state and digest files."""

    def __init__(self, url: str, home: Path | None, *, update_url: str | None = None, gsp_url: str | None = None,
                 timeout_s: float = 30.0, engine: str = "auto", reader: bool = False,
                 database_url: str | None = None) -> None:
        if engine != "auto" and engine not in ENGINES:
            raise StoreError(f"store.engine {engine!r} is not one of auto, {', '.join(ENGINES)}")
        self._configured = (url, update_url, gsp_url)
        self.url = url
        self.timeout_s = timeout_s
        self.path = home
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._engine: Engine | None = None
        if engine != "auto":
            self._use(ENGINES[engine])
        self._write_lock = threading.Lock()
        self._emit_lock = threading.RLock()
        self._emitting = threading.local()
        self._listeners: list[Listener] = []
        # a reader (a web process) writes nothing: it follows the writer's generation (``follow``)
        self.reader = reader
        self._state_file = None if home is None or reader else home.parent / (home.name + ".state.json")
        if home is not None and not reader:
            home.parent.mkdir(parents=True, exist_ok=True)
        self._digests = StoreDigests(None if self._state_file is None else
                                     home.parent / (home.name + ".digests.sqlite"))
        # the whole graphs of the datasets the engine holds as public views (sparql/public.py): on database.url
        # when set (every machine's processes read and write the same), else beside the home (a reader too)
        self._withheld = WithheldGraphs(url=database_url) if database_url else WithheldGraphs(
            None if home is None else withheld_path(home))
        self.generation, self._modified = self._read_state() if not reader else (-1, time.time())
        self._last_stamp = None
        self.broken: str | None = None  # never set: a remote engine has no handle to reopen
        self._state_saved = True
        # several writing processes take turns (sparql/shared.py): on PostgreSQL (database.url), with the
        # generation kept there, whatever machine they run on; else on lock files beside this home
        self._shared = None if self._state_file is None else SharedWrites(
            home.parent / (home.name + ".lock"), on_acquire=self._catch_generation, url=database_url)
        if self._shared is not None and self._shared.state is not None:
            self._shared.state.adopt(self.generation, self._modified)  # a home's own count, when first shared
            self.generation, self._modified = self._read_state()

    def exclusive(self):
        """Hold the store against the other processes — their writes and their indexes' follows — for the block
        (a start-up's checks, a withdrawal; re-entrant)."""
        return self._shared.exclusive() if self._shared is not None else nullcontext()

    def publication(self):
        """One publication (publish/gate.py): the store's turn up to its write's hand-over, then the indexes'
        turn to its end (sparql/shared.py)."""
        return self._shared.publication() if self._shared is not None else nullcontext()

    def _read_state(self) -> tuple[int, float]:
        """The generation and time of the last change: from the shared database when there is one."""
        state = None if self._shared_state is None else self._shared_state.read()
        return state if state is not None else OxigraphStore._read_state(self)

    def _save_state(self) -> None:
        OxigraphStore._save_state(self)
        if self._shared_state is not None:
            try:
                self._shared_state.save(self.generation, self._modified)
            except Exception as exc:  # noqa: BLE001  the change is in the engine; saved again at recovery
                self._state_saved = False
                log.warning("cannot save the store's generation %d in the shared database: %s", self.generation,
                            str(exc)[:300])

    @property
    def _shared_state(self):
        shared = self.__dict__.get("_shared")
        return None if shared is None else shared.state

    def _catch_generation(self) -> None:
        """Take the generation another process of this home moved the store to (called with the lock held)."""
        generation, modified = self._read_state()
        if generation > self.generation:
            self.generation, self._modified = generation, modified
            # the other process stamped its records before it saved this time: ours come strictly later
            self.stamp_after(datetime.fromtimestamp(modified, tz=timezone.utc))

    def shared_generation(self) -> tuple[int, float] | None:
        """Read the generation the processes of this home moved the store to (None: a reader, or no file)."""
        if self._state_file is None:
            return None
        return self._read_state()

    # the bookkeeping of the embedded store, shared as is (state file, stamps, events, digests)
    _bump = OxigraphStore._bump
    _next_stamp = OxigraphStore._next_stamp
    stamp_after = OxigraphStore.stamp_after
    last_modified = OxigraphStore.last_modified
    subscribe = OxigraphStore.subscribe
    _emit = OxigraphStore._emit
    _tell = OxigraphStore._tell
    _settle = OxigraphStore._settle
    _check_writable = OxigraphStore._check_writable
    announce_reset = OxigraphStore.announce_reset
    digests = OxigraphStore.digests
    digests_of = OxigraphStore.digests_of
    _verify_digests = OxigraphStore._verify_digests

    def __repr__(self) -> str:
        return f"RemoteStore({self.url!r})"

    # -- the engine ----------------------------------------------------------------------------
    def _use(self, engine: Engine) -> None:
        self._engine = engine
        self.url, self.update_url, self.gsp_url = engine.urls(*self._configured)

    @property
    def engine(self) -> Engine:
        """The engine behind the URL: named by ``store.engine``, or found from its ``Server`` header once."""
        if self._engine is not None:
            return self._engine
        url = self._configured[0]
        try:
            found = engine_from_server(self._http.get(url).headers.get("server", ""))
        except httpx.HTTPError:  # not reachable now: guess from the URL (the request that follows fails, named)
            path = urlsplit(url).path
            guess = VIRTUOSO if path.rstrip("/").endswith(("/sparql", "/sparql-auth")) else OXIGRAPH
            self.url, self.update_url, self.gsp_url = guess.urls(*self._configured)
            return guess
        self._use(found)
        log.info("the remote store at %s is %s", url, found.name)
        return found

    # -- HTTP --------------------------------------------------------------------------------
    def _send(self, doing: str, method: str, url: str, *, write: bool = False, **kwargs) -> httpx.Response:
        """Send one request; raise StoreError naming the engine's answer (or its silence)."""
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            unknown = " (it may or may not have been applied; checked at the next start-up)" if write else ""
            raise StoreError(f"{doing} failed: the store at {url} did not answer within {self.timeout_s:g} s"
                             f"{unknown}", status=504) from exc
        except httpx.ConnectError as exc:
            raise StoreError(f"{doing} failed: cannot reach the store at {url}: {exc}", status=503) from exc
        except httpx.HTTPError as exc:
            unknown = " (it may or may not have been applied; checked at the next start-up)" if write else ""
            raise StoreError(f"{doing} failed: the connection to the store at {url} broke before it answered "
                             f"({exc}){unknown}", status=503) from exc
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:500]
            error = StoreError(f"{doing} failed: the store at {url} answered {response.status_code}: {text}",
                               status=502)
            error.refused = response.status_code  # the engine answered: it refused the request, or failed running it
            raise error
        return response

    def follow(self, generation: int, modified: float) -> None:
        """Take the writer's generation (a web process's reader: the engine already holds what it wrote)."""
        self.generation, self._modified = generation, modified

    def _update(self, doing: str, update: str) -> None:
        if self.reader:
            raise StoreError(f"{doing} refused: this process reads the remote store only (writes go to the writer)",
                             status=503)
        self._send(doing, "POST", self.update_url, write=True, content=update.encode("utf-8"),
                   headers={"Content-Type": "application/sparql-update; charset=utf-8"})

    def query(self, sparql: str, **kwargs):
        """Run a trusted query of our own on the remote engine.

        SELECT gives rows (``row[0]``, ``row["name"]``), ASK a boolean, CONSTRUCT and DESCRIBE a list of triples,
        with literals as written (the engine's codec undone). ``use_default_graph_as_union`` (the default, as for
        the embedded store) asks for the union of the graphs; an answer the engine cut short is an error.
        """
        union = kwargs.pop("use_default_graph_as_union", True)
        if kwargs:
            raise StoreError(f"the remote store does not take the query options {sorted(kwargs)}")
        engine = self.engine
        params = {"union-default-graph": ""} if union and engine.union_parameter else {}
        try:  # its kind, from the query on an empty store (a malformed one is named by the engine)
            graph = isinstance(ox.Store().query(sparql), QueryTriples)
        except (SyntaxError, ValueError):
            graph = False
        response = self._send("a query", "POST", self.url, params=params, data={"query": sparql},
                              headers={"Accept": N_TRIPLES if graph else RESULTS_JSON})
        short = cut_short(response)
        if short:
            raise StoreError(f"a query failed: {short} ({self.url})", status=504)
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        try:
            if kind == RESULTS_JSON:
                answer = response.json()
                boolean = json_boolean(answer)
                if boolean is not None:
                    return boolean
                names = answer["head"].get("vars", [])
                return [Row(names, [json_term(b.get(n), engine.codec) for n in names])
                        for b in answer["results"]["bindings"]]
            if kind in (N_TRIPLES, "text/plain"):
                triples = [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]
                return engine.codec.decode(triples) if engine.codec else triples
        except (ValueError, SyntaxError, LookupError, TypeError, AttributeError) as exc:  # not whole: never a part
            why, stopped = broken_off(response.content, exc)
            raise StoreError(f"a query failed: the store at {self.url} answered 200, but {why}",
                             status=504 if stopped else 502) from exc
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

    def _graphs_now(self, uris: Sequence[str]) -> dict[str, list[ox.Triple]]:
        """Read the graphs as they are now, in one query (empty: the graph does not exist)."""
        now: dict[str, list[ox.Triple]] = {uri: [] for uri in uris}
        if uris:
            values = " ".join(str(ox.NamedNode(u)) for u in uris)
            for row in self.query(f"SELECT ?g ?s ?p ?o WHERE {{ VALUES ?g {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }}",
                                  use_default_graph_as_union=False):
                now[row["g"].value].append(ox.Triple(row["s"], row["p"], row["o"]))
        return now

    def dataset_graphs(self, uris: Sequence[str]) -> dict[str, list[ox.Triple]]:
        """Read several dataset graphs as published now, in one query (empty: not stored); those the engine
        holds as public views whole, from beside it (sparql/public.py)."""
        graphs = self._graphs_now(list(uris))
        graphs.update((uri, read_whole(body)) for uri, body in self._withheld.wholes_of(list(uris)).items())
        return graphs

    def _replacing(self, graphs: Mapping[str, Sequence[ox.Triple]], present: Collection[str] | None = None) -> str:
        """One update replacing every graph, as the engine takes it (sparql/updates.py); only the graphs of
        ``present`` (None: all) may exist, so only those are dropped."""
        return replacing_update(self.engine, graphs, present)

    def _apply(self, doing: str, graphs: Mapping[str, Sequence[ox.Triple]],
               present: Collection[str] | None = None) -> None:
        """Replace the graphs (empty: drop) in one request. ``present``: the graphs of them the store may hold
        now (None: any), read in this process's turn of the store; the others are written without a drop. On
        an engine that does not undo a request it refused part-way (Virtuoso), put those back as they were."""
        engine = self.engine
        present = None if present is None else set(present)
        if engine.atomic_request:
            self._update(doing, self._replacing(graphs, present))
            return
        before = self._graphs_now(list(graphs if present is None else present))
        try:
            self._write_parts(doing, graphs, present)
        except StoreError as exc:
            if getattr(exc, "refused", 0) < 500 and not getattr(exc, "partial", False):
                raise  # refused before any of it ran
            restore = {uri: before.get(uri, []) for uri in graphs}
            try:
                self._write_parts(f"putting back the {len(restore)} graphs of a refused write", restore)
            except StoreError as again:
                raise StoreError(f"{exc.message}; putting the graphs back failed as well, so the store may hold "
                                 f"part of it (checked at the next start-up): {again.message}",
                                 status=502) from exc
            raise StoreError(f"{exc.message} (the graphs it had replaced were put back as they were)",
                             status=502) from exc

    def _write_parts(self, doing: str, graphs: Mapping[str, Sequence[ox.Triple]],
                     present: Collection[str] | None = None, written: list | None = None) -> None:
        """Write in one request, or, when the engine finds the request too large to compile (Virtuoso), in
        halves (each one transaction); a failure after a part was written is marked ``partial``."""
        written = [] if written is None else written
        try:
            self._update(doing, self._replacing(graphs, present))
        except StoreError as exc:
            if getattr(exc, "refused", 0) == 400 and TOO_LARGE.search(exc.message) and len(graphs) > 1:
                items = list(graphs.items())
                self._write_parts(doing, dict(items[: len(items) // 2]), present, written)
                self._write_parts(doing, dict(items[len(items) // 2:]), present, written)
                return
            exc.partial = bool(written)
            raise
        written.append(len(graphs))

    def prepare(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> "Prepared":
        """Do before the store's turn what a write of these graphs needs and no other process changes: each
        graph in stored form (canonical literals) without its catalogue record, and the lines of its digest.
        ``put_datasets`` of the result adds the records (their dates are known only in the turn)."""
        with step("store: prepare"):
            bodies = canonical_graphs({uri: records.without_record(uri, t) for uri, t in graphs.items()})
            return Prepared(graphs, bodies, digest_lines_many(bodies))

    @_one_process_at_a_time
    def put_datasets(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> PublishEvent:
        """Replace the dataset graphs with the given triples, in one update request."""
        if not isinstance(graphs, Prepared):
            graphs = self.prepare(graphs)
        with self._write_lock:
            with step("store: which exist"):
                present = self._present(list(graphs))
            stamp = records.now_literal(self._next_stamp())
            fresh = [uri for uri in graphs if uri not in present]
            with step("store: records and digests"):
                added = {uri: records.record_triples(uri, graphs.bodies[uri], stamp, present.get(uri))
                         for uri in graphs}
                added = canonical_graphs(added)
                stored = {uri: graphs.bodies[uri] + added[uri] for uri in graphs}
                digests = digests_adding({uri: (graphs.lines[uri], added[uri]) for uri in graphs})
                guarded(f"noting the digests of {len(graphs)} datasets", lambda: self._digests.intend(digests))
            with step("store: public views"):
                public, wholes = split(stored)  # sparql/public.py
                guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(graphs))
            if stored:
                with step("store: write"):
                    self._apply(f"storing {len(graphs)} datasets", public, present)
            with step("store: records and digests"):
                self._settle(digests, wholes)
            with step("store: generation"):
                generation = self._bump()
            event = PublishEvent(generation, put=tuple(graphs), created=tuple(fresh), graphs=stored,
                                 digests=digests)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    @_one_process_at_a_time
    def restore(self, previous: Mapping[str, Sequence[ox.Triple]], reason: str = "undone") -> PublishEvent:
        """Put graphs back exactly as they were (an empty one: the graph did not exist), in one request."""
        with self._write_lock:
            gone = [uri for uri, triples in previous.items() if not triples]
            digests = {uri: graph_digest(triples) if triples else None for uri, triples in previous.items()}
            guarded("noting the digests of an undone publication", lambda: self._digests.intend(digests))
            public, wholes = split({uri: triples for uri, triples in previous.items() if triples})
            guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(previous))
            if previous:
                self._apply("undoing a publication", {uri: public.get(uri, []) for uri in previous},
                            list(previous))
            self._settle(digests, wholes)
            put = tuple(uri for uri in previous if previous[uri])
            event = PublishEvent(self._bump(), put=put, removed=tuple(gone), reason=reason,
                                 graphs={uri: list(previous[uri]) for uri in put},
                                 digests={uri: digests[uri] for uri in put})
            self._emit_lock.acquire()
        self._emit(event)
        return event

    @_one_process_at_a_time
    def remove_datasets(self, uris: Iterable[str], reason: str = "") -> PublishEvent:
        """Remove dataset graphs in one update request; unknown URIs are ignored."""
        uris = tuple(dict.fromkeys(uris))
        with self._write_lock:
            present = self._present(list(uris))
            gone = [uri for uri in uris if uri in present]
            if gone:
                guarded(f"noting the removal of {len(gone)} datasets",
                        lambda: self._digests.intend(dict.fromkeys(gone)))
                guarded(f"noting the removal of {len(gone)} datasets", lambda: self._withheld.take_out(gone))
                self._apply(f"removing {len(gone)} datasets", {uri: [] for uri in gone}, gone)
                self._settle(gone)
            event = PublishEvent(self._bump(), removed=tuple(gone), reason=reason)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    @_one_process_at_a_time
    def put_graph(self, uri: str, triples: Iterable[ox.Triple]) -> None:
        """Replace a non-dataset graph (vocabulary, catalogue description) in one request."""
        with self._write_lock:
            self._apply(f"storing graph {uri}", {uri: list(triples)}, [uri])
            self._bump()

    def graph_names(self) -> list[str]:
        """The named graphs of the platform in the engine (not the engine's own)."""
        rows = self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }", use_default_graph_as_union=False)
        return [row[0].value for row in rows if self.engine.ours(row[0].value)]

    @_one_process_at_a_time
    def clear(self) -> PublishEvent:
        """Remove every named graph of the platform from the remote store (not the engine's own)."""
        with self._write_lock:
            if self.engine.own_graphs:
                names = self.graph_names()
                if names:
                    self._update("clearing the store", " ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(g)}"
                                                                   for g in names))
            else:
                self._update("clearing the store", "DROP SILENT NAMED")
            self._digests.clear()
            self._withheld.clear()
            event = PublishEvent(self._bump(), reset=True)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    @_one_process_at_a_time
    def store_public_views(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> None:
        """As OxigraphStore.store_public_views: the engine's whole graphs replaced by their public views."""
        public, wholes = split(graphs)
        with self._write_lock:
            guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(graphs))
            self._apply(f"storing the public views of {len(graphs)} datasets", public, list(public))
            guarded("keeping withheld graphs", lambda: self._withheld.put_in(wholes))
            self._bump()

    @_one_process_at_a_time
    def recover(self) -> bool:
        """Nothing to reopen (each request stands alone); save a state file a full disk kept back."""
        with self._write_lock:
            if not self._state_saved:
                self._save_state()
            return self._state_saved

    # -- reads -------------------------------------------------------------------------------
    def dataset_triples(self, uri: str) -> list[ox.Triple]:
        """Read one graph through the Graph Store Protocol (none: an empty list); a dataset the engine holds as
        its public view is read whole from beside it (sparql/public.py)."""
        whole = self._withheld.whole(uri)
        return read_whole(whole) if whole is not None else self.stored_triples(uri)

    def stored_triples(self, uri: str) -> list[ox.Triple]:
        """The graph as the engine holds it (for a restricted dataset: its public view)."""
        engine = self.engine
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
        triples = [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]
        return engine.codec.decode(triples) if engine.codec else triples

    def record_modified(self, uri: str):
        rows = self.query(f"SELECT ?m WHERE {{ GRAPH {ox.NamedNode(uri)} {{ {records.record_uri(uri)} "
                          f"{records.MODIFIED} ?m }} }} LIMIT 1", use_default_graph_as_union=False)
        return records.parse_datetime(next((row[0] for row in rows), None))

    def records_modified(self, uris: Sequence[str]) -> dict[str, datetime | None]:
        """``record_modified`` of each dataset, in one query per 200 (a /catalog page asked one per dataset)."""
        found: dict[str, datetime | None] = dict.fromkeys(uris)
        uris = list(found)
        for start in range(0, len(uris), 200):
            values = " ".join(f"({ox.NamedNode(u)} {records.record_uri(u)})" for u in uris[start:start + 200])
            for row in self.query(f"SELECT ?g ?m WHERE {{ VALUES (?g ?r) {{ {values} }} "
                                  f"GRAPH ?g {{ ?r {records.MODIFIED} ?m }} }}", use_default_graph_as_union=False):
                uri = row["g"].value
                if found.get(uri) is None:  # (as record_modified: the first the engine gives)
                    found[uri] = records.parse_datetime(row["m"])
        return found

    def has_dataset(self, uri: str) -> bool:
        node = ox.NamedNode(uri)
        return self.query(f"ASK {{ GRAPH {node} {{ {node} {RDF_TYPE} {DCAT_DATASET} }} }}",
                          use_default_graph_as_union=False)

    def dataset_uris(self) -> list[str]:
        """Return the URIs of all datasets, sorted here: Oxigraph server's ORDER BY of 100,000 IRIs took 17 s
        (the listing alone 1 s), and a stopping server waited for it (as OxigraphStore.dataset_uris)."""
        rows = self.query("SELECT ?d WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }",
                          use_default_graph_as_union=False)
        return sorted({row[0].value for row in rows})

    def count_datasets(self) -> int:
        rows = self.query("SELECT (COUNT(?d) AS ?n) WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }",
                          use_default_graph_as_union=False)
        return int(next(iter(rows))[0].value)

    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        """The quads of one named graph, or of every named graph of the platform (it writes no default graph)."""
        if graph is not None:
            node = ox.NamedNode(graph)
            return iter([ox.Quad(t.subject, t.predicate, t.object, node) for t in self.dataset_triples(graph)])
        rows = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }", use_default_graph_as_union=False)
        ours = self.engine.ours
        return whole_quads((ox.Quad(row["s"], row["p"], row["o"], row["g"]) for row in rows
                             if ours(row["g"].value)), self._withheld.wholes())

    def snapshot(self, directory: Path) -> None:
        raise StoreError("a remote store has no snapshots: queries go to its endpoint")

    def close(self) -> None:
        """Release the connections and the digest table (twice is harmless)."""
        self._http.close()
        if self._shared is not None:
            self._shared.close()
        for part in (self._digests, self._withheld):
            try:
                part.close()
            except Exception:  # noqa: BLE001  closed already
                pass


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
