"""Answer POST /api/validate: metadata in (RDF or a record file through a mapping), a SHACL report out."""

from __future__ import annotations

import html
import json
from pathlib import PurePath

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request

from access.accounts import coded_department
from access.roles import Action
from harvesters.figures import Figures, held_reasons
from publish.gate import report_to_json
from publish.screen import TextLimits, screen
from shapes.report import ValidationReport
from core.errors import BadRequestError, NotAcceptableError
from sparql.formats import parse_accept
from sparql.loader import parse_rdf, split_datasets
from server.auth import authorize, require

bp = Blueprint("validation", __name__)

RDF_TYPES = {
    "text/turtle": ox.RdfFormat.TURTLE, "application/x-turtle": ox.RdfFormat.TURTLE,
    "application/ld+json": ox.RdfFormat.JSON_LD, "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/n-triples": ox.RdfFormat.N_TRIPLES, "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/trig": ox.RdfFormat.TRIG,
}
RDF_SUFFIXES = {"ttl": ox.RdfFormat.TURTLE, "jsonld": ox.RdfFormat.JSON_LD, "rdf": ox.RdfFormat.RDF_XML,
                "owl": ox.RdfFormat.RDF_XML, "nt": ox.RdfFormat.N_TRIPLES, "nq": ox.RdfFormat.N_QUADS,
                "trig": ox.RdfFormat.TRIG}
