"""The data API (/api/data/{id}): every tabular file loaded with typed columns and served as the contract says.

The expected rows are read from the source files independently (csv, openpyxl, json of the standard library),
never through tabular.read.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyoxigraph as ox
import pytest
from openpyxl import load_workbook

from ontology.namespaces import DCAT, DCT

WODP_OPEN_TYPE = ox.NamedNode("https://data.wuhan.gov.cn/def/wodp#openType")

OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""
TABULAR = ("data.csv", "data.xlsx", "data.json", "data.geojson")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("data-api-home")
    files = tmp_path_factory.mktemp("data-api-files")
    settings = load_settings({}, overrides={"demo": {"datasets": 60, "spatial": 8}, "rate_limits": {"enabled": False},
                                            "spatial": {"data_dir": str(files)}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    assert platform.data_loader.wait(600), "the loader did not finish"
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield app, platform, files
    platform.close()


def _files(dataset) -> list[str]:
    """The tables a demo dataset has: its files, or the rows of its data API when it has no file."""
    names = [n for n in TABULAR if n.split(".")[1].upper() in dataset.formats]
    return names or (["data.csv"] if "API" in dataset.formats else [])


def _content(dataset, name: str) -> bytes:
    from demo.files import render_api_csv, render_file

    if not any(n.split(".")[1].upper() in dataset.formats for n in TABULAR):
        return render_api_csv(dataset)
    return render_file(dataset, name)[0]


def _kinds(platform) -> dict[str, str]:
    return {row[0].value.rsplit("/", 1)[-1]: row[1].value.rsplit("/", 1)[-1]
            for row in platform.store.query(OPEN_TYPES)}


def _source_rows(content: bytes, name: str) -> tuple[list[str], list[list]]:
    """Read a demo file without our reader: header and rows of values ('' read as None)."""
    if name.endswith(".csv"):
        lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        header, body = lines[0], lines[1:]
    elif name.endswith(".xlsx"):
        sheet = load_workbook(io.BytesIO(content), read_only=True).active
        lines = [list(r) for r in sheet.iter_rows(values_only=True)]
        header, body = [str(h) for h in lines[0]], lines[1:]
    elif name.endswith(".geojson"):
        features = json.loads(content)["features"]
        header = list(features[0]["properties"])
        body = [[f["properties"].get(h) for h in header] for f in features]
    else:
        records = json.loads(content)
        header = list(records[0])
        body = [[r.get(h) for h in header] for r in records]
    return header, [[None if v in ("", None) else v for v in row] for row in body]


def _text(value) -> str | None:
    """A value as text, for comparing JSON answers with source values of any reader."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _same(value, numeric: bool):
    """A value to compare: a number of a numeric column by its value (a source's -0.0 is the number 0), the
    rest by its text."""
    if value is None:
        return None
    if numeric:
        return Decimal(repr(value) if isinstance(value, float) else str(value)) + 0
    return _text(value)


def _all_records(client, dataset_id: str, table: str) -> tuple[dict, list[dict]]:
    first = client.get(f"/api/data/{dataset_id}?table={table}&page_size=1000")
    assert first.status_code == 200, first.get_data(as_text=True)
    page = first.get_json()
    records = list(page["records"])
    for number in range(2, page["pages"] + 1):
        records += client.get(f"/api/data/{dataset_id}?table={table}&page_size=1000&page={number}").get_json()["records"]
    return page, records


def test_every_tabular_demo_file_is_served_with_the_source_values(site):
    app, platform, _ = site
    client = app.test_client()
    kinds = _kinds(platform)
    served = api_only = 0
    for dataset in platform.demo.datasets:
        names = _files(dataset)
        if not names or kinds.get(dataset.id) != "unconditional":
            continue
        listed = client.get(f"/api/data/{dataset.id}/tables").get_json()
        assert [t["name"] for t in listed["tables"]] == names and listed["not_loaded"] == []  # CSV first
        for name in names:
            header, expected = _source_rows(_content(dataset, name), name)
            table = next(t for t in listed["tables"] if t["name"] == name)
            assert table["rows"] == dataset.rows == len(expected)
            page, records = _all_records(client, dataset.id, name)
            assert page["total"] == dataset.rows and len(records) == dataset.rows
            fields = [f["name"] for f in page["fields"]]
            assert fields[:len(header)] == header
            types = {f["name"]: f["type"] for f in page["fields"]}
            numeric = [types[h] == "BIGINT" or types[h].startswith("DECIMAL") for h in header]
            got = [[_same(r[h], n) for h, n in zip(header, numeric)] for r in records]
            assert got == [[_same(v, n) for v, n in zip(row, numeric)] for row in expected], (dataset.id, name)
            for column in ("序号", "年份"):  # whole numbers typed as such, answered as JSON numbers
                if column in types:
                    assert types[column] == "BIGINT" and all(isinstance(r[column], int) for r in records)
            for column in ("数值", "监测值"):
                if column in types:
                    assert types[column].startswith("DECIMAL")
                    assert all(isinstance(r[column], float) for r in records if r[column] is not None)
            for column in ("发布日期", "发证日期", "监测日期"):
                if column in types:
                    assert types[column] == "DATE"
            if name == "data.geojson":
                assert table["spatial"]
            served += 1
        api_only += dataset.formats == ("API",)
    assert served >= 40 and api_only


