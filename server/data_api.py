"""The data API: the rows of every dataset's tabular files, filtered, sorted, paged (docs/data-api.md).

    GET /api/data/{id}                 rows of the first table (?table=NAME another), JSON, CSV or GeoJSON
    GET /api/data/{id}/tables          the dataset's tables: rows, bytes, typed columns, spatial, source, loaded
    GET /api/data/{id}/openapi.json    the dataset's OpenAPI 3 document (its columns as parameters)
    GET /api/data/{id}/docs            that document as a page of the portal

Tables come from the data API's store (tabular/datastore.py), loaded at publication (server/data_loading.py);
queries are built by tabular/query.py. The rows are the data: ``require_data`` decides who reads them (the open
type) and counts a key's quota. The tables, the document and its page describe the data and are open to anyone
but for a 不予开放 dataset (403).
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from access.policy import ANONYMOUS, OpenType, may_read_data
from core.errors import NotFoundError, WodpError
from core.identifiers import is_dataset_id
from server import http
from server.access_guard import API_KEY_PARAM, dataset_access, require_data
from tabular.datastore import Manifest, StoredTable
from tabular.query import QueryError, json_value, pages, parse_query, run_query, text_value

bp = Blueprint("data_api", __name__)
FORMATS = {"json": "application/json", "csv": "text/csv", "geojson": "application/geo+json"}


class DataRefused(WodpError):
    status = 403
    code = "not-open"


class NotLoadedYet(WodpError):
    status = 503
    code = "not-loaded"
    retry_after = 10  # the writer loads it meanwhile


def _platform():
    return current_app.extensions["wodp"]


def _uri(platform, dataset_id: str) -> str:
    if not is_dataset_id(dataset_id):
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    uri = platform.dataset_uri(dataset_id)
    if platform.store.record_modified(uri) is None:
        raise NotFoundError(f"no dataset {dataset_id!r} in this catalogue")
    return uri


def manifest_of(platform, dataset_id: str) -> Manifest | None:
    """The dataset's loaded tables: loaded now when it waits in the queue (the writer), else as last loaded."""
    loader = getattr(platform, "data_loader", None)
    if loader is not None:
        return loader.ensure(dataset_id)
    store = getattr(platform, "datastore", None)
    return store.manifest(dataset_id) if store is not None else None


def _tables(platform, dataset_id: str) -> Manifest:
    manifest = manifest_of(platform, dataset_id)
    if manifest is None:
        if getattr(platform, "data_loader", None) is None:
            raise NotLoadedYet(f"the tables of {dataset_id} are being loaded; try again shortly")
        raise NotFoundError(f"dataset {dataset_id} has no tabular data file")
    if not manifest.tables:
        reasons = "; ".join(f"{n.name}: {n.reason}" for n in manifest.not_loaded)
        raise NotFoundError(f"dataset {dataset_id} has no data API: " + (
            f"its files could not be loaded ({reasons})" if reasons else "it has no CSV, XLSX or JSON file"))
    return manifest


def _described(platform, dataset_id: str) -> tuple[str, Manifest]:
    """The dataset's URI and tables, for what describes them (open unless the dataset is 不予开放)."""
    uri = _uri(platform, dataset_id)
    if dataset_access(platform.store, uri).open_type is OpenType.CLOSED:
        raise DataRefused(f"dataset {dataset_id} is 不予开放 (not open): it has no data API")
    return uri, _tables(platform, dataset_id)


def table_json(table: StoredTable) -> dict:
    return {"name": table.name, "title": table.title, "rows": table.rows, "bytes": table.bytes,
            "columns": [{"name": n, "type": t} for n, t in table.columns], "spatial": table.spatial,
            "source": table.source, "loaded": table.loaded}


@bp.route("/api/data/<dataset_id>/tables", methods=["GET", "HEAD"])
def tables(dataset_id: str):
    """List the dataset's tables, and the files that could not be loaded with the reason."""
    platform = _platform()
    _, manifest = _described(platform, dataset_id)
    body = {"dataset": dataset_id, "tables": [table_json(t) for t in manifest.tables],
            "not_loaded": [{"name": n.name, "source": n.source, "reason": n.reason} for n in manifest.not_loaded]}
    return _json(body, http.etag_for("tables", dataset_id, manifest.loaded, manifest.digest))


