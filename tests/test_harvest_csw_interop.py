"""CSW as servers give it, from local servers: ISO 19139 (real answers of ../shared/data/interop), Dublin Core
and GeoDCAT-AP (written for the tests), a server answering Dublin Core to an ISO request and ignoring paging.
Expected figures are counted from each answer."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyoxigraph as ox
import pytest

from conftest import shared_path
from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness
from harvesters.csw_read import axis_order
from ontology.namespaces import DCAT, DCT, LOCN, WODP
from ontology.extent import GEOJSON_SUFFIX

FIXTURES = Path(__file__).parent / "harvest_fixtures"
NS = {"gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco",
      "csw": "http://www.opengis.net/cat/csw/2.0.2", "dc": "http://purl.org/dc/elements/1.1/",
      "dct": "http://purl.org/dc/terms/"}


@pytest.fixture
def source():
    fake = FakeSource()
    yield fake
    fake.close()


def serve(source: FakeSource, body: bytes, path: str = "/csw", repeat: bool = False) -> None:
    """Serve a GetRecords answer; unless repeat, later pages are empty (as the answer says nextRecord 0)."""
    def getrecords(query, headers):
        return 200, {"Content-Type": "application/xml"}, body if repeat or query["startPosition"] == "1" else b""
    source.routes[path] = getrecords


def whole(body: bytes) -> bytes:
    """Make a recorded first page a whole listing: matched = returned, no next record."""
    returned = re.search(rb'numberOfRecordsReturned="(\d+)"', body).group(1)
    body = re.sub(rb'numberOfRecordsMatched="\d+"', b'numberOfRecordsMatched="' + returned + b'"', body, count=1)
    return re.sub(rb'nextRecord="\d+"', b'nextRecord="0"', body, count=1)


def iso_expected(body: bytes) -> dict[str, dict]:
    """fileIdentifier → titles (every version), online resources, geographic boxes, counted from the XML."""
    out = {}
    for md in ET.fromstring(body).iter(f"{{{NS['gmd']}}}MD_Metadata"):
        ident = md.find("gmd:fileIdentifier/gco:CharacterString", NS).text.strip()
        title = md.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS)
        versions = {title.find("gco:CharacterString", NS).text.strip()} | {
            e.text.strip() for e in title.iter(f"{{{NS['gmd']}}}LocalisedCharacterString")}
        locales = len(list(title.iter(f"{{{NS['gmd']}}}LocalisedCharacterString")))
        out[ident] = {"titles": versions, "languages": max(1, locales),
                      "online": len(list(md.iter(f"{{{NS['gmd']}}}onLine"))),
                      "boxes": len(list(md.iter(f"{{{NS['gmd']}}}EX_GeographicBoundingBox")))}
    return out


def graph_of(h: Harness, ident: str) -> tuple[ox.NamedNode, list[ox.Triple]]:
    [uri] = [u for u in h.store.dataset_uris()
             if ox.Literal(ident) in {t.object for t in h.store.dataset_triples(u) if t.predicate == WODP.sourceKey}]
    return ox.NamedNode(uri), h.store.dataset_triples(uri)


def values(triples, node, predicate) -> list:
    return [t.object for t in triples if t.subject == node and t.predicate == predicate]


@pytest.mark.parametrize("name", ["csw_getrecords_iso19139_inspire_OWSLib.xml",
                                  "csw_getrecords_iso19139_geonetwork_fr_udata_p1.xml"])
def test_iso19139_answers_keep_every_record(tmp_path, source, name):
    body = whole(shared_path("data", "interop", name).read_bytes())
    expected = iso_expected(body)
    serve(source, body)
    h = Harness(tmp_path, [{"name": "geo", "kind": "csw", "url": source.url + "/csw"}])
    try:
        report = h.run("geo")
        assert report["status"] == "succeeded" and report["new"] == len(expected), report["message"]
        errors = [e["message"] for e in h.jobs.job_errors(report["id"])]
        unplaced = 0
        for ident, want in expected.items():
            node, triples = graph_of(h, ident)
            titles = values(triples, node, DCT.title)
            assert {t.value for t in titles} == want["titles"]
            assert len(titles) == want["languages"]                     # one title per language of the record
            assert len(values(triples, node, DCAT.distribution)) == want["online"]
            # the WKT location; its GeoJSON twin (ontology/extent.py) is the same extent for CKAN and piveau
            spatial = [v for v in values(triples, node, DCT.spatial) if not v.value.endswith(GEOJSON_SUFFIX)]
            assert len(spatial) <= min(1, want["boxes"])
            unplaced += bool(want["boxes"]) and not spatial
        assert unplaced == len([m for m in errors if "not a bounding box" in m])   # every box placed or reported
    finally:
        h.close()


def test_dublin_core_records_become_whole_datasets(tmp_path, source):
    body = (FIXTURES / "csw_dublin_core.xml").read_bytes()
    records = list(ET.fromstring(body).iter(f"{{{NS['csw']}}}Record"))
    serve(source, body)
    h = Harness(tmp_path, [{"name": "dc", "kind": "csw", "url": source.url + "/csw",
                            "options": {"output_schema": "dublin-core"}}])
    try:
        report = h.run("dc")
        assert report["status"] == "succeeded" and report["new"] + report["held"] + report["failed"] == len(records)
        assert "outputSchema=http%3A%2F%2Fwww.opengis.net%2Fcat%2Fcsw%2F2.0.2" in source.requests[0]
        for record in records:
            ident = record.find("dc:identifier", NS)
            node, triples = graph_of(h, ident.text) if ident is not None else _by_title(h, record)
            want = {(e.text, e.get("{http://www.w3.org/XML/1998/namespace}lang")) for e in record.findall("dc:title", NS)}
            assert {(t.value, t.language) for t in values(triples, node, DCT.title)} == want
            assert [d.value for d in values(triples, node, DCT.description)] == [record.find("dct:abstract", NS).text]
            assert {k.value for k in values(triples, node, DCAT.keyword)} == {
                e.text for e in record.findall("dc:subject", NS)}
            assert len(values(triples, node, DCAT.distribution)) == len(record.findall("dct:references", NS))
        node, triples = graph_of(h, "urn:uuid:4d6b0c2e-rivers")          # EPSG:4326: lat/lon in the source
        [place] = [v for v in values(triples, node, DCT.spatial) if not v.value.endswith(GEOJSON_SUFFIX)]
        [wkt] = values(triples, place, LOCN.geometry)
        assert "POLYGON((5.9 47.3, 5.9 55.1, 15.0 55.1, 15.0 47.3, 5.9 47.3))" in wkt.value
        node, triples = graph_of(h, "roads-2023")                         # CRS84: lon/lat in the source
        [place] = [v for v in values(triples, node, DCT.spatial) if not v.value.endswith(GEOJSON_SUFFIX)]
        assert "113.7 29.9, 113.7 31.4" in values(triples, place, LOCN.geometry)[0].value
        errors = [e["message"] for e in h.jobs.job_errors(report["id"])]
        assert any("without an identifier" in m for m in errors)
        assert h.run("dc")["unchanged"] == len(records)                   # the content key is stable
    finally:
        h.close()


def _by_title(h: Harness, record) -> tuple[ox.NamedNode, list[ox.Triple]]:
    title = record.find("dc:title", NS).text
    [uri] = [u for u in h.store.dataset_uris()
             if ox.Literal(title) in {t.object for t in h.store.dataset_triples(u) if t.predicate == DCT.title}]
    return ox.NamedNode(uri), h.store.dataset_triples(uri)


def test_dublin_core_answer_to_an_iso_request_and_ignored_paging(tmp_path, source):
    """The server answers Dublin Core whatever is asked, and page 2 is page 1 again: detected, reported."""
    body = (FIXTURES / "csw_dublin_core.xml").read_bytes()
    body = body.replace(b'numberOfRecordsMatched="3"', b'numberOfRecordsMatched="9"').replace(
        b'nextRecord="0"', b'nextRecord="4"')
    serve(source, body, repeat=True)
    h = Harness(tmp_path, [{"name": "lazy", "kind": "csw", "url": source.url + "/csw",
                            "options": {"max_records": 3}}])
    try:
        report = h.run("lazy")
        assert report["status"] == "succeeded" and report["new"] == 3, report["message"]
        assert "outputSchema=http%3A%2F%2Fwww.isotc211.org%2F2005%2Fgmd" in source.requests[0]
        errors = [e["message"] for e in h.jobs.job_errors(report["id"])]
        assert any("ignores paging" in m for m in errors)
        assert len([r for r in source.requests if "startPosition=4" in r]) == 1   # asked once, then stopped
    finally:
        h.close()


def test_geodcat_ap_records_through_the_dcat_reading(tmp_path, source):
    body = (FIXTURES / "csw_geodcat_ap.xml").read_bytes()
    graph = [q.triple for part in re.findall(rb"<rdf:RDF.*?</rdf:RDF>", body, re.S)
             for q in ox.parse(part, format=ox.RdfFormat.RDF_XML, base_iri="http://x.example/")]
    datasets = {t.subject for t in graph if t.object == DCAT.Dataset}
    serve(source, body)
    h = Harness(tmp_path, [{"name": "gd", "kind": "csw", "url": source.url + "/csw",
                            "options": {"output_schema": "geodcat-ap"}}])
    try:
        report = h.run("gd")
        assert report["status"] == "succeeded" and report["new"] == len(datasets), report["message"]
        assert "outputSchema=http%3A%2F%2Fdata.europa.eu%2F930%2F" in source.requests[0]
        for dataset in datasets:
            [ident] = values(graph, dataset, DCT.identifier)
            node, triples = graph_of(h, ident.value)
            assert set(values(triples, node, DCT.title)) == set(values(graph, dataset, DCT.title))
            assert ident in values(triples, node, DCT.identifier)
            assert len(values(triples, node, DCAT.distribution)) == len(values(graph, dataset, DCAT.distribution))
            assert len(values(triples, node, DCT.spatial)) == len(values(graph, dataset, DCT.spatial))
    finally:
        h.close()


@pytest.mark.parametrize("crs,order", [("urn:ogc:def:crs:EPSG::4326", "latlon"), ("EPSG:4326", "latlon"),
                                       ("http://www.opengis.net/def/crs/EPSG/0/4326", "latlon"),
                                       ("urn:x-ogc:def:crs:EPSG:6.11:4326", "latlon"),
                                       ("urn:ogc:def:crs:OGC:1.3:CRS84", "lonlat"),
                                       ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "lonlat"),
                                       ("EPSG:3857", None), (None, None)])
def test_bounding_box_axis_order_follows_the_crs(crs, order):
    assert axis_order(crs) == order


def test_an_iso_record_without_file_identifier_is_kept_and_reported(tmp_path, source):
    body = whole(shared_path("data", "interop", "csw_getrecords_iso19139_inspire_OWSLib.xml").read_bytes())
    body, removed = re.subn(rb"<gmd:fileIdentifier>.*?</gmd:fileIdentifier>", b"", body, count=1, flags=re.S)
    assert removed == 1
    serve(source, body)
    h = Harness(tmp_path, [{"name": "geo", "kind": "csw", "url": source.url + "/csw"}])
    try:
        report = h.run("geo")
        assert report["status"] == "succeeded", report["message"]
        records = len(re.findall(rb"<gmd:MD_Metadata", body))
        assert report["new"] + report["held"] + report["failed"] == records, report["message"]
        errors = [e["message"] for e in h.jobs.job_errors(report["id"])]
        assert len([m for m in errors if "without an identifier" in m]) == 1
        assert h.run("geo")["unchanged"] == records
    finally:
        h.close()


def test_records_in_a_schema_we_do_not_read_fail_the_job(tmp_path, source):
    body = (b'<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2"><csw:SearchResults '
            b'numberOfRecordsMatched="1" numberOfRecordsReturned="1" nextRecord="0">'
            b'<metadata xmlns="http://www.fgdc.gov/metadata"><idinfo/></metadata></csw:SearchResults>'
            b'</csw:GetRecordsResponse>')
    serve(source, body)
    h = Harness(tmp_path, [{"name": "fgdc", "kind": "csw", "url": source.url + "/csw"}])
    try:
        report = h.run("fgdc")
        assert report["status"] == "failed" and "no record in a schema we read" in report["message"]
    finally:
        h.close()
