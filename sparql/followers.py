"""The contract of derived indexes: follow the store's publish events, verify them by content at start-up.

A derived index (the portal's search index, the change log, OGC API Records, the CSW repository, the layers)
is rebuilt from the store and never edited by hand. ``Platform.open`` subscribes every follower to the store
and, at start-up, checks each one by content: every index remembers the digest of each dataset version it
followed (``FollowedDigests``, or the index's own table, ``Follower.digests``), which is compared with the
store's digests (sparql/digests.py); datasets that differ (stale), that the index lacks (missing) or that the
store no longer has (extra) are followed again (``Follower.repair``). An index that is behind in a way a
per-dataset repair cannot mend (``in_step_with`` false: e.g. the vocabulary changed) catches up whole first.
So a new index is a new class, not new wiring.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from core.sqlite import rollback

log = logging.getLogger(__name__)


class Follower:
    """A derived index of the store; ``follow`` is required, the rest have defaults."""

    keeps_digests = False  # True: ``digests`` reads the index's own table; else the platform notes them
    # True: follows inside the store's turn of a publication, before the next write (the change log, whose
    # rows follow the generations in order); False: in the indexes' turn, in generation order too, but beside
    # the next publication's write (sparql/shared.py)
    in_turn = False

    def follow(self, store, event) -> None:
        """Apply one publish event (sparql.store.PublishEvent: datasets put, created, removed)."""
        raise NotImplementedError

    def in_step_with(self, store) -> bool:
        """Tell whether the index already reflects the store (an index with no memory of its own always is)."""
        return True

    def catch_up(self, store) -> None:
        """Bring the index level with the store after events it missed (a crash, a write by another process)."""
        self.rebuild(store)

    def rebuild(self, store) -> None:
        """Build the index again from the whole store."""

    def graphs_changed(self, store) -> None:
        """A graph that is not a dataset changed (vocabulary, catalogue description; server/catalogue.py install):
        an index found in step at start-up takes the store's new generation (and what it reads of those graphs),
        so that the next start does not take it as behind. None of ours by default."""

    def skipped(self) -> dict[str, str]:
        """Return the datasets the index had to leave out (identifier -> reason); none by default."""
        return {}

    def digests(self) -> dict[str, str] | None:
        """Return the digest of each dataset as this index holds it, when the index keeps them itself.

        None (the default, ``keeps_digests`` false): the platform keeps them for it (``FollowedDigests``),
        noted after each event. An index that writes asynchronously (the CSW repository) keeps its own, in the
        transaction of its rows.
        """
        return None

    def adopt(self, digests: Mapping[str, str]) -> None:
        """Take the store's digests as its own (an index that keeps digests, made before they were kept)."""

    def repair(self, store, put: Mapping[str, str], created: list[str], removed: list[str]) -> None:
        """Follow again the datasets that differ from the store (put: uri → the store's digest, read from it)
        and drop those it no longer has."""
        from sparql.store import PublishEvent

        self.follow(store, PublishEvent(store.generation, put=tuple(put), created=tuple(created),
                                        removed=tuple(removed), reason="repair", digests=dict(put)))


def follower_name(follower) -> str:
    return type(follower).__name__


