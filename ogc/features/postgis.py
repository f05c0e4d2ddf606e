"""PostGIS feature store: the scale-out backend of the FeatureStore contract (ogc.features).

Schema (in the first schema of the connection's search_path):
- ``wodp_feature_layers``: one row per layer, the LayerInfo fields plus the name of the layer's table;
- one table per layer, ``wodp_f_<sha256(layer id)[:24]>`` (layer ids never reach SQL text):
  ``fid text`` (primary key), ``position integer`` (input order, the default order), ``geom geometry(Geometry, 4490)``
  (lon/lat, GiST index), ``properties jsonb``, ``dt_start``/``dt_end text`` (the datetime field as normalised UTC
  instants, as the SQLite store keeps them), ``text`` (the lower-cased id and values, for ``q``).

``put_layer`` loads a new table with COPY, indexes it, and swaps it in by DROP + RENAME in the same transaction:
a reader sees the old layer or the new one, never a mix (a query locks the table it reads until its transaction
ends, and a query that waited on the swap looks the name up again and reads the new table).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterable, Iterator

import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb

from ogc.features import Feature, FeatureQuery, FeatureStoreError, LayerInfo
from ogc.features.values import extent_after, normalise_instant

log = logging.getLogger(__name__)

SRID = 4490
PRECISION = 9  # decimals of ST_AsGeoJSON: 1e-9 degree is ~0.1 mm
REGISTRY = "wodp_feature_layers"
BATCH = 5000  # features converted to EWKB at a time; features per read in iter_features
_POOL_SIZE = 4  # idle connections kept
_INDEXES = (("_pkey", None, "fid"), ("_geom", "gist", "geom"), ("_pos", "btree", "position"),
            ("_dt", "btree", "dt_start"))
_INFO_COLUMNS = ("id", "dataset_uri", "title_zh", "title_en", "count", "bbox", "geometry_type", "fields",
                 "datetime_field", "kind", "modified", "report")

_REGISTRY_DDL = sql.SQL("""CREATE TABLE IF NOT EXISTS {} (
    id text PRIMARY KEY, table_name text NOT NULL, dataset_uri text, title_zh text NOT NULL, title_en text NOT NULL,
    count integer NOT NULL, bbox float8[], geometry_type text, fields jsonb NOT NULL, datetime_field text,
    kind text NOT NULL, modified text, report jsonb NOT NULL)""").format(sql.Identifier(REGISTRY))
_LAYER_DDL = sql.SQL("""CREATE TABLE {} (fid text NOT NULL, position integer NOT NULL,
    geom geometry(Geometry, 4490), properties jsonb NOT NULL, dt_start text, dt_end text, text text NOT NULL)""")

_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode
Row = tuple[str, "dict | None", dict]  # fid, geometry, properties


def table_name(layer_id: str) -> str:
    """Name the table of a layer: a hash of its id, so any id is safe and names never collide in practice."""
    return "wodp_f_" + hashlib.sha256(layer_id.encode("utf-8")).hexdigest()[:24]


def _text(fid: str, properties: dict[str, Any]) -> str:
    """Return what ``q`` searches: the id and every value, lower-cased (as the SQLite store does)."""
    parts = [fid]
    for value in properties.values():
        if isinstance(value, (list, tuple)):
            parts += [_dumps(v) if isinstance(v, dict) else str(v) for v in value]
        elif isinstance(value, dict):
            parts.append(_dumps(value))
        elif value is not None:
            parts.append(str(value))
    return "\n".join(parts).lower()


def _interval(info: LayerInfo, properties: dict[str, Any]) -> tuple[str | None, str | None]:
    value = properties.get(info.datetime_field) if info.datetime_field else None
    if value in (None, ""):
        return None, None
    try:
        return normalise_instant(str(value)), normalise_instant(str(value), end=True)
    except ValueError:
        return None, None  # an unreadable date: the feature matches no datetime filter


def _points(chunk: list[Row]) -> np.ndarray | None:
    """Make a chunk of plain 2D points at once (the common case, and the fastest); None for anything else."""
    try:
        if all(g["type"] == "Point" and len(g["coordinates"]) == 2 for _, g, _ in chunk):
            return shapely.points(np.array([g["coordinates"] for _, g, _ in chunk], dtype=float))
    except (TypeError, KeyError, ValueError):
        return None
    return None


def _ewkb(layer_id: str, chunk: list[Row]) -> list[str | None]:
    """Convert a chunk of GeoJSON geometries to hex EWKB (2D, SRID 4490); the error names the feature at fault."""
    try:
        geoms = _points(chunk)
        if geoms is None:
            geoms = shapely.from_geojson(np.array([_dumps(g) if g else None for _, g, _ in chunk], dtype=object))
    except Exception:
        for fid, geometry, _ in chunk:
            try:
                shapely.from_geojson(_dumps(geometry)) if geometry else None
            except Exception as exc:
                raise FeatureStoreError(f"layer {layer_id!r}: feature {fid!r}: bad geometry ({exc})") from exc
        raise
    bounds = shapely.bounds(geoms)
    if not np.isfinite(bounds[~np.isnan(bounds).all(axis=1)]).all():
        raise FeatureStoreError(f"layer {layer_id!r}: coordinates that are not finite numbers")
    return list(shapely.to_wkb(shapely.set_srid(shapely.force_2d(geoms), SRID), hex=True, include_srid=True))


class _Pool:
    """A few reusable autocommit connections, handed out one per operation (thread-safe)."""

    def __init__(self, dsn: str, size: int = _POOL_SIZE) -> None:
        self._dsn = dsn
        self._size = size
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self.closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self.closed:
            raise FeatureStoreError("the PostGIS feature store is closed")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:  # no server-side prepared statements: a swapped-in table must be looked up again by name
                conn = psycopg.connect(self._dsn, autocommit=True, prepare_threshold=None)
            except psycopg.Error as exc:
                raise FeatureStoreError(f"cannot connect to the PostGIS feature store: {exc}") from exc
        try:
            yield conn
        finally:
            with self._lock:
                keep = not (self.closed or conn.closed or conn.broken) and len(self._idle) < self._size
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class PostGISFeatureStore:
    """The FeatureStore contract over PostgreSQL with PostGIS (dsn: a libpq connection string)."""

    def __init__(self, dsn: str) -> None:
        self._pool = _Pool(dsn)
        with self._transaction("open the store") as conn:
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
                raise FeatureStoreError("PostGIS is not installed in the feature store's database: "
                                        "run CREATE EXTENSION postgis there as a superuser")
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (REGISTRY,))
            conn.execute(_REGISTRY_DDL)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[psycopg.Connection]:
        """Run a block in one transaction; database errors become FeatureStoreError naming ``what``."""
        with self._pool.connection() as conn:
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                raise FeatureStoreError(f"{what}: {exc}") from exc

    @staticmethod
    def _lock_layer(conn: psycopg.Connection, layer_id: str) -> None:
        """Serialise the writers of one layer (readers are never blocked by this)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (layer_id,))

    # -- writes ------------------------------------------------------------------------------
    def put_layer(self, info: LayerInfo, features: Iterable[Feature]) -> LayerInfo:
        """Replace a layer atomically (all features or none); return its info with count and bbox computed."""
        if not info.id:
            raise FeatureStoreError("a layer needs a non-empty id")
        base, started = table_name(info.id), time.monotonic()
        new = base + "_n"
        with self._transaction(f"layer {info.id!r}") as conn:
            self._lock_layer(conn, info.id)
            conn.execute(_LAYER_DDL.format(sql.Identifier(new)))
            self._copy(conn, info, new, features, first=1)
            self._index(conn, info.id, new)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(base)))
            self._rename(conn, new, base)
            stored = self._refresh(conn, info, base)
        seconds = time.monotonic() - started
        log.info("layer %s: %d features stored in %.2f s (%.0f/s)", info.id, stored.count, seconds,
                 stored.count / seconds if seconds else 0)
        return stored

    def _copy(self, conn: psycopg.Connection, info: LayerInfo, table: str, features: Iterable[Feature],
              first: int) -> int:
        """Stream features into ``table`` with COPY, numbering them from ``first``; return how many."""
        statement = sql.SQL("COPY {} (fid, position, geom, properties, dt_start, dt_end, text) FROM STDIN").format(
            sql.Identifier(table))
        position = first
        with conn.cursor().copy(statement) as copy:
            chunk: list[Row] = []
            for feature in features:
                chunk.append(self._parts(info.id, feature, position))
                position += 1
                if len(chunk) == BATCH:
                    self._write(copy, info, chunk, position - len(chunk))
                    chunk = []
            self._write(copy, info, chunk, position - len(chunk))
        return position - first

    @staticmethod
    def _parts(layer_id: str, feature: Feature, position: int) -> Row:
        if not isinstance(feature, dict):
            raise FeatureStoreError(f"layer {layer_id!r}: feature {position} is not a GeoJSON object")
        fid = feature.get("id")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise FeatureStoreError(f"layer {layer_id!r}: feature {position}: properties must be an object")
        return str(position) if fid is None or fid == "" else str(fid), feature.get("geometry"), properties

    @staticmethod
    def _write(copy: psycopg.Copy, info: LayerInfo, chunk: list[Row], first: int) -> None:
        for position, ((fid, _, properties), ewkb) in enumerate(zip(chunk, _ewkb(info.id, chunk)), start=first):
            copy.write_row((fid, position, ewkb, _dumps(properties), *_interval(info, properties),
                            _text(fid, properties)))

    @staticmethod
    def _index(conn: psycopg.Connection, layer_id: str, table: str) -> None:
        t = sql.Identifier(table)
        for suffix, method, column in _INDEXES:
            name = sql.Identifier(table + suffix)
            if method is None:
                try:
                    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (fid)").format(t, name))
                except psycopg.errors.UniqueViolation as exc:
                    detail = exc.diag.message_detail or str(exc)
                    raise FeatureStoreError(f"layer {layer_id!r}: duplicate feature id ({detail})") from exc
            else:
                conn.execute(sql.SQL("CREATE INDEX {} ON {} USING {} ({})").format(
                    name, t, sql.SQL(method), sql.Identifier(column)))
        conn.execute(sql.SQL("ANALYZE {}").format(t))

    @staticmethod
    def _rename(conn: psycopg.Connection, new: str, base: str) -> None:
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(new), sql.Identifier(base)))
        for suffix, _, _ in _INDEXES:
            conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(new + suffix), sql.Identifier(base + suffix)))

    def _refresh(self, conn: psycopg.Connection, info: LayerInfo, table: str) -> LayerInfo:
        """Compute count, extent and (unless given) geometry type of a layer's table; write the registry row."""
        t = sql.Identifier(table)
        count, *box = conn.execute(sql.SQL("SELECT count, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                           "(SELECT count(*) AS count, ST_Extent(geom) AS e FROM {}) s").format(t)
                                   ).fetchone()
        geometry_type = info.geometry_type
        if geometry_type is None:
            types = conn.execute(sql.SQL("SELECT DISTINCT substr(ST_GeometryType(geom), 4) FROM {} "
                                         "WHERE geom IS NOT NULL LIMIT 2").format(t)).fetchall()
            geometry_type = None if not types else (types[0][0] if len(types) == 1 else "Geometry")
        return self._register(conn, dataclasses.replace(info, count=count, geometry_type=geometry_type,
                                                        bbox=None if box[0] is None else tuple(float(v) for v in box)),
                              table)

    @staticmethod
    def _register(conn: psycopg.Connection, stored: LayerInfo, table: str) -> LayerInfo:
        """Write a layer's registry row."""
        values = (stored.id, table, stored.dataset_uri, stored.title_zh, stored.title_en, stored.count,
                  list(stored.bbox) if stored.bbox else None, stored.geometry_type, Jsonb(stored.fields, _dumps),
                  stored.datetime_field, stored.kind, stored.modified.isoformat() if stored.modified else None,
                  Jsonb(stored.report, _dumps))
        columns = ("id", "table_name", *_INFO_COLUMNS[1:])
        conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
            sql.Identifier(REGISTRY), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[1:])),
            values)
        return stored

    def drop_layer(self, layer_id: str) -> bool:
        """Remove a layer; False when there was none."""
        with self._transaction(f"drop layer {layer_id!r}") as conn:
            self._lock_layer(conn, layer_id)
            row = conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s RETURNING table_name").format(
                sql.Identifier(REGISTRY)), (layer_id,)).fetchone()
            if row:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(row[0])))
        return row is not None

    def upsert_features(self, layer_id: str, features: Iterable[Feature], info: LayerInfo | None = None) -> LayerInfo:
        """Insert or replace features by id in an existing layer (created empty from ``info`` when missing)."""
        features = list(features)
        table = table_name(layer_id)
        with self._transaction(f"layer {layer_id!r}") as conn:
            self._lock_layer(conn, layer_id)
            current = self._info(conn, layer_id)
            if current is None:
                if info is None:
                    raise FeatureStoreError(f"layer {layer_id} does not exist")
                conn.execute(_LAYER_DDL.format(sql.Identifier(table)))
                self._index(conn, layer_id, table)
                current = dataclasses.replace(info, count=0, bbox=None)
            declared = info.geometry_type if info is not None else None
            info = info or current
            removed = self._delete_ids(conn, table, [self._parts(layer_id, f, 0)[0] for f in features])
            top = conn.execute(sql.SQL("SELECT coalesce(max(position), 0) FROM {}").format(
                sql.Identifier(table))).fetchone()[0]
            try:
                with conn.transaction():  # a savepoint, so that a duplicate id gets its own message
                    added = self._copy(conn, info, table, features, first=top + 1)
            except psycopg.errors.UniqueViolation as exc:
                raise FeatureStoreError(f"layer {layer_id!r}: duplicate feature id ({exc.diag.message_detail})"
                                        ) from exc
            return self._refresh_after(conn, info, current, table, removed, added, top, declared)

    def delete_features(self, layer_id: str, feature_ids: Iterable[str]) -> LayerInfo | None:
        """Delete features by id from a layer; return its new info (None when the layer does not exist)."""
        with self._transaction(f"layer {layer_id!r}") as conn:
            self._lock_layer(conn, layer_id)
            current = self._info(conn, layer_id)
            if current is None:
                return None
            table = table_name(layer_id)
            removed = self._delete_ids(conn, table, [str(i) for i in feature_ids])
            top = conn.execute(sql.SQL("SELECT coalesce(max(position), 0) FROM {}").format(
                sql.Identifier(table))).fetchone()[0]
            return self._refresh_after(conn, current, current, table, removed, 0, top, None)

    @staticmethod
    def _delete_ids(conn: psycopg.Connection, table: str, ids: list[str]) -> list[tuple]:
        """Delete rows by feature id; return the boxes (minx, miny, maxx, maxy) of the rows deleted."""
        if not ids:
            return []
        return conn.execute(sql.SQL("DELETE FROM {} WHERE fid = ANY(%s) RETURNING ST_XMin(geom), ST_YMin(geom), "
                                    "ST_XMax(geom), ST_YMax(geom)").format(sql.Identifier(table)), (ids,)).fetchall()

    def _refresh_after(self, conn: psycopg.Connection, info: LayerInfo, current: LayerInfo, table: str,
                       removed: list[tuple], added: int, after: int, declared: str | None) -> LayerInfo:
        """Write count, extent and geometry type after an incremental write, from the stored ones and the rows
        deleted and written (after position ``after``); the whole table is read only when a deleted row made an
        edge that no older row reaches any more, or when rows were deleted from a layer of mixed geometry types
        that the writer has not ``declared`` (a deletion may leave one type)."""
        info = dataclasses.replace(info, geometry_type=declared)
        if removed and declared is None and current.geometry_type == "Geometry":
            return self._refresh(conn, info, table)  # a deletion may have left one type: only a full read says
        t = sql.Identifier(table)
        new = conn.execute(sql.SQL("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
                                   "ST_Extent(geom) AS e FROM {} WHERE position > %s) s").format(t),
                           (after,)).fetchone()
        known, bbox = extent_after(current.bbox, None if new[0] is None else tuple(float(v) for v in new),
                                   removed, functools.partial(self._reaches, conn, table, after))
        if not known:
            return self._refresh(conn, info, table)
        geometry_type = info.geometry_type
        if geometry_type is None:
            types = {r[0] for r in conn.execute(sql.SQL(
                "SELECT DISTINCT substr(ST_GeometryType(geom), 4) FROM {} WHERE position > %s AND geom IS NOT NULL "
                "LIMIT 2").format(t), (after,))}
            if current.geometry_type is not None:  # rows of it are left (a deleted edge is still reached)
                types.add(current.geometry_type)
            geometry_type = types.pop() if len(types) == 1 else ("Geometry" if types else None)
        return self._register(conn, dataclasses.replace(info, count=current.count - len(removed) + added,
                                                        bbox=bbox, geometry_type=geometry_type), table)

    @staticmethod
    def _reaches(conn: psycopg.Connection, table: str, before: int, edge: int, value: float) -> bool:
        """Does a row older than this write (position <= ``before``) still reach this edge of the extent?
        (the GiST index finds the candidates)"""
        big = 1e30
        envelope = ((-big, -big, value, big), (-big, -big, big, value), (value, -big, big, big),
                    (-big, value, big, big))[edge]
        test = ("ST_XMin(geom) <= %s", "ST_YMin(geom) <= %s", "ST_XMax(geom) >= %s", "ST_YMax(geom) >= %s")[edge]
        return conn.execute(sql.SQL("SELECT 1 FROM {} WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490) AND "
                                    + test + " AND position <= %s LIMIT 1").format(sql.Identifier(table)),
                            (*envelope, value, before)).fetchone() is not None

    # -- reads -------------------------------------------------------------------------------
    @staticmethod
    def _info(conn: psycopg.Connection, layer_id: str | None) -> LayerInfo | list[LayerInfo] | None:
        """Read one registry row (None when absent), or all of them in id order when ``layer_id`` is None."""
        select = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, _INFO_COLUMNS)),
                                                     sql.Identifier(REGISTRY))
        if layer_id is None:
            return [_layer_info(row) for row in conn.execute(select + sql.SQL(" ORDER BY id")).fetchall()]
        row = conn.execute(select + sql.SQL(" WHERE id = %s"), (layer_id,)).fetchone()
        return _layer_info(row) if row else None

    def layer(self, layer_id: str) -> LayerInfo | None:
        with self._transaction(f"layer {layer_id!r}") as conn:
            return self._info(conn, layer_id)

    def layers(self) -> list[LayerInfo]:
        with self._transaction("list layers") as conn:
            return self._info(conn, None)

    def query(self, layer_id: str, query: FeatureQuery) -> tuple[list[Feature], int]:
        """Return one page of features and the number matched (before paging)."""
        where, params = _where(query)
        order, order_params = _order(query)
        table = sql.Identifier(table_name(layer_id))
        geometry = sql.SQL("NULL" if query.skip_geometry else f"ST_AsGeoJSON(geom, {PRECISION}, 0)")
        # page the positions first, so that skipped rows are never turned into GeoJSON
        page = sql.SQL("SELECT fid, properties, {} FROM unnest(ARRAY(SELECT position FROM {} WHERE {} ORDER BY {} "
                       "LIMIT %s OFFSET %s)) WITH ORDINALITY AS p(position, k) JOIN {} USING (position) "
                       "ORDER BY p.k").format(geometry, table, where, order, table)
        limit, offset = max(0, query.limit), max(0, query.offset)
        try:
            with self._transaction(f"query layer {layer_id!r}") as conn:  # both statements read the same table
                rows = conn.execute(page, [*params, *order_params, limit, offset]).fetchall()
                if len(rows) < limit and (rows or offset == 0):
                    matched = offset + len(rows)
                else:
                    count = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, where)
                    matched = conn.execute(count, params).fetchone()[0]
        except FeatureStoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                raise FeatureStoreError(f"layer {layer_id} does not exist") from None
            raise
        return [_feature(row, query.select_properties) for row in rows], matched

    def get(self, layer_id: str, feature_id: str) -> Feature | None:
        statement = sql.SQL(f"SELECT fid, properties, ST_AsGeoJSON(geom, {PRECISION}, 0) FROM {{}} WHERE fid = %s"
                            ).format(sql.Identifier(table_name(layer_id)))
        try:
            with self._transaction(f"layer {layer_id!r}, feature {feature_id!r}") as conn:
                row = conn.execute(statement, (str(feature_id),)).fetchone()
        except FeatureStoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                return None
            raise
        return _feature(row, ()) if row else None

    def iter_features(self, layer_id: str) -> Iterator[Feature]:
        """Yield every feature of a layer in order, reading in batches (for whole-layer downloads)."""
        statement = sql.SQL(f"SELECT position, fid, properties, ST_AsGeoJSON(geom, {PRECISION}, 0) FROM {{}} "
                            "WHERE position > %s ORDER BY position LIMIT %s").format(
                                sql.Identifier(table_name(layer_id)))
        after = 0
        while True:
            try:
                with self._transaction(f"read layer {layer_id!r}") as conn:
                    rows = conn.execute(statement, (after, BATCH)).fetchall()
            except FeatureStoreError as exc:
                if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                    return
                raise
            if not rows:
                return
            for row in rows:
                yield _feature(row[1:], ())
            after = rows[-1][0]

    def close(self) -> None:
        self._pool.close()


