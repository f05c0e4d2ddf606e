"""Each dataset's OpenAPI 3.0 document (its tables' columns as parameters) and the call examples of its page."""

from __future__ import annotations

from access.policy import OpenType
from tabular.datastore import Manifest, StoredTable
from tabular.query import MAX_PAGE_SIZE, OPERATORS, RESERVED, type_name

PROBLEM = {"$ref": "#/components/responses/Problem"}
_SCHEMAS = {"integer": {"type": "integer", "format": "int64"}, "number": {"type": "number"},
            "date": {"type": "string", "format": "date"}, "date-time": {"type": "string", "format": "date-time"},
            "boolean": {"type": "boolean"}, "string": {"type": "string"}}
ORDERED = ("integer", "number", "date", "date-time", "string")


def column_parameters(manifest: Manifest) -> list[dict]:
    """One query parameter per column and operator (the columns of every table; a column in several tables
    once, with the type of the first)."""
    seen: dict[str, tuple[str, list[str]]] = {}
    for table in manifest.tables:
        for name, kind in table.columns:
            if table.geometry == name:
                continue
            seen.setdefault(name, (type_name(kind), []))[1].append(table.name)
    params = []
    for name, (kind, tables) in seen.items():
        where = "" if len(tables) == len(manifest.tables) else f" (tables {', '.join(tables)})"
        schema = _SCHEMAS[kind]
        equal = f"{name}__eq" if name in RESERVED else name
        zh_where = "" if len(tables) == len(manifest.tables) else f"（数据表 {'、'.join(tables)}）"
        params.append(_param(equal, schema, f"{name} equals this value{where}", f"{name} 等于此值{zh_where}"))
        if kind in ORDERED:
            for op in ("gt", "gte", "lt", "lte"):
                params.append(_param(f"{name}__{op}", schema, f"{name} {OPERATORS[op]} this value{where}",
                                     f"{name} {OPERATORS[op]} 此值{zh_where}"))
        params.append(_param(f"{name}__in", {"type": "string"},
                             f"{name} is one of these comma-separated values{where}",
                             f"{name} 为这些值之一（以逗号分隔）{zh_where}"))
        params.append(_param(f"{name}__contains", {"type": "string"},
                             f"{name}, as text, contains this text{where}", f"{name} 的文字包含此文字{zh_where}"))
    return params


