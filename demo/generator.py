"""Build the deterministic demo catalogue of Wuhan: datasets as RDF triples following docs/model.md.

Only ``random.Random(seed)`` is used, so every run on every machine gives the same catalogue.
Spatial extents are WKT literals in CGCS2000 (EPSG:4490) with the CRS IRI prefix; as GeoSPARQL requires,
coordinates follow the CRS axis order (latitude, longitude). ``DemoDataset.bbox`` gives the same box as
(min lon, min lat, max lon, max lat).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from pyoxigraph import Literal, NamedNode, Triple

from demo import vocabulary
from demo.topics import CITY, DISTRICT_GOVERNMENTS, DISTRICTS, PROFILES, SUBJECTS, ZONES, Area, Subject
from ontology.extent import extent_triples
from ontology.labels import EU_THEME_LABELS, concept_labels, department_names
from ontology.namespaces import (
    ACCESS_RIGHT, CRS_4490, DCAT, DCT, DEPARTMENT, FILE_TYPE, FOAF, FREQUENCY, GSP, IANA, LANGUAGE, LOCN,
    OPEN_TYPE, ORG, RDF, SKOS, SPATIALIZATION, THEME, UPDATE_CYCLE, VCARD, WODP, XSD,
)
from core.identifiers import dataset_id

SOURCE = "demo"
AREA_CODE = "420100"
FIRST_YEAR, LAST_YEAR = 2018, 2025
LAST_MODIFIED = date(2026, 10, 31)
MAX_ROWS = 2000
LICENCE = NamedNode("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")
# DCAT-AP recommended values a real Wuhan catalogue has: the kind of publisher (ADMS publisher type: a municipal
# bureau is a local authority) and the kind of licence (ADMS licence type).
LOCAL_AUTHORITY = NamedNode("http://purl.org/adms/publishertype/LocalAuthority")
ATTRIBUTION = NamedNode("http://purl.org/adms/licencetype/Attribution")
FILE_FORMATS = ("CSV", "XLSX", "JSON")
# format → (EU file type, IANA media type, file name or None for the API, title zh, title en)
FORMATS: dict[str, tuple[str, str, str | None, str, str]] = {
    "CSV": ("CSV", "text/csv", "data.csv", "CSV 文件", "CSV file"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "data.xlsx",
             "Excel 文件", "Excel file"),
    "JSON": ("JSON", "application/json", "data.json", "JSON 文件", "JSON file"),
    "GEOJSON": ("GEOJSON", "application/geo+json", "data.geojson", "GeoJSON 文件", "GeoJSON file"),
    "API": ("JSON", "application/json", None, "数据接口（API）", "Data API"),
}
# DCAT-AP planned availability of our distributions (EU authority table "planned-availability").
AVAILABILITY = NamedNode("http://publications.europa.eu/resource/authority/planned-availability/STABLE")
DCATAP_AVAILABILITY = NamedNode("http://data.europa.eu/r5r/availability")
_ROW_RANGES = {"F": (5, 600), "L": (10, 500), "R": (20, MAX_ROWS), "S": (12, 300), "M": (30, MAX_ROWS)}


@dataclass(frozen=True)
class DemoDataset:
    """One generated dataset: its identity, what the server needs, and its whole graph."""

    id: str
    uri: str
    department: str
    spatial: bool
    formats: tuple[str, ...]
    triples: tuple[Triple, ...]
    title: str = ""
    subject: str = ""  # the Subject's zh phrase (demo.topics.SUBJECT_BY_ZH)
    area: str = ""  # zh name of the area covered
    year: int | None = None
    rows: int = 0  # == wodp:dataVolume == rows served by demo.files
    bbox: tuple[float, float, float, float] | None = None  # lon/lat, spatial datasets only
    open_type: str = "unconditional"  # wodp:openType's local name


@dataclass(frozen=True)
class DemoCatalog:
    """The generated datasets and their totals."""

    datasets: tuple[DemoDataset, ...]
    totals: dict[str, int]


@dataclass(frozen=True)
class _Plan:
    department: str
    seq: int
    subject: Subject
    area: Area
    year: int | None

    @property
    def title(self) -> str:
        prefix = f"{self.year}年" if self.year else ""
        return f"{prefix}{self.area.zh}{self.subject.zh}"

    @property
    def title_en(self) -> str:
        suffix = f" {self.year}" if self.year else ""
        return f"{self.area.en} {self.subject.en}{suffix}"


def build_demo_catalog(base_uri: str, seed: int = 20261129, count: int = 1700, spatial: int = 200) -> DemoCatalog:
    """Build ``count`` datasets of which ``spatial`` are spatial, the same for the same arguments."""
    if count < 0 or not 0 <= spatial <= count:
        raise ValueError(f"need 0 <= spatial ({spatial}) <= count ({count})")
    base = base_uri.rstrip("/")
    rng = random.Random(seed)
    plans = _plan(rng, count)
    candidates = [i for i, p in enumerate(plans) if p.subject.kind == "F"]
    if spatial > len(candidates):
        raise ValueError(f"only {len(candidates)} facility datasets can be spatial, {spatial} asked")
    spatial_set = set(rng.sample(candidates, spatial))
    datasets = tuple(_dataset(rng, base, p, i in spatial_set) for i, p in enumerate(plans))
    return DemoCatalog(datasets, _totals(datasets))


def _plan(rng: random.Random, count: int) -> list[_Plan]:
    """Share ``count`` among the departments by weight and pick distinct subjects for each."""
    codes = sorted(vocabulary.departments())
    weights = {c: PROFILES[c][0] * rng.uniform(0.7, 1.3) for c in codes}
    shares = _apportion(weights, count)
    plans: list[_Plan] = []
    used: set[str] = set()
    for code in codes:
        seq = 0
        for subject, area, year in _candidates(rng, code):
            if seq == shares[code]:
                break
            plan = _Plan(code, seq + 1, subject, area, year)
            if plan.title not in used:
                used.add(plan.title)
                plans.append(plan)
                seq += 1
        if seq < shares[code]:
            raise ValueError(f"department {code} has too few subjects for {shares[code]} datasets")
    return plans


def _apportion(weights: dict[str, float], count: int) -> dict[str, int]:
    """Split ``count`` by largest remainder, giving every department one first when there are enough."""
    floor = 1 if count >= len(weights) else 0
    rest = count - floor * len(weights)
    total = sum(weights.values())
    exact = {c: rest * w / total for c, w in weights.items()}
    shares = {c: floor + int(v) for c, v in exact.items()}
    left = count - sum(shares.values())
    for c in sorted(exact, key=lambda c: (int(exact[c]) - exact[c], c))[:left]:
        shares[c] += 1
    return shares


def _candidates(rng: random.Random, code: str) -> list[tuple[Subject, Area, int | None]]:
    """List a department's possible (subject, area, year), likelier ones first."""
    own = DISTRICT_GOVERNMENTS.get(code) or ZONES.get(code)
    areas = (own,) if own else (CITY, *DISTRICTS)
    scored = []
    for family in PROFILES[code][1]:
        for subject in SUBJECTS[family]:
            years = (None, *range(FIRST_YEAR, LAST_YEAR + 1)) if subject.kind in "SM" else (None,)
            for area in areas[:1] if subject.kind == "L" else areas:  # lists and catalogues are city-wide
                for year in years:
                    factor = 1.0 if area is CITY or own else 4.0
                    factor *= 0.3 if year is None else 1 + (LAST_YEAR - year) * 0.4
                    scored.append((rng.random() * factor, subject, area, year))
                if subject.kind in "FLR":  # yearly editions, used only when the rest runs out
                    scored += [(100 + rng.random(), subject, area, y) for y in range(FIRST_YEAR, LAST_YEAR + 1)]
    scored.sort(key=lambda s: s[0])
    return [(s, a, y) for _, s, a, y in scored]


