"""Every restart comes back whole: indexes verified by content, interrupted jobs retried, the demo keeps pushes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from harvest_fixtures.harness import Harness
from tests.test_push_api import RECORD

DCT_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")
DATASET = ox.NamedNode("http://www.w3.org/ns/dcat#Dataset")


def open_platform(home: Path, environ: dict | None = None, **overrides):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    platform = Platform.open(load_settings(environ or {}, overrides=overrides, home=home), start_workers=False)
    install(platform.store, platform.settings)
    return platform


def push_all(platform, records: list[dict]) -> list[str]:
    """Push records as department D017 through the push API; return the URIs published."""
    from server.app import create_app

    app = create_app(platform=platform)
    app.config["TESTING"] = True
    _, token = platform.accounts.create("D017")
    body = json.dumps(records, ensure_ascii=False).encode()
    answer = app.test_client().post("/api/datasets", data=body, content_type="application/json",
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return [p["uri"] for p in answer.get_json()["published"]]


def store_titles(store) -> dict[str, str]:
    rows = store.query("SELECT ?d ?t WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ; "
                       "<http://purl.org/dc/terms/title> ?t FILTER(LANG(?t) != 'en') } }")
    return {row[0].value: row[1].value for row in rows}


def index_titles(platform) -> dict[str, dict[str, str]]:
    """The title of every dataset as each derived index holds it (search, Records, CSW)."""
    from ogc.records import LAYER_ID

    search = dict(platform.search.db.rows("SELECT uri, title_zh FROM search_docs"))  # SQLite or PostgreSQL
    records = {}
    for uri in platform.store.dataset_uris():
        feature = platform.features.get(LAYER_ID, uri.rsplit("/", 1)[-1])
        if feature is not None:
            records[uri] = feature["properties"]["title"]
    csw = {}
    if platform.csw is not None:  # on SQLite or PostgreSQL (database.url)
        repository = platform.csw.repository
        repository.flush()
        csw = dict(repository.db.rows(f"SELECT identifier, title FROM {repository.table}"))
    return {"search": search, "records": records, "csw": csw}


@pytest.fixture(params=["sqlite", "postgresql"])
def csw_environ(request):
    """The CSW repository on SQLite (the default) or on PostgreSQL (database.url: a fresh database)."""
    if request.param == "sqlite":
        return {}
    from tests.pg import fresh_database_url

    return {"WODP_DATABASE__URL": fresh_database_url(request.getfixturevalue("postgis_dsn"), "csw"),
            "WODP_DATABASE__AUTO_MIGRATE": "true"}


def test_an_index_that_missed_a_write_is_repaired_by_content(tmp_path, csw_environ):
    """The store committed new titles, the process died before the indexes followed and before the
    generation moved on (the same generation, the same count): start-up finds and repairs every stale one."""
    from sparql.store import OxigraphStore

    platform = open_platform(tmp_path, csw_environ)
    uris = push_all(platform, [RECORD | {"资源代码": f"420100-D017-0810{n}", "资源名称": f"停车场 第{n}版"}
                               for n in range(5)])
    settings = platform.settings
    platform.close()
    state = (tmp_path / "store.state.json").read_text()
    store = OxigraphStore(settings.path(settings.store.path))  # no follower listens: they miss this write
    graphs = {}
    for uri in uris:
        kept = [t for t in store.dataset_triples(uri) if t.predicate != DCT_TITLE]
        graphs[uri] = kept + [ox.Triple(ox.NamedNode(uri), DCT_TITLE, ox.Literal("停车场 新标题", language="zh-CN"))]
    store.put_datasets(graphs)
    store.close()
    (tmp_path / "store.state.json").write_text(state)  # killed before the generation was written
    platform = open_platform(tmp_path, csw_environ)
    try:
        found = {v.follower: v for v in platform.verification}
        assert found["SearchIndex"].stale == 5 and not found["SearchIndex"].caught_up
        assert found["CatalogRecords"].stale == 5 and found["ChangeLog"].stale == 5
        assert found["CswRepository"].stale == 5 or found["CswRepository"].caught_up  # its own modified-time check
        titles = store_titles(platform.store)
        assert set(titles.values()) == {"停车场 新标题"}
        for name, held in index_titles(platform).items():
            assert held == titles, name
        changes, _ = platform.changes.page(after=0, limit=100)
        assert [c.action for c in changes].count("updated") == 5  # the log tells followers of the change too
    finally:
        platform.close()


def test_an_index_a_step_ahead_or_missing_a_dataset_is_repaired(tmp_path, csw_environ):
    """A dataset the store removed while the indexes did not follow (extra), and one they never saw (missing)."""
    from sparql.store import OxigraphStore

    platform = open_platform(tmp_path, csw_environ)
    uris = push_all(platform, [RECORD | {"资源代码": f"420100-D017-0820{n}"} for n in range(3)])
    settings = platform.settings
    platform.close()
    store = OxigraphStore(settings.path(settings.store.path))
    store.remove_datasets([uris[0]])
    extra = store.dataset_triples(uris[1])
    other = f"{settings.base_uri}/datasets/wuhan.420100-D017-08299"
    store.put_datasets({other: [ox.Triple(ox.NamedNode(other) if t.subject.value == uris[1] else t.subject,
                                          t.predicate, t.object) for t in extra]})
    store.close()
    platform = open_platform(tmp_path, csw_environ)
    try:
        search = next(v for v in platform.verification if v.follower == "SearchIndex")
        assert (search.extra, search.missing) == (1, 1) or search.caught_up
        titles = store_titles(platform.store)
        assert uris[0] not in titles and other in titles
        for name, held in index_titles(platform).items():
            assert held == titles, name
    finally:
        platform.close()


def test_setting_database_url_moves_the_csw_repository_whole(tmp_path, postgis_dsn):
    """An embedded installation started again with database.url: the empty PostgreSQL repository is filled from
    the store at start-up (docs/scale-out.md, "CSW on PostgreSQL"), and unset again, SQLite is still in step."""
    from tests.pg import fresh_database_url

    platform = open_platform(tmp_path)
    push_all(platform, [RECORD | {"资源代码": f"420100-D017-0830{n}"} for n in range(4)])
    titles = store_titles(platform.store)
    platform.close()
    environ = {"WODP_DATABASE__URL": fresh_database_url(postgis_dsn, "csw"), "WODP_DATABASE__AUTO_MIGRATE": "true"}
    platform = open_platform(tmp_path, environ)
    try:
        assert platform.csw.repository.path is None
        assert index_titles(platform)["csw"] == titles and len(titles) >= 4
        assert platform.csw.in_step_with(platform.store)
    finally:
        platform.close()
    platform = open_platform(tmp_path)
    try:
        assert platform.csw.repository.path is not None and index_titles(platform)["csw"] == titles
    finally:
        platform.close()


def test_a_write_cut_between_its_digest_and_its_commit_is_found(tmp_path):
    """Digests are written ahead: a pending digest left by a killed write is recomputed from the store."""
    from sparql.digests import StoreDigests, graph_digest
    from sparql.store import OxigraphStore

    store = OxigraphStore(tmp_path / "store")
    uri = "http://127.0.0.1:8000/datasets/x"
    triples = [ox.Triple(ox.NamedNode(uri), ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), DATASET),
               ox.Triple(ox.NamedNode(uri), DCT_TITLE, ox.Literal("旧"))]
    event = store.put_datasets({uri: triples})
    store.close()
    digests = StoreDigests(tmp_path / "store.digests.sqlite")
    digests.intend({uri: "a digest the store never committed"})  # the process died before the commit
    digests.close()
    store = OxigraphStore(tmp_path / "store")
    try:
        assert store.digests() == {uri: event.digests[uri]} == {uri: graph_digest(store.dataset_triples(uri))}
    finally:
        store.close()


def test_a_restart_trusts_a_settled_digest_table_and_lists_the_store_otherwise(tmp_path, monkeypatch):
    """The digest table marks the generation it describes: a restart after clean writes does not list the store
    (5.8 s at 100,000 datasets on a remote engine); a table of another generation, with a write pending, or of
    another number of datasets than the store (a graph taken out behind the platform's back) is checked against
    the store's listing, and corrected."""
    import pyoxigraph as raw

    from sparql.digests import StoreDigests, graph_digest
    from sparql.store import OxigraphStore

    def graph(n: int) -> list:
        node = ox.NamedNode(f"http://127.0.0.1:8000/datasets/d{n}")
        return [ox.Triple(node, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), DATASET),
                ox.Triple(node, DCT_TITLE, ox.Literal(f"题{n}"))]

    listed = []
    real = OxigraphStore.dataset_uris
    monkeypatch.setattr(OxigraphStore, "dataset_uris", lambda self: listed.append(1) or real(self))
    store = OxigraphStore(tmp_path / "store")
    store.put_datasets({f"http://127.0.0.1:8000/datasets/d{n}": graph(n) for n in range(3)})
    store.remove_datasets(["http://127.0.0.1:8000/datasets/d2"])
    wanted = {u: graph_digest(store.dataset_triples(u)) for u in real(store)}
    store.close()

    def reopened() -> dict:
        listed.clear()
        again = OxigraphStore(tmp_path / "store")
        try:
            return again.digests()
        finally:
            again.close()

    assert reopened() == wanted and listed == []  # settled at the generation it was marked: trusted
    digests = StoreDigests(tmp_path / "store.digests.sqlite")
    digests.mark(1)  # a table that missed writes (another home's processes wrote the shared store)
    digests.close()
    assert reopened() == wanted and listed == [1]
    assert reopened() == wanted and listed == []  # checked, and marked again
    gone = "http://127.0.0.1:8000/datasets/d1"
    engine = raw.Store(str(tmp_path / "store"))
    engine.remove_graph(ox.NamedNode(gone))  # behind the platform's back: the counts differ
    del engine
    assert reopened() == {u: d for u, d in wanted.items() if u != gone} and listed == [1]


