"""Keep harvest jobs, their logs and errors, dataset hashes, change history and source state (core.database)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import text

from core.database import Database, as_database, in_lists

COUNTS = ("new", "updated", "unchanged", "held", "withdrawn", "failed", "superseded")
CHANGES = ("created", "updated", "withdrawn")
JOB_COLUMNS = ("id, source, status, started, finished, heartbeat, pid, retry_of, " + ", ".join(COUNTS)
               + ", message, figures")


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
    """The harvest database: safe across threads of one process and across processes (WAL, or PostgreSQL)."""

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "harvest")
        self.path = self.db.path
        self._lock = threading.RLock()

    def _run(self, sql: str, args: dict | None = None) -> list:
        """Run one statement in its own transaction; return its rows (empty when it has none)."""
        with self._lock:
            return self.db.run(sql, args) or []

    def _many(self, statements: list[tuple[str, list[dict]]]) -> None:
        """Run statements over many rows, all in one transaction."""
        with self._lock, self.db.write() as conn:
            for sql, rows in statements:
                if rows:
                    conn.execute(text(sql), rows)

    # -- jobs --------------------------------------------------------------------------------
    def start(self, source: str, retry_of: int | None = None, trigger: str = "manual") -> int:
        """Record a new running job and return its id, with the process (host, boot, pid) running it."""
        now = time.time()
        rows = self._run("INSERT INTO harvest_jobs (source, status, started, heartbeat, pid, host, boot, retry_of, "
                         "trigger) VALUES (:source, 'running', :now, :now, :pid, :host, :boot, :retry_of, :trigger) "
                         "RETURNING id", {"source": source, "now": now, "pid": os.getpid(),
                                          "host": socket.gethostname(), "boot": boot_id(), "retry_of": retry_of,
                                          "trigger": trigger})
        return int(rows[0][0])

    def heartbeat(self, job: int) -> None:
        self._run("UPDATE harvest_jobs SET heartbeat = :now WHERE id = :job AND status = 'running'",
                  {"now": time.time(), "job": job})

    def finish(self, job: int, status: str, counts: dict[str, int], message: str = "",
               figures: dict | None = None) -> None:
        """Close a job with its status, counts, figures (harvesters.figures) and a one-line message."""
        sets = ", ".join(f"{k} = :{k}" for k in COUNTS)
        self._run(f"UPDATE harvest_jobs SET status = :status, finished = :now, heartbeat = :now, message = :message, "
                  f"figures = :figures, {sets} WHERE id = :job",
                  {"status": status, "now": time.time(), "message": message, "job": job,
                   "figures": json.dumps(figures or {}, ensure_ascii=False), **{k: counts.get(k, 0) for k in COUNTS}})

    def log(self, job: int, line: str) -> None:
        self._run("INSERT INTO harvest_job_log (job, at, line) VALUES (:job, :at, :line)",
                  {"job": job, "at": time.time(), "line": line})

    def errors(self, job: int, errors: Iterable[tuple[str, str, str]]) -> None:
        """Record per-record errors: (origin, kind, message)."""
        self._many([("INSERT INTO harvest_job_errors (job, origin, kind, message) VALUES (:job, :o, :k, :m)",
                     [{"job": job, "o": o, "k": k, "m": m} for o, k, m in errors])])

    def job(self, job: int) -> Job | None:
        rows = self._run(f"SELECT {JOB_COLUMNS} FROM harvest_jobs WHERE id = :job", {"job": job})
        return _job(rows[0]) if rows else None

    def jobs(self, source: str | None = None, limit: int = 50) -> list[Job]:
        """Return the latest jobs, newest first."""
        where = "WHERE source = :source" if source else ""
        rows = self._run(f"SELECT {JOB_COLUMNS} FROM harvest_jobs {where} ORDER BY id DESC LIMIT :limit",
                         {"source": source, "limit": limit})
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
        for uri, action in self._run("SELECT dataset, action FROM harvest_history WHERE job = :job ORDER BY n",
                                     {"job": job}):
            if action in out:
                out[action].append(uri.rsplit("/", 1)[-1])
        return out

    def job_log(self, job: int) -> list[str]:
        return [r[0] for r in self._run("SELECT line FROM harvest_job_log WHERE job = :job ORDER BY n", {"job": job})]

    def job_errors(self, job: int) -> list[dict]:
        rows = self._run("SELECT origin, kind, message FROM harvest_job_errors WHERE job = :job ORDER BY n",
                         {"job": job})
        return [{"origin": o, "kind": k, "message": m} for o, k, m in rows]

    def recover(self, stale_after_s: float, source: str | None = None) -> list[Job]:
        """Mark running jobs whose process is gone or whose heartbeat is stale as interrupted; return them.

        A job's process is gone when it ran on this host and either the machine restarted since (another
        boot id) or its pid is no longer alive.
        """
        host, boot = socket.gethostname(), boot_id()
        found = []
        where = "AND source = :source" if source else ""
        rows = self._run(f"SELECT id, pid, host, boot, heartbeat FROM harvest_jobs WHERE status = 'running' {where}",
                         {"source": source})
        for job_id, pid, job_host, job_boot, heartbeat in rows:
            rebooted = job_host == host and bool(job_boot and boot) and job_boot != boot
            dead = rebooted or (job_host == host and pid is not None and not _alive(pid))
            if dead or time.time() - heartbeat > stale_after_s:
                why = ("the machine restarted" if rebooted else f"its process {pid} ended" if dead
                       else f"no heartbeat for {stale_after_s:.0f} s")
                self._run("UPDATE harvest_jobs SET status = 'interrupted', finished = :now, message = :message "
                          "WHERE id = :job AND status = 'running'",
                          {"now": time.time(), "job": job_id,
                           "message": f"interrupted: {why}; published datasets are each before or after "
                                      "the job, never between; a retry completes it"})
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
        self._run("UPDATE harvest_jobs SET message = :message WHERE id = :job", {"message": message, "job": job})

    def running(self, source: str) -> Job | None:
        """Return a running job of a source, if any."""
        return next((j for j in self.jobs(source, limit=20) if j.status == "running"), None)

    # -- datasets and history ----------------------------------------------------------------
    def entries(self, source: str | None = None) -> dict[str, DatasetEntry]:
        where = "WHERE source = :source" if source else ""
        rows = self._run(f"SELECT uri, source, channel, rank, hash, state FROM harvest_datasets {where}",
                         {"source": source})
        return {r[0]: DatasetEntry(*r) for r in rows}

    def entry(self, uri: str) -> DatasetEntry | None:
        return self.entries_of([uri]).get(uri)

    def entries_of(self, uris: Sequence[str]) -> dict[str, DatasetEntry]:
        """Return the ledger's entries of those datasets that have one (one query per 500)."""
        found = {}
        for marks, params in in_lists(list(dict.fromkeys(uris))):
            for row in self._run(f"SELECT uri, source, channel, rank, hash, state FROM harvest_datasets "
                                 f"WHERE uri IN ({marks})", params):
                found[row[0]] = DatasetEntry(*row)
        return found

    def record(self, changes: Iterable[tuple[str, str, str | None, int | None, str | None, str, str]],
               job: int | None) -> None:
        """Record dataset changes (uri, source, channel, rank, hash, state, action) and their history."""
        changes = list(changes)
        now = time.time()
        self._many([  # one transaction: if COMMIT fails (e.g. a full disk) nothing is recorded
            ("INSERT INTO harvest_datasets (uri, source, channel, rank, hash, state, job, updated) "
             "VALUES (:u, :s, :c, :r, :h, :st, :job, :now) ON CONFLICT(uri) DO UPDATE SET source = excluded.source, "
             "channel = excluded.channel, rank = excluded.rank, hash = excluded.hash, "
             "state = excluded.state, job = excluded.job, updated = excluded.updated",
             [{"u": u, "s": s, "c": c, "r": r, "h": h, "st": st, "job": job, "now": now}
              for u, s, c, r, h, st, _ in changes]),
            ("INSERT INTO harvest_history (dataset, job, source, at, action, hash) "
             "VALUES (:u, :job, :s, :now, :a, :h)",
             [{"u": u, "job": job, "s": s, "now": now, "a": a, "h": h} for u, s, c, r, h, st, a in changes]),
            ("DELETE FROM harvest_intents WHERE uri = :u", [{"u": c[0]} for c in changes]),  # settled
        ])

    # -- publications written ahead (publish.gate): settled by record(), or at start-up from the store ----------
    def intend(self, rows: Iterable[tuple[str, str, str | None, int | None, str | None]], job: int | None) -> None:
        """Note datasets about to be stored (uri, source, channel, rank, hash), before the store is written."""
        now = time.time()
        self._many([("INSERT INTO harvest_intents (uri, source, channel, rank, hash, job, at) "
                     "VALUES (:u, :s, :c, :r, :h, :job, :now) ON CONFLICT(uri) DO UPDATE SET "
                     "source = excluded.source, channel = excluded.channel, rank = excluded.rank, "
                     "hash = excluded.hash, job = excluded.job, at = excluded.at",
                     [{"u": u, "s": s, "c": c, "r": r, "h": h, "job": job, "now": now} for u, s, c, r, h in rows])])

    def intents(self) -> list[tuple]:
        """Return the publications noted ahead and never settled: (uri, source, channel, rank, hash, job, at)."""
        rows = self._run("SELECT uri, source, channel, rank, hash, job, at FROM harvest_intents ORDER BY at")
        return [tuple(r) for r in rows]

    def drop_intents(self, uris: Iterable[str]) -> None:
        self._many([("DELETE FROM harvest_intents WHERE uri = :u", [{"u": u} for u in uris])])

    def history(self, uri: str) -> list[dict]:
        rows = self._run("SELECT job, source, at, action, hash FROM harvest_history WHERE dataset = :uri ORDER BY n",
                         {"uri": uri})
        return [{"job": j, "source": s, "at": a, "action": act, "hash": h} for j, s, a, act, h in rows]

    # -- source state ------------------------------------------------------------------------
    def state(self, source: str) -> dict:
        rows = self._run("SELECT state FROM harvest_source_state WHERE source = :source", {"source": source})
        return json.loads(rows[0][0]) if rows else {}

    def save_state(self, source: str, state: dict) -> None:
        self._run("INSERT INTO harvest_source_state (source, state, updated) VALUES (:source, :state, :now) "
                  "ON CONFLICT(source) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                  {"source": source, "state": json.dumps(state, ensure_ascii=False), "now": time.time()})

    def last_finished(self, source: str) -> float | None:
        rows = self._run("SELECT MAX(finished) FROM harvest_jobs WHERE source = :source AND status = 'succeeded'",
                         {"source": source})
        return rows[0][0] if rows else None

    def close(self) -> None:
        with self._lock:
            self.db.close()


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
