"""Run user SPARQL queries in a separate, killable process over a read-only store snapshot.

The parent (sparql.pool.QueryPool) writes framed pickled requests to our stdin and reads framed
pickled answers from our stdout. pyoxigraph cannot cancel a query, so the parent enforces the
time limit by killing this process.
"""

from __future__ import annotations

import os
import pickle
import resource
import sys
import threading
from dataclasses import dataclass

import pyoxigraph as ox

from core.frames import read_frame, write_frame
from core.errors import NotAcceptableError, WodpError
from sparql.errors import QueryError, QueryRefusedError
from sparql.formats import formats_for, negotiate
from sparql.results import Limits, write_boolean, write_graph, write_solutions
from sparql.scan import scan

STACK_MB = 64


@dataclass(frozen=True)
class QueryRequest:
    snapshot: str
    query: str
    accept: str | None
    format_name: str | None
    max_results: int
    max_bytes: int
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryAnswer:
    media_type: str = ""
    body: bytes = b""
    error_class: str = ""
    error_message: str = ""


def uses_service(query: str) -> bool:
    """Tell whether a query calls a remote endpoint (SERVICE), outside strings, IRIs and comments."""
    return scan(query).uses_service


def looks_like_update(query: str) -> bool:
    """Tell whether a request text is a SPARQL Update rather than a query."""
    return scan(query).is_update


def memory_message(limit_mb: int) -> str:
    return f"the query needed more than {limit_mb} MB of memory and was stopped"


def query_kind(result) -> str:
    if isinstance(result, ox.QuerySolutions):
        return "select"
    if isinstance(result, ox.QueryBoolean):
        return "ask"
    return "graph"


def execute(store: ox.Store, request: QueryRequest) -> QueryAnswer:
    """Run one query and serialize its result in the negotiated format."""
    text = scan(request.query)
    if text.is_update:
        raise QueryRefusedError("SPARQL Update is not allowed: this endpoint answers queries only")
    if text.uses_service:
        raise QueryRefusedError("federated queries (SERVICE) are not allowed: this endpoint reaches no other server")
    # The default graph is the union of the dataset graphs, unless the request names its dataset: the protocol's
    # default-graph-uri, else the query's own FROM / FROM NAMED (which pyoxigraph honours only without the union).
    kwargs: dict = {"use_default_graph_as_union": not request.default_graphs and not text.names_dataset}
    if request.default_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in request.default_graphs]
    if request.named_graphs:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs]
    try:
        result = store.query(request.query, **kwargs)
    except SyntaxError as exc:
        raise QueryError(f"malformed query: {exc}") from exc
    except ValueError as exc:
        raise QueryError(f"invalid query: {exc}") from exc
    kind = query_kind(result)
    fmt = negotiate(formats_for(kind), request.accept, request.format_name, kind)
    if fmt is None:
        offered = ", ".join(f.media_type for f in formats_for(kind))
        raise NotAcceptableError(f"cannot answer a {kind.upper()} query in the requested type; offered: {offered}")
    limits = Limits(request.max_results, request.max_bytes)
    try:
        if kind == "select":
            body = write_solutions(result, fmt, limits)
        elif kind == "ask":
            body = write_boolean(bool(result), fmt)
        else:
            body = write_graph(result, fmt, limits)
    except OSError as exc:
        raise QueryError(f"query failed: {exc}") from exc
    return QueryAnswer(media_type=fmt.media_type, body=body)


def main(argv: list[str] | None = None) -> None:
    """Serve requests from the parent until stdin closes: `python -m sparql.worker NICE MEMORY_MB`."""
    args = sys.argv[1:] if argv is None else argv
    nice = int(args[0]) if args else 0
    memory_mb = int(args[1]) if len(args) > 1 else 0
    if memory_mb:
        # address space, not resident memory: a query that needs more fails to allocate and the process stops
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    if nice:
        os.nice(nice)  # threads started from here on inherit it
    # A deep query recurses in the parser and the evaluator: give them a larger stack than the main thread's
    # (the pool refuses deep nesting before a worker sees it; this is the margin behind that check).
    threading.stack_size(STACK_MB << 20)
    server = threading.Thread(target=serve, args=(memory_mb,), name="queries")
    server.start()
    server.join()


def serve(memory_mb: int) -> None:
    """Answer framed requests on stdin with framed answers on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer channel
    store: ox.Store | None = None
    opened = ""
    write_frame(stdout, b"ready")
    while True:
        payload = read_frame(stdin)
        if payload is None:
            return
        request: QueryRequest = pickle.loads(payload)
        try:
            if request.snapshot != opened:
                store = None
                store = ox.Store.read_only(request.snapshot)
                opened = request.snapshot
            answer = execute(store, request)
        except WodpError as exc:
            answer = QueryAnswer(error_class=type(exc).__name__, error_message=exc.message)
        except MemoryError:
            answer = QueryAnswer(error_class="QueryMemoryError", error_message=memory_message(memory_mb))
        except Exception as exc:  # report, never die silently
            answer = QueryAnswer(error_class="WodpError", error_message=f"query failed: {exc}")
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        write_frame(stdout, data)


if __name__ == "__main__":
    # Run the importable copy of this module, so pickled classes are named sparql.worker.*.
    from sparql.worker import main as _main

    _main()