def test_a_digest_describes_typed_values_as_the_store_keeps_them(tmp_path):
    """"12.50"^^xsd:decimal is read back as "12.5": the digest of what was written equals what is read back,
    so such a dataset is not seen as changed (and every index repaired) at each start-up."""
    from sparql.digests import graph_digest
    from sparql.store import OxigraphStore

    xsd = "http://www.w3.org/2001/XMLSchema#"
    uri = "http://127.0.0.1:8000/datasets/typed"
    node = ox.NamedNode(uri)
    triples = [ox.Triple(node, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), DATASET),
               ox.Triple(node, DCT_TITLE, ox.Literal("价格")),
               ox.Triple(node, ox.NamedNode("http://example.org/price"), ox.Literal("12.50", datatype=ox.NamedNode(xsd + "decimal"))),
               ox.Triple(node, ox.NamedNode("http://example.org/on"), ox.Literal("true", datatype=ox.NamedNode(xsd + "boolean"))),
               ox.Triple(node, ox.NamedNode("http://example.org/count"), ox.Literal("007", datatype=ox.NamedNode(xsd + "integer")))]
    store = OxigraphStore(tmp_path / "store")
    try:
        event = store.put_datasets({uri: triples})
        read_back = store.dataset_triples(uri)
        assert ox.Literal("12.5", datatype=ox.NamedNode(xsd + "decimal")) in {t.object for t in read_back}
        assert event.digests[uri] == graph_digest(read_back)
    finally:
        store.close()


