"""Turn index text into the very tokens SQLite FTS5 makes of it, for the index on PostgreSQL.

The embedded index hands FTS5 our segmented text (server.search_query.index_text: CJK bigrams and characters,
Latin words) and FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer lowercases, folds and stems it.
On PostgreSQL the same tokens are stored as arrays, so both backends match and rank alike: they are read
here from an in-memory FTS5 table through ``fts5vocab`` (the tokenizer itself, not a copy of it).
"""

from __future__ import annotations

import sqlite3
import threading

TOKENIZER = "porter unicode61 remove_diacritics 2"


class Tokenizer:
    """FTS5's tokenizer over an in-memory table; safe across threads (one lock)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(c, tokenize='{TOKENIZER}')")
        self._conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()

    def tokens(self, texts: list[str]) -> list[list[str]]:
        """Return each text's tokens in order."""
        out: list[list[str]] = [[] for _ in texts]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT INTO t(rowid, c) VALUES (?, ?)",
                                       [(i + 1, t or "") for i, t in enumerate(texts)])
                for doc, term in self._conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
                    out[doc - 1].append(term)
            finally:
                self._conn.execute("ROLLBACK")
        return out


_shared: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    """Return the process's tokenizer."""
    global _shared
    if _shared is None:
        _shared = Tokenizer()
    return _shared
