"""Bad input to the mapping engine gets a clear MappingInputError naming file, record and field."""

from __future__ import annotations

import json
import time

import pytest

from mappings import (InputTooLargeError, MappingError, MappingInputError, apply_mapping, available_mappings,
                      load_mapping, read_records)
from core.errors import BadRequestError

BASE = "https://data.wuhan.gov.cn"


def read(data: bytes, name: str, **kw):
    return read_records(data, name, "upload", **kw)


def test_errors_are_bad_requests():
    assert issubclass(MappingInputError, BadRequestError)
    assert MappingInputError("x", file="f").status == 400
    assert InputTooLargeError("x", file="f").status == 413


@pytest.mark.parametrize("data", [
    b"\xff\xfe\xfa\x81",                           # neither UTF-8 nor GB18030 (0xFF leads nothing)
    "标题\n样例".encode("utf-8")[:-1],              # UTF-8 cut inside a character, not valid GB18030 either
    b"title\ncaf\xe9",                             # Latin-1
])
def test_broken_encoding(data):
    with pytest.raises(MappingInputError, match=r"broken\.csv: .*(UTF-8|NUL)"):
        read(data, "broken.csv")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_supported_encodings(encoding):
    data = "资源名称,资源提供方\n武汉市公园名录,武汉市园林和林业局\n".encode(encoding)
    [record] = read(data, "ok.csv")
    assert record.fields == {"资源名称": "武汉市公园名录", "资源提供方": "武汉市园林和林业局"}


def test_malformed_json_names_line_and_column():
    with pytest.raises(MappingInputError, match=r"bad\.json: malformed JSON at line 2 column"):
        read(b'[{"a": 1},\n {"b": }]', "bad.json")


def test_malformed_xml():
    with pytest.raises(MappingInputError, match=r"bad\.xml: malformed XML"):
        read(b"<MD_Metadata><title>x</MD_Metadata>", "bad.xml")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_xml_entities_are_refused(data):
    with pytest.raises(MappingInputError, match=r"evil\.xml: XML with a document type declaration \(<!DOCTYPE \w+> at line \d\) is refused: it declares \d entit"):
        read(data, "evil.xml")


@pytest.mark.parametrize("data", [b"", b"   \n\t", b"\xef\xbb\xbf"[:0]])
def test_empty_file(data):
    with pytest.raises(MappingInputError, match=r"empty\.csv: the file is empty"):
        read(data, "empty.csv")


@pytest.mark.parametrize("name", ["data.pdf", "data.docx", "noext"])
def test_unknown_format(name):
    with pytest.raises(MappingInputError, match="unknown format") as info:
        read(b"%PDF-1.4 binary", name)
    assert info.value.status == 415 and name in info.value.message


def test_broken_xlsx():
    with pytest.raises(MappingInputError, match=r"bad\.xlsx: not a readable XLSX workbook"):
        read(b"PK\x03\x04 not really a zip", "bad.xlsx")


def test_hundred_megabytes_refused_quickly():
    data = b"[" + b" " * (100 * 1024 * 1024) + b"]"
    start = time.monotonic()
    with pytest.raises(InputTooLargeError, match=r"huge\.json: 104857602 bytes exceed the limit"):
        read(data, "huge.json")
    assert time.monotonic() - start < 0.5


def test_size_limit_is_a_parameter():
    with pytest.raises(InputTooLargeError):
        read(b'[{"a": "b"}]', "small.json", max_bytes=5)


def test_csv_without_header_and_without_columns():
    data = "武汉市公园名录,2022-06-27,https://example.org/1\n".encode("utf-8")
    with pytest.raises(MappingInputError, match=r"nohead\.csv#1: the first row looks like data"):
        read(data, "nohead.csv")


def test_csv_row_longer_than_header_names_record():
    with pytest.raises(MappingInputError, match=r"rows\.csv#2: 3 cells but 2 columns"):
        read("资源名称,资源提供方\na,b\nc,d,e\n".encode(), "rows.csv")


def test_json_list_with_non_objects():
    with pytest.raises(MappingInputError, match="non-objects"):
        read(b'[{"a": 1}, 2]', "mixed.json")


def test_missing_fields_are_reported_not_invented():
    records = read(json.dumps([{"资源名称": "只有名称"}], ensure_ascii=False).encode(), "thin.json")
    result = apply_mapping(records, load_mapping("china-core"), BASE)
    missing = {p.field for p in result.problems if p.kind == "missing-field"}
    assert missing == {"description", "publisher", "open_type", "update_cycle", "issued", "format", "contact"}
    [triples] = result.graphs.values()
    predicates = {t.predicate.value.rsplit("/", 1)[-1] for t in triples}
    assert "issued" not in predicates and "publisher" not in predicates


def test_unknown_values_are_reported():
    record = {"资源名称": "x", "开放类型": "看情况", "更新周期": "偶尔", "资源格式": "魔法格式", "发布日期": "某天",
              "资源提供方": "不存在的局"}
    records = read(json.dumps([record], ensure_ascii=False).encode(), "odd.json")
    result = apply_mapping(records, load_mapping("china-core"), BASE)
    kinds = {(p.field, p.kind, p.value) for p in result.problems}
    assert {("开放类型", "unknown-value", "看情况"), ("更新周期", "unknown-value", "偶尔"),
            ("资源格式", "unknown-value", "魔法格式"), ("发布日期", "bad-date", "某天"),
            ("资源提供方", "not-in-our-scheme", "不存在的局")} <= kinds


def test_unknown_mapping():
    with pytest.raises(MappingError, match="unknown mapping 'nope'"):
        load_mapping("nope")
    with pytest.raises(KeyError):          # the server catches KeyError for unknown mappings
        load_mapping("../etc/passwd")


def test_shipped_mappings_load():
    names = available_mappings()
    assert {"china-core", "ckan", "dcat-us", "iso19139", "shanghai", "zhejiang", "odweb"} <= set(names)
    for name in names:
        assert load_mapping(name).name == name


def test_a_record_with_a_list_of_files_is_one_record_and_a_titled_document_of_records_is_not():
    """A JSON object with a title field is one record only when its list items are not records themselves."""
    mapping = load_mapping("china-core")
    one = {"资源名称": "站点", "资源代码": "X-1", "资源文件": [{"文件名称": "a", "下载地址": "http://h/a.csv"},
                                                      {"文件名称": "b", "下载地址": "http://h/b.csv"}]}
    records = read_records(json.dumps(one, ensure_ascii=False).encode(), "one.json", "s", mapping=mapping)
    assert [r.fields["资源名称"] for r in records] == ["站点"]
    document = {"标题": "某市数据目录", "数据集": [{"资源名称": f"数据{n}", "资源代码": f"X-{n}"} for n in range(3)]}
    records = read_records(json.dumps(document, ensure_ascii=False).encode(), "doc.json", "s", mapping=mapping)
    assert [r.fields["资源名称"] for r in records] == ["数据0", "数据1", "数据2"]
