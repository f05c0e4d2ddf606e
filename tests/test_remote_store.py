"""The remote store (store.url): the catalogue in Oxigraph server and in Virtuoso over SPARQL 1.1, both started by
the tests (tests/remote_engines.py); every test runs on both engines."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from sparql.errors import StoreError
from sparql.remote import RemoteStore
from tests.remote_engines import ENGINES

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


@pytest.fixture(params=sorted(ENGINES))
def engine_factory(request, tmp_path):
    """Start an engine of the test's kind (both kinds, one after the other), with limits; stop it afterwards."""
    started = []

    def start(**limits):
        limits = {"timeout_s": 10} | limits  # the engine's own time limit on a query
        server = ENGINES[request.param](tmp_path / f"{request.param}-{len(started)}", **limits)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(engine_factory):
    return engine_factory()


@pytest.fixture
def store(server, tmp_path):
    s = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20)
    yield s
    s.close()


def dataset(uri: str, title: str) -> list[ox.Triple]:
    d = ox.NamedNode(uri)
    contact = ox.BlankNode()
    return [ox.Triple(d, TYPE, ox.NamedNode(DCAT + "Dataset")),
            ox.Triple(d, ox.NamedNode(DCT + "title"), ox.Literal(title, language="zh-CN")),
            ox.Triple(d, ox.NamedNode(DCAT + "contactPoint"), contact),
            ox.Triple(contact, ox.NamedNode("http://www.w3.org/2006/vcard/ns#fn"), ox.Literal(f"联系人 {title}")),
            ox.Triple(ox.NamedNode("http://h/catalog"), ox.NamedNode(DCAT + "dataset"), d)]


def titles(store, uri: str) -> list[str]:
    return sorted(t.object.value for t in store.dataset_triples(uri) if t.predicate.value == DCT + "title")


def test_put_read_query_remove(server, store, tmp_path):
    assert store.engine.name == server.name  # found from the engine's Server header (store.engine: auto)
    events = []
    store.subscribe(events.append)
    uris = [f"http://h/datasets/x.{i}" for i in range(30)]
    store.put_datasets({u: dataset(u, f"标题{i}") for i, u in enumerate(uris)})
    assert store.count_datasets() == 30
    assert store.dataset_uris() == sorted(uris)
    assert store.has_dataset(uris[3]) and not store.has_dataset("http://h/datasets/none")
    assert titles(store, uris[3]) == ["标题3"]
    # the stored graph carries its catalogue record, and its blank node keeps its statement
    triples = store.dataset_triples(uris[3])
    assert any(t.predicate.value == DCT + "issued" for t in triples)
    assert sum(isinstance(t.subject, ox.BlankNode) for t in triples) == 1
    first = store.record_modified(uris[3])
    issued = [t.object for t in triples if t.predicate.value == DCT + "issued"]

    store.put_datasets({uris[3]: dataset(uris[3], "新标题")})
    assert titles(store, uris[3]) == ["新标题"]
    assert store.record_modified(uris[3]) > first
    assert [t.object for t in store.dataset_triples(uris[3]) if t.predicate.value == DCT + "issued"] == issued
    assert store.count_datasets() == 30

    # queries of our own: rows by position and by name, ASK, CONSTRUCT; the union of the graphs by default
    rows = list(store.query(f"SELECT ?t WHERE {{ <{uris[3]}> <{DCT}title> ?t }}"))
    assert [r["t"].value for r in rows] == ["新标题"] and rows[0][0].value == "新标题"
    assert store.query(f"ASK {{ <{uris[4]}> a <{DCAT}Dataset> }}") is True
    constructed = store.query(f"CONSTRUCT {{ <{uris[4]}> ?p ?o }} WHERE {{ GRAPH ?g {{ <{uris[4]}> ?p ?o }} }}")
    assert {t.predicate.value for t in constructed} == {str(TYPE.value), DCT + "title", DCAT + "contactPoint"}
    with pytest.raises(StoreError, match="answered 400"):
        store.query("SELECT WHERE {")

    removed = store.remove_datasets([uris[0], "http://h/datasets/unknown"])
    assert removed.removed == (uris[0],)
    assert store.count_datasets() == 29 and store.dataset_triples(uris[0]) == []
    assert [len(e.put) for e in events] == [30, 1, 0]
    assert [e.generation for e in events] == [1, 2, 3]
    assert events[0].created == tuple(uris) and events[1].created == ()
    digests = store.digests()
    assert set(digests) == set(uris[1:])

    # the generation and the digests are kept beside the home: a new handle reads them
    store.close()
    again = RemoteStore(store.url, tmp_path / "home" / "store", timeout_s=10)
    try:
        assert again.generation == 3 and again.digests() == digests
    finally:
        again.close()


def test_a_batch_drops_only_the_graphs_the_store_holds_and_replaces_them_whole(store, monkeypatch):
    held = [f"http://h/datasets/held.{i}" for i in range(3)]
    store.put_datasets({u: dataset(u, f"旧{i}") for i, u in enumerate(held)})
    sent = []
    update = store._update
    monkeypatch.setattr(store, "_update", lambda doing, text: (sent.append(text), update(doing, text))[1])
    fresh = [f"http://h/datasets/fresh.{i}" for i in range(4)]
    store.put_datasets({u: dataset(u, f"新{i}") for i, u in enumerate(held[:2] + fresh)})
    assert len(sent) == 1
    drops, inserts = sent[0].split("INSERT", 1)
    # not held: written without a drop (a drop costs the engine about as much as the insert)
    assert all(uri not in drops and f"<{uri}> {{" in inserts for uri in fresh)
    assert all(uri in drops for uri in held[:2]) and held[2] not in sent[0]
    # the held graphs are replaced whole: the old title is gone, and nothing else moved
    assert [titles(store, u) for u in held] == [["新0"], ["新1"], ["旧2"]]
    assert [titles(store, u) for u in fresh] == [[f"新{i + 2}"] for i in range(4)]
    assert all(len(store.dataset_triples(u)) == len(store.dataset_triples(held[2])) for u in held[:2] + fresh)
    assert store.count_datasets() == 7


