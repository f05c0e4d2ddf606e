"""Keep a digest of every dataset graph as published, beside the store, written ahead of each store write.

Derived indexes (sparql/followers.py) remember the digest of each dataset version they followed; at start-up
they compare it with the store's and repair what differs. The store's digests live in a small SQLite file
next to the store (``store.digests.sqlite``), never in the store itself (SPARQL users would see them).

A write cannot be one transaction across Oxigraph and SQLite, so it is written ahead: before the store
commits, each dataset's new digest is saved as *pending* (an empty pending digest: the dataset is being
removed); after the commit it is *settled*. A process killed in between leaves pending rows: the next
start-up recomputes those digests from what the store really holds. The same start-up check adds a digest
for a dataset the table does not know and drops rows of datasets the store no longer has, so the table
always ends up describing the store's content, whatever was interrupted.

The digests are of the graphs as published: of the whole graph, also for a dataset the store holds as its
public view (sparql/public.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pyoxigraph as ox

from core.sqlite import rollback

SCHEMA = """CREATE TABLE IF NOT EXISTS digests(uri TEXT PRIMARY KEY, digest TEXT, pending TEXT);
CREATE INDEX IF NOT EXISTS digests_pending ON digests(pending) WHERE pending IS NOT NULL;
CREATE TABLE IF NOT EXISTS digests_meta(key TEXT PRIMARY KEY, value TEXT);"""


def _term(term) -> str:
    return "_:" if isinstance(term, ox.BlankNode) else str(term)


_PLAIN = frozenset({"http://www.w3.org/2001/XMLSchema#string",
                    "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"})
_AS_STORED = ox.NamedNode("urn:wodp:digest")


def _as_stored(objects: list[ox.Literal]) -> dict[ox.Literal, ox.Literal]:
    """Return typed literals in the form Oxigraph stores them ("12.50"^^xsd:decimal is read back as "12.5")."""
    store = ox.Store()
    store.extend([ox.Quad(ox.NamedNode(f"urn:wodp:l{n}"), _AS_STORED, o, _AS_STORED) for n, o in enumerate(objects)])
    back = {q.subject.value: q.object for q in store.quads_for_pattern(None, _AS_STORED, None, _AS_STORED)}
    return {o: back[f"urn:wodp:l{n}"] for n, o in enumerate(objects)}


def graph_digest(triples: Iterable[ox.Triple]) -> str:
    """Hash a dataset graph as stored (catalogue record included): sorted N-Triples lines → SHA-256 hex.

    Blank nodes are written without their labels, so the digest is the same before and after Oxigraph
    relabels them (SPARQL INSERT DATA does). Typed literals are hashed in the form the store keeps (numbers,
    booleans and times canonical), so the digest of what was written equals that of what is read back.
    """
    return lines_digest(digest_lines(triples))


def _typed(triples: Sequence[ox.Triple]) -> list[ox.Literal]:
    return list({t.object for t in triples
                 if isinstance(t.object, ox.Literal) and t.object.datatype.value not in _PLAIN})


def _lines(triples: Sequence[ox.Triple], stored: Mapping[ox.Literal, ox.Literal]) -> set[str]:
    return {f"{_term(t.subject)} {t.predicate} {_term(stored.get(t.object, t.object))}" for t in triples}


def digest_lines(triples: Iterable[ox.Triple]) -> set[str]:
    """The lines a graph's digest is made of (``graph_digest`` is ``lines_digest`` of them)."""
    triples = list(triples)
    typed = _typed(triples)
    return _lines(triples, _as_stored(typed) if typed else {})


def digest_lines_many(graphs: Mapping[str, Sequence[ox.Triple]]) -> dict[str, set[str]]:
    """``digest_lines`` of several graphs, with their typed literals read back in one go."""
    typed = list({o for triples in graphs.values() for o in _typed(triples)})
    stored = _as_stored(typed) if typed else {}
    return {uri: _lines(triples, stored) for uri, triples in graphs.items()}


def lines_digest(lines: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(lines))).encode("utf-8")).hexdigest()


def digests_adding(parts: Mapping[str, tuple[set[str], Sequence[ox.Triple]]]) -> dict[str, str]:
    """The digest of each graph made of lines known already and a few triples more (a catalogue record): the
    same as ``graph_digest`` of the whole graph, with the typed literals of all the graphs' added triples
    read back in one go."""
    typed = list({o for _, extra in parts.values() for o in _typed(extra)})
    stored = _as_stored(typed) if typed else {}
    return {uri: lines_digest(lines | _lines(extra, stored)) for uri, (lines, extra) in parts.items()}


