"""Turn engine results into Findings: the same focus, path, constraint and severity text for every engine."""

from __future__ import annotations

import rdflib

from shapes.profiles import SH, shape_texts
from shapes.report import INFO, VIOLATION, WARNING, Finding

SEVERITIES = {SH + "Violation": VIOLATION, SH + "Warning": WARNING, SH + "Info": INFO,
              "Violation": VIOLATION, "Warning": WARNING, "Info": INFO}

# Chinese wording per constraint component, for shapes that carry no Chinese message (the official files).
_ZH = {
    "MinCountConstraintComponent": "缺少必需的属性 {path}",
    "MaxCountConstraintComponent": "属性 {path} 的值过多",
    "ClassConstraintComponent": "属性 {path} 的值 {value} 类型不符",
    "DatatypeConstraintComponent": "属性 {path} 的值 {value} 数据类型不符",
    "NodeKindConstraintComponent": "属性 {path} 的值 {value} 节点种类不符",
    "PatternConstraintComponent": "属性 {path} 的值 {value} 格式不符",
    "InConstraintComponent": "属性 {path} 的值 {value} 不在允许的取值中",
    "HasValueConstraintComponent": "属性 {path} 缺少要求的值",
    "OrConstraintComponent": "属性 {path} 的值 {value} 不满足任一允许的形式",
    "NodeConstraintComponent": "属性 {path} 的值 {value} 不符合要求的形状",
    "QualifiedMinCountConstraintComponent": "属性 {path} 缺少符合要求的值",
    "LanguageInConstraintComponent": "属性 {path} 的值 {value} 语言不符",
}


def finding(focus: str, path: str | None, constraint: str, severity: str, shape: str,
            engine_message: str, value: str | None) -> Finding:
    """Build one Finding, taking its messages from our shape when it has them."""
    text = shape_texts().get(shape)
    if text and text.message_en:
        zh, en = text.message_zh or text.message_en, text.message_en
    else:
        local = constraint.rsplit("#", 1)[-1]
        where = path or focus
        zh = _ZH.get(local, "约束 {constraint} 未满足（属性 {path}）").format(
            path=where, value=value or "", constraint=local)
        en = engine_message or f"{local} not satisfied on {where}"
    return Finding(focus, path, constraint, SEVERITIES.get(severity, severity), shape, zh, en, value)


def node_text(node) -> str:
    """Return an rdflib node as the report's text: an IRI plain, a blank node as _:id, a literal as N-Triples."""
    if isinstance(node, rdflib.URIRef):
        return str(node)
    if isinstance(node, rdflib.BNode):
        return f"_:{node}"
    return node.n3()


def path_text(graph: rdflib.Graph, path) -> str | None:
    """Return a property path: its IRI when it is one predicate, else SPARQL path syntax."""
    if path is None:
        return None
    if isinstance(path, rdflib.URIRef):
        return str(path)
    inverse = graph.value(path, rdflib.URIRef(SH + "inversePath"))
    if inverse is not None:
        return "^" + _wrapped(graph, inverse)
    alternative = graph.value(path, rdflib.URIRef(SH + "alternativePath"))
    if alternative is not None:
        return "(" + "|".join(_wrapped(graph, p) for p in rdflib.collection.Collection(graph, alternative)) + ")"
    if graph.value(path, rdflib.RDF.first) is not None:
        return "/".join(_wrapped(graph, p) for p in rdflib.collection.Collection(graph, path))
    return f"_:{path}"


def _wrapped(graph: rdflib.Graph, path) -> str:
    text = path_text(graph, path) or ""
    return f"<{text}>" if isinstance(path, rdflib.URIRef) else text


def pyshacl_findings(report: rdflib.Graph) -> list[Finding]:
    """Read the sh:result nodes of a pySHACL report graph."""
    sh = rdflib.Namespace(SH)
    out = []
    for result in report.subjects(rdflib.RDF.type, sh.ValidationResult):
        if (None, sh.detail, result) in report:
            continue
        value = report.value(result, sh.value)
        shape = report.value(result, sh.sourceShape)
        messages = [str(m) for m in report.objects(result, sh.resultMessage)]
        out.append(finding(
            node_text(report.value(result, sh.focusNode)),
            path_text(report, report.value(result, sh.resultPath)),
            str(report.value(result, sh.sourceConstraintComponent)),
            str(report.value(result, sh.resultSeverity)),
            node_text(shape) if shape is not None else "",
            "; ".join(sorted(messages)),
            node_text(value) if value is not None else None,
        ))
    return out
