"""The demo catalogue against the official shapes the EU validator loads (DCAT-AP 3.0.1 split/) and GeoDCAT-AP 2.0.0.

Deviations from the official files, each with its reason:
- split/mdr-vocabularies.shape.ttl is not applied: it requires EU publisher, place and theme lists that a Wuhan
  catalogue cannot use (DESIGN.md).
- the official files are used as they are, without owl:imports: GeoDCAT-AP 2.0.0 imports DCAT-AP 2.0.1 shapes
  and INSPIRE code lists by URL, unreachable here; its own shapes are applied.
- split/shapes.ttl says ``sh:shape`` (not a SHACL term) on CatalogRecord's dct:modified: that check is inert in
  every SHACL engine; we have no catalogue records, so it changes nothing here.
"""

from __future__ import annotations

import collections

import pyoxigraph as ox
import pytest

from ontology.namespaces import DCT
from shapes.validate import validate_with_shapes
from tests.conftest import shared_path

BASE = "http://127.0.0.1:8000"
SH = "http://www.w3.org/ns/shacl#"


@pytest.fixture(scope="module")
def catalog():
    from demo.generator import build_demo_catalog

    return build_demo_catalog(BASE)


@pytest.fixture(scope="module")
def dataset_triples(catalog) -> list[ox.Triple]:
    return [t for d in catalog.datasets for t in d.triples]


@pytest.fixture(scope="module")
def catalogue_description(tmp_path_factory) -> list[ox.Triple]:
    from config import load_settings
    from server.catalogue import catalogue_triples

    settings = load_settings({}, overrides={"site": {"base_uri": BASE}}, home=tmp_path_factory.mktemp("home"))
    return catalogue_triples(settings)


def official(*names: str):
    return [shared_path("standards", "dcat-ap", "3.0.1", "split", name) for name in names]


def describe(report) -> list[str]:
    return [f"{f.focus} {f.path} {f.constraint.rsplit('#', 1)[-1]} {f.value or ''}" for f in report.findings
            if f.severity == "Violation"][:20]


def test_every_demo_dataset_passes_official_dcat_ap_3_shapes_and_ranges(dataset_triples) -> None:
    report = validate_with_shapes(dataset_triples, official("shapes.ttl", "range.ttl"))
    assert report.count("Violation") == 0, describe(report)


def test_catalogue_description_passes_official_dcat_ap_3_shapes_and_ranges(dataset_triples,
                                                                          catalogue_description) -> None:
    """The /catalog description with its datasets (server.catalogue.catalogue_triples)."""
    report = validate_with_shapes(dataset_triples + catalogue_description, official("shapes.ttl", "range.ttl"))
    assert report.count("Violation") == 0, describe(report)


def test_recommended_warnings_are_counted_and_explained(dataset_triples, catalogue_description) -> None:
    report = validate_with_shapes(dataset_triples + catalogue_description, official("shapes_recommended.ttl"))
    assert report.count("Violation") == 0
    by_reason = collections.Counter(
        (f.path.rsplit("/", 1)[-1].replace("dcat#", "dcat:"),
         "dataset" if "/datasets/" in f.focus else "department" if "/department/" in f.focus else f.focus)
        for f in report.findings)
    # What remains, each kind with why a real Wuhan catalogue cannot fill it (docs/interop.md):
    assert by_reason == {
        # dct:spatial declares a spatial dataset here (an extent with a CRS, a layer, a Records/CSW geometry):
        # only the 200 spatial datasets have one; the area a table is about is not an extent of its data
        ("spatial", "dataset"): 1500,
        # the site's first publication date and the licence of the catalogue's metadata are deployment facts
        # that no setting gives yet
        ("issued", f"{BASE}/catalog"): 1, ("license", f"{BASE}/catalog"): 1,
        # the SPARQL service: no contact point of its own (no setting), no theme (it serves every theme), and
        # it serves every dataset (1,700 dcat:servesDataset kept in step with each publish are not written)
        **{(p, f"{BASE}/sparql"): 1 for p in ("dcat:contactPoint", "dcat:theme", "dcat:servesDataset")},
    }
    assert report.count("Warning") == 1505  # 3,310 before the demo carried temporal coverage, types, ...


def test_a_dataset_without_description_fails_the_official_shapes(catalog) -> None:
    ds = catalog.datasets[0]
    triples = [t for t in ds.triples if not (t.subject.value == ds.uri and t.predicate == DCT.description)]
    report = validate_with_shapes(triples, official("shapes.ttl", "range.ttl"))
    assert not report.conforms
    assert {(f.focus, f.path, f.constraint) for f in report.findings if f.severity == "Violation"} == {
        (ds.uri, DCT.description.value, SH + "MinCountConstraintComponent")}


def test_spatial_datasets_pass_geodcat_ap_2_shapes(catalog) -> None:
    shapes = shared_path("standards", "geodcat-ap", "2.0.0", "geodcat-ap.shacl.ttl")
    spatial = [t for d in catalog.datasets if d.spatial for t in d.triples]
    assert len({d.uri for d in catalog.datasets if d.spatial}) == 200
    report = validate_with_shapes(spatial, [shapes])
    assert report.findings == (), describe(report)
