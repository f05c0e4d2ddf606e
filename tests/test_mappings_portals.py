"""The eight real catalogues of ../shared/data/catalogs through their mapping files: counts, values, gaps."""

from __future__ import annotations

import json
from collections import Counter

import pyoxigraph as ox
import pytest

from conftest import shared_path
from mappings import apply_mapping, load_mapping, read_records
from mappings.departments import source_concept_iri
from ontology.namespaces import DCAT, DCT, RDF, WODP

BASE = "https://data.wuhan.gov.cn"
# catalogue file → (mapping, source name)
PORTALS = {
    "anhui_anhui": ("anhui", "anhui"), "anhui_hefei": ("hefei", "hefei"),
    "jiangxi_jiangxi": ("jiangxi", "jiangxi"), "ningxia_yinchuan": ("odweb", "yinchuan"),
    "shaanxi_shaanxi": ("shaanxi", "shaanxi"), "shanghai_shanghai": ("shanghai", "shanghai"),
    "xinjiang_wlmq": ("odweb", "wlmq"), "zhejiang_zhejiang": ("zhejiang", "zhejiang"),
}
# catalogue file → the jurisdiction its source states (GB/T 2260 administrative division code)
JURISDICTIONS = {"anhui_anhui": "340000", "anhui_hefei": "340100", "jiangxi_jiangxi": "360000",
                 "ningxia_yinchuan": "640100", "shaanxi_shaanxi": "610000", "shanghai_shanghai": "310000",
                 "xinjiang_wlmq": "650100", "zhejiang_zhejiang": "330000"}
# Mandatory in the Wuhan profile (issue 3): dataset property, or a distribution having dct:format.
MANDATORY = {"title": DCT.title, "description": DCT.description, "publisher": DCT.publisher,
             "open_type": WODP.openType, "update_cycle": WODP.updateCycle, "issued": DCT.issued,
             "contact": DCAT.contactPoint}


def wuhan_gaps(triples: list[ox.Triple]) -> list[str]:
    """Return the Wuhan-profile mandatory elements a dataset graph lacks, read directly off the graph."""
    dataset = next(t.subject for t in triples if t.predicate == RDF.type and t.object == DCAT.Dataset)
    present = {t.predicate for t in triples if t.subject == dataset}
    gaps = [name for name, predicate in MANDATORY.items() if predicate not in present]
    dists = {t.object for t in triples if t.subject == dataset and t.predicate == DCAT.distribution}
    if not any(t.subject in dists and t.predicate == DCT.format for t in triples):
        gaps.append("format")
    return gaps


_CACHE: dict[str, tuple] = {}


def mapped(name: str):
    """Read and map one real catalogue once per session; return (raw list, MappingResult)."""
    if name not in _CACHE:
        path = shared_path("data", "catalogs", f"{name}.json")
        mapping_name, source = PORTALS[name]
        mapping = load_mapping(mapping_name)
        data = path.read_bytes()
        records = read_records(data, path.name, source, mapping=mapping)
        _CACHE[name] = (json.loads(data), apply_mapping(records, mapping, BASE, jurisdiction=JURISDICTIONS[name]))
    return _CACHE[name]


def dataset(result, ident: str) -> dict[str, list[str]]:
    """Return one dataset graph as predicate IRI (and 'dist:' + predicate) → sorted values."""
    triples = result.graphs[f"{BASE}/datasets/{ident}"]
    uri = f"{BASE}/datasets/{ident}"
    out: dict[str, list[str]] = {}
    for t in triples:
        if t.subject.value == uri:
            key = t.predicate.value
        elif t.subject.value.startswith(uri + "#dist-"):
            key = "dist:" + t.predicate.value
        elif t.subject.value.startswith(uri + "#contact"):
            key = "contact:" + t.predicate.value
        else:
            continue
        out.setdefault(key, []).append(t.object.value)
    return {k: sorted(v) for k, v in out.items()}


