"""Keep harvest jobs, their logs and errors, dataset hashes, change history and source state in SQLite."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from core.sqlite import rollback

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL,
  finished REAL, heartbeat REAL NOT NULL, pid INTEGER, host TEXT, retry_of INTEGER, trigger TEXT,
  new INTEGER DEFAULT 0, updated INTEGER DEFAULT 0, unchanged INTEGER DEFAULT 0, withdrawn INTEGER DEFAULT 0,
  failed INTEGER DEFAULT 0, superseded INTEGER DEFAULT 0, message TEXT DEFAULT '', held INTEGER DEFAULT 0,
  figures TEXT DEFAULT '{}');
CREATE INDEX IF NOT EXISTS jobs_source ON jobs(source, id);
CREATE TABLE IF NOT EXISTS job_errors (job INTEGER NOT NULL, origin TEXT, kind TEXT, message TEXT);
CREATE TABLE IF NOT EXISTS job_log (job INTEGER NOT NULL, at REAL NOT NULL, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
  uri TEXT PRIMARY KEY, source TEXT NOT NULL, channel TEXT, rank INTEGER, hash TEXT, state TEXT NOT NULL,
  job INTEGER, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS datasets_source ON datasets(source);
CREATE TABLE IF NOT EXISTS history (
  dataset TEXT NOT NULL, job INTEGER, source TEXT, at REAL NOT NULL, action TEXT NOT NULL, hash TEXT);
CREATE INDEX IF NOT EXISTS history_dataset ON history(dataset, at);
CREATE TABLE IF NOT EXISTS source_state (source TEXT PRIMARY KEY, state TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
  uri TEXT PRIMARY KEY, source TEXT NOT NULL, channel TEXT, rank INTEGER, hash TEXT, job INTEGER, at REAL NOT NULL);
"""
COUNTS = ("new", "updated", "unchanged", "held", "withdrawn", "failed", "superseded")
ADDED_COLUMNS = {"held": "INTEGER DEFAULT 0", "figures": "TEXT DEFAULT '{}'",  # for databases made before them
                 "boot": "TEXT"}
CHANGES = ("created", "updated", "withdrawn")


@dataclass(frozen=True)
class Job:
    """One harvest job as recorded: its counts and its figures (harvesters.figures)."""

    id: int
    source: str
    status: str            # running, succeeded, failed, interrupted
    started: float
    finished: float | None
    heartbeat: float
    pid: int | None
    retry_of: int | None
    counts: dict[str, int]
    message: str
    figures: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        """Return the job's report as plain JSON: counts, figures, duration in seconds (docs/harvesting.md)."""
        end = self.finished or time.time()
        figures = dict(self.figures)
        read = {k: figures.pop(k, 0) for k in ("records_read", "mapped")}
        published = self.counts.get("new", 0) + self.counts.get("updated", 0)
        return {"id": self.id, "source": self.source, "status": self.status, "started": self.started,
                "finished": self.finished, "duration_s": round(end - self.started, 3),
                "retry_of": self.retry_of, **read, "published": published, **self.counts,
                "changed": published + self.counts.get("withdrawn", 0), **figures, "message": self.message}


@dataclass(frozen=True)
class DatasetEntry:
    """Where a dataset last came from, its content hash and its state (published, held, withdrawn)."""

    uri: str
    source: str
    channel: str | None
    rank: int | None
    hash: str | None
    state: str


