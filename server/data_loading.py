"""Load every published dataset's tabular files into the data API's store (tabular.datastore), as CKAN's
XLoader does: a derived index that follows the store's publish events.

``DataLoader`` follows each publication: a dataset put is queued, a dataset removed has its tables dropped.
A background thread of the writer process (low priority) loads the queue: it reads the dataset's
distributions from the store, fetches each CSV/XLSX/JSON/GeoJSON file with the platform's bounded fetch
(``Platform.fetch_data``: the demo's files, files reported through the workbench, ``file:`` inside
spatial.data_dir, and remote http(s) files under harvest.timeout_s and spatial.max_bytes), reads it with
``tabular.read`` (in the sandbox, unless it is the demo's own file) and writes its Parquet file and the
dataset's manifest. A file that cannot be fetched or read is listed in the manifest with the reason
(``not_loaded``), and counted in the loader's report; nothing is skipped without a word.

A dataset published again is loaded again (a changed file gets a new Parquet file; an unchanged one keeps its
own, named by its bytes' digest). The manifest keeps the digest of the dataset version it follows, so the
start-up check (sparql/followers.py) queues what a stopped process had not loaded. A request for a dataset
still in the queue loads it at once (``ensure``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence
from urllib.parse import unquote, urlsplit

import pyoxigraph as ox

from core.errors import WodpError
from core.stamps import stamp, utc_now
from ontology.namespaces import DCAT, DCT
from publish.hooks import GateHook
from sparql.followers import Follower
from tabular.datastore import DataStore, LoadedFile, Manifest, NotLoaded, StoredTable, load_file, parquet_name

log = logging.getLogger(__name__)
TABULAR_KEYS = {"CSV": "csv", "XLSX": "xlsx", "XLS": "xls", "JSON": "json", "GEOJSON": "geojson",
                "TEXT/CSV": "csv", "APPLICATION/JSON": "json", "APPLICATION/GEO+JSON": "geojson",
                "APPLICATION/VND.OPENXMLFORMATS-OFFICEDOCUMENT.SPREADSHEETML.SHEET": "xlsx",
                "APPLICATION/VND.MS-EXCEL": "xls"}
ORDER = ("csv", "xlsx", "json", "geojson", "xls")
SUFFIXES = {".csv": "csv", ".xlsx": "xlsx", ".xls": "xls", ".json": "json", ".geojson": "geojson"}


@dataclass(frozen=True)
class Source:
    """A tabular distribution of a dataset: its file name (the table's name), title, URL, media type."""

    name: str
    title: str
    url: str
    media: str | None
    distribution: str
    content: Callable[[], bytes] | None = field(default=None, compare=False)  # bytes made here, not fetched


LOGGED_ONE_BY_ONE = 20  # files not loaded logged each in its line; beyond, counted in one line per queue
HANDED_BYTES = 64 * 2**20  # the most bytes of files the gate read kept for the loader (the oldest go first)
HANDED_S = 1800.0  # ... and for how long: a load later than that fetches the file itself


@dataclass
class LoadReport:
    """What the loader did since start-up: datasets and tables loaded, files not loaded (with reasons)."""

    datasets: int = 0
    tables: int = 0
    not_loaded: int = 0
    reasons: list[str] = field(default_factory=list)  # the latest ones, "dataset name: reason"

    def as_json(self) -> dict:
        return {"datasets": self.datasets, "tables": self.tables, "not_loaded": self.not_loaded,
                "latest_not_loaded": self.reasons[-20:]}


def _key(value: str) -> str:
    if "/file-type/" in value:
        return value.rstrip("/").rsplit("/", 1)[-1].upper()
    return value.split("/media-types/", 1)[-1].upper()


def sources_of(uri: str, triples: Sequence[ox.Triple], base: str) -> list[Source]:
    """The dataset's distributions whose download is a tabular file (by format, media type or file suffix)."""
    subject = ox.NamedNode(uri)
    nodes = [t.object for t in triples if t.subject == subject and t.predicate == DCAT.distribution]
    found = []
    for node in nodes:
        values: dict[ox.NamedNode, list[ox.Term]] = {}
        for t in triples:
            if t.subject == node and t.predicate in (DCT.format, DCAT.mediaType, DCAT.downloadURL, DCT.title):
                values.setdefault(t.predicate, []).append(t.object)
        urls = [o.value for o in values.get(DCAT.downloadURL, ())]
        if not urls:
            continue
        url = urls[0]
        if "/layers/" in url or url.startswith((f"{base}/ogc/", f"{base}/api/data/")):
            continue  # files this platform makes from the dataset itself
        path = unquote(urlsplit(url).path)
        declared = [_key(o.value) for p in (DCT.format, DCAT.mediaType) for o in values.get(p, ())]
        kind = next((TABULAR_KEYS[k] for k in declared if k in TABULAR_KEYS), None) or \
            next((v for s, v in SUFFIXES.items() if path.lower().endswith(s)), None)
        if kind is None:
            continue
        name = path.rstrip("/").rsplit("/", 1)[-1] or f"table.{kind}"
        titles = values.get(DCT.title, ())  # a distribution without a title is named by its file
        title = next((o.value for o in titles if (getattr(o, "language", "") or "").startswith("zh")),
                     titles[0].value if titles else name)
        media = next((o.value.split("/media-types/", 1)[-1] for o in values.get(DCAT.mediaType, ())), None)
        distribution = node.value if isinstance(node, ox.NamedNode) else url
        found.append((ORDER.index(kind), name, url, title, media, distribution))
    out, names = [], set()  # in a stable order (RDF has none): CSV first, then XLSX, JSON, GeoJSON, XLS; by name
    for _, name, url, title, media, distribution in sorted(found):
        base_name, count = name, 1
        while name in names:
            count += 1
            name = f"{base_name}_{count}"
        names.add(name)
        out.append(Source(name, title, url, media, distribution))
    return out


class HandedFiles:
    """The data files the gate has just read, kept for the load that follows their dataset's publication, so that
    a department's server is asked for a published file once, not twice (the layers' read, then the loader's).

    Bounded: at most HANDED_BYTES in all (the oldest dropped first) and HANDED_S old; a load that finds nothing
    kept fetches the file itself, so what is dropped costs a fetch, never a file.
    """

    def __init__(self, max_bytes: int = HANDED_BYTES, max_age_s: float = HANDED_S) -> None:
        self.max_bytes, self.max_age_s = max_bytes, max_age_s
        self._files: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()  # (dataset, url) -> ...
        self._urls: dict[str, set[str]] = {}  # dataset -> its urls kept
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, uri: str, url: str, raw: bytes) -> None:
        if len(raw) > self.max_bytes:
            return
        with self._lock:
            self._pop(uri, url)
            self._files[(uri, url)] = (time.monotonic(), raw)
            self._urls.setdefault(uri, set()).add(url)
            self._bytes += len(raw)
            while self._bytes > self.max_bytes:
                self._pop(*next(iter(self._files)))

    def take(self, uri: str, url: str) -> bytes | None:
        """Return (and forget) the bytes kept of this dataset's file; None when none are, or they are too old."""
        with self._lock:
            kept = self._pop(uri, url)
        return kept[1] if kept is not None and time.monotonic() - kept[0] < self.max_age_s else None

    def drop(self, uri: str) -> None:
        """Forget every file kept for a dataset (removed)."""
        with self._lock:
            for url in list(self._urls.get(uri, ())):
                self._pop(uri, url)

    def _pop(self, uri: str, url: str) -> tuple[float, bytes] | None:
        kept = self._files.pop((uri, url), None)
        if kept is not None:
            self._bytes -= len(kept[1])
            urls = self._urls[uri]
            urls.discard(url)
            if not urls:
                del self._urls[uri]
        return kept

    @property
    def size(self) -> tuple[int, int]:
        """(files, bytes) kept."""
        with self._lock:
            return len(self._files), self._bytes


