"""The two databases pycsw's repository can live in: an SQLite file (the embedded default) or PostgreSQL + PostGIS.

``CswRepository`` (repository.py) writes the same rows to either through this small interface: statements are
written once with ``?`` placeholders, transactions are ``with database.transaction():``, and each database knows
the tables pycsw 2.6.2 expects of it (its ``admin.setup_db``) and the SQLAlchemy URL pycsw opens it with.

PostgreSQL differs from pycsw's own ``setup_db`` in two deliberate ways (docs/csw.md, "CSW on PostgreSQL"):
- no full-text index (``fts_gin_idx`` and the ``anytext_tsvector`` trigger): with it pycsw answers ``csw:AnyText``
  by ``plainto_tsquery('english', …)``, whose parser takes a run of Chinese characters as one word, so 交通 would
  find nothing inside 武汉市交通运输局; without it pycsw matches ``anytext ILIKE '%word%'``, a substring as on SQLite;
- no B-tree index on the free-text columns (titles, abstract, keywords, links, constraints): PostgreSQL refuses
  a B-tree entry over ~2.7 kB, so one long abstract would make a whole publish fail; no query of pycsw's is
  helped by them (a ``LIKE '%…%'`` cannot use a B-tree).
The geometry is pycsw's "native PostGIS" layout: a ``wkb_geometry geometry(Geometry, 4326)`` column filled from
``wkt_geometry`` by pycsw's own trigger, with a GiST index; pycsw then filters with ``ST_Intersects`` on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from core.errors import WodpError
from core.sqlite import rollback
from ogc.csw import anytext
from ogc.csw.records import COLUMNS

log = logging.getLogger(__name__)

NOT_NULL = ("identifier", "typename", "schema", "mdsource", "insert_date", "xml", "anytext")
UNINDEXED = ("identifier", "xml", "anytext", "wkt_geometry")  # pycsw indexes every other column
FREE_TEXT = ("title", "title_alternate", "abstract", "keywords", "links", "accessconstraints", "otherconstraints",
             "securityconstraints", "conditionapplyingtoaccessanduse", "lineage")  # not B-tree indexed on PostgreSQL
WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
             'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",'
             '0.01745329251994328,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]')
GEOMETRY_COLUMN = "wkb_geometry"  # the name pycsw 2.6.2's filters use for a native PostGIS column (fes1/fes2)
URL_ENV = "CSW_REPOSITORY_DATABASE"  # how a PostgreSQL URL reaches a child process (never argv, never a file)


class RepositoryDatabaseError(WodpError):
    """The repository's PostgreSQL database cannot be reached or is not prepared (the message has no password)."""

    status = 503
    code = "csw-unavailable"


def redacted(url: str) -> str:
    """Return a database URL without its password (for logs and files)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":", 1)[0] + ":***@" + netloc[1]))


def sqlite_ddl(table: str) -> list[str]:
    """Return the statements of pycsw 2.6.2's ``admin.setup_db`` for SQLite (tables and indexes)."""
    columns = ", ".join(f"{c} {'VARCHAR' if c == 'xml' else 'TEXT'}{' NOT NULL' if c in NOT_NULL else ''}"
                        for c in COLUMNS)
    ddl = [
        "CREATE TABLE IF NOT EXISTS spatial_ref_sys (srid INTEGER NOT NULL, auth_name TEXT, auth_srid INTEGER,"
        " srtext TEXT, PRIMARY KEY (srid))",
        "CREATE TABLE IF NOT EXISTS geometry_columns (f_table_catalog TEXT NOT NULL, f_table_schema TEXT NOT NULL,"
        " f_table_name TEXT NOT NULL, f_geometry_column TEXT NOT NULL, geometry_type INTEGER,"
        " coord_dimension INTEGER, srid INTEGER NOT NULL, geometry_format TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY (identifier))",
    ]
    return ddl + [f"CREATE INDEX IF NOT EXISTS ix_{table}_{c} ON {table} ({c})" for c in COLUMNS if c not in UNINDEXED]


