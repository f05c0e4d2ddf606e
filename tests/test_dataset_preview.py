"""The dataset page's preview (issue 13, point 4): the first rows of each table, sizes and row counts, the licence
by name, the update status, and a map of spatial data — checked against the demo's files read independently.

The rows come from the data API's ``server.data_api.preview`` (docs/portal.md). Here a stand-in made from the demo's
own files (demo.files) takes its place, so the page is tested whatever the data store does; one test reads the real
data API when this installation has it.
"""

from __future__ import annotations

import json
import re
import types
from datetime import date, timedelta

import chinese_calendar
import pyoxigraph as ox
import pytest
from dateutil.relativedelta import relativedelta

from config import load_settings
from demo.files import columns, render_file, rows
from demo.generator import FILE_FORMATS, FORMATS
from manage.freshness import beijing_today
from ontology.namespaces import DCAT, DCT, RDF, WODP, XSD
from server.app import create_app
from server.catalogue import load_demo
from server.platform import Platform
from tests.test_portal import HTML, Page

EU_CC_BY = "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
UNKNOWN_LICENCE = "https://licences.example.org/wuhan-open-data-1.0"
# independent of manage/freshness.py: months and days a dataset may go without an update under each cycle
PERIODS = {"realtime": relativedelta(days=1), "daily": relativedelta(days=1), "weekly": relativedelta(days=7),
           "monthly": relativedelta(months=1), "quarterly": relativedelta(months=3),
           "halfyearly": relativedelta(months=6), "yearly": relativedelta(months=12)}