@bp.route("/api/data/<dataset_id>", methods=["GET", "HEAD"])
def rows(dataset_id: str):
    """Answer rows of one table of the dataset (see tabular/query.py for the parameters)."""
    platform = _platform()
    uri = _uri(platform, dataset_id)
    require_data(platform, uri)
    manifest = _tables(platform, dataset_id)
    name = request.args.get("table")
    table = manifest.table(name)
    if table is None:
        raise QueryError(f"table: dataset {dataset_id} has no table {name!r}; its tables are "
                         f"{', '.join(t.name for t in manifest.tables)}")
    fmt = _format(table)
    query = parse_query(request.args.items(multi=True), table.columns)
    store = platform.datastore
    cursor = store.cursor()
    try:
        total, found = _run(cursor, store.relation(dataset_id, table), query)
    finally:
        cursor.close()
    etag = http.etag_for("data", dataset_id, table.file, request.query_string.decode("latin-1"), fmt)
    if fmt == "csv":
        return _csv(dataset_id, table, query.fields, found, total, query, etag)
    records = [dict(zip(query.fields, (_cell(table, f, v) for f, v in zip(query.fields, row)))) for row in found]
    if fmt == "geojson":
        return _geojson(dataset_id, table, query, records, total, etag)
    body = {"dataset": dataset_id, "table": table.name, "title": table.title,
            "fields": [{"name": f, "type": table.types()[f]} for f in query.fields], "total": total,
            "page": query.page, "page_size": query.page_size, "pages": pages(total, query.page_size),
            "records": records, "links": _links(query, total)}
    return _json(body, etag)


def _run(cursor, relation, query):
    import duckdb

    try:
        return run_query(cursor, relation, query)
    except (duckdb.ConversionException, duckdb.BinderException, duckdb.InvalidInputException,
            duckdb.OutOfRangeException) as exc:  # a value DuckDB cannot compare with the column
        raise QueryError(f"a filter's value cannot be compared with its field: {str(exc).splitlines()[0]}") from None


def _format(table: StoredTable) -> str:
    fmt = request.args.get("format")
    if fmt is None:
        best = request.accept_mimetypes.best_match(["application/json", "text/csv", "application/geo+json"])
        fmt = {"text/csv": "csv", "application/geo+json": "geojson"}.get(best or "", "json")
        if fmt == "geojson" and not table.spatial:
            fmt = "json"
    if fmt not in FORMATS:
        raise QueryError(f"format: {fmt[:40]!r} is not one of {', '.join(FORMATS)}")
    if fmt == "geojson" and not table.spatial:
        raise QueryError(f"format: table {table.name} has no coordinates or geometries, so no GeoJSON; "
                         "ask for json or csv")
    return fmt


def _cell(table: StoredTable, field: str, value):
    if field == table.geometry and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return json_value(value)


def _links(query, total: int) -> dict:
    def at(page: int) -> str:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", API_KEY_PARAM)]
        return request.base_url + "?" + urlencode(args + [("page", str(page))])

    last = pages(total, query.page_size)
    return {"self": at(query.page), "next": at(query.page + 1) if query.page < last else None,
            "prev": at(query.page - 1) if query.page > 1 else None}


def _json(body: dict, etag: str) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")
    return http.conditional(response, etag, None)


def _csv(dataset_id, table, fields, found, total, query, etag) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    writer.writerows([text_value(v) for v in row] for row in found)
    response = Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'inline; filename="{dataset_id}-{query.page}.csv"'
    response.headers["X-Total-Count"] = str(total)
    links = _links(query, total)
    response.headers["Link"] = ", ".join(f'<{u}>; rel="{r}"' for r, u in links.items() if u)
    return http.conditional(response, etag, None)


def _geojson(dataset_id, table, query, records, total, etag) -> Response:
    features = []
    for record in records:
        geometry = None
        if table.geometry:
            geometry = record.get(table.geometry)
        elif table.lon in record and table.lat in record:
            lon, lat = record[table.lon], record[table.lat]
            if isinstance(lon, (int, float)) and isinstance(lat, (int, float)):
                geometry = {"type": "Point", "coordinates": [lon, lat]}
        properties = {k: v for k, v in record.items() if k != table.geometry}
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    body = {"type": "FeatureCollection", "dataset": dataset_id, "table": table.name, "numberMatched": total,
            "numberReturned": len(features), "page": query.page, "page_size": query.page_size,
            "links": _links(query, total), "features": features}
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/geo+json")
    return http.conditional(response, etag, None)


