"""The portal search's relevance set (tests/data/relevance.yml) over the 1,700-dataset demo: >= 90 % of the
queries have an expected dataset in the top 5; 公交车 finds the bus datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from server.search import SearchIndex
from tests.conftest import shared_path
from sparql.store import OxigraphStore

DATA = yaml.safe_load((Path(__file__).parent / "data" / "relevance.yml").read_text(encoding="utf-8"))
SET = DATA["queries"]
REAL = DATA["real"]
TOP = 5
REQUIRED = 0.9


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    """The demo catalogue (the generator's defaults: 1,700 datasets) in a store and its search index."""
    from demo.generator import build_demo_catalog
    from server.catalogue import vocabulary_triples
    from sparql.store import VOCABULARY_GRAPH

    home = tmp_path_factory.mktemp("relevance")
    demo = build_demo_catalog("https://data.wuhan.gov.cn")
    store = OxigraphStore(home / "store")
    store.put_graph(VOCABULARY_GRAPH.value, vocabulary_triples())
    store.put_datasets({ds.uri: list(ds.triples) for ds in demo.datasets})
    index = SearchIndex(home / "search.sqlite")
    index.rebuild(store)
    yield demo, index
    index.close()
    store.close()


def _titles(result) -> list[str]:
    return [hit["title"] for hit in result.hits]


def _misses(index: SearchIndex, queries: list[dict]) -> list[str]:
    misses = []
    for case in queries:
        titles = _titles(index.search(case["q"], page_size=TOP, lang="zh"))
        if not any(phrase in title for title in titles for phrase in case["expect"]):
            misses.append(f"{case['q']}: expected one of {case['expect']}, top {TOP}: {titles}")
    return misses


def test_the_set_is_large_and_names_datasets_the_demo_holds(demo_index):
    demo, _ = demo_index
    assert len(SET) >= 50
    titles = [ds.title for ds in demo.datasets]
    absent = [(c["q"], p) for c in SET for p in c["expect"] if not any(p in t for t in titles)]
    assert absent == []  # every expected phrase is the title of at least one demo dataset


def test_bus_finds_the_bus_datasets(demo_index):
    _, index = demo_index
    result = index.search("公交车", page_size=TOP, lang="zh")
    assert result.total > 0
    assert all("公交" in title for title in _titles(result)), _titles(result)


def test_most_queries_have_an_expected_dataset_in_the_top_five(demo_index):
    _, index = demo_index
    misses = _misses(index, SET)
    hits = len(SET) - len(misses)
    print(f"\nrelevance: {hits}/{len(SET)} queries with an expected dataset in the top {TOP}")
    for miss in misses:
        print("  miss:", miss)
    assert hits >= REQUIRED * len(SET), "\n".join(misses)


def _real_graphs(records: list[dict], base: str) -> dict:
    """Dataset graphs of a real portal's records (title, abstract, tags only: what its search reads)."""
    import re

    from pyoxigraph import Literal, NamedNode, Triple

    dcat, dct = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    graphs = {}
    for i, r in enumerate(records):
        d = NamedNode(f"{base}/datasets/real.{i}")
        triples = [Triple(d, NamedNode(rdf + "type"), NamedNode(dcat + "Dataset")),
                   Triple(d, NamedNode(dct + "identifier"), Literal(f"real.{i}")),
                   Triple(d, NamedNode(dct + "title"), Literal(r["数据集名称"], language="zh-CN"))]
        if r.get("摘要"):
            triples.append(Triple(d, NamedNode(dct + "description"), Literal(r["摘要"], language="zh-CN")))
        for tag in re.split(r"[,，、]", r.get("数据标签") or ""):
            if tag.strip():
                triples.append(Triple(d, NamedNode(dcat + "keyword"), Literal(tag.strip(), language="zh-CN")))
        graphs[d.value] = triples
    return graphs


def test_the_set_over_a_real_city_portal(tmp_path):
    """The real queries over the titles of a real city portal (../shared/data; skipped when absent)."""
    records = json.loads(shared_path("data", *REAL["file"].split("/")).read_text(encoding="utf-8"))
    titles = [r["数据集名称"] for r in records]
    absent = [(c["q"], p) for c in REAL["queries"] for p in c["expect"] if not any(p in t for t in titles)]
    assert absent == []
    store = OxigraphStore(tmp_path / "store")
    index = SearchIndex(tmp_path / "search.sqlite")
    try:
        store.put_datasets(_real_graphs(records, "https://data.wuhan.gov.cn"))
        index.rebuild(store)
        assert index.count() == len(records)
        misses = _misses(index, REAL["queries"])
    finally:
        index.close()
        store.close()
    hits = len(REAL["queries"]) - len(misses)
    print(f"\nrelevance over {REAL['file']} ({len(records)} datasets): {hits}/{len(REAL['queries'])} in the top {TOP}")
    for miss in misses:
        print("  miss:", miss)
    assert len(REAL["queries"]) >= 30
    assert hits >= REQUIRED * len(REAL["queries"]), "\n".join(misses)


def test_the_home_pages_example_finds_the_bus_datasets(demo_client):
    """The home page's own example (search_placeholder: 公交车) through the portal of the whole demo platform."""
    data = demo_client.get("/datasets?q=公交车&format=json").get_json()
    titles = [hit["title"] for hit in data["hits"][:TOP]]
    assert data["total"] > 0 and len(titles) == TOP
    assert all("公交" in title for title in titles), titles


@pytest.mark.parametrize("q", ["数据", "交通", "学校"])
def test_relevance_pages_of_the_demo_are_slices_of_its_ranking(demo_index, q):
    """Pages of 7 and 20 by relevance are the slices of one page of 100 (a page sorts only the matches ranked
    at or above its last rank, ties included): nothing repeated, skipped or reordered across pages."""
    _, index = demo_index
    whole = [hit["id"] for hit in index.search(q, page_size=100, lang="zh").hits]
    assert len(whole) == min(100, index.search(q).total) and len(whole) >= 40
    for size in (7, 20):
        paged = [hit["id"] for p in range(1, 40 // size + 2)
                 for hit in index.search(q, page=p, page_size=size, lang="zh").hits]
        assert paged == whole[:len(paged)], size
