"""/catalog pages made from the kept public texts of each dataset equal pages made from the store, byte for byte."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from ontology.namespaces import DCT
from server.catalog_texts import chinese_first_lines
from server.rdf_response import chinese_first

SUFFIXES = ("ttl", "jsonld", "rdf", "nt")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def small(tmp_path_factory, request):
    """A platform of 150 demo datasets (two catalogue pages of 100) and its test client; the texts (and the
    rest of the data layer) in SQLite files or in PostgreSQL."""
    from config import load_settings
    from core.database import dispose_engines
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform
    from tests.conftest import pg_schema_url

    environ = {}
    if request.param == "postgresql":
        url = pg_schema_url(request.getfixturevalue("postgis_dsn"), "texts")
        environ = {"WODP_DATABASE__URL": url, "WODP_DATABASE__AUTO_MIGRATE": "true"}
    settings = load_settings(environ, overrides={"demo": {"datasets": 150, "spatial": 10}},
                             home=tmp_path_factory.mktemp("texts-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield platform, app.test_client()
    platform.close()
    dispose_engines()


def page(platform, client, path: str, texts: bool) -> bytes:
    kept = platform.catalog_texts
    if not texts:
        platform.catalog_texts = None
    try:
        answer = client.get(path)
    finally:
        platform.catalog_texts = kept
    assert answer.status_code == 200, answer.data[:300]
    return answer.data


def test_pages_from_texts_equal_pages_from_the_store(small):
    platform, client = small
    texts = platform.catalog_texts
    assert texts is not None
    texts.forget()
    for number in (1, 2):
        for suffix in SUFFIXES:
            path = f"/catalog.{suffix}?page={number}"
            reference = page(platform, client, path, texts=False)
            misses = texts.misses
            assert page(platform, client, path, texts=True) == reference, path  # rows made now
            assert page(platform, client, path, texts=True) == reference, path  # rows read back
    assert texts.hits > 0 and texts.misses == misses  # the last reads all came from the table


def test_a_republished_dataset_is_read_again_and_a_removed_one_leaves_the_table(small):
    platform, client = small
    texts, store = platform.catalog_texts, platform.store
    first = page(platform, client, "/catalog.ttl?page=2", texts=True)
    uri = platform.catalog_order.page(1)[0][1]  # the first dataset of page 1: republished, it is the last of page 2
    graph = [t for t in store.dataset_triples(uri) if not (t.subject == ox.NamedNode(uri) and t.predicate == DCT.title)]
    graph.append(ox.Triple(ox.NamedNode(uri), DCT.title, ox.Literal("改过的标题 republished", language="zh-cn")))
    store.put_datasets({uri: graph})
    assert platform.catalog_order.page(1, 149) == [(platform.catalog_order.page(1, 149)[0][0], uri)]
    again = page(platform, client, "/catalog.ttl?page=2", texts=True)
    assert again != first and "改过的标题 republished".encode() in again
    assert again == page(platform, client, "/catalog.ttl?page=2", texts=False)
    count = "SELECT COUNT(*) FROM catalog_texts WHERE uri = :uri"
    assert texts.db.rows(count, {"uri": uri})[0][0] == 1
    store.remove_datasets([uri])
    assert texts.db.rows(count, {"uri": uri})[0][0] == 0
    assert page(platform, client, "/catalog.nt?page=1", texts=True) == page(platform, client, "/catalog.nt?page=1",
                                                                            texts=False)


def test_a_row_of_another_stamp_is_never_used(small):
    platform, client = small
    texts, store = platform.catalog_texts, platform.store
    uri = sorted(store.dataset_uris())[1]
    page(platform, client, "/catalog.ttl?page=1", texts=True)
    texts.db.run("UPDATE catalog_texts SET stamp = '1 2000-01-01T00:00:00+00:00', text = :t WHERE uri = :uri",
                 {"t": f'<{uri}> <{DCT.title.value}> "stale" .\n', "uri": uri})
    body = page(platform, client, "/catalog.ttl?page=1", texts=True)
    assert b'"stale"' not in body and body == page(platform, client, "/catalog.ttl?page=1", texts=False)
    stamp = texts.db.rows("SELECT stamp FROM catalog_texts WHERE uri = :uri", {"uri": uri})[0][0]
    assert stamp == texts.stamp(store, uri)


def test_text_order_equals_chinese_first():
    """Grouping N-Triples lines by their text orders them as chinese_first orders the terms."""
    s1, s2, b = ox.NamedNode("http://x/s1"), ox.NamedNode("http://x/s2"), ox.BlankNode("b0")
    p, q = ox.NamedNode("http://x/p"), ox.NamedNode("http://x/q")
    objects = [ox.Literal("英文 first", language="en"), ox.Literal("中文", language="zh-cn"),
               ox.Literal('ends "@zh but plain'), ox.Literal("typed", datatype=ox.NamedNode("http://x/zh")),
               ox.Literal("汉", language="zh"), ox.Literal('quote " and @zh-x', language="fr"),
               ox.Literal("line\nbreak\u2028sep", language="zh-hans"), ox.NamedNode("http://x/o"), b]
    triples = [ox.Triple(s, pred, o) for o in objects for s in (s2, s1, b) for pred in (q, p)]
    lines = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8").split("\n")[:-1]
    ordered = chinese_first_lines(lines)
    assert [q.triple for q in ox.parse("\n".join(ordered), format=ox.RdfFormat.N_TRIPLES)] == chinese_first(triples)


def test_writer_start_keeps_rows_and_stamps_later_than_every_row(small):
    """At start the writer drops rows of datasets it no longer has and stamps after every kept row."""
    from datetime import datetime, timedelta

    platform, client = small
    texts, store = platform.catalog_texts, platform.store
    page(platform, client, "/catalog.ttl?page=1", texts=True)
    uri = sorted(store.dataset_uris())[2]
    future = datetime.now().astimezone() + timedelta(days=3650)
    texts.db.run("UPDATE catalog_texts SET stamp = :s WHERE uri = :uri", {"s": f"1 {future.isoformat()}", "uri": uri})
    texts.db.run("INSERT INTO catalog_texts VALUES ('http://example.org/gone', '1 2020-01-01T00:00:00+00:00', '')")
    kept = texts.db.rows("SELECT COUNT(*) FROM catalog_texts")[0][0]
    texts.start(store)
    assert texts.db.rows("SELECT COUNT(*) FROM catalog_texts")[0][0] == kept - 1  # the one not in the store
    store.put_datasets({uri: store.dataset_triples(uri)})
    assert store.record_modified(uri) > future  # a new stamp never equals a kept one
    assert page(platform, client, "/catalog.ttl?page=1", texts=True) == page(platform, client,
                                                                             "/catalog.ttl?page=1", texts=False)
