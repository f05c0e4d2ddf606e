"""Leave one portal out: each real catalogue of ../shared/data/catalogs mapped with what the others teach.

For each of the eight portals, the generic ``china-portal`` mapping (field-name synonyms on) maps the portal's
file with every field name and every value word that occurs only in that portal's file removed from our
tables (synonyms.yml, vocabulary.yml and the explicit field names of china-core.yml), as computed from the
data below. What the portal's records become is then checked through the real validator (pyrudof, batched as
the publication gate does) against the ``external`` profile:

- at least 95 % of records give a dataset with no violation, with a publisher, a theme and an open type
  wherever the record has a value for them (read off the record through the portal's own mapping file);
- every field the mapping could not place is listed in ``MappingResult.unplaced_fields`` with its count, and
  every value no vocabulary knew in ``MappingResult.unknown_values``;
- no dataset is attributed to one of Wuhan's departments: none of these portals is Wuhan's.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from functools import cache

import pytest

from conftest import shared_path
from mappings import apply_mapping, load_mapping, read_records
from mappings.spec import FieldSpec, bare_name
from mappings.values import split_values, vocabulary, word_key
from ontology.namespaces import DCAT, DCT, RDF, WODP

BASE = "https://data.wuhan.gov.cn"
DEPARTMENTS = BASE + "/def/department/"
# catalogue file → (its own mapping file, source name, the jurisdiction the source states)
PORTALS = {
    "anhui_anhui": ("anhui", "anhui", "340000"), "anhui_hefei": ("hefei", "hefei", "340100"),
    "jiangxi_jiangxi": ("jiangxi", "jiangxi", "360000"), "ningxia_yinchuan": ("odweb", "yinchuan", "640100"),
    "shaanxi_shaanxi": ("shaanxi", "shaanxi", "610000"), "shanghai_shanghai": ("shanghai", "shanghai", "310000"),
    "xinjiang_wlmq": ("odweb", "wlmq", "650100"), "zhejiang_zhejiang": ("zhejiang", "zhejiang", "330000"),
}
CHECKED = {"publisher": DCT.publisher, "theme": DCAT.theme, "open_type": WODP.openType}
# Every separator any portal uses; bracketed lists ("['api']", "[xls]") are read by split_values.
SEPARATORS = r"[,;，；、|｜/／\s]+"

# Share of records that must pass: the same for every portal.
NEEDED = {name: 0.95 for name in PORTALS}
# 江西 (jiangxi_jiangxi.json) has no description field at all (标题, 数源单位, 数据领域, 发布时间, 数据更新时间,
# 开放类型, 数据格式, url): DCAT-AP 3 makes dct:description mandatory; the external profile publishes such a
# dataset as its source has it, with a warning (shapes/profiles.py), so its 279 records pass.

# Values of a portal's open-type field that name no open type, read by hand from the data (not from our tables,
# which would make the test circular): value → why it is none. A record holding one of these has no open type at
# the source; it passes only if it carries the text as wodp:openCondition, has no wodp:openType and conforms.
# Every other value of the field counts as an open type the record has (审批同意后共享 "shared once approved"
# names access on approval, i.e. 有条件开放, and must give one).
NOT_OPEN_TYPES = {
    "zhejiang_zhejiang": {                  # its field 开放条件, 1,309 records: 41 distinct values
        "1级\t不脱敏": "a classification level and 'not desensitised'",
        "1不脱敏": "a level and 'not desensitised'",
        "L1": "a level code",
        "3": "a number",
        "0": "a number",
        "1": "a number",
        "根据接口规范": "'according to the interface specification': an interface",
        "用于数据校验": "'used for data checks': a usage",
        "信息参考": "'for reference': a usage",
        "业务协同": "'business coordination': a usage",
        "用于业务协调": "'used for business coordination': a usage",
        "局内使用": "'used within the bureau': a usage",
        "仅投资项目相关领域系统使用": "'only for systems of investment projects': a usage",
        "仅供个人查询自身记录": "'only for persons querying their own records': a usage",
        "仅供机构/个人查询相关记录": "'only for bodies/persons querying related records': a usage",
        "大综合一体化场景": "the name of a usage scenario (大综合一体化 law-enforcement reform)",
        "以公共数据平台审核为准": "'as the public data platform's review decides': names no open type",
        "否": "a bare 'no' in a field of conditions: names no open type",
    },
}


@cache
def raw(name: str) -> list[dict]:
    return json.loads(shared_path("data", "catalogs", f"{name}.json").read_bytes())


def words(value) -> set[str]:
    """Return the value words of a field value as compared: split on every separator, also without '(…)'."""
    out: set[str] = set()
    for word in split_values(value, SEPARATORS) + split_values(value, None):
        out.add(word_key(word))
        out.add(word_key(re.sub(r"\s*[(（].*[)）]\s*$", "", word)))
    return out - {""}


@cache
def portal_vocabulary(name: str) -> tuple[frozenset, frozenset]:
    """Return (field names, value words) of one portal's file."""
    names, values = set(), set()
    for record in raw(name):
        for field, value in record.items():
            if value not in (None, "", [], {}):
                names.add(bare_name(field))
                values |= words(value)
    return frozenset(names), frozenset(values)


