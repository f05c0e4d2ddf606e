"""Hold the parts of one running platform: settings, store, query pool, search index."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from sparql.followers import FollowedDigests, catch_up_all, follower_name
from sparql.pool import QueryPool
from sparql.store import OxigraphStore, open_store

log = logging.getLogger(__name__)
_demo_lock = threading.Lock()


@dataclass
class Platform:
    """Everything a request handler needs; made once per process by create_app."""

    settings: Settings
    store: OxigraphStore
    pool: QueryPool | None = None
    search: object | None = None  # server.search.SearchIndex
    validator: object | None = None  # shapes.validate.Validator (single datasets)
    quarantine: object | None = None  # sparql.quarantine.Quarantine: held back by validation
    tombstones: object | None = None  # sparql.quarantine.Quarantine: withdrawn datasets (410)
    publisher: object | None = None  # publish.gate.Publisher: the only way datasets are published
    demo: object | None = None  # demo.generator.DemoCatalog when serving the demo
    harvesting: object | None = None  # harvesters.service.Harvesting: jobs, ledger, sources
    scheduler: object | None = None  # harvesters.scheduler.Scheduler when harvest.scheduler is on
    accounts: object | None = None  # server.accounts.AccountStore: department tokens for the push API
    changes: object | None = None  # server.changes.ChangeLog: derived index behind /changes
    features: object | None = None  # ogc.features.FeatureStore: layers behind /ogc (derived)
    layers: object | None = None  # ogc.layers.Layers: spatialization at the gate, layers kept in step
    ogc: object | None = None  # ogc.api.OgcApi: pygeoapi driven with our collections
    csw: object | None = None  # ogc.csw.CswService: the pycsw repository and its process
    followers: list = field(default_factory=list)  # every derived index (sparql.followers.Follower), in order
    followed: FollowedDigests | None = None  # the dataset digests each follower applied (start-up verification)
    verification: list = field(default_factory=list)  # what the start-up check found (sparql.followers)
    extras: dict = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, start_workers: bool = True, store: OxigraphStore | None = None) -> "Platform":
        """Open the store, the gate with its hooks and the derived indexes: the one factory of server and CLI."""
        settings.home.mkdir(parents=True, exist_ok=True)
        store = store or open_store(settings.path(settings.store.path))
        platform = cls(settings=settings, store=store)
        from server.search import SearchIndex  # derived index, follows publish events

        platform.search = SearchIndex(settings.path(settings.search.path))
        platform.followers.append(platform.search)
        platform._open_gate()
        platform._open_push(settings.home)
        platform._open_layers()
        platform._open_ogc()
        platform._open_csw()
        platform.followed = FollowedDigests(settings.home / "followers.sqlite")
        store.subscribe(platform._on_publish)
        platform.verification = catch_up_all(platform.followers, store, platform.followed)  # by content
        repaired = sum(v.repaired for v in platform.verification)
        log.info("start-up check of %d derived indexes against %d datasets: %d repairs%s",
                 len(platform.followers), len(store.digests()), repaired,
                 "".join(f"; {v.follower} caught up" for v in platform.verification if v.caught_up))
        if start_workers:
            platform.pool = QueryPool(store, settings.sparql, settings.home / "snapshots")
            platform.pool.start()
        return platform

    def _open_gate(self) -> None:
        """Make the publication gate: SHACL validation, quarantine, quality measurements."""
        self.publisher = build_publisher(self.store, self.settings.home)
        self.validator = self.publisher.validator
        self.quarantine = self.publisher.quarantine
        self.tombstones = self.publisher.tombstones
        from harvesters.service import Harvesting

        self.harvesting = Harvesting(self.settings, self.publisher)  # gives the publisher its ledger

    def _open_push(self, home: Path) -> None:
        """Open the department accounts and the change log (which follows publish events)."""
        from server.accounts import AccountStore
        from server.changes import ChangeLog

        self.accounts = AccountStore(home / "accounts.sqlite")
        tombstones = self.tombstones
        self.changes = ChangeLog(home / "changes.sqlite",
                                 withdrawn=lambda i: tombstones is not None and tombstones.get(i) is not None)
        self.followers.append(self.changes)

    def _open_layers(self) -> None:
        """Open the feature store and the spatialization at the gate; layers follow publish events."""
        from ogc.features import open_feature_store
        from ogc.layers import Layers

        if self.features is None:
            self.features = open_feature_store(self.settings)
        spatial = self.settings.spatial
        self.layers = Layers(self.features, self.settings.base_uri, self.fetch_data,
                             options=spatialize_options(self.settings), max_rows=spatial.max_rows)
        self.publisher.add_hook(self.layers)
        self.followers.append(self.layers)

    def fetch_data(self, url: str) -> bytes:
        """Read a distribution's file: the demo's own files are rendered here, others fetched over HTTP."""
        from ogc.datafiles import DataFileError, http_fetch

        prefix = f"{self.settings.base_uri}/files/"
        if url.startswith(prefix):
            dataset_id, _, name = url[len(prefix):].partition("/")
            dataset = self.demo_dataset(dataset_id)
            if dataset is None:
                raise DataFileError(f"{url}: no such file in this catalogue")
            from demo.files import render_file

            try:
                return render_file(dataset, name)[0]
            except KeyError:
                raise DataFileError(f"{url}: no such file in this catalogue") from None
        spatial = self.settings.spatial
        if url.startswith("file:"):  # only inside spatial.data_dir (wodp load of a local data file)
            from ogc.datafiles import file_fetch

            root = self.settings.path(spatial.data_dir) if spatial.data_dir else None
            return file_fetch(url, root, max_bytes=spatial.max_bytes)
        return http_fetch(url, timeout_s=self.settings.harvest.timeout_s, max_bytes=spatial.max_bytes)

    def demo_dataset(self, dataset_id: str):
        """Return a demo dataset by id (the generator is deterministic: rebuilt from the settings once)."""
        if not dataset_id.startswith("demo."):
            return None
        with _demo_lock:
            if self.demo is None:
                from demo.generator import build_demo_catalog

                d = self.settings.demo
                self.demo = build_demo_catalog(self.settings.base_uri, d.seed, d.datasets, d.spatial)
            if "demo_index" not in self.extras:
                self.extras["demo_index"] = {ds.id: ds for ds in self.demo.datasets}
        return self.extras["demo_index"].get(dataset_id)

    def _open_ogc(self) -> None:
        """Serve the layers through pygeoapi (collections follow the layers) and the catalogue as records."""
        from ogc.api import OgcApi
        from ogc.records import CatalogRecords

        from server.access_guard import may_serve_layer

        self.ogc = OgcApi(self.settings, self.features,
                          public=lambda info: may_serve_layer(self.store, info.dataset_uri))
        if self.layers is not None:
            self.layers.listeners.append(self.ogc.on_layer)
        records = CatalogRecords(self.features, on_change=self.ogc.sync_layer,
                                 text_index=self.search.matching if self.search is not None else None)
        self.followers.append(records)

    def _open_csw(self) -> None:
        """Open pycsw's repository (it follows publish events); its process starts on the first /csw request."""
        if self.settings.csw.enabled:
            from ogc.csw.process import CswService

            self.csw = CswService(self.settings)
            self.followers.append(self.csw.repository)

    def _on_publish(self, event) -> None:
        """Let every derived index follow an event, then note the digests each one applied (sparql/followers.py)."""
        applied = []
        for index in self.followers:  # every derived index, in the order opened
            name = follower_name(index)
            try:
                index.follow(self.store, event)
            except Exception:  # one index failing must not keep the others behind; the next start-up repairs it
                log.exception("%s failed to follow generation %d", name, event.generation)
                if not index.keeps_digests and self.followed is not None:
                    self.followed.forget(name, (*event.put, *event.removed))
                continue
            if not index.keeps_digests:  # else the index wrote its digests with its rows
                applied.append(name)
        if self.followed is None or not applied:
            return
        if event.reset:
            digests = self.store.digests()
            for name in applied:
                self.followed.replace(name, digests)
        else:  # noted after the indexes wrote: a kill in between only makes the next start follow them again
            self.followed.note_many((name, event.digests, event.removed) for name in applied)

    def dataset_uri(self, dataset_id: str) -> str:
        return f"{self.settings.base_uri}/datasets/{dataset_id}"

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.harvesting is not None:
            self.harvesting.close()
        if self.pool is not None:
            self.pool.close()
        if self.csw is not None:
            self.csw.close()
        if self.ogc is not None:
            self.ogc.close()
        if self.features is not None:
            self.features.close()
        for index in (self.accounts, self.changes, self.followed):
            if index is not None:
                index.close()
        self.store.close()


