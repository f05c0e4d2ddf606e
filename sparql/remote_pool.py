"""Answer /sparql on the remote store's own engine, with the pool's checks and our limits."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict

import httpx
import pyoxigraph as ox

from sparql import errors
from sparql.answers import broken_off, cut_short, json_boolean
from sparql.errors import StoreError
from sparql.fairness import ClientShares
from sparql.formats import SELECT_FORMATS, formats_for, negotiate
from sparql.remote import N_TRIPLES, RESULTS_JSON, RemoteStore
from sparql.results import Limits, write_boolean, write_graph, write_solutions
from sparql.worker import query_kind

ENGINE_TIMEOUT_WORDS = ("timeout", "time limit", "timed out", "cancelled", "estimated execution time", "s1tat")


class RemotePool:
    """Answer user queries (/sparql) on the remote store's own endpoint, in place of the worker pool.

    The same checks as the pool come first (length, nesting, no update, no SERVICE, the client's share); the
    query is then parsed on an empty in-memory store, which names a malformed query as the pool does and tells
    its kind for content negotiation. Our time limit (``sparql.timeout_s``) holds on the connection: the engine's
    answer must be complete within it, and no more than ``sparql.max_result_bytes`` of it is read. The engine's
    own limit (``oxigraph serve --timeout-s``; Virtuoso's ``MaxQueryExecutionTime``) stops the query on its side;
    an answer it cut short (Virtuoso answers part of a result at its limits, with a 200) is refused, named.
    Graph results are read as N-Triples, counted against ``sparql.max_results`` and written in the negotiated
    format; on an engine that alters literals (Virtuoso) SELECT results are read as JSON and written back with the
    literals as the platform wrote them.
    """

    snapshots = None  # nothing to share with web processes: they would ask the engine themselves

    def __init__(self, store: RemoteStore, settings) -> None:
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
        from sparql.pool import QueryResult

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
        engine = self.store.engine
        params: list[tuple[str, str]] = [("default-graph-uri", g) for g in default_graphs]
        params += [("named-graph-uri", g) for g in named_graphs]
        if not default_graphs and not text.names_dataset and engine.union_parameter:
            params.append(("union-default-graph", ""))  # as the pool: the union of the dataset graphs
        # asked in a format read whole here before anything is passed on (an engine that stops a query after its
        # 200 can only break the answer off: sparql/answers.py broken_off), then written in the negotiated one
        asked = N_TRIPLES if kind == "graph" else RESULTS_JSON
        limits = Limits(self.settings.max_results, self.settings.max_result_bytes)
        with self.shares.hold(client):
            started = time.monotonic()
            body = self._fetch(query, params, asked, started)
        try:
            if kind == "graph":
                triples = [q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES)]
                if len(triples) > limits.max_results:
                    raise limits.too_many()
                body = write_graph(engine.codec.decode(triples) if engine.codec else triples, fmt, limits)
            elif kind == "ask":
                value = json_boolean(json.loads(body))
                if value is None:
                    raise StoreError(f"the store at {self.store.url} answered an ASK query without a boolean",
                                     status=502)
                body = write_boolean(value, fmt)
            elif engine.codec is not None:
                body = self._decoded_solutions(body, fmt, limits)
            else:
                body = self._solutions(body, fmt, limits)
        except (ValueError, SyntaxError, LookupError, TypeError, AttributeError) as exc:  # the answer is not whole
            why, stopped = broken_off(body, exc)
            if stopped:
                self.stats["timeout"] += 1
                raise errors.QueryTimeoutError(f"{why}; narrow the query") from exc
            raise StoreError(f"the store at {self.store.url} answered 200, but {why}", status=502) from exc
        return QueryResult(fmt.media_type, body, time.monotonic() - started)

    @staticmethod
    def _solutions(body: bytes, fmt, limits: Limits) -> bytes:
        """SELECT results read whole: passed on as the engine wrote them when JSON was asked, else written anew."""
        if fmt.media_type == SELECT_FORMATS[0].media_type:
            if len(json.loads(body)["results"]["bindings"]) > limits.max_results:
                raise limits.too_many()
            return body
        return write_solutions(ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON), fmt, limits)

    def _fetch(self, query: str, params, asked: str, started: float) -> bytes:
        """Read the engine's whole answer within our time and byte limits, or raise the error to show."""
        limit_s, limit_bytes = self.settings.timeout_s, self.settings.max_result_bytes
        try:
            with self._http.stream("POST", self.store.url, params=params, data={"query": query},
                                   headers={"Accept": asked}) as response:
                if response.status_code >= 400:
                    message = " ".join(response.read().decode("utf-8", "replace").split())[:500]
                    if any(word in message.lower() for word in ENGINE_TIMEOUT_WORDS):
                        self.stats["timeout"] += 1
                        raise errors.QueryTimeoutError(f"the store stopped the query at its own time limit: "
                                                       f"{message}")
                    if response.status_code == 400:
                        raise errors.QueryError(f"the store refused the query: {message}")
                    raise StoreError(f"the store at {self.store.url} answered {response.status_code}: {message}",
                                     status=502)
                short = cut_short(response)
                if short:
                    self.stats["timeout" if "time" in short else "too_large"] += 1
                    error = errors.QueryTimeoutError if "time" in short else errors.QueryTooLargeError
                    raise error(f"{short}; narrow the query (LIMIT)")
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
        return b"".join(chunks)

    def _decoded_solutions(self, body: bytes, fmt, limits: Limits) -> bytes:
        """SELECT results in JSON with the literals as written, in the negotiated format."""
        codec = self.store.engine.codec
        answer = json.loads(body)
        for binding in answer["results"]["bindings"]:
            for name, value in binding.items():
                if value.get("type") == "bnode":
                    value["value"] = "".join(c if c.isalnum() else "_" for c in
                                             value["value"].removeprefix("nodeID://"))
                else:
                    binding[name] = codec.decode_json_term(value)
        answer = {"head": {"vars": answer["head"].get("vars", [])},
                  "results": {"bindings": answer["results"]["bindings"]}}
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        if fmt.media_type == SELECT_FORMATS[0].media_type:
            if len(data) > limits.max_bytes:
                raise limits.too_big()
            return data
        return write_solutions(ox.parse_query_results(data, format=ox.QueryResultsFormat.JSON), fmt, limits)

    def close(self) -> None:
        self._http.close()
