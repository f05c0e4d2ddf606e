"""Build a small hand-written catalogue (docs/model.md) with vocabulary labels, for search and portal tests."""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from ontology.namespaces import (ACCESS_RIGHT, DCAT, DCT, DEPARTMENT, FILE_TYPE, FOAF, GSP, LOCN, OPEN_TYPE,
                                 RDF, SKOS, SPATIALIZATION, THEME, UPDATE_CYCLE, VCARD, WODP, XSD)
from sparql.store import VOCABULARY_GRAPH

BASE = "http://127.0.0.1:8000"
WKT = ("<http://www.opengis.net/def/crs/EPSG/0/4490> "  # EPSG:4490 axis order: latitude first
       "POLYGON((30.3 114.0,30.3 114.6,30.8 114.6,30.8 114.0,30.3 114.0))")


@dataclass(frozen=True)
class Sample:
    """One dataset of the sample catalogue."""

    key: str
    title_zh: str
    title_en: str
    desc_zh: str
    desc_en: str
    department: str
    themes: tuple[str, ...]
    keywords: tuple[str, ...]
    open_type: str
    formats: tuple[str, ...]
    modified: str
    spatial: bool = False

    @property
    def id(self) -> str:
        return f"demo.{self.key}"

    @property
    def uri(self) -> str:
        return f"{BASE}/datasets/{self.id}"


SAMPLES = (
    Sample("bus-routes", "公交车线路信息", "Bus route information", "武汉市公交车线路及站点信息。",
           "Bus lines and stops of Wuhan.", "D012", ("T03",), ("公交", "交通"), "unconditional",
           ("CSV", "JSON"), "2024-10-01", spatial=True),
    Sample("schools", "中小学校名录", "Primary and secondary schools",
           "全市中小学校的名称、地址和办学性质，供家长查询教育资源。",
           "Names, addresses and kinds of the schools of the city.", "D020", ("T05",), ("教育", "学校"),
           "unconditional", ("CSV", "XLSX"), "2024-09-01", spatial=True),
    Sample("traffic-flow", "道路交通流量", "Road traffic flow", "主要道路的实时交通流量监测数据。",
           "Real-time traffic counts on main roads.", "D012", ("T03",), ("交通", "道路"), "conditional",
           ("JSON",), "2024-11-05"),
    Sample("charging", "新能源汽车充电站", "EV charging stations", "新能源公交车和出租车充电站分布。",
           "Charging stations for electric buses and taxis.", "D015", ("T03",), ("充电",), "unconditional",
           ("CSV",), "2023-05-01"),
    Sample("teacher-training", "教育系统教师培训统计", "Teacher training statistics",
           "全市教师参加培训的人次与学时统计。", "Numbers of teachers trained and hours of training.",
           "D020", ("T05", "T06"), ("培训",), "unconditional", ("XLSX",), "2022-01-15"),
    Sample("air-quality", "空气质量日报", "Daily air quality report", "各监测站点空气质量指数（AQI）日报。",
           "Daily air quality index (AQI) of each monitoring station.", "D030", ("T07",), ("空气", "AQI"),
           "unconditional", ("CSV",), "2024-12-01"),
    Sample("vehicle-inspection", "机动车检验记录", "Vehicle inspection records",
           "机动车年检及新车交车前检验记录，不含公交。", "Yearly inspections of motor vehicles.",
           "D012", ("T03",), ("检验",), "conditional", ("CSV",), "2021-06-30"),
)

DEPARTMENTS = {"D012": ("市交通运输局", "Municipal Transport Bureau"),
               "D015": ("市发展和改革委员会", "Municipal Development and Reform Commission"),
               "D020": ("市教育局", "Municipal Education Bureau"),
               "D030": ("市生态环境局", "Municipal Ecology and Environment Bureau")}
THEMES = {"T03": ("交通出行", "Transport"), "T05": ("教育文化", "Education and culture"),
          "T06": ("社会保障", "Social security"), "T07": ("生态环境", "Environment")}
OPEN_TYPES = {"unconditional": ("无条件开放", "Open without conditions"),
              "conditional": ("有条件开放", "Open under conditions")}
CYCLES = {"monthly": ("每月", "Monthly")}
MEDIA = {"CSV": "text/csv", "JSON": "application/json", "XLSX": "application/vnd.ms-excel"}


def _zh(text: str) -> ox.Literal:
    return ox.Literal(text, language="zh-CN")


def _en(text: str) -> ox.Literal:
    return ox.Literal(text, language="en")


def _date(text: str) -> ox.Literal:
    return ox.Literal(text, datatype=XSD.date)


