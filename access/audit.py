"""Keep the staff audit log: append-only, hash-chained, anchored, verifiable (GB/T 22239 level 3, issue 12).

Each entry holds its sequence number, its time (UTC), who acted (an account id, or none for the system and the
command line), their role, the action, its target, the client's address, the target's digests before and after,
a JSON detail, the previous entry's hash and its own: ``sha256`` over the canonical JSON of every other field
(``canonical``). Changing an entry changes its hash; removing or reordering entries breaks the chain of previous
hashes or the run of sequence numbers; removing the newest entries is seen against the *anchor*, the head's
sequence number and hash written to a private file after every append (``Anchor``). ``verify`` walks the whole
log and names the first bad entry.

Appends are serialized so that the chain never forks, whichever process appends: one write transaction per
append that reads the head and inserts after it (``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock
on PostgreSQL: ``Database.write(serial=True)``); ``seq`` is the primary key besides. The table refuses UPDATE and
DELETE by a trigger (core/migrations/versions/audit_0001.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import text

from core.database import Database, as_database
from core.private import create_private, write_private

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # the previous hash of the first entry
FIELDS = ("seq", "at", "actor", "role", "action", "target", "address", "before", "after", "detail", "prev_hash")
COLUMNS = FIELDS + ("hash",)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_log"


def canonical(value) -> str:
    """Write a value as canonical JSON: keys sorted, no spaces, UTF-8 as is, no NaN."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def now_utc() -> str:
    """Return the time now in UTC as the log writes it (fixed width, so text order is time order)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    """One entry of the audit log."""

    seq: int
    at: str
    actor: str | None
    role: str | None
    action: str
    target: str
    address: str | None
    before: str | None
    after: str | None
    detail: dict | None
    prev_hash: str
    hash: str

    def body(self) -> dict:
        """Return every field the hash covers (all but the hash)."""
        return {name: getattr(self, name) for name in FIELDS}

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical(self.body()).encode("utf-8")).hexdigest()

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Entry":
        return cls(**{name: data.get(name) for name in COLUMNS})

    @classmethod
    def from_row(cls, row) -> "Entry":
        values = dict(zip(COLUMNS, row))
        values["seq"] = int(values["seq"])
        values["detail"] = json.loads(values["detail"]) if values["detail"] is not None else None
        return cls(**values)


def make_entry(seq: int, prev_hash: str, *, at: str, actor, role, action: str, target: str, address,
               before=None, after=None, detail: dict | None = None) -> Entry:
    """Make the entry that follows prev_hash, its hash computed."""
    if detail is not None:
        # as it reads back: keys as strings, tuples as lists (unsorted first: keys may be of mixed types)
        detail = json.loads(json.dumps(detail, ensure_ascii=False, allow_nan=False, default=str))
    body = {"seq": seq, "at": at, "actor": _text(actor), "role": _text(role), "action": str(action),
            "target": str(target), "address": _text(address), "before": _text(before), "after": _text(after),
            "detail": detail, "prev_hash": prev_hash}
    digest = hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()
    return Entry(**body, hash=digest)


def _text(value) -> str | None:
    """An optional field: none for None or an empty text (a CSV export could not tell them apart)."""
    return None if value is None or value == "" else str(value)


class Anchor:
    """The head of the log (sequence number and hash) written to a private file after each append.

    The file only moves forward (a lock file orders the processes of one home); ``verify`` checks that the log
    still holds the anchored entry with its hash, so that removing the newest entries is seen too.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return None

    def advance(self, entry: Entry) -> None:
        lock = create_private(self.path.with_name(self.path.name + ".lock"))
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held = self.read()
            if held is not None and int(held.get("seq", 0)) >= entry.seq:
                return
            data = {"seq": entry.seq, "hash": entry.hash, "at": entry.at}
            write_private(self.path, canonical(data).encode("utf-8"))


