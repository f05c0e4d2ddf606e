"""Data files read into DuckDB, and each data-quality check proven on a file made to have exactly its defect."""

from __future__ import annotations

import io
import json

import pytest

from config.settings import InputLimits
from tabular.checks import FILE_CHECKS, Distribution, Link, broken_links_run, not_machine_readable_run
from tabular.decode import EncodingError
from tabular.read import connect, load, read_table
from tabular.run import check_file
from tabular.series import split_series

LIMITS = InputLimits()
CLEAN = ("区划代码,名称,人口（万人）,面积（平方公里）,统计日期\n"
         "420102,江岸区,96.5,80.28,2023-12-31\n"
         "420103,江汉区,72.1,28.29,2023-12-31\n"
         "420104,硚口区,66.8,40.06,2023-12-31\n"
         "420105,汉阳区,84.2,111.54,2023-12-31\n")


def found(text: str | bytes, name: str = "t.csv", **kwargs) -> dict[str, list]:
    """Check a file; return check name → its findings, for every check that found something."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    result = check_file(raw, name, "ds-1", "http://example.org/ds-1/dist", LIMITS, **kwargs)
    ran = {r.check for r in result.runs}
    assert ran == set(FILE_CHECKS) | {"unreadable-file"} or ran == {"unreadable-file"}  # all, or none could run
    return {r.check: list(r.findings) for r in result.runs if r.findings}


def test_a_clean_file_raises_nothing():
    assert found(CLEAN) == {}


def test_empty_rows_only():
    text = CLEAN.replace("420104,", ",,,,\n420104,", 1) + "\n"  # a row of empty fields, and a blank line
    out = found(text)
    assert list(out) == ["empty-rows"]
    [finding] = out["empty-rows"]
    assert finding.detail["count"] == 2 and finding.detail["rows"] == [4, 7]  # the lines of the empty rows
    assert finding.severity == "warning" and "2 行为空行" in finding.message_zh and "row 4, 7" in finding.message_en
    assert finding.dataset_id == "ds-1" and finding.distribution == "http://example.org/ds-1/dist"


def test_empty_columns_only():
    lines = CLEAN.splitlines()
    text = "\n".join([lines[0] + ",备注"] + [line + "," for line in lines[1:]]) + "\n"
    out = found(text)
    assert list(out) == ["empty-columns"]
    assert out["empty-columns"][0].detail["columns"] == ["备注"]


def test_share_of_empty_cells_past_the_threshold_only():
    text = ("名称,电话,地址\n江岸区政务中心,,\n江汉区政务中心,,\n硚口区政务中心,82760000,中山大道1号\n"
            "汉阳区政务中心,,沌阳大道1号\n")  # 5 of 12 cells empty, no column and no row empty
    out = found(text, max_empty_share=0.4)
    assert list(out) == ["empty-cells"]
    detail = out["empty-cells"][0].detail
    assert (detail["count"], detail["cells"], detail["share"]) == (5, 12, round(5 / 12, 4))
    assert detail["columns"] == {"电话": 3, "地址": 2}
    assert found(text, max_empty_share=0.5) == {}  # under the threshold: quiet


def test_duplicate_rows_only():
    lines = CLEAN.splitlines()
    text = "\n".join(lines + [lines[2], lines[2]]) + "\n"
    out = found(text)
    assert list(out) == ["duplicate-rows"]
    detail = out["duplicate-rows"][0].detail
    assert detail["count"] == 2 and detail["groups"] == 1 and detail["rows"] == [[3, 6, 7]]


def test_numbers_and_text_in_one_column_only():
    text = CLEAN.replace("66.8", "暂无")
    out = found(text)
    assert list(out) == ["mixed-types"]
    detail = out["mixed-types"][0].detail
    assert detail["columns"] == {"人口（万人）": {"decimal": 3, "text": 1}}
    assert detail["first_rows"]["人口（万人）"]["text"] == 4


def test_dates_in_several_formats_only():
    text = CLEAN.replace("420103,江汉区,72.1,28.29,2023-12-31", "420103,江汉区,72.1,28.29,2023/12/31") \
        .replace("420105,汉阳区,84.2,111.54,2023-12-31", "420105,汉阳区,84.2,111.54,2023年12月31日")
    out = found(text)
    assert list(out) == ["mixed-types"]
    assert out["mixed-types"][0].detail["columns"] == {
        "统计日期": {"date:YYYY-MM-DD": 2, "date:YYYY/M/D": 1, "date:YYYY年M月D日": 1}}


def test_codes_with_and_without_leading_zeros_are_not_mixed_and_stay_text():
    text = "编号,名称\n0101,甲\n0102,乙\n1203,丙\n"
    assert found(text) == {}
    table = read_table(text.encode(), "codes.csv", LIMITS)
    con = load(table)
    assert con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'data'"
                       ).fetchall() == [("_row", "BIGINT"), ("编号", "VARCHAR"), ("名称", "VARCHAR")]
    assert [r[0] for r in con.execute('SELECT "编号" FROM data ORDER BY _row').fetchall()] == ["0101", "0102", "1203"]


def test_typed_columns_keep_every_value():
    table = read_table(CLEAN.encode(), "clean.csv", LIMITS)
    con = load(table)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'data'").fetchall())
    assert types == {"_row": "BIGINT", "区划代码": "BIGINT", "名称": "VARCHAR", "人口（万人）": "DECIMAL(38,1)",
                     "面积（平方公里）": "DECIMAL(38,2)", "统计日期": "DATE"}
    rows = con.execute('SELECT _row, "区划代码", CAST("面积（平方公里）" AS VARCHAR), CAST("统计日期" AS VARCHAR) '
                       "FROM data ORDER BY _row").fetchall()
    assert rows[0] == (2, 420102, "80.28", "2023-12-31") and rows[3] == (5, 420105, "111.54", "2023-12-31")
    # a column of codes with one leading zero stays text: no value loses its zero
    zero = read_table(CLEAN.replace("420104", "0420104").encode(), "zero.csv", LIMITS)
    assert [c.type for c in zero.columns][0] == "VARCHAR"
    assert load(zero).execute('SELECT "区划代码" FROM data WHERE _row = 4').fetchone()[0] == "0420104"


@pytest.mark.parametrize("encoding,expected", [("gbk", "GBK"), ("gb18030", "GBK"), ("utf-8", "UTF-8"),
                                                ("utf-8-sig", "UTF-8 with BOM")])
def test_chinese_encodings_are_read_and_named(encoding, expected):
    table = read_table(CLEAN.encode(encoding), "enc.csv", LIMITS)
    assert table.encoding == expected and f"read as {expected}" in table.notes
    assert [c.name for c in table.columns][:2] == ["区划代码", "名称"]  # no byte-order mark in the first name
    assert load(table).execute('SELECT "名称" FROM data ORDER BY _row').fetchall()[2] == ("硚口区",)


def test_gb18030_beyond_gbk():
    text = CLEAN.replace("硚口区", "硚口区𠮷")  # U+20BB7: four bytes in GB18030, not in GBK
    raw = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gbk")
    table = read_table(raw, "ext.csv", LIMITS)
    assert table.encoding == "GB18030"
    assert load(table).execute('SELECT "名称" FROM data WHERE _row = 4').fetchone()[0] == "硚口区𠮷"


def test_a_file_in_no_accepted_encoding_names_the_file_and_the_byte():
    raw = "名称,值\n江岸区,1\n".encode("utf-8") + b"\xff\xfe,2\n"
    offset = raw.index(b"\xff")
    with pytest.raises(EncodingError) as caught:
        read_table(raw, "bad.csv", LIMITS)
    assert caught.value.offset == offset
    assert caught.value.message.startswith("bad.csv: ") and f"byte {offset} (0xFF)" in caught.value.message
    # the same file checked: one finding, unreadable, with that message
    out = found(raw, "bad.csv")
    assert list(out) == ["unreadable-file"] and f"byte {offset}" in out["unreadable-file"][0].message_en


def test_a_declared_encoding_is_held_to():
    raw = CLEAN.encode("gbk")
    with pytest.raises(EncodingError) as caught:
        read_table(raw, "declared.csv", LIMITS, encoding="UTF-8")
    assert "declared UTF-8 but byte 0" in caught.value.message
    assert read_table(raw, "declared.csv", LIMITS, encoding="gb2312").encoding == "GBK"


def test_utf16_is_refused_not_guessed():
    with pytest.raises(EncodingError) as caught:
        read_table(CLEAN.encode("utf-16"), "u16.csv", LIMITS)
    assert "UTF-16 byte-order mark" in caught.value.message and caught.value.offset == 0
    with pytest.raises(EncodingError) as caught:  # without a mark: its first NUL byte
        read_table(CLEAN.encode("utf-16-le"), "u16.csv", LIMITS)
    assert "byte 9 is a NUL byte" in caught.value.message and caught.value.offset == 9  # after 区划代码 (8 bytes), ","


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_keeps_its_own_types():
    raw = _xlsx([["编号", "名称", "人数"], ["0101", "甲", 12], ["0102", "乙", 30], ["0103", "丙", 7]])
    assert found(raw, "t.xlsx") == {}
    table = read_table(raw, "t.xlsx", LIMITS)
    assert [c.type for c in table.columns] == ["VARCHAR", "VARCHAR", "BIGINT"]
    assert load(table).execute('SELECT "编号", "人数" FROM data ORDER BY _row').fetchall()[0] == ("0101", 12)
    # a number stored as text beside numbers is a mixed column
    mixed = _xlsx([["编号", "人数"], ["A", 12], ["B", "30"], ["C", 7]])
    out = found(mixed, "m.xlsx")
    assert list(out) == ["mixed-types"] and out["mixed-types"][0].detail["columns"] == {"人数": {"integer": 2,
                                                                                             "text": 1}}


def test_json_and_geojson():
    records = [{"name": "甲", "code": "0101", "n": 1}, {"name": "乙", "code": "0102", "n": 2.5}]
    table = read_table(json.dumps(records, ensure_ascii=False).encode(), "r.json", LIMITS)
    assert [(c.name, c.type) for c in table.columns] == [("name", "VARCHAR"), ("code", "VARCHAR"),
                                                         ("n", "DECIMAL(38, 1)")]
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"站名": "汉口北"}, "geometry": {"type": "Point", "coordinates": [114.3, 30.7]}},
        {"type": "Feature", "properties": {"站名": "滠口新城"}, "geometry": {"type": "Point", "coordinates": [114.3, 30.6]}}]}
    table = read_table(json.dumps(geo, ensure_ascii=False).encode(), "g.geojson", LIMITS)
    assert table.format == "geojson" and [c.name for c in table.columns] == ["站名", "geometry"]
    con = load(table, connect())
    assert json.loads(con.execute("SELECT geometry FROM data WHERE _row = 1").fetchone()[0])["type"] == "Point"
    assert found(json.dumps(geo).encode(), "g.geojson") == {}


def test_not_machine_readable_by_format_and_by_bytes():
    pdf = check_file(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "scan.csv", "ds-1", "d1", LIMITS)
    assert pdf.sniffed == "PDF" and pdf.runs == ()  # not a table: left to the format check
    dists = [Distribution("d1", media_type="http://www.iana.org/assignments/media-types/text/csv", sniffed=pdf.sniffed),
             Distribution("d2", format="http://publications.europa.eu/resource/authority/file-type/DOCX"),
             Distribution("d3", media_type="http://www.iana.org/assignments/media-types/image/jpeg"),
             Distribution("d4", media_type="http://www.iana.org/assignments/media-types/text/csv", sniffed="csv")]
    run = not_machine_readable_run("ds-1", dists)
    assert run.value == 3
    [finding] = run.findings
    assert [(d["distribution"], d["declared"], d["bytes"]) for d in finding.detail["distributions"]] == [
        ("d1", None, "PDF"), ("d2", "DOCX", None), ("d3", "JPEG image", None)]
    assert "DOCX" in finding.message_zh and "JPEG image" in finding.message_en
    quiet = not_machine_readable_run("ds-1", [dists[3], Distribution(
        "d5", format="http://publications.europa.eu/resource/authority/file-type/XLSX")])
    assert quiet.value == 0 and quiet.findings == ()


def test_broken_links():
    run = broken_links_run("ds-1", [Link("http://a/x.csv", False, 200), Link("http://a/y.csv", True, 404, "HTTP 404")])
    assert run.value == 1 and run.findings[0].severity == "error"
    assert run.findings[0].detail == {"count": 1, "checked": 2, "links": [
        {"url": "http://a/y.csv", "status": 404, "error": "HTTP 404"}]}
    assert broken_links_run("ds-1", [Link("http://a/x.csv", False, 200)]).findings == ()
    assert broken_links_run("ds-1", []) is None  # never checked: no measurement at all


DISTRICTS = ["江岸区", "江汉区", "硚口区", "汉阳区", "武昌区", "青山区", "洪山区", "东湖新技术开发区"]


def test_split_series_true_and_false_friends():
    titles = [
        ("m1", "统计局", "2023年1月武汉市空气质量"), ("m2", "统计局", "2023年2月武汉市空气质量"),
        ("m3", "统计局", "2023年3月武汉市空气质量"),
        ("t1", "城管局", "江岸区公共厕所"), ("t2", "城管局", "江汉区公共厕所"), ("t3", "城管局", "硚口区公共厕所"),
        ("t4", "城管局", "东湖新技术开发区公共厕所"),
        # false friends: numbers that are no period, other departments, too few, different words
        ("l1", "地铁集团", "1号线站点"), ("l2", "地铁集团", "2号线站点"), ("l3", "地铁集团", "3号线站点"),
        ("s1", "教育局", "江岸区学校名录"), ("s2", "卫健委", "江汉区学校名录"), ("s3", "民政局", "硚口区学校名录"),
        ("q1", "财政局", "2023年第一季度财政收支"), ("q2", "财政局", "2023年第二季度财政收支"),
        ("y1", "统计局", "2023年武汉市统计年鉴"), ("y2", "统计局", "2023年武汉市统计公报"),
    ]
    runs = split_series(titles, DISTRICTS)
    series = {k: v.value for k, v in runs.items() if v.value}
    assert series == {"m1": 3, "m2": 3, "m3": 3, "t1": 4, "t2": 4, "t3": 4, "t4": 4}
    month = runs["m2"].findings[0]
    assert month.detail["by"] == ["month"] and month.detail["datasets"] == ["m1", "m2", "m3"]
    assert month.detail["series"] == "＊武汉市空气质量" and "按月" in month.message_zh
    assert runs["t1"].findings[0].detail["by"] == ["district"] and "按区" in runs["t1"].findings[0].message_zh
    assert split_series(titles[13:15], DISTRICTS, min_size=2)["q1"].value == 2  # quarters, when two make a series


STATIONS = ("站名,经度,纬度,线路\n汉口北,114.329481,30.711953,1号线\n滠口新城,114.33,30.69,1号线\n"
            ",,,\n"  # an empty row
            "丹水池,114.31,30.66,1号线\n滠口新城,114.33,30.69,1号线\n")  # a duplicate of row 3


def _measurements(platform, uri: str) -> dict[str, str]:
    from ontology.namespaces import DQV

    triples = platform.store.dataset_triples(uri)
    nodes = {t.object for t in triples if t.predicate == DQV.hasQualityMeasurement}
    metric = {t.subject: t.object.value.rsplit("#", 1)[-1] for t in triples
              if t.subject in nodes and t.predicate == DQV.isMeasurementOf}
    return {metric[t.subject]: t.object.value for t in triples if t.subject in nodes and t.predicate == DQV.value}


def test_checks_at_publication_feed_dqv_and_check_data_refreshes_them(tmp_path, monkeypatch, capsys):
    """A spatial dataset's file is checked when the gate reads it; `wodp check-data` reads it again."""
    from config import load_settings
    from server.data_checks import run_check_data
    from server.platform import Platform
    from sparql.loader import read_files
    from tests.test_ogc_channels import _dataset_file

    data_dir, home = tmp_path / "data", tmp_path / "home"
    data_dir.mkdir()
    csv_path = data_dir / "stations.csv"
    csv_path.write_bytes(STATIONS.encode("gbk"))
    turtle = tmp_path / "stations.ttl"
    turtle.write_bytes(_dataset_file("http://127.0.0.1:8000", "09301", csv_path.as_uri()))
    settings = load_settings({}, overrides={"spatial": {"data_dir": str(data_dir)}, "csw": {"enabled": False}},
                             home=home)
    platform = Platform.open(settings, start_workers=False)
    try:
        outcome = platform.publisher.publish(read_files([turtle]), "load")
        (uri,) = outcome.published
        dataset_id = uri.rsplit("/", 1)[-1]
        found = platform.data_checks.checks.findings_for(dataset_id)
        assert sorted(f.check for f in found) == ["duplicate-rows", "empty-rows"]
        assert {f.check: f.detail["rows"] for f in found} == {"empty-rows": [4], "duplicate-rows": [[3, 6]]}
        (read,) = platform.data_checks.checks.files(dataset_id).values()
        assert (read["sniffed"], read["encoding"], read["rows"], read["columns"]) == ("csv", "GBK", 5, 4)
        values = _measurements(platform, uri)
        assert {k: values[k] for k in ("emptyRows", "duplicateRows", "emptyColumns", "mixedTypeColumns",
                                       "nonMachineReadableDistributions", "unreadableFiles")} == {
            "emptyRows": "1", "duplicateRows": "1", "emptyColumns": "0", "mixedTypeColumns": "0",
            "nonMachineReadableDistributions": "0", "unreadableFiles": "0"}
        assert "qualityScore" in values  # the quality hook's own measurements stay beside them
        orders = platform.workorders.for_department("D017", active_only=True)  # handed to the department
        assert sorted((o.kind, o.dataset, o.status) for o in orders) == [
            ("duplicate-rows", uri, "open"), ("empty-rows", uri, "open")]
        assert any("1 行为空行" in o.detail for o in orders) and all(o.deadline for o in orders)
        csv_path.write_bytes(STATIONS.replace(",,,\n", "").replace("滠口新城,114.33,30.69,1号线\n", "", 1)
                             .encode("gbk"))
        answer = run_check_data(platform, [dataset_id, "no-such-dataset"], {"via": "test"})
        assert (answer["datasets"], answer["files"], answer["republished"], answer["not_read"]) == (1, 1, 1, 0)
        assert answer["not_found"] == ["no-such-dataset"]
        assert platform.data_checks.checks.findings_for(dataset_id) == []
        assert answer["work_orders"]["resolved"] == 2  # fixed: the department's orders close themselves
        assert platform.workorders.for_department("D017", active_only=True) == []
        last = next(platform.audit.entries(action="dataset.publish", newest_first=True))  # in the audit log
        assert (last.target, last.detail["reason"], last.detail["via"]) == (f"dataset:{dataset_id}", "check-data",
                                                                           "test")
        values = _measurements(platform, uri)
        assert (values["emptyRows"], values["duplicateRows"], values["splitSeriesSize"]) == ("0", "0", "0")
    finally:
        platform.close()


