"""Keep the public view of each dataset graph as N-Triples text, so that a /catalog page joins text (issue 10).

A /catalog page holds 100 dataset graphs. Reading one from the store costs ~1 ms (pyoxigraph decodes ~10 µs per
quad, whatever the access path), so a page cost ~0.1 s of reads before it was written, in every web process and
for every page it had not answered yet in this generation. Here each dataset's public view (``public_view`` for
an anonymous reader, the triples in the store's order) is kept as N-Triples in a table of the data layer (a SQLite file next to the store, or PostgreSQL),
shared by the writer and every web process, and read back with one query per page (~1.5 µs per triple to parse).

Exactness. A row is used only when it was made from the very content the reader's store holds: it carries the
catalogue record's ``dct:modified`` of the dataset it was made from, and the store stamps every put of a dataset
with a new time, strictly later than the previous one (sparql/store.py ``_next_stamp``); a ``restore`` puts back a
graph together with its old stamp, so that stamp still names that content. The reader compares the row's stamp
with its own store's (one quad lookup) and reads the store itself when they differ, then keeps what it read.
Stamps only grow: when the writer opens the store it makes its next stamps later than every stamp in the table
(a clock set back between two runs cannot repeat one), drops the rows of datasets the store no longer has, and
then takes out the rows of datasets it removes or clears. ``FORMAT`` names
the way the text is made: a row of another format is never used.

Any process may write rows (a web process keeps what it had to read); a row that cannot be written (disk full, a
busy database) is only a lost saving: the answer is made from the store and is the same.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from access.policy import public_view
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.database import Database, as_database

log = logging.getLogger(__name__)

FORMAT = "1"  # public_view for an anonymous reader, N-Triples as pyoxigraph writes it, the store's order
CHUNK = 400  # uris per SELECT (SQLite's limit on parameters is far above)
ERRORS = (sqlite3.Error, SQLAlchemyError)


def public_text(store, uri: str) -> str:
    """Return the N-Triples of the dataset's public view, read from the store (what a row holds)."""
    return ox.serialize(public_view(uri, store.dataset_triples(uri)), format=ox.RdfFormat.N_TRIPLES).decode("utf-8")


class CatalogTexts:
    """The shared table of public dataset texts: read by every process, filled by whoever missed."""

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "catalog_texts")
        self.path = self.db.path
        self.hits = self.misses = 0

    @staticmethod
    def stamp(store, uri: str) -> str | None:
        return CatalogTexts.stamps(store, [uri])[uri]

    @staticmethod
    def stamps(store, uris: list[str]) -> dict[str, str | None]:
        """The stamp of each dataset as its store holds it now (a remote store is asked once for them all)."""
        modified = store.records_modified(uris)
        return {uri: None if modified[uri] is None else f"{FORMAT} {modified[uri].isoformat()}" for uri in uris}

    def texts(self, store, uris: list[str]) -> list[str]:
        """Return the public N-Triples of each dataset, in order: from the table when its stamp matches."""
        stamps = self.stamps(store, uris)
        rows: dict[str, tuple[str, str]] = {}
        try:
            with self.db.read() as conn:
                for start in range(0, len(uris), CHUNK):
                    part = uris[start:start + CHUNK]
                    marks = ", ".join(f":u{i}" for i in range(len(part)))
                    found = conn.execute(text(f"SELECT uri, stamp, text FROM catalog_texts WHERE uri IN ({marks})"),
                                         {f"u{i}": uri for i, uri in enumerate(part)})
                    rows.update((uri, (stamp, body)) for uri, stamp, body in found)
        except ERRORS as exc:
            log.warning("catalogue texts unreadable (%s): reading the store", exc)
        out, fresh = [], []
        for uri in uris:
            row = rows.get(uri)
            stamp = stamps[uri]
            if row is not None and stamp is not None and row[0] == stamp:
                out.append(row[1])
                self.hits += 1
                continue
            body = public_text(store, uri)
            out.append(body)
            self.misses += 1
            if stamp is not None:
                fresh.append((uri, stamp, body))
        if fresh:
            self._keep(fresh)
        return out

    def _keep(self, rows: list[tuple[str, str, str]]) -> None:
        try:
            with self.db.write() as conn:
                conn.execute(text("INSERT INTO catalog_texts (uri, stamp, text) VALUES (:u, :s, :t) ON CONFLICT (uri) "
                                  "DO UPDATE SET stamp = excluded.stamp, text = excluded.text"),
                             [{"u": u, "s": s, "t": t} for u, s, t in rows])
        except ERRORS as exc:  # only a saving lost: the page was made from the store
            log.info("catalogue texts not kept (%s)", exc)

    def forget(self, uris: Iterable[str] | None = None) -> None:
        """Take out the rows of these datasets, or every row (None)."""
        with self.db.write() as conn:
            if uris is None:
                conn.execute(text("DELETE FROM catalog_texts"))
            elif uris := list(uris):
                conn.execute(text("DELETE FROM catalog_texts WHERE uri = :u"), [{"u": u} for u in uris])

    def start(self, store) -> None:
        """The writer, at start: drop rows of datasets the store no longer has; stamp later than every row."""
        from datetime import datetime

        present = set(store.digests())  # every dataset's URI, checked against the store once at start (kept)
        rows = self.db.rows("SELECT uri, stamp FROM catalog_texts")
        gone = [uri for uri, _ in rows if uri not in present]
        stale = [uri for uri, stamp in rows if not stamp.startswith(FORMAT + " ")]
        if gone or stale:
            self.forget(gone + stale)
        moments = [datetime.fromisoformat(stamp.split(" ", 1)[1]) for uri, stamp in rows
                   if stamp.startswith(FORMAT + " ")]
        if moments:
            store.stamp_after(max(moments))

    def follow(self, event) -> None:
        """The writer's listener: rows of removed datasets go, all rows go at a reset."""
        try:
            if event.reset:
                self.forget()
            elif event.removed:
                self.forget(event.removed)
        except ERRORS as exc:
            log.warning("catalogue texts: could not take out removed datasets (%s); emptying at next start", exc)

    def close(self) -> None:
        self.db.close()


def chinese_first_lines(lines: list[str]) -> list[str] | None:
    """Order N-Triples lines as rdf_response.chinese_first orders their triples, working on the text.

    Terms are equal exactly when their N-Triples are, so grouping by the subject's and the predicate's text is
    grouping by the terms; a literal is Chinese when its language tag (after the closing quote) starts with
    ``zh``. Returns None for lines this does not read (an RDF-star subject): the caller then parses them first.
    """
    subjects: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for line in lines:
        if line.startswith("<<"):
            return None
        subject, predicate, rest = line.split(" ", 2)  # rest: the object, " ."
        by_predicate = subjects.get(subject)
        if by_predicate is None:
            by_predicate = subjects[subject] = {}
        groups = by_predicate.get(predicate)
        if groups is None:
            groups = by_predicate[predicate] = ([], [])
        # a literal with a language tag ends with its tag, not with '"' (plain) or '>' (typed)
        zh = rest[0] == '"' and rest[-3] not in '">' and rest.startswith("zh", rest.rfind('"@') + 2)
        (groups[0] if zh else groups[1]).append(line)
    return [line for by_predicate in subjects.values() for zh, rest in by_predicate.values() for line in zh + rest]