def spatialize_options(settings: Settings):
    """Spatialization options from the settings: the geocoder and the boundary that flags outliers."""
    from ogc.geocode import GazetteerGeocoder, make_geocoder
    from ogc.spatialize import SpatializeOptions

    spatial, tianditu = settings.spatial, settings.tianditu
    geocoder = (make_geocoder(tianditu.key, base_url=tianditu.geocoder_url)
                if spatial.geocoder == "tianditu" and tianditu.key else GazetteerGeocoder())
    boundary = None
    if spatial.boundary_file:
        from ogc.boundary import load_boundary

        boundary = load_boundary(settings.path(spatial.boundary_file), crs=spatial.boundary_crs)
    return SpatializeOptions(geocoder=geocoder, boundary=boundary, default_crs=spatial.source_crs)


def home_lock_path(home: Path) -> Path:
    return home / "server.json"


def build_publisher(store: OxigraphStore, home: Path):
    """Make the gate with its own hooks (quality); Platform.open adds the ledger's and the layers'."""
    from publish.gate import Publisher
    from shapes.errors import EngineUnavailableError
    from harvesters.provenance import content_hash
    from shapes.quality import QualityHook
    from shapes.validate import get_validator
    from sparql.quarantine import Quarantine

    try:
        batch = get_validator("pyrudof")
    except EngineUnavailableError:
        log.warning("pyrudof is not available: batches are validated one dataset at a time")
        batch = None
    return Publisher(store, Quarantine(home / "quarantine"), batch or get_validator("pyshacl"), profile="wuhan",
                     batch_validator=batch, tombstones=Quarantine(home / "withdrawn"), hooks=[QualityHook()],
                     digest=content_hash)