class JobStore:
    """The harvest database: safe across threads of one process and across processes (WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        with self._lock:
            self._db.executescript(SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def _run(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def _many(self, sql: str, rows: Iterable[tuple]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                rollback(self._db)
                raise

    # -- jobs --------------------------------------------------------------------------------
    def start(self, source: str, retry_of: int | None = None, trigger: str = "manual") -> int:
        """Record a new running job and return its id, with the process (host, boot, pid) running it."""
        now = time.time()
        cur = self._run("INSERT INTO jobs (source, status, started, heartbeat, pid, host, boot, retry_of, trigger) "
                        "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                        (source, now, now, os.getpid(), socket.gethostname(), boot_id(), retry_of, trigger))
        return int(cur.lastrowid)

    def heartbeat(self, job: int) -> None:
        self._run("UPDATE jobs SET heartbeat = ? WHERE id = ? AND status = 'running'", (time.time(), job))

    def finish(self, job: int, status: str, counts: dict[str, int], message: str = "",
               figures: dict | None = None) -> None:
        """Close a job with its status, counts, figures (harvesters.figures) and a one-line message."""
        sets = ", ".join(f"{k} = ?" for k in COUNTS)
        self._run(f"UPDATE jobs SET status = ?, finished = ?, heartbeat = ?, message = ?, figures = ?, {sets} "
                  "WHERE id = ?", (status, time.time(), time.time(), message,
                                   json.dumps(figures or {}, ensure_ascii=False),
                                   *(counts.get(k, 0) for k in COUNTS), job))

    def log(self, job: int, line: str) -> None:
        self._run("INSERT INTO job_log (job, at, line) VALUES (?, ?, ?)", (job, time.time(), line))

    def errors(self, job: int, errors: Iterable[tuple[str, str, str]]) -> None:
        """Record per-record errors: (origin, kind, message)."""
        self._many("INSERT INTO job_errors (job, origin, kind, message) VALUES (?, ?, ?, ?)",
                   ((job, *e) for e in errors))

    def job(self, job: int) -> Job | None:
        row = self._run(f"SELECT id, source, status, started, finished, heartbeat, pid, retry_of, "
                        f"{', '.join(COUNTS)}, message, figures FROM jobs WHERE id = ?", (job,)).fetchone()
        return _job(row) if row else None

    def jobs(self, source: str | None = None, limit: int = 50) -> list[Job]:
        """Return the latest jobs, newest first."""
        where, args = ("WHERE source = ?", (source,)) if source else ("", ())
        rows = self._run(f"SELECT id, source, status, started, finished, heartbeat, pid, retry_of, "
                         f"{', '.join(COUNTS)}, message, figures FROM jobs {where} ORDER BY id DESC LIMIT ?",
                         (*args, limit)).fetchall()
        return [_job(r) for r in rows]

    def report(self, job: int) -> dict | None:
        """Return a job's whole report: its counts and figures, and the ids of the datasets it changed."""
        found = self.job(job)
        if found is None:
            return None
        return {**found.as_json(), "changed_datasets": self.changed(job)}

    def changed(self, job: int) -> dict[str, list[str]]:
        """Return the datasets a job created, updated and withdrawn (by id), from the history."""
        out: dict[str, list[str]] = {action: [] for action in CHANGES}
        for uri, action in self._run("SELECT dataset, action FROM history WHERE job = ? ORDER BY rowid", (job,)):
            if action in out:
                out[action].append(uri.rsplit("/", 1)[-1])
        return out

    def job_log(self, job: int) -> list[str]:
        return [r[0] for r in self._run("SELECT line FROM job_log WHERE job = ? ORDER BY rowid", (job,))]

    def job_errors(self, job: int) -> list[dict]:
        rows = self._run("SELECT origin, kind, message FROM job_errors WHERE job = ? ORDER BY rowid", (job,))
        return [{"origin": o, "kind": k, "message": m} for o, k, m in rows]

    def recover(self, stale_after_s: float, source: str | None = None) -> list[Job]:
        """Mark running jobs whose process is gone or whose heartbeat is stale as interrupted; return them.

        A job's process is gone when it ran on this host and either the machine restarted since (another
        boot id) or its pid is no longer alive.
        """
        host, boot = socket.gethostname(), boot_id()
        found = []
        where, args = ("AND source = ?", (source,)) if source else ("", ())
        rows = self._run(f"SELECT id, pid, host, boot, heartbeat FROM jobs WHERE status = 'running' {where}",
                         args).fetchall()
        for job_id, pid, job_host, job_boot, heartbeat in rows:
            rebooted = job_host == host and bool(job_boot and boot) and job_boot != boot
            dead = rebooted or (job_host == host and pid is not None and not _alive(pid))
            if dead or time.time() - heartbeat > stale_after_s:
                why = ("the machine restarted" if rebooted else f"its process {pid} ended" if dead
                       else f"no heartbeat for {stale_after_s:.0f} s")
                self._run("UPDATE jobs SET status = 'interrupted', finished = ?, message = ? "
                          "WHERE id = ? AND status = 'running'",
                          (time.time(), f"interrupted: {why}; published datasets are each before or after "
                                        "the job, never between; a retry completes it", job_id))
                found.append(self.job(job_id))
        return found

    def interrupted(self, source: str) -> tuple[Job | None, int]:
        """Return the source's latest job if it was interrupted, and how many interrupted jobs in a row led to it."""
        latest = self.jobs(source, limit=1)
        if not latest or latest[0].status != "interrupted":
            return None, 0
        attempts, job = 1, latest[0]
        while job.retry_of is not None and attempts < 100:
            before = self.job(job.retry_of)
            if before is None or before.status != "interrupted":
                break
            attempts, job = attempts + 1, before
        return latest[0], attempts

    def note_message(self, job: int, message: str) -> None:
        """Replace the one-line message of a finished job (e.g. why it is not retried)."""
        self._run("UPDATE jobs SET message = ? WHERE id = ?", (message, job))

    def running(self, source: str) -> Job | None:
        """Return a running job of a source, if any."""
        return next((j for j in self.jobs(source, limit=20) if j.status == "running"), None)

    # -- datasets and history ----------------------------------------------------------------
    def entries(self, source: str | None = None) -> dict[str, DatasetEntry]:
        where, args = ("WHERE source = ?", (source,)) if source else ("", ())
        rows = self._run(f"SELECT uri, source, channel, rank, hash, state FROM datasets {where}", args)
        return {r[0]: DatasetEntry(*r) for r in rows}

    def entry(self, uri: str) -> DatasetEntry | None:
        row = self._run("SELECT uri, source, channel, rank, hash, state FROM datasets WHERE uri = ?",
                        (uri,)).fetchone()
        return DatasetEntry(*row) if row else None

    def record(self, changes: Iterable[tuple[str, str, str | None, int | None, str | None, str, str]],
               job: int | None) -> None:
        """Record dataset changes (uri, source, channel, rank, hash, state, action) and their history."""
        changes = list(changes)
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO datasets (uri, source, channel, rank, hash, state, job, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uri) DO UPDATE SET source = excluded.source, "
                    "channel = excluded.channel, rank = excluded.rank, hash = excluded.hash, "
                    "state = excluded.state, job = excluded.job, updated = excluded.updated",
                    [(u, s, c, r, h, st, job, now) for u, s, c, r, h, st, _ in changes])
                self._db.executemany(
                    "INSERT INTO history (dataset, job, source, at, action, hash) VALUES (?, ?, ?, ?, ?, ?)",
                    [(u, job, s, now, a, h) for u, s, c, r, h, st, a in changes])
                self._db.executemany("DELETE FROM intents WHERE uri = ?", [(c[0],) for c in changes])  # settled
                self._db.execute("COMMIT")
            except BaseException:
                rollback(self._db)  # also when COMMIT failed (e.g. SQLITE_FULL): the connection stays usable
                raise

    # -- publications written ahead (publish.gate): settled by record(), or at start-up from the store ----------
    def intend(self, rows: Iterable[tuple[str, str, str | None, int | None, str | None]], job: int | None) -> None:
        """Note datasets about to be stored (uri, source, channel, rank, hash), before the store is written."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO intents (uri, source, channel, rank, hash, job, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", [(*row, job, now) for row in rows])
                self._db.execute("COMMIT")
            except BaseException:
                rollback(self._db)
                raise

    def intents(self) -> list[tuple]:
        """Return the publications noted ahead and never settled: (uri, source, channel, rank, hash, job, at)."""
        return self._run("SELECT uri, source, channel, rank, hash, job, at FROM intents ORDER BY at").fetchall()

    def drop_intents(self, uris: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM intents WHERE uri = ?", [(u,) for u in uris])

    def history(self, uri: str) -> list[dict]:
        rows = self._run("SELECT job, source, at, action, hash FROM history WHERE dataset = ? ORDER BY rowid",
                         (uri,))
        return [{"job": j, "source": s, "at": a, "action": act, "hash": h} for j, s, a, act, h in rows]

    # -- source state ------------------------------------------------------------------------
    def state(self, source: str) -> dict:
        row = self._run("SELECT state FROM source_state WHERE source = ?", (source,)).fetchone()
        return json.loads(row[0]) if row else {}

    def save_state(self, source: str, state: dict) -> None:
        self._run("INSERT INTO source_state (source, state, updated) VALUES (?, ?, ?) ON CONFLICT(source) "
                  "DO UPDATE SET state = excluded.state, updated = excluded.updated",
                  (source, json.dumps(state, ensure_ascii=False), time.time()))

    def last_finished(self, source: str) -> float | None:
        row = self._run("SELECT MAX(finished) FROM jobs WHERE source = ? AND status = 'succeeded'",
                        (source,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _job(row) -> Job:
    counts = dict(zip(COUNTS, row[8:8 + len(COUNTS)]))
    return Job(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], counts, row[-2] or "",
               json.loads(row[-1] or "{}"))


def boot_id() -> str | None:
    """Return this machine's boot id (Linux), so that a pid from before a restart is never taken as alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
