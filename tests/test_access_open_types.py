"""What each door reveals follows the open type (issue 9, point 8; docs/access.md).

A small demo catalogue (80 datasets, 20 spatial) is published through the real gate; it has datasets of each
open type with data files, data APIs and layers. For each door × open type an anonymous request gets the data
(200) only for 无条件开放; 有条件开放 and 不予开放 answer 403 with a message saying why and how to apply. The
metadata doors (DCAT, CSW, OGC API Records, the dataset page) keep listing every dataset but link to no data
anyone may not fetch.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pyoxigraph as ox
import pytest

from tests.conftest import admin_headers

from access.policy import (ANONYMOUS, DataAccessRefused, DatasetAccess, OpenType, Principal, may_read_data,
                           open_type_in, open_type_of, public_view, require_data)
from ogc.features import FeatureQuery
from ontology.namespaces import ACCESS_RIGHT, DCAT, DCT, OPEN_TYPE, WODP
from shapes.report import VIOLATION

KINDS = ("unconditional", "conditional", "closed")
RESTRICTED = ("conditional", "closed")
OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""
GMD = "http://www.isotc211.org/2005/gmd"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The platform, a test client and, per open type, one dataset with a file, one with an API, one with a layer."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 80, "spatial": 20}},
                             home=tmp_path_factory.mktemp("access-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    client = create_app(platform=platform).test_client()
    kinds = {row[0].value: row[1].value.rsplit("/", 1)[-1] for row in platform.store.query(OPEN_TYPES)}
    picked: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    base = settings.base_uri
    for uri in sorted(kinds):
        dataset_id = uri.rsplit("/", 1)[-1]
        mine = picked[kinds[uri]]
        for t in platform.store.dataset_triples(uri):
            url = t.object.value
            if t.predicate == DCAT.downloadURL and url.startswith(f"{base}/files/"):
                mine.setdefault("file", url[len(base):])
            elif t.predicate == DCAT.accessURL and url.startswith(f"{base}/api/data/"):
                mine.setdefault("api", url[len(base):])
        info = platform.features.layer(dataset_id)
        if info is not None and info.kind == "feature" and info.count:
            mine.setdefault("layer", dataset_id)
        mine.setdefault("any", dataset_id)
    for kind in KINDS:  # the catalogue must give every door something to refuse, or the tests below prove nothing
        assert set(picked[kind]) == {"file", "api", "layer", "any"}, (kind, picked[kind])
    yield platform, client, picked, kinds
    platform.close()


def _expect(kind: str) -> int:
    return 200 if kind == "unconditional" else 403


def _assert_refusal(answer, kind: str) -> None:
    """A 403 that names the open type and, for 有条件开放, says how to apply."""
    assert answer.status_code == 403
    text = answer.get_data(as_text=True)
    if kind == "conditional":
        assert "有条件开放" in text and "申请" in text and "conditionally open" in text
    else:
        assert "不予开放" in text and "not open" in text


# -- the data doors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_files_door(catalogue, kind):
    _, client, picked, _ = catalogue
    answer = client.get(picked[kind]["file"])
    assert answer.status_code == _expect(kind)
    if kind != "unconditional":
        _assert_refusal(answer, kind)
        problem = answer.get_json(force=True)
        assert problem["status"] == 403
        assert problem["type"] == ("urn:wodp:error:data-conditionally-open" if kind == "conditional"
                                   else "urn:wodp:error:data-not-open")
        assert answer.mimetype == "application/problem+json"
        assert client.head(picked[kind]["file"]).status_code == 403
        page = client.get(picked[kind]["file"], headers={"Accept": "text/html"})  # a browser gets a page
        assert page.mimetype == "text/html"
        _assert_refusal(page, kind)
    else:
        assert answer.data and "attachment" in answer.headers["Content-Disposition"]


@pytest.mark.parametrize("kind", KINDS)
def test_data_api_door(catalogue, kind):
    _, client, picked, _ = catalogue
    answer = client.get(picked[kind]["api"])
    assert answer.status_code == _expect(kind)
    if kind == "unconditional":
        assert answer.get_json()["records"]
    else:
        _assert_refusal(answer, kind)
        assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("kind", KINDS)
def test_layer_download_door(catalogue, kind):
    platform, client, picked, _ = catalogue
    layer = picked[kind]["layer"]
    answer = client.get(f"/layers/{layer}.geojson")
    assert answer.status_code == _expect(kind)
    if kind == "unconditional":
        assert len(json.loads(answer.get_data(as_text=True))["features"]) == platform.features.layer(layer).count
    else:
        _assert_refusal(answer, kind)
        assert answer.get_json()["code"] == "Forbidden"  # an OGC exception, like the rest of the OGC API


@pytest.mark.parametrize("kind", KINDS)
def test_ogc_collection_doors(catalogue, kind):
    platform, client, picked, _ = catalogue
    layer = picked[kind]["layer"]
    listed = {c["id"] for c in client.get("/ogc/collections?f=json").get_json()["collections"]}
    assert (layer in listed) == (kind == "unconditional")
    feature_id = platform.features.query(layer, FeatureQuery(limit=1))[0][0]["id"]
    for path in (f"/ogc/collections/{layer}?f=json", f"/ogc/collections/{layer}/items?f=json",
                 f"/ogc/collections/{layer}/items/{quote(str(feature_id))}?f=json",
                 f"/ogc/collections/{layer}/queryables?f=json"):
        answer = client.get(path)
        assert answer.status_code == _expect(kind), path
        if kind != "unconditional":
            _assert_refusal(answer, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_report_door(catalogue, kind):
    _, client, picked, _ = catalogue
    layer = picked[kind]["layer"]
    staff = admin_headers(client)  # the layer reports are the management center's (issue 12)
    answer = client.get(f"/api/layers/{layer}", headers=staff)
    assert answer.status_code == _expect(kind)
    assert client.get(f"/api/layers/{layer}").status_code == 401  # never the public's
    listed = {entry["id"] for entry in client.get("/api/layers", headers=staff).get_json()["layers"]}
    assert layer in listed  # the layer's counts are metadata: listed for every open type


def test_every_restricted_data_url_is_refused(catalogue):
    """Every data URL of every restricted dataset on this site answers 403; every one of the open ones 200."""
    platform, client, _, kinds = catalogue
    base = platform.settings.base_uri
    answered: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for uri, kind in kinds.items():
        for t in platform.store.dataset_triples(uri):
            url = t.object.value
            if t.predicate in (DCAT.downloadURL, DCAT.accessURL) and url.startswith(
                    (f"{base}/files/", f"{base}/api/data/", f"{base}/layers/", f"{base}/ogc/collections/")):
                path = url[len(base):] + ("/items" if "/ogc/collections/" in url else "")
                answered[kind].append(client.get(path).status_code)
    assert answered["unconditional"] and set(answered["unconditional"]) == {200}
    for kind in RESTRICTED:
        assert answered[kind] and set(answered[kind]) == {403}, kind


# -- the metadata doors -------------------------------------------------------------------------------------
def _data_paths(platform, dataset_id: str) -> tuple[str, ...]:
    """The URL prefixes of a dataset's data on this site's doors."""
    base = platform.settings.base_uri
    return (f"{base}/files/{dataset_id}/", f"{base}/api/data/{dataset_id}", f"{base}/layers/{dataset_id}.",
            f"{base}/ogc/collections/{dataset_id}")


def _stored_data_urls(platform, uri: str) -> set[str]:
    """The URLs on this site's data doors that the stored graph of a dataset names."""
    base = platform.settings.base_uri
    doors = tuple(f"{base}{door}" for door in ("/files/", "/api/data/", "/layers/", "/ogc/collections/"))
    return {t.object.value for t in platform.store.dataset_triples(uri)
            if t.predicate in (DCAT.downloadURL, DCAT.accessURL) and t.object.value.startswith(doors)}


