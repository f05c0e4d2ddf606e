"""Harvest a CSW 2.0.2 catalogue: GetRecords paged by startPosition, in the schema the source option asks for
(ISO 19139 by default, Dublin Core or GeoDCAT-AP), read in whatever schema the server actually answers with.

Each answer's records are read by what they are: gmd:MD_Metadata through the iso19139 mapping (localised titles
and abstracts kept in every language), csw:Record/SummaryRecord/BriefRecord through the dublin-core mapping
(ows:BoundingBox read in the axis order of its CRS), RDF (GeoDCAT-AP) through the DCAT reading. A record without
an identifier gets a stable key from its content, reported; a server that ignores paging is detected by
harvesters.paging, the listing then taken as incomplete.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import pyoxigraph as ox

from harvesters.base import FetchResult, Harvester, SourceFormatError, id_space, mapping_context
from harvesters.csw_read import DC, ISO, RDF_KINDS, boxes_in_axis_order, localised_texts, rdf_documents
from harvesters.paging import Pager
from harvesters.pages import from_ntriples, map_page, mapped_back, read_csw_page
from mappings import MappingError, MappingInputError
from mappings.model import SourceRecord
from mappings.readers import normalise_value
from mappings.xmlread import xml_to_tree
from core.bounded import InputRefusedError
from core.xmlsafe import check_xml

SCHEMAS = {"iso19139": ("http://www.isotc211.org/2005/gmd", "gmd:MD_Metadata"),
           "dublin-core": ("http://www.opengis.net/cat/csw/2.0.2", "csw:Record"),
           "geodcat-ap": ("http://data.europa.eu/930/", "csw:Record")}


class CswHarvester(Harvester):
    """Page through GetRecords (KVP, full records); read each answer by the schema it is in."""

    kind = "csw"
    default_mapping = "iso19139"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        asked = self.option("output_schema", "iso19139")
        schema, type_name = SCHEMAS.get(asked, (asked, "csw:Record"))
        size = int(self.option("max_records", self.settings.page_size))
        pager = Pager(self.source.url, self.settings.max_pages, "records", self.note, strict_total=False)
        records: dict[str, list[SourceRecord]] = {ISO: [], DC: []}
        graphs: dict[str, list[ox.Triple]] = {}
        problems: list[str] = []
        position = 1
        while pager.more:
            params = {"service": "CSW", "version": "2.0.2", "request": "GetRecords", "typeNames": type_name,
                      "outputSchema": schema, "elementSetName": "full", "resultType": "results",
                      "startPosition": position, "maxRecords": size}
            resp = self.http.get(self.source.url, params=params)
            page = f"{self.source.url}?startPosition={position}&maxRecords={size}"
            total, following, found, found_problems = self.isolate(
                read_csw_page, resp.body, page, id_space(self.source), self.base_uri, self.limits,
                what=f"reading the page {page}")
            problems += found_problems
            found = [(ident, kind, from_ntriples(item) if kind in RDF_KINDS else item) for ident, kind, item in found]
            keep = pager.take(page, total, [ident for ident, _, _ in found])
            for n in keep:
                _, kind, item = found[n]
                if kind in RDF_KINDS:
                    graphs.update(item)
                else:
                    records[kind].append(item)
            self.note(f"startPosition={position}: {len(found)} records of {total} ("
                      + ", ".join(sorted({k for _, k, _ in found})) + ")" if found else
                      f"startPosition={position}: no records of {total}")
            if pager.ended:
                break
            if following <= 0 or (total is not None and following > total):
                pager.stop()
            elif following <= position:
                problems.append(f"{page}: nextRecord {following} does not move past startPosition {position}; "
                                "stopped")
                pager.stop()
            position = following
        pager.finish()
        mapped: list = []
        graphs.update(self._mapped(records, mapped))
        return FetchResult(graphs=graphs, complete=pager.complete, problems=tuple(problems + pager.problems),
                           mapped=tuple(mapped))

    def _mapped(self, records: dict[str, list[SourceRecord]], problems: list) -> dict[str, list]:
        """Map the ISO and Dublin Core records; add their localised texts; keep every problem the mapping met."""
        graphs: dict[str, list] = {}
        for kind, found in records.items():
            if not found:
                continue
            name = self.source.mapping if kind == ISO and self.source.mapping else kind
            try:
                result = mapped_back(self.isolate(map_page, found, name, self.base_uri,
                                                  mapping_context(self.source, self.channel),
                                                  what=f"mapping the records of {self.source.url}"))
            except MappingError as exc:
                raise SourceFormatError(f"{self.source.url}: mapping {name!r}: {exc}") from exc
            problems += result.problems
            by_origin = {r.origin: r for r in found}
            for uri, triples in result.graphs.items():
                origin = next((t.object.value for t in triples if t.predicate.value.endswith("sourceKey")), None)
                record = next((r for r in found if _key_of(r, kind) == origin), None) or by_origin.get(origin)
                graphs[uri] = localised_texts(uri, triples, record, kind) if record else triples
        return graphs


def read_page(body: bytes, page: str, space: str, base_uri: str, limits, problems: list[str]) -> tuple:
    """Return (matched, nextRecord, [(id, kind, record or graphs)]) of one GetRecords answer (a sandbox task:
    harvesters.pages.read_csw_page)."""
    try:
        text = check_xml(body, page, limits)
        tree = xml_to_tree(text, page, limits)
    except (MappingInputError, InputRefusedError) as exc:
        raise SourceFormatError(f"{page}: not a readable XML answer: {exc.message}") from None
    if "ExceptionReport" in tree:
        raise SourceFormatError(f"{page}: the catalogue answered an ExceptionReport: {str(tree)[:300]}")
    results = (tree.get("GetRecordsResponse") or {}).get("SearchResults") if isinstance(tree, dict) else None
    if not isinstance(results, dict):
        raise SourceFormatError(f"{page}: not a csw:GetRecordsResponse")
    try:
        matched = int(results["@numberOfRecordsMatched"])
        following = int(results.get("@nextRecord") or 0)
    except (KeyError, ValueError) as exc:
        raise SourceFormatError(f"{page}: SearchResults lacks numberOfRecordsMatched or nextRecord") from exc
    found = _records(normalise_value(results), page, space, problems)
    for ident, graph in rdf_documents(text, page, space, base_uri, problems, limits):
        found.append((ident, "rdf", graph))
    if not found and int(results.get("@numberOfRecordsReturned") or 0) > 0:
        raise SourceFormatError(f"{page}: numberOfRecordsReturned is {results['@numberOfRecordsReturned']} "
                                f"but no record in a schema we read (ISO 19139, Dublin Core, RDF) was found")
    return matched, following, found


def _records(results: dict, page: str, space: str, problems: list[str]) -> list[tuple[str, str, SourceRecord]]:
    """Return the ISO and Dublin Core records of a SearchResults, each with its id (or a content key)."""
    out = []
    n = 0
    for kind, names in ((ISO, ("MD_Metadata",)), (DC, ("Record", "SummaryRecord", "BriefRecord"))):
        for name in names:
            items = results.get(name)
            for fields in items if isinstance(items, list) else [items] if isinstance(items, dict) else []:
                n += 1
                origin = f"{page}#{n}"
                if kind == DC:
                    fields = boxes_in_axis_order(fields, origin, problems)
                ident = _text(fields.get("fileIdentifier" if kind == ISO else "identifier"))
                key = None
                if not ident:
                    key = "content-" + hashlib.sha1(json.dumps(fields, ensure_ascii=False, sort_keys=True)
                                                    .encode("utf-8")).hexdigest()[:20]
                    problems.append(f"{origin}: a {name} without an identifier; keyed {key} from its "
                                    "content (a changed record gets a new key)")
                out.append((ident or key, kind, SourceRecord(space, key, fields, origin)))
    return out


def _key_of(record: SourceRecord, kind: str) -> str | None:
    return record.key or _text(record.fields.get("fileIdentifier" if kind == ISO else "identifier"))


def _text(value: Any) -> str | None:
    """Return the first text of a field (an element's text, the first of a list)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("#text")
    return str(value).strip() if value not in (None, "") and str(value).strip() else None

