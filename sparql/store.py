"""Keep the catalogue: one named graph per dataset, replaced atomically, with publish events."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import pyoxigraph as ox

from sparql import records
from sparql.digests import StoreDigests, graph_digest
from sparql.errors import StoreBusyError, StoreError

log = logging.getLogger(__name__)

VOCABULARY_GRAPH = ox.NamedNode("https://data.wuhan.gov.cn/def/graph/vocabulary")
DCAT_DATASET = ox.NamedNode("http://www.w3.org/ns/dcat#Dataset")
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


@dataclass(frozen=True)
class PublishEvent:
    """What changed in the store: datasets put or removed, or everything (reset)."""

    generation: int
    put: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    created: tuple[str, ...] = ()  # those of put that were not in the store before
    reason: str = ""  # why datasets were removed, e.g. "withdrawn"
    reset: bool = False
    at: float = field(default_factory=time.time)
    # the graphs of `put` exactly as stored (with their catalogue records), so that derived indexes
    # following the event need not read them back from the store
    graphs: Mapping[str, Sequence[ox.Triple]] = field(default_factory=dict, repr=False, compare=False)
    # the digest of each graph of `put` as stored (sparql/digests.py): what a derived index remembers it followed
    digests: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def triples(self, store: "CatalogStore", uri: str) -> list[ox.Triple]:
        """The stored triples of a dataset this event put (read from the store when not carried)."""
        carried = self.graphs.get(uri)
        return list(carried) if carried is not None else store.dataset_triples(uri)


Listener = Callable[[PublishEvent], None]


class CatalogStore(Protocol):
    """What every store backend offers (embedded Oxigraph now, a remote SPARQL 1.1 store later)."""

    generation: int

    def put_datasets(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> PublishEvent: ...
    def remove_datasets(self, uris: Iterable[str], reason: str = "") -> PublishEvent: ...
    def put_graph(self, uri: str, triples: Iterable[ox.Triple]) -> None: ...
    def dataset_triples(self, uri: str) -> list[ox.Triple]: ...
    def has_dataset(self, uri: str) -> bool: ...
    def record_modified(self, uri: str) -> datetime | None: ...
    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]: ...
    def dataset_uris(self) -> list[str]: ...
    def digests(self) -> dict[str, str]: ...
    def count_datasets(self) -> int: ...
    def query(self, sparql: str, **kwargs) -> object: ...
    def last_modified(self) -> datetime: ...
    def subscribe(self, listener: Listener) -> None: ...
    def snapshot(self, directory: Path) -> None: ...
    def close(self) -> None: ...


class OxigraphStore:
    """The embedded store: pyoxigraph on disk, one read-write handle per process."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        try:
            if path is None:
                self._store = ox.Store()
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._store = ox.Store(str(path))
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise StoreBusyError(
                    f"the store at {path} is held by another process (is `wodp serve` running?)"
                ) from exc
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        self._write_lock = threading.Lock()
        # taken before the write lock is let go, held while listeners run: events reach them in commit order
        self._emit_lock = threading.RLock()
        self._emitting = threading.local()  # set while this thread runs listeners (it must not take the write lock)
        self._listeners: list[Listener] = []
        self._state_file = None if path is None else path.parent / (path.name + ".state.json")
        self._digests = StoreDigests(None if path is None else path.parent / (path.name + ".digests.sqlite"))
        self.generation, self._modified = self._read_state()
        self._last_stamp: datetime | None = None

    # -- state -----------------------------------------------------------------------------
    def _read_state(self) -> tuple[int, float]:
        if self._state_file and self._state_file.exists():
            try:
                data = json.loads(self._state_file.read_text("utf-8"))
                return int(data["generation"]), float(data["modified"])
            except (ValueError, KeyError, OSError):
                log.warning("ignoring unreadable store state %s", self._state_file)
        return 0, time.time()

    def _bump(self) -> int:
        self.generation += 1
        self._modified = time.time()
        if self._state_file:
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"generation": self.generation, "modified": self._modified}))
            tmp.replace(self._state_file)
        return self.generation

    def _next_stamp(self) -> datetime:
        """Return the time of a publish, strictly later than the previous one (records are at 1 ms)."""
        moment = datetime.now(timezone.utc)
        last = self._last_stamp
        if last is not None and moment <= last + timedelta(milliseconds=1):
            moment = last + timedelta(milliseconds=1)
        self._last_stamp = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        return self._last_stamp

    def last_modified(self) -> datetime:
        """Return the time of the last publish (whole seconds, UTC)."""
        return datetime.fromtimestamp(int(self._modified), tz=timezone.utc)

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call listener after every change of the published datasets."""
        self._listeners.append(listener)

    def _emit(self, event: PublishEvent) -> None:
        """Tell the listeners; called with the emit lock taken under the write lock (commit order)."""
        self._emitting.active = True
        try:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # a derived index must not undo a publish
                    log.exception("publish listener %r failed on generation %d", listener, event.generation)
        finally:
            self._emitting.active = False
            self._emit_lock.release()

    # -- writes ----------------------------------------------------------------------------
    def put_datasets(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> PublishEvent:
        """Replace the dataset graphs with the given triples, all in one transaction."""
        with self._write_lock:
            stamp = records.now_literal(self._next_stamp())
            fresh = [uri for uri in graphs if not self._store.contains_named_graph(ox.NamedNode(uri))]
            new = set(fresh)
            stored = {uri: records.with_record(uri, triples, stamp, None if uri in new else self._issued(uri))
                      for uri, triples in graphs.items()}
            digests = {uri: graph_digest(triples) for uri, triples in stored.items()}
            self._digests.intend(digests)  # written ahead: a kill before settle is found at start-up
            if len(fresh) == len(graphs) and len(graphs) > 50:
                self._bulk_insert(stored)
            else:
                self._insert_new({u: t for u, t in stored.items() if u in new})
                self._replace_many({u: t for u, t in stored.items() if u not in new})
            self._digests.settle(digests)
            event = PublishEvent(self._bump(), put=tuple(graphs), created=tuple(fresh), graphs=stored,
                                 digests=digests)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def _bulk_insert(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> None:
        quads = (
            ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(uri))
            for uri, triples in graphs.items()
            for t in triples
        )
        try:
            self._store.bulk_extend(quads)
            self._store.flush()
        except (OSError, ValueError) as exc:
            raise StoreError(f"bulk load failed: {exc}") from exc

    def _replace(self, uri: str, triples: Sequence[ox.Triple]) -> None:
        graph = ox.NamedNode(uri)
        body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8")
        update = f"DROP SILENT GRAPH {graph} ; INSERT DATA {{ GRAPH {graph} {{ {body} }} }}"
        try:
            self._store.update(update)  # one transaction: readers see the old or the new graph
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(f"cannot store {uri}: {exc}") from exc

    def _issued(self, uri: str) -> ox.Literal | None:
        quads = self._store.quads_for_pattern(records.record_uri(uri), records.ISSUED, None, ox.NamedNode(uri))
        return next((q.object for q in quads), None)

    def _insert_new(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> None:
        """Add graphs the store does not hold yet, in one transaction."""
        if graphs:
            self._store.extend(ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(uri))
                               for uri, triples in graphs.items() for t in triples)

    def _replace_many(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> None:
        """Replace several dataset graphs in one transaction: readers see all old or all new."""
        if not graphs:
            return
        parts = []
        for uri, triples in graphs.items():
            graph = ox.NamedNode(uri)
            body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8")
            parts.append(f"DROP SILENT GRAPH {graph} ; INSERT DATA {{ GRAPH {graph} {{ {body} }} }}")
        try:
            self._store.update(" ;\n".join(parts))
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(f"cannot store {len(graphs)} datasets: {exc}") from exc

    def remove_datasets(self, uris: Iterable[str], reason: str = "") -> PublishEvent:
        """Remove dataset graphs; unknown URIs are ignored."""
        uris = tuple(uris)
        with self._write_lock:
            present = [uri for uri in dict.fromkeys(uris) if self._store.contains_named_graph(ox.NamedNode(uri))]
            self._digests.intend(dict.fromkeys(present))
            gone = []
            for uri in present:
                self._store.update(f"DROP SILENT GRAPH {ox.NamedNode(uri)}")
                gone.append(uri)
            self._digests.settle(gone)
            event = PublishEvent(self._bump(), removed=tuple(gone), reason=reason)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def put_graph(self, uri: str, triples: Iterable[ox.Triple]) -> None:
        """Replace a non-dataset graph (vocabulary, catalogue description)."""
        with self._write_lock:
            self._replace(uri, list(triples))
            self._bump()

    def clear(self) -> PublishEvent:
        """Remove everything."""
        with self._write_lock:
            self._store.clear()
            self._digests.clear()
            event = PublishEvent(self._bump(), reset=True)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def announce_reset(self) -> None:
        """Tell listeners to rebuild from the store (after start-up or a bulk change)."""
        with self._write_lock:
            self._emit_lock.acquire()
        self._emit(PublishEvent(self.generation, reset=True))

    # -- reads -----------------------------------------------------------------------------
    def dataset_triples(self, uri: str) -> list[ox.Triple]:
        graph = ox.NamedNode(uri)
        return [q.triple for q in self._store.quads_for_pattern(None, None, None, graph)]

    def record_modified(self, uri: str) -> datetime | None:
        """Return when the dataset last changed in this catalogue, or None if it is not here."""
        quads = self._store.quads_for_pattern(records.record_uri(uri), records.MODIFIED, None, ox.NamedNode(uri))
        return records.parse_datetime(next((q.object for q in quads), None))

    def has_dataset(self, uri: str) -> bool:
        node = ox.NamedNode(uri)
        return any(True for _ in self._store.quads_for_pattern(node, RDF_TYPE, DCAT_DATASET, node))

    def dataset_uris(self) -> list[str]:
        """Return the URIs of all datasets, sorted."""
        rows = self._store.query(
            "SELECT ?d WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } } ORDER BY ?d"
        )
        return [row[0].value for row in rows]

    def digests(self) -> dict[str, str]:
        """Return the digest of every dataset graph as published (sparql/digests.py).

        The first call checks the digest table against the store (a write cut short by a killed process,
        a store made before digests were kept) and corrects it from the stored graphs.
        """
        if not self._digests.verified and not getattr(self._emitting, "active", False):  # lock order: write, emit
            with self._write_lock:
                fixed = self._digests.verify(self.dataset_uris(), self.dataset_triples)
            if fixed:
                log.info("store digests: %d corrected from the stored graphs", fixed)
        return self._digests.all()

    def count_datasets(self) -> int:
        rows = self._store.query(
            "SELECT (COUNT(?d) AS ?n) WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }"
        )
        return int(next(iter(rows))[0].value)

    def query(self, sparql: str, **kwargs):
        """Run a trusted query of our own in this process (user queries go to the worker pool)."""
        kwargs.setdefault("use_default_graph_as_union", True)
        return self._store.query(sparql, **kwargs)

    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        g = None if graph is None else ox.NamedNode(graph)
        return self._store.quads_for_pattern(None, None, None, g)

    def snapshot(self, directory: Path) -> None:
        """Write a consistent read-only copy (hard links) for query workers."""
        if self.path is None:
            raise StoreError("an in-memory store has no snapshots")
        with self._write_lock:
            self._store.flush()
            self._store.backup(str(directory))

    def close(self) -> None:
        """Flush and release the store (twice is harmless)."""
        store = self.__dict__.pop("_store", None)
        if store is not None:
            store.flush()
            self._digests.close()


def open_store(path: Path | None) -> OxigraphStore:
    """Open the configured store backend."""
    return OxigraphStore(path)
