"""Keep the feature layers in one SQLite file: a registry, one table per layer and its R*Tree (no extension).

Each layer ``L`` lives in a table ``f<n>`` (``position`` = feature order, ``fid``, GeoJSON ``geometry``,
``properties`` JSON, ``dt_start``/``dt_end`` normalised UTC instants for ``datetime``, lower-cased ``text``
for ``q``) and an R*Tree ``f<n>_rt(position, minx, maxx, miny, maxy)``. ``put_layer`` builds a new table and
points the registry at it in the same transaction; readers (WAL, one connection per thread) read the
registry and the table in one read transaction, so they see the old layer or the new one, never half.

Paging: a layer written by ``put_layer`` has dense positions 1..count, so an unfiltered page in feature order
is a range read on the primary key (``position > offset``): page 1 and page 10,000 cost the same.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from ogc.features import Feature, FeatureQuery, FeatureStoreError, LayerInfo
from ogc.features.values import extent_after, geometry_bbox, normalise_instant, trim_features
from core.sqlite import ThreadConnections, rollback

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers(id TEXT PRIMARY KEY, tbl TEXT NOT NULL, dense INTEGER NOT NULL,
  info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
BATCH = 2000


def _text(feature: Feature) -> str:
    props = feature.get("properties") or {}
    parts = [str(feature.get("id", ""))]
    for value in props.values():
        if isinstance(value, (list, tuple)):
            parts += [json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v) for v in value]
        elif isinstance(value, dict):
            parts.append(json.dumps(value, ensure_ascii=False))
        elif value is not None:
            parts.append(str(value))
    return "\n".join(parts).lower()


def _json_path(name: str) -> str:
    return '$."' + name.replace('"', '\\"') + '"'


def _info_to_json(info: LayerInfo) -> str:
    data = asdict(info)
    data["modified"] = info.modified.isoformat() if info.modified else None
    return json.dumps(data, ensure_ascii=False)


@functools.lru_cache(maxsize=1024)
def _info_from_json(text: str) -> LayerInfo:
    """Parse a registry entry (cached by its text: a layer's report can be long, and every query reads it)."""
    data = json.loads(text)
    data["bbox"] = tuple(data["bbox"]) if data.get("bbox") else None
    data["modified"] = datetime.fromisoformat(data["modified"]) if data.get("modified") else None
    return LayerInfo(**data)


class SQLiteFeatureStore:
    """The embedded feature store (FeatureStore protocol): SQLite's built-in R*Tree, WAL, a connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, setup=_register_functions)
        self._write_lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)  # also after a failed COMMIT (SQLITE_FULL): the connection stays usable
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- registry ----------------------------------------------------------------------------
    @staticmethod
    def _entry(conn: sqlite3.Connection, layer_id: str) -> tuple[str, bool, LayerInfo] | None:
        row = conn.execute("SELECT tbl, dense, info FROM layers WHERE id = ?", (layer_id,)).fetchone()
        return None if row is None else (row[0], bool(row[1]), _info_from_json(row[2]))

    def layer(self, layer_id: str) -> LayerInfo | None:
        row = self._conn().execute("SELECT info FROM layers WHERE id = ?", (layer_id,)).fetchone()
        return None if row is None else _info_from_json(row[0])

    def layers(self) -> list[LayerInfo]:
        return [_info_from_json(r[0]) for r in self._conn().execute("SELECT info FROM layers ORDER BY id")]

    @staticmethod
    def _new_table(conn: sqlite3.Connection) -> str:
        row = conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        seq = int(row[0]) + 1 if row else 1
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(seq),))
        tbl = f"f{seq}"
        conn.execute(f"CREATE TABLE {tbl}(position INTEGER PRIMARY KEY, fid TEXT NOT NULL UNIQUE, geometry TEXT,"
                     " properties TEXT NOT NULL, dt_start TEXT, dt_end TEXT, text TEXT NOT NULL,"
                     " minx REAL, miny REAL, maxx REAL, maxy REAL)")
        conn.execute(f"CREATE VIRTUAL TABLE {tbl}_rt USING rtree(position, minx, maxx, miny, maxy)")
        return tbl

    @staticmethod
    def _drop_tables(conn: sqlite3.Connection, tbl: str) -> None:
        conn.execute(f"DROP TABLE IF EXISTS {tbl}")
        conn.execute(f"DROP TABLE IF EXISTS {tbl}_rt")

    # -- writes ------------------------------------------------------------------------------
    def put_layer(self, info: LayerInfo, features: Iterable[Feature]) -> LayerInfo:
        """Replace a layer atomically (all features or none); return its info with count and bbox computed."""
        with self._write() as conn:
            old = self._entry(conn, info.id)
            tbl = self._new_table(conn)
            count = self._insert(conn, tbl, info, features, start=1)
            stored = self._summarise(conn, tbl, info, count)
            conn.execute("INSERT OR REPLACE INTO layers VALUES (?, ?, 1, ?)", (info.id, tbl, _info_to_json(stored)))
            if old is not None:
                self._drop_tables(conn, old[0])
        return stored

    @staticmethod
    def _row(info: LayerInfo, feature: Feature, position: int) -> tuple:
        fid = feature.get("id")
        if fid is None or fid == "":
            fid = position
        props = feature.get("properties") or {}
        start = end = None
        if info.datetime_field and props.get(info.datetime_field) not in (None, ""):
            value = str(props[info.datetime_field])
            try:
                start, end = normalise_instant(value), normalise_instant(value, end=True)
            except ValueError:
                start = end = None  # an unreadable date: the feature matches no datetime filter
        geometry = feature.get("geometry")
        box = geometry_bbox(geometry)
        if box is not None and not all(map(math.isfinite, box)):
            raise ValueError(f"coordinates that are not finite numbers: {box}")
        return (position, str(fid), json.dumps(geometry) if geometry else None,
                json.dumps(props, ensure_ascii=False, default=str), start, end, _text(feature), *(box or (None,) * 4))

    def _insert(self, conn, tbl: str, info: LayerInfo, features: Iterable[Feature], start: int) -> int:
        rows, boxes, n = [], [], start
        try:
            for feature in features:
                row = self._row(info, feature, n)
                rows.append(row)
                if row[7] is not None:
                    boxes.append((n, row[7], row[9], row[8], row[10]))
                n += 1
                if len(rows) >= BATCH:
                    self._flush(conn, tbl, rows, boxes)
            self._flush(conn, tbl, rows, boxes)
        except sqlite3.IntegrityError as exc:
            raise FeatureStoreError(f"layer {info.id}: duplicate feature id ({exc})") from exc
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise FeatureStoreError(f"layer {info.id}: feature {n - start + 1} is not GeoJSON ({exc})") from exc
        return n - start

    @staticmethod
    def _flush(conn, tbl: str, rows: list, boxes: list) -> None:
        conn.executemany(f"INSERT INTO {tbl} VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany(f"INSERT INTO {tbl}_rt VALUES (?,?,?,?,?)", boxes)
        rows.clear()
        boxes.clear()

    @staticmethod
    def _summarise(conn, tbl: str, info: LayerInfo, count: int) -> LayerInfo:
        box = conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {tbl}").fetchone()
        bbox = tuple(box) if box and box[0] is not None else None
        geometry_type = info.geometry_type
        if geometry_type is None and count:
            types = {r[0] for r in conn.execute(
                f"SELECT DISTINCT json_extract(geometry, '$.type') FROM {tbl} WHERE geometry IS NOT NULL LIMIT 3")}
            geometry_type = types.pop() if len(types) == 1 else ("Geometry" if types else None)
        return replace(info, count=count, bbox=bbox, geometry_type=geometry_type)

    def drop_layer(self, layer_id: str) -> bool:
        """Remove a layer; False when there was none."""
        with self._write() as conn:
            old = self._entry(conn, layer_id)
            if old is None:
                return False
            conn.execute("DELETE FROM layers WHERE id = ?", (layer_id,))
            self._drop_tables(conn, old[0])
        return True

    def upsert_features(self, layer_id: str, features: Iterable[Feature], info: LayerInfo | None = None) -> LayerInfo:
        """Insert or replace features by id in an existing layer (created empty from ``info`` when missing)."""
        features = list(features)
        with self._write() as conn:
            entry = self._entry(conn, layer_id)
            if entry is None:
                if info is None:
                    raise FeatureStoreError(f"layer {layer_id} does not exist")
                tbl = self._new_table(conn)
                entry = (tbl, True, replace(info, count=0, bbox=None))
                conn.execute("INSERT INTO layers VALUES (?, ?, 1, ?)", (layer_id, tbl, _info_to_json(entry[2])))
            tbl, _, current = entry
            removed = self._delete_ids(conn, tbl, [str(f.get("id")) for f in features])
            top = conn.execute(f"SELECT coalesce(max(position), 0) FROM {tbl}").fetchone()[0]
            added = self._insert(conn, tbl, info or current, features, start=top + 1)
            return self._refresh(conn, layer_id, tbl, info or current, current, removed, added, after=top,
                                 declared=info.geometry_type if info is not None else None)

    def delete_features(self, layer_id: str, feature_ids: Iterable[str]) -> LayerInfo | None:
        """Delete features by id from a layer; return its new info (None when the layer does not exist)."""
        with self._write() as conn:
            entry = self._entry(conn, layer_id)
            if entry is None:
                return None
            removed = self._delete_ids(conn, entry[0], [str(i) for i in feature_ids])
            top = conn.execute(f"SELECT coalesce(max(position), 0) FROM {entry[0]}").fetchone()[0]
            return self._refresh(conn, layer_id, entry[0], entry[2], entry[2], removed, 0, after=top, declared=None)

    @staticmethod
    def _delete_ids(conn, tbl: str, ids: list[str]) -> list[tuple]:
        """Delete rows by feature id; return the boxes (minx, miny, maxx, maxy) of the rows deleted."""
        removed = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT position, minx, miny, maxx, maxy FROM {tbl} WHERE fid IN ({marks})",
                                chunk).fetchall()
            conn.executemany(f"DELETE FROM {tbl} WHERE position = ?", [(r[0],) for r in rows])
            conn.executemany(f"DELETE FROM {tbl}_rt WHERE position = ?", [(r[0],) for r in rows])
            removed += [r[1:] for r in rows]
        return removed

    def _refresh(self, conn, layer_id: str, tbl: str, info: LayerInfo, current: LayerInfo, removed: list[tuple],
                 added: int, after: int, declared: str | None) -> LayerInfo:
        """Write the layer's count, extent and geometry type after an incremental write.

        They are worked out from the stored ones, the rows deleted and the rows written after position ``after``,
        so a write's cost does not grow with the layer; the whole table is read only when a deleted row made an
        edge of the extent that no older row reaches any more, or when rows were deleted from a layer of mixed
        geometry types that the writer has not ``declared`` (a deletion may leave one type).
        """
        count = current.count - len(removed) + added
        new = conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {tbl} WHERE position > ?",
                           (after,)).fetchone()
        known, bbox = extent_after(current.bbox, new if new[0] is not None else None, removed,
                                   functools.partial(self._reaches, conn, tbl, after))
        geometry_type = declared
        if geometry_type is None:
            types = {r[0] for r in conn.execute(
                f"SELECT DISTINCT json_extract(geometry, '$.type') FROM {tbl} WHERE position > ? "
                "AND geometry IS NOT NULL LIMIT 3", (after,))}
            if removed and current.geometry_type == "Geometry":
                known = False  # a deletion may have left one type: only a full read says
            elif current.geometry_type is not None:  # rows of it are left, or a deleted edge is not reached and
                types.add(current.geometry_type)      # the full read below gives the type
            geometry_type = types.pop() if len(types) == 1 else ("Geometry" if types else None)
        if not known:
            stored = self._summarise(conn, tbl, replace(info, geometry_type=declared), count)
        else:
            stored = replace(info, count=count, bbox=bbox, geometry_type=geometry_type)
        top = conn.execute(f"SELECT coalesce(max(position), 0) FROM {tbl}").fetchone()[0]
        conn.execute("UPDATE layers SET dense = ?, info = ? WHERE id = ?",
                     (int(count == top), _info_to_json(stored), layer_id))
        return stored

    @staticmethod
    def _reaches(conn, tbl: str, before: int, edge: int, value: float) -> bool:
        """Does a row older than this write (position <= ``before``) still reach this edge of the extent?
        (the R*Tree finds the candidates; its floats are rounded outwards, so each is checked on the table)"""
        column, op = (("minx", "<="), ("miny", "<="), ("maxx", ">="), ("maxy", ">="))[edge]
        return conn.execute(f"SELECT 1 FROM {tbl}_rt r JOIN {tbl} t USING (position) WHERE r.{column} {op} ? "
                            f"AND t.{column} {op} ? AND t.position <= ? LIMIT 1",
                            (value, value, before)).fetchone() is not None

    # -- reads -------------------------------------------------------------------------------
    def get(self, layer_id: str, feature_id: str) -> Feature | None:
        with self._read() as conn:
            entry = self._entry(conn, layer_id)
            if entry is None:
                return None
            row = conn.execute(f"SELECT fid, geometry, properties FROM {entry[0]} WHERE fid = ?",
                               (str(feature_id),)).fetchone()
        return None if row is None else _feature(row, FeatureQuery())

    def query(self, layer_id: str, query: FeatureQuery) -> tuple[list[Feature], int]:
        """Return one page of features and the number matched (before paging)."""
        with self._read() as conn:
            entry = self._entry(conn, layer_id)
            if entry is None:
                raise FeatureStoreError(f"layer {layer_id} does not exist")
            tbl, dense, info = entry
            where, params, join = _conditions(tbl, query)
            if not where and not query.sortby and dense:
                sql = f"SELECT {_FEATURE_JSON} FROM {tbl} t WHERE position > ? ORDER BY position LIMIT ?"
                rows = conn.execute(sql, (query.offset, query.limit)).fetchall()
                return _features(rows, query), info.count
            clause = (" WHERE " + " AND ".join(where)) if where else ""
            matched = conn.execute(f"SELECT count(*) FROM {tbl} t{join}{clause}", params).fetchone()[0]
            order = _order(query)
            sql = f"SELECT {_FEATURE_JSON} FROM {tbl} t{join}{clause} ORDER BY {order} LIMIT ? OFFSET ?"
            rows = conn.execute(sql, (*params, *_order_params(query), query.limit, query.offset)).fetchall()
        return _features(rows, query), matched

    def iter_features(self, layer_id: str) -> Iterator[Feature]:
        """Yield every feature of a layer in order, reading in batches (for whole-layer downloads)."""
        after = 0
        while True:
            with self._read() as conn:
                entry = self._entry(conn, layer_id)
                if entry is None:
                    return
                rows = conn.execute(f"SELECT position, fid, geometry, properties FROM {entry[0]} WHERE position > ?"
                                    " ORDER BY position LIMIT ?", (after, BATCH)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _feature(row[1:], FeatureQuery())
            after = rows[-1][0]


def _conditions(tbl: str, query: FeatureQuery) -> tuple[list[str], list, str]:
    where: list[str] = []
    params: list = []
    join = ""
    if query.bbox is not None:
        minx, miny, maxx, maxy = query.bbox
        join = f" JOIN {tbl}_rt r ON r.position = t.position"
        where.append("r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"
                     " AND t.minx <= ? AND t.maxx >= ? AND t.miny <= ? AND t.maxy >= ?")
        params += [maxx, minx, maxy, miny] * 2
        # the R*Tree compares bounding boxes; a line or polygon must itself intersect the window
        where.append("(t.geometry LIKE '{\"type\": \"Point\"%' OR geom_intersects(t.geometry, ?, ?, ?, ?))")
        params += [minx, miny, maxx, maxy]
    if query.datetime_start:
        where.append("t.dt_end >= ?")
        params.append(normalise_instant(query.datetime_start))
    if query.datetime_end:
        where.append("t.dt_start <= ?")
        params.append(normalise_instant(query.datetime_end, end=True))
    for name, value in query.properties:  # booleans compare as true/false, as JSON (and PostGIS's ->>) writes them
        where.append("(CASE json_type(t.properties, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
                     " ELSE CAST(json_extract(t.properties, ?) AS TEXT) END) = ?")
        params += [_json_path(name), _json_path(name), str(value)]
    for word in query.q:
        where.append("instr(t.text, ?) > 0")
        params.append(word.lower())
    return where, params, join


def _register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("geom_intersects", 5, _geom_intersects, deterministic=True)


def _geom_intersects(geometry: str | None, minx: float, miny: float, maxx: float, maxy: float) -> int:
    """SQL function: does a GeoJSON geometry intersect a lon/lat box (exactly, not by its bounding box)?"""
    if not geometry:
        return 0
    from shapely.geometry import box, shape

    try:
        return int(shape(json.loads(geometry)).intersects(box(minx, miny, maxx, maxy)))
    except (ValueError, TypeError, AttributeError):
        return 0


def _order(query: FeatureQuery) -> str:
    parts = [f"json_extract(t.properties, ?) {'ASC' if asc else 'DESC'}" for _, asc in query.sortby]
    return ", ".join([*parts, "t.position"])


def _order_params(query: FeatureQuery) -> list[str]:
    return [_json_path(name) for name, _ in query.sortby]


# each feature written as GeoJSON by SQLite itself, so a page is parsed by one json.loads call
_FEATURE_JSON = ("'{\"type\":\"Feature\",\"id\":' || json_quote(t.fid) || ',\"geometry\":' || "
                 "coalesce(t.geometry, 'null') || ',\"properties\":' || t.properties || '}'")


def _features(rows: list[tuple], query: FeatureQuery) -> list[Feature]:
    return trim_features(json.loads("[" + ",".join(r[0] for r in rows) + "]"), query)


def _feature(row: tuple, query: FeatureQuery) -> Feature:
    fid, geometry, properties = row
    props = json.loads(properties)
    if query.select_properties:
        props = {k: v for k, v in props.items() if k in query.select_properties}
    geom = None if query.skip_geometry or not geometry else json.loads(geometry)
    return {"type": "Feature", "id": fid, "geometry": geom, "properties": props}