class AuditLog:
    """The audit log on the data layer (part ``audit``), with its anchor file when it has one."""

    def __init__(self, db: Database, anchor: Path | None = None) -> None:
        self.db = db
        self.anchor = Anchor(anchor) if anchor is not None else None

    @classmethod
    def open(cls, where, anchor: Path | None = None) -> "AuditLog":
        """Open a log on a Database, or on an embedded SQLite file at a path (tests, tools)."""
        return cls(as_database(where, "audit"), anchor)

    def record(self, *, actor: str | None, role: str | None, action: str, target: str, address: str | None,
               before: str | None = None, after: str | None = None, detail: dict | None = None) -> Entry:
        """Append one entry after the head, in one serialized transaction; return it."""
        with self.db.write(serial=True) as conn:
            entry = self._append(conn, actor=actor, role=role, action=action, target=target, address=address,
                                 before=before, after=after, detail=detail)
        self._anchor(entry)
        return entry

    def _append(self, conn, **fields) -> Entry:
        """Insert the entry after the head inside the caller's serialized write transaction."""
        head = conn.execute(text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")).fetchone()
        seq, prev = (int(head[0]) + 1, head[1]) if head else (1, GENESIS)
        entry = make_entry(seq, prev, at=now_utc(), **fields)
        row = entry.as_json()
        row["detail"] = canonical(entry.detail) if entry.detail is not None else None
        conn.execute(text(f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES "
                          f"({', '.join(':' + c for c in COLUMNS)})"), row)
        return entry

    def _anchor(self, entry: Entry) -> None:
        if self.anchor is None:
            return
        try:
            self.anchor.advance(entry)
        except OSError as exc:  # the entry stands; verify says the anchor is behind, never wrong
            log.error("audit log: the anchor %s could not be written: %s", self.anchor.path, exc)

    def record_if_changed(self, key: str, digest: str, *, action: str, target: str, detail: dict | None = None,
                          actor=None, role=None, address=None) -> Entry | None:
        """Append an entry when a digest kept under key differs from the one kept (or none was): e.g. the
        effective settings at each start. Compared and appended in one serialized transaction."""
        with self.db.write(serial=True) as conn:
            held = conn.execute(text("SELECT value FROM audit_state WHERE key = :key"), {"key": key}).fetchone()
            before = held[0] if held else None
            if before == digest:
                return None
            entry = self._append(conn, actor=actor, role=role, action=action, target=target, address=address,
                                 before=before, after=digest, detail=detail)
            if held:
                conn.execute(text("UPDATE audit_state SET value = :v WHERE key = :key"), {"key": key, "v": digest})
            else:
                conn.execute(text("INSERT INTO audit_state (key, value) VALUES (:key, :v)"),
                             {"key": key, "v": digest})
        self._anchor(entry)
        return entry

    def state(self, key: str) -> str | None:
        rows = self.db.rows("SELECT value FROM audit_state WHERE key = :key", {"key": key})
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute(text("DELETE FROM audit_state WHERE key = :key"), {"key": key})
            conn.execute(text("INSERT INTO audit_state (key, value) VALUES (:key, :v)"), {"key": key, "v": value})

    # -- reading -------------------------------------------------------------------------------------------
    def entries(self, *, since: str | None = None, until: str | None = None, actor: str | None = None,
                action: str | None = None, before_seq: int | None = None, limit: int | None = None,
                newest_first: bool = False) -> Iterator[Entry]:
        """Yield entries in sequence order (or newest first), filtered: since ≤ at < until (UTC, the log's
        text form), an actor's id, an action (exact, or a prefix ending with '.': ``dataset.``)."""
        where, params = [], {}
        if since:
            where.append("at >= :since")
            params["since"] = since
        if until:
            where.append("at < :until")
            params["until"] = until
        if actor:
            where.append("actor = :actor")
            params["actor"] = actor
        if action:
            if action.endswith("."):
                where.append("substr(action, 1, :n) = :action")
                params["n"] = len(action)
            else:
                where.append("action = :action")
            params["action"] = action
        order = "DESC" if newest_first else "ASC"
        yield from self._pages(where, params, order, before_seq, limit)

    def _pages(self, where: list, params: dict, order: str, before_seq, limit, page: int = 1000):
        mark, given = before_seq, 0
        while True:
            clauses = list(where)
            if mark is not None:
                clauses.append("seq < :mark" if order == "DESC" else "seq > :mark")
            size = page if limit is None else min(page, limit - given)
            if size <= 0:
                return
            sql = (_SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "")
                   + f" ORDER BY seq {order} LIMIT {int(size)}")
            rows = self.db.rows(sql, params if mark is None else {**params, "mark": mark})
            for row in rows:
                yield Entry.from_row(row)
            given += len(rows)
            if len(rows) < size:
                return
            mark = int(rows[-1][0])

    def head(self) -> tuple[int, str]:
        """Return the newest entry's sequence number and hash ((0, GENESIS) for an empty log)."""
        rows = self.db.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS)

    def count(self) -> int:
        return int(self.db.rows("SELECT COUNT(*) FROM audit_log")[0][0])

    def close(self) -> None:
        self.db.close()


