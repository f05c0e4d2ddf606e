"""Harvest a CSW 2.0.2 catalogue: GetRecords in ISO 19139 (gmd), paged by startPosition."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from harvesters.base import FetchResult, Harvester, SourceChangedError, SourceFormatError, id_space
from mappings import MappingError, MappingInputError, load_mapping, read_records
from mappings.xmlread import xml_to_tree

GMD = "http://www.isotc211.org/2005/gmd"


class CswHarvester(Harvester):
    """Page through GetRecords (KVP, outputSchema gmd, full records); read them with the safe XML reader."""

    kind = "csw"
    default_mapping = "iso19139"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        mapping = load_mapping(self.source.mapping or self.default_mapping)
        size = int(self.option("max_records", self.settings.page_size))
        records, matched, position, keys = [], None, 1, set()
        for _ in range(self.settings.max_pages):
            params = {"service": "CSW", "version": "2.0.2", "request": "GetRecords", "typeNames": "gmd:MD_Metadata",
                      "outputSchema": GMD, "elementSetName": "full", "resultType": "results",
                      "startPosition": position, "maxRecords": size}
            resp = self.http.get(self.source.url, params=params)
            page = f"{self.source.url}?startPosition={position}&maxRecords={size}"
            total, returned, following = self._status(resp.body, page)
            try:
                found = read_records(resp.body, "getrecords.xml", id_space(self.source), mapping=mapping) \
                    if returned else []
            except (MappingInputError, MappingError) as exc:
                raise SourceFormatError(f"{page}: {exc}") from exc
            if matched is not None and total != matched:
                raise SourceChangedError(f"{self.source.url}: numberOfRecordsMatched moved from {matched} to {total}")
            matched = total
            ids = [str(r.fields.get("fileIdentifier")) for r in found]
            if keys.intersection(ids):
                raise SourceChangedError(f"{page}: record {sorted(keys.intersection(ids))[0]} came twice")
            keys.update(ids)
            records += [dataclasses.replace(r, origin=f"{page}#{n}") for n, r in enumerate(found, 1)]
            self.note(f"startPosition={position}: {len(found)} records of {total}")
            if not found or following <= 0 or following > total or following <= position:
                break
            position = following
        return FetchResult(records=tuple(records), complete=len(records) >= (matched or 0))

    def _status(self, body: bytes, page: str) -> tuple[int, int, int]:
        """Return (matched, returned, nextRecord) of a GetRecords answer; an ExceptionReport is an error."""
        try:
            tree = xml_to_tree(body.decode("utf-8"), page)
        except (MappingInputError, UnicodeDecodeError) as exc:
            raise SourceFormatError(f"{page}: not a readable XML answer: {exc}") from exc
        if "ExceptionReport" in tree:
            raise SourceFormatError(f"{page}: the catalogue answered an ExceptionReport: {str(tree)[:300]}")
        results = (tree.get("GetRecordsResponse") or {}).get("SearchResults") if isinstance(tree, dict) else None
        if not isinstance(results, dict):
            raise SourceFormatError(f"{page}: not a csw:GetRecordsResponse")
        try:
            return (int(results["@numberOfRecordsMatched"]), int(results.get("@numberOfRecordsReturned", 0)),
                    int(results.get("@nextRecord", 0)))
        except (KeyError, ValueError) as exc:
            raise SourceFormatError(f"{page}: SearchResults lacks numberOfRecordsMatched or nextRecord") from exc