def postgres_ddl(table: str) -> list[str]:
    """Return the statements that make pycsw's PostGIS-native repository table (see the module docstring)."""
    columns = ", ".join(f"{c} {'VARCHAR' if c == 'xml' else 'TEXT'}{' NOT NULL' if c in NOT_NULL else ''}"
                        for c in COLUMNS)
    ddl = [f"CREATE TABLE IF NOT EXISTS {table} ({columns}, {GEOMETRY_COLUMN} geometry(Geometry, 4326),"
           f" {anytext.COLUMN} integer[] NOT NULL DEFAULT '{{}}', PRIMARY KEY (identifier))",
           grams_index(table)]
    ddl += [f"CREATE INDEX IF NOT EXISTS ix_{table}_{c} ON {table} ({c})" for c in COLUMNS
            if c not in UNINDEXED and c not in FREE_TEXT]
    # pycsw 2.6.2's own trigger (admin.setup_db): the native geometry follows wkt_geometry on every write
    ddl += [f"""CREATE OR REPLACE FUNCTION {table}_update_geometry() RETURNS trigger AS $body$
BEGIN
    IF NEW.wkt_geometry IS NULL THEN
        NEW.{GEOMETRY_COLUMN} := NULL;
        RETURN NEW;
    END IF;
    NEW.{GEOMETRY_COLUMN} := ST_GeomFromText(NEW.wkt_geometry, 4326);
    RETURN NEW;
END;
$body$ LANGUAGE plpgsql""",
            f"CREATE TRIGGER {table}_update_geometry BEFORE INSERT OR UPDATE ON {table}"
            f" FOR EACH ROW EXECUTE PROCEDURE {table}_update_geometry()",
            f"CREATE INDEX IF NOT EXISTS {table}_{GEOMETRY_COLUMN}_idx ON {table} USING GIST ({GEOMETRY_COLUMN})"]
    return ddl


def grams_index(table: str) -> str:
    """The GIN index of the character pairs of each record's text (ogc/csw/anytext.py)."""
    return f"CREATE INDEX IF NOT EXISTS {anytext.index_name(table)} ON {table} USING GIN ({anytext.COLUMN})"


