"""What is kept rather than recomputed per request (issue 11): /catalog's order and count, publisher scores, and a
restart that finds nothing changed."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import RDF

DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def small(request, tmp_path_factory):
    """A platform of 120 demo datasets (the gate measures their quality) and its test client, with the data layer
    (/catalog's order, publisher scores, the search index's kept counts) on SQLite files or on PostgreSQL."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("scale-home")
    environ = {}
    if request.param == "postgresql":
        import uuid

        from tests.conftest import pg_schema_url

        url = pg_schema_url(request.getfixturevalue("postgis_dsn"), "s" + uuid.uuid4().hex[:12])
        environ = {"WODP_DATABASE__URL": url, "WODP_DATABASE__AUTO_MIGRATE": "true"}
    settings = load_settings(environ, overrides={"demo": {"datasets": 120, "spatial": 5},
                                                 "rate_limits": {"enabled": False}, "csw": {"enabled": False}},
                             home=home)
    platform = Platform.open(settings, start_workers=False)
    on_postgres = request.param == "postgresql"
    assert [p.db.postgres for p in (platform.catalog_order, platform.quality_scores, platform.search)] == \
           [on_postgres] * 3
    demo = load_demo(platform)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield platform, app.test_client(), demo
    platform.close()
    if on_postgres:
        from core.database import dispose_engines

        dispose_engines()


def copy_of(dataset, n: int) -> tuple[str, list[ox.Triple]]:
    """The graph of a demo dataset under a new URI (another dataset of the same publisher)."""
    uri = f"{dataset.uri}-copy{n}"
    text = ox.serialize(dataset.triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8")
    text = text.replace(f"<{dataset.uri}>", f"<{uri}>").replace(f"<{dataset.uri}#", f"<{uri}#")
    return uri, list(ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES))


def datasets_of(client, path: str) -> tuple[list[str], str | None, int]:
    g = rdflib.Graph().parse(data=client.get(path).data, format="nt")
    nxt = next(g.objects(None, HYDRA.nextPage), None)
    total = int(next(g.objects(None, HYDRA.totalItems)))
    following = str(nxt).split(BASE, 1)[1].replace("/catalog?", "/catalog.nt?") if nxt else None
    return [str(d) for d in g.subjects(RDF.type, DCAT.Dataset)], following, total


def test_keyset_paging_gives_every_dataset_once_while_datasets_are_added(small):
    platform, client, demo = small
    before = set(platform.store.dataset_uris())
    seen: list[str] = []
    added: list[str] = []
    url = "/catalog.nt?page_size=25"
    n = 0
    while url:
        uris, url, _ = datasets_of(client, url)
        seen += uris
        # between two pages, new datasets are published and one of the start is published again unchanged
        graphs = dict(copy_of(demo.datasets[(n * 7 + k) % len(demo.datasets)], n * 10 + k) for k in range(3))
        platform.store.put_datasets(graphs)
        added += graphs
        n += 1
        assert n < 50
    assert len(seen) == len(set(seen))  # no dataset twice
    assert before <= set(seen)  # every dataset there at the start, once
    assert set(added[:-3]) <= set(seen)  # those added before the last page was read come at the end
    assert platform.catalog_order.count() == platform.store.count_datasets()
    platform.store.remove_datasets(added, reason="test")
    assert platform.catalog_order.count() == platform.store.count_datasets() == len(before)


