"""Turn spatial datasets into layers at publication, and keep the layers in step with the catalogue.

At the gate (``Publisher``), ``Layers.enrich`` reads a spatial dataset's data (its CSV, XLSX, JSON or GeoJSON
distribution), spatializes it (``ogc.spatialize``) and adds to the dataset graph what a user of the catalogue
should find there: its OGC API Features collection and GeoJSON download as distributions, the
``dcat:DataService`` serving them, and the layer's extent as ``dct:spatial`` with a geometry. The features wait
until the store has really published the dataset (``follow``, a publish-event listener): a dataset held back by
validation never replaces the features of its published version; a withdrawn dataset loses its layer.

A dataset is spatial when it says so (``wodp:spatializationStatus wodp:spatial``) or has a GeoJSON
distribution. Data that cannot be read (too large, unreachable, no coordinates at all) leaves the dataset
published without a layer, with the reason in ``Layers.problems``. In a running server the file is parsed and
spatialized in a sandbox worker (``isolate``: core.sandbox, under its memory and time limits).

Each data file is known by its content (``ogc.datafile_state``: ETag, Last-Modified, sha256, and how it was
read): a publication whose file did not change keeps the layer as it is, without reading the file again, and
``recheck`` (a gate hook a harvest calls for its unchanged datasets) finds the files that changed behind
unchanged records.

The data file's coordinates are read in the *source* system the dataset declares with ``wodp:sourceCRS`` (on the
distribution read, else on the dataset), else what the file says, else ``spatial.source_crs``, else WGS84 flagged
as assumed in the report. ``dct:conformsTo`` is the CRS we publish (EPSG:4490, added to the layer's
distributions and the dataset) and is never read as the source (docs/spatialization.md).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import pyoxigraph as ox

from core.sandbox import SandboxError
from ogc.coords import convertible
from ogc.datafile_state import DataFileCheck, DataFileRow, DataFileState, Fetched, FetchIfChanged, recipe
from ogc.datafiles import DataFileError, parse_data
from ogc.features import FeatureStore, LayerInfo
from ogc.spatialize import SpatializationResult, SpatializeOptions, UnknownCrsError, spatialize
from ogc.layer_graph import GEOJSON_MEDIA, layer_triples
from ontology.namespaces import DCAT, DCT, WODP
from sparql.followers import Follower

log = logging.getLogger(__name__)

_PREFERENCE = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "application/json", "application/geo+json")
Fetch = Callable[[str], bytes]  # URL -> the file's bytes (raises DataFileError)
Isolate = Callable[..., Any]  # core.sandbox.Sandbox.run: (function, *args, what=, background=) -> its result


@dataclass(frozen=True)
class Spatialized:
    """A dataset's features waiting for its publication, with its layer description and its file's row."""

    info: LayerInfo
    features: tuple[dict[str, Any], ...]
    row: DataFileRow | None = None


@dataclass(frozen=True)
class _Kept:
    """The data file did not change: the layer's features stay; only its description follows the dataset."""

    info: LayerInfo
    row: DataFileRow


@dataclass(frozen=True)
class _Dropped:
    """The dataset is published without a layer: drop the old one (and keep or forget its file's row)."""

    row: DataFileRow | None = None
    forget: bool = False