def _dataset(rng: random.Random, base: str, plan: _Plan, spatial: bool) -> DemoDataset:
    """Draw one dataset's values and turn them into its graph."""
    key = f"{plan.department}-{plan.seq:05d}"
    ident = dataset_id(SOURCE, key)
    low, high = _ROW_RANGES[plan.subject.kind]
    rows = min(MAX_ROWS, int(math.exp(rng.uniform(math.log(low), math.log(high)))))
    formats = _formats(rng, spatial)
    issued, modified, cycle = _dates_and_cycle(rng, plan)
    draw = rng.random()
    open_type = "unconditional" if draw < 0.75 else "conditional" if draw < 0.95 else "closed"
    bbox = plan.area.bbox if spatial else None
    values = dict(ident=ident, key=key, rows=rows, formats=formats, issued=issued, modified=modified,
                  cycle=cycle, open_type=open_type, bbox=bbox, keywords=_keywords(rng, plan))
    triples = _triples(base, plan, values)
    return DemoDataset(ident, f"{base}/datasets/{ident}", plan.department, spatial, formats, tuple(triples),
                       plan.title, plan.subject.zh, plan.area.zh, plan.year, rows, bbox, open_type)


def _formats(rng: random.Random, spatial: bool) -> tuple[str, ...]:
    """Pick 1–3 of CSV, XLSX, JSON and API (API only for about 30%), plus GeoJSON when spatial."""
    if rng.random() < 0.3 and not spatial:
        return ("API",)
    files = ["CSV"] if rng.random() < 0.8 else [rng.choice(FILE_FORMATS)]
    extra = [f for f in FILE_FORMATS if f not in files]
    files += rng.sample(extra, rng.choice((0, 0, 1, 1, 2)))
    if len(files) < 3 and rng.random() < 0.35:
        files.append("API")
    chosen = [f for f in (*FILE_FORMATS, "API") if f in files]
    return ("GEOJSON", *chosen[:2]) if spatial else tuple(chosen)


