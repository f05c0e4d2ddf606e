"""Hold the parts of one running platform: settings, store, query pool, search index."""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from core.database import open_part
from core.foreground import Foreground
from core.private import private_dir
from core.text import excerpt
from core.timings import step
from server import search_tokens
from sparql.followers import FollowedDigests, catch_up_all, follower_name
from sparql.pool import QueryPool
from sparql.store import OxigraphStore, open_store

log = logging.getLogger(__name__)
_demo_lock = threading.Lock()
_parts_lock = threading.Lock()


@dataclass(repr=False)  # its fields' reprs would write a whole catalogue (the demo's datasets) into a log line
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
    accounts: object | None = None  # access.accounts.AccountStore: accounts, sign-in, scoped tokens, push grants
    audit: object | None = None  # access.audit.AuditLog: the staff audit log (server/audit.py writes it)
    changes: object | None = None  # server.changes.ChangeLog: derived index behind /changes
    features: object | None = None  # ogc.features.FeatureStore: layers behind /ogc (derived)
    layers: object | None = None  # ogc.layers.Layers: spatialization at the gate, layers kept in step
    ogc: object | None = None  # ogc.api.OgcApi: pygeoapi driven with our collections
    csw: object | None = None  # ogc.csw.CswService: the pycsw repository and its process
    sandbox: object | None = None  # core.sandbox.Sandbox (InlineSandbox without workers): heavy work isolated
    catalog_texts: object | None = None  # server.catalog_texts.CatalogTexts: public dataset texts for /catalog
    catalog_order: object | None = None  # server.catalog_order.CatalogOrder: /catalog's page order and count
    quality_scores: object | None = None  # server.quality_scores.QualityScores: each publisher's mean score
    freshness: object | None = None  # manage.freshness.FreshnessLedger: each dataset's freshness per day
    workorders: object | None = None  # manage.workorders.WorkOrders: findings handed to departments
    usage: object | None = None  # services.usage.UsageCounter: views, downloads, API calls per dataset and day
    feedback: object | None = None  # services.feedback.Feedback: ratings and moderated comments
    applications: object | None = None  # services.applications.Applications: 有条件开放 applications and grants
    quotas: object | None = None  # services.quotas.Quotas: API keys' request counters and daily usage
    requests: object | None = None  # services.requests.Requests: 纠错 error reports and 数据需求 data requests
    showcase: object | None = None  # services.showcase.Showcase: apps and results (应用成果) and their review
    daily: object | None = None  # manage.daily.DailyFreshness when manage.freshness_job is on (wodp serve)
    # the requests this process has in hand, to which its background work gives way (core/foreground.py)
    foreground: Foreground = field(default_factory=Foreground)
    data_checks: object | None = None  # server.data_checks.DataChecks: data-quality checks on the data itself
    datastore: object | None = None  # tabular.datastore.DataStore: the data API's loaded tables (Parquet files)
    data_loader: object | None = None  # server.data_loading.DataLoader: loads them at publication (writer only)
    followers: list = field(default_factory=list)  # every derived index (sparql.followers.Follower), in order
    storage: object | None = None  # core.storage.DiskGuard: disk full and I/O errors, recovery without restart
    _behind: set = field(default_factory=set)  # followers that failed an event; they catch up at recovery
    followed: FollowedDigests | None = None  # the dataset digests each follower applied (start-up verification)
    verification: list = field(default_factory=list)  # what the start-up check found (sparql.followers)
    # publish events each follower has not applied since start-up (server/health.py, the "indexes" check)
    lag: dict = field(default_factory=dict)
    missed: set = field(default_factory=set)  # followers that failed an event for a cause other than the disk
    extras: dict = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, start_workers: bool = True, store: OxigraphStore | None = None) -> "Platform":
        """Open the store, the gate with its hooks and the derived indexes: the one factory of server and CLI."""
        private_dir(settings.home)  # a new home is its owner's only (it holds server.json, accounts.sqlite)
        from manage.workdays import configure

        configure(settings)  # the holiday supplement (manage.holidays_file): a file that does not hold stops here
        store = store or open_store(settings)
        # several processes writing one shared store take turns (sparql/shared.py): the start-up's recoveries
        # and checks of the derived indexes never run beside another process's publication
        with getattr(store, "exclusive", nullcontext)():
            platform = cls._open_parts(settings, store, start_workers)
        if settings.harvest.queue == "postgres":
            from harvesters.queue import HarvestQueue

            platform.harvesting.queue = HarvestQueue(settings)  # harvests are deferred to `wodp worker`
        return platform

    @classmethod
    def _open_parts(cls, settings: Settings, store, start_workers: bool) -> "Platform":
        from sparql.public import withhold_stored

        rewritten = withhold_stored(store)  # before the digests are checked (docs/access.md)
        if rewritten:
            log.info("the store held %d restricted datasets whole: now their public views, kept whole beside it",
                     rewritten)
        platform = cls(settings=settings, store=store)
        platform._open_storage()
        platform.sandbox = open_sandbox(settings, start=start_workers)
        from server.search import SearchIndex  # derived index, follows publish events

        platform.search = SearchIndex(open_part(settings.database, "search", settings.path(settings.search.path)),
                                      settings.search.rank_candidates, **search_text_files(settings))
        platform.followers.append(platform.search)
        platform._open_aggregates()
        platform.followers += [platform.catalog_order, platform.quality_scores]
        platform._open_audit()
        platform._open_gate()
        platform._check_showcase_links()
        platform._open_push(settings.home)
        platform._open_layers()
        platform._open_data_checks()
        platform._open_data_api()
        platform._open_ogc()
        platform._open_csw()
        platform.followed = FollowedDigests(settings.home / "followers.sqlite")
        store.subscribe(platform._on_publish_in_turn, in_turn=True)  # the change log: in the store's turn
        store.subscribe(platform._on_publish)  # the other indexes: in the indexes' turn (sparql/shared.py)
        platform._open_catalog_texts(writer=True)
        platform.verification = catch_up_all(platform.followers, store, platform.followed)  # by content
        repaired = sum(v.repaired for v in platform.verification)
        log.info("start-up check of %d derived indexes against %d datasets: %d repairs%s%s",
                 len(platform.followers), store.count_datasets(), repaired,
                 "".join(f"; {v.follower} caught up" for v in platform.verification if v.caught_up),
                 "".join(f"; {v.follower}: {v.queued} datasets queued again" for v in platform.verification
                         if v.queued))
        if settings.store.url and not isinstance(store, OxigraphStore):
            from sparql.remote_pool import RemotePool  # /sparql asks the remote engine itself: no workers, no snapshots

            platform.pool = RemotePool(store, settings.sparql)
        elif start_workers:
            platform.pool = QueryPool(store, settings.sparql, settings.home / "snapshots")
            platform.pool.start()
        platform.ogc.warm_up()  # pygeoapi's API is made beside the first answers, not before them
        search_tokens.warm_up()  # and the search's segmenter (jieba's dictionary)
        return platform

    def _part(self, part: str, path: Path):
        """Open a part of the data layer: its embedded file (made private first) or the shared database."""
        if self.settings.database.url:
            return open_part(self.settings.database, part, path)
        return path  # the part opens (and guards) its own file

    def _open_storage(self) -> None:
        """Guard the data directory: a floor of free space, a reserve file, recovery once space is back."""
        from core.storage import DiskGuard

        s = self.settings.storage
        self.storage = DiskGuard(self.settings.home, s.reserve_mb << 20, s.min_free_mb << 20, s.recheck_s)
        self.storage.on_recover(self.store.recover)  # reopen the store's handle after a failed write
        self.storage.on_recover(self._catch_up_behind)  # derived indexes that missed events
        self.storage.on_recover(lambda: self.publisher is None or self.publisher.flush_pending())  # ledger rows
        self.storage.ensure_reserve()

    def follow_shared(self) -> int:
        """Move to the generation other processes of this home moved the shared store to (a remote store written
        by several processes: gunicorn workers, harvest workers); return the generation read from.

        What they published is in the engine and in the shared indexes already (each process updates them inside
        its own publication); only this process's generation, which keys its caches, has to follow.
        """
        store = self.store
        found = getattr(store, "shared_generation", lambda: None)()
        if found is None or found[0] <= store.generation:
            return store.generation
        lock = getattr(store, "_write_lock", None)
        if lock is not None and not lock.acquire(blocking=False):
            return store.generation  # this process is writing: its own write moves the generation
        try:
            found = store.shared_generation()
            if found[0] > store.generation:
                store.follow(*found)
                if self.ogc is not None:
                    self.ogc.sync_all()  # collections follow the layers of that generation
        finally:
            if lock is not None:
                lock.release()
        return store.generation

    def _catch_up_behind(self) -> bool:
        """Let the derived indexes that failed to follow an event (e.g. on a full disk) catch up."""
        for index in list(self._behind):
            index.catch_up(self.store)
            if not index.keeps_digests and self.followed is not None:
                self.followed.replace(follower_name(index), self.store.digests())
            self._behind.discard(index)
            self.lag.pop(follower_name(index), None)
            log.info("%s caught up with the store after a failed write", type(index).__name__)
        return True

    @classmethod
    def open_reader(cls, settings: Settings) -> "Platform":
        """Open what a web process reads: a snapshot of the store and the derived indexes, nothing that writes.

        The store is a ``SnapshotStore``, empty until ``refresh`` hands it the writer's snapshot; the search
        index, the change log, the feature store (OGC API Features and Records) and the withdrawn and held
        datasets are the writer's files, read here (SQLite in WAL mode lets readers in other processes).
        Requests that write go to the writer process (server/web.py).
        """
        from ogc.api import OgcApi
        from ogc.features import open_feature_store
        from ogc.records import use_text_index
        from server.access_guard import may_serve_layer
        from server.changes import ChangeLog
        from server.search import SearchIndex
        from sparql.quarantine import Quarantine
        from sparql.store import SnapshotStore

        if settings.store.url:  # the engine is shared: read it directly, at the writer's generation
            from sparql.remote import RemoteStore

            s = settings.store
            store = RemoteStore(s.url, settings.path(s.path), update_url=s.update_url, gsp_url=s.gsp_url,
                                timeout_s=s.timeout_s, engine=s.engine, reader=True,
                                database_url=settings.database.url)
        else:
            store = SnapshotStore(settings.path(settings.store.path))
        platform = cls(settings=settings, store=store)
        home = settings.home
        platform.search = SearchIndex(open_part(settings.database, "search", settings.path(settings.search.path)),
                                      settings.search.rank_candidates, **search_text_files(settings))
        platform.quarantine, platform.tombstones = Quarantine(home / "quarantine"), Quarantine(home / "withdrawn")
        tombstones = platform.tombstones
        platform.changes = ChangeLog(open_part(settings.database, "changes", home / "changes.sqlite"),
                                     withdrawn=lambda i: tombstones.get(i) is not None)
        platform.features = open_feature_store(settings)
        platform.ogc = OgcApi(settings, platform.features,
                              public=lambda info: may_serve_layer(store, info.dataset_uri))
        use_text_index(platform.features, platform.search.matching,  # Records q, as ogc.records.CatalogRecords
                       platform.search.matching_page)
        platform._open_catalog_texts(writer=False)
        platform._open_aggregates()
        platform._open_data_api(writer=False)
        platform.extras["reader"] = True
        platform.ogc.warm_up()
        search_tokens.warm_up()
        return platform

    def _open_aggregates(self) -> None:
        """Open what is kept rather than counted per request: /catalog's order and count, publisher scores."""
        from server.catalog_order import CatalogOrder
        from server.quality_scores import QualityScores

        home = self.settings.home
        self.catalog_order = CatalogOrder(self._part("catalog_order", home / "catalog-order.sqlite"))
        self.quality_scores = QualityScores(self._part("quality_scores", home / "quality-scores.sqlite"))
        self._open_management()
        self._open_services()

    def _open_services(self) -> None:
        """Open the public's services: usage counts (each process buffers its own and flushes), feedback."""
        from services.feedback import Feedback
        from services.usage import UsageCounter

        home, s = self.settings.home, self.settings.services
        self.feedback = Feedback(self._part("feedback", home / "feedback.sqlite"), max_chars=s.comment_max_chars)
        if s.usage_counting:
            self.usage = UsageCounter(self._part("usage", home / "usage.sqlite"), flush_s=s.usage_flush_s,
                                      department_of=self.department_of)
            self.usage.start()
        self._open_applications()
        self._open_requests()
        self._open_showcase()

    def _open_requests(self) -> None:
        """Open the error reports and data requests, with their replies (services/requests.py)."""
        from core.private import private_dir, private_sqlite
        from services.requests import Requests

        home = self.settings.home
        if not self.settings.database.url:
            private_dir(home)
            private_sqlite(home / "requests.sqlite")  # requesters' account ids: the owner's only
        self.requests = Requests(self._part("requests", home / "requests.sqlite"), self.settings.requests)

    def _open_showcase(self) -> None:
        """Open the showcase (应用成果): items, the datasets they use, their images (services/showcase.py)."""
        from services.showcase import Showcase

        s = self.settings.showcase
        self.showcase = Showcase(self._part("showcase", self.settings.home / "showcase.sqlite"),
                                 image_max_bytes=s.image_max_bytes, max_datasets=s.max_datasets)

    def _check_showcase_links(self) -> None:
        """Let the link monitor check the showcase's links beside the distributions' (harvesters/links.py)."""
        if self.harvesting is not None and self.showcase is not None:
            self.harvesting.context.more_links["showcase"] = self.showcase.links_to_check

    def department_of(self, dataset_id: str) -> str | None:
        """Return the code of a dataset's publisher when it is one of our departments (publish.gate)."""
        from publish.gate import department_of

        uri = self.dataset_uri(dataset_id)
        return department_of(uri, self.store.dataset_triples(uri))

    def _open_management(self) -> None:
        """Open the management center's state: the freshness ledger and the work orders (manage/)."""
        from manage.freshness import FreshnessLedger
        from manage.workorders import WorkOrders

        home = self.settings.home
        self.freshness = FreshnessLedger(self._part("freshness", home / "freshness.sqlite"),
                                         keep_days=self.settings.manage.freshness_keep_days)
        self.workorders = WorkOrders.from_settings(self._part("workorders", home / "workorders.sqlite"),
                                                   self.settings.manage)
        self.workorders.fill_deadlines()  # orders opened while their year's calendar was not known yet

    def _open_applications(self) -> None:
        """Open the state of 有条件开放 applications and grants, and the API keys' quotas (services/)."""
        from core.private import private_dir, private_sqlite
        from services.applications import Applications
        from services.quotas import Quotas

        home = self.settings.home
        if not self.settings.database.url:
            private_dir(home)
            private_sqlite(home / "applications.sqlite")  # applicants' purposes and account ids: the owner's only
        self.applications = Applications(self._part("applications", home / "applications.sqlite"),
                                         self.settings.applications)
        self.quotas = Quotas(self._part("quotas", home / "quotas.sqlite"), self.settings.quotas)

    def start_daily(self) -> None:
        """Re-measure freshness at start when today's is missing, then once a day (manage.freshness_job); the
        same job checks the data files new or changed since their last check (data_checks.daily)."""
        from manage.daily import DailyFreshness

        m, dc = self.settings.manage, self.settings.data_checks
        if m.freshness_job and self.freshness is not None:
            data_checks = None
            if dc.enabled and dc.daily and self.data_checks is not None:
                from server.data_checks import run_daily_data_checks

                data_checks = lambda stop: run_daily_data_checks(self, stop)  # noqa: E731 (files new or changed)
            self.daily = DailyFreshness(self.store, self.freshness, self.workorders, hour=m.freshness_hour,
                                        tick_s=m.freshness_tick_s,
                                        links=getattr(self.harvesting, "links", None), data_checks=data_checks,
                                        after=self.extras.get("warm_up"),  # the demo: once its harvests are in
                                        foreground=self.foreground)
            self.daily.start()

    def _open_catalog_texts(self, writer: bool) -> None:
        """Open the shared texts of /catalog pages; the writer checks them at start and follows removals."""
        from server.catalog_texts import CatalogTexts

        path = self.settings.home / "catalog-texts.sqlite"
        self.catalog_texts = texts = CatalogTexts(self._part("catalog_texts", path))
        if writer:
            try:
                texts.start(self.store)  # stamps later than every kept one (server/catalog_texts.py)
            except Exception as exc:  # noqa: BLE001  the pages are then made from the store
                log.warning("catalogue texts cannot be checked (%s): /catalog reads the store", exc)
                texts.close()
                self.catalog_texts = None
                return
            self.store.subscribe(lambda event: self._timed("index: CatalogTexts", texts.follow, event))

    def refresh(self, path: str | None, generation: int, modified: float) -> None:
        """Read the writer's snapshot of ``generation`` from now on (a web process; see open_reader); on a remote
        store (no ``path``), read the engine at that generation."""
        if path is None:
            self.store.follow(generation, modified)
        else:
            self.store.refresh(path, generation, modified)
        if self.ogc is not None:
            self.ogc.sync_all()  # collections follow the layers (and the open types) of this generation

    def _open_audit(self) -> None:
        """Open the audit log and record the effective settings when they differ from the last start's."""
        from server.audit import open_audit, record_settings

        self.audit = open_audit(self.settings)
        try:
            record_settings(self.audit, self.settings)
        except Exception as exc:  # noqa: BLE001  the start goes on; the missing entry is said
            self.audit.failures = getattr(self.audit, "failures", 0) + 1
            log.error("audit log: the settings at start-up could not be recorded: %s", exc)

    def _open_gate(self) -> None:
        """Make the publication gate: SHACL validation, quarantine, quality measurements."""
        from publish.screen import TextLimits

        self.publisher = build_publisher(self.store, self.settings.home, TextLimits.from_settings(self.settings.gate))
        self.publisher.storage = self.storage
        self.validator = self.publisher.validator
        self.quarantine = self.publisher.quarantine
        self.tombstones = self.publisher.tombstones
        from harvesters.service import Harvesting

        # gives the publisher its ledger; fetched pages are read and mapped in the sandbox
        self.harvesting = Harvesting(self.settings, self.publisher, sandbox=self.sandbox)
        if self.audit is not None:
            from server.audit import HarvestAudit

            self.harvesting.observers.append(HarvestAudit(self.audit))

    def _open_push(self, home: Path) -> None:
        """Open the accounts and the change log (which follows publish events)."""
        from access.accounts import AccountStore
        from server.changes import ChangeLog

        self.accounts = AccountStore.from_settings(self._part("accounts", home / "accounts.sqlite"),
                                                   self.settings.access)
        tombstones = self.tombstones
        self.changes = ChangeLog(open_part(self.settings.database, "changes", home / "changes.sqlite"),
                                 withdrawn=lambda i: tombstones is not None and tombstones.get(i) is not None)
        self.followers.append(self.changes)

    def _open_layers(self) -> None:
        """Open the feature store and the spatialization at the gate; layers follow publish events."""
        from ogc.datafile_state import DataFileState
        from ogc.features import open_feature_store
        from ogc.layers import Layers

        if self.features is None:
            self.features = open_feature_store(self.settings)
        spatial = self.settings.spatial
        self.layers = Layers(self.features, self.settings.base_uri, self.fetch_data,
                             options=spatialize_options(self.settings), max_rows=spatial.max_rows,
                             isolate=self.sandbox.run if self.sandbox is not None else None,
                             limits=self.settings.input_limits, fetch_if_changed=self.fetch_data_if_changed,
                             state=DataFileState(self._part("datafiles", self.settings.home / "datafiles.sqlite")))
        self.publisher.add_hook(self.layers)
        self.followers.append(self.layers)

    def submissions(self):
        """Return the workbench's submissions (manage.submissions.SubmissionStore), opened on first use."""
        with _parts_lock:
            if "submissions" not in self.extras:
                from manage.submissions import SubmissionStore

                self.extras["submissions"] = SubmissionStore.open(self.settings)
            return self.extras["submissions"]

    def submitted_file(self, url: str) -> bytes:
        """Read a data file a department attached in the workbench (``/files/submitted/{dataset}/{sha}/{name}``),
        from where it is kept: the gate reads it while it publishes, before the URL answers anyone."""
        from urllib.parse import unquote

        from ogc.datafiles import DataFileError

        dataset_id, _, rest = url[len(f"{self.settings.base_uri}/files/submitted/"):].partition("/")
        digest, _, name = rest.partition("/")
        store = self.submissions()
        found = store.file_of(dataset_id, digest, unquote(name))
        if found is None:
            raise DataFileError(f"{url}: no such file in this catalogue's submissions")
        return store.path_of(found).read_bytes()

    def _open_data_checks(self) -> None:
        """Open the data-quality checks: a gate hook after the quality hook, told of each data file read."""
        from server.data_checks import DataChecks, wuhan_districts
        from tabular.findings import QualityChecks

        checks = QualityChecks(self._part("quality_checks", self.settings.home / "quality-checks.sqlite"))
        self.data_checks = DataChecks(self.settings, checks, self.fetch_data, districts=wuhan_districts(),
                                      isolate=self.sandbox.run if self.sandbox is not None else None)
        self.data_checks.fetch_if_changed = self.fetch_data_if_changed  # the daily job reads changed files only
        if self.harvesting is not None:
            self.data_checks.link_table = self.harvesting.links  # broken links: the link monitor's results
        self.data_checks.workorders = self.workorders  # findings handed to departments (manage/workorders.py)
        self.publisher.add_hook(self.data_checks)
        if self.layers is not None:
            self.layers.readers.append(self.data_checks.file_read)

    def _open_data_api(self, writer: bool = True) -> None:
        """Open the data API's store (each process reads it); the writer also loads it as datasets are published."""
        from tabular.datastore import DataStore

        s = self.settings.data_api
        self.datastore = DataStore(self.settings.path(s.path), memory_mb=s.memory_mb, threads=s.threads,
                                   cache_mb=s.cache_mb)
        if not writer:
            return
        from ogc.columns import by_names
        from server.data_loading import DataLoader

        self.data_loader = DataLoader(self.datastore, self.settings, self.fetch_data, coordinates=by_names,
                                      isolate=self.sandbox.run if self.sandbox is not None else None,
                                      own_sources=self.demo_api_sources)
        self.data_loader.store = self.store
        self.followers.append(self.data_loader)
        self.publisher.add_hook(self.data_loader)  # recheck: files of datasets a harvest found unchanged
        if self.layers is not None:  # the files the gate reads are handed over, not fetched a second time
            self.layers.readers.append(self.data_loader.file_read)

    def demo_api_sources(self, uri: str) -> list:
        """The rows behind a demo dataset's data API distribution, when it has no file of them (its only format
        is the API): one table ``data.csv`` for the data API to load."""
        from server.data_loading import Source

        dataset_id = uri.rsplit("/", 1)[-1]
        dataset = self.demo_dataset(dataset_id)
        files = {"CSV", "XLSX", "JSON", "GEOJSON"}
        if dataset is None or "API" not in dataset.formats or files & set(dataset.formats):
            return []
        from demo.files import render_api_csv

        url = f"{self.settings.base_uri}/api/data/{dataset_id}"
        return [Source("data.csv", "数据接口（API）", url, "text/csv", f"{uri}#api",
                       content=lambda: render_api_csv(dataset))]

    def fetch_data(self, url: str) -> bytes:
        """Read a distribution's file: the demo's own files are rendered here, others fetched over HTTP."""
        from ogc.datafiles import DataFileError, http_fetch

        prefix = f"{self.settings.base_uri}/files/"
        if url.startswith(prefix + "submitted/"):
            return self.submitted_file(url)
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

    def fetch_data_if_changed(self, url: str, etag: str | None, last_modified: str | None):
        """Read a distribution's file unless it is unchanged: a conditional GET for http(s) (a ``Fetched`` with
        no body on a 304); the other files (file: inside spatial.data_dir, the demo's) are read and hashed."""
        from ogc.datafile_state import Fetched
        from ogc.datafiles import http_fetch_if_changed

        if url.startswith(f"{self.settings.base_uri}/files/") or url.startswith("file:"):
            return Fetched(self.fetch_data(url))
        return http_fetch_if_changed(url, etag, last_modified, timeout_s=self.settings.harvest.timeout_s,
                                     max_bytes=self.settings.spatial.max_bytes)

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
                                 text_index=self.search.matching if self.search is not None else None,
                                 text_pages=self.search.matching_page if self.search is not None else None)
        self.followers.append(records)

    def _open_csw(self) -> None:
        """Open pycsw's repository (it follows publish events); its process starts on the first /csw request."""
        if self.settings.csw.enabled:
            from ogc.csw.process import CswService

            self.csw = CswService(self.settings)
            self.followers.append(self.csw.repository)

    def _on_publish_in_turn(self, event) -> None:
        """Let the derived indexes that follow in the store's turn (the change log) follow an event."""
        self._follow(event, [index for index in self.followers if getattr(index, "in_turn", False)])

    def _on_publish(self, event) -> None:
        """Let the other derived indexes follow an event (in the indexes' turn, on a shared store). CSW's
        repository first: its worker process builds the rows while this process updates the other indexes,
        and its flush at the end waits for less."""
        indexes = [index for index in self.followers if not getattr(index, "in_turn", False)]
        if self.csw is not None and self.csw.repository in indexes:
            indexes.remove(self.csw.repository)
            indexes.insert(0, self.csw.repository)
        self._follow(event, indexes)

    def _follow(self, event, indexes: list) -> None:
        """Let derived indexes follow an event, then note the digests each one applied (sparql/followers.py)."""
        applied = []
        for index in indexes:  # in the order opened
            name = follower_name(index)
            if index in self._behind:
                self.lag[name] = self.lag.get(name, 0) + 1
                continue  # it catches up from the store at recovery
            try:
                with step(f"index: {name}"):
                    self.storage.rescue(f"updating {name}", lambda: index.follow(self.store, event))
            except Exception as exc:  # a derived index must not undo a publish, nor keep the others behind
                from core.storage import storage_kind

                if storage_kind(exc) is None:
                    log.exception("%s failed to follow generation %d; it is repaired at the next start-up: %s",
                                  name, event.generation, excerpt(str(exc), 500))
                    self.missed.add(name)  # behind until then, whatever it follows later
                else:
                    log.warning("%s failed to follow generation %d (%s); it catches up when space is back",
                                name, event.generation, str(exc))
                    self._behind.add(index)
                    self.storage.mark_degraded()
                self.lag[name] = self.lag.get(name, 0) + 1
                if not index.keeps_digests and self.followed is not None:
                    try:
                        self.followed.forget(name, (*event.put, *event.removed))
                    except Exception as forgot:  # then the next start-up's check finds the old digest: repaired
                        log.warning("could not note that %s missed generation %d: %s", name, event.generation,
                                    excerpt(str(forgot), 300))
                continue
            if not index.keeps_digests:  # else the index wrote its digests with its rows
                applied.append(name)
        shared = getattr(self.store, "exclusive", None) is not None
        if self.csw is not None and self.csw.repository in indexes and shared:
            # a store shared by several processes: the next publication may be another process's, whose CSW
            # rows must land after ours, so ours are written before this indexes' turn ends (ogc/csw/indexer.py)
            try:
                with step("index: CswRepository (waiting for its rows)"):
                    self.csw.repository.flush()
            except Exception as exc:  # noqa: BLE001  its digests stay old: the start-up check repairs them
                log.warning("CSW rows of generation %d not written in turn: %s", event.generation,
                            excerpt(str(exc), 300))
        if self.followed is None or not applied:
            return
        try:
            if event.reset:
                digests = self.store.digests()
                for name in applied:
                    self.followed.replace(name, digests)
            else:  # noted after the indexes wrote: a kill in between only makes the next start follow them again
                with step("index: followed digests"):
                    self.followed.note_many((name, event.digests, event.removed) for name in applied)
        except Exception as exc:  # not noted: the next start-up's check follows these datasets again (harmless)
            log.warning("the digests of generation %d were not noted: %s", event.generation, excerpt(str(exc), 300))

    @staticmethod
    def _timed(name: str, follow, event) -> None:
        with step(name):
            follow(event)

    def index_lag(self) -> dict[str, int]:
        """Return how many publish events each derived index has not applied (0: in step with the store)."""
        return {follower_name(index): self.lag.get(follower_name(index), 0) for index in self.followers}

    def dataset_uri(self, dataset_id: str) -> str:
        return f"{self.settings.base_uri}/datasets/{dataset_id}"

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.daily is not None:
            self.daily.stop()
        if self.harvesting is not None:
            self.harvesting.close()
        if self.pool is not None:
            self.pool.close()
        if self.sandbox is not None:
            self.sandbox.close()
        if self.csw is not None:
            self.csw.close()
        if self.ogc is not None:
            self.ogc.close()
        if self.features is not None:
            self.features.close()
        if self.layers is not None:
            self.layers.state.close()
        if self.data_checks is not None:
            self.data_checks.checks.close()
        if self.data_loader is not None:
            self.data_loader.close()
        if self.datastore is not None:
            self.datastore.close()
        for index in (self.accounts, self.audit, self.changes, self.followed, self.catalog_texts, self.catalog_order,
                      self.quality_scores, self.freshness, self.workorders, self.usage, self.feedback,
                      self.applications, self.quotas, self.requests, self.showcase):
            if index is not None:
                index.close()
        for extra in self.extras.values():  # parts opened on first use (the workbench's submissions)
            if callable(getattr(extra, "close", None)):
                extra.close()
        self.store.close()


