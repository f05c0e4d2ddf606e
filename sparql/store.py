"""Keep the catalogue: one named graph per dataset, replaced atomically, with publish events."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import pyoxigraph as ox

from core.storage import guarded, storage_error, storage_kind
from core.timings import step
from sparql import records
from sparql.digests import StoreDigests, graph_digest
from sparql.errors import StoreBusyError, StoreError
from sparql.public import WithheldGraphs, read_whole, split, whole_quads

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
    def records_modified(self, uris: Sequence[str]) -> dict[str, datetime | None]: ...
    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]: ...
    def dataset_uris(self) -> list[str]: ...
    def digests(self) -> dict[str, str]: ...
    def digests_of(self, uris: Iterable[str]) -> dict[str, str]: ...
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
        self._store = self._open()
        self._write_lock = threading.Lock()
        # taken before the write lock is let go, held while listeners run: events reach them in commit order
        self._emit_lock = threading.RLock()
        self._emitting = threading.local()  # set while this thread runs listeners (it must not take the write lock)
        self._listeners: list[Listener] = []
        self._state_file = None if path is None else path.parent / (path.name + ".state.json")
        self._digests = StoreDigests(None if path is None else path.parent / (path.name + ".digests.sqlite"))
        self._withheld = WithheldGraphs(None if path is None else withheld_path(path))
        self.generation, self._modified = self._read_state()
        self._last_stamp: datetime | None = None
        # RocksDB refuses every write after a failed one (its "background error") until the handle is reopened
        self.broken: str | None = None
        self._state_saved = True
        self._orphans: set[str] = set()  # graphs of a failed bulk load, dropped at recovery
        self._handle_ready = threading.Event()
        self._handle_ready.set()

    def __getattr__(self, name: str):
        # only reached while the handle is being reopened (or after close): wait for the new one
        if name == "_store" and "_handle_ready" in self.__dict__ and not self._handle_ready.is_set():
            if self._handle_ready.wait(10) and "_store" in self.__dict__:
                return self.__dict__["_store"]
            raise StoreError("the store is being reopened after a disk failure; try again shortly", status=503)
        raise AttributeError(name)

    def _open(self) -> ox.Store:
        path = self.path
        try:
            if path is None:
                return ox.Store()
            path.mkdir(parents=True, exist_ok=True)
            return ox.Store(str(path))
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise StoreBusyError(
                    f"the store at {path} is held by another process (is `wodp serve` running?)"
                ) from exc
            full = storage_error(exc, "opening the store")
            if full is not None:
                raise full from exc
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc

    # -- failures of the disk --------------------------------------------------------------
    def _failed(self, exc: BaseException, doing: str, outcome: str = "nothing was stored") -> Exception:
        """Note a failed write (on a disk error the handle now refuses writes) and return the error to raise."""
        if storage_kind(exc) is None:  # e.g. a malformed update: the handle is fine
            return StoreError(f"{doing} failed: {exc}")
        self.broken = f"{doing}: {exc}"
        # the text, not the exception: a kept log record would keep the failed handle (and RocksDB's lock) alive
        log.warning("store write failed (%s): %s", doing, str(exc))
        return storage_error(exc, doing, outcome) or StoreError(f"{doing} failed: {exc}")

    def _reopen(self) -> bool:
        """Replace the handle by a fresh one; when that fails, keep a read-only one so reads go on."""
        self._handle_ready.clear()  # readers wait (see __getattr__) while there is no handle
        try:
            self.__dict__.pop("_store", None)  # RocksDB releases its lock when the last reference goes
            error = None
            for _ in range(40):
                try:
                    self._store = ox.Store(str(self.path))
                    return True
                except OSError as exc:
                    error = exc
                    if "lock" not in str(exc).lower():
                        break
                    # the old handle lives on while something refers to it: often a traceback of the failed
                    # write (a reference cycle, freed only by the collector), or a reader for a moment
                    gc.collect()
                    time.sleep(0.05)
            log.warning("cannot reopen the store yet: %s", error)
            try:
                self._store = ox.Store.read_only(str(self.path))
            except OSError as exc:
                log.error("cannot reopen the store even read-only: %s", str(exc))
            return False
        finally:
            self._handle_ready.set()

    def recover(self) -> bool:
        """Reopen the store's handle after a failed write, and save the state file; True when whole again."""
        with self._write_lock:
            if self.broken is not None and self.path is not None:
                if not self._reopen():
                    return False
                log.info("store reopened after a failed write (%s)", self.broken)
                self.broken = None
            if self._orphans:
                self._store.update(" ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(u)}" for u in self._orphans))
                self._orphans.clear()
            elif self.broken is not None:
                self.broken = None
            if not self._state_saved:
                self._save_state()
            return self._state_saved

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
        """Count one change; its state file is saved now or, when the disk is full, at recovery."""
        self.generation += 1
        self._modified = time.time()
        self._save_state()
        try:  # the digest table describes this generation (its write's digests were settled before)
            self._digests.mark(self.generation)
        except Exception as exc:  # only a saving lost: the next start lists the store to check the table
            log.warning("the digest table's generation was not noted: %s", str(exc)[:300])
        return self.generation

    def _save_state(self) -> None:
        if not self._state_file:
            return
        tmp = self._state_file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"generation": self.generation, "modified": self._modified}))
            tmp.replace(self._state_file)
            self._state_saved = True
        except OSError as exc:  # the change is in the store: only the counter's copy on disk is late
            self._state_saved = False
            tmp.unlink(missing_ok=True)
            log.warning("cannot save the store state (generation %d): %s", self.generation, str(exc))

    def _next_stamp(self) -> datetime:
        """Return the time of a publish, strictly later than the previous one (records are at 1 ms)."""
        moment = datetime.now(timezone.utc)
        last = self._last_stamp
        if last is not None and moment <= last + timedelta(milliseconds=1):
            moment = last + timedelta(milliseconds=1)
        self._last_stamp = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        return self._last_stamp

    def stamp_after(self, moment: datetime) -> None:
        """Make every later publish stamp strictly later than ``moment`` (a stamp kept outside the store)."""
        if self._last_stamp is None or moment > self._last_stamp:
            self._last_stamp = moment

    def last_modified(self) -> datetime:
        """Return the time of the last publish (whole seconds, UTC)."""
        return datetime.fromtimestamp(int(self._modified), tz=timezone.utc)

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, listener: Listener, in_turn: bool = False) -> None:
        """Call listener after every change of the published datasets.

        in_turn: inside the store's turn of the publication (a store shared by several processes,
        sparql/shared.py), before the others — for what must follow the generations in order before the next
        write (the change log); the others follow in the indexes' turn, beside the next publication's write.
        """
        self._listeners.append((listener, in_turn))

    def _emit(self, event: PublishEvent) -> None:
        """Tell the listeners, those of the store's turn first; called with the emit lock taken under the write
        lock (commit order)."""
        self._emitting.active = True
        try:
            self._tell(event, True)
            shared = getattr(self, "_shared", None)
            if shared is not None:  # a shared store: the indexes' turn is taken, the store's let go
                shared.hand_over()
            self._tell(event, False)
        finally:
            self._emitting.active = False
            self._emit_lock.release()

    def _tell(self, event: PublishEvent, in_turn: bool) -> None:
        for listener, turn in self._listeners:
            if turn != in_turn:
                continue
            try:
                listener(event)
            except Exception:  # a derived index must not undo a publish
                # name the listener, never its repr: a bound method's repr holds its object's (a whole catalogue)
                name = getattr(listener, "__qualname__", type(listener).__name__)
                log.exception("publish listener %s failed on generation %d", name, event.generation)

    # -- writes ----------------------------------------------------------------------------
    def put_datasets(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> PublishEvent:
        """Replace the dataset graphs with the given triples, all in one transaction."""
        with self._write_lock:
            self._check_writable("storing datasets")
            stamp = records.now_literal(self._next_stamp())
            fresh = [uri for uri in graphs if not self._store.contains_named_graph(ox.NamedNode(uri))]
            new = set(fresh)
            stored = {uri: records.with_record(uri, triples, stamp, None if uri in new else self._issued(uri))
                      for uri, triples in graphs.items()}
            with step("store: digests"):
                digests = {uri: graph_digest(triples) for uri, triples in stored.items()}
                # written ahead: a kill before settle is found at start-up
                guarded(f"noting the digests of {len(graphs)} datasets", lambda: self._digests.intend(digests))
            with step("store: public views"):
                guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(graphs))
                public, wholes = split(stored, canonical=True)  # sparql/public.py
            try:
                if len(fresh) == len(graphs) and len(graphs) > 50:
                    self._bulk_insert(public)
                elif len(fresh) == len(graphs):
                    self._insert_new(public)
                else:  # new and replaced graphs in one transaction: readers see all old or all new
                    self._replace_many(public)
            except (OSError, StoreError) as exc:
                raise self._failed(exc, f"storing {len(graphs)} datasets") from exc
            with step("store: digests"):
                self._settle(digests, wholes)
            event = PublishEvent(self._bump(), put=tuple(graphs), created=tuple(fresh), graphs=stored,
                                 digests=digests)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def _settle(self, digests, wholes: Mapping[str, bytes] | None = None) -> None:
        """Confirm the digests of a committed write and keep the whole graphs of those stored as public views;
        when that fails (a full disk) they stay pending, and the next start-up reads them from the store
        (sparql/digests.py)."""
        try:
            self._withheld.put_in(wholes or {})
        except Exception as exc:  # their digests stay pending too: the next harvest stores them again
            log.warning("the whole graphs of %d restricted datasets were not kept: they are read as their public "
                        "views until stored again (the digests of the write's %d datasets stay pending): %s",
                        len(wholes or {}), len(digests), str(exc)[:300])
            return
        try:
            self._digests.settle(digests)
        except Exception as exc:
            log.warning("the digests of a committed write of %d datasets stay pending: %s", len(digests),
                        str(exc)[:300])

    def _check_writable(self, doing: str) -> None:
        if self.broken is not None:
            raise storage_error(OSError(self.broken), doing) or StoreError(
                f"{doing} was refused: the store failed a write and is not reopened yet ({self.broken})")

    def restore(self, previous: Mapping[str, Sequence[ox.Triple]], reason: str = "undone") -> PublishEvent:
        """Put graphs back exactly as they were (an empty one: the graph did not exist), in one transaction.

        Undoes a put whose publication could not be completed (e.g. its ledger row could not be written).
        """
        with self._write_lock:
            self._check_writable("undoing a publication")
            gone = [uri for uri, triples in previous.items() if not triples]
            parts = [f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in gone]
            public, wholes = split({uri: triples for uri, triples in previous.items() if triples}, canonical=True)
            for uri, triples in public.items():
                if triples:
                    body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8")
                    graph = ox.NamedNode(uri)
                    parts.append(f"DROP SILENT GRAPH {graph} ; INSERT DATA {{ GRAPH {graph} {{ {body} }} }}")
            digests = {uri: graph_digest(triples) if triples else None for uri, triples in previous.items()}
            guarded("noting the digests of an undone publication", lambda: self._digests.intend(digests))
            guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(previous))
            try:
                self._store.update(" ;\n".join(parts))
            except (OSError, SyntaxError, ValueError) as exc:
                raise self._failed(exc, "undoing a publication", "the publication may be half-stored") from exc
            self._settle(digests, wholes)
            put = tuple(uri for uri in previous if previous[uri])
            event = PublishEvent(self._bump(), put=put, removed=tuple(gone), reason=reason,
                                 graphs={uri: list(previous[uri]) for uri in put},
                                 digests={uri: digests[uri] for uri in put})
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
            # the bulk loader is not one transaction: take out what it may have written
            try:
                self._store.update(" ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in graphs))
            except OSError:  # the handle refuses writes now: taken out once it is reopened (recover)
                self._orphans.update(graphs)
                log.warning("a failed bulk load of %d graphs is taken out at recovery", len(graphs))
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
            quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(uri))
                     for uri, triples in graphs.items() for t in triples]
            self._store.extend(quads)

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
            self._check_writable("removing datasets")
            gone = [uri for uri in dict.fromkeys(uris) if self._store.contains_named_graph(ox.NamedNode(uri))]
            if gone:
                guarded(f"noting the removal of {len(gone)} datasets",
                        lambda: self._digests.intend(dict.fromkeys(gone)))
                guarded(f"noting the removal of {len(gone)} datasets", lambda: self._withheld.take_out(gone))
                try:  # one transaction
                    self._store.update(" ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(uri)}" for uri in gone))
                except OSError as exc:
                    raise self._failed(exc, f"removing {len(gone)} datasets") from exc
                self._settle(gone)
            event = PublishEvent(self._bump(), removed=tuple(gone), reason=reason)
            self._emit_lock.acquire()
        self._emit(event)
        return event

    def put_graph(self, uri: str, triples: Iterable[ox.Triple]) -> None:
        """Replace a non-dataset graph (vocabulary, catalogue description)."""
        with self._write_lock:
            self._check_writable("storing a graph")
            try:
                self._replace(uri, list(triples))
            except StoreError as exc:
                raise self._failed(exc, f"storing graph {uri}") from exc
            self._bump()

    def clear(self) -> PublishEvent:
        """Remove everything."""
        with self._write_lock:
            self._store.clear()
            self._digests.clear()
            self._withheld.clear()
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
        """The dataset graph as published: its whole graph where the store holds its public view."""
        whole = self._whole(uri)
        return read_whole(whole) if whole is not None else self.stored_triples(uri)

    def stored_triples(self, uri: str) -> list[ox.Triple]:
        """The graph as the store holds it (for a restricted dataset: its public view)."""
        graph = ox.NamedNode(uri)
        return [q.triple for q in self._store.quads_for_pattern(None, None, None, graph)]

    def store_public_views(self, graphs: Mapping[str, Sequence[ox.Triple]]) -> None:
        """Replace graphs the store holds whole by their public views, keeping them whole beside the store
        (sparql/public.py ``withhold_stored``). What is published does not change: no event, the same digests;
        the generation moves (the query snapshots must not show the old graphs)."""
        public, wholes = split(graphs)
        with self._write_lock:
            self._check_writable("storing public views")
            guarded("noting a write of restricted datasets", lambda: self._withheld.take_out(graphs))
            try:
                self._replace_many(public)
            except (OSError, StoreError) as exc:
                raise self._failed(exc, f"storing the public views of {len(graphs)} datasets") from exc
            guarded("keeping withheld graphs", lambda: self._withheld.put_in(wholes))
            self._bump()

    def _whole(self, uri: str) -> bytes | None:
        withheld = self.__dict__.get("_withheld")
        return None if withheld is None else withheld.whole(uri)

    def record_modified(self, uri: str) -> datetime | None:
        """Return when the dataset last changed in this catalogue, or None if it is not here."""
        quads = self._store.quads_for_pattern(records.record_uri(uri), records.MODIFIED, None, ox.NamedNode(uri))
        return records.parse_datetime(next((q.object for q in quads), None))

    def records_modified(self, uris: Sequence[str]) -> dict[str, datetime | None]:
        """``record_modified`` of each dataset (a quad lookup each, in this process)."""
        return {uri: self.record_modified(uri) for uri in uris}

    def has_dataset(self, uri: str) -> bool:
        node = ox.NamedNode(uri)
        return any(True for _ in self._store.quads_for_pattern(node, RDF_TYPE, DCAT_DATASET, node))

    def dataset_uris(self) -> list[str]:
        """Return the URIs of all datasets, sorted (here: Oxigraph's ORDER BY took ~17x the query at 20k)."""
        rows = self._store.query("SELECT ?d WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } }")
        return sorted({row[0].value for row in rows})

    def digests(self) -> dict[str, str]:
        """Return the digest of every dataset graph as published (sparql/digests.py).

        The first call checks the digest table against the store (a write cut short by a killed process,
        a store made before digests were kept) and corrects it from the stored graphs.
        """
        self._verify_digests()
        return self._digests.all()

    def digests_of(self, uris: Iterable[str]) -> dict[str, str]:
        """Return the digests of these dataset graphs as published (those not stored are left out)."""
        self._verify_digests()
        return self._digests.some(uris)

    def _verify_digests(self) -> None:
        if not self._digests.verified and not getattr(self._emitting, "active", False):  # lock order: write, emit
            with self._write_lock:
                if self._digests.describes(self.generation, self.count_datasets):
                    # nothing pending, marked at this generation, as many datasets as the store: no listing of
                    # the store (100,000 URIs from a remote engine took 5.8 s of every start-up)
                    self._digests.verified = True
                    return
                present = self.dataset_uris()
                fixed = self._digests.verify(present, self.dataset_triples)
                self._digests.mark(self.generation)
                stray = guarded("checking the withheld graphs", lambda: self._withheld.keep_only(present))
            if stray:
                log.info("withheld graphs: %d of datasets no longer stored dropped", stray)
            if fixed:
                log.info("store digests: %d corrected from the stored graphs", fixed)

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
        """The quads of one graph or of all, as published (whole graphs, not public views: sparql/public.py)."""
        if graph is not None:
            node = ox.NamedNode(graph)
            return iter([ox.Quad(t.subject, t.predicate, t.object, node) for t in self.dataset_triples(graph)])
        withheld = self.__dict__.get("_withheld")
        wholes = {} if withheld is None else withheld.wholes()
        return whole_quads(self._store.quads_for_pattern(None, None, None, None), wholes)

    def snapshot(self, directory: Path) -> None:
        """Write a consistent read-only copy (hard links) for query workers."""
        if self.path is None:
            raise StoreError("an in-memory store has no snapshots")
        with self._write_lock:
            try:
                if self.broken is None:
                    self._store.flush()
                self._store.backup(str(directory))
            except OSError as exc:
                import shutil

                shutil.rmtree(directory, ignore_errors=True)
                err = storage_error(exc, "making a snapshot of the store for queries", "the query was not answered")
                if err is None:
                    raise StoreError(f"cannot make a snapshot of the store: {exc}") from exc
                raise err from exc

    def close(self) -> None:
        """Flush and release the store (twice is harmless)."""
        store = self.__dict__.pop("_store", None)
        if store is not None and self.broken is None:
            try:
                store.flush()
            except (OSError, RuntimeError) as exc:  # a full disk: what was acknowledged is in RocksDB's log
                log.warning("cannot flush the store at close: %s", str(exc))
        self._digests.close()
        self._withheld.close()


