"""The invariants every paged listing keeps (CKAN package_search, the cloud center, CSW GetRecords).

One ``Pager`` per fetch. The harvester asks for pages while ``pager.more``; after each page it calls
``pager.take(page, total, ids)`` with the page's key, the total the source announced and the ids of its items,
and keeps the items whose indexes come back. The pager:

- stops after ``max_pages`` pages; a listing still unfinished then fails (``finish``) rather than being read in
  part and taken as whole;
- fails when the announced total moves between pages (the source changed while being read);
- stops, reports and marks the listing incomplete when a page repeats what was already read (the server ignores
  the paging parameters): nothing is withdrawn on a listing we could not read whole;
- fails when a page overlaps earlier ones in part (items moved between pages);
- reports an id that comes twice within one page and keeps its first item;
- ends on an empty page, or once the announced total is read.
"""

from __future__ import annotations

from typing import Callable, Sequence

from harvesters.base import SourceChangedError, SourceFormatError


class Pager:
    """Page bookkeeping for one fetch of a paged listing."""

    def __init__(self, where: str, max_pages: int, what: str = "records",
                 log: Callable[[str], None] | None = None, strict_total: bool = True) -> None:
        self.where, self.max_pages, self.what = where, max_pages, what
        self.log = log or (lambda line: None)
        self.strict_total = strict_total    # a total that does not match what was read fails (else: incomplete)
        self.total: int | None = None
        self.seen: dict[str, str] = {}      # id → the page it came on
        self.problems: list[str] = []
        self.pages = 0
        self.ended = False
        self.ignores_paging = False

    @property
    def more(self) -> bool:
        """Tell whether another page should be asked for."""
        return not self.ended and self.pages < self.max_pages

    def take(self, page: str, total: int | None, ids: Sequence[str]) -> list[int]:
        """Check one page against the pages before it; return the indexes of its items to keep."""
        self.pages += 1
        if self.total is not None and total is not None and total != self.total:
            raise SourceChangedError(f"{self.where}: the total moved from {self.total} to {total} while paging")
        self.total = total if total is not None else self.total
        if not ids:
            self.ended = True
            return []
        earlier = [i for i in ids if i in self.seen]
        if earlier and len(set(earlier)) == len(set(ids)):
            self.ignores_paging = self.ended = True
            self.problems.append(f"{page}: the page repeats {self.what} already read on {self.seen[earlier[0]]}: "
                                 f"the source ignores paging; stopped with {len(self.seen)} {self.what}"
                                 + (f" of {self.total}" if self.total is not None else "")
                                 + "; the listing is incomplete, nothing is withdrawn")
            self.log(self.problems[-1])
            return []
        if earlier:
            raise SourceChangedError(f"{self.where}: {self.what[:-1]} {earlier[0]} came twice "
                                     f"({self.seen[earlier[0]]} and {page})")
        keep = []
        for n, ident in enumerate(ids):
            if ident in self.seen:
                self.problems.append(f"{page}#{n + 1}: {self.what[:-1]} {ident} came twice on the page; "
                                     "the first is kept")
                continue
            self.seen[ident] = page
            keep.append(n)
        if self.total is not None and len(self.seen) >= self.total:
            self.ended = True
        return keep

    def stop(self) -> None:
        """End the listing (the source said it has no next page)."""
        self.ended = True

    @property
    def complete(self) -> bool:
        """Tell whether the listing was read whole (so datasets absent from it may be withdrawn)."""
        return not self.ignores_paging and (self.total is None or len(self.seen) >= self.total)

    def finish(self) -> None:
        """Fail a listing cut by max_pages, or (strict) one whose total does not match what was read."""
        if not self.ended and self.pages >= self.max_pages:
            raise SourceFormatError(f"{self.where}: stopped after {self.max_pages} pages with {len(self.seen)} "
                                    f"{self.what} read and more announced (settings harvest.max_pages)")
        if self.total is None or self.ignores_paging or len(self.seen) == self.total:
            return
        if self.strict_total:
            raise SourceChangedError(f"{self.where}: {len(self.seen)} {self.what} read but the total says "
                                     f"{self.total}")
        self.problems.append(f"{self.where}: {len(self.seen)} {self.what} read but the source announced "
                             f"{self.total}; the listing is taken as incomplete, nothing is withdrawn")
        self.log(self.problems[-1])