# a batch spoiled after it is made: malformed text (the engine refuses it before running any of it), or an
# operation that fails when it runs, after the batch's drops and insert (creating a graph the batch just wrote)
SPOILERS = {
    "malformed": lambda graphs: ' ;\nINSERT DATA { <http://h/a> <http://h/b> "unterminated }',
    "refused when run": lambda graphs: f" ;\nCREATE GRAPH <{next(iter(graphs))}>",
}


@pytest.mark.parametrize("spoiler", sorted(SPOILERS))
def test_failed_batch_leaves_the_store_as_it_was(store, monkeypatch, spoiler):
    good = {f"http://h/datasets/g.{i}": dataset(f"http://h/datasets/g.{i}", f"好{i}") for i in range(5)}
    store.put_datasets(good)
    before = {u: sorted(map(str, store.dataset_triples(u))) for u in good}
    generation = store.generation
    events = []
    store.subscribe(events.append)
    batch = {u: dataset(u, "替换") for u in list(good)[:3]}
    batch["http://h/datasets/new"] = dataset("http://h/datasets/new", "新")
    replacing, spoiled = store._replacing, []

    def spoil(graphs, present=None):  # the batch only: putting graphs back (Virtuoso) is not spoiled
        spoiled.append(graphs)
        return replacing(graphs, present) + (SPOILERS[spoiler](graphs) if len(spoiled) == 1 else "")

    monkeypatch.setattr(store, "_replacing", spoil)
    with pytest.raises(StoreError, match=r"storing 4 datasets failed: the store at .*/(update|sparql) answered "
                                         r"[45]\d\d: ") as failed:
        store.put_datasets(batch)
    if spoiler == "refused when run" and not store.engine.atomic_request:  # Virtuoso: put back what it kept
        assert "were put back as they were" in str(failed.value)
    monkeypatch.undo()
    # the blank node of each contact point is relabelled by a write: compare with it as written
    after = {u: sorted(map(str, store.dataset_triples(u))) for u in good}
    assert {u: titles(store, u) for u in good} == {u: [f"好{i}"] for i, u in enumerate(good)}
    assert [len(v) for v in after.values()] == [len(v) for v in before.values()]
    assert store.count_datasets() == 5 and not store.has_dataset("http://h/datasets/new")
    assert store.generation == generation and events == []
    assert set(store.digests()) == set(good)


def test_unreachable_store_is_named_and_nothing_changes(server, store):
    store.put_datasets({"http://h/datasets/a": dataset("http://h/datasets/a", "甲")})
    generation = store.generation
    server.stop()
    with pytest.raises(StoreError, match=r"cannot reach the store at http://127\.0\.0\.1:\d+/(update|query|sparql)"):
        store.put_datasets({"http://h/datasets/b": dataset("http://h/datasets/b", "乙")})
    assert store.generation == generation
    server.start()
    assert store.dataset_uris() == ["http://h/datasets/a"]


SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"  # a cartesian product
STOPPED = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # one Oxigraph server stops in time


# -- the whole platform on the remote store ------------------------------------------------------------------------