def unique_to(name: str) -> tuple[set, set]:
    """Return the field names and value words found in this portal's file and in no other portal's."""
    names, values = map(set, portal_vocabulary(name))
    for other in PORTALS:
        if other != name:
            names -= portal_vocabulary(other)[0]
            values -= portal_vocabulary(other)[1]
    return names, values


def reduced_synonyms(drop: set) -> dict[str, str]:
    from mappings.spec import synonyms

    return {k: v for k, v in synonyms().items() if k not in drop}


def reduced_vocabulary(drop: set) -> dict[str, dict]:
    """Return vocabulary.yml's tables without the words of the left-out portal (markers are rules, kept)."""
    return {table: (entries if table == "open_type_markers" else
                    {k: v for k, v in entries.items() if k not in drop})
            for table, entries in vocabulary().items()}


def reduced_mapping(drop: set):
    """Return china-portal without the explicit field names of the left-out portal."""
    mapping = load_mapping("china-portal")
    fields = {}
    for target, spec in mapping.fields.items():
        paths = tuple(p for p in spec.paths if bare_name(p) not in drop)
        if paths:
            fields[target] = FieldSpec(paths, spec.split, spec.pattern)
    key = None
    if mapping.key is not None:
        paths = tuple(p for p in mapping.key.paths if bare_name(p) not in drop)
        key = FieldSpec(paths, mapping.key.split, mapping.key.pattern) if paths else None
    return dataclasses.replace(mapping, fields=fields, key=key)


@pytest.fixture
def left_out(monkeypatch):
    """Return a function mapping one portal with the tables learned from the other seven."""
    import mappings.extract
    import mappings.infer
    import mappings.spec
    import mappings.values

    def run(name: str):
        names, values = unique_to(name)
        table = reduced_synonyms(names)
        vocab = reduced_vocabulary(values)
        for module in (mappings.extract, mappings.infer, mappings.spec):
            monkeypatch.setattr(module, "synonyms", lambda: table)
        monkeypatch.setattr(mappings.values, "vocabulary", lambda: vocab)
        mappings.values.theme_labels.cache_clear()
        mapping = reduced_mapping(names)
        _, source, jurisdiction = PORTALS[name]
        path = shared_path("data", "catalogs", f"{name}.json")
        records = read_records(path.read_bytes(), path.name, source, mapping=mapping)
        result = apply_mapping(records, mapping, BASE, jurisdiction=jurisdiction)
        mappings.values.theme_labels.cache_clear()
        return records, result, (names, values)

    yield run
    mappings.values.theme_labels.cache_clear()


# Words saying "none" (暂无, 无 …) with the full tables: what a record holds does not depend on what we left out.
EMPTY = frozenset(w for w in vocabulary()["empty_words"])


def has_value(record: dict, paths: tuple[str, ...]) -> bool:
    """Tell whether a record holds a value in one of the portal's own fields for a target (not 暂无, '[]')."""
    for path in paths:
        found = [w for w in split_values(record.get(path), SEPARATORS) if word_key(w) not in EMPTY]
        if found:
            return True
    return False


def no_open_type(name: str, record: dict, paths: tuple[str, ...]) -> list[str]:
    """Return the texts of a record's open-type field when, read by hand (NOT_OPEN_TYPES), none is an open type."""
    found = [record[p] for p in paths if isinstance(record.get(p), str) and record[p].strip()]
    listed = NOT_OPEN_TYPES.get(name, {})
    return found if found and all(v in listed for v in found) else []


def open_conditions(graphs: dict) -> dict[str, list[str]]:
    """Return each dataset's wodp:openCondition texts."""
    return {uri: [t.object.value for t in triples if t.subject.value == uri and t.predicate == WODP.openCondition]
            for uri, triples in graphs.items()
            if any(t.predicate == WODP.openCondition for t in triples)}


def own_paths(name: str) -> dict[str, tuple[str, ...]]:
    """Return the portal's own fields for publisher, theme and open type (its mapping file)."""
    mapping = load_mapping(PORTALS[name][0])
    return {t: mapping.fields[t].paths if t in mapping.fields else () for t in CHECKED}