class StoreDigests:
    """The digest table of one store: uri → digest, with the pending digests of a write in progress."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False,
                                   timeout=30, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # durable when a process is killed (not power loss)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.verified = False

    def _many(self, sql: str, rows: Iterable[tuple]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                rollback(self._db)  # also after a failed COMMIT (a full disk): the connection stays usable
                raise

    def intend(self, digests: Mapping[str, str | None]) -> None:
        """Save the digests a store write is about to give (None: the dataset is about to be removed)."""
        self._many("INSERT INTO digests(uri, pending) VALUES (?, ?) ON CONFLICT(uri) DO UPDATE SET "
                   "pending = excluded.pending", ((u, d or "") for u, d in digests.items()))

    def settle(self, uris: Iterable[str]) -> None:
        """Make the pending digests of a committed write the digests (and forget removed datasets)."""
        uris = list(uris)
        self._many("DELETE FROM digests WHERE uri = ? AND pending = ''", ((u,) for u in uris))
        self._many("UPDATE digests SET digest = pending, pending = NULL WHERE uri = ? AND pending IS NOT NULL",
                   ((u,) for u in uris))

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM digests")

    def pending(self) -> list[str]:
        """Return the datasets of a write that did not finish (a process killed while writing)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT uri FROM digests WHERE pending IS NOT NULL")]

    def all(self) -> dict[str, str]:
        """Return the settled digest of every dataset."""
        with self._lock:
            return dict(self._db.execute("SELECT uri, digest FROM digests WHERE digest IS NOT NULL"))

    def some(self, uris: Iterable[str]) -> dict[str, str]:
        """Return the settled digests of these datasets (those without one left out), 500 to a statement."""
        uris, found = list(uris), {}
        with self._lock:
            for n in range(0, len(uris), 500):
                chunk = uris[n:n + 500]
                found.update(self._db.execute(f"SELECT uri, digest FROM digests WHERE digest IS NOT NULL AND uri IN "
                                              f"({','.join('?' * len(chunk))})", chunk))
        return found

    def mark(self, generation: int) -> None:
        """Note the store generation the table describes (each write's, after its digests are settled)."""
        with self._lock:
            self._db.execute("INSERT INTO digests_meta(key, value) VALUES ('generation', ?) ON CONFLICT(key) DO "
                             "UPDATE SET value = excluded.value", (str(generation),))

    def describes(self, generation: int, datasets: Callable[[], int]) -> bool:
        """Tell whether the table is known to describe the store at this generation without listing the store:
        every write it noted was settled (none pending), it was marked at this very generation, and it holds as
        many datasets as the store (``datasets()``: a count, asked only when the rest holds)."""
        with self._lock:
            marked = self._db.execute("SELECT value FROM digests_meta WHERE key = 'generation'").fetchone()
            if marked is None or marked[0] != str(generation):
                return False
            if self._db.execute("SELECT 1 FROM digests WHERE pending IS NOT NULL LIMIT 1").fetchone():
                return False
            held = self._db.execute("SELECT COUNT(*) FROM digests WHERE digest IS NOT NULL").fetchone()[0]
        return held == datasets()

    def verify(self, dataset_uris: Sequence[str], read) -> int:
        """Make the table describe the store: recompute unfinished and unknown digests, drop gone datasets.

        ``read(uri)`` returns a dataset's stored triples. Returns how many rows were corrected.
        """
        present = set(dataset_uris)
        known = self.all()
        redo = (set(self.pending()) | (present - set(known))) & present
        gone = (set(known) | set(self.pending())) - present
        fixed = {uri: graph_digest(read(uri)) for uri in sorted(redo)}
        self._many("INSERT INTO digests(uri, digest, pending) VALUES (?, ?, NULL) ON CONFLICT(uri) DO UPDATE "
                   "SET digest = excluded.digest, pending = NULL", fixed.items())
        self._many("DELETE FROM digests WHERE uri = ?", ((u,) for u in gone))
        self.verified = True
        return len(fixed) + len(gone)

    def close(self) -> None:
        with self._lock:
            self._db.close()