def test_platform_publishes_serves_removes_and_catches_up_on_the_remote_store(server, tmp_path):
    """Published through the gate into Oxigraph server; every door reads it; a write the indexes missed while
    the platform was down is found by digests at the next start-up."""
    from tests.test_push_api import RECORD
    from tests.test_restart_recovery import DCT_TITLE, index_titles, open_platform, push_all, store_titles
    from server.app import create_app
    from sparql.remote_pool import RemotePool

    home = tmp_path / "home"
    remote = {"url": server.query_url, "timeout_s": 10}
    platform = open_platform(home, store=remote)
    try:
        assert isinstance(platform.store, RemoteStore) and isinstance(platform.pool, RemotePool)
        uris = push_all(platform, [RECORD | {"资源代码": f"420100-D017-0830{n}", "资源名称": f"停车场 第{n}版"}
                                   for n in range(4)])
        assert platform.store.count_datasets() == 4
        # what the engine itself holds, asked without the platform
        import httpx

        asked = httpx.post(server.query_url, data={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { "
                                                                  "?g a <http://www.w3.org/ns/dcat#Dataset> } }"},
                           headers={"Accept": "application/sparql-results+json"}).json()
        assert asked["results"]["bindings"][0]["n"]["value"] == "4"
        titles = store_titles(platform.store)
        assert sorted(titles.values()) == [f"停车场 第{n}版" for n in range(4)]
        for name, held in index_titles(platform).items():
            assert held == titles, name

        client = create_app(platform=platform).test_client()
        page = client.get("/catalog", headers={"Accept": "text/turtle"})
        assert page.status_code == 200 and all(u in page.get_data(as_text=True) for u in uris)
        one = client.get("/datasets/" + uris[2].rsplit("/", 1)[-1], headers={"Accept": "text/turtle"})
        assert one.status_code == 200 and "停车场 第2版" in one.get_data(as_text=True)
        answer = client.post("/sparql", data={"query": "SELECT (COUNT(?d) AS ?n) WHERE { ?d a "
                                                       "<http://www.w3.org/ns/dcat#Dataset> }"},
                             headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.get_json()["results"]["bindings"][0]["n"]["value"] == "4"
        bad = client.post("/sparql", data={"query": "SELECT WHERE {"})
        assert bad.status_code == 400 and "malformed query" in bad.get_data(as_text=True)
        update = client.post("/sparql", data={"query": "DROP ALL"})
        assert update.status_code == 400 and platform.store.count_datasets() == 4
        # a query past our time limit (sparql.timeout_s 2): a clear 503, and the next query is answered
        slow = client.post("/sparql", data={"query": SLOW}, headers={"Accept": "application/sparql-results+json"})
        assert slow.status_code == 503 and "time limit" in slow.get_data(as_text=True)
        again = client.post("/sparql", data={"query": "ASK { ?d a <http://www.w3.org/ns/dcat#Dataset> }"},
                            headers={"Accept": "application/sparql-results+json"})
        assert again.status_code == 200 and again.get_json()["boolean"] is True

        platform.publisher.withdraw([uris[3]], source="push")
        assert platform.store.count_datasets() == 3 and not platform.store.has_dataset(uris[3])
        assert client.get("/datasets/" + uris[3].rsplit("/", 1)[-1]).status_code in (404, 410)
        uris = uris[:3]
        settings = platform.settings

        # the engine is down while a department pushes: the push fails, named, and nothing of it is kept
        import json as json_module

        _, token = platform.accounts.create("D017")
        server.stop()
        record = RECORD | {"资源代码": "420100-D017-08399", "资源名称": "停车场 第9版"}
        pushed = client.post("/api/datasets", content_type="application/json",
                             headers={"Authorization": f"Bearer {token}"},
                             data=json_module.dumps([record], ensure_ascii=False).encode())
        assert pushed.status_code in (502, 503), pushed.get_data(as_text=True)
        assert "store" in pushed.get_data(as_text=True)
        server.start()
        assert platform.store.count_datasets() == 3
    finally:
        platform.close()

    # a write while the platform is down: no follower hears it, and the generation is left as it was (as by a
    # process killed before it wrote it): only the digests can tell the indexes are stale
    state_file = home / "store.state.json"
    state = state_file.read_text()
    store = RemoteStore(remote["url"], settings.path(settings.store.path), timeout_s=10)
    graphs = {}
    for uri in uris:
        kept = [t for t in store.dataset_triples(uri) if t.predicate != DCT_TITLE]
        graphs[uri] = kept + [ox.Triple(ox.NamedNode(uri), DCT_TITLE, ox.Literal("停车场 新标题", language="zh-CN"))]
    store.put_datasets(graphs)
    store.close()
    state_file.write_text(state)
    platform = open_platform(home, store=remote)
    try:
        found = {v.follower: v for v in platform.verification}
        assert found["SearchIndex"].stale == 3 and not found["SearchIndex"].caught_up
        assert found["CatalogRecords"].stale == 3 and found["ChangeLog"].stale == 3
        titles = store_titles(platform.store)
        assert set(titles.values()) == {"停车场 新标题"} and len(titles) == 3
        for name, held in index_titles(platform).items():
            assert held == titles, name
    finally:
        platform.close()


def test_a_silent_store_fails_within_the_time_limit(tmp_path, settings_factory):
    """An engine that takes the connection and never answers: writes and /sparql fail at our limits, named."""
    import socket
    import time

    from sparql.errors import QueryTimeoutError
    from sparql.remote_pool import RemotePool

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/query"
        store = RemoteStore(url, tmp_path / "store", timeout_s=0.5)
        try:
            started = time.monotonic()
            with pytest.raises(StoreError, match=r"did not answer within 0\.5 s"):
                store.put_datasets({"http://h/datasets/a": dataset("http://h/datasets/a", "甲")})
            assert store.generation == 0
            pool = RemotePool(store, settings_factory(sparql={"timeout_s": 0.5}).sparql)
            with pytest.raises(QueryTimeoutError, match="time limit of 0.5 s"):
                pool.run("SELECT * WHERE { ?s ?p ?o }", accept="application/sparql-results+json")
            pool.close()
            assert time.monotonic() - started < 5
        finally:
            store.close()


def test_export_reads_the_remote_store_and_settings_refuse_what_it_cannot(server, store, tmp_path, monkeypatch,
                                                                          settings_factory):
    from config.settings import SettingsError
    from server.cli import main

    uris = [f"http://h/datasets/e.{i}" for i in range(3)]
    store.put_datasets({u: dataset(u, f"导出{i}") for i, u in enumerate(uris)})
    monkeypatch.setenv("WODP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WODP_STORE__URL", server.query_url)
    monkeypatch.delenv("WODP_CONFIG", raising=False)
    out = tmp_path / "export.nq"
    assert main(["export", "--output", str(out)]) == 0
    exported = list(ox.parse(out.read_bytes(), format=ox.RdfFormat.N_QUADS))
    assert {q.graph_name.value for q in exported} == set(uris)
    assert len(exported) == sum(len(store.dataset_triples(u)) for u in uris)

    with pytest.raises(SettingsError, match="store.url"):
        settings_factory(store={"url": "oxigraph:7878"})


def test_remote_pool_negotiates_and_bounds_the_answer(store, settings_factory):
    from sparql.errors import QueryRefusedError, QueryTooLargeError
    from sparql.remote_pool import RemotePool

    uris = [f"http://h/datasets/p.{i}" for i in range(40)]
    store.put_datasets({u: dataset(u, f"池{i}") for i, u in enumerate(uris)})
    pool = RemotePool(store, settings_factory(sparql={"max_result_bytes": 2048}).sparql)
    counted = RemotePool(store, settings_factory(sparql={"max_results": 30}).sparql)
    try:
        ask = pool.run(f"ASK {{ <{uris[0]}> a <{DCAT}Dataset> }}", accept="application/sparql-results+xml")
        assert ask.media_type == "application/sparql-results+xml" and b"<boolean>true</boolean>" in ask.body
        graph = pool.run(f"CONSTRUCT {{ <{uris[1]}> ?p ?o }} WHERE {{ <{uris[1]}> ?p ?o }}", format_name="ttl")
        assert graph.media_type == "text/turtle" and "池1".encode() in graph.body
        with pytest.raises(QueryTooLargeError, match="larger than 2048 bytes"):
            pool.run("SELECT * WHERE { ?s ?p ?o }", accept="text/csv")
        # sparql.max_results: the triples of a graph answer, counted here
        with pytest.raises(QueryTooLargeError, match="more than 30 solutions"):
            counted.run(f"CONSTRUCT {{ ?d a <{DCAT}Dataset> }} WHERE {{ ?d a <{DCAT}Dataset> }}", format_name="ttl")
        assert counted.run(f"CONSTRUCT {{ ?d a <{DCAT}Dataset> }} WHERE {{ ?d a <{DCAT}Dataset> }} LIMIT 30",
                        format_name="nt").body.count(b"\n") == 30
        with pytest.raises(QueryRefusedError, match="SPARQL Update is not allowed"):
            pool.run("DELETE WHERE { ?s ?p ?o }")
        assert store.count_datasets() == 40
    finally:
        counted.close()
        pool.close()


# -- literals, limits and failures on both engines ---------------------------------------------------------------

XSD = "http://www.w3.org/2001/XMLSchema#"
WKT = ox.NamedNode("http://www.opengis.net/ont/geosparql#wktLiteral")
LONG_TEXT = "武汉市公共数据开放平台，长江与汉江交汇。" * 5000  # 100,000 characters


def tricky_dataset(uri: str) -> list[ox.Triple]:
    """A dataset graph with the literals engines are known to alter, and blank nodes two levels deep."""
    d = ox.NamedNode(uri)

    def p(name):
        return ox.NamedNode("http://h/p#" + name)

    def typed(value, datatype):
        return ox.Literal(value, datatype=ox.NamedNode(XSD + datatype))

    values = [
        ox.Literal("武汉市 公交线路", language="zh-Hans"), ox.Literal("Wuhan bus lines", language="en-GB"),
        ox.Literal("公交", language="zh-CN"), ox.Literal("小写标签", language="zh-cn"), ox.Literal(LONG_TEXT),
        ox.Literal("emoji 😀 𠀀, tab\t, newline\n, \"quoted\" \\ back"), ox.Literal(""),
        typed("2021-03-04", "date"), typed("2021-03-04+08:00", "date"), typed("2021-03-04T05:06:07Z", "dateTime"),
        typed("2021-03-04T05:06:07+00:00", "dateTime"), typed("2021-03-04T05:06:07.5+08:00", "dateTime"),
        typed("2021-03-04T05:06:07.123456789Z", "dateTime"), typed("2021-03-04T05:06:07", "dateTime"),
        typed("2021", "gYear"), typed("-0044", "gYear"), typed("12.50", "decimal"), typed("12.5", "decimal"),
        typed("007", "integer"), typed("42", "integer"), typed("9223372036854775808", "integer"),
        typed("5", "long"), typed("1", "boolean"), typed("true", "boolean"), typed("1.5E3", "double"),
        typed("P1Y2M", "duration"), typed("P1D", "dayTimeDuration"), typed("12:30:00", "time"),
        ox.Literal("POINT(114.3055 30.5928)", datatype=WKT),
        ox.Literal("<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((30.4 113.7, 30.4 115.1, 31.4 115.1, "
                   "31.4 113.7, 30.4 113.7))", datatype=WKT),
        ox.Literal("x", datatype=ox.NamedNode("http://h/custom#datatype")),
    ]
    triples = [ox.Triple(d, TYPE, ox.NamedNode(DCAT + "Dataset"))]
    triples += [ox.Triple(d, p(f"v{i}"), value) for i, value in enumerate(values)]
    outer, inner = ox.BlankNode(), ox.BlankNode()
    triples += [ox.Triple(d, p("contact"), outer), ox.Triple(outer, p("address"), inner),
                ox.Triple(inner, p("street"), ox.Literal("沿江大道 188 号", language="zh-CN")),
                ox.Triple(outer, p("fn"), ox.Literal("联系人"))]
    return triples


def without_blank_nodes(triples) -> set[str]:
    return {str(t) for t in triples
            if not isinstance(t.subject, ox.BlankNode) and not isinstance(t.object, ox.BlankNode)}


def test_a_dataset_read_back_equals_what_was_written(server, store, tmp_path, settings_factory):
    """Language tags, dates, WKT, numbers, long Chinese texts and blank nodes come back as written, through
    every read: the Graph Store, queries of our own, /sparql, export and the digests of the start-up check."""
    import json

    from sparql.digests import graph_digest
    from sparql.remote_pool import RemotePool

    uri = "http://h/datasets/tricky"
    event = store.put_datasets({uri: tricky_dataset(uri)})
    written = event.graphs[uri]  # as stored: in the embedded store's form, whatever the engine
    stored = {t.predicate.value.rsplit("#", 1)[-1]: str(t.object) for t in written if t.subject.value == uri}
    assert stored["v0"] == '"武汉市 公交线路"@zh-hans'  # pyoxigraph writes language tags in lower case
    assert stored["v16"] == '"12.5"^^<http://www.w3.org/2001/XMLSchema#decimal>'  # "12.50": Oxigraph's canonical
    assert stored["v20"] == '"9223372036854775808"^^<http://www.w3.org/2001/XMLSchema#integer>'
    assert stored["v25"] == '"P1Y2M"^^<http://www.w3.org/2001/XMLSchema#duration>'
    assert stored["v27"] == '"12:30:00"^^<http://www.w3.org/2001/XMLSchema#time>'
    assert stored["v29"].startswith('"<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((30.4 113.7')
    assert stored["v4"] == str(ox.Literal(LONG_TEXT))
    back = store.dataset_triples(uri)
    assert len(back) == len(written) and without_blank_nodes(back) == without_blank_nodes(written)
    assert graph_digest(back) == store.digests()[uri] == graph_digest(written)
    contact = [t for t in back if t.predicate.value == "http://h/p#contact"][0].object
    address = [t.object for t in back if t.subject == contact and t.predicate.value == "http://h/p#address"]
    assert [t.object.value for t in back if t.subject == address[0]] == ["沿江大道 188 号"]

    # a query of our own: terms as written
    rows = list(store.query(f"SELECT ?p ?o WHERE {{ GRAPH <{uri}> {{ <{uri}> ?p ?o }} }}"))
    assert {str(r["o"]) for r in rows if isinstance(r["o"], ox.Literal)} == \
        {str(t.object) for t in written if t.subject.value == uri and isinstance(t.object, ox.Literal)}
    # /sparql through the remote pool: JSON and CSV as written (the language tag's case, WKT's datatype)
    pool = RemotePool(store, settings_factory(sparql={"max_result_bytes": 10 << 20}).sparql)
    try:
        answer = json.loads(pool.run(f"SELECT ?o WHERE {{ <{uri}> ?p ?o FILTER(isLiteral(?o)) }}",
                                     accept="application/sparql-results+json").body)
        terms = {(b["o"]["value"][:60], b["o"].get("xml:lang"), b["o"].get("datatype"))
                 for b in answer["results"]["bindings"]}
        assert ("武汉市 公交线路", "zh-hans", None) in terms and ("Wuhan bus lines", "en-gb", None) in terms
        assert ("POINT(114.3055 30.5928)", None, WKT.value) in terms and ("12.5", None, XSD + "decimal") in terms
        assert ("2021-03-04T05:06:07.5+08:00", None, XSD + "dateTime") in terms
        assert (LONG_TEXT[:60], None, None) in terms
        assert terms == {(t.object.value[:60], t.object.language,
                          None if t.object.language or t.object.datatype.value == XSD + "string"
                          else t.object.datatype.value)
                         for t in written if t.subject.value == uri and isinstance(t.object, ox.Literal)}
        csv = pool.run(f"SELECT ?o WHERE {{ <{uri}> <http://h/p#v0> ?o }}", accept="text/csv").body
        assert csv.decode("utf-8").splitlines()[1] == "武汉市 公交线路"
        turtle = pool.run(f"CONSTRUCT {{ <{uri}> ?p ?o }} WHERE {{ <{uri}> ?p ?o }}", format_name="nt").body
        assert {str(q.triple) for q in ox.parse(turtle, format=ox.RdfFormat.N_TRIPLES)
                if not isinstance(q.object, ox.BlankNode)} == \
            {str(t) for t in written if t.subject.value == uri and not isinstance(t.object, ox.BlankNode)}
    finally:
        pool.close()
    # export
    exported = [q.triple for q in store.quads() if q.graph_name.value == uri]
    assert without_blank_nodes(exported) == without_blank_nodes(written) and len(exported) == len(written)


class HalfwayProxy:
    """A TCP proxy that passes on half of each request's body to the engine, then drops both connections:
    the engine never gets the whole update, the platform never gets an answer."""

    def __init__(self, upstream_port: int) -> None:
        import socket
        import threading

        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.cut = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += client.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length // 2:
                    body += client.recv(65536)
                upstream.sendall(head + b"\r\n\r\n" + body[: length // 2])
                self.cut += 1

    def close(self) -> None:
        self.listener.close()


def test_a_write_cut_off_mid_request_changes_nothing(server, store, tmp_path):
    """The connection breaks while the batch is being sent: nothing of it is stored, and the failure says the
    outcome is checked at the next start-up (its digests stay pending)."""
    from urllib.parse import urlsplit

    olds = {f"http://h/datasets/c.{i}": dataset(f"http://h/datasets/c.{i}", f"旧{i}") for i in range(20)}
    store.put_datasets(olds)
    generation = store.generation
    proxy = HalfwayProxy(urlsplit(server.query_url).port)
    cut = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20)
    cut.update_url = cut.engine.urls(server.query_url, None, None)[1].replace(
        f":{urlsplit(server.query_url).port}/", f":{proxy.port}/")
    try:
        with pytest.raises(StoreError, match=r"storing 20 datasets failed: the connection to the store at .* broke "
                                             r"before it answered .*may or may not have been applied"):
            cut.put_datasets({u: dataset(u, "新") for u in olds})
        assert proxy.cut == 1 and cut.generation == generation
    finally:
        cut.close()
        proxy.close()
    assert sorted(t for u in olds for t in titles(store, u)) == sorted(f"旧{i}" for i in range(20))
    assert store.count_datasets() == 20


def test_an_engine_killed_during_a_batch_keeps_all_of_it_or_none(engine_factory, tmp_path):
    """The engine dies (SIGKILL) while a batch of 1,000 replacements is written: once it is back, every dataset is
    whole, old or new (one request is one transaction, replayed from the engine's log). Oxigraph takes the batch in
    one request: all of it or none. Virtuoso compiles a request into at most 10,000 lines of SQL, so a batch this
    large goes in several requests: some of them may be kept, and the digests left pending say which."""
    import threading
    import time

    server = engine_factory(timeout_s=0)  # no time limit: Virtuoso's MaxQueryExecutionTime holds updates too
    store = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=60)
    try:
        uris = [f"http://h/datasets/k.{i}" for i in range(1000)]
        store.put_datasets({u: dataset(u, "旧") for u in uris})
        outcome: list = []

        def write():
            try:
                outcome.append(store.put_datasets({u: dataset(u, "新") for u in uris}))
            except StoreError as exc:
                outcome.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)
        server.kill()
        writer.join(120)
        server.start()
        each = [titles(store, u) for u in uris]
        assert all(t in (["旧"], ["新"]) for t in each) and store.count_datasets() == 1000
        assert all(sum(isinstance(t.subject, ox.BlankNode) for t in store.dataset_triples(u)) == 1 for u in uris[:50])
        held = {t[0] for t in each}
        if store.engine.name == "oxigraph":
            assert held in ({"旧"}, {"新"}), held
        if isinstance(outcome[0], StoreError):  # the usual case: killed before it answered
            assert held == {"旧"} or "may or may not have been applied" in str(outcome[0])
        else:
            assert held == {"新"}
    finally:
        store.close()


def test_a_slow_query_meets_the_time_limits_and_the_engine_stays_up(engine_factory, tmp_path, settings_factory):
    """Ours on the connection (sparql.timeout_s) and the engine's own (Virtuoso's MaxQueryExecutionTime; Oxigraph
    server's --timeout-s stops some queries, after its 200, and not others, docs/scale-out.md): a clear timeout
    either way, and never part of an answer passed on as a whole one."""
    import json

    from sparql.errors import QueryTimeoutError
    from sparql.remote_pool import RemotePool

    server = engine_factory(timeout_s=2)
    store = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20)
    pools = []
    try:
        store.put_datasets({f"http://h/datasets/s.{i}": dataset(f"http://h/datasets/s.{i}", f"慢{i}")
                            for i in range(40)})
        ours = RemotePool(store, settings_factory(sparql={"timeout_s": 1}).sparql)
        pools.append(ours)
        with pytest.raises(QueryTimeoutError, match=r"past the time limit of 1 s"):
            ours.run(SLOW, accept="application/sparql-results+json")
        theirs = RemotePool(store, settings_factory(sparql={"timeout_s": 30}).sparql)
        pools.append(theirs)
        if server.name == "virtuoso":
            with pytest.raises(QueryTimeoutError, match=r"the store stopped the query at its own time limit"):
                theirs.run(SLOW, accept="application/sparql-results+json")
        else:  # Oxigraph server stops this one at its --timeout-s, after its 200: it breaks the answer off
            store.put_datasets({f"http://h/datasets/t.{i}": dataset(f"http://h/datasets/t.{i}", f"慢{i}")
                                for i in range(110)})  # ~1,500 quads: the product of three, ~3×10^9 rows
            for accept in ("application/sparql-results+json", "text/csv"):  # never passed on as a whole answer
                with pytest.raises(QueryTimeoutError, match=r"the engine stopped the query at its own time limit "
                                                            r"and broke off its answer .*cancelled"):
                    theirs.run(STOPPED, accept=accept)
            with pytest.raises(QueryTimeoutError, match=r"broke off its answer"):
                theirs.run(STOPPED.replace("SELECT (COUNT(*) AS ?n)", "CONSTRUCT { ?a ?b ?c }"),
                           accept="text/turtle")
            with pytest.raises(StoreError, match=r"answered 200, but the engine stopped the query at its own time "
                                                 r"limit and broke off its answer") as caught:
                store.query(STOPPED)  # the platform's own reads: an error, never part of an answer
            assert caught.value.status == 504
        answer = ours.run(f"SELECT (COUNT(?d) AS ?n) WHERE {{ ?d a <{DCAT}Dataset> }}",
                          accept="application/sparql-results+json")
        assert json.loads(answer.body)["results"]["bindings"][0]["n"]["value"] == \
            ("40" if server.name == "virtuoso" else "150")
        assert ours.stats["timeout"] == 1 and theirs.stats["timeout"] == (1 if server.name == "virtuoso" else 3)
    finally:
        for pool in pools:
            pool.close()
        store.close()


