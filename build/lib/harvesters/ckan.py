"""Harvest a CKAN catalogue through its action API (package_search, paged with rows/start)."""

from __future__ import annotations

from typing import Any, Mapping

from harvesters.base import FetchResult, Harvester, SourceChangedError, SourceFormatError, id_space, json_body
from mappings.model import SourceRecord
from mappings.readers import normalise_value


class CkanHarvester(Harvester):
    """Page through package_search sorted by id; a moving count or a repeated id fails the job."""

    kind = "ckan"
    default_mapping = "ckan"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        endpoint = self.source.url.rstrip("/")
        if not endpoint.endswith("package_search"):
            endpoint += "/api/3/action/package_search"
        rows = int(self.option("rows", self.settings.page_size))
        before = state.get("pages", {})
        space = id_space(self.source)
        records, pages, kept, seen, log = [], {}, [], set(), []
        count, start = None, 0
        for _ in range(self.settings.max_pages):
            params = {"rows": rows, "start": start, "sort": self.option("sort", "id asc")}
            if self.option("fq"):
                params["fq"] = self.option("fq")
            page = f"{endpoint}?rows={rows}&start={start}"
            old = before.get(page, {})
            resp = self.http.get(endpoint, params=params, validators=old.get("http") if "uris" in old else None)
            if resp.status == 304:
                total, got, ids = old.get("count"), old.get("n", 0), old.get("ids", [])
                kept.append(page)
            else:
                total, packages = _packages(json_body(resp, "package_search"), resp.url)
                got, ids = len(packages), [str(p.get("id") or p.get("name")) for p in packages]
                records += [SourceRecord(space, None, normalise_value(p), f"{page}#{n}")
                            for n, p in enumerate(packages, 1)]
            if count is not None and total != count:
                raise SourceChangedError(f"{endpoint}: the count moved from {count} to {total} while paging")
            if seen.intersection(ids):
                raise SourceChangedError(f"{endpoint}: package {sorted(seen.intersection(ids))[0]} came twice")
            seen.update(ids)
            count = total
            pages[page] = {"http": resp.validators if resp.status != 304 else old.get("http"),
                           "count": total, "n": got, "ids": ids}
            self.note(f"page start={start}: {got} packages of {total}" + (" (304)" if resp.status == 304 else ""))
            start += got
            if got == 0 or start >= total:
                break
        if count is not None and len(seen) != count:
            raise SourceChangedError(f"{endpoint}: {len(seen)} packages read but the count says {count}")
        return FetchResult(records=tuple(records), complete=True, not_modified=len(kept) == len(pages) > 0,
                           state={"pages": pages, "kept_pages": kept}, log=tuple(log))


def _packages(doc: Any, url: str) -> tuple[int, list[dict]]:
    """Return (count, packages) of a package_search answer."""
    result = doc.get("result") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("success") is False or not isinstance(result, dict):
        raise SourceFormatError(f"{url}: not a CKAN package_search answer")
    packages = result.get("results")
    count = result.get("count")
    if not isinstance(packages, list) or not isinstance(count, int) or not all(isinstance(p, dict)
                                                                               for p in packages):
        raise SourceFormatError(f"{url}: package_search result lacks count or a list of results")
    return count, packages
