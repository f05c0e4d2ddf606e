"""Hold the parts of one running platform: settings, store, query pool, search index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from sparql.pool import QueryPool
from sparql.store import OxigraphStore, open_store

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """Everything a request handler needs; made once per process by create_app."""

    settings: Settings
    store: OxigraphStore
    pool: QueryPool | None = None
    search: object | None = None  # server.search.SearchIndex
    demo: object | None = None  # demo.generator.DemoCatalog when serving the demo
    extras: dict = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, start_workers: bool = True) -> "Platform":
        """Open the store and the derived indexes under the data directory."""
        settings.home.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.path(settings.store.path))
        platform = cls(settings=settings, store=store)
        from server.search import SearchIndex  # derived index, follows publish events

        platform.search = SearchIndex(settings.path(settings.search.path))
        store.subscribe(platform._on_publish)
        if not platform.search.in_step_with(store):
            platform.search.rebuild(store)
        if start_workers:
            platform.pool = QueryPool(store, settings.sparql, settings.home / "snapshots")
            platform.pool.start()
        return platform

    def _on_publish(self, event) -> None:
        if self.search is not None:
            self.search.follow(self.store, event)

    def dataset_uri(self, dataset_id: str) -> str:
        return f"{self.settings.base_uri}/datasets/{dataset_id}"

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.store.close()


def home_lock_path(home: Path) -> Path:
    return home / "server.json"
