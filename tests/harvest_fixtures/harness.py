"""Build the harvest parts over a temporary data directory: store, gate, job store, sources."""

from __future__ import annotations

import hashlib
from pathlib import Path

from config import load_settings


class Harness:
    """A store, the publication gate and Harvesting for a list of source settings."""

    def __init__(self, home: Path, sources: list[dict], environ: dict | None = None, sandbox=None, **harvest) -> None:
        from harvesters.service import Harvesting
        from server.platform import build_publisher
        from sparql.store import OxigraphStore

        harvest = {"timeout_s": 1.0, "page_size": 25, **harvest, "sources": sources}
        self.settings = load_settings(environ or {}, overrides={"harvest": harvest}, home=home)
        from server.changes import ChangeLog

        self.store = OxigraphStore(home / "store")
        from publish.screen import TextLimits

        self.publisher = build_publisher(self.store, home, TextLimits.from_settings(self.settings.gate))
        from core.database import open_part

        self.changes = ChangeLog(open_part(self.settings.database, "changes", home / "changes.sqlite"))
        self.store.subscribe(lambda event: self.changes.follow(self.store, event))
        self.harvesting = Harvesting(self.settings, self.publisher, sandbox=sandbox)
        self.jobs = self.harvesting.jobs

    def run(self, name: str) -> dict:
        return self.harvesting.run(name)

    def uri(self, ident: str) -> str:
        return f"{self.settings.base_uri}/datasets/{ident}"

    def digest(self) -> str:
        """Hash the whole store content without catalogue-record times (the content a user would read)."""
        return store_digest(self.store)

    def close(self) -> None:
        self.changes.close()
        self.harvesting.close()
        self.store.close()


def store_digest(store) -> str:
    lines = sorted(str(q) for q in store.quads())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
