"""Harvest a DCAT-AP feed (Turtle, RDF/XML, JSON-LD), following both Hydra paging forms."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

import pyoxigraph as ox

from harvesters.base import FetchResult, Harvester, SourceChangedError, SourceFormatError
from harvesters.dcat_forms import RELATIVE, normalise, resolved, skolemise
from ontology.namespaces import DCAT, DCT, WODP
from core.errors import WodpError
from core.identifiers import dataset_id
from sparql.loader import format_for, parse_rdf, split_datasets

HYDRA = "http://www.w3.org/ns/hydra/core#"
ACCEPT = "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8, application/n-triples;q=0.7"


class DcatHarvester(Harvester):
    """Read every page of a DCAT feed; re-identify each dataset as BASE/datasets/{source}.{key}."""

    kind = "dcat"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        before = state.get("pages", {})
        url, total = self.source.url, None
        graphs = self.spool()             # each page's dataset graphs as N-Triples, read back a page at a time
        pages, kept, page_uris, problems = {}, [], {}, []
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            old = before.get(url, {})
            resp = self.http.get(url, headers={"Accept": ACCEPT},
                                 validators=old.get("http") if "uris" in old else None)
            if resp.status == 304:
                kept.append(url)
                pages[url] = {**old}
                count, following = old.get("total"), old.get("next")
            else:
                count, following, found = self._read(resp, url, first=not pages, problems=problems)
                moved = [uri for uri in found if uri in seen]
                if moved:
                    raise SourceChangedError(f"{url}: dataset {sorted(moved)[0]} came on two pages")
                graphs.add(url, list(found.items()))
                seen.update(found)
                page_uris[url] = list(found)
                pages[url] = {"http": resp.validators, "total": count, "next": following}
            if total is not None and count is not None and count != total:
                raise SourceChangedError(f"{self.source.url}: hydra:totalItems moved from {total} to {count}")
            total = count if count is not None else total
            if not following or following in pages:
                break
            url = following
        else:
            raise SourceFormatError(f"{self.source.url}: stopped after {self.settings.max_pages} pages with more "
                                    "announced (settings harvest.max_pages)")
        return FetchResult(graphs=graphs, complete=True, not_modified=len(kept) == len(pages) > 0,
                           state={"pages": pages, "kept_pages": kept, "page_uris": page_uris},
                           problems=tuple(problems))

    def _read(self, resp, url: str, first: bool, problems: list[str]):
        """Return (total, next page, dataset graphs as N-Triples) of one page; a page without a dataset fails
        unless it is a later page of a paged collection. The page is parsed where ``isolate`` runs it
        (harvesters.pages); its graphs stay N-Triples until the runner reads them back (harvesters.outbox)."""
        from harvesters.pages import read_dcat_page

        count, following, found, found_problems, notes = self.isolate(
            read_dcat_page, resp.body, resp.url, resp.headers.get("content-type", ""), self.source.name,
            self.base_uri, self.limits, url, what=f"reading the page {resp.url}")
        problems += found_problems
        if not found and (first or (count is None and not following)):
            raise SourceFormatError(f"{resp.url}: no dcat:Dataset found in the document")
        for line in notes:
            self.note(line)
        self.note(f"{url}: {len(found)} datasets" + (f" of {count}" if count is not None else ""))
        return count, following, found


def parse_page(body: bytes, url: str, media: str, limits) -> list[ox.Quad]:
    """Parse a page; IRIs that were relative in it carry the RELATIVE base (resolved and reported later)."""
    suffix = PurePosixPath(url.split("?")[0]).suffix or ".ttl"
    parts = urlsplit(url)
    base = RELATIVE + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        fmt = format_for(PurePosixPath("page" + suffix), media if "html" not in media else None)
        return parse_rdf(body, fmt, url, base_iri=base, limits=limits)
    except WodpError as exc:
        raise SourceFormatError(f"{url}: {exc.message}") from exc


def dataset_graphs(quads: list[ox.Quad], page: str, source: str, base_uri: str,
                   problems: list[str]) -> dict[str, list[ox.Triple]]:
    """Split a page into dataset graphs under our URIs, keyed by dct:identifier or the source URI.

    The source's own dct:identifier stays dct:identifier; the key it gave is also kept as wodp:sourceKey.
    """
    out = {}
    for old_uri, triples in split_datasets(quads).items():
        node = ox.NamedNode(old_uri)
        own = sorted(t.object.value for t in triples if t.subject == node and t.predicate == DCT.identifier
                     and isinstance(t.object, ox.Literal))
        key = own[0] if own else resolved(old_uri, page)
        if old_uri.startswith(RELATIVE):
            problems.append(f"{page}: relative dataset IRI {_shown(old_uri)!r} resolved against the page as "
                            f"{resolved(old_uri, page)}")
        ident = dataset_id(source, key)
        new = ox.NamedNode(f"{base_uri}/datasets/{ident}")
        swap = lambda term: new if term == node else term  # noqa: E731
        graph = [ox.Triple(swap(t.subject), t.predicate, swap(t.object)) for t in triples
                 if t.predicate != DCAT.dataset]
        graph, found = normalise(graph, page, f"{page} dataset {_shown(old_uri)}")
        problems += found
        graph += [ox.Triple(ox.NamedNode(f"{base_uri}/catalog"), DCAT.dataset, new),
                  ox.Triple(new, WODP.source, ox.Literal(source)),
                  ox.Triple(new, WODP.sourceKey, ox.Literal(key))]
        if not own:
            graph.append(ox.Triple(new, DCT.identifier, ox.Literal(ident)))
        out[new.value] = graph
    return out


def _shown(uri: str) -> str:
    """Return a dataset's source IRI as the source wrote it (a relative one without our parse base)."""
    return uri[len(RELATIVE):] if uri.startswith(RELATIVE) else uri


def paging(quads: list[ox.Quad], url: str) -> tuple[int | None, str | None]:
    """Return (total items, next page URL) from hydra:PagedCollection or hydra:view/PartialCollectionView."""
    total = following = None
    for q in quads:
        p = q.predicate.value
        if p == HYDRA + "totalItems":
            try:
                total = int(q.object.value)
            except ValueError:
                raise SourceFormatError(f"{url}: hydra:totalItems {q.object.value!r} is not a number") from None
        elif p in (HYDRA + "nextPage", HYDRA + "next") and following is None:
            following = q.object.value
    if following:
        following = resolved(following, url)
    if following and not re.match(r"https?://", following):
        following = urljoin(url, following)
    return total, following