class Layers(Follower):
    """Spatialization at the gate and the layers that follow the store."""

    def __init__(self, features: FeatureStore, base_uri: str, fetch: Fetch, *,
                 options: SpatializeOptions = SpatializeOptions(), max_rows: int = 200_000,
                 isolate: Isolate | None = None, limits=None, fetch_if_changed: FetchIfChanged | None = None,
                 state: DataFileState | None = None) -> None:
        if options.default_crs and not convertible(options.default_crs):
            raise UnknownCrsError(f"spatial.source_crs {options.default_crs!r} is not one we convert "
                                  "(WGS84, CGCS2000, GCJ-02, BD-09, a projected EPSG code, or their IRIs)")
        self.features = features
        self.base = base_uri.rstrip("/")
        self.check = DataFileCheck(fetch, fetch_if_changed)  # is a data file the one last read?
        self.state = state or DataFileState()  # per dataset: what identifies its data file's content
        self.options = options
        self.max_rows = max_rows
        self.isolate = isolate  # runs the parsing and spatialization of a data file in a sandbox worker
        self.limits = limits  # settings input_limits (None: their defaults), for reading data files
        self.problems: dict[str, str] = {}  # dataset id -> why it has no layer
        self.listeners: list[Callable[[str, LayerInfo | None], None]] = []  # told of every layer put or dropped
        # told of every data file read at the gate: (dataset URI, URL, media type, bytes, distribution node)
        self.readers: list[Callable[[str, str, str | None, bytes, Any], None]] = []
        self._pending: dict[str, Any] = {}  # dataset URI -> Spatialized, _Kept or _Dropped
        self._reads: dict[str, str] = {}  # dataset URI -> "re-read", "unchanged" or "failed" (its last enrich)
        self._batch = threading.local()  # .rows: dataset URI -> its data file's row, read for the batch in hand
        self._lock = threading.Lock()

    @property
    def fetch(self) -> Fetch:
        """The function reading a data file's bytes."""
        return self.check.fetch

    @fetch.setter
    def fetch(self, fetch: Fetch) -> None:
        """Read data files with another function from now on (unconditionally: changes are found by sha256)."""
        self.check = DataFileCheck(fetch)

    # -- at the gate ---------------------------------------------------------------------------------------
    def before_enrich(self, uris: Sequence[str]) -> None:
        """The gate's before_enrich hook: read the data-file rows of a batch's datasets at once (one query per
        500, not one per dataset); each is used by the dataset's enrich, once."""
        rows = self.state.get_many(uris)
        self._batch.rows = {uri: rows.get(uri) for uri in uris}

    def _row(self, uri: str) -> DataFileRow | None:
        """The dataset's data-file row: read with its batch (before_enrich), else now."""
        batch = getattr(self._batch, "rows", {})
        return batch.pop(uri) if uri in batch else self.state.get(uri)

    def enrich(self, uri: str, triples: Sequence[ox.Triple]) -> list[ox.Triple]:
        """Spatialize a spatial dataset; return its graph with the layer's distributions, service and extent.

        A data file whose content is the one last read (same recipe, a 304 or the same sha256) is not read
        again: the layer stays as it is, and the graph gets the same layer triples as before.
        """
        triples = list(triples)
        dataset_id = uri.rsplit("/", 1)[-1]
        layer = self.features.layer(dataset_id)
        row = self._row(uri)
        if layer is not None:  # unless this version brings a layer, drop the old one
            self._put_pending(uri, _Dropped())
        if not is_spatial(uri, triples):
            if layer is not None or row is not None:  # no longer spatial: forget its file too
                self._put_pending(uri, _Dropped(forget=True))
            return triples
        url, media, dist = data_distribution(uri, triples)
        if url is None:
            self.problems[dataset_id] = "no CSV, XLSX, JSON or GeoJSON distribution to read"
            self._put_pending(uri, _Dropped(forget=True))
            return triples
        options = self._options(uri, triples, dist)
        fingerprint = recipe(url, media, options.crs, options.crs_origin, options.default_crs, self.max_rows,
                             getattr(options.boundary, "name", None), type(options.geocoder).__name__)
        row = row if row is not None and row.recipe == fingerprint else None
        fetched = None
        try:
            fetched = self.check.take(uri, url)
            unchanged, fetched = (False, fetched) if fetched is not None else self.check.compare(row, url)
            if unchanged and row.outcome == "read" and layer is not None:  # else read again: its problem is said
                return self._unchanged(uri, dataset_id, triples, row, fetched, layer)
            if fetched.body is None:  # 304, but the layer is gone: read the file again
                fetched = Fetched(self.fetch(url), fetched.etag, fetched.last_modified)
            self._tell_read(uri, url, media, fetched.body, dist)
            result = self._spatialize(fetched.body, media, url, options)
        except (DataFileError, SandboxError) as exc:
            self.problems[dataset_id] = str(exc)
            got = fetched if fetched is not None and fetched.body is not None else Fetched(None)
            # the bytes that failed to parse are known, so a harvest does not publish the dataset again for them
            self._note(uri, "failed", _Dropped(DataFileRow(uri, url, got.etag, got.last_modified, got.sha256,
                                                           fingerprint, "failed")))
            log.info("%s: no layer: %s", dataset_id, exc)
            return triples
        made = DataFileRow(uri, url, fetched.etag, fetched.last_modified, fetched.sha256, fingerprint,
                           "read" if result.features else "no-rows", len(result.features),
                           json.dumps(result.extent) if result.extent else None)
        if not result.features:
            self.problems[dataset_id] = f"no row could be placed ({result.report.unresolved} unresolved)"
            self._note(uri, "re-read", _Dropped(made))
            return triples
        self.problems.pop(dataset_id, None)
        self._note(uri, "re-read", Spatialized(_layer_info(dataset_id, uri, triples, result), result.features, made))
        return layer_triples(self.base, uri, dataset_id, triples, result.report.placed, result.extent)

    def _tell_read(self, uri: str, url: str, media: str | None, body: bytes, dist) -> None:
        for reader in self.readers:
            try:
                reader(uri, url, media, body, dist)
            except Exception:  # a reader (the data checks) must not break publication
                log.exception("a data file reader failed for %s", url)

    def _unchanged(self, uri: str, dataset_id: str, triples: list[ox.Triple], row: DataFileRow,
                   fetched: Fetched, layer: LayerInfo) -> list[ox.Triple]:
        """Keep the layer of an unchanged data file; its description follows the dataset's new titles."""
        kept = replace(row, etag=fetched.etag or row.etag, last_modified=fetched.last_modified or row.last_modified)
        info = replace(layer, title_zh=_text(triples, uri, DCT.title, "zh"), title_en=_text(triples, uri, DCT.title, "en"))
        self.problems.pop(dataset_id, None)
        self._note(uri, "unchanged", _Kept(info, kept))
        extent = tuple(json.loads(row.extent)) if row.extent else layer.bbox
        return layer_triples(self.base, uri, dataset_id, triples, row.placed or layer.count, extent)

    def _options(self, uri: str, triples: Sequence[ox.Triple], dist) -> SpatializeOptions:
        declared, origin = source_crs(uri, triples, dist)
        return replace(self.options, crs=declared, crs_origin=origin) if declared else self.options

    def _put_pending(self, uri: str, pending) -> None:
        with self._lock:
            self._pending[uri] = pending

    def _note(self, uri: str, read: str, pending) -> None:
        with self._lock:
            self._pending[uri] = pending
            self._reads[uri] = read

    def recheck(self, uris: Sequence[str]) -> dict[str, str]:
        """The gate's recheck hook: of published datasets whose metadata did not change, compare each data file
        read before with what identifies its content; return per dataset "changed", "unchanged" or "failed: …".

        The body of a changed file is kept for the publication that follows, which reads it (once).
        """
        out: dict[str, str] = {}
        for uri, row in self.state.get_many(uris).items():
            try:
                unchanged, fetched = self.check.compare(row, row.url)
            except DataFileError as exc:
                out[uri] = f"failed: {exc.message}"
                continue
            layer_there = row.outcome != "read" or self.features.layer(uri.rsplit("/", 1)[-1]) is not None
            if unchanged and layer_there:
                if (fetched.etag, fetched.last_modified) != (row.etag, row.last_modified):
                    self.state.put(replace(row, etag=fetched.etag, last_modified=fetched.last_modified))
                out[uri] = "unchanged"
                continue
            if fetched.body is not None:
                self.check.keep(uri, row.url, fetched)
            out[uri] = "changed"
        return out

    def reads(self, uris: Sequence[str]) -> dict[str, str]:
        """The gate's reads hook: how the data file of each dataset just enriched was read ("re-read",
        "unchanged", "failed"); a body kept by recheck and not used is forgotten."""
        self.check.forget(uris)
        with self._lock:
            return {uri: self._reads.pop(uri) for uri in uris if uri in self._reads}

    def held(self, reports, source, hashes, job) -> None:
        """The gate's held hook (publish/hooks.py): the published layer of a held dataset stays as it was.

        A dataset without a published layer, held for want of one (its file unreadable or placing nothing), keeps
        its file's row, so that a harvest re-checks the file and publishes the dataset once the file is fixed.
        """
        with self._lock:
            pending = {uri: self._pending.pop(uri, None) for uri in reports}
        for uri, found in pending.items():
            if isinstance(found, _Dropped) and found.row is not None and found.row.outcome != "read" \
                    and self.features.layer(uri.rsplit("/", 1)[-1]) is None:
                self.state.put(found.row)

    def discard(self, uris: Sequence[str]) -> None:
        """Forget the features of datasets the gate held back (their published layer stays as it was)."""
        with self._lock:
            for uri in uris:
                self._pending.pop(uri, None)

    def _spatialize(self, raw: bytes, media: str | None, url: str, options: SpatializeOptions
                    ) -> SpatializationResult:
        if self.isolate is None:
            return spatialize_file_data(raw, media, url, self.max_rows, options, self.limits)
        return self.isolate(spatialize_file_data, raw, media, url, self.max_rows, options, self.limits,
                            what=f"the data file {url}", background=True)

    # -- after publication ---------------------------------------------------------------------------------
    def follow(self, store, event) -> None:
        """Write the features of datasets just published; drop the layers of datasets removed."""
        for uri in event.put:
            with self._lock:
                pending = self._pending.pop(uri, None)
            if pending is not None:
                self._apply(store, uri, pending)
        for uri in event.removed:
            layer_id = uri.rsplit("/", 1)[-1]
            self.state.drop(uri)
            if self.features.drop_layer(layer_id):
                self._tell(layer_id, None)
        if event.reset:
            self.reconcile(store)

    def _apply(self, store, uri: str, pending) -> None:
        """Make the layer of a dataset just published what its publication brought."""
        layer_id = uri.rsplit("/", 1)[-1]
        if isinstance(pending, _Dropped):
            if pending.forget:
                self.state.drop(uri)
            elif pending.row is not None:
                self.state.put(pending.row)
            if self.features.drop_layer(layer_id):
                self._tell(layer_id, None)
            return
        modified = store.record_modified(uri)
        if isinstance(pending, _Kept):  # the features stay; the description follows (no features written)
            self.state.put(pending.row)
            info = replace(pending.info, modified=modified)
            current = self.features.layer(layer_id)
            if current is not None and info != current and hasattr(self.features, "upsert_features"):
                self._tell(layer_id, self.features.upsert_features(layer_id, [], info))
            return
        stored = self.features.put_layer(replace(pending.info, modified=modified), pending.features)
        if pending.row is not None:
            self.state.put(pending.row)
        self._tell(layer_id, stored)

    def repair(self, store, put, created, removed) -> None:
        """Make the layers of datasets that differ from the store again from their stored graphs (start-up)."""
        for uri in put:  # spatialized again from the data file the stored graph names
            self.enrich(uri, store.dataset_triples(uri))
        from sparql.store import PublishEvent

        self.follow(store, PublishEvent(store.generation, put=tuple(put), removed=tuple(removed), reason="repair"))

    def reconcile(self, store) -> int:
        """Drop layers whose dataset is no longer published; return how many were dropped."""
        published = set(store.dataset_uris())
        dropped = 0
        for info in self.features.layers():
            if info.kind == "feature" and info.dataset_uri and info.dataset_uri not in published:
                self.features.drop_layer(info.id)
                self._tell(info.id, None)
                dropped += 1
        return dropped

    def _tell(self, layer_id: str, info: LayerInfo | None) -> None:
        for listener in self.listeners:
            try:
                listener(layer_id, info)
            except Exception:  # a derived view must not break publication
                log.exception("layer listener failed for %s", layer_id)