@pytest.fixture()
def ckan(tmp_path):
    source = FakeSource()
    fake = FakeCkan(source, [ckan_package(n) for n in range(12)])
    sources = [{"name": "ck", "kind": "ckan", "url": source.url}]
    yield tmp_path, sources, fake
    source.close()


def _dead_job(h: Harness, retry_of: int | None = None, finished_ago: float = 0.0) -> int:
    job = h.jobs.start("ck", retry_of=retry_of)
    h.jobs._run("UPDATE harvest_jobs SET pid = 999999999 WHERE id = :job", {"job": job})
    return job


def test_a_killed_job_is_interrupted_at_start_up_and_retried_by_the_scheduler(ckan):
    from harvesters.scheduler import Scheduler

    home, sources, _ = ckan
    h = Harness(home, sources)
    job = _dead_job(h)
    h.close()
    h = Harness(home, sources, retry_limit=3, retry_backoff_s=60)  # a restart: nobody asks for anything
    try:
        killed = h.jobs.job(job)
        assert killed.status == "interrupted" and "process 999999999 ended" in killed.message
        assert Scheduler(h.harvesting, h.settings.harvest).tick() == ["ck"]   # scheduler off: retries only
        retry = h.jobs.jobs("ck", limit=1)[0]
        assert (retry.retry_of, retry.status, retry.counts["new"]) == (job, "succeeded", 12)
        assert h.harvesting.due_retries() == []
    finally:
        h.close()


def test_retries_back_off_and_stop_after_the_limit(ckan):
    home, sources, _ = ckan
    h = Harness(home, sources)
    first = _dead_job(h)
    h.close()
    h = Harness(home, sources, retry_limit=2, retry_backoff_s=60)
    try:
        assert h.harvesting.due_retries() == ["ck"]                      # the first retry: at once
        second = _dead_job(h, retry_of=first)                            # it killed the process again
        h.jobs.recover(120)
        assert h.harvesting.due_retries() == []                          # the second: after the backoff
        assert h.harvesting.due_retries(now=time.time() + 61) == ["ck"]
        third = _dead_job(h, retry_of=second)
        h.jobs.recover(120)
        assert h.harvesting.due_retries(now=time.time() + 10_000) == []  # 3 in a row > retry_limit 2
        assert "not retried by itself: interrupted 3 times in a row" in h.jobs.job(third).message
        assert h.jobs.running("ck") is None
        report = h.run("ck")                                             # a run by hand still completes it
        assert report["retry_of"] == third and report["status"] == "succeeded"
    finally:
        h.close()