class DataLoader(Follower, GateHook):
    """The data API's loader: follows publications, loads queued datasets in a background thread; at a harvest
    that finds a dataset's metadata unchanged (the gate's ``recheck``), reads its files again."""

    def __init__(self, datastore: DataStore, settings, fetch: Callable[[str], bytes], *,
                 isolate: Callable[..., Any] | None = None, coordinates: Callable[[list[str]], tuple] | None = None,
                 background: bool = True, own_sources: Callable[[str], list[Source]] | None = None) -> None:
        self.datastore = datastore
        self.settings = settings.data_api
        self.limits = settings.input_limits
        self.base = settings.base_uri
        self.fetch = fetch
        self.isolate = isolate
        self.coordinates = coordinates or (lambda names: (None, None))
        self.own_sources = own_sources  # tables the platform makes itself (the demo's API-only datasets)
        self.report = LoadReport()
        self.store = None
        self._queue: OrderedDict[str, tuple[str, bool]] = OrderedDict()  # uri -> (digest, read the files again)
        self._cond = threading.Condition()
        self._locks: dict[str, threading.Lock] = {}
        self._stop = False
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._background = background
        self._logged = self._unlogged = 0  # files not loaded: logged one by one, then counted (_summarize)
        self._handed = HandedFiles()  # the files the gate has just read (file_read), for the load that follows
        self.fetched = 0  # files fetched by the loader itself (the bytes of the others were handed over)

    keeps_digests = True  # the manifests hold the digest of the version each dataset was loaded from
    works_in_background = True  # loads not done when the process stopped are queued again at start-up

    # -- the follower --------------------------------------------------------------------------------------
    def follow(self, store, event) -> None:
        self.store = store
        for uri in event.removed:
            self._forget(uri)
        if event.reset:
            self.rebuild(store)
            return
        self._enqueue({u: event.digests.get(u, "") for u in event.put})

    def in_step_with(self, store) -> bool:
        self.store = store
        return (self.datastore.root / ".started").exists()

    def rebuild(self, store) -> None:
        self.store = store
        self.datastore.root.mkdir(parents=True, exist_ok=True)
        (self.datastore.root / ".started").touch()
        wanted = store.digests()
        for manifest in list(self.datastore.manifests()):
            if self._uri(manifest.dataset) not in wanted:
                self.datastore.drop(manifest.dataset)
        self._enqueue(wanted)

    def digests(self) -> dict[str, str]:
        return {self._uri(m.dataset): m.digest for m in self.datastore.manifests()}

    def adopt(self, digests) -> None:
        self._enqueue(dict(digests))

    def repair(self, store, put, created, removed) -> None:
        self.store = store
        for uri in removed:
            self._forget(uri)
        self._enqueue(dict(put))

    def _uri(self, dataset_id: str) -> str:
        return f"{self.base}/datasets/{dataset_id}"

    @staticmethod
    def _id(uri: str) -> str:
        return uri.rstrip("/").rsplit("/", 1)[-1]

    # -- the bytes the gate read ---------------------------------------------------------------------------
    def file_read(self, uri: str, url: str, media: str | None, raw: bytes, dist=None) -> None:
        """Keep a data file the gate has just read (ogc.layers.Layers tells of each one) for this dataset's load."""
        if self.settings.load_at_publication and len(raw) <= self.settings.max_bytes:
            self._handed.put(uri, url, raw)

    def _forget(self, uri: str) -> None:
        self._handed.drop(uri)
        with self._cond:
            self._queue.pop(uri, None)
        try:
            self.datastore.drop(self._id(uri))
        except ValueError:
            pass

    def recheck(self, uris: Sequence[str]) -> dict[str, str]:
        """Read again the files of these published datasets (unchanged metadata; a file may have changed): a
        changed file is loaded again, an unchanged one keeps its table. Nothing to publish again here."""
        again = {}
        for uri in uris:
            dataset_id = self._id(uri)
            if not self.datastore.loaded(dataset_id):  # a look at the folder (most datasets have no tables yet)
                continue
            try:
                manifest = self.datastore.manifest(dataset_id)
            except ValueError:
                continue
            if manifest is not None and (manifest.tables or manifest.not_loaded):
                again[uri] = manifest.digest
        self._enqueue(again, force=True)
        return {}

    def _enqueue(self, digests: dict[str, str], force: bool = False) -> None:
        if not self.settings.load_at_publication:  # loaded at first request: only the tables made must follow
            if len(digests) > 100:  # (a start-up's 100,000: the folder's names at once)
                loaded = self.datastore.loaded_ids()
                digests = {u: d for u, d in digests.items() if self._id(u) in loaded}
            else:
                digests = {u: d for u, d in digests.items() if self.datastore.loaded(self._id(u))}
        if not digests:
            return
        with self._cond:
            for uri, digest in digests.items():
                self._queue.pop(uri, None)
                self._queue[uri] = (digest, force)
            self._cond.notify_all()
        if self._background and self.settings.load_at_publication:
            self.start()

    # -- the background thread -----------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._stop:
                return
            self._thread = threading.Thread(target=self._run, name="data-loader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:  # this thread only: below the requests in CPU priority (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                uri, (digest, force) = self._queue.popitem(last=False)
                self._busy += 1
            try:
                self.load(uri, digest, force=force)
            except Exception:  # the loader keeps going; the dataset is loaded again at the next start-up
                log.exception("the data API could not load %s", uri)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
                    done = not self._queue
                if done:
                    self._summarize()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    def wait(self, timeout_s: float = 300.0) -> bool:
        """Wait until the queue is loaded (True) or the time is up (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def drain(self) -> None:
        """Load everything queued now, in this thread (the command line, tests)."""
        while True:
            with self._cond:
                if not self._queue:
                    break
                uri, (digest, force) = self._queue.popitem(last=False)
            self.load(uri, digest, force=force)
        self._summarize()

    def ensure(self, dataset_id: str) -> Manifest | None:
        """Return a dataset's manifest, loading it first when it is queued or was never loaded."""
        uri = self._uri(dataset_id)
        with self._cond:
            queued = self._queue.pop(uri, None)
        manifest = self.datastore.manifest(dataset_id)
        if queued is None and manifest is not None:
            return manifest
        if self.store is None:
            return manifest
        if queued is None:
            digest = self.store.digests_of([uri]).get(uri)
            if digest is None:
                return manifest
            queued = (digest, False)
        return self.load(uri, queued[0], force=queued[1])

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- loading one dataset -------------------------------------------------------------------------------
    def load(self, uri: str, digest: str, *, force: bool = False) -> Manifest | None:
        """Load (again) the tabular files of one published dataset; write its manifest; return it."""
        dataset_id = self._id(uri)
        with self._cond:
            lock = self._locks.setdefault(dataset_id, threading.Lock())
        with lock:
            current = self.datastore.manifest(dataset_id)
            if current is not None and digest and current.digest == digest and not force:
                return current
            triples = self.store.dataset_triples(uri) if self.store is not None else []
            if not triples:
                return current
            tables, failures = [], []
            sources = sources_of(uri, triples, self.base)
            if self.own_sources is not None:
                sources += self.own_sources(uri)
            for source in sources:
                try:
                    tables.append(self._load_source(uri, dataset_id, source, current))
                except WodpError as exc:
                    failures.append(NotLoaded(source.name, source.url, exc.message, exc.code))
                except Exception as exc:  # a broken file never stops the loader; its reason is reported
                    log.exception("%s: %s could not be loaded", dataset_id, source.url)
                    failures.append(NotLoaded(source.name, source.url, f"{type(exc).__name__}: {exc}"[:500]))
            manifest = Manifest(dataset_id, digest, _now(), tuple(tables), tuple(failures))
            self.datastore.put(manifest)
        self.report.datasets += 1
        self.report.tables += len(tables)
        self.report.not_loaded += len(failures)
        self.report.reasons += [f"{dataset_id} {f.name}: {f.reason}" for f in failures]
        for failure in failures:
            if self._logged < LOGGED_ONE_BY_ONE:
                self._logged += 1
                log.warning("data API: %s %s (%s) not loaded: %s", dataset_id, failure.name, failure.source,
                            failure.reason)
            else:  # counted, and told in one line when the queue is done (_summarize)
                self._unlogged += 1
        del self.report.reasons[:-100]
        return manifest

    def _summarize(self) -> None:
        """Log, in one line, the files not loaded that were not logged one by one (a whole catalogue whose
        files cannot be fetched would otherwise write one line per file)."""
        with self._cond:
            unlogged, self._unlogged = self._unlogged, 0
        if unlogged:
            log.warning("data API: %d more files not loaded (%d in all since start-up, in %d datasets read); the "
                        "latest: %s; each dataset's reasons: /api/data/{id}/tables (not_loaded) or `wodp load-data ID`",
                        unlogged, self.report.not_loaded, self.report.datasets, "; ".join(self.report.reasons[-3:]))

    def _load_source(self, uri: str, dataset_id: str, source: Source, current: Manifest | None) -> StoredTable:
        raw = source.content() if source.content is not None else self._handed.take(uri, source.url)
        if raw is None:
            raw = self.fetch(source.url)
            self.fetched += 1
        if len(raw) > self.settings.max_bytes:
            raise WodpError(f"{len(raw)} bytes, larger than data_api.max_bytes = {self.settings.max_bytes}",
                            status=413, code="too-large")
        same = next((t for t in (current.tables if current else ()) if t.source == source.url
                     and t.file == parquet_name(raw) and (self.datastore.folder(dataset_id) / t.file).exists()), None)
        if same is not None:  # the same bytes as loaded: the table stays as it is
            return replace(same, name=source.name, title=source.title, distribution=source.distribution)
        folder = str(self.datastore.folder(dataset_id))
        options = {"media": source.media, "max_rows": self.settings.max_rows, "memory_mb": self.settings.memory_mb}
        own = source.content is not None or (source.url.startswith(f"{self.base}/files/")
                                             and not source.url.startswith(f"{self.base}/files/submitted/"))
        if self.isolate is None or own:  # the demo's own files are ours: read here
            loaded: LoadedFile = load_file(raw, source.url, self.limits, folder, **options)
        else:
            loaded = self.isolate(load_file, raw, source.url, self.limits, folder,
                                  what=f"loading {source.url} for the data API", background=True, **options)
        names = [n for n, _ in loaded.columns]
        types = dict(loaded.columns)
        lon, lat = self.coordinates(names)
        if lon and lat and not all(_numeric(types[c]) for c in (lon, lat)):
            lon = lat = None  # coordinates written as text are not read as a point here
        return StoredTable(source.name, source.title, loaded.rows, len(raw), loaded.columns, source.url, _now(),
                           loaded.file, source.distribution, lon, lat,
                           loaded.geometry[0] if loaded.geometry else None, loaded.encoding, loaded.notes)


def _numeric(kind: str) -> bool:
    return kind in ("BIGINT", "DOUBLE") or kind.startswith("DECIMAL")


def _now() -> str:
    return stamp(utc_now())


def run_load_data(platform, ids: Sequence[str] | None, via: dict | None = None) -> dict:
    """`wodp load-data ID…|--all`: load the named datasets' files again now (all when None), reading every file
    again; answer the counts and each file not loaded with its reason. The run is in the audit log
    (``data-api.load``, with ``via``: who ran the command, server.audit.cli_detail)."""
    loader = platform.data_loader
    digests = platform.store.digests()
    by_id = {uri.rstrip("/").rsplit("/", 1)[-1]: uri for uri in digests}
    wanted = list(by_id) if ids is None else [i for i in ids if i in by_id]
    out = {"datasets": 0, "tables": 0, "rows": 0, "not_loaded": 0, "not_loaded_files": [],
           "not_found": [] if ids is None else [i for i in ids if i not in by_id]}
    for dataset_id in wanted:
        manifest = loader.load(by_id[dataset_id], digests[by_id[dataset_id]], force=True)
        if manifest is None:
            continue
        out["datasets"] += 1
        out["tables"] += len(manifest.tables)
        out["rows"] += sum(t.rows for t in manifest.tables)
        out["not_loaded"] += len(manifest.not_loaded)
        out["not_loaded_files"] += [f"{dataset_id} {n.name} ({n.source}): {n.reason}" for n in manifest.not_loaded]
    out["not_loaded_files"] = out["not_loaded_files"][:100]
    from server.audit import audit

    audit("data-api.load", "data-api", detail={**(via or {}), "all": ids is None,
                                               **{k: out[k] for k in ("datasets", "tables", "rows", "not_loaded")}},
          log_to=platform.audit)
    return out