def _dates_and_cycle(rng: random.Random, plan: _Plan) -> tuple[date, date, str]:
    """Draw the issued and modified dates and the update cycle, consistent with the title's year."""
    cycle = plan.subject.cycle
    if plan.subject.kind == "M" and cycle == "daily" and rng.random() < 0.15:
        cycle = "realtime"
    elif cycle == "yearly" and rng.random() < 0.15:
        cycle = "halfyearly"
    if plan.year:
        start = date(plan.year, 1, 10)
        end = min(date(LAST_YEAR, 12, 31), date(plan.year + 1, 6, 30))
        if plan.year < LAST_YEAR and rng.random() < 0.6:
            cycle = "never"
    else:
        start, end = date(FIRST_YEAR, 1, 10), date(LAST_YEAR, 12, 31)
    issued = start + timedelta(days=rng.randrange((end - start).days + 1))
    if cycle == "never":
        return issued, issued, cycle
    recent = {"realtime": 3, "daily": 5, "weekly": 14, "monthly": 60, "quarterly": 200}.get(cycle)
    span = (LAST_MODIFIED - issued).days
    back = rng.randrange(min(recent, span) + 1) if recent else span - rng.randrange(span + 1)
    return issued, LAST_MODIFIED - timedelta(days=back), cycle


def _keywords(rng: random.Random, plan: _Plan) -> tuple[str, ...]:
    """Give 2–5 keywords: the subject's, the area's, and sometimes the year."""
    words = list(plan.subject.keywords)
    if plan.area is not CITY:
        words.append(plan.area.zh)
    if plan.year and rng.random() < 0.5:
        words.append(f"{plan.year}年")
    words.append("武汉")
    return tuple(dict.fromkeys(words))[:5]


def _lit(text: str, lang: str) -> Literal:
    return Literal(text, language=lang)


def _date(value: date) -> Literal:
    return Literal(value.isoformat(), datatype=XSD.date)


