"""Issue 9 in the mapping engine: jurisdictions, exact text, key collisions, APIs, splitting, CKAN extras."""

from __future__ import annotations

import json

import pyoxigraph as ox

from mappings import apply_mapping, load_mapping, read_records
from mappings.departments import department_names, organisation_iri
from ontology.namespaces import DCAT, DCT, FOAF, RDF, SKOS, WODP

BASE = "https://data.wuhan.gov.cn"
DEPARTMENTS = BASE + "/def/department/"


def mapped(rows: list[dict], mapping: str = "china-core", source: str = "demo", **kwargs):
    spec = load_mapping(mapping)
    data = json.dumps(rows, ensure_ascii=False).encode("utf-8")
    return apply_mapping(read_records(data, "input.json", source, mapping=spec), spec, BASE, **kwargs)


def objects(result, predicate, subject=None) -> list:
    return [t.object for triples in result.graphs.values() for t in triples
            if t.predicate == predicate and (subject is None or t.subject.value == subject)]


BUREAU = {"资源名称": "统计年鉴", "资源代码": "A1", "资源提供方": "市统计局", "资源摘要": "年鉴。"}


def test_a_wuhan_source_matches_its_departments():
    bureau = department_names()["武汉市统计局"]
    for jurisdiction in (None, "420100", "武汉市"):  # None: china-core's own (our departments' channels)
        result = mapped([BUREAU], jurisdiction=jurisdiction)
        assert [p.value for p in objects(result, DCT.publisher)] == [bureau], jurisdiction
        assert [p for p in result.problems if p.kind == "not-in-our-scheme"] == []
    # by code too
    coded = mapped([{**BUREAU, "资源提供方": bureau.rsplit("/", 1)[-1]}], jurisdiction="420100")
    assert [p.value for p in objects(coded, DCT.publisher)] == [bureau]


def test_a_bureau_of_another_city_is_its_own_organisation():
    result = mapped([BUREAU], jurisdiction="340100")
    [publisher] = objects(result, DCT.publisher)
    assert publisher.value == organisation_iri(BASE, "340100", "demo", "市统计局")
    assert publisher.value.startswith(BASE + "/def/org/340100/") and not publisher.value.startswith(DEPARTMENTS)
    assert objects(result, FOAF.name, publisher.value) == [ox.Literal("市统计局", language="zh-CN")]
    assert objects(result, WODP.jurisdiction, publisher.value) == [ox.Literal("340100")]
    assert ox.NamedNode("http://www.w3.org/ns/org#Organization") in objects(result, RDF.type, publisher.value)
    [problem] = [p for p in result.problems if p.kind == "not-in-our-scheme"]
    assert problem.value == "市统计局" and "340100" in problem.message
    # the same name in the same jurisdiction is one organisation; in another jurisdiction another one
    again = mapped([{**BUREAU, "资源代码": "A2"}], jurisdiction="340100")
    assert objects(again, DCT.publisher) == [publisher]
    assert objects(mapped([BUREAU], jurisdiction="310000"), DCT.publisher) != [publisher]


def test_an_external_source_stating_no_jurisdiction_matches_no_department_even_through_china_core():
    result = mapped([BUREAU], jurisdiction="")
    [publisher] = objects(result, DCT.publisher)
    assert publisher.value.startswith(BASE + "/def/org/source-demo/")


def test_a_portal_without_a_stated_jurisdiction_matches_no_department():
    result = mapped([{"标题": "统计年鉴", "数源单位": "市统计局", "摘要": "年鉴。"}], mapping="china-portal",
                    source="other")
    [publisher] = objects(result, DCT.publisher)
    assert publisher.value.startswith(BASE + "/def/org/source-other/")
    assert objects(result, WODP.jurisdiction) == []


def test_titles_and_descriptions_keep_full_width_punctuation():
    title, text = "武汉市公交线路（2023年），含站点", "线路名称，站点名称；（单位：个）ＷｉＦｉ"
    result = mapped([{**BUREAU, "资源名称": title, "资源摘要": text, "发布日期": "２０２３－０３－０１",
                      "联系方式": "０２７－８７６５４３２１"}])
    assert objects(result, DCT.title) == [ox.Literal(title, language="zh-CN")]
    assert objects(result, DCT.description) == [ox.Literal(text, language="zh-CN")]
    # values that are read, not carried, are read through NFKC
    assert [o.value for o in objects(result, DCT.issued)] == ["2023-03-01"]
    assert [o.value for o in objects(result, ox.NamedNode("http://www.w3.org/2006/vcard/ns#hasTelephone"))] == [
        "tel:+86-27-87654321"]