def test_the_link_monitors_results_per_dataset(tmp_path):
    from harvesters.links import LinkStatus, LinkTable
    from server.data_checks import DataChecks
    from tabular.findings import QualityChecks

    table = LinkTable(tmp_path / "harvest.sqlite")
    uri = "http://127.0.0.1:8000/datasets/ds-9"
    table.save([LinkStatus("http://a/ok.csv", 200),
                LinkStatus("http://a/gone.pdf", 404, error="HTTP 404", broken=True)],
               {uri: {"http://a/ok.csv", "http://a/gone.pdf"}})
    assert [(s.url, s.broken) for s in table.statuses(uri)] == [("http://a/gone.pdf", True), ("http://a/ok.csv", False)]

    class Settings:  # the two sections DataChecks reads
        from config.settings import DataChecksSettings as _D

        data_checks, input_limits, base_uri = _D(), LIMITS, "http://127.0.0.1:8000"

    checks = DataChecks(Settings(), QualityChecks(tmp_path / "qc.sqlite"), fetch=lambda url: b"")
    checks.link_table = table
    triples = _measured_graph(uri, checks)
    assert checks.checks.findings_for("ds-9") == []  # kept once the store has the dataset
    checks.published([uri], [], "load", None, None)
    found = checks.checks.findings_for("ds-9")
    assert [(f.check, f.detail["count"]) for f in found] == [("broken-links", 1), ("not-machine-readable", 1)]
    assert found[0].severity == "error" and "http://a/gone.pdf" in found[0].message_en
    assert triples["brokenLinks"] == "1" and triples["nonMachineReadableDistributions"] == "1"
    table.close()


