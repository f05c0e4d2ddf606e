"""The demo catalogue is deterministic, complete per docs/model.md, and its files serve what it says."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time

import pytest
from openpyxl import load_workbook
from pyoxigraph import NamedNode

from demo import vocabulary
from demo.files import columns, render_api_page, render_file
from demo.generator import DemoCatalog, build_demo_catalog
from ontology.namespaces import DCAT, DCT, RDF, VCARD, WODP
from core.identifiers import dataset_id, is_dataset_id

BASE = "http://127.0.0.1:8000"
FILES = {"CSV": "data.csv", "XLSX": "data.xlsx", "JSON": "data.json", "GEOJSON": "data.geojson"}


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return build_demo_catalog(BASE)


def values(ds, predicate, subject=None) -> list:
    subject = subject or NamedNode(ds.uri)
    return [t.object for t in ds.triples if t.subject == subject and t.predicate == predicate]


def test_build_is_deterministic_and_fast() -> None:
    start = time.perf_counter()
    first = build_demo_catalog(BASE)
    assert time.perf_counter() - start < 20
    assert first == build_demo_catalog(BASE)
    assert first != build_demo_catalog(BASE, seed=1)


def test_totals_match_the_datasets(catalog: DemoCatalog) -> None:
    ds = catalog.datasets
    assert catalog.totals["datasets"] == len(ds) == 1700
    assert catalog.totals["spatial"] == sum(d.spatial for d in ds) == 200
    assert catalog.totals["departments"] == len({d.department for d in ds}) == len(vocabulary.departments()) == 99
    assert catalog.totals["distributions"] == sum(len(d.formats) for d in ds)
    assert catalog.totals["format.GEOJSON"] == 200
    opens = [catalog.totals[f"open.{k}"] for k in ("unconditional", "conditional", "closed")]
    assert sum(opens) == 1700 and opens[0] > 0.65 * 1700 and opens[2] < 0.1 * 1700


def test_ids_titles_and_codes_are_unique(catalog: DemoCatalog) -> None:
    ids = [d.id for d in catalog.datasets]
    assert len(set(ids)) == len(ids)
    assert all(is_dataset_id(i) and "/" not in i for i in ids)
    assert len({d.title for d in catalog.datasets}) == len(ids)
    codes = [values(d, WODP.resourceCode)[0].value for d in catalog.datasets]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"420100-D\d{3}-\d{5}", c) for c in codes)


def test_every_dataset_has_the_mandatory_fields(catalog: DemoCatalog) -> None:
    for d in catalog.datasets:
        node = NamedNode(d.uri)
        assert d.uri == f"{BASE}/datasets/{d.id}"
        assert values(d, RDF.type) == [DCAT.Dataset]
        assert {t.language for t in values(d, DCT.title)} == {"zh-cn", "en"}
        assert {t.language for t in values(d, DCT.description)} == {"zh-cn", "en"}
        assert 2 <= len(values(d, DCAT.keyword)) <= 5
        assert values(d, DCT.publisher) == [NamedNode(f"https://data.wuhan.gov.cn/def/department/{d.department}")]
        contact = values(d, DCAT.contactPoint)[0]
        assert values(d, VCARD.hasEmail, contact)[0].value.endswith("@example.wuhan.gov.cn")
        assert len(values(d, DCAT.theme)) == 2
        for predicate in (WODP.openType, DCT.accessRights, WODP.updateCycle, DCT.accrualPeriodicity):
            assert len(values(d, predicate)) == 1, predicate
        issued, modified = values(d, DCT.issued)[0].value, values(d, DCT.modified)[0].value
        assert "2018-01-01" <= issued <= "2025-12-31" and issued <= modified <= "2026-10-31"
        assert int(values(d, WODP.dataVolume)[0].value) == d.rows <= 2000
        dists = values(d, DCAT.distribution)
        assert len(dists) == len(d.formats) >= 1
        assert all(values(d, DCT.format, dist) and values(d, DCAT.accessURL, dist) for dist in dists)
        assert (NamedNode(f"{BASE}/catalog"), DCAT.dataset, node) in {(t.subject, t.predicate, t.object) for t in d.triples}
        assert bool(values(d, DCT.spatial)) == d.spatial


def test_identifiers() -> None:
    assert dataset_id("demo", "D012-00034") == "demo.D012-00034"
    assert dataset_id("ckan", "a/b c") == "ckan." + hashlib.sha1("a/b c".encode()).hexdigest()[:20]
    assert dataset_id("ckan", "x" * 81) == "ckan." + hashlib.sha1(b"x" * 81).hexdigest()[:20]
    assert is_dataset_id(dataset_id("ckan", "武汉")) and not is_dataset_id("demo/x")
    with pytest.raises(ValueError):
        dataset_id("Demo", "x")


def sample(catalog: DemoCatalog) -> list:
    """Every 25th dataset plus a third of the spatial ones: all formats and kinds, in a few seconds."""
    return [d for i, d in enumerate(catalog.datasets) if i % 25 == 0 or (d.spatial and i % 3 == 0)]


def count_rows(fmt: str, content: bytes) -> int:
    if fmt == "CSV":
        assert content.startswith(b"\xef\xbb\xbf")
        return len(list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")))))
    if fmt == "XLSX":
        return sum(1 for _ in load_workbook(io.BytesIO(content), read_only=True).active.iter_rows()) - 1
    if fmt == "JSON":
        return len(json.loads(content))
    return len(json.loads(content)["features"])


def test_every_distribution_file_renders_with_data_volume_rows(catalog: DemoCatalog) -> None:
    seen = set()
    for d in sample(catalog):
        for fmt in d.formats:
            if fmt == "API":
                page = render_api_page(d, 1, 1000)
                assert page["total"] == d.rows and len(page["records"]) == min(d.rows, 1000)
                continue
            content, media = render_file(d, FILES[fmt])
            assert count_rows(fmt, content) == d.rows, (d.id, fmt)
            seen.add(fmt)
        with pytest.raises(KeyError):
            render_file(d, "data.pdf")
    assert seen == set(FILES)


def test_geojson_points_lie_inside_the_extent(catalog: DemoCatalog) -> None:
    for d in (d for d in catalog.datasets if d.spatial):
        w, s, e, n = d.bbox
        wkt = values(d, DCAT.bbox, NamedNode(f"{d.uri}#extent"))[0].value
        assert wkt.startswith("<http://www.opengis.net/def/crs/EPSG/0/4490> POLYGON((")
        assert 113.68 <= w < e <= 115.08 and 29.97 <= s < n <= 31.36
        collection = json.loads(render_file(d, "data.geojson")[0])
        located = [f for f in collection["features"] if f["geometry"] is not None]
        for feature in located:
            lon, lat = feature["geometry"]["coordinates"]
            assert w <= lon <= e and s <= lat <= n
        # like real department files, a few rows come with an address only, or with neither
        missing = [f for f in collection["features"] if f["geometry"] is None]
        assert len(missing) <= 0.1 * len(collection["features"]) + 2, d.id
        assert all(f["properties"]["详细地址"] for f in missing)


def test_api_pages_cover_all_rows_once(catalog: DemoCatalog) -> None:
    d = next(d for d in catalog.datasets if "API" in d.formats and d.rows > 50)
    pages = [render_api_page(d, p, 20) for p in range(1, render_api_page(d, 1, 20)["pages"] + 1)]
    records = [r for p in pages for r in p["records"]]
    assert len(records) == d.rows and list(records[0]) == list(columns(d))
    assert render_api_page(d, 2, 20) == pages[1]
    with pytest.raises(ValueError):
        render_api_page(d, 0, 20)


def test_files_are_deterministic(catalog: DemoCatalog) -> None:
    d = next(d for d in catalog.datasets if "XLSX" in d.formats)
    assert render_file(d, "data.xlsx") == render_file(d, "data.xlsx")