def spatialize_file_data(raw: bytes, media: str | None, url: str, max_rows: int,
                         options: SpatializeOptions, limits=None) -> SpatializationResult:
    """Parse a data file and spatialize it (geocoding addresses); a sandbox task, its result plain data."""
    data = parse_data(raw, media, url, max_rows=max_rows, limits=limits)
    try:
        return spatialize(data, options)
    except UnknownCrsError as exc:
        raise DataFileError(f"{url}: {exc.message}") from None


def _objects(triples: Sequence[ox.Triple], subject: ox.Term, predicate: ox.NamedNode) -> list[ox.Term]:
    return [t.object for t in triples if t.subject == subject and t.predicate == predicate]


def is_spatial(uri: str, triples: Sequence[ox.Triple]) -> bool:
    """A dataset is spatial when it declares so, or has a GeoJSON distribution."""
    d = ox.NamedNode(uri)
    status = _objects(triples, d, WODP.spatializationStatus)
    if any(isinstance(s, ox.NamedNode) and s.value.endswith("/spatial") for s in status):
        return True
    # IANA's media type IRIs are written with http (DCAT-AP, our mappings) or https (IANA's own pages): both count
    return any(t.predicate == DCAT.mediaType and isinstance(t.object, ox.NamedNode)
               and t.object.value.split("://", 1)[-1] == GEOJSON_MEDIA.value.split("://", 1)[-1] for t in triples)