# imported once by each worker
SANDBOX_TASKS = ("server.validation_api", "server.push_api", "ogc.layers", "harvesters.pages", "tabular.run",
                 "tabular.datastore")


def open_sandbox(settings: Settings, *, start: bool = True):
    """Start the sandbox's warm workers (settings ``sandbox``); without workers, tasks run in this process."""
    from core.sandbox import InlineSandbox, Limits, Sandbox

    limits = settings.sandbox
    if not (start and limits.enabled):
        return InlineSandbox()
    sandbox = Sandbox(Limits(memory_mb=limits.memory_mb, timeout_s=limits.timeout_s, max_tasks=limits.max_tasks,
                             workers=limits.workers, max_queue=limits.max_queue,
                             queue_timeout_s=limits.queue_timeout_s, nice=limits.nice),
                      settings.home / "sandbox", preload=SANDBOX_TASKS)
    sandbox.start()
    return sandbox


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


def build_publisher(store: OxigraphStore, home: Path, limits=None):
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
                     digest=content_hash, limits=limits)


def search_text_files(settings: Settings) -> dict:
    """The search's synonym file (search.synonyms, relative to WODP_HOME; empty: server/search_synonyms.yml)."""
    return {"synonyms": settings.path(settings.search.synonyms) if settings.search.synonyms else None}