RECORD_SUFFIXES = ("csv", "xlsx", "json", "xml")
RECORD_TYPES = {"text/csv": "csv", "application/json": "json", "application/xml": "xml", "text/xml": "xml",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
SH = "http://www.w3.org/ns/shacl#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
DCAT_DATASET = "http://www.w3.org/ns/dcat#Dataset"


def _platform():
    return current_app.extensions["wodp"]


def _input() -> tuple[bytes, str, str | None]:
    """Return (bytes, file name, mapping name) from a raw body or a multipart upload."""
    mapping = request.args.get("mapping") or request.form.get("mapping") or None
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise BadRequestError("no file in the upload; send it in the form field 'file'")
        return upload.read(), PurePath(upload.filename).name, mapping
    # the first suffix of a format names the body (.rdf, not .owl, for RDF/XML)
    suffix = {v: k for k, v in reversed(RDF_SUFFIXES.items())}.get(RDF_TYPES.get(request.mimetype), None)
    suffix = suffix or RECORD_TYPES.get(request.mimetype)
    if suffix is None:
        raise BadRequestError(
            f"unsupported Content-Type {request.mimetype or '(none)'}: send Turtle, JSON-LD, RDF/XML, "
            "N-Triples, or a CSV/XLSX/JSON/XML record file with ?mapping=NAME",
            status=415, code="unsupported-media-type")
    return request.get_data(), f"request-body.{suffix}", mapping


def graphs_from_upload(data: bytes, name: str, mapping: str | None, base_uri: str,
                       max_bytes: int = 100 * 1024 * 1024, source: str = "upload",
                       jurisdiction: str | None = None, limits=None) -> tuple[dict, list]:
    """Turn an upload into dataset graphs; return (graphs, mapping problems)."""
    graphs, problems, _ = read_upload(data, name, mapping, base_uri, max_bytes, source, jurisdiction=jurisdiction,
                                      limits=limits)
    return graphs, problems


def read_upload(data: bytes, name: str, mapping: str | None, base_uri: str,
                max_bytes: int = 100 * 1024 * 1024, source: str = "upload",
                jurisdiction: str | None = None, limits=None) -> tuple[dict, list, Figures]:
    """Turn an upload into dataset graphs; return (graphs, mapping problems, figures of what was read).

    ``jurisdiction`` is the records' administrative division code (docs/sources.md); None: the mapping's.
    ``limits`` are settings input_limits (core.bounded), checked before any parser sees the bytes.
    """
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not data.strip():
        raise BadRequestError(f"{name}: the file is empty")
    figures = Figures()
    if suffix in RDF_SUFFIXES and not (suffix == "json" and mapping):
        graphs = split_datasets(parse_rdf(data, RDF_SUFFIXES[suffix], name, base_iri=base_uri + "/", limits=limits))
        if not graphs:
            raise BadRequestError(f"{name}: no dcat:Dataset found")
        figures.add_graphs(len(graphs))
        return graphs, [], figures
    if suffix in RECORD_SUFFIXES:
        if not mapping:
            raise BadRequestError(f"{name}: a record file needs ?mapping=NAME (see GET /api/mappings)")
        from mappings import apply_mapping, load_mapping, read_records

        try:
            spec = load_mapping(mapping)
        except (KeyError, FileNotFoundError):
            raise BadRequestError(f"unknown mapping {mapping!r}; see GET /api/mappings") from None
        result = apply_mapping(read_records(data, name, source, mapping=spec, max_bytes=max_bytes, limits=limits),
                               spec, base_uri, jurisdiction=jurisdiction)
        if not result.graphs:
            raise BadRequestError(f"{name}: no record found through mapping {mapping!r}")
        figures.add_mapping(result)
        return result.graphs, list(result.problems), figures
    raise BadRequestError(f"{name}: unknown format .{suffix}; use .ttl .jsonld .rdf .nt or .csv .xlsx .json .xml")


def validate_graphs(validator, graphs: dict, profile: str, figures: Figures,
                    limits: TextLimits | None = None) -> tuple[ValidationReport, dict]:
    """Validate each dataset as the gate would; return the merged report and the figures (valid, held counts).

    A dataset the gate refuses before validation (text XML cannot carry, a literal over its limit) gets the
    gate's report, as a push or a harvest of it would.
    """
    refused = screen(graphs, limits or TextLimits(), profile)
    reports = [refused.get(uri) or validator.validate(list(t), profile=profile) for uri, t in graphs.items()]
    held = 0
    for uri, report in zip(graphs, reports):
        if not report.conforms:  # counted as the harvest counts: reasons of the held, warnings of the published
            figures.add_held(report_to_json(report))
            held += 1
        elif report.count("Warning"):
            figures.add_warned(uri, report_to_json(report))
    return merge_reports(reports), {**figures.as_json(), "valid": len(reports) - held, "held": held}


def merge_reports(reports: list[ValidationReport]) -> ValidationReport:
    findings = tuple(f for r in reports for f in r.findings)
    first = reports[0] if reports else ValidationReport()
    return ValidationReport(findings, first.engine, first.profile)


def report_triples(report: ValidationReport) -> list[ox.Triple]:
    """Write the report as a sh:ValidationReport graph."""
    node = ox.BlankNode()
    sh = lambda name: ox.NamedNode(SH + name)  # noqa: E731
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    out = [ox.Triple(node, rdf_type, sh("ValidationReport")),
           ox.Triple(node, sh("conforms"), ox.Literal("true" if report.conforms else "false",
                                                      datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#boolean")))]
    for f in report.findings:
        result = ox.BlankNode()
        focus = ox.BlankNode(f.focus[2:]) if f.focus.startswith("_:") else ox.NamedNode(f.focus)
        out += [ox.Triple(node, sh("result"), result), ox.Triple(result, rdf_type, sh("ValidationResult")),
                ox.Triple(result, sh("focusNode"), focus),
                ox.Triple(result, sh("resultSeverity"), sh(f.severity)),
                ox.Triple(result, sh("sourceConstraintComponent"), ox.NamedNode(f.constraint)),
                ox.Triple(result, sh("resultMessage"), ox.Literal(f.message_zh, language="zh-CN")),
                ox.Triple(result, sh("resultMessage"), ox.Literal(f.message_en, language="en"))]
        if f.path and f.path.startswith("http"):
            out.append(ox.Triple(result, sh("resultPath"), ox.NamedNode(f.path)))
        if f.shape.startswith("http"):
            out.append(ox.Triple(result, sh("sourceShape"), ox.NamedNode(f.shape)))
    return out


@bp.post("/api/validate")
def validate():
    """Validate uploaded metadata against a profile and answer the report (in a sandbox worker)."""
    platform = _platform()
    data, name, mapping = _input()
    report, datasets, problems, counted = isolated(
        validate_upload, data, name, mapping, platform.settings.base_uri, platform.settings.server.max_request_bytes,
        request.args.get("jurisdiction"), request.args.get("profile", "wuhan"), platform.settings.input_limits,
        platform.publisher.limits if platform.publisher is not None else None, what="the upload")
    return _render(report, datasets, problems, counted)


def validate_upload(data: bytes, name: str, mapping: str | None, base_uri: str, max_bytes: int,
                    jurisdiction: str | None, profile: str, limits=None,
                    text_limits: TextLimits | None = None) -> tuple[ValidationReport, int, list, dict]:
    """Read an upload and validate it: (report, datasets, mapping problems, figures); a sandbox task."""
    graphs, problems, figures = read_upload(data, name, mapping, base_uri, max_bytes, jurisdiction=jurisdiction,
                                            limits=limits)
    report, counted = validate_graphs(upload_validator(), graphs, profile, figures, text_limits)
    return report, len(graphs), problems, counted


def upload_validator():
    """The validator of single uploads: the gate's engine (pyrudof, else pySHACL), shared in this process."""
    from shapes.errors import EngineUnavailableError
    from shapes.validate import get_validator

    try:
        return get_validator("pyrudof")
    except EngineUnavailableError:
        return get_validator("pyshacl")


def warm_up() -> None:
    """Parse the shapes and the mappings once, so that a sandbox worker answers its first upload quickly."""
    import openpyxl  # noqa: F401 - read XLSX uploads without a first-time import

    from mappings import available_mappings, load_mapping

    dataset = ox.NamedNode("urn:wodp:warm-up")
    upload_validator().validate([ox.Triple(dataset, ox.NamedNode(RDF_TYPE), ox.NamedNode(DCAT_DATASET))],
                                profile="wuhan")
    for name in available_mappings():
        load_mapping(name)


def isolated(function, *args, what: str, **kwargs):
    """Run a request's heavy work in the platform's sandbox; it is stopped when the client goes away."""
    from server.disconnect import client_gone

    sandbox = _platform().sandbox
    if sandbox is None:  # a platform made without Platform.open (tests)
        return function(*args, **kwargs)
    return sandbox.run(function, *args, what=what, gone=client_gone(request.environ), **kwargs)


def graphs_to_ntriples(graphs: dict) -> dict[str, bytes]:
    """Write dataset graphs as N-Triples, one document per dataset (how graphs leave a sandbox worker)."""
    return {uri: ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) for uri, triples in graphs.items()}


def graphs_from_ntriples(documents: dict[str, bytes]) -> dict[str, list[ox.Triple]]:
    """Read dataset graphs written by graphs_to_ntriples."""
    return {uri: [q.triple for q in ox.parse(data, ox.RdfFormat.N_TRIPLES)] for uri, data in documents.items()}


def _render(report: ValidationReport, datasets: int, problems: list, figures: dict) -> Response:
    for media, _q in parse_accept(request.headers.get("Accept")):
        if media in ("application/json", "*/*", "application/*"):
            body = report_to_json(report) | {"datasets": datasets, **figures,
                                             "mapping_problems": [p.__dict__ for p in problems]}
            return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")
        if media in ("text/turtle", "application/n-triples"):
            fmt = ox.RdfFormat.TURTLE if media == "text/turtle" else ox.RdfFormat.N_TRIPLES
            prefixes = {"sh": SH} if fmt == ox.RdfFormat.TURTLE else None
            return Response(ox.serialize(report_triples(report), format=fmt, prefixes=prefixes),
                            content_type=media + "; charset=utf-8")
        if media == "text/html":
            return Response(_html(report, datasets, problems, figures), mimetype="text/html")
    raise NotAcceptableError("offered: application/json, text/turtle, application/n-triples, text/html")


def _html(report: ValidationReport, datasets: int, problems: list, figures: dict) -> str:
    rows = "".join(
        f"<tr class='{html.escape(f.severity.lower())}'><td>{html.escape(f.severity)}</td>"
        f"<td><code>{html.escape(f.focus)}</code></td><td><code>{html.escape(f.path or '')}</code></td>"
        f"<td>{html.escape(f.message_zh)}<br><small>{html.escape(f.message_en)}</small></td></tr>"
        for f in report.findings)
    verdict = "通过 / conforms" if report.conforms else "未通过 / does not conform"
    extra = "".join(f"<li>{html.escape(p.message)}</li>" for p in problems)
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>校验报告 / Validation report</title>"
        "<link rel='stylesheet' href='/static/portal.css'></head><body><main class='validation-report'>"
        f"<h1>校验报告 / Validation report</h1><p id='verdict'>{verdict}</p>"
        f"<p>数据集 / datasets: <span id='datasets'>{datasets}</span> · 违规 / violations: "
        f"<span id='violations'>{report.count('Violation')}</span> · 警告 / warnings: "
        f"<span id='warnings'>{report.count('Warning')}</span></p>{_html_figures(figures)}"
        "<table><thead><tr><th>级别</th><th>对象</th><th>属性</th><th>说明</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{'<ul>' + extra + '</ul>' if extra else ''}</main></body></html>")


def _html_figures(figures: dict) -> str:
    """Write the figures of a validation (records, valid, held, unplaced fields, unknown values) as HTML."""
    esc = html.escape
    unplaced = ", ".join(f"{esc(k)} ({n})" for k, n in figures["unplaced_fields"].items()) or "—"
    unknown = "; ".join(f"{esc(field)}: " + ", ".join(f"{esc(v)} ({n})" for v, n in values.items())
                        for field, values in figures["unknown_values"].items()) or "—"
    warned = "; ".join(f"{esc(k['message_zh'] or k['message_en'])} ({k['datasets']})"
                       for k in figures.get("warning_kinds", ())) or "—"
    return (f"<p id='figures'>记录 / records read: {figures['records_read']} · 映射 / mapped: {figures['mapped']} · "
            f"通过 / valid: {figures['valid']} · 未通过 / held: {figures['held']} · 键冲突 / key collisions: "
            f"{figures['key_collisions']}</p><p>未映射字段 / unplaced fields: {unplaced}</p>"
            f"<p>未识别的值 / unknown values: {unknown}</p>"
            f"<p id='warning-kinds'>警告（通过的数据集）/ warnings of the valid datasets: {warned}</p>")


@bp.get("/api/quarantine")
@require(Action.READ_MANAGEMENT, department=lambda: request.args.get("department"))
def quarantine_list():
    """List the datasets held back by validation (?department=D012 for one department: a publisher's own)."""
    held = _platform().quarantine.list(request.args.get("department"))
    figures = Figures()
    items = []
    for m in held:
        figures.add_held(m["report"])
        items.append({"id": m["id"], "uri": m["uri"], "department": m.get("department"), "source": m.get("source"),
                      "held_at": m["held_at"], "violations": m["report"].get("violations"),
                      "warnings": m["report"].get("warnings"),
                      "reasons": [{"path": p, "message_en": en, "message_zh": zh}
                                  for p, en, zh in sorted(held_reasons(m["report"]))]})
    body = {"total": len(items), "reasons": figures.as_json()["held_reasons"], "held": items}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@bp.get("/api/quarantine/<dataset_id>")
def quarantine_item(dataset_id: str):
    """Show why one dataset is held back: its full validation report."""
    from core.errors import NotFoundError
    from core.identifiers import is_dataset_id

    held = _platform().quarantine.get(dataset_id) if is_dataset_id(dataset_id) else None
    if held is None:
        authorize(Action.READ_MANAGEMENT, coded_department(dataset_id))  # only staff learn it is not held
        raise NotFoundError(f"no dataset {dataset_id!r} is held back")
    authorize(Action.READ_MANAGEMENT, held.department)
    body = {"id": held.id, "uri": held.uri, "department": held.department, "source": held.source,
            "held_at": held.held_at, "report": held.report}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def department_scores(store) -> list[dict]:
    """Return each department's mean quality score over its measured datasets."""
    from sparql.saved import saved_queries

    rows = store.query(saved_queries()["department-quality"])
    return [{"department": row["department"].value.rsplit("/", 1)[-1], "uri": row["department"].value,
             "score": round(float(row["score"].value), 1), "datasets": int(row["datasets"].value)}
            for row in rows]


@bp.get("/api/quality")
@require(Action.READ_MANAGEMENT)
def quality():
    """Answer the quality score of every department (mean of its datasets' scores)."""
    scores = department_scores(_platform().store)
    return Response(json.dumps({"departments": scores}, ensure_ascii=False), mimetype="application/json")


@bp.get("/api/mappings")
def mappings_list():
    """List the mapping names a record file can be validated through."""
    from mappings import available_mappings

    return Response(json.dumps({"mappings": available_mappings()}), mimetype="application/json")
