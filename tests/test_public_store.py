"""The triple store holds only what anyone may read (sparql/public.py, docs/access.md).

SPARQL reaches every triple of the store, so a dataset whose open type keeps its data back (有条件开放,
不予开放) is stored as its public view, and its whole graph beside the store. Here: the SPARQL door never
shows a withheld download link, on the embedded store and on both remote engines, while the platform's own
reads (``dataset_triples``, ``wodp export``, the digests behind the harvest's "unchanged") keep the graph
exactly as published; a change of open type moves the links in and out; an interrupted write never brings
back an older whole graph.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from access.policy import OpenType, open_type_in, public_view, withheld_links
from ontology.namespaces import ACCESS_RIGHT, DCAT, DCT, RDF
from sparql.digests import graph_digest
from tests.remote_engines import ENGINES

LINKS = """SELECT ?g ?o WHERE { GRAPH ?g { ?s ?p ?o } VALUES ?p { <http://www.w3.org/ns/dcat#downloadURL>
  <http://www.w3.org/ns/dcat#accessURL> <http://www.w3.org/ns/dcat#accessService> } }"""
EVERY_OBJECT = "SELECT DISTINCT ?o WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""


def _sparql(client, query: str) -> list[dict]:
    answer = client.post("/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_json()["results"]["bindings"]


def _restricted(platform) -> dict[str, list[str]]:
    """Each restricted dataset of the catalogue with the links its public view withholds."""
    found = {}
    for row in platform.store.query(OPEN_TYPES):
        uri = row[0].value
        if row[1].value.rsplit("/", 1)[-1] in ("conditional", "closed"):
            links = withheld_links(uri, platform.store.dataset_triples(uri))
            if links:
                found[uri] = links
    return found


def test_the_sparql_door_shows_no_withheld_link_and_the_platform_keeps_every_one(demo_platform, demo_client):
    platform, client = demo_platform, demo_client
    restricted = _restricted(platform)
    assert len(restricted) >= 50, len(restricted)  # the demo has restricted datasets with files, or this proves nothing
    withheld = {link for links in restricted.values() for link in links}
    shown = {(b["g"]["value"], b["o"]["value"]) for b in _sparql(client, LINKS)}
    assert not [(g, o) for g, o in shown if g in restricted and o in restricted[g]]
    every = {b["o"]["value"] for b in _sparql(client, EVERY_OBJECT)}
    open_links = {o for g, o in shown if g not in restricted}
    assert not (withheld - open_links) & every  # nowhere in the store, in any graph, not even the default one
    assert open_links  # the open datasets' links are there

    # the platform's own reads keep the graph as published: every link, and the digest it was published with
    digests = platform.store.digests()
    for uri, links in sorted(restricted.items())[:40]:
        whole = platform.store.dataset_triples(uri)
        assert set(links) <= {t.object.value for t in whole}
        assert graph_digest(whole) == digests[uri]
        uri_node = ox.NamedNode(uri)
        served = [ox.Triple(ox.NamedNode(b["s"]["value"]) if b["s"]["type"] == "uri" else ox.BlankNode(),
                            ox.NamedNode(b["p"]["value"]), ox.Literal("x")) for b in
                  _sparql(client, f"SELECT ?s ?p WHERE {{ GRAPH {uri_node} {{ ?s ?p ?o }} }}")]
        assert len(served) == len(public_view(uri, whole))  # the graph SPARQL sees is the public view


def test_export_carries_the_withheld_links(demo_platform):
    restricted = _restricted(demo_platform)
    exported = {}
    for quad in demo_platform.store.quads():
        if quad.predicate in (DCAT.downloadURL, DCAT.accessURL) and quad.graph_name.value in restricted:
            exported.setdefault(quad.graph_name.value, set()).add(quad.object.value)
    assert {uri: set(links) for uri, links in restricted.items()} == {
        uri: exported.get(uri, set()) & set(restricted[uri]) for uri in restricted}


def _restricted_graph(uri: str, kind: str, url: str) -> list[ox.Triple]:
    node, dist = ox.NamedNode(uri), ox.NamedNode(uri + "/csv")
    right = {"unconditional": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}[kind]
    return [ox.Triple(node, RDF.type, DCAT.Dataset), ox.Triple(node, DCT.title, ox.Literal("停车场", language="zh")),
            ox.Triple(node, DCT.accessRights, ACCESS_RIGHT[right]), ox.Triple(node, DCAT.distribution, dist),
            ox.Triple(dist, RDF.type, DCAT.Distribution), ox.Triple(dist, DCAT.downloadURL, ox.NamedNode(url)),
            ox.Triple(dist, DCAT.accessURL, ox.NamedNode(url)),
            ox.Triple(dist, DCAT.byteSize, ox.Literal("12.50", datatype=ox.NamedNode(
                "http://www.w3.org/2001/XMLSchema#decimal")))]


def _engine_links(store) -> set[str]:
    return {row[0].value for row in store.query(
        "SELECT ?o WHERE { GRAPH ?g { ?s <http://www.w3.org/ns/dcat#downloadURL> ?o } }")}


class _Killed(BaseException):
    """The process dies here (not an error the store handles)."""


def _killed_in(store, method: str, graphs) -> None:
    """Put ``graphs`` with the process killed when the store calls ``method``."""
    def die(*args, **kwargs):
        raise _Killed(method)

    setattr(store, method, die)
    try:
        store.put_datasets(graphs)
    except _Killed:
        pass
    finally:
        delattr(store, method)


def _check_store(store):
    """Put, change the open type, undo, remove, interrupt: the engine never holds a withheld link."""
    uri, url = "https://data.example.cn/dataset/p1", "https://dept.example.cn/files/p1.csv"
    event = store.put_datasets({uri: _restricted_graph(uri, "conditional", url)})
    assert _engine_links(store) == set()
    whole = store.dataset_triples(uri)
    assert url in {t.object.value for t in whole}
    assert graph_digest(whole) == store.digests()[uri] == event.digests[uri]
    assert url in {t.object.value for t in event.graphs[uri]}  # the indexes follow the whole graph
    if hasattr(store, "dataset_graphs"):  # a remote store's read of a batch (the gate's previous versions)
        assert graph_digest(store.dataset_graphs([uri])[uri]) == event.digests[uri]
    size = next(t.object for t in whole if t.predicate == DCAT.byteSize)
    assert size.value in ("12.5", "12.50")  # as the store keeps it (Oxigraph: canonical), not re-typed

    store.put_datasets({uri: _restricted_graph(uri, "unconditional", url)})  # opened: the link is public
    assert _engine_links(store) == {url}
    assert store._withheld.whole(uri) is None
    opened = store.dataset_triples(uri)

    store.put_datasets({uri: _restricted_graph(uri, "closed", url)})
    assert _engine_links(store) == set()
    store.restore({uri: opened})  # an undone publication puts back the open graph
    assert _engine_links(store) == {url}
    store.restore({uri: whole})
    assert _engine_links(store) == set() and url in {t.object.value for t in store.dataset_triples(uri)}
    assert url in {q.object.value for q in store.quads()}

    # a process killed before the store's write, then after it: the public view is read, never an older whole
    # graph, and the digest no longer matches the source's, so the next harvest stores the dataset again
    moved = "https://dept.example.cn/files/p1-moved.csv"
    for killed_in in ("_apply" if hasattr(store, "_apply") else "_replace_many", "_settle"):
        _killed_in(store, killed_in, {uri: _restricted_graph(uri, "conditional", moved)})
        read = {t.object.value for t in store.dataset_triples(uri)}
        assert url not in read and moved not in read
        assert open_type_in(uri, store.dataset_triples(uri)) is OpenType.CONDITIONAL
        store._digests.verified = False
        assert store.digests()[uri] != event.digests[uri]
        store.put_datasets({uri: _restricted_graph(uri, "conditional", url)})
        assert url in {t.object.value for t in store.dataset_triples(uri)}

    store.remove_datasets([uri])
    assert store._withheld.wholes() == {} and store.dataset_triples(uri) == []


def test_the_embedded_store_holds_public_views(tmp_path):
    from sparql.store import OxigraphStore

    store = OxigraphStore(tmp_path / "store")
    try:
        _check_store(store)
    finally:
        store.close()


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_remote_engine_holds_public_views(engine, tmp_path):
    from sparql.remote import RemoteStore

    server = ENGINES[engine](tmp_path / engine, timeout_s=10).start()
    try:
        store = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20)
        try:
            _check_store(store)
            # a graph loaded whole into the engine with its own tools: stored as its public view at start-up
            from sparql.public import withhold_stored

            loaded, link = "https://data.example.cn/dataset/p5", "https://dept.example.cn/files/p5.csv"
            store._apply("loading", {loaded: _restricted_graph(loaded, "closed", link)})
            assert _engine_links(store) == {link}
            assert withhold_stored(store) == 1 and _engine_links(store) == set()
            assert link in {t.object.value for t in store.dataset_triples(loaded)}
            assert withhold_stored(store) == 0
            # a web process (a reader) reads the whole graph beside the engine too
            uri, url = "https://data.example.cn/dataset/p2", "https://dept.example.cn/files/p2.csv"
            store.put_datasets({uri: _restricted_graph(uri, "closed", url)})
            reader = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20, reader=True)
            try:
                assert url in {t.object.value for t in reader.dataset_triples(uri)}
            finally:
                reader.close()
        finally:
            store.close()
    finally:
        server.stop()


def test_processes_on_several_machines_share_the_whole_graphs_on_postgresql(postgis_dsn, tmp_path):
    """Two homes (two machines) on one engine and one database.url: what one stores whole, the other reads whole."""
    import uuid

    from sparql.remote import RemoteStore
    from tests.conftest import pg_schema_url

    url = pg_schema_url(postgis_dsn, "w" + uuid.uuid4().hex[:12])
    server = ENGINES["oxigraph"](tmp_path / "oxigraph", timeout_s=10).start()
    try:
        first = RemoteStore(server.query_url, tmp_path / "one" / "store", timeout_s=20, database_url=url)
        other = RemoteStore(server.query_url, tmp_path / "two" / "store", timeout_s=20, database_url=url)
        reader = RemoteStore(server.query_url, tmp_path / "three" / "store", timeout_s=20, reader=True,
                             database_url=url)
        try:
            _check_store(first)
            uri, url_ = "https://data.example.cn/dataset/p4", "https://dept.example.cn/files/p4.csv"
            first.put_datasets({uri: _restricted_graph(uri, "conditional", url_)})
            assert _engine_links(first) == set()
            for store in (other, reader):
                assert url_ in {t.object.value for t in store.dataset_triples(uri)}
                assert url_ in {q.object.value for q in store.quads()}
            other.remove_datasets([uri])
            assert first.dataset_triples(uri) == [] and first._withheld.wholes() == {}
        finally:
            for store in (first, other, reader):
                store.close()
    finally:
        server.stop()


def test_a_web_process_snapshot_reads_the_whole_graph(tmp_path):
    from sparql.store import OxigraphStore, SnapshotStore

    uri, url = "https://data.example.cn/dataset/p3", "https://dept.example.cn/files/p3.csv"
    store = OxigraphStore(tmp_path / "store")
    store.put_datasets({uri: _restricted_graph(uri, "conditional", url)})
    store.snapshot(tmp_path / "snap")
    reader = SnapshotStore(tmp_path / "store")
    try:
        reader.refresh(str(tmp_path / "snap"), store.generation, 0.0)
        assert url in {t.object.value for t in reader.dataset_triples(uri)}
        assert not list(reader._store.quads_for_pattern(None, DCAT.downloadURL, None, None))  # what workers query
    finally:
        reader.close()
        store.close()


def test_a_home_that_held_restricted_graphs_whole_is_rewritten_at_start_up(tmp_path):
    """A home made before the store held public views (or a catalogue loaded into the engine directly): the next
    start stores each restricted graph as its public view, keeps it whole beside, and changes no digest."""
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 60, "spatial": 6}}, home=tmp_path / "home")
    platform = Platform.open(settings, start_workers=False)
    try:
        load_demo(platform)
        restricted = _restricted(platform)
        assert len(restricted) >= 5, restricted
        whole = {uri: platform.store.dataset_triples(uri) for uri in restricted}
        digests = platform.store.digests()
        generation = platform.store.generation
        platform.store._replace_many(whole)  # as an older home holds them
        platform.store._withheld.clear()
        assert _store_links(platform.store) & {link for links in restricted.values() for link in links}
    finally:
        platform.close()
    platform = Platform.open(settings, start_workers=False)
    try:
        assert not _store_links(platform.store) & {link for links in restricted.values() for link in links}
        assert {uri: graph_digest(platform.store.dataset_triples(uri)) for uri in restricted} == {
            uri: graph_digest(triples) for uri, triples in whole.items()}
        assert platform.store.digests() == digests
        assert platform.store.generation == generation + 1  # the query snapshots move on; nothing was republished
    finally:
        platform.close()
    platform = Platform.open(settings, start_workers=False)  # and once done, a start rewrites nothing
    try:
        assert platform.store.generation == generation + 1
    finally:
        platform.close()


def _store_links(store) -> set[str]:
    return {row[0].value for row in store.query(
        "SELECT ?o WHERE { GRAPH ?g { ?s ?p ?o } VALUES ?p { <http://www.w3.org/ns/dcat#downloadURL> "
        "<http://www.w3.org/ns/dcat#accessURL> } }")}