@bp.route("/api/data/<dataset_id>/openapi.json", methods=["GET", "HEAD"])
def openapi(dataset_id: str):
    """The dataset's OpenAPI 3 document."""
    from server.data_api_openapi import openapi_document

    platform = _platform()
    uri, manifest = _described(platform, dataset_id)
    document = openapi_document(platform.settings.base_uri, dataset_id, _title(platform, uri), manifest,
                                dataset_access(platform.store, uri).open_type)
    response = _json(document, http.etag_for("openapi", dataset_id, manifest.loaded, manifest.digest))
    response.headers["Content-Type"] = "application/vnd.oai.openapi+json;version=3.0"
    return response


@bp.route("/api/data/<dataset_id>/docs", methods=["GET", "HEAD"])
def docs(dataset_id: str):
    """The dataset's OpenAPI document as a page: tables, fields, parameters, examples."""
    from server.data_api_openapi import examples, openapi_document
    from server.portal.i18n import current_lang
    from server.portal.views import render_page

    platform = _platform()
    uri, manifest = _described(platform, dataset_id)
    open_type = dataset_access(platform.store, uri).open_type
    base = platform.settings.base_uri
    title = _title(platform, uri)
    document = openapi_document(base, dataset_id, title, manifest, open_type)
    lang = current_lang()
    html = render_page("data_api_docs.html", lang, title=title, dataset_id=dataset_id, document=document,
                       manifest=manifest, open_type=open_type.value, base=base,
                       examples=examples(base, dataset_id, manifest.tables[0], open_type))
    return Response(html, mimetype="text/html")


def _title(platform, uri: str) -> str:
    found = {}
    for row in platform.store.query(
            f"SELECT ?t WHERE {{ GRAPH <{uri}> {{ <{uri}> <http://purl.org/dc/terms/title> ?t }} }}"):
        language = getattr(row[0], "language", None) or ""
        found.setdefault(language[:2], row[0].value)
    return found.get("zh") or next(iter(found.values()), uri.rsplit("/", 1)[-1])


def preview(platform, dataset_id: str, rows: int = 5) -> list[dict]:
    """The dataset's tables with their first rows, for the dataset page (no rows where the public may not read
    them: a 有条件开放 or 不予开放 dataset's tables are listed with ``records`` empty). [] when none is
    loaded."""
    try:
        uri = platform.dataset_uri(dataset_id)
        store = getattr(platform, "datastore", None)
        if store is None:
            return []
        manifest = store.manifest(dataset_id)  # as loaded: a page never waits for a load
        open_to_all = may_read_data(dataset_access(platform.store, uri), ANONYMOUS).allowed
    except (WodpError, ValueError):
        return []
    if manifest is None:
        return []
    out = []
    for table in manifest.tables:
        records = []
        if open_to_all and rows > 0:
            cursor = store.cursor()
            try:
                names = [n for n, _ in table.columns]
                query = parse_query([("page_size", str(min(rows, 1000)))], table.columns)
                _, found = run_query(cursor, ("read_parquet(?)", [store.path_of(dataset_id, table)]), query)
                records = [dict(zip(names, (_cell(table, n, v) for n, v in zip(names, row)))) for row in found]
            except Exception:  # noqa: BLE001 - a preview never breaks the page; the API itself reports
                records = []
            finally:
                cursor.close()
        out.append({"name": table.name, "title": table.title, "rows": table.rows, "bytes": table.bytes,
                    "columns": [{"name": n, "type": t} for n, t in table.columns], "records": records,
                    "spatial": table.spatial})
    return out


def call_examples(platform, dataset_id: str) -> dict | None:
    """curl and Python calls of the dataset's data API and its docs page, for the dataset page; None when the
    dataset has no loaded table or is 不予开放."""
    from server.data_api_openapi import examples

    store = getattr(platform, "datastore", None)
    try:
        manifest = store.manifest(dataset_id) if store is not None else None
        if manifest is None or not manifest.tables:
            return None
        open_type = dataset_access(platform.store, platform.dataset_uri(dataset_id)).open_type
    except (WodpError, ValueError):
        return None
    if open_type is OpenType.CLOSED:
        return None
    base = platform.settings.base_uri
    return {**examples(base, dataset_id, manifest.tables[0], open_type),
            "docs": f"{base}/api/data/{dataset_id}/docs", "openapi": f"{base}/api/data/{dataset_id}/openapi.json",
            "tables": len(manifest.tables)}