def _measured_graph(uri: str, checks) -> dict[str, str]:
    """Assess a dataset with a CSV and a PDF distribution; return its data-quality measurements."""
    import pyoxigraph as ox

    from ontology.namespaces import DCAT, DQV, IANA

    d = ox.NamedNode(uri)
    triples = [ox.Triple(d, DCAT.distribution, ox.NamedNode(uri + "/csv")),
               ox.Triple(ox.NamedNode(uri + "/csv"), DCAT.mediaType, IANA["text/csv"]),
               ox.Triple(ox.NamedNode(uri + "/csv"), DCAT.downloadURL, ox.NamedNode("http://a/ok.csv")),
               ox.Triple(d, DCAT.distribution, ox.NamedNode(uri + "/pdf")),
               ox.Triple(ox.NamedNode(uri + "/pdf"), DCAT.mediaType, IANA["application/pdf"]),
               ox.Triple(ox.NamedNode(uri + "/pdf"), DCAT.downloadURL, ox.NamedNode("http://a/gone.pdf"))]
    out = checks.assess(uri, triples, None)
    nodes = {t.object for t in out if t.predicate == DQV.hasQualityMeasurement}
    metric = {t.subject: t.object.value.rsplit("#", 1)[-1] for t in out if t.predicate == DQV.isMeasurementOf}
    return {metric[t.subject]: t.object.value for t in out if t.subject in nodes and t.predicate == DQV.value}