def test_an_answer_the_engine_cut_short_is_an_error(engine_factory, tmp_path, settings_factory):
    """Virtuoso answers at most ResultSetMaxRows rows, with a 200: our reads and /sparql refuse such an answer,
    named, rather than pass on part of it as if it were whole."""
    from sparql.errors import QueryTooLargeError
    from sparql.remote_pool import RemotePool

    server = engine_factory(max_rows=100)
    if server.name != "virtuoso":
        pytest.skip("Oxigraph server answers every row: it has no row limit")
    store = RemoteStore(server.query_url, tmp_path / "home" / "store", timeout_s=20)
    pool = RemotePool(store, settings_factory().sparql)
    try:
        store.put_datasets({f"http://h/datasets/r.{i}": dataset(f"http://h/datasets/r.{i}", f"行{i}")
                            for i in range(30)})
        assert store.count_datasets() == 30 and len(store.dataset_uris()) == 30
        with pytest.raises(StoreError, match=r"the engine cut the answer at 100 rows \(its ResultSetMaxRows\)"):
            list(store.quads())
        with pytest.raises(QueryTooLargeError, match=r"the engine cut the answer at 100 rows"):
            pool.run("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", accept="text/csv")
    finally:
        pool.close()
        store.close()


def test_several_web_processes_read_the_remote_store_and_see_every_write(server, tmp_path):
    """`wodp serve` with two web processes on the remote store: each reads the engine itself (no snapshot), and
    a GET after a push answered 201 sees the push, whichever process answers it."""
    import json
    import os
    import re
    import signal
    import subprocess
    import urllib.request

    from tests.test_web_processes import RECORD, ROOT, Server, free_port, get

    home = tmp_path / "home"
    env = dict(os.environ, WODP_HOME=str(home), PYTHONPATH=str(ROOT), WODP_SERVER__PROCESSES="2",
               WODP_STORE__URL=server.query_url, WODP_LOGGING__LEVEL="WARNING", WODP_CSW__ENABLED="false")
    added = subprocess.run([str(ROOT / ".venv/bin/wodp"), "account", "add", "D017"], env=env, check=True,
                           capture_output=True, text=True, timeout=60).stdout
    token = re.search(r"token[^:]*: (\S+)", added).group(1)
    web = Server(home, free_port(), env)
    try:
        assert len(web.web_pids()) == 2
        for round_ in range(3):
            record = RECORD | {"资源摘要": f"泊位数（第 {round_} 版）。"}
            request = urllib.request.Request(web.url + "/api/datasets", method="POST",
                                             data=json.dumps(record, ensure_ascii=False).encode(),
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=60) as answer:
                assert answer.status in (200, 201)
            for _ in range(8):  # fresh connections: the kernel spreads them over both processes
                status, page = get(web.url + "/datasets/wuhan.420100-D017-07101.ttl")
                assert status == 200 and f"第 {round_} 版" in page.decode()
        status, page = get(web.url + "/catalog", Accept="text/turtle")
        assert status == 200 and "wuhan.420100-D017-07101" in page.decode()
        assert not (home / "snapshots").exists() or not any((home / "snapshots").iterdir())
    finally:
        os.killpg(web.proc.pid, signal.SIGTERM)
        try:
            web.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(web.proc.pid, signal.SIGKILL)
            web.proc.wait()