def standin_preview(platform, dataset_id: str, rows_wanted: int = 5) -> list[dict]:
    """What server.data_api.preview answers, made from the demo's files: one table per CSV/XLSX/JSON file."""
    dataset = platform.demo_dataset(dataset_id)
    if dataset is None:
        return []
    out = []
    for fmt in dataset.formats:
        if fmt not in FILE_FORMATS:
            continue
        name = FORMATS[fmt][2]
        content, _ = render_file(dataset, name)
        out.append({"name": name, "title": FORMATS[fmt][3], "rows": dataset.rows, "bytes": len(content),
                    "columns": [{"name": c, "type": "VARCHAR"} for c in columns(dataset)],
                    "records": rows(dataset, 0, rows_wanted), "spatial": dataset.spatial})
    return out


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    settings = load_settings({}, overrides={"demo": {"datasets": 60, "spatial": 8}},
                             home=tmp_path_factory.mktemp("preview-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    platform.store.put_datasets({uri: triples for uri, triples in extra_datasets(settings.base_uri).items()})
    yield platform
    platform.close()


def extra_datasets(base: str) -> dict[str, list[ox.Triple]]:
    """Two datasets of no demo: one without any file, one whose file declares its size under a licence we do not
    know, with an extent and no layer."""
    out = {}
    for key in ("nofiles", "declared"):
        d = ox.NamedNode(f"{base}/datasets/test.{key}")
        out[d.value] = [ox.Triple(d, RDF.type, DCAT.Dataset), ox.Triple(d, DCT.identifier, ox.Literal(f"test.{key}")),
                        ox.Triple(d, DCT.title, ox.Literal(f"测试 {key}", language="zh-CN")),
                        ox.Triple(d, DCT.modified, ox.Literal("2026-01-05", datatype=XSD.date))]
    d = ox.NamedNode(f"{base}/datasets/test.declared")
    dist, extent = ox.NamedNode(d.value + "#dist-1"), ox.NamedNode(d.value + "#extent")
    out[d.value] += [
        ox.Triple(d, DCAT.distribution, dist), ox.Triple(dist, RDF.type, DCAT.Distribution),
        ox.Triple(dist, DCAT.downloadURL, ox.NamedNode("https://files.example.org/x/stations.csv")),
        ox.Triple(dist, DCAT.byteSize, ox.Literal("123456", datatype=XSD.nonNegativeInteger)),
        ox.Triple(dist, DCT.license, ox.NamedNode(UNKNOWN_LICENCE)),
        ox.Triple(d, WODP.updateCycle, ox.Literal("每两年")),  # a text: not a cycle that can be measured
        ox.Triple(d, DCT.spatial, extent), ox.Triple(extent, RDF.type, DCT.Location),
        ox.Triple(extent, DCAT.bbox, ox.Literal(
            "POLYGON((114.1 30.4,114.5 30.4,114.5 30.7,114.1 30.7,114.1 30.4))",
            datatype=ox.NamedNode("http://www.opengis.net/ont/geosparql#wktLiteral")))]
    return out


@pytest.fixture
def data_api(monkeypatch):
    """Put the stand-in in place of server.data_api.preview; it records the datasets asked for."""
    import server.data_api

    asked: list[str] = []

    def preview(platform, dataset_id, rows=5):
        asked.append(dataset_id)
        return standin_preview(platform, dataset_id, rows)

    monkeypatch.setattr(server.data_api, "preview", preview)
    return types.SimpleNamespace(asked=asked)


@pytest.fixture(scope="module")
def client(platform):
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app.test_client()


def get(client, dataset_id: str, lang: str = "zh") -> tuple[Page, str]:
    response = client.get(f"/datasets/{dataset_id}" + ("?lang=en" if lang == "en" else ""), headers=HTML)
    assert response.status_code == 200, dataset_id
    text = response.get_data(as_text=True)
    return Page(text), text


def value(p: Page, row_id: str) -> str:
    """Return the value cell's text of a metadata row (the row's text after its header cell)."""
    header = {"m-license": ("许可协议", "Licence"), "m-freshness": ("更新状态", "Update status")}[row_id]
    text = p.by_id[row_id]
    for word in header:
        if text.startswith(word):
            return text[len(word):]
    raise AssertionError(f"{row_id} has no header: {text!r}")


def demo(platform, predicate):
    return [ds for ds in platform.demo.datasets if predicate(ds)]


def open_with(platform, fmt: str):
    return demo(platform, lambda ds: ds.open_type == "unconditional" and fmt in ds.formats)[0]


class Cells:
    """The distribution rows of a page, by the file name of their download link: {column class: (text, title)}."""

    def __init__(self, text: str) -> None:
        from html.parser import HTMLParser

        self.rows: dict[str, dict[str, tuple[str, str]]] = {}
        cells = self.rows
        state = {"row": None, "cell": None, "text": [], "title": ""}

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "tr":
                    state["row"] = {}
                elif tag == "td" and state["row"] is not None:
                    state["cell"], state["text"], state["title"] = a.get("class", ""), [], ""
                elif tag == "a" and "download" in a and state["row"] is not None:
                    state["row"]["file"] = a["href"].rsplit("/", 1)[-1]
                elif tag == "span" and a.get("title") and state["cell"] is not None and not state["title"]:
                    state["title"] = a["title"]

            def handle_endtag(self, tag):
                if tag == "td" and state["cell"] is not None:
                    state["row"][state["cell"]] = ("".join(state["text"]).strip(), state["title"])
                    state["cell"] = None
                elif tag == "tr" and state["row"]:
                    cells[state["row"].get("file", str(len(cells)))] = state["row"]
                    state["row"] = None

            def handle_data(self, data):
                if state["cell"] is not None:
                    state["text"].append(data)

        distributions = text[text.index('id="distributions"'):]
        Parser().feed(distributions[:distributions.index("</table>")])


# -- sizes, rows, licence ------------------------------------------------------------------------
def test_each_file_shows_its_size_and_rows_and_the_licence_by_name(client, platform, data_api):
    ds = open_with(platform, "CSV")
    _, text = get(client, ds.id)
    cells = Cells(text).rows
    files = [FORMATS[f][2] for f in ds.formats if f in FILE_FORMATS]
    assert files and set(files) <= set(cells)
    for name in files:
        size = len(render_file(ds, name)[0])
        shown, title = cells[name]["d-size"]
        assert title == f"{size} 字节"
        assert shown.startswith(f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} B")
        assert "按所载文件计" in shown  # no dcat:byteSize in the demo: the size is the loaded file's
        assert cells[name]["d-rows"][0] == str(ds.rows)
    p, _ = get(client, ds.id)
    assert value(p, "m-license") == "知识共享 署名 4.0 国际（CC BY 4.0）"
    assert any(a.get("href") == EU_CC_BY and a.get("rel") == "license" for a in p.links())
    p_en, text_en = get(client, ds.id, "en")
    assert value(p_en, "m-license") == "Creative Commons Attribution 4.0 International"
    assert f"{len(render_file(ds, files[0])[0])} bytes" in text_en


def test_a_file_the_data_api_has_not_loaded_has_an_unknown_size_and_row_count(client, platform, data_api):
    ds = demo(platform, lambda d: d.open_type == "unconditional" and "GEOJSON" in d.formats)[0]
    cells = Cells(get(client, ds.id)[1]).rows
    assert cells["data.geojson"]["d-size"][0] == "未知" and cells["data.geojson"]["d-rows"][0] == "未知"


def test_a_declared_size_is_shown_and_an_unknown_licence_is_its_iri(client, data_api):
    p, text = get(client, "test.declared")
    row = Cells(text).rows["stations.csv"]
    assert row["d-size"] == ("120.6 KB", "123456 字节")
    assert row["d-rows"][0] == "未知"
    assert value(p, "m-license") == UNKNOWN_LICENCE
    assert any(a.get("href") == UNKNOWN_LICENCE for a in p.links())
    assert value(p, "m-freshness").startswith("无法判断（所声明的更新周期无法计算）")


def test_a_dataset_without_files_says_so(client, data_api):
    p, _ = get(client, "test.nofiles")
    assert "暂无可下载的数据资源" in p.by_id["distributions"]
    assert "m-license" not in p.by_id
    assert p.by_id["preview-none"] == "该数据集没有可预览的表格文件。"
    assert value(p, "m-freshness") == "无法判断（未声明更新周期）"


# -- the first rows ------------------------------------------------------------------------------
def test_the_first_rows_of_each_table_are_those_of_the_file(client, platform, data_api):
    ds = open_with(platform, "CSV")
    p, text = get(client, ds.id)
    assert data_api.asked == [ds.id]
    tables = [FORMATS[f][2] for f in ds.formats if f in FILE_FORMATS]
    for n, name in enumerate(tables, 1):
        block = text[text.index(f'id="preview-{n}"'):]
        block = block[:block.index("</table>")]
        assert f'data-table="{name}"' in block
        heads = Page(block[block.index("<thead>"):block.index("</thead>")])
        assert [t for t, _ in heads.tags if t == "th"] == ["th"] * len(columns(ds))
        for column in columns(ds):
            assert f'<th scope="col">{column}<span' in block
        first = rows(ds, 0, 5)
        body = block[block.index("<tbody>"):]
        assert body.count("<tr>") == len(first)
        for record in first:
            for value in record.values():
                assert f">{'' if value is None else value}</td>" in body
        assert f"前 {len(first)} 行，共 {ds.rows} 行" in p.by_id[f"preview-{n}"]
        assert 'class="table-scroll preview-scroll" role="region" tabindex="0"' in block


def test_restricted_data_is_not_previewed(client, platform, data_api):
    ds = demo(platform, lambda d: d.open_type == "conditional" and "CSV" in d.formats)[0]
    p, _ = get(client, ds.id)
    assert data_api.asked == [] and "preview" not in p.by_id
    assert "apply" in p.by_id


def test_the_page_answers_when_the_preview_fails(client, platform, monkeypatch, caplog):
    import server.data_api

    def broken(platform, dataset_id, rows=5):
        raise RuntimeError("the data store is down")

    monkeypatch.setattr(server.data_api, "preview", broken)
    ds = open_with(platform, "CSV")
    p, text = get(client, ds.id)
    assert p.by_id["preview-unavailable"].startswith("数据预览暂不可用")
    assert Cells(text).rows["data.csv"]["d-rows"][0] == "未知"
    assert "the data store is down" in caplog.text and "the data store is down" not in text


def test_the_real_data_api_agrees_with_the_files(client, platform):
    # a page never waits for a load (server.data_api.preview): the loader, in the background since the demo
    # was published, must have loaded the tables first (under a busy full run it sometimes had not: "未知")
    assert platform.data_loader.wait(300), "the data loader did not finish"
    ds = open_with(platform, "CSV")
    cells = Cells(get(client, ds.id)[1]).rows
    assert cells["data.csv"]["d-rows"][0] == str(ds.rows)
    assert cells["data.csv"]["d-size"][1] == f"{len(render_file(ds, 'data.csv')[0])} 字节"


# -- the update status ---------------------------------------------------------------------------
def expected_status(cycle: str, modified: date, today: date) -> tuple[str, date | None, int | None]:
    """The rule, written again: the due day is the last update plus the cycle, moved to the next working day of
    the official calendar; late once that day has passed."""
    if cycle not in PERIODS:
        return "no-deadline", None, None
    due = modified + PERIODS[cycle]
    if due >= today:
        return "on-time", None, None  # moving the due day only puts it later
    while not chinese_calendar.is_workday(due):
        due += timedelta(days=1)
    return ("on-time", due, None) if due >= today else ("late", due, (today - due).days)


def test_the_update_status_follows_the_declared_cycle(client, platform, data_api):
    today = beijing_today()
    seen = set()
    for ds in platform.demo.datasets:
        cycle = next(t.object.value.rsplit("/", 1)[-1] for t in ds.triples if t.predicate == WODP.updateCycle)
        modified = date.fromisoformat(next(t.object.value for t in ds.triples
                                           if t.predicate == DCT.modified and t.subject.value == ds.uri)[:10])
        status, due, days = expected_status(cycle, modified, today)
        seen.add(status)
        text = value(get(client, ds.id)[0], "m-freshness")
        if status == "late":
            assert text == f"逾期 {days} 天（应于 {due.isoformat()} 前更新）", (ds.id, cycle, modified)
        elif status == "on-time":
            assert text.startswith("按时（应于 "), (ds.id, cycle, modified)
            shown = date.fromisoformat(text[len("按时（应于 "):][:10])
            assert shown >= modified + PERIODS[cycle] and (due is None or shown == due)
        else:
            assert text == "无法判断（该更新周期没有更新期限）", (ds.id, cycle)
    assert {"late", "on-time"} <= seen, seen


def test_the_update_status_in_english(client, platform, data_api):
    ds = platform.demo.datasets[0]
    text = value(get(client, ds.id, "en")[0], "m-freshness")
    assert text.startswith(("On time (next update due by ", "Cannot tell (")) or " days late (the update was due by " \
        in text


# -- the map -------------------------------------------------------------------------------------
def map_config(p: Page) -> dict:
    return json.loads(next(body for attrs, body in p.scripts if attrs.get("id") == "map-config"))


def stored_bbox(platform, uri: str) -> list[float]:
    """Read the published dataset's dcat:bbox (GeoDCAT-AP WKT; EPSG:4490 puts latitude first) as w, s, e, n."""
    wkt = next(t.object.value for t in platform.store.dataset_triples(uri) if t.predicate == DCAT.bbox)
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", wkt.split("POLYGON", 1)[1])]
    first, second = numbers[0::2], numbers[1::2]
    lons, lats = (second, first) if "EPSG/0/4490" in wkt else (first, second)
    return [min(lons), min(lats), max(lons), max(lats)]


def test_a_spatial_dataset_shows_its_features_and_extent(client, platform, data_api):
    ds = demo(platform, lambda d: d.spatial and d.open_type == "unconditional")[0]
    p, text = get(client, ds.id)
    config = map_config(p)
    assert config["extent"] == pytest.approx(stored_bbox(platform, ds.uri))
    assert [layer["id"] for layer in config["layers"]] == [ds.id]
    assert f'data-extent="{",".join(str(v) for v in config["extent"])}"' in text
    assert "/static/map.js" in text and "cdn" not in text.lower()


def test_a_dataset_with_an_extent_and_no_layer_shows_the_extent(client, data_api):
    p, text = get(client, "test.declared")
    config = map_config(p)
    assert config["layers"] == [] and config["extent"] == pytest.approx([114.1, 30.4, 114.5, 30.7])
    assert config["view"] == config["extent"] and config["words"]["map_extent"] == "数据范围（外包框）"


def test_a_dataset_without_extent_or_layer_has_no_map(client, data_api):
    p, text = get(client, "test.nofiles")
    assert "map" not in p.by_id and "leaflet" not in text