ROWS = [{"标题": f"数据集{n}", "数源单位": "市交通局", "摘要": "说明。", "详情页网址": "https://example.org/list"}
        for n in range(5)]


def test_colliding_keys_are_replaced_by_a_stable_key_and_reported():
    result = mapped(ROWS, mapping="china-portal", source="dept", jurisdiction="360000")
    assert len(result.graphs) == 5 and len(set(result.origins.values())) == 5
    assert result.key_collisions == {"https://example.org/list": 5}
    [problem] = [p for p in result.problems if p.kind == "key-collision"]
    assert "5 records share the key" in problem.message
    backwards = mapped(ROWS[::-1], mapping="china-portal", source="dept", jurisdiction="360000")
    by_title = lambda r: {o.value: t.subject.value for triples in r.graphs.values() for t in triples  # noqa: E731
                          if t.predicate == DCT.title for o in [t.object]}
    assert by_title(backwards) == by_title(result)


def test_an_api_is_a_data_service_not_a_file():
    row = {**BUREAU, "资源格式": "['xlsx', 'API服务']", "详情页网址": "https://example.org/d/1"}
    result = mapped([row], jurisdiction="420100")
    formats = [o.value.rsplit("/", 1)[-1] for o in objects(result, DCT.format)]
    assert formats == ["XLSX"]
    [service] = objects(result, DCAT.accessService)
    assert objects(result, DCAT.endpointURL, service.value) == [ox.NamedNode("https://example.org/d/1")]
    assert ox.NamedNode("http://www.w3.org/ns/dcat#DataService") in objects(result, RDF.type, service.value)
    assert objects(result, DCAT.downloadURL) == []
    assert "http://www.iana.org/assignments/media-types/application/json" not in {
        o.value for o in objects(result, DCAT.mediaType)}


def test_themes_and_open_types_split_on_separators():
    row = {**BUREAU, "资源分类": "交通运输、教育文化；工业、交通", "开放类型": "无条件开放、有条件开放"}
    result = mapped([row], jurisdiction="640100")
    themes = {o.value for o in objects(result, DCAT.theme)}
    assert {BASE + "/def/theme/T06", BASE + "/def/theme/T07"} <= themes
    own = [t for t in themes if "/def/theme-of/640100/" in t]
    assert len(own) == 1 and objects(result, SKOS.prefLabel, own[0]) == [ox.Literal("工业、交通", language="zh-CN")]
    assert result.unknown_values == {"资源分类": {"工业、交通": 1}}
    assert [o.value for o in objects(result, WODP.openType)] == [BASE + "/def/open-type/conditional"]
    assert [p.kind for p in result.problems if p.field == "开放类型"] == ["conflicting-values"]


def test_a_field_named_as_never_seen_is_placed_by_its_values_and_reported():
    rows = [{"资源名称": f"表{n}", "资源代码": f"C{n}", "所属板块": theme, "共享开放属性": "依申请开放"}
            for n, theme in enumerate(["交通运输", "教育文化", "生态环境"])]
    result = mapped(rows, jurisdiction="330100")
    assert len(objects(result, DCAT.theme)) >= 3
    assert {o.value for o in objects(result, WODP.openType)} == {BASE + "/def/open-type/conditional"}
    inferred = {p.field: p.message for p in result.problems if p.kind == "inferred-field"}
    assert set(inferred) == {"所属板块", "共享开放属性"} and "(3 records)" in inferred["所属板块"]
    assert result.unplaced_fields == {}