class FollowedDigests:
    """The digests of the dataset versions each follower has applied (SQLite, beside the indexes).

    Noted only after a follower's ``follow`` returned: a process killed in between leaves the older
    digest here, so the next start-up follows that dataset again (harmless), never the reverse.
    """

    SCHEMA = """CREATE TABLE IF NOT EXISTS followed(follower TEXT NOT NULL, uri TEXT NOT NULL, digest TEXT NOT NULL,
      PRIMARY KEY(follower, uri)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS started(follower TEXT PRIMARY KEY);"""

    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False,
                                   timeout=30, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self.SCHEMA)
        self._lock = threading.Lock()

    def _transaction(self, statements: Iterable[tuple[str, Iterable[tuple]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                rollback(self._db)  # also after a failed COMMIT (a full disk): the connection stays usable
                raise

    def known(self, name: str) -> bool:
        """Tell whether digests were ever noted for this follower (an index older than digests has none)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM started WHERE follower = ?", (name,)).fetchone() is not None

    def read(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT uri, digest FROM followed WHERE follower = ?", (name,)))

    def note(self, name: str, put: Mapping[str, str], removed: Iterable[str] = ()) -> None:
        """Note the digests of datasets a follower applied, and forget those it removed."""
        self._transaction([
            ("INSERT OR REPLACE INTO followed VALUES (?, ?, ?)", ((name, u, d) for u, d in put.items())),
            ("DELETE FROM followed WHERE follower = ? AND uri = ?", ((name, u) for u in removed)),
            ("INSERT OR IGNORE INTO started VALUES (?)", ((name,),)),
        ])

    def note_many(self, notes: Iterable[tuple[str, Mapping[str, str], Iterable[str]]]) -> None:
        """Note several followers' (name, put digests, removed) in one transaction."""
        statements = []
        for name, put, removed in notes:
            statements += [
                ("INSERT OR REPLACE INTO followed VALUES (?, ?, ?)", [(name, u, d) for u, d in put.items()]),
                ("DELETE FROM followed WHERE follower = ? AND uri = ?", [(name, u) for u in removed]),
                ("INSERT OR IGNORE INTO started VALUES (?)", [(name,)]),
            ]
        if statements:
            self._transaction(statements)

    def forget(self, name: str, uris: Iterable[str]) -> None:
        """Forget datasets a follower failed to apply, so that the next start-up follows them again."""
        self._transaction([("DELETE FROM followed WHERE follower = ? AND uri = ?", ((name, u) for u in uris))])

    def replace(self, name: str, digests: Mapping[str, str]) -> None:
        """Note that a follower now holds exactly these digests (after a rebuild)."""
        self._transaction([
            ("DELETE FROM followed WHERE follower = ?", ((name,),)),
            ("INSERT INTO followed VALUES (?, ?, ?)", ((name, u, d) for u, d in digests.items())),
            ("INSERT OR IGNORE INTO started VALUES (?)", ((name,),)),
        ])

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class Verification:
    """What the start-up check found for one follower, and what it did."""

    follower: str
    caught_up: bool = False  # behind as a whole: rebuilt or reconciled
    stale: int = 0
    missing: int = 0
    extra: int = 0
    adopted: bool = False  # an index made before digests were kept, in step by its own check: digests adopted
    failed: bool = False  # the check itself failed (logged); the platform serves and checks again next start
    queued: int = 0  # datasets handed (again) to a follower that works in the background: its queue resumed

    @property
    def repaired(self) -> int:
        return self.stale + self.missing + self.extra


def verify_follower(follower, store, ledger: FollowedDigests, wanted: Mapping[str, str]) -> Verification:
    """Check one follower against the store's digests; catch it up or repair what differs."""
    name = follower_name(follower)
    if not follower.in_step_with(store):
        follower.catch_up(store)
        if not follower.keeps_digests:
            ledger.replace(name, wanted)
        return Verification(name, caught_up=True)
    held = follower.digests() if follower.keeps_digests else None
    if held == {} and wanted:  # made before digests were kept, and in step by its own check
        follower.adopt(wanted)
        return Verification(name, adopted=True)
    if held is None:
        if not ledger.known(name):
            ledger.replace(name, wanted)
            return Verification(name, adopted=True)
        held = ledger.read(name)
    if held == wanted:  # the usual start: nothing differs (one comparison in C, not three passes in Python)
        return Verification(name)
    stale = sorted(u for u, d in wanted.items() if u in held and held[u] != d)
    missing = sorted(u for u in wanted if u not in held)
    extra = sorted(u for u in held if u not in wanted)
    if stale or missing or extra:
        follower.repair(store, {u: wanted[u] for u in stale + missing}, missing, extra)
        if not follower.keeps_digests:
            ledger.note(name, {u: wanted[u] for u in stale + missing}, extra)
    if getattr(follower, "works_in_background", False):
        # its work (the data API's loads) goes on after a stop where it was left: the datasets it has not done
        # yet are queued again, which is no divergence to repair
        return Verification(name, extra=len(extra), queued=len(stale) + len(missing))
    return Verification(name, stale=len(stale), missing=len(missing), extra=len(extra))


def catch_up_all(followers, store, ledger: FollowedDigests | None = None) -> list[Verification]:
    """Verify every follower against the store by content; return what was found and repaired, per follower."""
    ledger = ledger or FollowedDigests(None)
    wanted = store.digests()
    out = []
    for follower in followers:
        try:
            result = verify_follower(follower, store, ledger, wanted)
        except Exception as exc:  # start-up never fails on one index: it serves, and says what is behind
            log.exception("%s could not be checked against the store (%s: %s); serving without it being "
                          "verified, it is checked again at the next start", follower_name(follower),
                          type(exc).__name__, str(exc)[:300])
            if not follower.keeps_digests:
                ledger.replace(follower_name(follower), {})  # all missing: the next start follows every dataset
            out.append(Verification(follower_name(follower), failed=True))
            continue
        if result.caught_up:
            log.info("%s caught up with the store", result.follower)
        elif result.repaired:
            log.warning("%s differed from the store: %d stale, %d missing, %d extra datasets repaired",
                        result.follower, result.stale, result.missing, result.extra)
        out.append(result)
    return out
