"""Install the vocabulary graph and the catalogue's own description in the store."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pyoxigraph as ox

from config.settings import Settings
from ontology import turtle_sources
from ontology.extent import extent_triples
from ontology.namespaces import CRS_4490, DCAT, DCT, DEPARTMENT, FOAF, LANGUAGE, RDF, WODP, XSD
from sparql.store import VOCABULARY_GRAPH, OxigraphStore

log = logging.getLogger(__name__)

WUHAN_BBOX = (113.68, 29.97, 115.08, 31.36)  # the city's extent (lon/lat), as ogc/api.py gives it to pygeoapi


def vocabulary_triples() -> list[ox.Triple]:
    """Return the triples of every ontology Turtle file."""
    triples: list[ox.Triple] = []
    for name, data in turtle_sources().items():
        triples += [q.triple for q in ox.parse(data, ox.RdfFormat.TURTLE, base_iri=WODP.base)]
    return triples


def catalogue_triples(settings: Settings) -> list[ox.Triple]:
    """Describe the catalogue itself (DCAT-AP mandatory and recommended properties)."""
    site = settings.site
    cat = ox.NamedNode(settings.base_uri + "/catalog")
    zh = lambda text: ox.Literal(text, language="zh-CN")  # noqa: E731
    en = lambda text: ox.Literal(text, language="en")  # noqa: E731
    publisher = DEPARTMENT[site.publisher]
    return [
        ox.Triple(cat, RDF.type, DCAT.Catalog),
        ox.Triple(cat, DCT.title, zh(site.title_zh)),
        ox.Triple(cat, DCT.title, en(site.title_en)),
        ox.Triple(cat, DCT.description, zh(site.description_zh)),
        ox.Triple(cat, DCT.description, en(site.description_en)),
        ox.Triple(cat, DCT.publisher, publisher),
        ox.Triple(publisher, RDF.type, FOAF.Agent),
        *(ox.Triple(publisher, FOAF.name, t) for t in _department_names(site.publisher)),
        ox.Triple(cat, DCT.language, LANGUAGE.ZHO),
        ox.Triple(LANGUAGE.ZHO, RDF.type, DCT.LinguisticSystem),
        ox.Triple(cat, FOAF.homepage, ox.NamedNode(settings.base_uri + "/")),
        ox.Triple(ox.NamedNode(settings.base_uri + "/"), RDF.type, FOAF.Document),
        ox.Triple(cat, DCAT.themeTaxonomy, WODP.Themes),
        ox.Triple(WODP.Themes, RDF.type, ox.NamedNode("http://www.w3.org/2004/02/skos/core#ConceptScheme")),
        ox.Triple(WODP.Themes, DCT.title, zh("数据领域")),
        ox.Triple(WODP.Themes, DCT.title, en("Data themes")),
        ox.Triple(cat, DCAT.service, ox.NamedNode(settings.base_uri + "/sparql")),
        ox.Triple(ox.NamedNode(settings.base_uri + "/sparql"), RDF.type, DCAT.DataService),
        ox.Triple(ox.NamedNode(settings.base_uri + "/sparql"), DCAT.endpointURL,
                  ox.NamedNode(settings.base_uri + "/sparql")),
        ox.Triple(ox.NamedNode(settings.base_uri + "/sparql"), DCT.title, zh("SPARQL 查询服务")),
        ox.Triple(ox.NamedNode(settings.base_uri + "/sparql"), DCT.conformsTo,
                  ox.NamedNode("https://www.w3.org/TR/sparql11-protocol/")),
        ox.Triple(ox.NamedNode("https://www.w3.org/TR/sparql11-protocol/"), RDF.type, DCT.Standard),
        *_recommended(settings, cat, publisher),
    ]


def _recommended(settings: Settings, cat: ox.NamedNode, publisher: ox.NamedNode) -> list[ox.Triple]:
    """What DCAT-AP recommends and the platform knows: when this description was written, the area the catalogue
    covers (the city, as WKT and GeoJSON), and the SPARQL service's publisher, keywords and service description.
    docs/interop.md lists what stays unfilled and why."""
    sparql = ox.NamedNode(settings.base_uri + "/sparql")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ox.Triple(cat, DCT.modified, ox.Literal(now, datatype=XSD.dateTime)),
        *extent_triples(cat, WUHAN_BBOX, "EPSG:4490", 2),
        ox.Triple(cat, DCT.conformsTo, CRS_4490), ox.Triple(CRS_4490, RDF.type, DCT.Standard),
        ox.Triple(sparql, DCT.publisher, publisher),
        ox.Triple(sparql, DCAT.keyword, ox.Literal("SPARQL", language="en")),
        ox.Triple(sparql, DCAT.keyword, ox.Literal("开放数据目录", language="zh-CN")),
        ox.Triple(sparql, DCAT.endpointDescription, sparql),
    ]


def _department_names(code: str) -> list[ox.Literal]:
    """Return the foaf:name literals of one of our departments, from ontology/departments.ttl."""
    subject = DEPARTMENT[code]
    return [t.object for t in vocabulary_triples() if t.subject == subject and t.predicate == FOAF.name]


def install(store: OxigraphStore, settings: Settings) -> list[str]:
    """Write the vocabulary and catalogue graphs where they differ from the stored ones; return those written.

    An unchanged graph is not written again, so a restart on an unchanged home leaves the store's generation
    where it was and no derived index is rebuilt (issue 11). The catalogue's ``dct:modified`` (when its
    description was written) is left out of the comparison: it changes only with the rest of the description.
    """
    catalog = settings.base_uri + "/catalog"
    written = []
    for uri, triples in ((VOCABULARY_GRAPH.value, vocabulary_triples()), (catalog, catalogue_triples(settings))):
        if not same_graph([q.triple for q in store.quads(uri)], triples, ignore=ox.NamedNode(catalog)):
            store.put_graph(uri, triples)
            written.append(uri)
    return written


def install_in(platform) -> list[str]:
    """Install the graphs in a running platform's store (after its start-up check); when one changed, every
    derived index takes the new generation (the search index reads its labels again: they come from these
    graphs), so none is taken as behind and rebuilt at the next start (sparql/followers.py graphs_changed)."""
    written = install(platform.store, platform.settings)
    if written:
        for follower in platform.followers:
            if hasattr(follower, "graphs_changed"):
                follower.graphs_changed(platform.store)
    return written


def same_graph(stored, wanted, ignore: ox.NamedNode | None = None) -> bool:
    """Tell whether two graphs hold the same triples (``ignore``'s dct:modified aside); exact: a graph with blank
    nodes is never taken as the same (their labels change when stored)."""
    def lines(triples):
        out = set()
        for t in triples:
            if isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode):
                return None
            if not (t.subject == ignore and t.predicate == DCT.modified):
                out.add(str(t))
        return out

    old, new = lines(stored), lines(wanted)
    return old is not None and old == new and len(stored) > 0


def load_demo(platform) -> "object":
    """Publish the generated demo catalogue into the store, keeping every other dataset; return the DemoCatalog.

    On an existing home only the demo's own datasets change: those whose content differs from what the
    demo last published are published again, demo datasets the generator no longer makes are removed, and
    pushed, harvested or loaded datasets stay as they are. Afterwards the harvest ledger and the store agree
    (``reconcile_ledger``).
    """
    from demo.generator import build_demo_catalog
    from harvesters.provenance import content_hash

    settings = platform.settings
    d = settings.demo
    demo = build_demo_catalog(settings.base_uri, d.seed, d.datasets, d.spatial)
    store = platform.store
    install_in(platform)
    platform.demo = demo  # the gate reads the spatial datasets' files from it (ogc.layers)
    platform.extras["demo_index"] = {ds.id: ds for ds in demo.datasets}
    jobs = platform.harvesting.jobs if platform.harvesting is not None else None
    ledger = jobs.entries(DEMO_SOURCE) if jobs is not None else {}
    stored = set(store.dataset_uris())
    graphs = {}
    for ds in demo.datasets:
        entry = ledger.get(ds.uri)
        if (ds.uri in stored and entry is not None and entry.state == "published"
                and entry.hash == content_hash(ds.uri, ds.triples)):
            continue  # published by the demo as it is now: left as it is
        graphs[ds.uri] = list(ds.triples)
    outcome = platform.publisher.publish(graphs, DEMO_SOURCE) if graphs else None
    if outcome is not None and outcome.held:
        held = ", ".join(sorted(outcome.held)[:5])
        raise RuntimeError(f"{len(outcome.held)} demo datasets failed validation, e.g. {held}")
    made = {ds.uri for ds in demo.datasets}
    prefix = f"{settings.base_uri}/datasets/{DEMO_PREFIX}"
    old = [u for u in stored if u.startswith(prefix) and u not in made]
    if old:  # demo datasets of other demo settings (seed, count): the demo's own, so removed
        store.remove_datasets(old, reason="demo")
        log.warning("%d demo datasets of other demo settings (seed, count) removed, e.g. %s", len(old),
                    sorted(old)[0])
        if jobs is not None:
            jobs.record(((u, DEMO_SOURCE, None, None, None, "removed", "removed") for u in old), None)
    if jobs is not None:
        reconcile_ledger(store, jobs)
    return demo


DEMO_SOURCE = "demo"
DEMO_PREFIX = "demo."


def reconcile_ledger(store, jobs) -> int:
    """Make the harvest ledger agree with the store: a dataset it lists as published that the store lacks
    is recorded as removed (with a history line saying so); return how many were corrected."""
    stored = set(store.dataset_uris())
    lost = [e for e in jobs.entries().values() if e.state == "published" and e.uri not in stored]
    if lost:
        jobs.record(((e.uri, e.source, e.channel, e.rank, e.hash, "removed", "removed: not in the store")
                     for e in lost), None)
        log.warning("harvest ledger: %d datasets listed as published were not in the store; recorded as removed",
                    len(lost))
    return len(lost)


def remove_datasets(platform, ids, via: dict | None = None) -> dict:
    """Remove datasets by identifier, whatever base URI they were published under; the ledger follows.

    Ids are matched against the stored datasets' URIs (their last segment), so `wodp remove ID` needs no
    base URI setting. Returns {"removed": n, "not_found": [ids]}.
    """
    by_id: dict[str, list[str]] = {}
    for uri in platform.store.dataset_uris():
        by_id.setdefault(uri.rstrip("/").rsplit("/", 1)[-1], []).append(uri)
    uris = [u for i in ids for u in by_id.get(i, ())]
    from server.audit import audit, dataset_digest

    before = {uri: dataset_digest(platform.store, uri) for uri in uris}
    event = platform.store.remove_datasets(uris, reason="removed")
    for uri in event.removed:  # one audit entry per dataset removed
        audit("dataset.remove", f"dataset:{uri.rstrip('/').rsplit('/', 1)[-1]}", before.get(uri), None,
              {**(via or {}), "uri": uri}, log_to=platform.audit)
    jobs = platform.harvesting.jobs if platform.harvesting is not None else None
    if jobs is not None and event.removed:
        entries = [e for e in (jobs.entry(u) for u in event.removed) if e is not None]
        jobs.record(((e.uri, e.source, e.channel, e.rank, e.hash, "removed", "removed") for e in entries), None)
    return {"removed": len(event.removed), "uris": list(event.removed), "not_found": [i for i in ids if i not in by_id],
            "generation": event.generation}