def record(db_or_log, *, actor: str | None, role: str | None, action: str, target: str, address: str | None,
           before: str | None = None, after: str | None = None, detail: dict | None = None) -> Entry:
    """Append an entry to a log (an AuditLog, or a Database of the ``audit`` part)."""
    audit_log = db_or_log if isinstance(db_or_log, AuditLog) else AuditLog(db_or_log)
    return audit_log.record(actor=actor, role=role, action=action, target=target, address=address,
                            before=before, after=after, detail=detail)


# -- verification ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # edited, missing, out-of-chain, truncated, anchor-mismatch
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """What verify found: entries checked, the head, and the problems (the first names the first bad entry)."""

    entries: int
    head_seq: int
    head_hash: str
    anchor: dict | None = None
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    complete: bool = True  # False: the walk stopped after `most` problems (entries and head are where it stopped)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        return min(p.seq for p in self.problems) if self.problems else None

    def as_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "anchor": self.anchor, "first_bad": self.first_bad, "complete": self.complete,
                "problems": [asdict(p) for p in self.problems]}


def verify(audit_log: AuditLog, *, most: int = 100) -> VerifyReport:
    """Walk the whole log: each hash, each link to the previous entry, the run of numbers, the anchor."""
    anchor = audit_log.anchor.read() if audit_log.anchor is not None else None
    return verify_entries(audit_log.entries(), anchor=anchor, most=most)


def verify_entries(entries: Iterable[Entry], *, anchor: dict | None = None, most: int = 100) -> VerifyReport:
    """Verify entries in sequence order (from the log, or read back from a full JSON Lines export)."""
    problems: list[Problem] = []
    expected_seq, prev_hash, count, anchored = 1, GENESIS, 0, None
    head_seq, head_hash = 0, GENESIS
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            gap = (f"entries {expected_seq}–{entry.seq - 1} are missing" if entry.seq > expected_seq + 1
                   else f"entry {expected_seq} is missing")
            problems.append(Problem(expected_seq, "missing", f"{gap} (the log goes from "
                                                             f"{expected_seq - 1} to {entry.seq})"))
        elif entry.prev_hash != prev_hash:
            problems.append(Problem(entry.seq, "out-of-chain",
                                    f"entry {entry.seq} does not follow entry {entry.seq - 1} (its previous-entry "
                                    "hash differs): an entry before it was removed, replaced or moved"))
        if entry.computed_hash() != entry.hash:
            problems.append(Problem(entry.seq, "edited", f"entry {entry.seq} was changed: its hash does not "
                                                         "match its content"))
        if anchor is not None and entry.seq == int(anchor.get("seq", -1)):
            anchored = entry
        expected_seq, prev_hash = entry.seq + 1, entry.hash
        head_seq, head_hash = entry.seq, entry.hash
        if len(problems) >= most:  # enough to name the first bad entry; the walk (and the anchor check) stops
            return VerifyReport(count, head_seq, head_hash, anchor, tuple(problems), complete=False)
    problems += _anchor_problems(anchor, anchored, head_seq)
    return VerifyReport(count, head_seq, head_hash, anchor, tuple(problems))


def _anchor_problems(anchor: dict | None, anchored: Entry | None, head_seq: int) -> list[Problem]:
    if anchor is None:
        return []
    seq = int(anchor.get("seq", 0))
    if seq > head_seq:
        return [Problem(head_seq + 1, "truncated",
                        f"the log ends at entry {head_seq}, but the anchor of {anchor.get('at')} names entry {seq}: "
                        f"entries {head_seq + 1}–{seq} were removed from its end")]
    if anchored is not None and anchored.hash != anchor.get("hash"):
        return [Problem(seq, "anchor-mismatch", f"entry {seq} is not the one anchored at {anchor.get('at')} "
                                                "(its hash differs from the anchor's): the log was rewritten")]
    return []
