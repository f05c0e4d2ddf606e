"""Render the HTML page of one dataset: core metadata, distributions, RDF links, schema.org JSON-LD."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pyoxigraph as ox
from markupsafe import Markup

from access.policy import ANONYMOUS, DatasetAccess, may_read_data, open_type_in, public_view
from ogc.wkt import wkt_bbox
from ontology.namespaces import DQV, DCAT, DCT, DEF, FOAF, GSP, LOCN, SKOS, VCARD, WODP
from server.portal.i18n import normalize_lang
from server.portal.views import render_page
from core.errors import NotFoundError
from sparql.store import VOCABULARY_GRAPH

RDF_FORMS = (("ttl", "Turtle"), ("jsonld", "JSON-LD"), ("rdf", "RDF/XML"), ("nt", "N-Triples"))
THEME_BASE = DEF + "theme/"
IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')
LABELS = """SELECT ?s ?p ?l WHERE { GRAPH <%s> { VALUES ?s { %s } VALUES ?p { <%s> <%s> } ?s ?p ?l } }"""


class Resource:
    """The triples of one subject, read by predicate."""

    def __init__(self, node: ox.NamedNode | ox.BlankNode, graph: dict) -> None:
        self.node, self.props = node, graph.get(node, {})

    def all(self, predicate: ox.NamedNode) -> list:
        return self.props.get(predicate, [])

    def one(self, predicate: ox.NamedNode):
        values = self.all(predicate)
        return values[0] if values else None

    def text(self, predicate: ox.NamedNode, lang: str) -> str:
        """Return the literal in lang, else the Chinese one, else any."""
        literals = [v for v in self.all(predicate) if isinstance(v, ox.Literal)]
        for wanted in (lang, "zh"):
            for v in literals:
                if normalize_lang(v.language) == wanted:
                    return v.value
        return literals[0].value if literals else ""

    def value(self, predicate: ox.NamedNode) -> str:
        term = self.one(predicate)
        return term.value if term is not None else ""


def _graph(triples: list[ox.Triple]) -> dict:
    graph: dict = defaultdict(lambda: defaultdict(list))
    for t in triples:
        graph[t.subject][t.predicate].append(t.object)
    return graph


def _labels(store, nodes: set[str], lang: str) -> dict[str, str]:
    """Return URI → label (prefLabel before foaf:name; lang before Chinese) from the vocabulary graph."""
    nodes = {n for n in nodes if not IRI_UNSAFE.search(n)}  # what a SPARQL IRI cannot hold has no label here
    if not nodes:
        return {}
    values = " ".join(f"<{n}>" for n in sorted(nodes))
    query = LABELS % (VOCABULARY_GRAPH.value, values, SKOS.prefLabel.value, FOAF.name.value)
    ranked: dict[str, tuple[int, str]] = {}
    for row in store.query(query):
        literal = row["l"]
        rank = (0 if normalize_lang(literal.language) == lang else 2) + (row["p"] != SKOS.prefLabel)
        uri = row["s"].value
        if uri not in ranked or rank < ranked[uri][0]:
            ranked[uri] = (rank, literal.value)
    return {uri: label for uri, (_, label) in ranked.items()}


def _local(uri: str) -> str:
    return re.split(r"[/#]", uri.rstrip("/"))[-1]


def _spatial(dataset: Resource, graph: dict) -> tuple[float, float, float, float] | None:
    for place in dataset.all(DCT.spatial):
        extent = Resource(place, graph)
        for predicate in (DCAT.bbox, LOCN.geometry):
            literal = extent.one(predicate)
            if literal is not None and literal.datatype == GSP.wktLiteral:
                box = wkt_bbox(literal.value)
                if box:
                    return box
    return None


def _contact(dataset: Resource, graph: dict, lang: str) -> dict:
    node = dataset.one(DCAT.contactPoint)
    if node is None:
        return {}
    contact = Resource(node, graph)
    phone, email = contact.value(VCARD.hasTelephone), contact.value(VCARD.hasEmail)
    return {"name": contact.text(VCARD.fn, lang), "phone": phone.removeprefix("tel:"),
            "email": email.removeprefix("mailto:")}


def local_href(url: str, base_uri: str) -> str:
    """Make links into this site relative to its root, so they work behind any host name."""
    return url[len(base_uri):] if url.startswith(base_uri + "/") else url


def _distributions(dataset: Resource, graph: dict, base_uri: str, lang: str, labels: dict | None = None) -> list[dict]:
    labels = labels or {}
    out = []
    for node in sorted(dataset.all(DCAT.distribution), key=lambda n: n.value):
        dist = Resource(node, graph)
        download, access = dist.value(DCAT.downloadURL), dist.value(DCAT.accessURL)
        media = dist.value(DCAT.mediaType)
        out.append({
            "title": dist.text(DCT.title, lang), "format": _local(dist.value(DCT.format)).upper(),
            "media_type": media.split("media-types/")[-1] if media else "",
            "download": download, "download_href": local_href(download, base_uri) if download else "",
            "access_href": local_href(access, base_uri) if access and access != dataset.node.value else "",
            "size": dist.value(DCAT.byteSize), "license": dist.value(DCT.license),
            # the licence's name in our vocabularies (ontology/licences.ttl); an IRI we do not know stays itself
            "license_label": labels.get(dist.value(DCT.license), ""),
        })
    return out


def dataset_view(store, uri: str, base_uri: str, lang: str, scores=None) -> dict:
    """Read one dataset from the store into the values its page shows.

    ``scores`` (server/quality_scores.py) keeps each publisher's mean score; without it the store is asked.
    """
    stored = store.dataset_triples(uri)
    data_open = may_read_data(DatasetAccess(uri, open_type_in(uri, stored)), ANONYMOUS).allowed
    triples = public_view(uri, stored, ANONYMOUS)  # no download of data the open type keeps back
    graph = _graph(triples)
    node = ox.NamedNode(uri)
    if node not in graph:
        raise NotFoundError(f"no dataset {uri} in this catalogue")
    d = Resource(node, graph)
    publisher = d.one(DCT.publisher)
    themes = [t.value for t in d.all(DCAT.theme) if t.value.startswith(THEME_BASE)]
    coded = {v.value for v in (publisher, d.one(WODP.openType), d.one(WODP.updateCycle))
             if isinstance(v, ox.NamedNode)}  # a text (a cycle written out) has no label to look up
    licences = {v.value for n in d.all(DCAT.distribution) for v in Resource(n, graph).all(DCT.license)
                if isinstance(v, ox.NamedNode)}
    labels = _labels(store, coded | set(themes) | licences, lang)
    if publisher is not None and publisher.value not in labels:
        agent = Resource(publisher, graph)  # its name, else the label the source gave it (a SKOS concept)
        labels[publisher.value] = agent.text(FOAF.name, lang) or agent.text(SKOS.prefLabel, lang) or _local(
            publisher.value)
    label = lambda term: labels.get(term.value, _local(term.value)) if term is not None else ""  # noqa: E731
    return {
        "uri": uri, "id": d.value(DCT.identifier) or _local(uri), "code": d.value(WODP.resourceCode),
        "title": d.text(DCT.title, lang), "title_zh": d.text(DCT.title, "zh"),
        "description": d.text(DCT.description, lang), "description_zh": d.text(DCT.description, "zh"),
        "publisher": label(publisher), "publisher_code": _local(publisher.value) if publisher else "",
        "publisher_uri": publisher.value if publisher else "",
        "themes": [{"code": _local(t), "label": labels.get(t, _local(t))} for t in sorted(themes)],
        "keywords": sorted(k.value for k in d.all(DCAT.keyword)),
        "open_type": label(d.one(WODP.openType)),
        "open_code": _local(d.value(WODP.openType)) if d.one(WODP.openType) else "",
        # the source's text where it names no open type (开放条件), shown as given, with no badge
        "open_condition": "；".join(sorted(v.value for v in d.all(WODP.openCondition))),
        "data_open": data_open,
        "cycle": label(d.one(WODP.updateCycle)),
        "issued": d.value(DCT.issued)[:10], "modified": d.value(DCT.modified)[:10],
        "volume": d.value(WODP.dataVolume), "contact": _contact(d, graph, lang),
        "bbox": _spatial(d, graph), "distributions": _distributions(d, graph, base_uri, lang, labels),
        # what manage/freshness.py measures: the declared cycles (<IRI> or text) and every dct:modified
        "cycle_values": _declared(d.all(WODP.updateCycle)),
        "frequency_values": _declared(d.all(DCT.accrualPeriodicity)),
        "modified_values": [v.value for v in d.all(DCT.modified)],
        "quality": _quality(d, graph),
        "department_score": None if publisher is None else (
            scores.score(publisher.value) if scores is not None else _department_score(store, publisher.value)),
    }


def _declared(terms: list) -> list[str]:
    """Encode declared values as manage/freshness.py reads them: ``<IRI>`` for an IRI, the text of a literal."""
    return [f"<{t.value}>" if isinstance(t, ox.NamedNode) else t.value for t in terms]


DEPARTMENT_SCORE = """PREFIX dqv: <http://www.w3.org/ns/dqv#>
SELECT (AVG(xsd:decimal(?v)) AS ?score) (COUNT(?d) AS ?n) WHERE {
  ?d <http://purl.org/dc/terms/publisher> <%s> ; dqv:hasQualityMeasurement ?m .
  ?m dqv:isMeasurementOf <https://data.wuhan.gov.cn/def/wodp#qualityScore> ; dqv:value ?v }"""


def _department_score(store, department: str) -> float | None:
    """Return the mean quality score of a department's datasets."""
    row = next(iter(store.query(DEPARTMENT_SCORE.replace("xsd:decimal", "<http://www.w3.org/2001/XMLSchema#decimal>")
                                % department.replace(">", "%3E"))), None)
    if row is None or row[0] is None or int(row[1].value) == 0:
        return None
    return round(float(row[0].value), 1)


QUALITY_METRICS = ("qualityScore", "completeness", "freshness", "conformance", "linkAvailability")


def _quality(dataset: Resource, graph: dict) -> dict[str, float]:
    """Read the DQV measurements stored with the dataset: metric name → value."""
    out = {}
    for node in dataset.all(DQV.hasQualityMeasurement):
        m = Resource(node, graph)
        metric, value = m.value(DQV.isMeasurementOf), m.value(DQV.value)
        name = metric.rsplit("#", 1)[-1]
        if name in QUALITY_METRICS and value:
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def schema_org(view: dict, rating=None) -> dict:
    """Describe the dataset as a schema.org Dataset (what search engines read); ``rating`` (services.feedback
    Rating) adds its aggregateRating."""
    doc = {
        "@context": "https://schema.org", "@type": "Dataset", "@id": view["uri"], "url": view["uri"],
        "name": view["title_zh"] or view["title"], "description": view["description_zh"] or view["description"],
        "identifier": [v for v in (view["id"], view["code"]) if v], "keywords": view["keywords"],
        "publisher": {"@type": "Organization", "@id": view["publisher_uri"], "name": view["publisher"]},
        "inLanguage": "zh-CN", "isAccessibleForFree": view["open_code"] != "closed",
    }
    if view["issued"]:
        doc["dateCreated"] = doc["datePublished"] = view["issued"]
    if view["modified"]:
        doc["dateModified"] = view["modified"]
    licences = sorted({d["license"] for d in view["distributions"] if d["license"]})
    if licences:
        doc["license"] = licences[0]
    if view["bbox"]:
        west, south, east, north = view["bbox"]
        doc["spatialCoverage"] = {"@type": "Place", "geo": {"@type": "GeoShape",
                                                            "box": f"{south} {west} {north} {east}"}}
    doc["distribution"] = [
        {"@type": "DataDownload", "name": d["title"], "encodingFormat": d["media_type"] or d["format"],
         "contentUrl": d["download"]}
        for d in view["distributions"] if d["download"]
    ]
    if rating is not None:
        doc["aggregateRating"] = {"@type": "AggregateRating", "ratingValue": rating.value,
                                  "ratingCount": rating.count, "bestRating": 5, "worstRating": 1}
    return doc


def json_for_script(data: dict) -> Markup:
    """Serialize JSON that is safe inside a <script> element (no "</", "<!--" or "&" left raw)."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_dataset_page(platform, dataset_uri: str, lang: str) -> str:
    """Return the HTML page of one dataset in lang ("zh" or "en")."""
    lang = normalize_lang(lang)
    view = dataset_view(platform.store, dataset_uri, platform.settings.base_uri, lang,
                        getattr(platform, "quality_scores", None))
    from server.portal.maps import dataset_map
    from server.portal.preview import attach_tables, freshness_view, load_tables, size_text

    dataset_id = dataset_uri.rsplit("/", 1)[-1]
    map_config = dataset_map(platform, dataset_id, lang, extent=view["bbox"])
    preview = load_tables(platform, dataset_id) if view["data_open"] else None  # no rows of data kept back
    attach_tables(view["distributions"], preview.tables if preview else ())
    view["freshness"] = freshness_view(view["cycle_values"], view["frequency_values"], view["modified_values"])
    fb = None
    if getattr(platform, "feedback", None) is not None or getattr(platform, "usage", None) is not None:
        from server.portal.feedback import page_context

        fb = page_context(platform, dataset_id)
    from server.data_api import call_examples  # the data API's "how to call it" block (none without tables)
    from server.showcase_pages import dataset_panel

    return render_page("portal_dataset.html", lang, settings=platform.settings, d=view, fb=fb,
                       sc=dataset_panel(platform, dataset_id), data_api=call_examples(platform, dataset_id),
                       jsonld=json_for_script(schema_org(view, fb and fb["rating"])), title=view["title"] or view["id"],
                       rdf_forms=RDF_FORMS, map_config=map_config, preview=preview,
                       size_text=lambda n: size_text(n, lang),
                       map_json=json_for_script(map_config) if map_config else None)
