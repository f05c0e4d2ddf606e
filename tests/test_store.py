"""The catalogue store: per-dataset graphs, atomic replacement, events, records, file loading."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from sparql.errors import StoreBusyError
from sparql.loader import RdfInputError, read_files
from sparql.store import OxigraphStore

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


def dataset(uri: str, title: str) -> list[ox.Triple]:
    d = ox.NamedNode(uri)
    return [ox.Triple(d, TYPE, ox.NamedNode(DCAT + "Dataset")),
            ox.Triple(d, ox.NamedNode(DCT + "title"), ox.Literal(title, language="zh-CN")),
            ox.Triple(ox.NamedNode("http://h/catalog"), ox.NamedNode(DCAT + "dataset"), d)]


@pytest.fixture
def store(tmp_path):
    s = OxigraphStore(tmp_path / "store")
    yield s
    s.close()


def titles(store: OxigraphStore, uri: str) -> list[str]:
    return sorted(t.object.value for t in store.dataset_triples(uri) if t.predicate.value == DCT + "title")


def test_put_replace_remove_counts_and_events(store):
    events = []
    store.subscribe(events.append)
    store.put_datasets({f"http://h/datasets/x.{i}": dataset(f"http://h/datasets/x.{i}", f"标题{i}") for i in range(60)})
    assert store.count_datasets() == 60
    store.put_datasets({"http://h/datasets/x.1": dataset("http://h/datasets/x.1", "新标题")})
    assert store.count_datasets() == 60
    assert titles(store, "http://h/datasets/x.1") == ["新标题"]
    store.remove_datasets(["http://h/datasets/x.2", "http://h/datasets/unknown"])
    assert store.count_datasets() == 59
    assert [len(e.put) for e in events] == [60, 1, 0]
    assert events[-1].removed == ("http://h/datasets/x.2",)
    assert [e.generation for e in events] == sorted(e.generation for e in events)


def test_record_keeps_issued_and_moves_modified(store):
    uri = "http://h/datasets/x.1"
    store.put_datasets({uri: dataset(uri, "a")})
    first = store.record_modified(uri)
    issued = [t.object for t in store.dataset_triples(uri) if t.predicate.value == DCT + "issued"]
    store.put_datasets({uri: dataset(uri, "b")})
    assert store.record_modified(uri) > first
    assert [t.object for t in store.dataset_triples(uri) if t.predicate.value == DCT + "issued"] == issued
    assert store.record_modified("http://h/datasets/none") is None


def test_second_read_write_handle_is_refused_clearly(store, tmp_path):
    with pytest.raises(StoreBusyError, match="held by another process"):
        OxigraphStore(tmp_path / "store")


def test_generation_survives_reopen(tmp_path):
    s = OxigraphStore(tmp_path / "store")
    s.put_datasets({"http://h/datasets/x.1": dataset("http://h/datasets/x.1", "a")})
    generation = s.generation
    s.close()
    s = OxigraphStore(tmp_path / "store")
    assert s.generation == generation
    assert s.count_datasets() == 1
    s.close()


def test_read_files_splits_datasets_with_their_own_nodes(tmp_path):
    ttl = tmp_path / "two.ttl"
    ttl.write_text("""
@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
<http://h/catalog> dcat:dataset <http://h/datasets/a.1>, <http://h/datasets/a.2> .
<http://h/datasets/a.1> a dcat:Dataset ; dct:title "一"@zh-CN ; dcat:distribution <http://h/datasets/a.1#d> .
<http://h/datasets/a.1#d> a dcat:Distribution ; dct:format [ a dct:MediaTypeOrExtent ] .
<http://h/datasets/a.2> a dcat:Dataset ; dct:title "二"@zh-CN .
""", encoding="utf-8")
    graphs = read_files([ttl])
    assert sorted(graphs) == ["http://h/datasets/a.1", "http://h/datasets/a.2"]
    assert len(graphs["http://h/datasets/a.1"]) == 7
    assert len(graphs["http://h/datasets/a.2"]) == 3


@pytest.mark.parametrize("name, content, needle", [
    ("bad.ttl", "<a> <b> .", "not valid"),
    ("empty.ttl", "", "empty"),
    ("x.docx", "hello", "unknown RDF format"),
    ("none.ttl", "<http://a> <http://b> <http://c> .", "no dcat:Dataset"),
    ("gbk.ttl", "<http://a> <http://b> \"中文\" .".encode("gbk"), "bad.ttl"),
])
def test_bad_files_are_named(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RdfInputError) as info:
        read_files([path])
    assert name in str(info.value)
    if needle != "bad.ttl":
        assert needle in str(info.value)


def test_record_modified_moves_on_every_publish_even_within_a_millisecond(store):
    uri = "http://h/datasets/x.1"
    seen = []
    for n in range(20):
        store.put_datasets({uri: dataset(uri, f"v{n}")})
        seen.append(store.record_modified(uri))
    assert seen == sorted(seen) and len(set(seen)) == 20