def test_catalog_links_no_restricted_data(catalogue):
    platform, client, _, kinds = catalogue
    text = client.get("/catalog.nt?page_size=1000").get_data(as_text=True)
    graph = [q.triple for q in ox.parse(text.encode(), ox.RdfFormat.N_TRIPLES)]
    titled = {t.subject.value for t in graph if t.predicate == DCT.title}
    linked = {t.object.value for t in graph if t.predicate in (DCAT.downloadURL, DCAT.accessURL)}
    shown = {kind: 0 for kind in KINDS}
    for uri, kind in kinds.items():
        assert uri in titled  # every dataset stays listed with its metadata
        stored = _stored_data_urls(platform, uri)
        if kind == "unconditional":
            assert stored <= linked, uri
        else:
            assert not stored & linked, uri
        shown[kind] += len(stored & linked)
    assert shown["unconditional"] > 0 and shown["conditional"] == shown["closed"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_dataset_rdf_keeps_metadata_and_drops_download_urls(catalogue, kind):
    platform, client, picked, _ = catalogue
    for dataset_id in (picked[kind]["file"].split("/")[2], picked[kind]["layer"]):
        uri = platform.dataset_uri(dataset_id)
        answer = client.get(f"/datasets/{dataset_id}.nt")
        assert answer.status_code == 200
        graph = [q.triple for q in ox.parse(answer.data, ox.RdfFormat.N_TRIPLES)]
        node = ox.NamedNode(uri)
        distributions = {t.object for t in graph if t.subject == node and t.predicate == DCAT.distribution}
        stored = {t.object for t in platform.store.dataset_triples(uri)
                  if t.subject == node and t.predicate == DCAT.distribution}
        assert distributions == stored and distributions  # every distribution is still described
        downloads = [t for t in graph if t.predicate == DCAT.downloadURL]
        access = {t.subject: t.object for t in graph if t.predicate == DCAT.accessURL}
        assert set(access) == distributions  # DCAT-AP: each distribution keeps an access URL
        assert any(t.predicate == DCT.title for t in graph if t.subject == node)
        if kind == "unconditional":
            assert downloads
        else:
            assert not downloads and set(access.values()) == {node}
            assert not [t for t in graph if t.predicate in (DCAT.accessService, DCAT.servesDataset)]


def _csw_record(client, uri: str) -> str:
    answer = client.get(f"/csw?service=CSW&version=2.0.2&request=GetRecordById&id={quote(uri, safe='')}"
                        f"&outputSchema={quote(GMD, safe='')}&elementSetName=full")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


@pytest.mark.parametrize("kind", KINDS)
def test_csw_online_resources(catalogue, kind):
    platform, client, picked, _ = catalogue
    for dataset_id in (picked[kind]["file"].split("/")[2], picked[kind]["layer"], picked[kind]["api"].split("/")[3]):
        uri = platform.dataset_uri(dataset_id)
        xml = _csw_record(client, uri)
        assert "MD_Metadata" in xml and dataset_id in xml
        urls = re.findall(r"<gmd:URL>([^<]+)</gmd:URL>", xml)
        data = [u for u in urls if u.startswith(_data_paths(platform, dataset_id))]
        assert bool(data) == (kind == "unconditional"), (dataset_id, urls)
        if kind != "unconditional":
            assert urls and set(urls) == {uri}  # online resources lead to the page where one applies


@pytest.mark.parametrize("kind", KINDS)
def test_records_links(catalogue, kind):
    platform, client, picked, _ = catalogue
    for dataset_id in (picked[kind]["file"].split("/")[2], picked[kind]["layer"], picked[kind]["api"].split("/")[3]):
        record = client.get(f"/ogc/collections/catalog/items/{dataset_id}?f=json")
        assert record.status_code == 200
        hrefs = [link["href"] for link in record.get_json()["links"]]
        data = [h for h in hrefs if h.startswith(_data_paths(platform, dataset_id))]
        assert bool(data) == (kind == "unconditional"), (dataset_id, hrefs)
        assert record.get_json()["properties"]["title"] and record.get_json()["properties"]["formats"]
        if kind != "unconditional":  # one way in: the dataset page, where one applies
            base = platform.settings.base_uri
            own = {h for h in hrefs if not h.startswith((f"{base}/ogc/collections/catalog", f"{base}/ogc?"))}
            assert own == {platform.dataset_uri(dataset_id)}, hrefs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", ("zh", "en"))
def test_dataset_page(catalogue, kind, lang):
    _, client, picked, _ = catalogue
    for dataset_id in (picked[kind]["file"].split("/")[2], picked[kind]["layer"]):
        page = client.get(f"/datasets/{dataset_id}?lang={lang}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        download = {"zh": "下载", "en": "Download"}[lang]
        has_download = f" download>{download}</a>" in html
        assert has_download == (kind == "unconditional"), dataset_id
        assert ('id="apply-button"' in html) == (kind == "conditional")
        if kind == "conditional":
            assert {"zh": ">申请使用</a>", "en": ">Apply to use</a>"}[lang] in html
            assert f"/apply?datasets={dataset_id}" in html  # the application form (docs/services.md)
        assert ('id="not-open"' in html) == (kind == "closed")
        # the features only where the data is open; the extent (public metadata) may be drawn on any page
        shows_features = f"/ogc/collections/{dataset_id}/items" in html
        assert shows_features == (kind == "unconditional" and dataset_id == picked[kind]["layer"])
        assert shows_features <= ('id="map-section"' in html)
        assert "/files/" not in html.split("</head>")[0] or kind == "unconditional"  # no contentUrl in JSON-LD


def test_map_page_lists_only_open_layers(catalogue):
    _, client, picked, _ = catalogue
    html = client.get("/map").get_data(as_text=True)
    assert f'"{picked["unconditional"]["layer"]}"' in html
    for kind in RESTRICTED:
        assert f'"{picked[kind]["layer"]}"' not in html


# -- the policy itself --------------------------------------------------------------------------------------
def test_open_type_is_read_from_the_open_type_then_the_access_right():
    assert open_type_of([OPEN_TYPE.closed.value]) is OpenType.CLOSED
    assert open_type_of([], [ACCESS_RIGHT.RESTRICTED.value]) is OpenType.CONDITIONAL
    assert open_type_of([], [ACCESS_RIGHT.NON_PUBLIC.value]) is OpenType.CLOSED
    assert open_type_of([], [ACCESS_RIGHT.PUBLIC.value]) is OpenType.UNCONDITIONAL
    assert open_type_of([OPEN_TYPE.unconditional.value, OPEN_TYPE.conditional.value]) is OpenType.CONDITIONAL
    assert open_type_of([], []) is OpenType.UNDECLARED


def test_a_grant_opens_conditional_data_but_never_closed_data():
    uri = "https://data.wuhan.gov.cn/datasets/x"
    holder = Principal("someone", frozenset({uri}))
    assert may_read_data(DatasetAccess(uri, OpenType.CONDITIONAL), holder).allowed
    assert not may_read_data(DatasetAccess(uri, OpenType.CONDITIONAL), ANONYMOUS).allowed
    assert not may_read_data(DatasetAccess(uri, OpenType.CLOSED), holder).allowed
    assert may_read_data(DatasetAccess(uri, OpenType.UNCONDITIONAL), ANONYMOUS).allowed
    assert may_read_data(DatasetAccess(uri, OpenType.UNDECLARED), ANONYMOUS).allowed
    with pytest.raises(DataAccessRefused) as refused:
        require_data(DatasetAccess(uri, OpenType.CONDITIONAL))
    assert refused.value.status == 403 and refused.value.code == "data-conditionally-open"


def test_public_view_of_a_harvested_restricted_dataset():
    """A dataset that states only dct:accessRights RESTRICTED, with an external download URL, loses the link."""
    uri = "https://data.wuhan.gov.cn/datasets/ext.1"
    d, dist = ox.NamedNode(uri), ox.NamedNode(uri + "#csv")
    graph = [ox.Triple(d, DCT.accessRights, ACCESS_RIGHT.RESTRICTED), ox.Triple(d, DCAT.distribution, dist),
             ox.Triple(dist, DCAT.downloadURL, ox.NamedNode("https://example.org/x.csv")),
             ox.Triple(dist, DCAT.accessURL, ox.NamedNode("https://example.org/x")),
             ox.Triple(dist, DCT.title, ox.Literal("CSV", language="zh-CN"))]
    assert open_type_in(uri, graph) is OpenType.CONDITIONAL
    view = public_view(uri, graph)
    assert ox.Triple(dist, DCT.title, ox.Literal("CSV", language="zh-CN")) in view
    assert [t.object for t in view if t.subject == dist and t.predicate in (DCAT.downloadURL, DCAT.accessURL)] == [d]
    assert public_view(uri, graph, Principal("holder", frozenset({uri}))) == graph
    opened = [ox.Triple(d, WODP.openType, OPEN_TYPE.unconditional), *graph[1:]]
    assert public_view(uri, opened) == opened


def _with_open_type(uri: str, triples, kind: str) -> list[ox.Triple]:
    right = {"unconditional": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}[kind]
    node = ox.NamedNode(uri)
    kept = [t for t in triples if not (t.subject == node and t.predicate in (WODP.openType, DCT.accessRights))]
    from ontology.labels import concept_labels
    from ontology.namespaces import RDF, SKOS

    concept = OPEN_TYPE[kind]
    return kept + [ox.Triple(node, WODP.openType, concept), ox.Triple(node, DCT.accessRights, ACCESS_RIGHT[right]),
                   ox.Triple(concept, RDF.type, SKOS.Concept), ox.Triple(concept, RDF.type, DCT.RightsStatement),
                   ox.Triple(ACCESS_RIGHT[right], RDF.type, DCT.RightsStatement),
                   *(ox.Triple(concept, SKOS.prefLabel, label) for label in concept_labels().get(concept, ()))]


def test_a_change_of_open_type_closes_and_reopens_every_door(catalogue):
    """Republished as 有条件开放, an open spatial dataset leaves the OGC collections and its doors refuse; back, they open."""
    platform, client, picked, kinds = catalogue
    layer = next(info.id for info in platform.features.layers() if info.kind == "feature" and info.dataset_uri
                 and kinds.get(info.dataset_uri) == "unconditional" and info.id != picked["unconditional"]["layer"])
    uri = platform.dataset_uri(layer)
    source = list(platform.demo_dataset(layer).triples)

    def doors() -> tuple[bool, int, int, int]:
        listed = {c["id"] for c in client.get("/ogc/collections?f=json").get_json()["collections"]}
        return (layer in listed, client.get(f"/ogc/collections/{layer}/items?f=json").status_code,
                client.get(f"/layers/{layer}.geojson").status_code,
                client.get(f"/datasets/{layer}.nt").get_data(as_text=True).count("#downloadURL>"))

    before = doors()
    assert before[:3] == (True, 200, 200) and before[3] > 0
    try:
        assert platform.publisher.publish({uri: _with_open_type(uri, source, "conditional")}, "demo").published
        assert doors() == (False, 403, 403, 0)
        assert platform.features.layer(layer) is not None  # the layer is kept for the grants to come
    finally:
        assert platform.publisher.publish({uri: _with_open_type(uri, source, "unconditional")}, "demo").published
    assert doors() == before


@pytest.mark.parametrize("kind", RESTRICTED)
def test_what_dcat_serves_of_restricted_data_still_passes_the_gate(catalogue, kind):
    """The served graph of a restricted dataset (no download URLs) has no violation of the shapes it was published under."""
    platform, client, picked, _ = catalogue
    for dataset_id in (picked[kind]["file"].split("/")[2], picked[kind]["layer"]):
        served = [q.triple for q in ox.parse(client.get(f"/datasets/{dataset_id}.nt").data, ox.RdfFormat.N_TRIPLES)]
        stored = platform.store.dataset_triples(platform.dataset_uri(dataset_id))
        assert served != stored
        report = platform.validator.validate(served)
        assert report.conforms, [f.message for f in report.findings if f.severity == VIOLATION][:5]