def _layer_info(row: tuple) -> LayerInfo:
    values = dict(zip(_INFO_COLUMNS, row))
    values["bbox"] = tuple(values["bbox"]) if values["bbox"] else None
    values["modified"] = datetime.fromisoformat(values["modified"]) if values["modified"] else None
    return LayerInfo(**values)


def _feature(row: tuple, select: Iterable[str]) -> Feature:
    fid, properties, geometry = row
    if select:
        properties = {name: value for name, value in properties.items() if name in select}
    return {"type": "Feature", "id": fid, "geometry": json.loads(geometry) if geometry else None,
            "properties": properties}


def _where(query: FeatureQuery) -> tuple[sql.Composable, list[Any]]:
    """Build the WHERE clause: bbox (index, then exact intersection), datetime overlap, property equality, q."""
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if query.bbox:
        envelope = f"ST_MakeEnvelope(%s, %s, %s, %s, {SRID})"
        parts.append(sql.SQL(f"geom && {envelope} AND ST_Intersects(geom, {envelope})"))
        params += [float(v) for v in query.bbox] * 2
    if query.datetime_start:
        parts.append(sql.SQL("dt_end >= %s"))
        params.append(normalise_instant(query.datetime_start))
    if query.datetime_end:
        parts.append(sql.SQL("dt_start <= %s"))
        params.append(normalise_instant(query.datetime_end, end=True))
    for name, value in query.properties:
        parts.append(sql.SQL("properties ->> %s = %s"))
        params += [name, str(value)]
    for word in query.q:
        parts.append(sql.SQL("strpos(text, %s) > 0"))
        params.append(word.lower())
    return sql.SQL(" AND ").join(parts), params


def _order(query: FeatureQuery) -> tuple[sql.Composable, list[Any]]:
    """Order by properties as SQLite's json_extract does (missing < numbers < strings), then input order."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for name, ascending in query.sortby:
        direction = sql.SQL("ASC" if ascending else "DESC")
        parts += [sql.SQL("(properties ->> %s) IS NOT NULL {}").format(direction),
                  sql.SQL("CASE WHEN jsonb_typeof(properties -> %s) = 'number' "
                          "THEN (properties ->> %s)::numeric END {}").format(direction),
                  sql.SQL('(properties ->> %s) COLLATE "C" {}').format(direction)]
        params += [name] * 4
    parts.append(sql.SQL("position"))
    return sql.SQL(", ").join(parts), params
