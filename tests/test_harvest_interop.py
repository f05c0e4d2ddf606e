"""Real DCAT documents of ../shared/data/interop and DCAT-AP 1.x / blank-node fixtures, harvested from a local
server: every dataset of a document reaches the gate with its titles (all languages), identifiers, distributions
and extents; what the harvester had to change is reported. Expected figures are counted from each file."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest
import yaml

from conftest import shared_path
from harvest_fixtures.fake_sources import FakeSource
from harvest_fixtures.harness import Harness
from ontology.namespaces import DCAT, DCT, LOCN, RDF, WODP, XSD
from ontology.extent import GEOJSON_SUFFIX

FIXTURES = Path(__file__).parent / "harvest_fixtures"
EU = "http://publications.europa.eu/resource/authority/"
GEOMETRY = (LOCN.geometry, DCAT.bbox, DCAT.centroid)


@pytest.fixture
def source():
    fake = FakeSource()
    yield fake
    fake.close()


def document(name: str) -> bytes:
    return (FIXTURES / name).read_bytes() if (FIXTURES / name).exists() else \
        shared_path("data", "interop", name).read_bytes()


def media(name: str) -> str:
    return "text/turtle" if name.endswith(".ttl") else "application/rdf+xml"


def parsed(name: str) -> list[ox.Triple]:
    fmt = ox.RdfFormat.TURTLE if name.endswith(".ttl") else ox.RdfFormat.RDF_XML
    return [q.triple for q in ox.parse(document(name), format=fmt, base_iri="http://src.example/doc")]


def described(triples: list[ox.Triple], node) -> dict:
    """What a dataset node of a graph says: titles (with languages), identifiers, distributions, geometries."""
    def objects(subject, predicate):
        return [t.object for t in triples if t.subject == subject and t.predicate == predicate]
    spatial = objects(node, DCT.spatial)
    return {"titles": {(o.value, o.language) for o in objects(node, DCT.title)},
            "identifiers": {o.value for o in objects(node, DCT.identifier)},
            "distributions": len(objects(node, DCAT.distribution)),
            "extents": len(spatial),
            "geometries": {o.value for s in spatial for p in GEOMETRY for o in objects(s, p)}}


def in_file(name: str) -> list[dict]:
    triples = parsed(name)
    nodes = {t.subject for t in triples if t.predicate == RDF.type and t.object == DCAT.Dataset}
    return [described(triples, n) for n in nodes]


def harvested(h: Harness, report: dict) -> tuple[list[dict], dict[str, str]]:
    """Return what reached the gate (published, or held with its reason), and the held reasons by title."""
    found, held = [], {}
    for uri in h.store.dataset_uris():
        found.append(described(h.store.dataset_triples(uri), ox.NamedNode(uri)))
    for row in h.publisher.quarantine.list():
        entry = h.publisher.quarantine.get(row["id"])
        seen = described(entry.triples, ox.NamedNode(entry.uri))
        found.append(seen)
        held[min(t for t, _ in seen["titles"])] = str(entry.report)[:300]
    return found, held


DOCUMENTS = ["ckanext-dcat_catalog_example.rdf", "ckanext-dcat_dataset_gob_es_madrid.ttl",
             "ckanext-dcat_dataset_gov_de_rostock.rdf", "geodcatap_datara_geonetwork_udata.rdf",
             "dcat_ap_1_1_style.ttl", "dcat_blank_node_dataset.rdf", "dcat_ap_it.ttl", "dcat_ap_ch.rdf"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_dataset_reaches_the_gate_whole(tmp_path, source, name):
    expected = in_file(name)
    assert expected, f"{name} holds no dcat:Dataset"
    source.static("/" + name, document(name), media(name))
    h = Harness(tmp_path, [{"name": "eu", "kind": "dcat", "url": f"{source.url}/{name}"}])
    try:
        report = h.run("eu")
        assert report["status"] == "succeeded", report["message"]
        assert report["new"] + report["held"] + report["failed"] == len(expected)
        got, held = harvested(h, report)
        assert len(got) == len(expected)
        for want in expected:
            [match] = [g for g in got if g["titles"] == want["titles"]]      # every title in every language
            assert want["identifiers"] <= match["identifiers"]            # the source's own dct:identifier
            assert match["distributions"] == want["distributions"]
            assert match["extents"] == want["extents"] and match["geometries"] >= want["geometries"]
        again = h.run("eu")
        assert again["status"] == "succeeded" and again["new"] == 0     # the same IRIs on the next harvest
    finally:
        h.close()


def test_national_and_1x_documents_are_published_not_held(tmp_path, source):
    """DCAT-AP.de, DCAT-AP_IT, DCAT-AP-CH, GeoDCAT-AP, ckanext-dcat, datos.gob.es and DCAT-AP 1.1 forms are published
    under the external profile (a DCAT source's default) once their implicit types are read: every dataset of
    every document, none held."""
    names = DOCUMENTS
    total = sum(len(in_file(n)) for n in names)
    sources = []
    for n, name in enumerate(names):
        source.static("/" + name, document(name), media(name))
        sources.append({"name": f"s{n}", "kind": "dcat", "url": f"{source.url}/{name}"})
    h = Harness(tmp_path, sources)
    try:
        reports = [h.run(s["name"]) for s in sources]
        assert [r["failed"] for r in reports] == [0] * len(names), [r["message"] for r in reports]
        assert [r["held"] for r in reports] == [0] * len(names), [r["held_reasons"] for r in reports]
        assert sum(r["new"] for r in reports) == total == h.store.count_datasets()
        assert h.publisher.quarantine.list() == []
    finally:
        h.close()


MADRID = "ckanext-dcat_dataset_gob_es_madrid.ttl"
MADRID_PUBLISHER = "http://datos.gob.es/recurso/sector-publico/org/Organismo/L01280796"
MADRID_THEME = "http://datos.gob.es/kos/sector-publico/sector/deporte"
FOAF_NAME, PREF_LABEL = "http://xmlns.com/foaf/0.1/name", "http://www.w3.org/2004/02/skos/core#prefLabel"


def test_a_publisher_without_name_and_a_theme_without_label_are_published_with_warnings(tmp_path, source):
    """datos.gob.es names its publisher (a skos:Concept) and theme nowhere in the document: published as the source
    has them, with a warning naming each node; nothing is written in their place."""
    source.static("/" + MADRID, document(MADRID), media(MADRID))
    h = Harness(tmp_path, [{"name": "es", "kind": "dcat", "url": f"{source.url}/{MADRID}"}])
    try:
        report = h.run("es")
        assert (report["status"], report["new"], report["held"], report["failed"]) == ("succeeded", 1, 0, 0)
        assert report["held_reasons"] == [] and h.publisher.quarantine.list() == []
        warned = {w["path"]: w for w in report["warning_kinds"]}
        assert warned[FOAF_NAME]["nodes"] == [MADRID_PUBLISHER] and warned[FOAF_NAME]["datasets"] == 1
        assert warned[PREF_LABEL]["nodes"] == [MADRID_THEME] and warned[PREF_LABEL]["datasets"] == 1
        assert warned[FOAF_NAME]["message_zh"] and warned[PREF_LABEL]["message_en"]
        [uri] = h.store.dataset_uris()
        triples = h.store.dataset_triples(uri)
        published = {(t.subject.value, t.predicate.value) for t in triples}
        assert (uri, DCT.publisher.value) in published and (uri, DCAT.theme.value) in published
        assert (MADRID_PUBLISHER, FOAF_NAME) not in published and (MADRID_THEME, PREF_LABEL) not in published
        # the source's own label of its publisher is kept as it is (a skos:prefLabel), not copied to foaf:name
        assert [t.object.value for t in triples if t.subject.value == MADRID_PUBLISHER
                and t.predicate.value == PREF_LABEL] == ["Ayuntamiento de Madrid"]
    finally:
        h.close()


def test_a_source_that_names_the_dcat_ap_3_profile_holds_them(tmp_path, source):
    """`profile: dcat-ap-3` keeps DCAT-AP 3 strict: the unnamed publisher and unlabelled theme hold the dataset."""
    source.static("/" + MADRID, document(MADRID), media(MADRID))
    h = Harness(tmp_path, [{"name": "es", "kind": "dcat", "url": f"{source.url}/{MADRID}", "profile": "dcat-ap-3"}])
    try:
        report = h.run("es")
        assert (report["status"], report["new"], report["held"]) == ("succeeded", 0, 1)
        assert {r["path"] for r in report["held_reasons"]} == {FOAF_NAME, PREF_LABEL}
        assert len(h.publisher.quarantine.list()) == 1 and h.store.count_datasets() == 0
        again = h.run("es")
        assert (again["held"], again["unchanged"]) == (1, 0)     # still held on the next run, not "unchanged"
    finally:
        h.close()


def test_dcat_ap_1x_literals_become_typed_values_and_are_reported(tmp_path, source):
    name = "dcat_ap_1_1_style.ttl"
    source.static("/" + name, document(name), media(name))
    h = Harness(tmp_path, [{"name": "old", "kind": "dcat", "url": f"{source.url}/{name}"}])
    try:
        report = h.run("old")
        [uri] = [u for u in h.store.dataset_uris()
                 if any(t.object == ox.Literal("air-quality-2015") for t in h.store.dataset_triples(u))]
        triples = h.store.dataset_triples(uri)
        node = ox.NamedNode(uri)
        assert ox.Triple(node, DCT.issued, ox.Literal("2015-03-01", datatype=XSD.date)) in triples
        assert ox.Triple(node, DCT.modified, ox.Literal("2015-06-30T12:00:00", datatype=XSD.dateTime)) in triples
        assert ox.Triple(node, DCT.language, ox.NamedNode(EU + "language/ENG")) in triples
        formats = {t.object.value for t in triples if t.predicate == DCT.format}
        assert formats == {EU + "file-type/CSV", EU + "file-type/XLS"}
        media_types = {t.object.value for t in triples if t.predicate == DCAT.mediaType}
        assert media_types == {"https://www.iana.org/assignments/media-types/text/csv"}
        assert ox.Triple(node, DCAT.landingPage, ox.NamedNode(f"{source.url}/pages/air-quality.html")) in triples
        errors = [e["message"] for e in h.jobs.job_errors(report["id"])]
        assert any("relative IRI" in m and "air-quality.html" in m for m in errors)
        assert ox.Triple(node, WODP.sourceKey, ox.Literal("air-quality-2015")) in triples
    finally:
        h.close()


def test_blank_node_datasets_get_stable_iris(tmp_path, source):
    name = "dcat_blank_node_dataset.rdf"
    source.static("/" + name, document(name), media(name))
    h = Harness(tmp_path, [{"name": "blank", "kind": "dcat", "url": f"{source.url}/{name}"}])
    try:
        first = h.run("blank")
        uris = sorted(h.store.dataset_uris())
        assert first["new"] == 2 and len(uris) == 2
        assert any(u.endswith(".bus-stops") for u in uris)                # keyed by its own dct:identifier
        source.static("/" + name, document(name).replace(b"Every bus stop", b"All bus stops"), media(name))
        second = h.run("blank")
        assert (second["updated"], second["unchanged"], second["withdrawn"]) == (1, 1, 0)
        assert sorted(h.store.dataset_uris()) == uris
    finally:
        h.close()


def test_a_document_without_datasets_fails_the_job(tmp_path, source):
    source.static("/empty.ttl", b"<http://example.org/c> a <http://www.w3.org/ns/dcat#Catalog> .", "text/turtle")
    h = Harness(tmp_path, [{"name": "empty", "kind": "dcat", "url": f"{source.url}/empty.ttl"}])
    try:
        report = h.run("empty")
        assert report["status"] == "failed" and "no dcat:Dataset" in report["message"]
        assert f"{source.url}/empty.ttl" in report["message"]
    finally:
        h.close()


def test_shipped_file_types_are_in_the_eu_table():
    rows = shared_path("standards", "vocab", "file-type.csv").read_text(encoding="utf-8").splitlines()[1:]
    codes = {row.split(",", 1)[0] for row in rows}
    shipped = yaml.safe_load((Path(__file__).parents[1] / "harvesters" / "eu_vocabularies.yml").read_text())
    assert set(shipped["file_types"]) <= codes


def _package_search(packages: list[dict]) -> bytes:
    import json

    return json.dumps({"success": True, "result": {"count": len(packages), "results": packages}}).encode()


def _packages(name: str) -> list[dict]:
    import json

    doc = json.loads(shared_path("data", "interop", name).read_bytes())
    result = doc["result"]
    return result if isinstance(result, list) else result["results"]


@pytest.mark.parametrize("name", ["ckan_package_search_data_birmingham_gov_uk.json",
                                  "dkan_package_show_french_udata.json"])
def test_ckan_and_dkan_packages_keep_titles_ids_resources_and_extents(tmp_path, source, name):
    packages = _packages(name)
    source.static("/api/3/action/package_search", _package_search(packages), "application/json")
    h = Harness(tmp_path, [{"name": "ck", "kind": "ckan", "url": source.url, "options": {"rows": 100}}])
    try:
        report = h.run("ck")
        assert report["status"] == "succeeded" and report["new"] + report["held"] + report["failed"] == len(packages)
        for package in packages:
            uri = h.uri(f"ck.{package['id']}")
            triples = h.store.dataset_triples(uri) or h.publisher.quarantine.get(uri.rsplit("/", 1)[-1]).triples
            node = ox.NamedNode(uri)
            assert [t.object.value for t in triples if t.subject == node and t.predicate == DCT.title] == \
                [package["title"].strip()]
            assert ox.Triple(node, WODP.sourceKey, ox.Literal(package["id"])) in triples
            resources = [r for r in package.get("resources", []) if r.get("url")]
            assert len([t for t in triples if t.subject == node and t.predicate == DCAT.distribution]) == \
                len(resources)
            extras = {e["key"] for e in package.get("extras", [])}
            has_box = {"bbox-west-long", "bbox-east-long", "bbox-south-lat", "bbox-north-lat"} <= extras
            extents = [t for t in triples if t.subject == node and t.predicate == DCT.spatial
                       and not t.object.value.endswith(GEOJSON_SUFFIX)]   # the WKT location, not its GeoJSON twin
            assert len(extents) == int(has_box)
    finally:
        h.close()


def test_ckan_extras_and_groups_are_carried(tmp_path, source):
    """Extras become fields extras:<key> of the record and groups stay; the ckan mapping places both."""
    from config import load_settings
    from harvest_fixtures.fake_sources import FakeCkan, ckan_package
    from harvesters.base import harvester_class
    from harvesters.http import HttpClient
    from mappings import apply_mapping, load_mapping

    packages = []
    for n, (open_type, group) in enumerate([("无条件开放", "交通运输"), ("有条件开放", "医疗卫生"),
                                            ("spelled-our-way", "Council Business")]):
        p = ckan_package(n)
        p["extras"] = [{"key": "open_type", "value": open_type}, {"key": "custom-field", "value": "kept"}]
        p["groups"] = [{"name": f"g{n}", "title": group, "display_name": group}]
        packages.append(p)
    FakeCkan(source, packages)
    settings = load_settings({}, overrides={"harvest": {"sources": [
        {"name": "ck", "kind": "ckan", "url": source.url}]}}, home=tmp_path)
    lines: list[str] = []
    http = HttpClient(2.0)
    try:
        harvester = harvester_class("ckan")(settings.harvest.sources[0], settings.harvest, tmp_path, lines.append,
                                            http=http, base_uri=settings.base_uri)
        result = harvester.fetch({})
    finally:
        http.close()
    assert lines and len(result.records) == len(packages)                  # the log it was given was used
    fields = result.records[0].fields
    assert fields["extras:open_type"] == "无条件开放" and "extras" not in fields
    assert fields["groups"][0]["title"] == "交通运输"
    mapped = apply_mapping(list(result.records), load_mapping("ckan"), settings.base_uri)
    placed = {}
    for uri, triples in mapped.graphs.items():
        key = next(t.object.value for t in triples if t.predicate == WODP.sourceKey)
        placed[key] = {t.predicate for t in triples if t.subject == ox.NamedNode(uri)}
    assert WODP.openType in placed["pkg-00000"] and DCAT.theme in placed["pkg-00000"]
    assert WODP.openType in placed["pkg-00001"] and DCAT.theme in placed["pkg-00001"]
    assert WODP.openType not in placed["pkg-00002"]
    # a group that is none of our themes stays the source's own concept (docs/sources.md), never one of ours
    themes = {t.object.value for uri, triples in mapped.graphs.items() for t in triples
              if t.predicate == DCAT.theme and uri.endswith("pkg-00002")}
    assert themes and not any(v.startswith("https://data.wuhan.gov.cn/def/theme/") for v in themes)
    problems = {(p.kind, p.value) for p in mapped.problems}
    assert ("unknown-value", "spelled-our-way") in problems and ("unknown-value", "Council Business") in problems
    assert mapped.unplaced_fields.get("extras:custom-field") == len(packages)   # an unplaced extra is named