# -- engine profiles, without a server -------------------------------------------------------------------------

def test_engine_profiles_name_their_endpoints():
    from sparql.engines import ENGINES as PROFILES, engine_from_server

    assert PROFILES["oxigraph"].urls("http://h:7878", None, None) == \
        ("http://h:7878/query", "http://h:7878/update", "http://h:7878/store")
    assert PROFILES["virtuoso"].urls("http://h:8890/sparql", None, None) == \
        ("http://h:8890/sparql", "http://h:8890/sparql", "http://h:8890/sparql-graph-crud")
    assert PROFILES["virtuoso"].urls("http://h:8890/sparql", None, "http://g/crud")[2] == "http://g/crud"
    with pytest.raises(StoreError, match="set store.update_url and store.gsp_url"):
        PROFILES["generic"].urls("http://h/ds/sparql", None, None)
    assert engine_from_server("Virtuoso/07.20.3229 (Linux)").name == "virtuoso"
    assert engine_from_server("Oxigraph/0.5.13").name == "oxigraph"
    assert engine_from_server("Apache Jena Fuseki").name == "generic"
    with pytest.raises(StoreError, match="store.engine 'fuseki' is not one of"):
        RemoteStore("http://h/sparql", None, engine="fuseki")


def test_virtuoso_codec_sends_what_it_would_alter_under_a_stand_in_and_reads_it_back():
    from sparql.engines import STAND_IN, VIRTUOSO
    from sparql.updates import blank_node_groups

    codec = VIRTUOSO.codec
    kept = [ox.Literal("武汉", language="zh-cn"), ox.Literal("2021-03-04", datatype=ox.NamedNode(XSD + "date")),
            ox.Literal("2021-03-04T05:06:07.5Z", datatype=ox.NamedNode(XSD + "dateTime")),
            ox.Literal("42", datatype=ox.NamedNode(XSD + "integer")), ox.Literal("x")]
    altered = [ox.Literal("POINT(1 2)", datatype=WKT), ox.Literal("P1Y", datatype=ox.NamedNode(XSD + "duration")),
               ox.Literal("12:30:00", datatype=ox.NamedNode(XSD + "time")),
               ox.Literal("9223372036854775808", datatype=ox.NamedNode(XSD + "integer")),
               ox.Literal("2021-03-04T05:06:07+00:00", datatype=ox.NamedNode(XSD + "dateTime"))]
    assert [codec.encode_term(t) for t in kept] == kept
    sent = [codec.encode_term(t) for t in altered]
    assert all(t.datatype.value.startswith(STAND_IN) for t in sent)
    assert [codec.decode_term(t) for t in sent] == altered
    # Virtuoso's own answers for what it was sent as is: three digits of a fraction, booleans as 1
    assert codec.decode_term(ox.Literal("2021-03-04T05:06:07.500Z", datatype=ox.NamedNode(XSD + "dateTime"))) == kept[2]
    assert codec.decode_term(ox.Literal("1", datatype=ox.NamedNode(XSD + "boolean"))).value == "true"
    with pytest.raises(StoreError, match="cuts IRIs longer than 1500"):
        codec.encode_term(ox.NamedNode("http://h/" + "x" * 1600))
    # a blank node's triples stay in one group (one INSERT template), whatever the group size
    a, b = ox.BlankNode(), ox.BlankNode()
    d, p = ox.NamedNode("http://h/d"), ox.NamedNode("http://h/p")
    plain, groups = blank_node_groups([ox.Triple(d, p, a), ox.Triple(a, p, b), ox.Triple(b, p, ox.Literal("x")),
                                       ox.Triple(d, p, ox.Literal("y"))], size=1)
    assert len(plain) == 1 and [len(g) for g in groups] == [3]