def open_store(where) -> "CatalogStore":
    """Open the configured store backend: ``where`` is the embedded store's path, or the settings.

    With settings whose ``store.url`` is set, the remote SPARQL 1.1 store (sparql/remote.py); otherwise the
    embedded store at ``store.path``.
    """
    if where is None or isinstance(where, (str, Path)):
        return OxigraphStore(None if where is None else Path(where))
    settings = where
    path = settings.path(settings.store.path)
    if settings.store.url:
        from sparql.remote import RemoteStore

        return RemoteStore(settings.store.url, path, update_url=settings.store.update_url,
                           gsp_url=settings.store.gsp_url, timeout_s=settings.store.timeout_s,
                           engine=settings.store.engine, database_url=settings.database.url)
    return OxigraphStore(path)


def withheld_path(store_path: Path) -> Path:
    """The file beside a store (or a remote store's home) keeping the whole graphs of its public views."""
    return store_path.parent / (store_path.name + ".withheld.sqlite")


def read_generation(store_path: Path) -> tuple[int, float] | None:
    """Read the generation and time of the last change the writer of the store at ``store_path`` recorded."""
    state = store_path.parent / (store_path.name + ".state.json")
    try:
        data = json.loads(state.read_text("utf-8"))
        return int(data["generation"]), float(data["modified"])
    except (OSError, ValueError, KeyError):
        return None


