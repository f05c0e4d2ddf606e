"""Hold back datasets that failed validation, with their reports, outside the published store."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from core.identifiers import is_dataset_id


@dataclass(frozen=True)
class HeldDataset:
    """A dataset kept out of publication, and why."""

    id: str
    uri: str
    department: str | None
    source: str
    held_at: float
    report: dict          # the validation report as JSON (shapes.report → dict)
    triples: list[ox.Triple]


class Quarantine:
    """Datasets kept outside the published store, one N-Triples file and one JSON record each.

    Used twice: for datasets held back by validation (with their report) and, as tombstones, for
    datasets withdrawn from publication (kept, marked, answering 410).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _paths(self, dataset_id: str) -> tuple[Path, Path]:
        if not is_dataset_id(dataset_id):
            raise ValueError(f"not a dataset identifier: {dataset_id!r}")
        return self.root / f"{dataset_id}.nt", self.root / f"{dataset_id}.json"

    def hold(self, dataset_id: str, uri: str, triples: list[ox.Triple], report: dict,
             source: str, department: str | None) -> None:
        """Keep a dataset with its report, replacing any earlier held version."""
        data_path, meta_path = self._paths(dataset_id)
        meta = {"id": dataset_id, "uri": uri, "department": department, "source": source,
                "held_at": time.time(), "report": report}
        with self._lock:
            _write_atomic(data_path, ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES))
            _write_atomic(meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))

    def release(self, dataset_id: str) -> bool:
        """Forget a held dataset (it was fixed and published, or withdrawn); True if it was held."""
        data_path, meta_path = self._paths(dataset_id)
        with self._lock:
            found = meta_path.exists()
            meta_path.unlink(missing_ok=True)
            data_path.unlink(missing_ok=True)
        return found

    def get(self, dataset_id: str) -> HeldDataset | None:
        data_path, meta_path = self._paths(dataset_id)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            triples = [q.triple for q in ox.parse(data_path.read_bytes(), ox.RdfFormat.N_TRIPLES)]
        except (OSError, ValueError, SyntaxError):
            return None
        return HeldDataset(meta["id"], meta["uri"], meta.get("department"), meta.get("source", ""),
                           meta["held_at"], meta["report"], triples)

    def list(self, department: str | None = None) -> list[dict]:
        """Return the metadata (not the triples) of held datasets, optionally of one department."""
        out = []
        for meta_path in sorted(self.root.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if department is None or meta.get("department") == department:
                out.append(meta)
        return out


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