def test_canonical_graphs_are_what_the_embedded_store_keeps():
    """Each graph as pyoxigraph's store gives it back (typed literals in canonical form, duplicates once), in
    the order given, whichever graph a literal is in."""
    from sparql.engines import canonical_graphs

    xsd = "http://www.w3.org/2001/XMLSchema#"
    terms = [ox.Literal("01", datatype=ox.NamedNode(xsd + "integer")), ox.Literal("1", datatype=ox.NamedNode(xsd + "integer")),
             ox.Literal("1.50", datatype=ox.NamedNode(xsd + "decimal")), ox.Literal("1e3", datatype=ox.NamedNode(xsd + "double")),
             ox.Literal("2020-01-01T00:00:00.000Z", datatype=ox.NamedNode(xsd + "dateTime")),
             ox.Literal("1", datatype=ox.NamedNode(xsd + "boolean")), ox.Literal("abc", datatype=ox.NamedNode(xsd + "integer")),
             ox.Literal(" 5 ", datatype=ox.NamedNode(xsd + "int")), ox.Literal("P1Y2M", datatype=ox.NamedNode(xsd + "duration")),
             ox.Literal("POINT(1 2)", datatype=ox.NamedNode("http://www.opengis.net/ont/geosparql#wktLiteral")),
             ox.Literal("x", language="ZH-cn"), ox.Literal("武汉"), ox.Literal("武汉", datatype=ox.NamedNode(xsd + "string")),
             ox.BlankNode("b1"), ox.NamedNode("http://h/o")]
    p = ox.NamedNode("http://h/p")
    graphs = {f"http://h/datasets/{g}": [ox.Triple(ox.NamedNode(f"http://h/s{g}"), p, o) for o in terms[g::2] + terms]
              for g in range(2)}
    store = ox.Store()
    store.extend([ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(u)) for u, ts in graphs.items() for t in ts])
    got = canonical_graphs(graphs)
    for uri in graphs:
        kept = [q.triple for q in store.quads_for_pattern(None, None, None, ox.NamedNode(uri))]
        assert sorted(map(str, got[uri])) == sorted(map(str, kept)) and len(got[uri]) == len(kept) < len(graphs[uri])
    assert [t.object.value for t in got["http://h/datasets/0"][:3]] == ["1", "1.5", "2020-01-01T00:00:00Z"]