class SqliteDatabase:
    """pycsw's repository as an SQLite file in WAL mode (pycsw reads the last committed state while we write)."""

    kind = "sqlite"
    table = "records"
    skipped_table = "skipped_records"
    digests_table = "wodp_digests"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def __str__(self) -> str:
        return str(self.path)

    @property
    def pycsw_url(self) -> str:
        """The SQLAlchemy URL pycsw opens the repository with."""
        return f"sqlite:///{self.path.resolve()}"

    def prepare(self, table: str, extra: Iterable[str]) -> None:
        """Create pycsw's tables (as its setup_db does) and ours, once."""
        fresh = not self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        with self.transaction():
            for statement in [*sqlite_ddl(table), *extra]:
                self._conn.execute(statement)
            if fresh:
                self._conn.execute("INSERT OR IGNORE INTO spatial_ref_sys VALUES (4326, 'EPSG', 4326, ?)",
                                   (WGS84_WKT,))
                self._conn.execute("INSERT INTO geometry_columns VALUES ('public', 'public', ?,"
                                   " 'wkt_geometry', 3, 2, 4326, 'WKT')", (table,))
            self._add_pairs(table)
            self._repair_pairs(table)

    def _repair_pairs(self, table: str) -> int:
        """Give their pairs to records written by anything but our writer (an administrator's SQL: pycsw's own
        transactions are off), which would otherwise be missed by a word their text holds; return how many.

        A record without a number gets its pairs. A number whose record is gone cannot be taken out of the
        contentless FTS5 table (it forgets a text by being told its terms, and the text is gone): then every
        record's pairs are made again. (A record's text changed by such a writer is not seen here.)"""
        fts, numbers = anytext.sqlite_tables(table)
        gone = self._conn.execute(f"SELECT count(*) FROM {numbers} p WHERE NOT EXISTS "
                                  f"(SELECT 1 FROM {table} r WHERE r.identifier = p.identifier)").fetchone()[0]
        if gone:
            self.forget_pairs(table, [], everything=True)
            missing = self._conn.execute(f"SELECT identifier, anytext FROM {table}").fetchall()
        else:
            missing = self._conn.execute(f"SELECT identifier, anytext FROM {table} r WHERE NOT EXISTS "
                                         f"(SELECT 1 FROM {numbers} p WHERE p.identifier = r.identifier)").fetchall()
        self.add_pairs(table, missing)
        if gone or missing:
            log.warning("csw repository %s: %s", self, f"{gone} records gone without our writer: the pairs of all "
                        f"{len(missing)} records made again" if gone else
                        f"{len(missing)} records written without their character pairs were given them")
        return len(missing)

    def _add_pairs(self, table: str) -> None:
        """Make csw:AnyText's pairs tables (ogc/csw/anytext.py), filled from the records already there: pycsw
        uses them once they exist, and they appear with this transaction, filled."""
        fts, numbers = anytext.sqlite_tables(table)
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (fts,)).fetchone():
            return
        self._conn.execute(f"CREATE TABLE {numbers} (n INTEGER PRIMARY KEY, identifier TEXT NOT NULL UNIQUE)")
        self._conn.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5(pairs, content='', detail='none')")
        found = self._conn.execute(f"SELECT identifier, anytext FROM {table}")
        while batch := found.fetchmany(2000):
            self.add_pairs(table, batch)

    def add_pairs(self, table: str, records: Iterable[tuple[str, str]]) -> None:
        """Note the pairs of records written (identifier, AnyText), after forget_pairs of their old texts."""
        fts, numbers = anytext.sqlite_tables(table)
        for identifier, text in records:
            n = self._conn.execute(f"INSERT INTO {numbers} (identifier) VALUES (?)", (identifier,)).lastrowid
            self._conn.execute(f"INSERT INTO {fts} (rowid, pairs) VALUES (?, ?)",
                               (n, anytext.tokens(anytext.gram_codes(text))))

    def forget_pairs(self, table: str, identifiers: list[str], everything: bool = False) -> None:
        """Take out the pairs of records about to be replaced or deleted (before their rows change: a contentless
        FTS5 table forgets a document by being told its terms again, made from the AnyText still in the row)."""
        fts, numbers = anytext.sqlite_tables(table)
        if everything:
            self._conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')")
            self._conn.execute(f"DELETE FROM {numbers}")
            return
        for start in range(0, len(identifiers), 500):
            chunk = identifiers[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for n, text in self._conn.execute(f"SELECT p.n, r.anytext FROM {numbers} p JOIN {table} r"
                                              f" ON r.identifier = p.identifier WHERE p.identifier IN ({marks})",
                                              chunk).fetchall():
                self._conn.execute(f"INSERT INTO {fts} ({fts}, rowid, pairs) VALUES ('delete', ?, ?)",
                                   (n, anytext.tokens(anytext.gram_codes(text))))
            self._conn.execute(f"DELETE FROM {numbers} WHERE identifier IN ({marks})", chunk)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            rollback(self._conn)
            raise

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: tuple = ()) -> None:
        self._conn.execute(sql, params)

    def many(self, sql: str, rows: Iterable[tuple]) -> None:
        self._conn.executemany(sql, rows)

    @staticmethod
    def upsert(table: str, columns: Iterable[str]) -> str:
        """Return an insert-or-replace statement keyed on the first column."""
        columns = list(columns)
        return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase:
    """pycsw's repository as tables of a PostgreSQL database with PostGIS (``database.url``)."""

    kind = "postgresql"
    table = "csw_records"
    skipped_table = "csw_skipped_records"
    digests_table = "csw_digests"
    path = None

    def __init__(self, url: str) -> None:
        self._url = "postgresql://" + url.split("://", 1)[1]  # libpq's form (postgres+psycopg:// is SQLAlchemy's)
        self._lock = threading.RLock()
        self._conn = None
        self._connect()

    def _connect(self):
        """Return the open connection; open a new one when there is none or the last one broke (a restart)."""
        import psycopg

        if self._conn is None or self._conn.broken or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._url, autocommit=True)
            except psycopg.Error as exc:
                raise RepositoryDatabaseError(f"cannot connect to the CSW repository database {self}: "
                                              f"{exc}") from exc
        return self._conn

    def __str__(self) -> str:
        return redacted(self._url)

    @property
    def url(self) -> str:
        """The URL as given (a secret: pass it on through the environment only)."""
        return self._url

    @property
    def pycsw_url(self) -> str:
        """The SQLAlchemy 1.4 URL pycsw opens the repository with (driver psycopg2, in pycsw's environment)."""
        return "postgresql+psycopg2://" + self._url.split("://", 1)[1]

    def pycsw_url_limited(self, seconds: float) -> str:
        """pycsw's URL with a statement timeout: a query ends by itself when we stop waiting for its answer."""
        parts = urlsplit(self.pycsw_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        limit = f"-c statement_timeout={max(1, int(seconds * 1000))}"
        options = [v for k, v in query if k == "options"]
        query = [(k, v) for k, v in query if k != "options"] + [("options", " ".join([*options, limit]))]
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    def prepare(self, table: str, extra: Iterable[str]) -> None:
        """Create the tables once (in one transaction); concurrent openers wait on an advisory lock (no DDL race).

        An existing table is left as it is: no statement that would lock it runs while pycsw reads it.
        """
        with self.transaction():
            self.run("SELECT pg_advisory_xact_lock(hashtext('wodp csw repository'))")
            if not self.rows("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"):
                raise RepositoryDatabaseError(f"the CSW repository database {self} has no PostGIS: run "
                                              "CREATE EXTENSION postgis in it once (docs/scale-out.md)")
            fresh = self.rows("SELECT to_regclass(?) IS NULL", (table,))[0][0]
            for statement in [*(postgres_ddl(table) if fresh else []), *extra]:
                self.run(statement)
            if not fresh:
                self._add_grams(table)
                self._repair_grams(table)

    def _repair_grams(self, table: str) -> int:
        """Give their pairs to records written by anything but our writer (an administrator's SQL: pycsw's own
        transactions are off), whose column kept its default, no pairs: found through the index (an empty array
        is a key of its own in GIN), given theirs; return how many. (A text changed by such a writer is not seen
        here.)"""
        found = self.rows(f"SELECT identifier, anytext FROM {table} WHERE {anytext.COLUMN} <@ '{{}}'::integer[]")
        repaired = [(codes, identifier) for identifier, text in found if (codes := anytext.gram_codes(text))]
        if repaired:
            self.many(f"UPDATE {table} SET {anytext.COLUMN} = ? WHERE identifier = ?", repaired)
            log.warning("csw repository %s: %d records written without their character pairs were given them",
                        self, len(repaired))
        return len(repaired)

    def _add_grams(self, table: str) -> None:
        """Give a repository made before the pairs' index its column, filled, then the index (once; pycsw's
        filters use the pairs only when the index is there, so no record is missed meanwhile)."""
        if self.rows("SELECT to_regclass(?) IS NOT NULL", (anytext.index_name(table),))[0][0]:
            return
        self.run(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {anytext.COLUMN} integer[] NOT NULL DEFAULT '{{}}'")
        done = ""
        while True:  # in slices: one record's text at a time in memory, not the whole repository's
            found = self.rows(f"SELECT identifier, anytext FROM {table} WHERE identifier > ? ORDER BY identifier"
                              " LIMIT 2000", (done,))
            if not found:
                break
            self.many(f"UPDATE {table} SET {anytext.COLUMN} = ? WHERE identifier = ?",
                      [(anytext.gram_codes(text), identifier) for identifier, text in found])
            done = found[-1][0]
        self.run(grams_index(table))
        self.run(f"ANALYZE {table}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self._connect().transaction():
            yield

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._connect().execute(sql.replace("?", "%s"), params).fetchall()

    def run(self, sql: str, params: tuple = ()) -> None:
        with self._lock:
            self._connect().execute(sql.replace("?", "%s"), params)

    def many(self, sql: str, rows: Iterable[tuple]) -> None:
        rows = list(rows)
        if rows:
            with self._lock, self._connect().cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)

    @staticmethod
    def upsert(table: str, columns: Iterable[str]) -> str:
        """Return an insert-or-update statement keyed on the first column."""
        columns = list(columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
        return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def open_database(target: Path | str | SqliteDatabase | PostgresDatabase):
    """Open the repository's database: a path (SQLite), a postgresql:// URL, or an opened database."""
    if isinstance(target, (SqliteDatabase, PostgresDatabase)):
        return target
    if isinstance(target, str) and re.match(r"postgres(ql)?(\+psycopg)?://", target):
        return PostgresDatabase(target)
    return SqliteDatabase(Path(target))


def database_from_environment(argument: str):
    """Open the database a worker process was given: a path, or "postgresql" and the URL in the environment."""
    if argument == PostgresDatabase.kind:
        return PostgresDatabase(os.environ[URL_ENV])
    return SqliteDatabase(Path(argument))
