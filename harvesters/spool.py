"""Keep what a fetch read on disk, page by page, so that a harvest's memory does not grow with its source.

A harvester reads the whole listing before anything is published (a listing that fails half-way changes
nothing), but it need not hold it: each page's records (or dataset graphs, as N-Triples) are appended to a
spool, compressed, and the runner reads them back one page at a time to map, validate and store them.
The spool is an unnamed temporary file in the data directory (removed by the system when it is closed or the
process ends, even by a kill); only the index of its pages (page, offset, length, count) stays in memory.
"""

from __future__ import annotations

import pickle
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterator


class PageSpool:
    """Pages of one fetch, each a list of items (records, or (uri, N-Triples) pairs), in the order added."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(prefix="harvest-spool-", dir=folder)
        self._pages: list[tuple[str, int, int, int]] = []   # page, offset, length, items
        self._end = 0
        self.items = 0

    def add(self, page: str, items: list) -> None:
        """Append one page's items (an empty list is not kept)."""
        if not items:
            return
        data = zlib.compress(pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL), 1)
        self._file.seek(self._end)
        self._file.write(data)
        self._pages.append((page, self._end, len(data), len(items)))
        self._end += len(data)
        self.items += len(items)

    def pages(self) -> Iterator[tuple[str, list]]:
        """Yield (page, items) one page at a time, in the order added (items of one page added twice: twice)."""
        for page, offset, length, _ in self._pages:
            self._file.seek(offset)
            yield page, pickle.loads(zlib.decompress(self._file.read(length)))

    def counts(self) -> dict[str, int]:
        """Return how many items each page gave."""
        out: dict[str, int] = {}
        for page, _, _, n in self._pages:
            out[page] = out.get(page, 0) + n
        return out

    def __len__(self) -> int:
        return self.items

    def __bool__(self) -> bool:
        return self.items > 0

    def __iter__(self) -> Iterator[Any]:
        for _, items in self.pages():
            yield from items

    def __getitem__(self, index: int) -> Any:
        """Return one item by its position (reads pages up to it: for tests and small looks, not for loops)."""
        if index < 0:
            index += self.items
        seen = 0
        for _, items in self.pages():
            if index < seen + len(items):
                return items[index - seen]
            seen += len(items)
        raise IndexError(index)

    def close(self) -> None:
        """Remove the spool (also done by the system when the process ends)."""
        self._file.close()
