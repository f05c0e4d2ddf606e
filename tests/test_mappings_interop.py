"""Real CKAN, DKAN, DCAT-US and CSW (ISO 19139) responses of ../shared/data/interop through their mappings."""

from __future__ import annotations

import pytest

from conftest import shared_path
from mappings import apply_mapping, load_mapping, read_records
from ontology.namespaces import DCAT

BASE = "https://data.wuhan.gov.cn"
CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> "


def mapped(filename: str, mapping_name: str):
    path = shared_path("data", "interop", filename)
    mapping = load_mapping(mapping_name)
    records = read_records(path.read_bytes(), filename, mapping_name, mapping=mapping)
    return apply_mapping(records, mapping, BASE)


def values(result, ident: str, predicate) -> list[str]:
    return sorted(t.object.value for t in result.graphs[f"{BASE}/datasets/{ident}"] if t.predicate == predicate)


@pytest.mark.parametrize("filename,mapping,records", [
    ("ckan_package_search_data_birmingham_gov_uk.json", "ckan", 10),
    ("dkan_package_show_french_udata.json", "ckan", 1),
    ("dcat-us_pod_catalog_evian_arcgis_hub_udata.json", "dcat-us", 8),
    ("csw_getrecords_iso19139_geonetwork_fr_udata_p1.xml", "iso19139", 2),
    ("csw_getrecords_iso19139_inspire_OWSLib.xml", "iso19139", 2),
])
def test_record_counts(filename, mapping, records):
    result = mapped(filename, mapping)
    assert result.records == len(result.graphs) == records


def test_ckan_resources_become_distributions():
    result = mapped("ckan_package_search_data_birmingham_gov_uk.json", "ckan")
    assert len(values(result, "ckan.cf552d08-cee9-43bf-8c0f-3196a9311799", DCAT.distribution)) == 45


def test_dkan_extras_give_the_bounding_box():
    result = mapped("dkan_package_show_french_udata.json", "ckan")
    [box] = set(values(result, "ckan.04be6288-696d-4331-850d-a144871a7e3a", DCAT.bbox))  # WKT and GeoJSON locations
    assert box == CRS84 + ("POLYGON((1.18652344 48.80546301, 1.18652344 51.16423318, 4.65820313 51.16423318, "
                           "4.65820313 48.80546301, 1.18652344 48.80546301))")


def test_iso19139_extent_to_geodcat():
    result = mapped("csw_getrecords_iso19139_inspire_OWSLib.xml", "iso19139")
    [box] = set(values(result, "iso19139.eeae2de7-0a09-4b69-b7a0-0b6b20903fd5", DCAT.bbox))  # WKT and GeoJSON locations
    assert box.startswith(CRS84 + "POLYGON((9.53357")


def test_iso19139_swapped_box_is_reported_not_published():
    result = mapped("csw_getrecords_iso19139_geonetwork_fr_udata_p1.xml", "iso19139")
    bad = [p for p in result.problems if p.kind == "bad-value" and "bounding box" in p.message]
    assert len(bad) == 2          # west 3.28 > east 1.31 at the source
    assert all(not values(result, ident.rsplit("/", 1)[-1], DCAT.bbox) for ident in result.graphs)
