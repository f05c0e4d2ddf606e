"""The DCAT doors through the Flask test client: paging, formats, validators, compression, bad input."""

from __future__ import annotations

import gzip

import pytest
import rdflib
import rdflib.compare
from rdflib.namespace import RDF

DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")

HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
FORMATS = [("text/turtle", "turtle", "ttl"), ("application/ld+json", "json-ld", "jsonld"),
           ("application/rdf+xml", "xml", "rdf"), ("application/n-triples", "nt", "nt")]


def parse(body: bytes, fmt: str) -> rdflib.Graph:
    return rdflib.Graph().parse(data=body, format=fmt)


def some_id(platform) -> str:
    return platform.store.dataset_uris()[0].rsplit("/", 1)[1]


@pytest.mark.parametrize("accept, fmt, suffix", FORMATS)
def test_catalog_page_in_every_format(demo_client, demo_platform, accept, fmt, suffix):
    by_accept = demo_client.get("/catalog?page=2", headers={"Accept": accept})
    by_suffix = demo_client.get(f"/catalog.{suffix}?page=2")
    assert by_accept.status_code == by_suffix.status_code == 200
    assert by_accept.mimetype == accept
    g1, g2 = parse(by_accept.data, fmt), parse(by_suffix.data, fmt)
    assert len(set(g1.subjects(RDF.type, DCAT.Dataset))) == 100
    assert rdflib.compare.isomorphic(g1, g2)
    total = demo_platform.store.count_datasets()
    assert int(next(g1.objects(None, HYDRA.totalItems), None)) == total
    view = next(g1.subjects(RDF.type, HYDRA.PagedCollection))
    # next carries the key of the page's last dataset (keyset paging): the same datasets as page=3
    nxt = str(g1.value(view, HYDRA.nextPage))
    assert "/catalog?page=3&after=" in nxt
    by_key = parse(demo_client.get(nxt.split("127.0.0.1:8000", 1)[1], headers={"Accept": accept}).data, fmt)
    by_page = parse(demo_client.get("/catalog?page=3", headers={"Accept": accept}).data, fmt)
    assert set(by_key.subjects(RDF.type, DCAT.Dataset)) == set(by_page.subjects(RDF.type, DCAT.Dataset))
    assert len(set(by_key.subjects(RDF.type, DCAT.Dataset))) == 100
    assert str(g1.value(view, HYDRA.previousPage)).endswith("/catalog?page=1")


def test_jsonld_context_is_inline(demo_client):
    body = demo_client.get("/catalog.jsonld?page_size=1").get_json()
    assert isinstance(body["@context"], dict)
    assert body["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"


def test_paging_covers_every_dataset_exactly_once(demo_client, demo_platform):
    seen: list[str] = []
    url = "/catalog.nt?page_size=500"
    while url:
        g = parse(demo_client.get(url).data, "nt")
        seen += [str(d) for d in g.subjects(RDF.type, DCAT.Dataset)]
        nxt = next(g.objects(None, HYDRA.nextPage), None)
        url = str(nxt).split("127.0.0.1:8000", 1)[1].replace("/catalog?", "/catalog.nt?") if nxt else None
    assert len(seen) == len(set(seen)) == demo_platform.store.count_datasets()


def test_modified_since_filters_on_record_time(demo_client, demo_platform):
    everything = parse(demo_client.get("/catalog.nt?modified_since=2000-01-01&page_size=1").data, "nt")
    assert int(next(everything.objects(None, HYDRA.totalItems), None)) == demo_platform.store.count_datasets()
    future = parse(demo_client.get("/catalog.nt?modified_since=2999-01-01").data, "nt")
    assert int(next(future.objects(None, HYDRA.totalItems), None)) == 0


@pytest.mark.parametrize("url, status, needle", [
    ("/catalog?page=999999999", 404, "past the last page"),
    ("/catalog?page=99999999999999999999", 400, "page must be between"),
    ("/catalog?page=abc", 400, "page must be a whole number"),
    ("/catalog?page=0", 400, "page must be between"),
    ("/catalog?page_size=100000", 400, "page_size must be between"),
    ("/catalog?modified_since=yesterday", 400, "modified_since"),
    ("/catalog.docx", 404, "unknown catalogue format"),
    ("/datasets/demo.nope", 404, "no dataset"),
    ("/datasets/..%2F..%2Fetc%2Fpasswd", 404, "not a dataset identifier"),
    ("/datasets/demo.nope.ttl", 404, "no dataset"),
])
def test_bad_requests_get_clear_errors(demo_client, url, status, needle):
    response = demo_client.get(url, headers={"Accept": "text/turtle"})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert needle in response.get_json()["detail"]


def test_unsupported_accept_is_406(demo_client, demo_platform):
    for url in ("/catalog", f"/datasets/{some_id(demo_platform)}"):
        response = demo_client.get(url, headers={"Accept": "image/png"})
        assert response.status_code == 406
        assert "text/turtle" in response.get_json()["detail"]


@pytest.mark.parametrize("accept, fmt, suffix", FORMATS)
def test_dataset_dereferences_by_accept_and_suffix(demo_client, demo_platform, accept, fmt, suffix):
    dataset_id = some_id(demo_platform)
    uri = rdflib.URIRef(demo_platform.dataset_uri(dataset_id))
    a = demo_client.get(f"/datasets/{dataset_id}", headers={"Accept": accept})
    b = demo_client.get(f"/datasets/{dataset_id}.{suffix}")
    assert a.status_code == b.status_code == 200
    ga, gb = parse(a.data, fmt), parse(b.data, fmt)
    assert (uri, RDF.type, DCAT.Dataset) in ga
    assert rdflib.compare.isomorphic(ga, gb)
    assert ga.value(uri, rdflib.DCTERMS.title) is not None


def test_dataset_html_for_browsers(demo_client, demo_platform):
    dataset_id = some_id(demo_platform)
    response = demo_client.get(f"/datasets/{dataset_id}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_conditional_requests_answer_304(demo_client, demo_platform):
    for url in ("/catalog.ttl", f"/datasets/{some_id(demo_platform)}.ttl"):
        first = demo_client.get(url)
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert demo_client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert demo_client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert demo_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_gzip_and_cors(demo_client):
    response = demo_client.get("/catalog.ttl", headers={"Accept-Encoding": "gzip", "Origin": "http://x.org"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    text = gzip.decompress(response.data).decode("utf-8")
    assert "dcat:Dataset" in text
    plain = demo_client.get("/catalog.ttl")
    assert "Content-Encoding" not in plain.headers
    preflight = demo_client.open("/sparql", method="OPTIONS", headers={"Origin": "http://x.org",
                                 "Access-Control-Request-Method": "POST"})
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_catalog_redirects_browsers_to_the_portal(demo_client):
    response = demo_client.get("/catalog", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/datasets")
