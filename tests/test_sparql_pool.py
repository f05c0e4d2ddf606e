"""The query worker pool: limits that really stop queries, refusals, formats."""

from __future__ import annotations

import json
import time

import psutil
import pyoxigraph as ox
import pytest

from config import load_settings
from sparql import errors
from core.errors import NotAcceptableError
from sparql.pool import QueryPool
from sparql.store import OxigraphStore

TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
DATASET = ox.NamedNode("http://www.w3.org/ns/dcat#Dataset")
HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    home = tmp_path_factory.mktemp("pool")
    settings = load_settings({}, overrides={"sparql": {"timeout_s": 1.5, "workers": 3, "max_results": 500,
                                                       "max_result_bytes": 60000}},
                             home=home)
    store = OxigraphStore(home / "store")
    store.put_datasets({
        f"http://h/datasets/t.{i}": [ox.Triple(ox.NamedNode(f"http://h/datasets/t.{i}"), TYPE, DATASET)] +
        [ox.Triple(ox.NamedNode(f"http://h/datasets/t.{i}"), ox.NamedNode("http://h/p"), ox.Literal(str(j)))
         for j in range(20)]
        for i in range(100)
    })
    pool = QueryPool(store, settings.sparql, home / "snapshots")
    pool.start()
    yield pool
    pool.close()
    store.close()


def test_union_default_graph_counts_datasets(pool):
    result = pool.run("SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }")
    data = json.loads(result.body)
    assert data["results"]["bindings"][0]["n"]["value"] == "100"


def test_new_publish_is_visible_to_the_next_query(pool):
    uri = "http://h/datasets/t.new"
    pool.store.put_datasets({uri: [ox.Triple(ox.NamedNode(uri), TYPE, DATASET)]})
    result = pool.run("SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }")
    assert json.loads(result.body)["results"]["bindings"][0]["n"]["value"] == "101"
    pool.store.remove_datasets([uri])
    result = pool.run("SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }")
    assert json.loads(result.body)["results"]["bindings"][0]["n"]["value"] == "100"


def test_heavy_query_is_stopped_at_the_limit_and_its_process_killed(pool):
    started = time.monotonic()
    with pytest.raises(errors.QueryTimeoutError, match="time limit of 1.5 s"):
        pool.run(HEAVY)
    assert time.monotonic() - started < 3.0
    time.sleep(0.3)
    busy = [p for p in pool.worker_pids() if psutil.Process(p).cpu_percent(interval=0.3) > 50]
    assert busy == []
    # the pool is whole again and answers
    assert pool.run("ASK { ?s ?p ?o }", accept="application/sparql-results+json").body == b'{"head": {}, "boolean": true}'


def test_result_size_limits(pool):
    with pytest.raises(errors.QueryTooLargeError, match="larger than 60000 bytes"):
        pool.run("SELECT * WHERE { ?s ?p ?o }")
    with pytest.raises(errors.QueryTooLargeError, match="more than 500 solutions"):
        pool.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", accept="application/n-triples")
    # the worker that refused is whole and answers the next query
    assert b"true" in pool.run("ASK { ?s ?p ?o }").body


@pytest.mark.parametrize("query, error", [
    ("SELECT ?x WHERE {", errors.QueryError),
    ("INSERT DATA { <http://a> <http://b> <http://c> }", errors.QueryRefusedError),
    ("PREFIX a: <http://a/>\n# comment\nDELETE WHERE { ?s ?p ?o }", errors.QueryRefusedError),
    ("SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }", errors.QueryRefusedError),
    ("x" * 30000, errors.QueryRefusedError),
])
def test_bad_queries_are_refused_with_a_reason(pool, query, error):
    with pytest.raises(error) as info:
        pool.run(query)
    assert info.value.message


@pytest.mark.parametrize("accept, media", [
    ("application/sparql-results+json", "application/sparql-results+json"),
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
    ("application/json", "application/sparql-results+json"),
    (None, "application/sparql-results+json"),
])
def test_select_formats(pool, accept, media):
    result = pool.run("SELECT ?d WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> } ORDER BY ?d LIMIT 2",
                      accept=accept)
    assert result.media_type == media
    assert b"http://h/datasets/t.0" in result.body


def test_construct_in_every_rdf_format_parses(pool):
    import rdflib

    query = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <http://h/datasets/t.1> { ?s ?p ?o } }"
    for accept, fmt in [("text/turtle", "turtle"), ("application/n-triples", "nt"),
                        ("application/ld+json", "json-ld"), ("application/rdf+xml", "xml")]:
        result = pool.run(query, accept=accept)
        graph = rdflib.Graph().parse(data=result.body, format=fmt)
        # 21 dataset triples + 5 of the catalogue record stamped by the store
        assert len(graph) == 25, accept


def test_unacceptable_type(pool):
    with pytest.raises(NotAcceptableError, match="offered"):
        pool.run("SELECT * WHERE { ?s ?p ?o } LIMIT 1", accept="image/png")