# name → records in the raw file, exact duplicates, datasets, datasets passing the Wuhan mandatory elements,
# and the number of datasets lacking each mandatory element (measured on the files of ../shared).
FIGURES = {
    # 573 anhui records offer only an API ("['api']"): a data service, no file format (issue 9)
    "anhui_anhui": (700, 0, 700, 0, {"contact": 700, "format": 574, "update_cycle": 1}),
    "anhui_hefei": (321, 0, 321, 0, {"contact": 321, "format": 3, "title": 3, "update_cycle": 318}),
    "jiangxi_jiangxi": (279, 0, 279, 0, {"contact": 279, "description": 279, "format": 17,
                                         "update_cycle": 279}),
    "ningxia_yinchuan": (1005, 0, 1005, 0, {"contact": 1005, "format": 685, "update_cycle": 28}),
    "shaanxi_shaanxi": (141, 0, 141, 0, {"contact": 141, "format": 57, "open_type": 141, "update_cycle": 141}),
    "shanghai_shanghai": (4494, 2260, 2234, 1111, {"description": 47, "format": 1122}),
    "xinjiang_wlmq": (99, 0, 99, 0, {"contact": 99, "format": 78}),
    # 5 zhejiang open types (需申请, 网页开放, 无条件共享, 完全开放, 信息开放) are read by their markers (issue 9);
    # 审批同意后共享 is listed (conditional); 94 texts of 开放条件 name no open type (wodp:openCondition instead)
    "zhejiang_zhejiang": (1309, 0, 1309, 828, {"format": 14, "open_type": 473}),
}
# Where the gate's count differs from the graph's gaps: the Wuhan profile asks a format of downloadable
# distributions only (w:format); the 574 anhui records offered only as an API (format "api": a DataService, no
# file) have no file format to state and pass; 1 record offers a download without a format.
GATE = {"anhui_anhui": {"format": 1}}
# Fields of each catalogue that fit no target (all of its records have them).
UNPLACED = {"ningxia_yinchuan": {"所属行业": 1005}, "xinjiang_wlmq": {"所属行业": 99},
            "shanghai_shanghai": {"国家主题分类": 2234}, "zhejiang_zhejiang": {"行业分类": 1309}}


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_counts_duplicates_and_profile_share(name):
    raw, result = mapped(name)
    records, duplicates, datasets, passing, reasons = FIGURES[name]
    assert len(raw) == records == result.records
    assert len(result.duplicates) == duplicates
    assert len(result.graphs) == datasets
    gaps = [wuhan_gaps(t) for t in result.graphs.values()]
    assert sum(not g for g in gaps) == passing
    assert dict(Counter(x for g in gaps for x in g)) == reasons


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_unplaced_fields_are_reported(name):
    _, result = mapped(name)
    assert result.unplaced_fields == UNPLACED.get(name, {})
    reported = {p.field for p in result.problems if p.kind == "unplaced-field"}
    assert reported == set(UNPLACED.get(name, {}))


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_every_missing_mandatory_element_is_reported(name):
    _, result = mapped(name)
    missing = Counter(p.field for p in result.problems if p.kind == "missing-field")
    reasons = FIGURES[name][4]
    # Elements without a vocabulary step are absent from the graph exactly when absent at the source.
    for element in ("title", "description", "contact"):
        assert missing[element] == reasons.get(element, 0), element


def test_shanghai_exact_duplicates_collapse():
    raw, result = mapped("shanghai_shanghai")
    distinct = {json.dumps(r, ensure_ascii=False, sort_keys=True) for r in raw}
    assert len(distinct) == 2234 == len(result.graphs)
    assert result.duplicates[0] == ("shanghai_shanghai.json#360", "shanghai_shanghai.json#361")
    assert sum(p.kind == "duplicate" for p in result.problems) == 2260
    # The crawler repeated one detail URL on all 4,494 records: the key is a hash of name, provider and date;
    # two pairs of distinct records still share it and are numbered, and reported.
    assert sum(p.kind == "key-collision" for p in result.problems) == 2