def _statistics(platform, kinds, column: str):
    for dataset in platform.demo.datasets:
        if "CSV" in dataset.formats and kinds.get(dataset.id) == "unconditional" and dataset.rows >= 40:
            from demo.files import render_file

            header, rows = _source_rows(render_file(dataset, "data.csv")[0], "data.csv")
            if column in header:
                return dataset, [dict(zip(header, r)) for r in rows]
    pytest.skip(f"no open demo CSV with a column {column}")


def test_filters_sorting_and_paging_agree_with_the_source(site):
    app, platform, _ = site
    client = app.test_client()
    dataset, rows = _statistics(platform, _kinds(platform), "序号")
    numbers = sorted(int(r["序号"]) for r in rows)
    low, high = numbers[len(numbers) // 5], numbers[len(numbers) * 4 // 5]
    text_column = next(c for c in rows[0] if c not in ("序号",) and not str(rows[0][c]).replace(".", "").isdigit())
    word = rows[3][text_column][:2]
    expected = [r for r in rows if low <= int(r["序号"]) < high and word in (r[text_column] or "")]
    expected.sort(key=lambda r: -int(r["序号"]))
    base = f"/api/data/{dataset.id}?序号__gte={low}&序号__lt={high}&{text_column}__contains={word}&sort=-序号"
    answer = client.get(base + "&page_size=3&page=2&fields=序号," + text_column).get_json()
    assert answer["total"] == len(expected)
    assert [r["序号"] for r in answer["records"]] == [int(r["序号"]) for r in expected[3:6]]
    assert [f["name"] for f in answer["fields"]] == ["序号", text_column]
    assert set(answer["records"][0]) == {"序号", text_column} if answer["records"] else True
    assert answer["pages"] == max(1, -(-len(expected) // 3))
    # equality and in
    one = rows[7]
    equal = client.get(f"/api/data/{dataset.id}?序号={one['序号']}").get_json()
    assert equal["total"] == 1 and _text(equal["records"][0][text_column]) == one[text_column]
    picked = [rows[1]["序号"], rows[5]["序号"], "999999"]
    inside = client.get(f"/api/data/{dataset.id}?序号__in={','.join(picked)}&sort=序号").get_json()
    assert [r["序号"] for r in inside["records"]] == sorted(int(p) for p in picked[:2])
    # a decimal column: ranges compare numbers, not text
    for column in ("数值", "监测值", "经度"):
        if column in rows[0]:
            values = [Decimal(r[column]) for r in rows if r[column]]
            middle = sorted(values)[len(values) // 2]
            found = client.get(f"/api/data/{dataset.id}?{column}__gt={middle}&page_size=1").get_json()
            assert found["total"] == sum(v > middle for v in values)
    # CSV answers the same page
    as_csv = client.get(base + "&page_size=3&page=2&format=csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(as_csv.get_data().decode("utf-8-sig"))))
    assert [int(line[0]) for line in lines[1:]] == [int(r["序号"]) for r in expected[3:6]]
    assert as_csv.headers["X-Total-Count"] == str(len(expected))
    # links
    assert answer["links"]["prev"].endswith("page=1") and "sort=-%E5%BA%8F%E5%8F%B7" in answer["links"]["self"]


def test_spatial_tables_answer_geojson_and_others_refuse_it(site):
    app, platform, _ = site
    client = app.test_client()
    kinds = _kinds(platform)
    spatial = [d for d in platform.demo.datasets if d.spatial and kinds.get(d.id) == "unconditional"
               and "CSV" in d.formats]
    assert spatial, "the demo has no open spatial CSV"
    dataset = spatial[0]
    from demo.files import render_file

    header, rows = _source_rows(render_file(dataset, "data.csv")[0], "data.csv")
    answer = client.get(f"/api/data/{dataset.id}?table=data.csv&format=geojson&page_size=1000")
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    doc = answer.get_json()
    assert doc["numberMatched"] == len(rows)
    for feature, row in zip(doc["features"], rows[:1000]):
        record = dict(zip(header, row))
        if record["经度"] is None:
            assert feature["geometry"] is None  # carried, without a point: never dropped
        else:
            assert feature["geometry"]["coordinates"] == [float(record["经度"]), float(record["纬度"])]
    by_accept = client.get(f"/api/data/{dataset.id}?table=data.csv", headers={"Accept": "application/geo+json"})
    assert by_accept.mimetype == "application/geo+json"
    plain = next(d for d in platform.demo.datasets if not d.spatial and kinds.get(d.id) == "unconditional"
                 and "CSV" in d.formats)
    refused = client.get(f"/api/data/{plain.id}?format=geojson")
    assert refused.status_code == 400 and "GeoJSON" in refused.get_json()["detail"]


HOSTILE = [
    ("nope=1", "nope"), ("序号__like=1", "like"), ("序号=abc", "序号"), ("序号__gt=1e5", "序号"),
    ("序号__in=1,x", "序号"), ("page=0", "page"), ("page=-1", "page"), ("page=x", "page"), ("page_size=1001", "page_size"),
    ("page_size=0", "page_size"), ("sort=nope", "sort"), ("fields=nope", "fields"), ("fields=", "fields"),
    ("format=xml", "format"), ("table=nope.csv", "table"), ("序号=99999999999999999999999", "序号"),
    ('"; DROP TABLE x; --=1', "DROP"), ("序号__gte=1%00", "序号"), ("sort=-", "sort"), ("sort=", None),
    # one parameter twice: neither value is taken over the other (two equalities would match nothing)
    ("序号=1&序号=2", "序号__in=a,b"), ("page=1&page=2", "page is given more than once"),
    ("序号__gte=1&序号__gte=2", "序号__gte"), ("序号__gte=1&序号__lte=5", None),  # a range: two operators
]


@pytest.mark.parametrize("query,named", HOSTILE)
def test_bad_parameters_are_400_naming_what_was_wrong(site, query, named):
    app, platform, _ = site
    client = app.test_client()
    dataset, _ = _statistics(platform, _kinds(platform), "序号")
    answer = client.get(f"/api/data/{dataset.id}?{query}")
    if named is None:  # an empty sort is no sort; a range is two filters
        assert answer.status_code == 200
        return
    assert answer.status_code == 400, (query, answer.get_data(as_text=True))
    problem = answer.get_json()
    assert answer.mimetype == "application/problem+json" and named in problem["detail"]


def test_unknown_and_fileless_datasets_are_404(site):
    app, platform, _ = site
    client = app.test_client()
    assert client.get("/api/data/demo.NOPE-00000").status_code == 404
    assert client.get("/api/data/..").status_code == 404
    fileless = [d for d in platform.demo.datasets if not _files(d)]
    for dataset in fileless[:3]:
        assert client.get(f"/api/data/{dataset.id}/tables").status_code in (403, 404)


def test_access_follows_the_open_type_and_a_granted_key(site):
    from services.applications import beijing_day

    app, platform, _ = site
    client = app.test_client()
    kinds = _kinds(platform)
    tabular = {d.id for d in platform.demo.datasets if _files(d)}
    by_kind = {kind: sorted(i for i, k in kinds.items() if k == kind and i in tabular) for kind in
               ("unconditional", "conditional")}
    assert all(by_kind.values()), by_kind
    with_file = next(i for i in by_kind["unconditional"] if "CSV" in platform.demo_dataset(i).formats)
    by_kind["closed"] = [_closed_copy(platform, with_file, kinds)]
    assert client.get(f"/api/data/{by_kind['unconditional'][0]}").status_code == 200
    closed = by_kind["closed"][0]
    assert client.get(f"/api/data/{closed}").status_code == 403
    assert client.get(f"/api/data/{closed}/tables").status_code == 403
    assert client.get(f"/api/data/{closed}/openapi.json").status_code == 403
    conditional = by_kind["conditional"][0]
    refused = client.get(f"/api/data/{conditional}")
    assert refused.status_code == 403 and refused.get_json()["type"] == "urn:wodp:error:data-conditionally-open"
    assert client.get(f"/api/data/{conditional}/tables").status_code == 200  # its description is public
    account = platform.accounts.add("data-api-user", "public", "数据接口用户", None, None)
    _, key = platform.accounts.add_token(account.id, ("data",), "test")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(f"/api/data/{conditional}", headers=headers).status_code == 403  # not granted yet
    uri = platform.dataset_uri(conditional)
    now = datetime.now(timezone.utc)
    today = beijing_day(now)
    filed = platform.applications.apply(account.id, [(uri, platform.department_of(conditional) or "D001", None)],
                                        purpose="p", scenario="s", fields="f", period_from=today,
                                        period_to=today + timedelta(days=5), committed=True, now=now)
    platform.applications.decide_department(filed.id, platform.department_of(conditional) or "D001", "p", True,
                                            now=now)
    platform.applications.decide_bureau(filed.id, "r", True, now=now)
    granted = client.get(f"/api/data/{conditional}?page_size=2", headers=headers)
    assert granted.status_code == 200 and len(granted.get_json()["records"]) == 2
    assert client.get(f"/api/data/{conditional}?api_key={key}").status_code == 200
    assert "api_key" not in (granted.get_json()["links"]["next"] or "")
    assert client.get(f"/api/data/{conditional}").status_code == 403
    assert client.get(f"/api/data/{closed}", headers=headers).status_code == 403
    # the preview shows rows of open data only
    from server.data_api import preview

    assert preview(platform, conditional)[0]["records"] == []
    shown = preview(platform, by_kind["unconditional"][0], rows=3)
    assert shown and len(shown[0]["records"]) == 3 and shown[0]["rows"] >= 3


def _clone(platform, source_id: str, new_id: str, urls: list[str]) -> dict:
    """A demo dataset's graph under another identifier, its downloads replaced by ``urls``."""
    old, new = platform.dataset_uri(source_id), platform.dataset_uri(new_id)

    def swap(term):
        if isinstance(term, ox.NamedNode) and term.value.startswith(old):
            return ox.NamedNode(new + term.value[len(old):])
        return term

    triples, downloads = [], iter(urls)
    for t in platform.store.dataset_triples(old):
        if t.predicate == DCAT.downloadURL and urls:
            url = next(downloads, None)
            if url is None:
                continue
            triples.append(ox.Triple(swap(t.subject), t.predicate, ox.NamedNode(url)))
        else:
            triples.append(ox.Triple(swap(t.subject), t.predicate, swap(t.object)))
    return {new: triples}


def _closed_copy(platform, source_id: str, kinds: dict) -> str:
    """Publish a copy of an open dataset with files as 不予开放 (the demo's closed datasets have no files)."""
    closed = next(i for i, k in kinds.items() if k == "closed")
    subject = ox.NamedNode(platform.dataset_uri(closed))
    closed_triples = platform.store.dataset_triples(subject.value)
    marks = {t.predicate: t.object for t in closed_triples
             if t.subject == subject and t.predicate in (WODP_OPEN_TYPE, DCT.accessRights)}
    new_id = "demo.T998-00001"
    graphs = _clone(platform, source_id, new_id, [])
    (uri, triples), = graphs.items()
    old = {t.object for t in triples if t.subject.value == uri and t.predicate in marks}
    kept = [t for t in triples if not (t.subject.value == uri and t.predicate in marks) and t.subject not in old]
    kept += [ox.Triple(ox.NamedNode(uri), p, o) for p, o in marks.items()]
    kept += [t for t in closed_triples if t.subject in set(marks.values())]
    outcome = platform.publisher.publish({uri: kept}, "demo")
    assert len(outcome.published) == 1, [f.message_en for r in outcome.held.values() for f in r.findings]
    assert platform.data_loader.wait(120)
    assert platform.datastore.manifest(new_id).tables  # loaded: refused by its open type, not for want of a table
    return new_id


def test_gbk_and_gb18030_files_and_an_unreadable_one_are_loaded_or_reported(site):
    app, platform, files = site
    client = app.test_client()
    kinds = _kinds(platform)
    source = next(d for d in platform.demo.datasets if kinds.get(d.id) == "unconditional" and not d.spatial
                  and d.formats[:1] == ("CSV",))
    text = "编号,名称,数量\r\n001,汉阳区𠮷字号餐馆,3\r\n002,江岸区·中山大道,12\r\n"
    (files / "gbk.csv").write_bytes(text.replace("𠮷", "").encode("gbk"))
    (files / "gb18030.csv").write_bytes(text.encode("gb18030"))
    (files / "broken.csv").write_bytes(b"%PDF-1.4 not a table")
    urls = [(files / n).as_uri() for n in ("gbk.csv", "gb18030.csv", "broken.csv")]
    graphs = _clone(platform, source.id, "demo.T999-00001", urls)
    outcome = platform.publisher.publish(graphs, "demo")
    assert len(outcome.published) == 1, outcome
    assert platform.data_loader.wait(120)
    listed = client.get("/api/data/demo.T999-00001/tables").get_json()
    names = [t["name"] for t in listed["tables"]]
    assert len(names) + len(listed["not_loaded"]) == min(3, len(urls))
    assert "gbk.csv" in names and "gb18030.csv" in names
    (broken,) = listed["not_loaded"]
    assert broken["name"] == "broken.csv" and "PDF" in broken["reason"]
    gbk = client.get("/api/data/demo.T999-00001?table=gbk.csv").get_json()
    assert [r["名称"] for r in gbk["records"]] == ["汉阳区字号餐馆", "江岸区·中山大道"]
    assert [r["编号"] for r in gbk["records"]] == ["001", "002"]  # codes stay text
    wide = client.get("/api/data/demo.T999-00001?table=gb18030.csv&数量__gt=5").get_json()
    assert wide["total"] == 1 and wide["records"][0]["名称"] == "江岸区·中山大道"
    assert client.get("/api/data/demo.T999-00001?table=gb18030.csv&名称__contains=𠮷").get_json()["total"] == 1
    # the file changes: read again at the next recheck (a harvest finding the metadata unchanged)
    (files / "gbk.csv").write_bytes("编号,名称,数量\r\n003,新洲区,7\r\n".encode("gbk"))
    platform.publisher.recheck([platform.dataset_uri("demo.T999-00001")])
    assert platform.data_loader.wait(120)
    again = client.get("/api/data/demo.T999-00001?table=gbk.csv").get_json()
    assert again["total"] == 1 and again["records"][0]["名称"] == "新洲区"
    # withdrawn: its tables go
    platform.publisher.withdraw([platform.dataset_uri("demo.T999-00001")], "demo")
    assert client.get("/api/data/demo.T999-00001").status_code in (404, 410)
    assert platform.datastore.manifest("demo.T999-00001") is None


def test_openapi_documents_validate_and_the_docs_page_shows_the_calls(site):
    from openapi_spec_validator import validate

    app, platform, _ = site
    client = app.test_client()
    kinds = _kinds(platform)
    checked = 0
    for manifest in platform.datastore.manifests():
        if not manifest.tables or kinds.get(manifest.dataset) == "closed":
            continue
        answer = client.get(f"/api/data/{manifest.dataset}/openapi.json")
        assert answer.status_code == 200
        document = json.loads(answer.get_data())
        validate(document)
        parameters = {p["name"] for p in document["paths"][f"/api/data/{manifest.dataset}"]["get"]["parameters"]}
        for name, _ in manifest.tables[0].columns:
            assert name in parameters or f"{name}__eq" in parameters
        checked += 1
    assert checked >= 30
    dataset = next(m.dataset for m in platform.datastore.manifests() if m.tables
                   and kinds.get(m.dataset) == "unconditional")
    page = client.get(f"/api/data/{dataset}/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"curl" in html and "requests.get" in html
    assert "cdn" not in html.lower() and "OpenAPI 3" in html
    # every parameter of the document is on the page, described in the page's language
    import html as html_lib

    document = client.get(f"/api/data/{dataset}/openapi.json").get_json()
    parameters = document["paths"][f"/api/data/{dataset}"]["get"]["parameters"]
    english = client.get(f"/api/data/{dataset}/docs?lang=en").get_data(as_text=True)
    for p in parameters:
        assert f"<code>{html_lib.escape(p['name'])}</code>" in html, p["name"]
        assert html_lib.escape(p["x-description-zh"]) in html and html_lib.escape(p["description"]) in english
    assert html_lib.escape(document["info"]["x-description-zh"]) in html and "Rows of the tabular" not in html
    dataset_page = client.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert f"/api/data/{dataset}/docs" in dataset_page and "requests.get" in dataset_page


def test_loaded_at_publication_with_a_report(site):
    """Every published dataset has a manifest once the loader is done; each tabular file is a table or a reason."""
    _, platform, _ = site
    manifests = {m.dataset: m for m in platform.datastore.manifests()}
    assert {d.id for d in platform.demo.datasets} <= set(manifests)
    for dataset in platform.demo.datasets:
        m = manifests[dataset.id]
        files = _files(dataset)
        assert sorted([t.name for t in m.tables] + [n.name for n in m.not_loaded]) == sorted(files)
    assert platform.data_loader.report.datasets >= len(platform.demo.datasets)


def test_schemathesis_finds_no_server_error(site):
    """Cases drawn from each kind of demo table's OpenAPI document (a spatial table, a statistics table, an
    Excel one, a 有条件开放 one) answer below 500."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings, strategies as st

    app, platform, _ = site
    client = app.test_client()
    kinds = _kinds(platform)
    chosen, seen = [], set()
    for dataset in platform.demo.datasets:
        mark = (dataset.spatial, dataset.formats[:1], kinds.get(dataset.id))
        if mark in seen or kinds.get(dataset.id) == "closed" or not _files(dataset):
            continue
        seen.add(mark)
        chosen.append(dataset.id)
    assert len(chosen) >= 3
    operations = []
    for dataset_id in chosen[:6]:
        schema = schemathesis.openapi.from_dict(client.get(f"/api/data/{dataset_id}/openapi.json").get_json())
        schema.app = app
        operations += [result.ok() for result in schema.get_all_operations()]
    strategy = st.one_of([op.as_strategy() for op in operations])
    answered = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        response = case.call()
        answered.append(response.status_code)
        assert response.status_code < 500, f"{case.formatted_path} {case.query}: {response.text[:500]}"

    run()
    assert 200 in answered and 400 in answered and len(answered) >= 100


def test_remote_files_of_a_harvested_dataset_are_fetched_and_a_missing_one_reported(site, tmp_path):
    """Distributions on another server (a harvested dataset's downloads) are fetched with the bounded fetch;
    an XLSX keeps its cell types; a file the server does not have is reported with the answer's status."""
    import http.server
    import threading
    from functools import partial

    from openpyxl import Workbook

    app, platform, _ = site
    book = Workbook()
    sheet = book.active
    sheet.append(["站点", "日期", "客流（人次）", "编码"])
    sheet.append(["汉口火车站", datetime(2026, 1, 2), 35210, "0101"])
    sheet.append(["武汉站", datetime(2026, 1, 3), 41877.5, "0102"])
    book.save(tmp_path / "flow.xlsx")
    (tmp_path / "stops.json").write_bytes(json.dumps([{"站名": "江汉路", "线路": 2}, {"站名": "光谷广场", "线路": 11}],
                                                     ensure_ascii=False).encode("gb18030"))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        kinds = _kinds(platform)
        source = next(d for d in platform.demo.datasets if kinds.get(d.id) == "unconditional" and not d.spatial
                      and len([f for f in d.formats if f != "API"]) >= 1 and "CSV" in d.formats)
        graphs = _clone(platform, source.id, "demo.T997-00001", [f"{base}/flow.xlsx"])
        (uri, triples), = graphs.items()
        dist = next(t.subject for t in triples if t.predicate == DCAT.downloadURL)
        extra = [ox.Triple(ox.NamedNode(uri), DCAT.distribution, ox.NamedNode(uri + "#remote-2")),
                 ox.Triple(ox.NamedNode(uri), DCAT.distribution, ox.NamedNode(uri + "#remote-3"))]
        for node, url in ((uri + "#remote-2", f"{base}/stops.json"), (uri + "#remote-3", f"{base}/gone.csv")):
            extra += [ox.Triple(ox.NamedNode(node), t.predicate, t.object) for t in triples
                      if t.subject == dist and t.predicate != DCAT.downloadURL]
            extra.append(ox.Triple(ox.NamedNode(node), DCAT.downloadURL, ox.NamedNode(url)))
        outcome = platform.publisher.publish({uri: triples + extra}, "demo")
        assert len(outcome.published) == 1, [f.message_en for r in outcome.held.values() for f in r.findings]
        assert platform.data_loader.wait(120)
    finally:
        server.shutdown()
    client = app.test_client()
    listed = client.get("/api/data/demo.T997-00001/tables").get_json()
    tables = {t["name"]: t for t in listed["tables"]}
    assert set(tables) == {"flow.xlsx", "stops.json"}
    assert [n["name"] for n in listed["not_loaded"]] == ["gone.csv"] and "404" in listed["not_loaded"][0]["reason"]
    types = {c["name"]: c["type"] for c in tables["flow.xlsx"]["columns"]}
    assert types["编码"] == "VARCHAR" and types["日期"] == "DATE" and types["客流（人次）"].startswith("DECIMAL")
    flow = client.get("/api/data/demo.T997-00001?table=flow.xlsx&客流（人次）__gt=40000").get_json()
    assert flow["records"] == [{"站点": "武汉站", "日期": "2026-01-03", "客流（人次）": 41877.5, "编码": "0102"}]
    stops = client.get("/api/data/demo.T997-00001?table=stops.json&sort=-线路").get_json()
    assert [r["站名"] for r in stops["records"]] == ["光谷广场", "江汉路"]
    docs = client.get("/api/data/demo.T997-00001/docs").get_data(as_text=True)
    assert "gone.csv" in docs and "404" in docs  # the page says which file is missing and why


def test_load_data_reads_every_file_again_and_names_those_not_loaded(site):
    from server.data_loading import run_load_data

    _, platform, _ = site
    first = platform.demo.datasets[:5]
    answer = run_load_data(platform, ["demo.NOPE-1"] + [d.id for d in first])
    assert answer["not_found"] == ["demo.NOPE-1"] and answer["datasets"] == 5
    assert answer["tables"] == sum(len(_files(d)) for d in first) and answer["not_loaded"] == 0
    assert answer["rows"] == sum(d.rows * len(_files(d)) for d in first)


def test_wodp_load_data_command(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(tmp_path), WODP_DEMO__DATASETS="12", WODP_DEMO__SPATIAL="2", PYTHONPATH=str(root),
               WODP_DATA_API__LOAD_AT_PUBLICATION="false", WODP_LOGGING__LEVEL="WARNING", WODP_CSW__ENABLED="false")
    subprocess.run([sys.executable, "-m", "server.cli", "demo", "--build-only"], env=env, check=True,
                   capture_output=True, timeout=300)
    done = subprocess.run([sys.executable, "-m", "server.cli", "load-data", "--all"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["datasets"] == 12 and counts["tables"] >= 8 and counts["not_loaded"] == 0
    missing = subprocess.run([sys.executable, "-m", "server.cli", "load-data", "demo.NOPE-00000"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "demo.NOPE-00000" in missing.stderr


def test_a_web_process_without_the_loader_answers_503_until_the_writer_loaded_it(site, tmp_path):
    """A reader (web process) serves loaded tables only; a dataset not loaded yet is a 503 with Retry-After."""
    from tabular.datastore import DataStore

    app, platform, _ = site
    loader, store = platform.data_loader, platform.datastore
    dataset = next(m.dataset for m in store.manifests() if m.tables and _kinds(platform).get(m.dataset)
                   == "unconditional")
    platform.data_loader = None
    platform.datastore = DataStore(tmp_path / "empty")
    try:
        answer = app.test_client().get(f"/api/data/{dataset}")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
        platform.datastore = store
        assert app.test_client().get(f"/api/data/{dataset}").status_code == 200
    finally:
        platform.data_loader, platform.datastore = loader, store


def test_a_distribution_without_a_title_is_named_by_its_file():
    """Harvested distributions often have no dct:title: the table is still found, titled by its file name."""
    from server.data_loading import sources_of

    uri, base = "https://data.example/datasets/wuhan.x-1", "https://data.example"
    node, titled = ox.NamedNode(f"{uri}#d1"), ox.NamedNode(f"{uri}#d2")
    triples = [ox.Triple(ox.NamedNode(uri), DCAT.distribution, node),
               ox.Triple(node, DCAT.downloadURL, ox.NamedNode("https://files.example/站点.csv")),
               ox.Triple(ox.NamedNode(uri), DCAT.distribution, titled),
               ox.Triple(titled, DCAT.downloadURL, ox.NamedNode("https://files.example/b.xlsx")),
               ox.Triple(titled, DCT.title, ox.Literal("站点表", language="zh"))]
    found = {(s.name, s.title, s.url) for s in sources_of(uri, triples, base)}
    assert found == {("站点.csv", "站点.csv", "https://files.example/站点.csv"),
                     ("b.xlsx", "站点表", "https://files.example/b.xlsx")}


def test_files_not_loaded_are_logged_one_by_one_then_counted_in_one_line(tmp_path, caplog):
    """A catalogue whose files cannot be fetched: 20 lines naming a file each, then one line counting the rest."""
    import logging

    from config import load_settings
    from core.errors import WodpError
    from server.data_loading import LOGGED_ONE_BY_ONE, DataLoader
    from tabular.datastore import DataStore

    settings = load_settings({}, home=tmp_path)
    base = settings.base_uri

    def graph(n: int) -> list[ox.Triple]:
        d, x = ox.NamedNode(f"{base}/datasets/t.{n}"), ox.NamedNode(f"{base}/datasets/t.{n}/csv")
        return [ox.Triple(d, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), DCAT.Dataset),
                ox.Triple(d, DCAT.distribution, x), ox.Triple(x, DCT.format, ox.NamedNode(
                    "http://publications.europa.eu/resource/authority/file-type/CSV")),
                ox.Triple(x, DCAT.downloadURL, ox.NamedNode(f"http://files.example.org/{n}.csv"))]

    class Store:
        def dataset_triples(self, uri):
            return graph(int(uri.rsplit(".", 1)[1]))

    def fetch(url: str) -> bytes:
        raise WodpError(f"{url} answered 404", status=502)

    loader = DataLoader(DataStore(tmp_path / "datastore"), settings, fetch, background=False)
    loader.store = Store()
    loader._enqueue({f"{base}/datasets/t.{n}": f"d{n}" for n in range(35)})
    with caplog.at_level(logging.WARNING, logger="server.data_loading"):
        loader.drain()
    lines = [r.getMessage() for r in caplog.records if r.name == "server.data_loading"]
    assert len(lines) == LOGGED_ONE_BY_ONE + 1, lines
    assert all("not loaded: http://files.example.org/" in line for line in lines[:-1])
    assert lines[-1].startswith("data API: 15 more files not loaded (35 in all since start-up, in 35 datasets read)")
    assert loader.report.not_loaded == 35


def test_the_files_handed_to_the_loader_stay_within_their_bounds(monkeypatch):
    """What the gate read is kept for the load within a byte budget (the oldest go first) and an age; a dataset
    removed takes its files with it. What is not kept is fetched again by the load, never lost."""
    from server import data_loading
    from server.data_loading import HandedFiles

    handed = HandedFiles(max_bytes=10, max_age_s=60)
    handed.put("d1", "a", b"1234")
    handed.put("d1", "b", b"5678")
    handed.put("d2", "a", b"90ab")  # 12 bytes: the oldest (d1, a) goes
    assert handed.size == (2, 8)
    assert handed.take("d1", "a") is None and handed.take("d1", "b") == b"5678"
    assert handed.take("d1", "b") is None  # taken once
    handed.put("d2", "c", b"x" * 11)  # larger than the whole budget: not kept
    handed.drop("d2")
    assert handed.size == (0, 0)
    handed.put("d3", "a", b"old")
    now = data_loading.time.monotonic()
    monkeypatch.setattr(data_loading.time, "monotonic", lambda: now + 61)
    assert handed.take("d3", "a") is None and handed.size == (0, 0)  # too old: the load fetches it


def test_without_loads_at_publication_only_loaded_tables_are_followed(tmp_path):
    """data_api.load_at_publication false: a dataset is loaded at its first request, from the store's digest of
    it; publications queue only the datasets whose tables were made (so a catalogue of millions queues nothing
    it would never load), and a queued one is loaded again at its next request."""
    from config import load_settings
    from server.data_loading import DataLoader
    from tabular.datastore import DataStore

    settings = load_settings({}, overrides={"data_api": {"load_at_publication": False}}, home=tmp_path)
    base = settings.base_uri
    version = {"t.1": "1", "t.2": "1"}

    def graph(dataset_id: str) -> list[ox.Triple]:
        d, x = ox.NamedNode(f"{base}/datasets/{dataset_id}"), ox.NamedNode(f"{base}/datasets/{dataset_id}/csv")
        return [ox.Triple(d, DCAT.distribution, x),
                ox.Triple(x, DCAT.downloadURL, ox.NamedNode(f"http://files.example.org/{dataset_id}.csv"))]

    class Store:
        def dataset_triples(self, uri):
            return graph(uri.rsplit("/", 1)[1])

        def digests_of(self, uris):
            return {u: "v" + version[u.rsplit("/", 1)[1]] for u in uris}

    fetched = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        name = url.rsplit("/", 1)[1].removesuffix(".csv")
        return f"名称,数值\n{name},{version[name]}\n".encode("utf-8")

    loader = DataLoader(DataStore(tmp_path / "datastore"), settings, fetch, background=False)
    loader.store = Store()
    loader._enqueue({f"{base}/datasets/t.{n}": "v1" for n in (1, 2)})  # published: neither was ever loaded
    assert loader.pending() == 0
    first = loader.ensure("t.1")
    assert first.digest == "v1" and first.tables[0].rows == 1 and len(fetched) == 1
    version["t.1"] = version["t.2"] = "2"
    changed = {f"{base}/datasets/t.{n}": "v2" for n in (1, 2)} | {f"{base}/datasets/u.{n}": "v" for n in range(200)}
    loader._enqueue(changed)  # all changed (a start-up's many: the folder read once): t.1's table follows
    assert loader.pending() == 1
    again = loader.ensure("t.1")
    assert again.digest == "v2" and len(fetched) == 2 and loader.pending() == 0
    assert loader.ensure("t.2").digest == "v2" and len(fetched) == 3
