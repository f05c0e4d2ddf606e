"""Keep the catalogue as OGC API Records: one record per dataset in the feature-store layer 'catalog'.

``CatalogRecords.follow(store, event)`` is a publish follower (Platform.followers): the datasets an event put
are re-read from their graphs and upserted, removed ones deleted, a reset rebuilds everything; so after every
publish the layer holds exactly the store's datasets (same count, record times from the store). Updates
touch only the datasets of the event (``upsert_features``/``delete_features``; a backend without them gets
the whole layer rewritten through ``put_layer``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable, Iterable

import pyoxigraph as ox

from access.policy import public_view
from ogc.features import Feature, LayerInfo
from ogc.features.values import trim_features
from ogc.wkt import wkt_bbox
from sparql import records as catalog_records
from ontology import namespaces as ns
from sparql.followers import Follower

log = logging.getLogger(__name__)

LAYER_ID = "catalog"
DCT = ns.DCT.base
DCAT = ns.DCAT.base
VCARD = ns.VCARD.base
FOAF_NAME = ns.FOAF.name.value
FIELDS = {"type": "string", "title": "string", "description": "string", "keywords": "string",
          "language": "string", "created": "date", "updated": "date", "publisher": "string",
          "formats": "string", "identifier": "string"}


def catalog_info(title_zh: str = "数据目录", title_en: str = "Catalogue") -> LayerInfo:
    return LayerInfo(id=LAYER_ID, dataset_uri=None, title_zh=title_zh, title_en=title_en, kind="record",
                     fields=dict(FIELDS), datetime_field="updated", geometry_type="Polygon")


def _lang(term) -> str:
    return (getattr(term, "language", None) or "").lower()


def _pick(values: list, prefer: str = "zh") -> str | None:
    """Return the literal in the preferred language (then any)."""
    for value in values:
        if _lang(value).startswith(prefer):
            return value.value
    return values[0].value if values else None


def bbox_polygon(wkt: str) -> dict | None:
    """Return the extent of a WKT literal as a GeoJSON polygon in lon/lat (None if unreadable)."""
    box = wkt_bbox(wkt or "")
    if box is None:
        return None
    w, s, e, n = box
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


class _Graph:
    """Index of one dataset graph: subject -> predicate -> objects."""

    def __init__(self, triples: Iterable[ox.Triple]) -> None:
        self.index: dict[str, dict[str, list]] = {}
        for t in triples:
            self.index.setdefault(t.subject.value, {}).setdefault(t.predicate.value, []).append(t.object)

    def objects(self, subject: str, predicate: str) -> list:
        return self.index.get(subject, {}).get(predicate, [])

    def first(self, subject: str, predicate: str) -> str | None:
        values = self.objects(subject, predicate)
        return values[0].value if values else None


def _geometry(g: _Graph, uri: str) -> dict | None:
    for place in g.objects(uri, DCT + "spatial"):
        for wkt in g.objects(place.value, DCAT + "bbox"):
            polygon = bbox_polygon(wkt.value)
            if polygon:
                return polygon
    return None


def _contacts(g: _Graph, uri: str) -> list[dict]:
    contacts = []
    for node in g.objects(uri, DCAT + "contactPoint"):
        contact = {"name": _pick(g.objects(node.value, VCARD + "fn")), "roles": ["pointOfContact"]}
        phones = [p.value.removeprefix("tel:") for p in g.objects(node.value, VCARD + "hasTelephone")]
        emails = [e.value.removeprefix("mailto:") for e in g.objects(node.value, VCARD + "hasEmail")]
        if phones:
            contact["phones"] = [{"value": p} for p in phones]
        if emails:
            contact["emails"] = [{"value": e} for e in emails]
        contacts.append(contact)
    return contacts


def _distributions(g: _Graph, uri: str) -> tuple[list[dict], list[dict]]:
    formats, links = [], []
    for dist in g.objects(uri, DCAT + "distribution"):
        d = dist.value
        fmt = g.first(d, DCT + "format")
        media = g.first(d, DCAT + "mediaType")
        name = fmt.rstrip("/").rsplit("/", 1)[-1] if fmt else None
        if name and all(f["name"] != name for f in formats):
            formats.append({"name": name, **({"mediaType": media.rsplit("/", 2)[-2] + "/" + media.rsplit("/", 1)[-1]}
                                             if media and media.count("/") >= 2 else {})})
        href = g.first(d, DCAT + "downloadURL") or g.first(d, DCAT + "accessURL")
        if href and href != uri:  # the dataset page (restricted data: docs/access.md) is the record's alternate link
            links.append({"rel": "enclosure" if g.first(d, DCAT + "downloadURL") else "service",
                          "href": href, "title": _pick(g.objects(d, DCT + "title")) or name or "distribution",
                          **({"type": f["mediaType"]} if (f := next((x for x in formats if x["name"] == name), None))
                             and "mediaType" in f else {})})
    return formats, links


def _value(literal) -> str | None:
    return literal.value if literal is not None else None


def _date_of(values: list) -> str | None:
    """Return the latest of a dataset's date literals (xsd:date or xsd:dateTime), as written."""
    dates = sorted((v.value for v in values if isinstance(v, ox.Literal) and v.value[:4].isdigit()), reverse=True)
    return dates[0] if dates else None