class SnapshotStore(OxigraphStore):
    """A read-only store over a snapshot (``OxigraphStore.snapshot``) that moves to newer snapshots.

    The web processes read through it: the writer makes a snapshot per generation and ``refresh`` opens it
    (``pyoxigraph.Store.read_only``; never the live store, which another process writes). Reads are those of
    OxigraphStore; every write raises StoreError. Requests in flight keep the snapshot they started on.
    """

    def __init__(self, store_path: Path | None = None) -> None:  # noqa: super().__init__ opens a read-write store
        self.path = None
        # the writer's side file: the whole graphs of datasets stored as their public views (sparql/public.py)
        if store_path is not None:
            self._withheld = WithheldGraphs(withheld_path(store_path))
        self._store = ox.Store()  # empty until the first refresh
        self._write_lock = threading.Lock()
        self._listeners = []
        self._state_file = None
        self.generation, self._modified = -1, time.time()
        self._last_stamp = None
        self.snapshot_path: str | None = None

    def refresh(self, path: str, generation: int, modified: float) -> None:
        """Read from the snapshot at ``path`` (of ``generation``) from now on."""
        try:
            store = ox.Store.read_only(path)
        except OSError as exc:
            raise StoreError(f"cannot open the snapshot {path}: {exc}") from exc
        self._store, self.snapshot_path = store, path
        self.generation, self._modified = generation, modified

    def _refuse(self, *args, **kwargs):
        raise StoreError("this process reads a snapshot of the store; writes go to the writer process")

    put_datasets = remove_datasets = put_graph = clear = snapshot = _refuse

    def close(self) -> None:
        self._store = ox.Store()