def data_distribution(uri: str, triples: Sequence[ox.Triple]) -> tuple[str | None, str | None, ox.Term | None]:
    """Pick the distribution to spatialize: CSV first, then XLSX, JSON, GeoJSON (a file, not an API).

    Returns (download URL, media type, the distribution node), or (None, None, None).
    """
    d = ox.NamedNode(uri)
    found: dict[str, tuple[str, ox.Term]] = {}
    for dist in _objects(triples, d, DCAT.distribution):
        urls = _objects(triples, dist, DCAT.downloadURL)
        media = _objects(triples, dist, DCAT.mediaType)
        if not urls or not media:
            continue
        kind = media[0].value.rsplit("/media-types/", 1)[-1]
        if kind in _PREFERENCE and "/layers/" not in urls[0].value:
            found.setdefault(kind, (urls[0].value, dist))
    for kind in _PREFERENCE:
        if kind in found:
            return found[kind][0], kind, found[kind][1]
    return None, None, None


def source_crs(uri: str, triples: Sequence[ox.Triple], dist: ox.Term | None = None) -> tuple[str | None, str | None]:
    """Return (the source coordinate system's IRI, "distribution" or "dataset"), or (None, None).

    Only ``wodp:sourceCRS`` says what the data file's coordinates are in (on the distribution read, else on
    the dataset). ``dct:conformsTo`` is the CRS of what we publish (EPSG:4490) and is never read as the source.
    """
    for subject, origin in ((dist, "distribution"), (ox.NamedNode(uri), "dataset")):
        if subject is None:
            continue
        for o in _objects(triples, subject, WODP.sourceCRS):
            return o.value, origin
    return None, None