def test_ckan_extras_and_groups_are_read():
    package = {"id": "p1", "title": "Bus stops", "notes": "Stops.", "organization": {"title": "City"},
               "groups": [{"title": "交通运输", "display_name": "交通运输"}],
               "extras": [{"key": "开放类型", "value": "有条件开放"}, {"key": "update frequency", "value": "x"}],
               "resources": [{"format": "CSV", "url": "https://example.org/stops.csv"}]}
    spec = load_mapping("ckan")
    data = json.dumps({"result": {"results": [package]}}).encode()
    result = apply_mapping(read_records(data, "p.json", "ckan-x", mapping=spec), spec, BASE, jurisdiction="330100")
    assert [o.value for o in objects(result, WODP.openType)] == [BASE + "/def/open-type/conditional"]
    assert BASE + "/def/theme/T06" in {o.value for o in objects(result, DCAT.theme)}


def test_the_source_theme_list_maps_its_words():
    row = {"标题": "机构名录", "数源单位": "市政府办", "摘要": "名录。", "所属领域": "政府机构"}
    result = mapped([row], mapping="china-portal", source="hefei", jurisdiction="340100",
                    themes={"政府机构": "T22"})
    assert BASE + "/def/theme/T22" in {o.value for o in objects(result, DCAT.theme)}
    assert result.unknown_values == {}


def test_a_name_ending_is_not_trusted_when_it_starts_with_another_target():
    rows = [{"资源代码": "B1", "联系人名称": "张三", "资源摘要": "说明。", "数据集名称": "公交站点"}]
    result = mapped(rows, jurisdiction="420100")
    assert [o.value for o in objects(result, DCT.title)] == ["公交站点"]
    assert result.unplaced_fields == {"联系人名称": 1}


def test_a_harvest_source_is_mapped_with_an_explicit_jurisdiction():
    from mappings.departments import source_jurisdiction

    assert source_jurisdiction("340100", department_channel=False) == "340100"
    assert source_jurisdiction(None, department_channel=True) == "420100"
    # an external source stating none: even china-core (whose own default is Wuhan) matches no department
    assert source_jurisdiction(None, department_channel=False) == ""
    result = mapped([BUREAU], jurisdiction=source_jurisdiction(None, department_channel=False))
    assert not objects(result, DCT.publisher)[0].value.startswith(DEPARTMENTS)


def test_an_open_type_field_naming_no_open_type_is_carried_as_the_open_condition():
    """A text in the open-type field that names no open type is kept as given (开放条件), reported, never guessed."""
    rows = [{"标题": "校验数据", "数源单位": "省统计局", "开放条件": "用于数据校验"},
            {"标题": "级别数据", "数源单位": "省统计局", "开放条件": "1级\t不脱敏"},
            {"标题": "查询数据", "数源单位": "省统计局", "开放条件": "仅供机构/个人查询相关记录"},
            {"标题": "开放数据", "数源单位": "省统计局", "开放条件": "有条件开放"},
            {"标题": "无值数据", "数源单位": "省统计局", "开放条件": "暂无"}]
    result = mapped(rows, "zhejiang", jurisdiction="330000")
    by_title = {next(t.object.value for t in triples if t.predicate == DCT.title): uri
                for uri, triples in result.graphs.items()}
    conditions = {title: objects(result, WODP.openCondition, uri) for title, uri in by_title.items()}
    types = {title: [o.value for o in objects(result, WODP.openType, uri)] for title, uri in by_title.items()}
    assert conditions == {"校验数据": [ox.Literal("用于数据校验", language="zh-CN")],
                          "级别数据": [ox.Literal("1级\t不脱敏", language="zh-CN")],      # the tab kept
                          "查询数据": [ox.Literal("仅供机构/个人查询相关记录", language="zh-CN")],  # whole, not split
                          "开放数据": [], "无值数据": []}
    assert types == {"校验数据": [], "级别数据": [], "查询数据": [], "无值数据": [],
                     "开放数据": [BASE + "/def/open-type/conditional"]}
    assert [len(objects(result, DCT.accessRights, uri)) for uri in by_title.values()] == [0, 0, 0, 1, 0]
    assert result.unknown_values["开放条件"] == {"用于数据校验": 1, "1级\t不脱敏": 1, "仅供机构": 1,
                                                 "个人查询相关记录": 1}
    kept = [p for p in result.problems if p.kind == "unknown-value" and p.field == "开放条件"]
    assert len(kept) == 4 and all("wodp:openCondition" in p.message for p in kept)
