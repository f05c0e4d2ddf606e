"""Turn a draft's form values into the china-core record and its dataset graph, and a graph back into values.

The record goes through the same mapping the push API applies to a department's JSON (mappings/china-core.yml),
so a draft published from the workbench is the dataset a push of that record would publish. Validation findings
and mapping problems are placed on the form field they are about (``place``); what concerns no field goes on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from manage.profile_form import FILES, TOP, FormField, field_by_name, field_by_path, form_fields, format_options
from ontology.crs import IRIS, system_name
from ontology.namespaces import DCAT, DCT, VCARD, WODP
from shapes.report import merge_findings

MAPPING = "china-core"
ID_SPACE = "wuhan"  # department records' ids: wuhan.{资源代码} (harvesters/provenance.py DEPARTMENT_ID_SPACE)
# the coordinate systems a data file may declare, as the platform knows them (ontology/crs.py)
CRS_CHOICES = (("CGCS2000", "CGCS2000（EPSG:4490）", "CGCS2000 (EPSG:4490)"),
               ("WGS84", "WGS84（EPSG:4326）", "WGS84 (EPSG:4326)"),
               ("GCJ02", "GCJ-02（国测局/高德坐标）", "GCJ-02 (AMap, Tencent)"),
               ("BD09", "BD-09（百度坐标）", "BD-09 (Baidu)"))
# the data files the workbench takes, by suffix: (format word of mappings/vocabulary.yml, media type)
FILE_KINDS = {"csv": ("csv", "text/csv"),
              "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              "json": ("json", "application/json"), "geojson": ("geojson", "application/geo+json")}


@dataclass(frozen=True)
class AttachedFile:
    """What a record needs of one attached data file."""

    name: str
    media_type: str
    size: int
    crs: str | None  # a system name of CRS_CHOICES, or None for a file without coordinates
    url: str         # where the published file is downloaded


def _spec():
    from mappings import load_mapping

    return load_mapping(MAPPING)


def _listed(value) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    return [str(v).strip() for v in values if str(v).strip()]


def record_of(values: dict, files: list[AttachedFile] = ()) -> dict:
    """Return the china-core record of a draft: each field under the mapping's first source name."""
    spec = _spec()
    record: dict = {}
    for f in form_fields():
        given = _listed(values.get(f.name))
        if not given:
            continue
        words = {o.value: o.record for o in f.options}
        texts = [words.get(v, v) for v in given]  # a value that is no option goes as given: the mapping reports it
        record[spec.fields[f.name].paths[0]] = ",".join(texts) if len(texts) > 1 else texts[0]
    if files:
        d = spec.distribution_fields
        record[spec.distribution_from[0]] = [
            {d["title"].paths[0]: a.name, d["format"].paths[0]: FILE_KINDS[suffix(a.name)][0],
             d["media_type"].paths[0]: a.media_type, d["download_url"].paths[0]: a.url,
             d["byte_size"].paths[0]: str(a.size)} for a in files]
        systems = sorted({a.crs for a in files if a.crs})
        if len(systems) == 1:
            record[spec.fields["source_crs"].paths[0]] = systems[0]
    return record