def declared_crs(uri: str, triples: Sequence[ox.Triple]) -> str | None:
    """The source coordinate system a dataset declares (``wodp:sourceCRS``); never its published dct:conformsTo."""
    return source_crs(uri, triples, data_distribution(uri, triples)[2])[0]


def _text(triples: Sequence[ox.Triple], uri: str, predicate: ox.NamedNode, lang: str) -> str:
    values = [o for o in _objects(triples, ox.NamedNode(uri), predicate) if isinstance(o, ox.Literal)]
    chosen = [o.value for o in values if (o.language or "").lower().startswith(lang)]
    return (chosen or [v.value for v in values] or [""])[0]


def _layer_info(dataset_id: str, uri: str, triples: Sequence[ox.Triple], result: SpatializationResult) -> LayerInfo:
    kinds = {f["geometry"]["type"] for f in result.features}
    fields: dict[str, str] = {}
    for feature in result.features[:500]:
        for name, value in feature["properties"].items():
            kind = ("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int)
                    else "number" if isinstance(value, float) else "string")
            if fields.get(name, kind) != kind:
                kind = "string"
            fields[name] = kind
    date_field = next((n for n in fields if "日期" in n or n.lower() in ("date", "datetime", "time")), None)
    return LayerInfo(id=dataset_id, dataset_uri=uri, title_zh=_text(triples, uri, DCT.title, "zh"),
                     title_en=_text(triples, uri, DCT.title, "en"), count=len(result.features),
                     bbox=result.extent, geometry_type=kinds.pop() if len(kinds) == 1 else "Geometry",
                     fields=fields, datetime_field=date_field, kind="feature",
                     report=result.report.to_dict())


def warm_up() -> None:
    """Import the file readers and place one point, so that a sandbox worker's first data file is quick."""
    import openpyxl  # noqa: F401

    spatialize([{"name": "warm-up", "lon": "114.3", "lat": "30.6"}], SpatializeOptions())