def test_demo_on_an_existing_home_keeps_pushed_datasets(tmp_path):
    from server.catalogue import load_demo

    platform = open_platform(tmp_path, demo={"datasets": 30, "spatial": 2})
    try:
        load_demo(platform)
        [pushed] = push_all(platform, [RECORD | {"资源代码": "420100-D017-08301"}])
        logged = platform.changes.last_seq()
    finally:
        platform.close()
    platform = open_platform(tmp_path, demo={"datasets": 30, "spatial": 2})
    try:
        load_demo(platform)                                    # `wodp demo` again on the same home
        stored = set(platform.store.dataset_uris())
        assert pushed in stored and len(stored) == 31
        assert platform.changes.last_seq() == logged            # unchanged demo datasets are not published again
        entry = platform.harvesting.jobs.entry(pushed)
        assert entry.state == "published" and entry.source == "push"
        assert all(e.uri in stored for e in platform.harvesting.jobs.entries().values() if e.state == "published")
        assert platform.search.count() == 31
    finally:
        platform.close()
    platform = open_platform(tmp_path, demo={"datasets": 20, "spatial": 1})   # other demo settings
    try:
        load_demo(platform)
        stored = set(platform.store.dataset_uris())
        assert pushed in stored and len(stored) == 21
        assert platform.harvesting.jobs.entries("demo").keys() >= stored - {pushed}
        assert all(e.uri in stored for e in platform.harvesting.jobs.entries().values() if e.state == "published")
    finally:
        platform.close()


def test_start_up_serves_despite_a_record_an_index_cannot_write(tmp_path):
    """A stored title with a control character (as pushed before the gate refused them): the CSW repository
    leaves that one dataset out with a warning, every other index holds it, and the platform starts."""
    from sparql.store import OxigraphStore

    platform = open_platform(tmp_path)
    uris = push_all(platform, [RECORD | {"资源代码": f"420100-D017-0840{n}"} for n in range(2)])
    settings = platform.settings
    platform.close()
    (tmp_path / "csw.db").unlink(missing_ok=True)   # rebuilt from the store at the next start
    store = OxigraphStore(settings.path(settings.store.path))
    bad = [t for t in store.dataset_triples(uris[0]) if t.predicate != DCT_TITLE]
    store.put_datasets({uris[0]: bad + [ox.Triple(ox.NamedNode(uris[0]), DCT_TITLE, ox.Literal("停车\x01场"))]})
    store.close()
    platform = open_platform(tmp_path)
    try:
        held = index_titles(platform)
        assert held["search"][uris[0]] == "停车\x01场" and held["records"][uris[0]] == "停车\x01场"
        if platform.csw is not None:
            assert uris[0] not in held["csw"] and uris[1] in held["csw"]
    finally:
        platform.close()


def test_wodp_remove_finds_datasets_whatever_the_base_uri(tmp_path, monkeypatch, capsys):
    """Datasets published under another base URI (a server started with --port) are removed by id alone;
    the ledger follows, and an unknown id is named."""
    from server.cli import main

    platform = open_platform(tmp_path, site={"base_uri": "http://127.0.0.1:8123"})
    [uri] = push_all(platform, [RECORD | {"资源代码": "420100-D017-08501"}])
    platform.close()
    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    monkeypatch.delenv("WODP_CONFIG", raising=False)
    assert main(["remove", uri.rsplit("/", 1)[-1], "wuhan.420100-D017-09999"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["removed"] == 1 and "no dataset wuhan.420100-D017-09999" in err
    platform = open_platform(tmp_path, site={"base_uri": "http://127.0.0.1:8123"})
    try:
        assert platform.store.dataset_uris() == [] and platform.search.count() == 0
        assert platform.harvesting.jobs.entry(uri).state == "removed"
    finally:
        platform.close()


def test_events_reach_followers_in_commit_order(tmp_path):
    """A follower still busy with one publish sees the next one after it, never before (an older title
    would otherwise overwrite a newer one in the index)."""
    import threading

    from sparql.store import OxigraphStore

    store = OxigraphStore(tmp_path / "store")
    uri = "http://127.0.0.1:8000/datasets/x"
    seen, first_in = [], threading.Event()

    def slow_follower(event):
        if event.generation == 1:
            first_in.set()
            time.sleep(0.3)  # still writing the first version when the second is committed
        seen.append(event.generation)

    store.subscribe(slow_follower)

    def put(title):
        store.put_datasets({uri: [ox.Triple(ox.NamedNode(uri), DCT_TITLE, ox.Literal(title))]})

    try:
        first = threading.Thread(target=put, args=("旧",))
        first.start()
        assert first_in.wait(10)
        put("新")
        first.join()
        assert seen == [1, 2]
    finally:
        store.close()
