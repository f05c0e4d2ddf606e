"""Acceptance against a real `wodp demo` process: the doors agree, clients work, limits hold."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import urlencode

import psutil
import pytest
import rdflib
from rdflib.namespace import DCTERMS, RDF
from SPARQLWrapper import JSON, SPARQLWrapper

pytestmark = pytest.mark.slow
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
COUNT = "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"
HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def get(url: str, accept: str | None = None, timeout: float = 30) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def get_from(address: str, url: str, timeout: float = 30) -> tuple[int, bytes, dict]:
    """GET from another loopback address: another client to the per-client limits (all of 127/8 is local)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(address, 0))
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.headers)
    finally:
        conn.close()


def sparql_count(server) -> int:
    client = SPARQLWrapper(server.url + "/sparql")
    client.setQuery(COUNT)
    client.setReturnFormat(JSON)
    return int(client.query().convert()["results"]["bindings"][0]["n"]["value"])


def portal_count(server) -> int:
    status, body, _ = get(server.url + "/datasets?format=json")
    assert status == 200
    return json.loads(body)["total"]


def catalog_count(server) -> int:
    """Page through /catalog over HTTP following hydra:nextPage; count distinct datasets."""
    seen: set[str] = set()
    url = server.url + "/catalog?page_size=250"
    total = None
    while url:
        status, body, _ = get(url, "application/n-triples")
        assert status == 200, url
        g = rdflib.Graph().parse(data=body, format="nt")
        seen |= {str(d) for d in g.subjects(RDF.type, DCAT.Dataset)}
        total = int(next(g.objects(None, HYDRA.totalItems), None))
        nxt = next(g.objects(None, HYDRA.nextPage), None)
        url = str(nxt) if nxt else None
    assert len(seen) == total
    return total


def csw_count(server) -> int:
    """numberOfRecordsMatched of a CSW 2.0.2 GetRecords hits request (pycsw behind /csw)."""
    import re

    query = urlencode({"service": "CSW", "version": "2.0.2", "request": "GetRecords", "typenames": "csw:Record",
                       "elementsetname": "brief", "resultType": "hits"})
    status, body, _ = get(f"{server.url}/csw?{query}")
    assert status == 200, body[:300]
    return int(re.search(rb'numberOfRecordsMatched="(\d+)"', body).group(1))


def records_count(server) -> int:
    """numberMatched of the OGC API Records collection of the catalogue."""
    status, body, _ = get(f"{server.url}/ogc/collections/catalog/items?f=json&limit=1", "application/geo+json")
    assert status == 200, body[:300]
    return json.loads(body)["numberMatched"]


def test_doors_agree_with_the_generator_and_follow_a_replace_and_a_remove(live_demo, tmp_path):
    expected = live_demo.totals["datasets"]  # what the store holds: the generator's plus the demo harvests'
    assert live_demo.totals["generator datasets"] == 1700
    assert live_demo.totals["harvested datasets"] > 0
    assert expected == 1700 + live_demo.totals["harvested datasets"]
    assert portal_count(live_demo) == catalog_count(live_demo) == sparql_count(live_demo) == expected
    assert csw_count(live_demo) == records_count(live_demo) == expected
    assert live_demo.totals["layers (OGC API Features)"] == live_demo.totals["spatial"] == 200

    # replace one dataset (new title) and remove another, through the CLI while the server runs
    status, body, _ = get(live_demo.url + "/catalog?page_size=2", "text/turtle")
    g = rdflib.Graph().parse(data=body, format="turtle")
    first, second = sorted(str(d) for d in g.subjects(RDF.type, DCAT.Dataset))
    _, body, _ = get(first, "text/turtle")
    dataset = rdflib.Graph().parse(data=body, format="turtle")
    dataset.set((rdflib.URIRef(first), DCTERMS.title, rdflib.Literal("替换后的测试数据集标题", lang="zh-CN")))
    changed = tmp_path / "changed.ttl"
    dataset.serialize(changed, format="turtle")
    load = live_demo.wodp("load", str(changed))
    assert load.returncode == 0, load.stderr
    assert json.loads(load.stdout)["put"] == 1
    remove = live_demo.wodp("remove", second.rsplit("/", 1)[1])
    assert remove.returncode == 0, remove.stderr
    assert json.loads(remove.stdout)["removed"] == 1

    assert portal_count(live_demo) == catalog_count(live_demo) == sparql_count(live_demo) == expected - 1
    assert csw_count(live_demo) == records_count(live_demo) == expected - 1
    status, body, _ = get(first + ".ttl")
    assert "替换后的测试数据集标题" in body.decode("utf-8")
    status, _, _ = get(second + ".ttl")
    assert status == 404
    status, body, _ = get(live_demo.url + "/datasets?" + urlencode({"q": "替换后的测试", "format": "json"}))
    assert json.loads(body)["total"] == 1