EU = "http://publications.europa.eu/resource/authority/"
DEF = "https://data.wuhan.gov.cn/def/"
IANA = "http://www.iana.org/assignments/media-types/"
P = {"title": str(DCT.title.value), "issued": str(DCT.issued.value), "modified": str(DCT.modified.value),
     "open": str(WODP.openType.value), "access": str(DCT.accessRights.value), "cycle": str(WODP.updateCycle.value),
     "freq": str(DCT.accrualPeriodicity.value), "format": "dist:" + DCT.format.value,
     "media": "dist:" + DCAT.mediaType.value, "service": "dist:" + DCAT.accessService.value,
     "download": "dist:" + DCAT.downloadURL.value, "theme": DCAT.theme.value, "publisher": DCT.publisher.value,
     "tel": "contact:http://www.w3.org/2006/vcard/ns#hasTelephone",
     "mail": "contact:http://www.w3.org/2006/vcard/ns#hasEmail", "volume": WODP.dataVolume.value}

# catalogue, dataset id → expected values (predicate short name → sorted values; None: absent)
PICKED = [
    ("anhui_anhui", "anhui.00821a44dc5a451c99778ca55c74fa8b", {
        "title": ["六次全省人口普查基本情况信息"], "issued": ["2020-07-20"], "modified": ["2020-07-20"],
        "open": [DEF + "open-type/unconditional"], "access": [EU + "access-right/PUBLIC"],
        "cycle": [DEF + "update-cycle/yearly"], "freq": [EU + "frequency/ANNUAL"],
        "format": None, "media": None, "download": None, "theme": None,
        "service": [BASE + "/datasets/anhui.00821a44dc5a451c99778ca55c74fa8b#service-1"]}),
    ("anhui_hefei", "hefei.ff80808187735f120188da12f7fe7bf6", {
        "title": ["动漫企业年审"], "issued": ["2023-08-01"], "open": [DEF + "open-type/unconditional"],
        "cycle": None, "freq": [EU + "frequency/BIENNIAL"], "format": None,
        "theme": [EU + "data-theme/JUST", DEF + "theme/T04"]}),
    ("jiangxi_jiangxi", "jiangxi.00853a0b4d0d494aaf1154f13e2b410e", {
        "title": ["2021年省级测绘地理信息项目备案情况"], "issued": ["2022-06-10"], "modified": ["2023-03-16"],
        "format": [EU + "file-type/XLS"], "media": [IANA + "application/vnd.ms-excel"], "cycle": None}),
    ("ningxia_yinchuan", "yinchuan.728e6644bcbb48fbbb55fba8a29788bc", {
        "title": ["银川市特殊教育学校教职工统计信息"], "issued": ["2022-03-25"], "modified": ["2021-12-14"],
        "format": [EU + "file-type/" + f for f in ("CSV", "JSON", "XLS", "XML")]}),
    ("ningxia_yinchuan", "yinchuan.8d3c24ffeafe4283b98326ec627a77f8", {
        "modified": ["2021-03-30"], "cycle": None, "freq": [EU + "frequency/OTHER"], "format": None}),
    ("shaanxi_shaanxi", "shaanxi.217", {
        "title": ["城市空气质量日均数据信息"], "issued": ["2021-02-22"], "open": None, "format": None,
        # 公共服务 is none of our themes: kept as shaanxi's own theme (a concept of its jurisdiction 610000)
        "theme": sorted([EU + "data-theme/ENVI", EU + "data-theme/HEAL", DEF + "theme/T02", DEF + "theme/T10",
                         source_concept_iri(BASE, "610000", "shaanxi", "theme", "公共服务")])}),
    ("shanghai_shanghai", "shanghai.67404f6ab4946a23498e", {
        "title": ["拆除施工企业信息"], "issued": ["2020-01-02"], "modified": ["2023-04-06"],
        "open": [DEF + "open-type/conditional"], "access": [EU + "access-right/RESTRICTED"],
        "mail": ["mailto:sjkf@shanghai.gov.cn"], "format": None}),
    ("xinjiang_wlmq", "wlmq.6cc25f01af0742d2a68c4f1e4f05e035", {
        "title": ["招标自然人信息"], "issued": ["2022-06-27"], "modified": ["2022-06-27"], "format": None}),
    ("zhejiang_zhejiang", "zhejiang.4208", {
        "title": ["农作物种子市场观测点备供种信息调查信息"], "issued": ["2019-01-29"], "modified": ["2023-06-02"],
        "cycle": [DEF + "update-cycle/irregular"], "freq": [EU + "frequency/IRREG"], "open": None,
        "format": [EU + "file-type/SQL"], "media": [IANA + "application/sql"], "volume": ["19053"],
        "mail": ["mailto:zjsnyxxzx@163.com"]}),
    ("zhejiang_zhejiang", "zhejiang.4552", {
        "tel": ["tel:+86-571-87087342", "tel:+86-571-87709006"], "format": [EU + "file-type/SQL"],
        "open": None, "cycle": [DEF + "update-cycle/yearly"]}),
]