def suffix(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def dataset_id_of(values: dict) -> str | None:
    """Return the id a new draft's dataset gets (wuhan.{资源代码}), None without a code."""
    code = "".join(_listed(values.get("resource_code"))[:1])
    return f"{ID_SPACE}.{code}" if code else None


def graph_of(values: dict, files: list[AttachedFile], base_uri: str) -> tuple[str | None, list, list]:
    """Map a draft to its dataset graph; return (dataset URI or None, triples, mapping problems)."""
    from mappings import SourceRecord, apply_mapping

    record = record_of(values, files)
    if not record:
        return None, [], []
    result = apply_mapping([SourceRecord(ID_SPACE, None, record, "draft")], _spec(), base_uri)
    if not result.graphs:
        return None, [], list(result.problems)
    uri, triples = next(iter(result.graphs.items()))
    return uri, triples, list(result.problems)


# -- a graph back into the form's values (a change of a published dataset starts from it) ----------------------
def _objects(triples, subject, predicate) -> list:
    return [t.object for t in triples if t.subject == subject and t.predicate == predicate]


def _format_words() -> dict[str, str]:
    import yaml
    from importlib import resources

    words = yaml.safe_load(resources.files("mappings").joinpath("vocabulary.yml").read_text("utf-8"))["formats"]
    known = {o.value for o in format_options()}
    return {eu: word for word, (eu, _m) in words.items() if word in known}


def _text(term) -> str:
    value = term.value
    for prefix in ("mailto:", "tel:"):
        value = value.removeprefix(prefix)
    return value


def values_of(uri: str, triples) -> dict:
    """Return the form's values of a dataset graph; fields it cannot fill stay out (``uncarried`` names them)."""
    node = ox.NamedNode(uri)
    values: dict = {}
    words = _format_words()
    for f in form_fields():
        found = _objects(triples, node, ox.NamedNode(f.path))
        if f.name == "format":
            found = [o for d in found for o in _objects(triples, d, DCT.format)]
            picked = [words[o.value.rsplit("/", 1)[-1]] for o in found if o.value.rsplit("/", 1)[-1] in words]
            values[f.name] = sorted(set(picked))
        elif f.name == "contact":
            parts = [_text(o) for c in found for p in (VCARD.fn, VCARD.hasTelephone, VCARD.hasEmail)
                     for o in _objects(triples, c, p)]
            values[f.name] = " ".join(parts)
        elif f.options:
            picked = [o.value for o in found if isinstance(o, ox.NamedNode) and o.value in {x.value for x in f.options}]
            values[f.name] = picked if f.kind == "multiselect" else "".join(picked[:1])
        elif f.name == "spatial":
            continue  # a box drawn from a geometry is not the text a department typed: left for it to give
        else:
            literals = [o for o in found if isinstance(o, ox.Literal)]
            zh = [o.value for o in literals if (o.language or "").startswith("zh")]
            texts = zh or [o.value for o in literals]
            values[f.name] = "，".join(texts) if f.name == "keyword" else "".join(texts[:1])
    return {k: v for k, v in values.items() if v}


def uncarried(uri: str, triples, values: dict) -> list[FormField]:
    """Return the fields the published graph has a value for that the form's values do not carry."""
    node = ox.NamedNode(uri)
    return [f for f in form_fields() if _objects(triples, node, ox.NamedNode(f.path)) and not values.get(f.name)]


# -- what each field shows (the review's diff) ---------------------------------------------------------------
def shown_values(uri: str | None, triples, lang: str = "zh") -> dict[str, list[str]]:
    """Return field name → the values a reviewer reads (labels of concepts), plus FILES → the data files."""
    if uri is None:
        return {}
    values = values_of(uri, triples)
    out: dict[str, list[str]] = {}
    for f in form_fields():
        labels = {o.value: (o.en if lang == "en" else o.zh) for o in f.options}
        out[f.name] = [labels.get(v, v) for v in _listed(values.get(f.name))]
    node = ox.NamedNode(uri)
    if any(True for _ in _objects(triples, node, DCT.spatial)):
        out["spatial"] = [_spatial_text(triples, node)]
    files = []
    for d in _objects(triples, node, DCAT.distribution):
        urls = _objects(triples, d, DCAT.downloadURL)
        if urls:
            title = "".join(o.value for o in _objects(triples, d, DCT.title)[:1])
            size = "".join(o.value for o in _objects(triples, d, DCAT.byteSize)[:1])
            files.append(f"{title or urls[0].value} ({size} B)" if size else title or urls[0].value)
    crs = [o.value for o in _objects(triples, node, WODP.sourceCRS)]
    out[FILES] = sorted(files) + [f"CRS {system_name(c) or c}" for c in crs]
    return out


def _spatial_text(triples, node) -> str:
    boxes = [o.value for s in _objects(triples, node, DCT.spatial) for o in _objects(triples, s, DCAT.bbox)]
    return boxes[0] if boxes else "(dct:spatial)"


def diff(old: dict[str, list[str]], new: dict[str, list[str]]) -> list[dict]:
    """Compare two shown_values field by field: one row per field that differs (old → new)."""
    names = [f.name for f in form_fields()] + [FILES]
    rows = []
    for name in names:
        before, after = old.get(name, []), new.get(name, [])
        if before != after:
            rows.append({"field": name, "old": before, "new": after,
                         "change": "added" if not before else "removed" if not after else "changed"})
    return rows


# -- findings beside their fields ----------------------------------------------------------------------------
def place(findings: list[dict], problems: list[dict], dataset_uri: str | None) -> dict[str, list[dict]]:
    """Return field name (TOP, FILES) → the findings and mapping problems about it, violations first."""
    by_path, names = field_by_path(), field_by_name()
    placed: dict[str, list[dict]] = {}
    for f in merge_findings(findings):  # one problem of one field said once (several shapes may find it)
        focus, path = f.get("focus") or "", f.get("path") or ""
        if dataset_uri and focus == dataset_uri and path in by_path:
            where = by_path[path].name
        elif dataset_uri and focus == f"{dataset_uri}#contact":
            where = "contact"
        elif dataset_uri and focus.startswith(f"{dataset_uri}#dist"):
            where = FILES
        elif path == WODP.sourceCRS.value:
            where = FILES
        else:
            where = TOP
        placed.setdefault(where, []).append(f)
    for p in problems:
        if p.get("kind") == "missing-field":  # the shapes say it too, beside the field
            continue
        where = p.get("field") if p.get("field") in names else TOP
        placed.setdefault(where, []).append({"severity": "Warning", "message_zh": p.get("message", ""),
                                             "message_en": p.get("message", ""), "value": p.get("value")})
    for where, items in placed.items():
        kept: dict[str, dict] = {}  # the same words said of one field by two shapes: said once, both counted
        for f in sorted(items, key=lambda f: f.get("severity") != "Violation"):
            same = kept.get(f.get("message_zh"))
            if same is None:
                kept[f.get("message_zh")] = f
            else:
                same["sources"] = same.get("sources", 1) + f.get("sources", 1)
        items[:] = list(kept.values())
    return placed


def crs_of(name: str | None) -> str | None:
    """Return a declared system's name (CGCS2000, WGS84, GCJ02, BD09) or None when it is not one of them."""
    system = system_name(name) if name else None
    return system if system in IRIS else None


__all__ = ["AttachedFile", "CRS_CHOICES", "FILE_KINDS", "crs_of", "dataset_id_of", "diff", "graph_of",
           "place", "record_of", "shown_values", "uncarried", "values_of"]
