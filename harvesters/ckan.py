"""Harvest a CKAN catalogue through its action API (package_search, paged with rows/start)."""

from __future__ import annotations

from typing import Any, Mapping

from harvesters.base import FetchResult, Harvester, SourceFormatError, id_space
from harvesters.pages import read_json_page
from harvesters.paging import Pager
from mappings.model import SourceRecord
from mappings.readers import normalise_value


class CkanHarvester(Harvester):
    """Page through package_search sorted by id; the paging invariants are harvesters.paging's."""

    kind = "ckan"
    default_mapping = "ckan"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        endpoint = self.source.url.rstrip("/")
        if not endpoint.endswith("package_search"):
            endpoint += "/api/3/action/package_search"
        rows = int(self.option("rows", self.settings.page_size))
        before = state.get("pages", {})
        space = id_space(self.source)
        records, pages, kept, problems = self.spool(), {}, [], []
        pager = Pager(endpoint, self.settings.max_pages, "packages", self.note)
        start = 0
        while pager.more:
            params = {"rows": rows, "start": start, "sort": self.option("sort", "id asc")}
            if self.option("fq"):
                params["fq"] = self.option("fq")
            page = f"{endpoint}?rows={rows}&start={start}"
            old = before.get(page, {})
            resp = self.http.get(endpoint, params=params, validators=old.get("http") if "uris" in old else None)
            if resp.status == 304:
                total, ids, packages = old.get("count"), old.get("ids", []), None
                kept.append(page)
            else:
                doc = self.isolate(read_json_page, resp.body, resp.url, "package_search", self.limits,
                                   what=f"reading the page {resp.url}")
                total, packages = _packages(doc, resp.url)
                ids = [str(p.get("id") or p.get("name")) for p in packages]
            keep = pager.take(page, total, ids)
            found = []
            for n in keep if packages is not None else ():
                fields, notes = package_fields(packages[n])
                found.append(SourceRecord(space, None, normalise_value(fields), f"{page}#{n + 1}"))
                problems += [f"{page}#{n + 1}: {line}" for line in notes]
            records.add(page, found)
            del packages, found
            pages[page] = {"http": resp.validators if resp.status != 304 else old.get("http"),
                           "count": total, "n": len(ids), "ids": ids}
            self.note(f"page start={start}: {len(ids)} packages of {total}" + (" (304)" if resp.status == 304 else ""))
            start += len(ids)
        pager.finish()
        return FetchResult(records=records, complete=pager.complete,
                           not_modified=len(kept) == len(pages) > 0 and pager.complete,
                           state={"pages": pages, "kept_pages": kept}, problems=tuple(problems + pager.problems))


def package_fields(package: dict) -> tuple[dict, list[str]]:
    """Return a package's fields with each extras entry as a field ``extras:<key>``, and what could not be read.

    Extras are {key, value} pairs; flattened, each is a field of its own that a mapping places by name
    (``extras:frequency``) and that the unplaced-field report names when nothing places it.
    """
    fields = {k: v for k, v in package.items() if k != "extras"}
    notes = []
    extras = package.get("extras") or []
    if not isinstance(extras, list):
        return {**fields, "extras": extras}, ["extras is not a list of {key, value}; kept as one field"]
    for n, entry in enumerate(extras, 1):
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key.strip():
            notes.append(f"extras entry {n} has no key; kept under extras:#{n}")
            key = f"#{n}"
        name = f"extras:{key}"
        if name in fields:
            notes.append(f"extras key {key!r} comes twice; the values are kept together")
            fields[name] = [*(fields[name] if isinstance(fields[name], list) else [fields[name]]), entry.get("value")]
        else:
            fields[name] = entry.get("value") if isinstance(entry, dict) else entry
    return fields, notes


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