def _param(name: str, schema: dict, description: str, zh: str) -> dict:
    """A query parameter; its Chinese description in the extension field x-description-zh (the docs page's)."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description,
            "x-description-zh": zh}


RECORD = {"type": "object", "additionalProperties": True}
ROWS = {"type": "object", "required": ["dataset", "table", "fields", "total", "page", "page_size", "pages", "records",
                                       "links"], "properties": {
    "dataset": {"type": "string"}, "table": {"type": "string"}, "title": {"type": "string"},
    "fields": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}}}},
    "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"},
    "pages": {"type": "integer"}, "records": {"type": "array", "items": RECORD},
    "links": {"type": "object", "properties": {k: {"type": "string", "nullable": True}
                                                for k in ("self", "next", "prev")}}}}


def common_parameters(manifest: Manifest, formats: list[str]) -> list[dict]:
    """The parameters every table takes: table, fields, sort, page, page_size, format."""
    names = [t.name for t in manifest.tables]
    fields = sorted({n for t in manifest.tables for n, _ in t.columns})
    return [
        _param("table", {"type": "string", "enum": names}, f"the table (default {names[0]})",
               f"数据表（默认 {names[0]}）"),
        _param("fields", {"type": "string"}, "comma-separated fields to answer, in this order; fields: "
               + ", ".join(fields), "返回的字段，以逗号分隔，按此顺序；字段：" + "、".join(fields)),
        _param("sort", {"type": "string"}, "comma-separated fields to sort by; -field sorts descending",
               "排序字段，以逗号分隔；-字段 为降序"),
        _param("page", {"type": "integer", "minimum": 1, "maximum": 1000000000, "default": 1}, "page number",
               "页码"),
        _param("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50},
               "rows per page", "每页行数"),
        _param("format", {"type": "string", "enum": formats}, "answer format (else by Accept; default json)",
               "返回格式（否则按 Accept；默认 json）"),
    ]


def openapi_document(base: str, dataset_id: str, title: str, manifest: Manifest, open_type: OpenType) -> dict:
    """Build the dataset's OpenAPI 3.0.3 document."""
    formats = ["json", "csv"] + (["geojson"] if any(t.spatial for t in manifest.tables) else [])
    keyed = open_type is OpenType.CONDITIONAL
    security = [{"bearer": []}, {"apiKey": []}] if keyed else [{}, {"bearer": []}, {"apiKey": []}]
    content = {"application/json": {"schema": ROWS}, "text/csv": {"schema": {"type": "string"}}}
    if "geojson" in formats:
        content["application/geo+json"] = {"schema": {"type": "object", "required": ["type", "features"],
                                                      "properties": {"type": {"type": "string"},
                                                                     "features": {"type": "array"}}}}
    errors = {str(s): PROBLEM for s in (400, 401, 403, 404, 429, 503)}
    access = {OpenType.UNCONDITIONAL: "无条件开放: anyone may call it, without a key.",
              OpenType.CONDITIONAL: "有条件开放: only with an API key granted for this dataset "
                                    "(apply on the dataset page).",
              OpenType.UNDECLARED: "open type not declared."}.get(open_type, "")
    access_zh = {OpenType.UNCONDITIONAL: "无条件开放：任何人均可调用，无需密钥。",
                 OpenType.CONDITIONAL: "有条件开放：仅限获批本数据集的 API 密钥（在数据集页面申请）。",
                 OpenType.UNDECLARED: "未声明开放类型。"}.get(open_type, "")
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{title} — 数据接口 (data API)", "version": manifest.loaded,
                 "x-description-zh": f"数据集 {dataset_id} 各数据表的行，可筛选、排序、分页。{access_zh}筛选：字段=值、"
                                     "字段__gt|gte|lt|lte=值、字段__in=a,b、字段__contains=文字。"
                                     "错误以 application/problem+json 返回。",
                 "description": f"Rows of the tabular files of dataset {dataset_id}, filtered, sorted and paged. "
                                f"{access} Filters: FIELD=value, FIELD__gt|gte|lt|lte=value, FIELD__in=a,b, "
                                f"FIELD__contains=text. Errors are application/problem+json."},
        "servers": [{"url": base}],
        "paths": {
            f"/api/data/{dataset_id}": {"get": {
                "operationId": "rows", "summary": "Rows of a table", "security": security,
                "parameters": common_parameters(manifest, formats) + column_parameters(manifest),
                "responses": {"200": {"description": "a page of rows", "content": content}, **errors}}},
            f"/api/data/{dataset_id}/tables": {"get": {
                "operationId": "tables", "summary": "The dataset's tables and their typed columns",
                "responses": {"200": {"description": "the tables", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["dataset", "tables"], "properties": {
                        "dataset": {"type": "string"}, "tables": {"type": "array", "items": RECORD}}}}}},
                    **{s: PROBLEM for s in ("403", "404", "503")}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"}},
            "responses": {"Problem": {"description": "an error (RFC 9457)", "content": {
                "application/problem+json": {"schema": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}}}}}}},
        },
    }


def examples(base: str, dataset_id: str, table: StoredTable, open_type: OpenType) -> dict:
    """curl and Python calls of the dataset's data API (a filter on a column of the first table)."""
    url = f"{base}/api/data/{dataset_id}"
    column, kind = next(((n, k) for n, k in table.columns if type_name(k) in ("integer", "number")),
                        table.columns[0] if table.columns else ("", "VARCHAR"))
    keyed = open_type is OpenType.CONDITIONAL
    header = ' -H "Authorization: Bearer $WODP_API_KEY"' if keyed else ""
    number = type_name(kind) in ("integer", "number")
    param = f"{column}__gte" if number else f"{column}__contains"
    value = "1" if number else "武汉"
    curl = f'curl{header} "{url}?page_size=10&sort={column}"' if column else f'curl{header} "{url}?page_size=10"'
    python = ["import os", "import requests", "",
              f'answer = requests.get("{url}",',
              f'                      params={{"{param}": "{value}", "page_size": 100}},']
    if keyed:
        python.append('                      headers={"Authorization": "Bearer " + os.environ["WODP_API_KEY"]},')
    python += ["                      timeout=30)", "answer.raise_for_status()", "page = answer.json()",
               'print(page["total"], page["records"][:3])']
    if not keyed:
        python.remove("import os")
    return {"curl": curl, "python": "\n".join(python), "url": url, "keyed": keyed}
