"""Distributions of a dataset graph: from distribution objects (CKAN, DCAT-US, ISO) or from format words.

A format word that names an API (vocabulary.yml ``services``: api, 接口, API服务 …) is no file: it becomes a
distribution reached through a ``dcat:DataService`` (``dcat:accessService``, ``dcat:accessURL``), with no
``dcat:downloadURL`` and no file type. The service's endpoint is the URL the source gives for it, else the
dataset's landing page (the portal page where the API is described and applied for).
"""

from __future__ import annotations

import re

from pyoxigraph import Literal, NamedNode

from mappings.values import is_service, lookup_format, parse_int
from ontology.namespaces import DCAT, DCT, FILE_TYPE, IANA, RDF, XSD

_MEDIA = re.compile(r"^[a-z]+/[\w.+-]+$")
_SERVICE = ("service", None)


def distribution_triples(b) -> None:
    """Add the distributions of a Builder's record; report formats we cannot name."""
    items = b.ext.distributions or [{"format": w} for w in b.ext.values.get("format", [])]
    seen: set[tuple] = set()
    n = 0
    for item in items:
        kinds = _kinds(b, item)
        if kinds == (None, None) and not (item.get("download_url") or item.get("access_url")):
            continue  # only an unknown format word (reported): no distribution is invented from it
        ident = (kinds, item.get("download_url"), item.get("access_url"), item.get("title"))
        if ident in seen:
            continue
        seen.add(ident)
        n += 1
        node = NamedNode(f"{b.uri.value}#dist-{n}")
        if kinds == _SERVICE:
            _service(b, node, item, n)
        else:
            _one(b, node, item, kinds)


def _kinds(b, item: dict[str, str]) -> tuple[str | None, str | None]:
    """Return (EU file type, IANA media type) of a distribution, or ("service", None) for an API."""
    word, media = item.get("format"), item.get("media_type")
    found = lookup_format(word) if word else None
    if word and found is None and is_service(word):
        return _SERVICE
    if word and found is None:
        b.problem("format", "unknown-value", f"format {word!r} matches no EU file type", word)
    file_type, known_media = found or (None, None)
    if media and _MEDIA.match(media.lower()):
        known_media = media.lower()
    return file_type, known_media


def _service(b, dist: NamedNode, item: dict[str, str], n: int) -> None:
    """Add a distribution served by an API: accessURL and accessService, never a downloadURL."""
    where = item.get("access_url") or item.get("download_url") or b.ext.first("landing_page")
    endpoint = b.iri("access_url", where) if where else None
    b.add(b.uri, DCAT.distribution, dist)
    b.add(dist, RDF.type, DCAT.Distribution)
    if item.get("title"):
        b.add(dist, DCT.title, b.text(item["title"]))
    b.add(dist, DCAT.accessURL, endpoint or b.uri)
    if endpoint is None:
        b.problem("format", "missing-field", f"API {item.get('format')!r} without an endpoint or landing page: "
                  "its data service has no endpoint", item.get("format"))
        return
    service = NamedNode(f"{b.uri.value}#service-{n}")
    b.add(dist, DCAT.accessService, service)
    b.add(service, RDF.type, DCAT.DataService)
    b.add(service, DCAT.endpointURL, endpoint)
    b.add(service, DCAT.servesDataset, b.uri)
    title = item.get("title") or b.ext.first("title")
    if title:
        b.add(service, DCT.title, b.text(title))
    _licence(b, dist, item)


def _one(b, dist: NamedNode, item: dict[str, str], kinds: tuple[str | None, str | None]) -> None:
    """Add one distribution node and the typing of its vocabulary values."""
    file_type, media = kinds
    b.add(b.uri, DCAT.distribution, dist)
    b.add(dist, RDF.type, DCAT.Distribution)
    if item.get("title"):
        b.add(dist, DCT.title, b.text(item["title"]))
    if file_type:
        b.add(dist, DCT.format, FILE_TYPE[file_type])
        b.add(FILE_TYPE[file_type], RDF.type, DCT.MediaTypeOrExtent)
    if media:
        b.add(dist, DCAT.mediaType, IANA[media])
        b.add(IANA[media], RDF.type, DCT.MediaType)
    access = item.get("access_url") or item.get("download_url") or b.ext.first("landing_page")
    access_iri = b.iri("access_url", access) if access else None
    b.add(dist, DCAT.accessURL, access_iri or b.uri)
    if item.get("download_url"):
        download = b.iri("download_url", item["download_url"])
        if download:
            b.add(dist, DCAT.downloadURL, download)
    size = parse_int(item.get("byte_size") or "")
    if size is not None:
        b.add(dist, DCAT.byteSize, Literal(str(size), datatype=XSD.nonNegativeInteger))
    _licence(b, dist, item)


def _licence(b, dist: NamedNode, item: dict[str, str]) -> None:
    """Add the distribution's licence when it is an IRI (the record's, else the distribution's own)."""
    licence = item.get("license") or b.ext.first("license")
    if licence and licence.startswith(("http://", "https://")):
        doc = b.iri("license", licence)
        if doc:
            b.add(dist, DCT.license, doc)
            b.add(doc, RDF.type, DCT.LicenseDocument)
