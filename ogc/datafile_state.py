"""Know each spatialized dataset's data file by its content, so that a changed file is re-read and no other.

For every spatial dataset the gate read a data file for, ``DataFileState`` keeps what identifies the file's
content: its URL, the server's ``ETag`` and ``Last-Modified`` and a sha256 of the bytes, with a fingerprint of
how it was read (media type, declared source system, settings: ``recipe``) and what the reading gave
(``outcome``: ``read``, ``no-rows``, ``failed``). Rows are written once the dataset is really published
(``ogc.layers.Layers.follow``), so a dataset held back by validation never leaves a row that speaks for a layer
it does not have; a held dataset without a published layer keeps the row of a file that gave none (``no-rows``,
``failed``), so that a harvest finds out when that file is fixed.

``DataFileCheck`` compares a file with its row: a conditional GET (``If-None-Match`` / ``If-Modified-Since``)
for http(s) URLs, the bytes' sha256 for the others (``file:`` URLs inside ``spatial.data_dir``, the demo's
files). A 304, or the same sha256 behind a new ETag, means unchanged; the body of a changed file is kept for
the publication that follows (``take``), so it is fetched once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from core.database import Database, as_database, in_lists

COLUMNS = ("dataset", "url", "etag", "last_modified", "sha256", "recipe", "outcome", "placed", "extent")


@dataclass(frozen=True)
class Fetched:
    """A data file as fetched: its bytes (None: the server answered 304 Not Modified) and its validators."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


@dataclass(frozen=True)
class DataFileRow:
    """What identifies the content of one dataset's data file, how it was read and what that gave."""

    dataset: str
    url: str
    etag: str | None
    last_modified: str | None
    sha256: str | None
    recipe: str
    outcome: str  # "read" (a layer), "no-rows" (read, nothing placed), "failed" (could not be read)
    placed: int | None = None  # features placed from it
    extent: str | None = None  # their extent as JSON [w, s, e, n] (the dataset graph's extent, to the digit)


FetchIfChanged = Callable[[str, "str | None", "str | None"], Fetched]  # (url, etag, last_modified) -> Fetched


def recipe(*parts) -> str:
    """Return the fingerprint of how a file is read (URL, media type, declared system, settings)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()[:32]


class DataFileState:
    """The rows of data files: a part of the data layer (core/database.py, part ``datafiles``: datafiles.sqlite
    in the data directory, or PostgreSQL with ``database.url``), in memory without a path."""

    def __init__(self, where: "Path | Database | None" = None) -> None:
        self._memory: dict[str, DataFileRow] | None = {} if where is None else None
        self.db = as_database(where, "datafiles") if where is not None else None

    def get(self, dataset: str) -> DataFileRow | None:
        return self.get_many([dataset]).get(dataset)

    def get_many(self, datasets: Iterable[str]) -> dict[str, DataFileRow]:
        """Return the rows of those datasets that have one (one query per 500)."""
        wanted = list(dict.fromkeys(datasets))
        if self._memory is not None:
            return {d: self._memory[d] for d in wanted if d in self._memory}
        found: dict[str, DataFileRow] = {}
        for marks, params in in_lists(wanted):
            for row in self.db.rows(f"SELECT {', '.join(COLUMNS)} FROM datafiles WHERE dataset IN ({marks})", params):
                found[row[0]] = DataFileRow(*row)
        return found

    def put(self, row: DataFileRow) -> None:
        if self._memory is not None:
            self._memory[row.dataset] = row
            return
        names = ", ".join(f":{c}" for c in COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        self.db.run(f"INSERT INTO datafiles ({', '.join(COLUMNS)}) VALUES ({names}) "
                    f"ON CONFLICT (dataset) DO UPDATE SET {updates}", {c: getattr(row, c) for c in COLUMNS})

    def drop(self, dataset: str) -> None:
        if self._memory is not None:
            self._memory.pop(dataset, None)
            return
        self.db.run("DELETE FROM datafiles WHERE dataset = :d", {"d": dataset})

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class DataFileCheck:
    """Compare data files with their rows; keep the bodies of changed files for the publication that follows."""

    def __init__(self, fetch: Callable[[str], bytes], fetch_if_changed: FetchIfChanged | None = None) -> None:
        self.fetch = fetch
        self.fetch_if_changed = fetch_if_changed
        self._fresh: dict[str, tuple[str, Fetched]] = {}  # dataset -> (url, the changed file), fetched by a check
        self._lock = threading.Lock()

    def compare(self, row: DataFileRow | None, url: str) -> tuple[bool, Fetched]:
        """Return (unchanged, what was fetched) for the file at url against its row (None: never read)."""
        known = row if row is not None and row.url == url and row.sha256 else None  # bytes read before
        if self.fetch_if_changed is not None:  # unconditional for a file never read, but with its validators
            fetched = self.fetch_if_changed(url, known.etag if known else None, known.last_modified if known else None)
        else:
            fetched = Fetched(self.fetch(url))
        if fetched.body is None:  # 304 Not Modified
            return True, Fetched(None, fetched.etag or known.etag, fetched.last_modified or known.last_modified)
        return known is not None and fetched.sha256 == known.sha256, fetched

    def keep(self, dataset: str, url: str, fetched: Fetched) -> None:
        """Keep a changed file's body for the publication of its dataset that follows the check."""
        with self._lock:
            self._fresh[dataset] = (url, fetched)

    def take(self, dataset: str, url: str) -> Fetched | None:
        """Return (and forget) the body a check kept for a dataset, when it is that of the file at url."""
        with self._lock:
            kept = self._fresh.pop(dataset, None)
        return kept[1] if kept is not None and kept[0] == url else None

    def forget(self, datasets: Iterable[str]) -> None:
        """Forget the bodies kept for datasets (their publication is over)."""
        with self._lock:
            for dataset in datasets:
                self._fresh.pop(dataset, None)