def _triples(base: str, plan: _Plan, v: dict) -> list[Triple]:
    """Write the dataset graph exactly as docs/model.md shows it."""
    d = NamedNode(f"{base}/datasets/{v['ident']}")
    dept = DEPARTMENT[plan.department]
    names = vocabulary.departments()[plan.department]
    theme, eu_theme = THEME[plan.subject.theme], NamedNode(vocabulary.themes()[plan.subject.theme])
    open_type, access = OPEN_TYPE[v["open_type"]], NamedNode(vocabulary.open_types()[v["open_type"]])
    cycle, freq = UPDATE_CYCLE[v["cycle"]], NamedNode(vocabulary.cycles()[v["cycle"]][2])
    contact = NamedNode(f"{d.value}#contact")
    zh, en = _descriptions(plan, v, names[0])
    t = [
        Triple(NamedNode(f"{base}/catalog"), DCAT.dataset, d),
        Triple(d, RDF.type, DCAT.Dataset),
        Triple(d, DCT.identifier, Literal(v["ident"])),
        Triple(d, WODP.resourceCode, Literal(f"{AREA_CODE}-{v['key']}")),
        Triple(d, WODP.source, Literal(SOURCE)),
        Triple(d, WODP.sourceKey, Literal(v["key"])),
        Triple(d, DCT.title, _lit(plan.title, "zh-CN")),
        Triple(d, DCT.title, _lit(plan.title_en, "en")),
        Triple(d, DCT.description, _lit(zh, "zh-CN")),
        Triple(d, DCT.description, _lit(en, "en")),
        Triple(d, DCT.publisher, dept),
        Triple(d, DCAT.contactPoint, contact),
        Triple(d, DCAT.theme, theme),
        Triple(d, DCAT.theme, eu_theme),
        *(Triple(d, DCAT.keyword, _lit(k, "zh-CN")) for k in v["keywords"]),
        Triple(d, WODP.openType, open_type),
        Triple(d, DCT.accessRights, access),
        Triple(d, WODP.updateCycle, cycle),
        Triple(d, DCT.accrualPeriodicity, freq),
        Triple(d, DCT.issued, _date(v["issued"])),
        Triple(d, DCT.modified, _date(v["modified"])),
        Triple(d, DCT.language, LANGUAGE.ZHO),
        Triple(LANGUAGE.ZHO, RDF.type, DCT.LinguisticSystem),
        Triple(d, WODP.dataVolume, Literal(str(v["rows"]), datatype=XSD.integer)),
        Triple(d, WODP.spatializationStatus, SPATIALIZATION.spatial if v["bbox"] else SPATIALIZATION.none),
        Triple(contact, RDF.type, VCARD.Kind),
        Triple(contact, RDF.type, VCARD.Organization),
        Triple(contact, VCARD.fn, _lit(names[0], "zh-CN")),
        Triple(contact, VCARD.hasTelephone, NamedNode(f"tel:{department_phone(plan.department)}")),
        Triple(contact, VCARD.hasEmail, NamedNode(f"mailto:opendata-{plan.department.lower()}@example.wuhan.gov.cn")),
    ]
    if v["bbox"]:
        t += _extent(d, v["bbox"])
    for n, fmt in enumerate(v["formats"], 1):
        t += _distribution(base, d, n, fmt, v)
    t += [
        Triple(dept, RDF.type, FOAF.Agent), Triple(dept, RDF.type, ORG.Organization),
        *(Triple(dept, FOAF.name, name) for name in department_names().get(dept, (_lit(names[0], "zh-CN"),))),
        Triple(dept, DCT.type, LOCAL_AUTHORITY), Triple(LOCAL_AUTHORITY, RDF.type, SKOS.Concept),
        Triple(LOCAL_AUTHORITY, SKOS.prefLabel, _lit("Local Authority", "en")),
        *_temporal(d, plan, v),
        Triple(theme, RDF.type, SKOS.Concept), Triple(eu_theme, RDF.type, SKOS.Concept),
        Triple(eu_theme, SKOS.prefLabel, _lit(EU_THEME_LABELS[eu_theme.value.rsplit("/", 1)[1]], "en")),
        Triple(open_type, RDF.type, SKOS.Concept), Triple(open_type, RDF.type, DCT.RightsStatement),
        Triple(access, RDF.type, DCT.RightsStatement),
        Triple(cycle, RDF.type, SKOS.Concept), Triple(cycle, RDF.type, DCT.Frequency),
        Triple(freq, RDF.type, DCT.Frequency),
        *(Triple(node, SKOS.prefLabel, label) for node in (theme, open_type, cycle) for label in concept_labels()[node]),
        Triple(AVAILABILITY, RDF.type, SKOS.Concept), Triple(AVAILABILITY, SKOS.prefLabel, _lit("stable", "en")),
    ]
    for kind in dict.fromkeys(FORMATS[f][0] for f in v["formats"]):
        t.append(Triple(FILE_TYPE[kind], RDF.type, DCT.MediaTypeOrExtent))
    for media in dict.fromkeys(FORMATS[f][1] for f in v["formats"]):
        t.append(Triple(IANA[media], RDF.type, DCT.MediaType))
    return t


def department_phone(code: str) -> str:
    """Return the made-up consultation phone number of a department."""
    return f"+86-27-8{int(code[1:]) * 7919 % 10**7:07d}"


def _temporal(d: NamedNode, plan: _Plan, v: dict) -> list[Triple]:
    """The time the data covers: a yearly edition its year; a running dataset from its first to its last issue."""
    start, end = (date(plan.year, 1, 1), date(plan.year, 12, 31)) if plan.year else (v["issued"], v["modified"])
    period = NamedNode(f"{d.value}#temporal")
    return [Triple(d, DCT.temporal, period), Triple(period, RDF.type, DCT.PeriodOfTime),
            Triple(period, DCAT.startDate, _date(start)), Triple(period, DCAT.endDate, _date(end))]


def _extent(d: NamedNode, bbox: tuple[float, float, float, float]) -> list[Triple]:
    """Describe the bounding box as GeoDCAT-AP WKT (EPSG:4490, lat lon) and as GeoJSON (ontology.extent)."""
    return extent_triples(d, bbox, "EPSG:4490", 2) + [
        Triple(d, DCT.conformsTo, CRS_4490), Triple(CRS_4490, RDF.type, DCT.Standard),
        Triple(d, WODP.sourceCRS, CRS_4490)]  # the demo's data files are CGCS2000 (ogc/layers.py reads this)


