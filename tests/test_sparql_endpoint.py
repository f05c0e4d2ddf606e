"""The SPARQL 1.1 Protocol door through the Flask test client."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import rdflib

COUNT = "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"


def count_of(body: bytes) -> int:
    return int(json.loads(body)["results"]["bindings"][0]["n"]["value"])


def test_get_post_form_and_direct_agree(demo_client, demo_platform):
    total = demo_platform.store.count_datasets()
    accept = {"Accept": "application/sparql-results+json"}
    get = demo_client.get("/sparql?" + urlencode({"query": COUNT}), headers=accept)
    form = demo_client.post("/sparql", data={"query": COUNT}, headers=accept)
    direct = demo_client.post("/sparql", data=COUNT.encode(), content_type="application/sparql-query", headers=accept)
    assert [r.status_code for r in (get, form, direct)] == [200, 200, 200]
    assert count_of(get.data) == count_of(form.data) == count_of(direct.data) == total


@pytest.mark.parametrize("method", ["get", "form", "update-type", "update-param"])
def test_updates_are_refused(demo_client, demo_platform, method):
    update = "INSERT DATA { GRAPH <http://x/g> { <http://x/a> <http://x/b> <http://x/c> } }"
    before = demo_platform.store.count_datasets()
    if method == "get":
        response = demo_client.get("/sparql?" + urlencode({"query": update}))
    elif method == "form":
        response = demo_client.post("/sparql", data={"query": update})
    elif method == "update-type":
        response = demo_client.post("/sparql", data=update, content_type="application/sparql-update")
    else:
        response = demo_client.post("/sparql", data={"update": update})
    assert response.status_code == 400
    assert "SPARQL Update is not allowed" in response.get_data(as_text=True)
    assert demo_platform.store.count_datasets() == before


def test_malformed_query_is_400_with_position(demo_client):
    response = demo_client.get("/sparql?" + urlencode({"query": "SELECT ?x WHERE { ?x"}))
    assert response.status_code == 400
    assert "malformed query" in response.get_data(as_text=True)


def test_wrong_content_type_is_415(demo_client):
    response = demo_client.post("/sparql", data="{}", content_type="application/json")
    assert response.status_code == 415


def test_service_description_and_form(demo_client):
    sd = demo_client.get("/sparql", headers={"Accept": "text/turtle"})
    g = rdflib.Graph().parse(data=sd.data, format="turtle")
    SD = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    assert (None, rdflib.RDF.type, SD.Service) in g
    page = demo_client.get("/sparql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and b"<textarea" in page.data
    import re

    assert all(not u.startswith((b"http:", b"https:", b"//"))
               for u in re.findall(rb'(?:src|href)="([^"]*)"', page.data))


@pytest.mark.parametrize("name, media", [("json", "application/sparql-results+json"), ("xml", "application/sparql-results+xml"),
                                         ("csv", "text/csv"), ("tsv", "text/tab-separated-values")])
def test_format_parameter(demo_client, name, media):
    response = demo_client.get("/sparql?" + urlencode({"query": COUNT, "format": name}))
    assert response.status_code == 200 and response.mimetype == media


def test_construct_as_turtle_and_jsonld(demo_client, demo_platform):
    uri = demo_platform.store.dataset_uris()[0]
    query = f"CONSTRUCT {{ <{uri}> ?p ?o }} WHERE {{ <{uri}> ?p ?o }}"
    for accept, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld")):
        response = demo_client.post("/sparql", data={"query": query}, headers={"Accept": accept})
        assert response.status_code == 200
        g = rdflib.Graph().parse(data=response.data, format=fmt)
        assert (rdflib.URIRef(uri), rdflib.RDF.type, rdflib.URIRef("http://www.w3.org/ns/dcat#Dataset")) in g
