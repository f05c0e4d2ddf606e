"""The data API's store: each dataset's tabular files as immutable Parquet files, queried by DuckDB in-process.

Why files and not one DuckDB database (docs/data-api.md): DuckDB lets one process write a database file, and
the platform runs a writer process beside web processes (server/web.py) and, scaled out, several machines.
So each loaded table is a Parquet file named by the digest of its source's bytes (``{sha}.parquet``), written
under a temporary name and renamed into place, never changed afterwards; each dataset's folder has a
``manifest.json`` (also written and renamed) naming its tables, their columns and types, and the files that
could not be loaded with the reason. Any process reads them with its own in-memory DuckDB, read-only; a
reload writes new files and a new manifest, and removes the files of the manifest before the previous one
(a reader holding the previous manifest still finds its files).

``load_file`` reads one data file with ``tabular.read`` (the one reader of the platform: CSV in UTF-8, GBK or
GB18030, XLSX, JSON, GeoJSON into typed columns) and writes its Parquet file; it returns plain data, so that it
can run in a sandbox worker (core.sandbox). This module uses ``core`` only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from tabular.read import ROW_COLUMN, connect, load, quote, read_table, scratch

MANIFEST = "manifest.json"
FORMAT_VERSION = 1  # part of each Parquet file's name: a new loader writes new files
_SAFE_ID = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")


@dataclass(frozen=True)
class LoadedFile:
    """What loading one data file wrote: its rows and typed columns, how it was read."""

    file: str  # the Parquet file's name in the dataset's folder
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type), without the source row number
    geometry: tuple[str, ...]  # columns holding GeoJSON geometries (read from a GeoJSON file)
    encoding: str | None
    notes: tuple[str, ...]
    bytes: int  # the Parquet file's size


def parquet_name(raw: bytes) -> str:
    """Name a table's Parquet file by its source's bytes (and the loader's version)."""
    return f"v{FORMAT_VERSION}-{hashlib.sha256(raw).hexdigest()[:32]}.parquet"


def load_file(raw: bytes, name: str, limits: Any, folder: str, *, media: str | None = None,
              max_rows: int | None = None, memory_mb: int = 256) -> LoadedFile:
    """Read a data file and write it as ``folder/{parquet_name}`` (unless that file exists: same bytes)."""
    table = read_table(raw, name, limits, media=media, max_rows=max_rows)
    target = Path(folder) / parquet_name(raw)
    geometry = tuple(c.name for c in table.columns if c.profile.kinds.get("geometry"))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    con, scratch_table = scratch(memory_mb)  # one in-memory database per process, a table of its own
    try:
        load(table, con, scratch_table)
        select = (f"SELECT {narrowed(con, scratch_table, table)} FROM {quote(scratch_table)} "
                  f"ORDER BY {quote(ROW_COLUMN)}")
        columns = tuple((n, t.replace(",", ", ")) for n, t, *_ in con.execute(f"DESCRIBE {select}").fetchall()
                        if n != ROW_COLUMN)
        if not target.exists():
            path = str(temporary).replace("'", "''")
            con.execute(f"COPY ({select}) TO '{path}' (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 100000)")
            os.replace(temporary, target)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(scratch_table)}")
        con.close()
    return LoadedFile(target.name, len(table.cells), columns, geometry, table.encoding, tuple(table.notes),
                      target.stat().st_size)


def narrowed(con, name: str, table) -> str:
    """The select list of a loaded table, each DECIMAL(38, s) column as DECIMAL(18, s) where all its values fit
    (the same numbers, stored as 64-bit integers: several times faster to read and compare)."""
    wide = [c.name for c in table.columns if c.type.startswith("DECIMAL(38")]
    fits = {}
    if wide:
        maxima = con.execute("SELECT " + ", ".join(f"max(abs({quote(c)}))" for c in wide)
                             + f" FROM {quote(name)}").fetchone()
        for column, most in zip(wide, maxima):
            scale = int(next(c for c in table.columns if c.name == column).type.split(",")[1].strip(" )"))
            if most is None or most < Decimal(10) ** (18 - scale):
                fits[column] = scale
    parts = [quote(ROW_COLUMN)]
    for c in table.columns:
        parts.append(f"CAST({quote(c.name)} AS DECIMAL(18, {fits[c.name]})) AS {quote(c.name)}"
                     if c.name in fits else quote(c.name))
    return ", ".join(parts)