def test_check_file_runs_in_a_sandbox_worker(tmp_path):
    """At publication the checks run in a sandbox worker: their arguments and results cross the process."""
    from core.sandbox import Limits, Sandbox

    sandbox = Sandbox(Limits(memory_mb=1500, timeout_s=60, max_tasks=1, workers=1), tmp_path / "slots",
                      preload=("tabular.run",))
    try:
        lines = CLEAN.splitlines()
        result = sandbox.run(check_file, ("\n".join(lines + [lines[1]]) + "\n").encode("gb18030"), "dup.csv", "ds-1",
                             "d1", LIMITS, what="the data checks of dup.csv", background=True)
        assert result.encoding == "GBK" and (result.rows, result.columns) == (5, 5)
        assert {r.check: r.value for r in result.runs if r.value} == {"duplicate-rows": 1}
        assert result.runs[3].findings[0].detail["rows"] == [[2, 6]]
    finally:
        sandbox.close()


def test_wodp_check_data_names_what_it_cannot_find(tmp_path, monkeypatch, capsys):
    import os

    from server.cli import main

    for name in [k for k in os.environ if k.startswith("WODP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    monkeypatch.setenv("WODP_CSW__ENABLED", "false")
    assert main(["check-data"]) == 1
    assert "name one or more datasets, or give --all" in capsys.readouterr().err
    assert main(["check-data", "no-such-dataset"]) == 1
    out = capsys.readouterr()
    assert "no dataset no-such-dataset in the catalogue" in out.err
    answer = json.loads(out.out)
    assert (answer["datasets"], answer["files"], answer["not_found"]) == (0, 0, ["no-such-dataset"])


def test_dates_times_booleans_and_year_headers_keep_their_meaning():
    from datetime import datetime

    raw = _xlsx([["时间", "读数"], [datetime(2024, 3, 1), 1], [datetime(2024, 3, 1, 8, 30), 2],
                 [datetime(2024, 3, 2), 3]])
    assert found(raw, "times.xlsx") == {}  # a date-time at midnight is no second format
    table = read_table(raw, "times.xlsx", LIMITS)
    assert table.columns[0].type == "TIMESTAMP"
    assert str(load(table).execute('SELECT "时间" FROM data WHERE _row = 3').fetchone()[0]) == "2024-03-01 08:30:00"
    flags = read_table(json.dumps([{"开放": True}, {"开放": False}]).encode(), "b.json", LIMITS)
    assert flags.columns[0].type == "BOOLEAN"
    assert load(flags).execute('SELECT "开放" FROM data ORDER BY _row').fetchall() == [(True,), (False,)]
    years = read_table("区域,2021,2022\n江岸区,1.5,2.5\n江汉区,3.0,4.5\n".encode(), "years.csv", LIMITS)
    assert [c.name for c in years.columns] == ["区域", "2021", "2022"] and years.rows == [2, 3]
    stations = read_table("汉口北,114.329481,30.711953\n滠口新城,114.33,30.69\n".encode(), "s.csv", LIMITS)
    assert [c.name for c in stations.columns] == ["列1", "列2", "列3"] and stations.rows == [1, 2]


def test_findings_kept_on_both_backends(tmp_path, database_url):
    """The part quality_checks on SQLite and on PostgreSQL: replaced per check and distribution, combined."""
    from core.database import open_database
    from tabular.checks import CheckRun, Finding
    from tabular.findings import QualityChecks, findings_for

    store = QualityChecks(open_database(database_url, "quality_checks", tmp_path / "qc.sqlite", auto_migrate=True))
    try:
        rows = Finding("ds-1", "d1", "empty-rows", "warning", {"count": 2, "rows": [3, 9]}, "2 行为空行", "2 rows")
        store.save("ds-1", [CheckRun("empty-rows", 2, (rows,), "d1"), CheckRun("empty-cells", 0.3, (), "d1")],
                   distribution="d1")
        store.save("ds-1", [CheckRun("empty-rows", 1, (), "d2"), CheckRun("empty-cells", 0.1, (), "d2")],
                   distribution="d2")
        links = Finding("ds-1", None, "broken-links", "error", {"count": 1}, "1 个链接无法访问", "1 link broken")
        store.save_many([("ds-1", [CheckRun("broken-links", 1, (links,))], None, None),
                         ("ds-2", [CheckRun("broken-links", 0)], None, None)])
        assert findings_for("ds-1", store) == [links, rows]  # errors first
        assert store.measurements("ds-1") == {"emptyRows": 3, "emptyCellShare": 0.3, "brokenLinks": 1}
        assert store.findings_of("broken-links") == [links] and store.checked("broken-links") == {"ds-1", "ds-2"}
        # a publication's batch reads only its own datasets
        assert store.findings_of("broken-links", ["ds-1"]) == [links] and store.findings_of("broken-links", ["ds-2"]) == []
        assert store.checked("broken-links", ["ds-2", "ds-9"]) == {"ds-2"} and store.checked("broken-links", []) == set()
        assert store.findings_of("empty-rows", ["ds-1", "ds-2"]) == store.findings_of("empty-rows") == [rows]
        store.save("ds-1", [CheckRun("empty-rows", 0, (), "d1")], distribution="d1")  # d1 fixed
        assert [f.check for f in store.findings_for("ds-1")] == ["broken-links"]
        assert store.measurements("ds-1")["emptyRows"] == 1
        store.note_file("ds-1", "d1", "csv", "GBK", 10, 3, ["read as GBK"])
        assert store.files("ds-1") == {"d1": {"sniffed": "csv", "encoding": "GBK", "rows": 10, "columns": 3,
                                              "notes": ["read as GBK"]}}
        # a publication's batch reads them at once (before_assess): the same as one dataset at a time
        ids = ["ds-1", "ds-2", "ds-none"]
        assert store.files_of(ids) == {d: store.files(d) for d in ids} and store.files_of(ids)["ds-none"] == {}
        runs = store.runs_of(ids)
        assert {d: store.measurements(d, stored=runs[d]) for d in ids} == {d: store.measurements(d) for d in ids}
        assert sorted(runs["ds-2"]) == [("broken-links", 0.0)] and runs["ds-none"] == []
        store.forget(["ds-1"])
        assert store.findings_for("ds-1") == [] and store.measurements("ds-1") == {} and store.files("ds-1") == {}
    finally:
        store.close()


def test_a_batch_of_check_results_equals_saving_them_one_at_a_time(tmp_path, database_url):
    """save_many deletes the rows of the whole batch, then writes the new ones: the same rows as one save after
    another, a distribution's rows replaced alone, and a dataset named twice ending as its last entry says."""
    from core.database import open_database
    from tabular.checks import CheckRun, Finding
    from tabular.findings import QualityChecks

    def broken(d, n):
        return Finding(d, None, "broken-links", "error", {"count": n}, f"{n} 个链接无法访问", f"{n} links broken")

    def empty(d, x, n):
        return Finding(d, x, "empty-rows", "warning", {"count": n}, f"{n} 行为空行", f"{n} empty rows")

    first = [(f"ds-{i}", [CheckRun("broken-links", i, (broken(f"ds-{i}", i),)),
                          CheckRun("empty-rows", 1, (empty(f"ds-{i}", "d1", 1),), "d1"),
                          CheckRun("empty-rows", 2, (empty(f"ds-{i}", "d2", 2),), "d2")], None, None) for i in range(4)]
    then = [("ds-0", [CheckRun("broken-links", 0)], ["broken-links"], None),  # fixed: its finding goes
            ("ds-1", [CheckRun("empty-rows", 0, (), "d1")], None, "d1"),  # d1 fixed, d2 stays
            ("ds-2", [CheckRun("empty-rows", 5, (empty("ds-2", None, 5),))], ["empty-rows"], None),  # all of it
            ("ds-3", [CheckRun("broken-links", 7, (broken("ds-3", 7),))], None, None),
            ("ds-3", [CheckRun("broken-links", 8, (broken("ds-3", 8),))], None, None)]  # named twice: the last
    kept = {}
    for name, batched in (("batched", True), ("one-by-one", False)):
        store = QualityChecks(open_database(database_url, "quality_checks",
                                            tmp_path / f"{name}.sqlite", auto_migrate=True))
        try:
            store.forget([f"ds-{i}" for i in range(4)])
            for batch in (first, then):
                if batched:
                    store.save_many(batch)
                else:
                    for dataset_id, runs, scope, distribution in batch:
                        store.save(dataset_id, runs, scope, distribution)
            kept[name] = {d: (store.findings_for(d), store.measurements(d)) for d in ("ds-0", "ds-1", "ds-2", "ds-3")}
        finally:
            store.close()
    assert kept["batched"] == kept["one-by-one"]
    assert kept["batched"]["ds-0"] == ([empty("ds-0", "d1", 1), empty("ds-0", "d2", 2)],
                                       {"brokenLinks": 0, "emptyRows": 3})
    assert kept["batched"]["ds-1"][0] == [broken("ds-1", 1), empty("ds-1", "d2", 2)]
    assert kept["batched"]["ds-2"][0] == [broken("ds-2", 2), empty("ds-2", None, 5)]
    assert kept["batched"]["ds-3"][0][0] == broken("ds-3", 8) and kept["batched"]["ds-3"][1]["brokenLinks"] == 8


def test_rows_are_numbered_by_the_line_they_start_on():
    text = '名称,说明\n甲,"两行\n的说明"\n,\n乙,短\n'
    table = read_table(text.encode(), "multi.csv", LIMITS)
    assert table.rows == [2, 4, 5] and table.cells[0] == ["甲", "两行\n的说明"]
    out = found(text + "乙,短\n")
    assert out["empty-rows"][0].detail["rows"] == [4] and out["duplicate-rows"][0].detail["rows"] == [[5, 6]]
