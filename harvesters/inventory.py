"""Harvest department inventory files (CSV, XLSX, JSON) over HTTP or from a drop folder."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Mapping

from harvesters.base import FetchResult, Harvester, SourceFormatError, SourceUnavailableError, id_space
from harvesters.pages import read_inventory
from mappings import MappingError, MappingInputError, load_mapping

SUFFIXES = (".csv", ".xlsx", ".json", ".txt")


class InventoryHarvester(Harvester):
    """Read every inventory file (one URL, one file or a folder); unchanged files are not read again."""

    kind = "inventory"
    default_mapping = "china-core"
    default_profile = "wuhan"
    channel = "file"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        load_mapping(self.source.mapping or self.default_mapping)  # an unknown mapping fails before any read
        before = state.get("pages", {})
        records, pages, kept = [], {}, []
        for page, name, data, validators in self._documents(before):
            old = before.get(page, {})
            if data is None or (validators.get("sha256") and validators == old.get("http") and "uris" in old):
                kept.append(page)
                pages[page] = {"http": old.get("http")}
                self.note(f"{name}: unchanged")
                continue
            try:
                found = self.isolate(read_inventory, data, name, id_space(self.source),
                                     self.source.mapping or self.default_mapping, self.option("columns"),
                                     self.settings.max_bytes, self.limits, what=f"reading the file {page}")
            except (MappingInputError, MappingError) as exc:
                raise SourceFormatError(f"{page}: {exc}") from exc
            records += [dataclasses.replace(r, origin=f"{page}#{r.origin.rsplit('#', 1)[-1]}") for r in found]
            pages[page] = {"http": validators}
            self.note(f"{name}: {len(found)} records")
        return FetchResult(records=tuple(records), complete=True, not_modified=len(kept) == len(pages) > 0,
                           state={"pages": pages, "kept_pages": kept})

    def _documents(self, before: Mapping[str, Any]):
        """Yield (page key, file name, bytes or None when 304, validators) of each inventory file."""
        if self.source.url:
            url = self.source.url
            old = before.get(url, {})
            resp = self.http.get(url, validators=old.get("http") if "uris" in old else None)
            name = self.option("filename") or url.rsplit("/", 1)[-1].split("?")[0] or "inventory"
            if resp.status == 304:
                yield url, name, None, old.get("http")
            else:
                yield url, name, resp.body, resp.validators
            return
        root = Path(self.source.path or "")
        if not root.is_absolute():
            root = self.home / root
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES) if root.is_dir() else [root]
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SourceUnavailableError(f"{path}: cannot read: {exc.strerror}") from exc
            yield str(path), path.name, data, {"sha256": hashlib.sha256(data).hexdigest()}