@pytest.mark.parametrize("accept, fmt", [("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                                         ("application/rdf+xml", "xml"), ("application/n-triples", "nt")])
def test_rdflib_parses_the_catalog_in_every_format(live_demo, accept, fmt):
    g = rdflib.Graph()
    g.parse(live_demo.url + "/catalog?page=3", format=fmt)  # rdflib fetches over HTTP itself
    status, body, headers = get(live_demo.url + "/catalog?page=3", accept)
    assert headers["Content-Type"].startswith(accept)
    assert len(set(g.subjects(RDF.type, DCAT.Dataset))) == 100


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is installed by make test")
def test_curl_with_accept_headers(live_demo):
    for accept, needle in (("text/turtle", b"dcat:Dataset"), ("application/ld+json", b'"@context"'),
                           ("application/rdf+xml", b"<rdf:RDF"), ("application/n-triples", b"<http://www.w3.org/ns/dcat#Dataset>")):
        out = subprocess.run(["curl", "-sS", "--compressed", "-H", f"Accept: {accept}", live_demo.url + "/catalog?page_size=5"],
                             capture_output=True, timeout=60, check=True).stdout
        assert needle in out, accept
    csv = subprocess.run(["curl", "-sS", "-H", "Accept: text/csv", "--data-urlencode", f"query={COUNT}",
                          live_demo.url + "/sparql"], capture_output=True, timeout=60, check=True).stdout
    assert csv.decode().splitlines() == ["n", str(sparql_count(live_demo))]


def test_update_refused_over_http(live_demo):
    client = SPARQLWrapper(live_demo.url + "/sparql")
    client.setMethod("POST")
    client.setQuery("INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }")
    with pytest.raises(Exception) as info:
        client.query()
    assert "SPARQL Update is not allowed" in str(info.value)


def test_demo_distributions_really_download(live_demo):
    status, body, _ = get(live_demo.url + "/catalog?page_size=40", "text/turtle")
    g = rdflib.Graph().parse(data=body, format="turtle")
    urls = sorted({str(u) for u in g.objects(None, DCAT.downloadURL)} | {str(u) for u in g.objects(None, DCAT.accessURL)})
    assert urls
    for url in urls:
        status, content, headers = get(url, "*/*")
        assert status == 200 and content, url


def test_heavy_queries_are_stopped_and_lookups_keep_answering(live_demo):
    """Four heavy queries at once from four other clients: each stops at the 3 s limit; lookups meanwhile stay
    under 1 s."""
    results: list[tuple[int, str, float]] = []
    lookups: list[float] = []
    _, body, _ = get(live_demo.url + "/catalog?page_size=1", "application/n-triples")
    uri = str(next(rdflib.Graph().parse(data=body, format="nt").subjects(RDF.type, DCAT.Dataset)))
    lookup = "SELECT ?p ?o WHERE { <%s> ?p ?o }" % uri

    def heavy(address: str):
        started = time.monotonic()
        status, body, _ = get_from(address, live_demo.url + "/sparql?" + urlencode({"query": HEAVY}), timeout=60)
        results.append((status, body.decode("utf-8", "replace"), time.monotonic() - started))

    threads = [threading.Thread(target=heavy, args=(f"127.0.0.{n}",)) for n in range(2, 6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    while any(t.is_alive() for t in threads):
        started = time.monotonic()
        status, body, _ = get(live_demo.url + "/sparql?" + urlencode({"query": lookup}),
                              "application/sparql-results+json")
        assert status == 200
        lookups.append(time.monotonic() - started)
        status, _, _ = get(uri + ".ttl")
        assert status == 200
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert len(results) == 4
    for status, text, elapsed in results:
        assert status == 503 and "time limit of 3 s" in text
        assert 2.9 < elapsed < 6.0
    assert len(lookups) >= 5
    assert max(lookups) < 1.0, lookups
    # right after, no process of the server keeps a core busy
    time.sleep(0.5)
    server = psutil.Process(live_demo.proc.pid)
    procs = [server] + server.children(recursive=True)
    for p in procs:
        p.cpu_percent(None)
    time.sleep(1.0)
    busy = {p.pid: p.cpu_percent(None) for p in procs if p.is_running()}
    assert sum(busy.values()) < 30, busy