@pytest.mark.parametrize("name,ident,expected", PICKED, ids=[p[1] for p in PICKED])
def test_hand_picked_records(name, ident, expected):
    _, result = mapped(name)
    got = dataset(result, ident)
    for short, values in expected.items():
        assert got.get(P[short]) == values, short


def test_publishers_of_other_portals_are_minted_and_reported():
    _, result = mapped("anhui_anhui")
    got = dataset(result, "anhui.00821a44dc5a451c99778ca55c74fa8b")
    assert got[P["publisher"]][0].startswith(f"{BASE}/def/org/340000/")
    names = {p.value for p in result.problems if p.kind == "not-in-our-scheme" and p.field == "提供单位"}
    assert len(names) == 15 and "省统计局" in names


def test_identifiers_are_stable_across_runs():
    raw, result = mapped("shanghai_shanghai")
    path = shared_path("data", "catalogs", "shanghai_shanghai.json")
    mapping = load_mapping("shanghai")
    records = read_records(path.read_bytes(), path.name, "shanghai", mapping=mapping)
    again = apply_mapping(records, mapping, BASE, jurisdiction="310000")
    assert list(again.graphs) == list(result.graphs)
    # and across record order: the same record gets the same dataset IRI when the records come reversed
    backwards = apply_mapping(records[::-1], mapping, BASE, jurisdiction="310000")
    assert set(backwards.graphs) == set(result.graphs)
    assert backwards.origins == result.origins


SHACL_NAMES = {DCT.title.value: "title", DCT.description.value: "description", DCT.publisher.value: "publisher",
               WODP.openType.value: "open_type", WODP.updateCycle.value: "update_cycle",
               DCT.issued.value: "issued", DCAT.contactPoint.value: "contact", DCAT.distribution.value: "format",
               DCT.format.value: "format"}


def shacl_gaps(report) -> set[str]:
    """Return the Wuhan mandatory elements a SHACL report finds violated (on the dataset or a distribution)."""
    return {SHACL_NAMES[f.path] for f in report.findings if f.severity == "Violation" and f.path in SHACL_NAMES}


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_share_passing_the_wuhan_profile_through_the_publication_gate(name):
    """Every mapped dataset goes through the gate's validation (profile wuhan-harvested): the share that
    passes and the reasons of the others are exactly the figures above."""
    from publish.gate import Publisher
    from shapes.validate import get_validator

    _, result = mapped(name)
    gate = Publisher(None, None, get_validator("pyshacl"), batch_validator=get_validator("pyrudof"))
    reports = gate.reports(result.graphs, "wuhan-harvested")
    _, _, datasets, passing, reasons = FIGURES[name]
    reasons = {**reasons, **GATE.get(name, {})}
    assert len(reports) == datasets
    assert sum(r.conforms for r in reports.values()) == passing
    assert dict(Counter(x for r in reports.values() for x in shacl_gaps(r))) == reasons
    # no violation other than the mandatory elements counted above
    others = [f for r in reports.values() for f in r.findings
              if f.severity == "Violation" and f.path not in SHACL_NAMES]
    assert others == []