def _distributions(s: Sample, d: ox.NamedNode) -> list[ox.Triple]:
    out = []
    for n, fmt in enumerate(s.formats, 1):
        x = ox.NamedNode(f"{s.uri}#dist-{n}")
        out += [ox.Triple(d, DCAT.distribution, x), ox.Triple(x, RDF.type, DCAT.Distribution),
                ox.Triple(x, DCT.title, _zh(f"{s.title_zh}（{fmt}）")),
                ox.Triple(x, DCT.format, FILE_TYPE[fmt]),
                ox.Triple(x, DCAT.mediaType, ox.NamedNode("http://www.iana.org/assignments/media-types/"
                                                          + MEDIA[fmt])),
                ox.Triple(x, DCAT.accessURL, d),
                ox.Triple(x, DCT.license, ox.NamedNode("http://creativecommons.org/licenses/by/4.0/"))]
        if s.open_type == "unconditional":
            out.append(ox.Triple(x, DCAT.downloadURL,
                                 ox.NamedNode(f"{BASE}/files/{s.id}/data.{fmt.lower()}")))
    return out


def _extent(s: Sample, d: ox.NamedNode) -> list[ox.Triple]:
    if not s.spatial:
        return [ox.Triple(d, WODP.spatializationStatus, SPATIALIZATION.none)]
    e = ox.NamedNode(s.uri + "#extent")
    wkt = ox.Literal(WKT, datatype=GSP.wktLiteral)
    return [ox.Triple(d, WODP.spatializationStatus, SPATIALIZATION.spatial), ox.Triple(d, DCT.spatial, e),
            ox.Triple(e, RDF.type, DCT.Location), ox.Triple(e, DCAT.bbox, wkt), ox.Triple(e, LOCN.geometry, wkt)]


def dataset_triples(s: Sample) -> list[ox.Triple]:
    """Return the dataset graph of one sample, shaped as in docs/model.md."""
    d = ox.NamedNode(s.uri)
    contact = ox.NamedNode(s.uri + "#contact")
    dept = DEPARTMENT[s.department]
    out = [
        ox.Triple(ox.NamedNode(BASE + "/catalog"), DCAT.dataset, d), ox.Triple(d, RDF.type, DCAT.Dataset),
        ox.Triple(d, DCT.identifier, ox.Literal(s.id)),
        ox.Triple(d, WODP.resourceCode, ox.Literal(f"420100-{s.department}-0001")),
        ox.Triple(d, DCT.title, _zh(s.title_zh)), ox.Triple(d, DCT.title, _en(s.title_en)),
        ox.Triple(d, DCT.description, _zh(s.desc_zh)), ox.Triple(d, DCT.description, _en(s.desc_en)),
        ox.Triple(d, DCT.publisher, dept), ox.Triple(dept, FOAF.name, _zh(DEPARTMENTS[s.department][0])),
        ox.Triple(d, DCAT.contactPoint, contact), ox.Triple(contact, RDF.type, VCARD.Organization),
        ox.Triple(contact, VCARD.fn, _zh(DEPARTMENTS[s.department][0])),
        ox.Triple(contact, VCARD.hasTelephone, ox.NamedNode("tel:+86-27-85000000")),
        ox.Triple(contact, VCARD.hasEmail, ox.NamedNode("mailto:data@example.gov.cn")),
        ox.Triple(d, WODP.openType, OPEN_TYPE[s.open_type]),
        ox.Triple(d, DCT.accessRights, ACCESS_RIGHT.PUBLIC),
        ox.Triple(d, WODP.updateCycle, UPDATE_CYCLE.monthly),
        ox.Triple(d, DCT.issued, _date("2020-01-02")), ox.Triple(d, DCT.modified, _date(s.modified)),
        ox.Triple(d, WODP.dataVolume, ox.Literal("12345", datatype=XSD.integer)),
        ox.Triple(d, DCAT.theme, ox.NamedNode("http://publications.europa.eu/resource/authority/data-theme/TRAN")),
    ]
    out += [ox.Triple(d, DCAT.theme, THEME[t]) for t in s.themes]
    out += [ox.Triple(d, DCAT.keyword, _zh(k)) for k in s.keywords]
    return out + _distributions(s, d) + _extent(s, d)


def vocabulary_triples() -> list[ox.Triple]:
    """Return the labels of the departments, themes, open types and cycles the samples use."""
    out = []
    for ns, table in ((DEPARTMENT, DEPARTMENTS), (THEME, THEMES), (OPEN_TYPE, OPEN_TYPES),
                      (UPDATE_CYCLE, CYCLES)):
        for code, (zh, en) in table.items():
            node = ns[code]
            out += [ox.Triple(node, RDF.type, SKOS.Concept), ox.Triple(node, SKOS.prefLabel, _zh(zh)),
                    ox.Triple(node, SKOS.prefLabel, _en(en)), ox.Triple(node, SKOS.notation, ox.Literal(code))]
    return out


def fill_store(store, samples=SAMPLES) -> None:
    """Put the vocabulary and the sample datasets into a store."""
    store.put_graph(VOCABULARY_GRAPH.value, vocabulary_triples())
    store.put_datasets({s.uri: dataset_triples(s) for s in samples})