def record_id(uri: str) -> str:
    """Return the record id of a dataset: its id, the last segment of its URI."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def record_feature(uri: str, triples: Iterable[ox.Triple]) -> Feature | None:
    """Build the OGC API Records record of one dataset from its graph (None if the graph has no dataset)."""
    triples = public_view(uri, list(triples))  # no links to data the open type keeps back (docs/access.md)
    g = _Graph(triples)
    if not g.index.get(uri):
        return None
    record_issued, record_modified = catalog_records.record_dates(triples, uri)
    # the dataset's own dates (what `datetime` filters on); the catalogue record's load time only where it has none
    issued = _date_of(g.objects(uri, DCT + "issued")) or _value(record_issued)
    modified = _date_of(g.objects(uri, DCT + "modified")) or _value(record_modified)
    publisher = g.first(uri, DCT + "publisher")
    formats, links = _distributions(g, uri)
    props = {
        "type": "dataset",
        "title": _pick(g.objects(uri, DCT + "title")),
        "title_en": _pick(g.objects(uri, DCT + "title"), "en"),
        "description": _pick(g.objects(uri, DCT + "description")),
        "keywords": [k.value for k in g.objects(uri, DCAT + "keyword")],
        "themes": [{"concepts": [{"id": t.value}]} for t in g.objects(uri, DCAT + "theme")],
        "language": {"code": "zh"},
        "identifier": g.first(uri, DCT + "identifier"),
        "created": issued,
        "updated": modified,
        "recordUpdated": _value(record_modified),
        "publisher": _pick(g.objects(publisher, FOAF_NAME)) if publisher else None,
        "contacts": _contacts(g, uri),
        "formats": formats,
        "links": [{"rel": "alternate", "type": "text/html", "href": uri, "title": "dataset page"}, *links],
    }
    return {"type": "Feature", "id": record_id(uri), "geometry": _geometry(g, uri), "properties": props}


# -- q through the portal's search index ------------------------------------------------------------
TextIndex = Callable[[str], "set[str] | None"]  # q -> URIs of the matching datasets (None: q has no words)
# (q, offset, limit) -> (one page of the matching datasets' URIs in the index's order, how many match); None: no words
TextPages = Callable[[str, int, int], "tuple[list[str], int] | None"]
_TEXT_INDEXES: dict[int, TextIndex] = {}
_TEXT_PAGES: dict[int, TextPages] = {}


def use_text_index(features, index: TextIndex | None, pages: TextPages | None = None) -> None:
    """Answer ``q`` on the records of this feature store with a text index (the portal's: one index, one count);
    ``pages`` pages a query with nothing but ``q`` in the index itself (issue 11: no listing of every record)."""
    if index is None:
        _TEXT_INDEXES.pop(id(features), None)
    else:
        _TEXT_INDEXES[id(features)] = index
    if pages is None:
        _TEXT_PAGES.pop(id(features), None)
    else:
        _TEXT_PAGES[id(features)] = pages


def text_index_for(features) -> TextIndex | None:
    return _TEXT_INDEXES.get(id(features))


def _only_words(query) -> bool:
    """Tell whether a records query filters and orders by nothing but its words."""
    return not (query.bbox or query.datetime_start or query.datetime_end or query.properties or query.sortby)


def query_through_index(features, layer_id: str, query, index: TextIndex) -> tuple[list[Feature], int]:
    """Run a records query whose ``q`` is matched by the text index; the other filters and the order by the store.

    The store lists the ids that pass the other filters (no geometry, in the query's order); those the index
    matches are paged here and read whole. A catalogue has thousands of records, not millions.
    """
    pages = _TEXT_PAGES.get(id(features))
    if pages is not None and _only_words(query):  # a page of the index's matches, in its order, and their number
        found = pages(" ".join(query.q), query.offset, query.limit)
        if found is None:  # no word the index can search for: the store's own substring match
            return features.query(layer_id, query)
        uris, total = found
        records = [f for f in (features.get(layer_id, record_id(u)) for u in uris) if f is not None]
        return trim_features(records, query), total
    uris = index(" ".join(query.q))
    if uris is None:  # no word the index can search for: the store's own substring match
        return features.query(layer_id, query)
    wanted = {record_id(u) for u in uris}
    if not wanted:
        return [], 0
    ids_only = replace(query, q=(), offset=0, limit=max(features.layer(layer_id).count, 1),
                       skip_geometry=True, select_properties=("type",))
    listed, _ = features.query(layer_id, ids_only)
    matched = [str(f["id"]) for f in listed if str(f["id"]) in wanted]
    page = matched[query.offset:query.offset + query.limit] if query.limit else []
    found = [f for f in (features.get(layer_id, fid) for fid in page) if f is not None]  # gone since listed
    return trim_features(found, query), len(matched)


class CatalogRecords(Follower):
    """The records layer, kept in step with the catalogue store by its publish events."""

    def __init__(self, features, on_change: Callable[[str], object] | None = None,
                 text_index: TextIndex | None = None, text_pages: TextPages | None = None) -> None:
        self.features = features
        self.on_change = on_change
        use_text_index(features, text_index, text_pages)

    def _records(self, store, uris: Iterable[str], event=None) -> list[Feature]:
        out = []
        for uri in uris:
            triples = event.triples(store, uri) if event is not None else store.dataset_triples(uri)
            feature = record_feature(uri, triples)
            if feature is not None:
                out.append(feature)
        return out

    def in_step_with(self, store) -> bool:
        info = self.features.layer(LAYER_ID)
        return info is not None and info.count == store.count_datasets()

    def rebuild(self, store) -> LayerInfo:
        """Write every dataset's record again (one atomic layer replacement)."""
        info = self.features.put_layer(catalog_info(), self._records(store, store.dataset_uris()))
        log.info("catalogue records rebuilt: %d records", info.count)
        self._changed()
        return info

    def follow(self, store, event) -> None:
        """Apply one publish event: upsert the records of the datasets it put, delete those it removed."""
        if event.reset or self.features.layer(LAYER_ID) is None:
            self.rebuild(store)
            return
        put = self._records(store, event.put, event)
        gone = [record_id(uri) for uri in event.removed]
        if hasattr(self.features, "upsert_features"):
            if gone:
                self.features.delete_features(LAYER_ID, gone)
            if put:
                self.features.upsert_features(LAYER_ID, put, catalog_info())
        else:  # a backend without incremental writes: replace the layer
            self.rebuild(store)
            return
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(LAYER_ID)