_FIGURES: dict[str, dict] = {}


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_portal_left_out_is_published_under_the_external_profile(name, left_out):
    from publish.gate import Publisher
    from shapes.validate import get_validator

    records, result, (names, values) = left_out(name)
    assert result.records == len(raw(name)) == len(records)
    # no record lost: every record not an exact duplicate is a dataset of its own, even where keys collide
    # (china-portal keys shanghai by its detail URL, which its crawler repeated on every record)
    assert len(result.graphs) == len(records) - len(result.duplicates) == len(set(result.origins.values()))
    if name == "shanghai_shanghai":
        assert list(result.key_collisions.values()) == [2234]
    gate = Publisher(None, None, get_validator("pyshacl"), batch_validator=get_validator("pyrudof"))
    reports = gate.reports(result.graphs, "external")
    having = {uri: {t.predicate for t in triples if t.subject.value == uri} for uri, triples in result.graphs.items()}
    paths = own_paths(name)
    good, lacking = 0, Counter()
    conditions = open_conditions(result.graphs)
    for record in records:
        uri = result.origins[record.origin]
        texts = no_open_type(name, record.fields, paths["open_type"])
        checked = {t: p for t, p in CHECKED.items() if not (texts and t == "open_type")}
        missing = [t for t, p in checked.items() if has_value(record.fields, paths[t]) and p not in having[uri]]
        if texts:   # the source names no open type: its text is carried as given, and no open type is guessed
            missing += [] if conditions.get(uri) == texts else ["open_condition"]
            missing += ["guessed_open_type"] if WODP.openType in having[uri] else []
        lacking.update(missing)
        lacking.update(["violation"] if not reports[uri].conforms else [])
        good += reports[uri].conforms and not missing
    share = good / len(records)
    ours = sum(1 for r in records if any(t.predicate == DCAT.theme and t.object.value.startswith(BASE + "/def/theme/")
                                         for t in result.graphs[result.origins[r.origin]]))
    _FIGURES[name] = figures = {
        "records": len(records), "datasets": len(result.graphs), "passing": good, "share": round(share, 4),
        "lacking": dict(lacking), "with_our_theme": ours, "left_out_names": sorted(names), "left_out_words": len(values),
        "unplaced": result.unplaced_fields,
        "unknown": {f: dict(Counter(v).most_common(5)) for f, v in result.unknown_values.items()},
        "inferred": sorted(p.message for p in result.problems if p.kind == "inferred-field"),
        "collisions": result.key_collisions,
        "open_conditions": sum(1 for record in records if no_open_type(name, record.fields, paths["open_type"])),
    }
    print(name, json.dumps(figures, ensure_ascii=False))
    assert share >= NEEDED[name], figures
    if name in NOT_OPEN_TYPES:  # every text that names no open type is carried, and reported as unknown
        field = paths["open_type"][0]
        held = Counter(r[field] for r in raw(name) if r.get(field) in NOT_OPEN_TYPES[name])
        assert set(held) == set(NOT_OPEN_TYPES[name])   # the list names only values the data holds
        assert sum(held.values()) == figures["open_conditions"]
        assert {result.origins[r.origin] for r in records if no_open_type(name, r.fields, paths["open_type"])} <= set(
            conditions)
        unknown = result.unknown_values.get(field, {})
        assert all(unknown.get(v) for v in held if "/" not in v), unknown
    if name == "jiangxi_jiangxi":   # no description at the source: a warning on every dataset, nothing invented
        warned = [uri for uri, r in reports.items()
                  if any(f.severity == "Warning" and f.path == DCT.description.value for f in r.findings)]
        assert len(warned) == len(reports) == len(raw(name))


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_no_dataset_is_attributed_to_a_wuhan_department(name, left_out):
    _, result, _ = left_out(name)
    publishers = {t.object.value for triples in result.graphs.values() for t in triples
                  if t.predicate == DCT.publisher}
    assert publishers and not any(p.startswith(DEPARTMENTS) for p in publishers)
    # each publisher is an organisation of the portal's own jurisdiction, named as the source names it
    jurisdiction = PORTALS[name][2]
    assert all(p.startswith(f"{BASE}/def/org/{jurisdiction}/") for p in publishers)


@pytest.mark.parametrize("name", sorted(PORTALS))
def test_unplaced_fields_and_unknown_values_are_listed_with_counts(name, left_out):
    records, result, _ = left_out(name)
    unique = {r.origin: r for r in records if result.origins[r.origin] and r.origin not in
              {dropped for _, dropped in result.duplicates}}
    for field, count in result.unplaced_fields.items():
        having = sum(1 for r in unique.values() if r.fields.get(field) not in (None, "", [], {}))
        assert 0 < count <= having, field
    reported = {p.field for p in result.problems if p.kind == "unplaced-field"}
    assert reported == set(result.unplaced_fields)
    # every field of the file is placed by a name, inferred (and reported) or listed as unplaced
    used = {p.field for p in result.problems if p.kind == "inferred-field"}
    mapping = reduced_mapping(unique_to(name)[0])
    named = {bare_name(p) for spec in mapping.fields.values() for p in spec.paths} | set(
        reduced_synonyms(unique_to(name)[0]))
    for field in {f for r in unique.values() for f, v in r.fields.items() if v not in (None, "", [], {})}:
        assert bare_name(field) in named or field in used or field in result.unplaced_fields, field
    # unknown values: counted per source field, the same counts as the problems reported
    counted = Counter((p.field, p.value) for p in result.problems if p.kind == "unknown-value")
    assert {(f, v): n for f, vs in result.unknown_values.items() for v, n in vs.items()} == dict(counted)