@dataclass(frozen=True)
class StoredTable:
    """One loaded table of a dataset, as the manifest lists it (and /api/data/{id}/tables shows it)."""

    name: str  # the distribution's file name, unique in the dataset
    title: str
    rows: int
    bytes: int  # the source file's size, as fetched (not the Parquet file's)
    columns: tuple[tuple[str, str], ...]
    source: str  # the download URL
    loaded: str  # ISO time
    file: str
    distribution: str = ""
    lon: str | None = None  # coordinate columns (spatial tables)
    lat: str | None = None
    geometry: str | None = None  # a column of GeoJSON geometries
    encoding: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def spatial(self) -> bool:
        return bool(self.geometry or (self.lon and self.lat))

    def types(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class NotLoaded:
    """A tabular file of a dataset that could not be loaded, and why (the load's report)."""

    name: str
    source: str
    reason: str
    code: str = "unreadable"


@dataclass(frozen=True)
class Manifest:
    """A dataset's loaded tables, the files that could not be loaded, and the dataset version they follow."""

    dataset: str
    digest: str  # the dataset's digest in the store when loaded (sparql/digests.py)
    loaded: str
    tables: tuple[StoredTable, ...] = ()
    not_loaded: tuple[NotLoaded, ...] = ()
    previous: tuple[str, ...] = field(default=(), compare=False)  # files of the manifest before

    def table(self, name: str | None) -> StoredTable | None:
        if name is None:
            return self.tables[0] if self.tables else None
        return next((t for t in self.tables if t.name == name), None)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> "Manifest":
        tables = tuple(StoredTable(**{**t, "columns": tuple(tuple(c) for c in t["columns"]),
                                      "notes": tuple(t.get("notes", ()))}) for t in doc.get("tables", ()))
        return cls(doc["dataset"], doc["digest"], doc["loaded"], tables,
                   tuple(NotLoaded(**n) for n in doc.get("not_loaded", ())), tuple(doc.get("previous", ())))


class DataStore:
    """The folder of loaded tables (settings ``data_api.path``): manifests and Parquet files, per dataset."""

    def __init__(self, root: Path, *, memory_mb: int = 256, threads: int = 2, cache_mb: int = 0) -> None:
        self.root = Path(root)
        self.memory_mb, self.threads = memory_mb, threads
        self.cache_bytes = cache_mb << 20
        self._cached: OrderedDict[str, int] = OrderedDict()  # cache table -> its estimated bytes, oldest use first
        self._filling: dict[str, threading.Lock] = {}
        self._con = None
        self._lock = threading.Lock()

    def folder(self, dataset_id: str) -> Path:
        if not _SAFE_ID.match(dataset_id) or dataset_id in (".", ".."):
            raise ValueError(f"not a dataset identifier: {dataset_id!r}")
        return self.root / dataset_id

    def manifest(self, dataset_id: str) -> Manifest | None:
        """Return a dataset's manifest, or None when it was never loaded."""
        try:
            doc = json.loads((self.folder(dataset_id) / MANIFEST).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return Manifest.from_json(doc)

    def loaded(self, dataset_id: str) -> bool:
        """Tell whether a dataset has a manifest (its tables were loaded, or tried), without reading it."""
        if not _SAFE_ID.match(dataset_id) or dataset_id in (".", ".."):
            return False
        return os.path.isfile(os.path.join(self.root, dataset_id, MANIFEST))  # (no Path: called per dataset)

    def loaded_ids(self) -> set[str]:
        """The datasets that have a manifest (one look at the folder, then one per dataset found there)."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return set()
        return {name for name in names if not name.startswith(".") and self.loaded(name)}

    def manifests(self) -> Iterator[Manifest]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and not folder.name.startswith("."):
                found = self.manifest(folder.name)
                if found is not None:
                    yield found

    def put(self, manifest: Manifest) -> None:
        """Write a dataset's new manifest (temporary name, then rename); drop files no manifest kept needs."""
        folder = self.folder(manifest.dataset)
        folder.mkdir(parents=True, exist_ok=True)
        old = self.manifest(manifest.dataset)
        previous = tuple(t.file for t in old.tables) if old is not None else ()
        doc = {**manifest.as_json(), "previous": list(previous)}
        temporary = folder / f".{MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
        os.replace(temporary, folder / MANIFEST)
        keep = {t.file for t in manifest.tables} | set(previous)
        for path in folder.glob("*.parquet"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def drop(self, dataset_id: str) -> None:
        """Forget a withdrawn dataset's tables (a reader in the middle of a query keeps its open files)."""
        shutil.rmtree(self.folder(dataset_id), ignore_errors=True)

    def path_of(self, dataset_id: str, table: StoredTable) -> str:
        return str(self.folder(dataset_id) / table.file)

    def cursor(self):
        """Return a cursor on this process's in-memory DuckDB database (read-only use of the Parquet files)."""
        with self._lock:
            if self._con is None:
                self._con = connect(memory_mb=self.memory_mb + (self.cache_bytes >> 20), threads=self.threads)
            return self._con.cursor()

    def relation(self, dataset_id: str, table: StoredTable) -> tuple[str, list]:
        """The SQL to read a table from, with its parameters: the process's in-memory copy of the Parquet file
        (made at first use, least recently used dropped past settings data_api.cache_mb; a file never changes,
        so a copy is never stale), or the file itself when it does not fit."""
        path = self.path_of(dataset_id, table)
        size = table.rows * (len(table.columns) + 1) * 12
        if size > self.cache_bytes:
            return "read_parquet(?)", [path]
        name = "cache_" + re.sub(r"[^0-9a-z]", "_", table.file.lower())
        with self._lock:
            if name in self._cached:
                self._cached.move_to_end(name)
                return quote(name), []
            filling = self._filling.setdefault(name, threading.Lock())
        with filling:  # one thread copies a file; the others wait for it
            with self._lock:
                if name in self._cached:
                    return quote(name), []
            cursor = self.cursor()
            try:
                cursor.execute(f"CREATE OR REPLACE TABLE {quote(name)} AS SELECT * FROM read_parquet(?)", [path])
                with self._lock:
                    self._cached[name] = size
                    while sum(self._cached.values()) > self.cache_bytes and len(self._cached) > 1:
                        old, _ = self._cached.popitem(last=False)
                        cursor.execute(f"DROP TABLE IF EXISTS {quote(old)}")
            finally:
                cursor.close()
        return quote(name), []

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