def _distribution(base: str, d: NamedNode, n: int, fmt: str, v: dict) -> list[Triple]:
    """Describe distribution ``n``: a generated file, or the data API."""
    kind, media, name, title_zh, title_en = FORMATS[fmt]
    dist = NamedNode(f"{d.value}#dist-{n}")
    t = [Triple(d, DCAT.distribution, dist), Triple(dist, RDF.type, DCAT.Distribution),
         Triple(dist, DCT.title, _lit(title_zh, "zh-CN")), Triple(dist, DCT.title, _lit(title_en, "en")),
         Triple(dist, DCT.format, FILE_TYPE[kind]), Triple(dist, DCAT.mediaType, IANA[media]),
         Triple(dist, DCT.description, _lit(f"{title_zh}，{media}", "zh-CN")),
         Triple(dist, DCT.description, _lit(f"{title_en}, {media}", "en")),
         Triple(dist, DCATAP_AVAILABILITY, AVAILABILITY)]
    if name is None:
        t.append(Triple(dist, DCAT.accessURL, NamedNode(f"{base}/api/data/{v['ident']}")))
    else:
        t += [Triple(dist, DCAT.accessURL, d),
              Triple(dist, DCAT.downloadURL, NamedNode(f"{base}/files/{v['ident']}/{name}"))]
    return t + [Triple(dist, DCT.license, LICENCE), Triple(LICENCE, RDF.type, DCT.LicenseDocument),
                Triple(LICENCE, DCT.type, ATTRIBUTION), Triple(ATTRIBUTION, RDF.type, SKOS.Concept),
                Triple(ATTRIBUTION, SKOS.prefLabel, _lit("Attribution", "en")), Triple(dist, DCT.issued, _date(v["issued"])),
                Triple(dist, DCT.modified, _date(v["modified"]))]


def _descriptions(plan: _Plan, v: dict, department: str) -> tuple[str, str]:
    """Write 2–3 sentences in Chinese and in English from the subject's kind."""
    s = plan.subject
    items = "、".join(i.split(":")[0] for i in s.items)
    scope = f"{plan.year}年{plan.area.zh}" if plan.year else plan.area.zh
    lead = {
        "F": f"本数据集收录{scope}{items}的名称、类别、地址和联系电话等信息",
        "L": f"本数据集为{plan.title}，包括名称、类别、编号、发布日期和状态等字段",
        "R": f"本数据集公开{scope}{items}的单位名称、证照编号、事项和有效期等信息",
        "S": f"本数据集为{plan.title}，包括{items}等统计指标",
        "M": f"本数据集发布{scope}{s.zh}，包括各点位{items}的监测值",
    }[s.kind]
    if v["bbox"]:
        lead += "，并提供经纬度坐标（CGCS2000）"
    cycle_zh, cycle_en, _ = vocabulary.cycles()[v["cycle"]]
    when = "数据不再更新。" if v["cycle"] == "never" else f"数据{cycle_zh}更新。"
    zh = f"{lead}。数据由{department}提供。{when}"
    extra = " It includes longitude and latitude (CGCS2000)." if v["bbox"] else ""
    when_en = "It is no longer updated." if v["cycle"] == "never" else f"Update cycle: {cycle_en}."
    en = f"{plan.title_en}, published by {vocabulary.departments()[plan.department][1]}.{extra} {when_en}"
    return zh, en


def _totals(datasets: tuple[DemoDataset, ...]) -> dict[str, int]:
    """Count datasets, departments, spatial datasets, distributions, formats and open types."""
    totals = {"datasets": len(datasets), "departments": len({d.department for d in datasets}),
              "spatial": sum(d.spatial for d in datasets),
              "distributions": sum(len(d.formats) for d in datasets),
              # downloadable by the public: restricted data (有条件开放 / 不予开放, access.policy.RESTRICTED) is not
              "downloadable": sum(any(f != "API" for f in d.formats) and d.open_type not in ("conditional", "closed")
                                  for d in datasets)}
    for fmt in FORMATS:
        totals[f"format.{fmt}"] = sum(fmt in d.formats for d in datasets)
    for name in ("unconditional", "conditional", "closed"):
        node = OPEN_TYPE[name]
        totals[f"open.{name}"] = sum(any(t.object == node for t in d.triples) for d in datasets)
    return totals