def test_graphs_prepared_before_the_turn_are_stored_and_digested_as_whole_graphs():
    """sparql/remote.py ``prepare``: the stored form and the digest made in two parts (the graph before the
    store's turn, its catalogue record in it) equal those of the whole graph made at once."""
    from sparql import records
    from sparql.digests import digest_lines_many, digests_adding, graph_digest
    from sparql.engines import canonical, canonical_graphs

    xsd = "http://www.w3.org/2001/XMLSchema#"
    p = lambda name: ox.NamedNode(f"http://example.org/p/{name}")  # noqa: E731
    catalog = ox.NamedNode("http://example.org/catalog")
    graphs = {}
    for n in range(4):
        uri = f"http://example.org/datasets/d{n}"
        d, b = ox.NamedNode(uri), ox.BlankNode()
        graphs[uri] = [ox.Triple(d, p("size"), ox.Literal("12.50", datatype=ox.NamedNode(xsd + "decimal"))),
                       ox.Triple(d, p("at"), ox.Literal("2020-01-01T08:00:00+00:00",
                                                        datatype=ox.NamedNode(xsd + "dateTime"))),
                       ox.Triple(d, p("part"), b),
                       ox.Triple(b, p("n"), ox.Literal("007", datatype=ox.NamedNode(xsd + "integer"))),
                       ox.Triple(d, p("title"), ox.Literal("交通", language="zh")),
                       ox.Triple(d, p("title"), ox.Literal("交通", language="zh")),
                       ox.Triple(catalog, records.DCAT_DATASET_P, d),
                       # an old record, replaced by the new one
                       ox.Triple(records.record_uri(uri), records.MODIFIED, records.now_literal())]
    stamp = records.now_literal()
    issued = {uri: ox.Literal("2019-05-01T00:00:00.500Z", datatype=ox.NamedNode(xsd + "dateTime")) if n % 2
              else None for n, uri in enumerate(graphs)}
    whole = {uri: canonical(records.with_record(uri, t, stamp, issued[uri])) for uri, t in graphs.items()}
    bodies = canonical_graphs({uri: records.without_record(uri, t) for uri, t in graphs.items()})
    added = canonical_graphs({uri: records.record_triples(uri, bodies[uri], stamp, issued[uri]) for uri in graphs})
    lines = digest_lines_many(bodies)
    assert digests_adding({uri: (lines[uri], added[uri]) for uri in graphs}) == \
        {uri: graph_digest(t) for uri, t in whole.items()}
    for uri in graphs:
        assert len(bodies[uri]) + len(added[uri]) == len(whole[uri]) == 11
        assert {str(t) for t in bodies[uri] + added[uri] if not isinstance(t.object, ox.BlankNode)
                and not isinstance(t.subject, ox.BlankNode)} == \
            {str(t) for t in whole[uri] if not isinstance(t.object, ox.BlankNode)
             and not isinstance(t.subject, ox.BlankNode)}


def test_records_modified_in_one_query_equal_one_at_a_time(store):
    """A /catalog page asks the stamps of its datasets at once (one query per 200 on a remote store): the same
    as record_modified of each, None for a dataset the store does not hold."""
    uris = [f"http://h/datasets/m.{i}" for i in range(250)]
    store.put_datasets({u: dataset(u, f"题{i}") for i, u in enumerate(uris[:240])})
    asked = uris[::-1] + ["http://h/datasets/none"]
    batch = store.records_modified(asked)
    assert list(batch) == asked
    assert batch == {u: store.record_modified(u) for u in asked}
    assert sum(v is not None for v in batch.values()) == 240 and batch["http://h/datasets/none"] is None
