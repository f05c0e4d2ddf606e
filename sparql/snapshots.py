"""Make read-only snapshots of the store, at most one per generation, and remove them once nobody reads them.

The SPARQL query workers and the web processes read snapshots (``OxigraphStore.snapshot``: ``Store.backup``, hard
links, ~16 ms). ``Snapshots.current()`` returns the snapshot of the store's current generation, making it on the
first call after a change. A superseded snapshot is removed when none of ``holders`` (callables naming the
snapshots their readers hold, e.g. the query pool's workers) holds it and it has been superseded for ``grace_s`` (a web process moves to the new snapshot at its next request, so a request that
began on the old one can finish).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path


class Snapshots:
    """The snapshots of one store, under one directory."""

    def __init__(self, store, root: Path, grace_s: float = 30.0) -> None:
        self.store = store
        self.root = Path(root)
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._current: tuple[int, str] | None = None
        self._superseded: dict[str, float] = {}  # path -> when it stopped being current
        self.holders: list = []  # callables returning the set of snapshot paths their readers hold
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    def current(self) -> tuple[int, str]:
        """Return (generation, path) of the snapshot of the store as it is now."""
        with self._lock:
            generation = self.store.generation
            if self._current is None or self._current[0] != generation:
                path = self.root / f"{generation}-{uuid.uuid4().hex[:8]}"
                self.store.snapshot(path)
                if self._current is not None:
                    self._superseded[self._current[1]] = time.monotonic()
                self._current = (generation, str(path))
            self._collect()
            return self._current

    def _collect(self) -> None:
        now = time.monotonic()
        keep = {self._current[1]}
        for holder in self.holders:
            keep |= holder()
        for child in self.root.iterdir():
            name = str(child)
            if name in keep:
                continue
            since = self._superseded.get(name)
            if since is not None and now - since < self.grace_s:
                continue
            shutil.rmtree(child, ignore_errors=True)
            self._superseded.pop(name, None)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