def test_page_numbers_and_modified_since_agree_with_the_store(small):
    platform, client, _ = small
    from server.dcat import _StoreOrder

    reference = _StoreOrder(platform.store, None).rows
    got = []
    for page in (1, 2, 3, 4, 5):
        uris, _, total = datasets_of(client, f"/catalog.nt?page_size=25&page={page}")
        assert total == len(reference)
        got += uris
    assert set(got) == {u for _, u in reference} and len(got) == len(reference)
    middle = reference[len(reference) // 2][0]  # a record time
    since = middle[:19] + "Z"
    expected = [u for m, u in reference if m >= middle[:19] + ".000000Z"]
    uris, _, total = datasets_of(client, f"/catalog.nt?page_size=1000&modified_since={since}")
    assert total == len(expected) and set(uris) == set(expected)
    assert client.get("/catalog.nt?after=yesterday,x").status_code == 400


def reference_score(platform, publisher: str):
    from server.portal.dataset_page import _department_score

    return _department_score(platform.store, publisher)


def test_publisher_score_is_kept_equal_to_a_recomputation(small):
    platform, client, demo = small
    scores = platform.quality_scores
    publishers = sorted({t.object.value for ds in demo.datasets for t in ds.triples
                         if t.predicate.value == "http://purl.org/dc/terms/publisher"})
    assert len(publishers) > 10

    def check():
        for publisher in publishers:
            assert scores.score(publisher) == reference_score(platform, publisher), publisher

    check()
    first = demo.datasets[0]
    publisher = next(t.object.value for t in first.triples if t.predicate.value.endswith("/publisher"))
    # a copy without its data volume (a core element, optional): a lower score, so the publisher's mean moves
    uri, triples = copy_of(first, 999)
    triples = [t for t in triples if not t.predicate.value.endswith("#dataVolume")]
    before = scores.score(publisher)
    outcome = platform.publisher.publish({uri: triples}, "test")
    assert uri in outcome.published
    assert scores.score(publisher) != before
    check()
    platform.publisher.withdraw([uri, demo.datasets[1].uri], "test")
    check()
    assert scores.score(publisher) == reference_score(platform, publisher) != reference_score(platform, "x:none")
    page = client.get(f"/datasets/{demo.datasets[2].id}?lang=en")
    assert page.status_code == 200
    shown = scores.score(next(t.object.value for t in demo.datasets[2].triples
                              if t.predicate.value.endswith("/publisher")))
    assert f"{shown}" in page.get_data(as_text=True)


def test_a_rebuilt_score_table_equals_the_followed_one(small):
    platform, _, _ = small
    followed = platform.quality_scores.counts()
    platform.quality_scores.rebuild(platform.store)
    assert platform.quality_scores.counts() == followed


def test_a_restart_on_an_unchanged_home_moves_no_generation_and_rebuilds_nothing(tmp_path):
    from config import load_settings
    from server.catalogue import install_in, load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 2}, "csw": {"enabled": False}},
                             home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    install_in(platform)
    generation = platform.store.generation
    platform.close()
    for _ in range(2):  # as `wodp serve` starts: open (the start-up check), then install the graphs
        platform = Platform.open(settings, start_workers=False)
        assert install_in(platform) == []
        assert platform.store.generation == generation
        assert not any(v.caught_up or v.repaired for v in platform.verification), platform.verification
        assert platform.search.generation() == generation
        platform.close()
    # a changed catalogue description is written (and only it), the search index stays in step
    changed = settings.model_copy(update={"site": settings.site.model_copy(update={"title_en": "Another title"})})
    platform = Platform.open(changed, start_workers=False)
    assert install_in(platform) == [f"{settings.base_uri}/catalog"]
    platform.close()
    platform = Platform.open(changed, start_workers=False)
    assert not any(v.caught_up for v in platform.verification), platform.verification
    platform.close()


def test_kept_search_counts_equal_a_recount_after_publishing_and_removing(small):
    platform, client, demo = small
    from sqlalchemy import text

    from server.search_query import RECOUNT

    graphs = dict(copy_of(demo.datasets[k], 500 + k) for k in range(6))
    platform.store.put_datasets(graphs)
    platform.store.put_datasets({uri: triples for uri, triples in list(graphs.items())[:2]})  # replaced
    platform.store.remove_datasets(list(graphs)[2:4])
    with platform.search.db.read() as conn:
        tables = ("search_facet_totals", "search_facet_pairs")
        kept = [sorted(conn.execute(text(f"SELECT * FROM {t} WHERE n != 0"))) for t in tables]
        kept.append(sorted(conn.execute(text("SELECT * FROM search_doc_totals"))))
        recount = [sorted(conn.execute(text(RECOUNT[t]))) for t in (*tables, "search_doc_totals")]  # from the rows
    assert kept == recount
    assert kept[2] and dict(kept[2])["datasets"] == platform.store.count_datasets()
    # what the portal shows from them equals a search that counts (two values of one facet are counted)
    home = platform.search.search("", page_size=1)
    counted = platform.search.search("", {"open_type": ["unconditional", "nonexistent"]}, page_size=1)
    assert home.total == platform.store.count_datasets()
    one = platform.search.search("", {"open_type": ["unconditional"]}, page_size=1)
    assert one.total == counted.total and one.facets["theme"] == counted.facets["theme"]
    platform.store.remove_datasets(list(graphs), reason="test")
