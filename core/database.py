"""Give every part one data layer: embedded SQLite files (the default) or one PostgreSQL database.

A part (the harvest jobs, the change log, the search index, the push accounts, /catalog's order, publisher
scores, data file states, ...) opens its ``Database`` with ``open_database(url, part, path)``:

- no URL: the part's own SQLite file at ``path`` (WAL, ``synchronous=NORMAL``, as before), migrated at once;
  its statements run on one sqlite3 connection per thread (``SqliteConnection``), as before the data layer;
- a ``postgresql://`` URL: the one database every part shares (its tables carry the part's prefix, in the
  schema of the connection's ``search_path``); its schema must be at the code's revision, or
  ``auto_migrate`` says to bring it there (``wodp db upgrade`` does it by hand).

Both run the same SQL, written as SQLAlchemy ``text()`` with ``:name`` parameters; where the engines differ
(arrays, advisory locks, collations) the part asks ``db.postgres``.

Schema changes are Alembic migrations in ``core/migrations/versions``, one branch per part (its label is the
part's name), so that an embedded file holds only its part's tables and the shared database holds every branch.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import TextClause

from core.errors import WodpError
from core.sqlite import ThreadConnections, rollback

log = logging.getLogger(__name__)

# the parts on the data layer, each a branch of the migrations
PARTS = ("harvest", "changes", "search", "accounts", "links", "catalog_texts", "catalog_order", "quality_scores",
         "datafiles", "submissions", "freshness", "workorders", "audit", "quality_checks", "usage", "feedback",
         "applications", "quotas", "requests", "showcase", "throttle")
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_migrate_lock = threading.Lock()


def in_lists(values: Sequence, name: str = "v", size: int = 500) -> Iterator[tuple[str, dict]]:
    """For a statement ``… IN ({marks})`` over many values: yield ``(marks, params)`` for each ``size`` of them,
    ``marks`` being ``:v0, :v1, …`` and ``params`` their values (one statement per ``size``, on SQLite and
    PostgreSQL alike)."""
    for n in range(0, len(values), size):
        chunk = values[n:n + size]
        yield ", ".join(f":{name}{i}" for i in range(len(chunk))), {f"{name}{i}": v for i, v in enumerate(chunk)}


class DatabaseError(WodpError):
    """The shared database cannot be used as configured (unreachable, or its schema behind the code)."""

    status = 503
    code = "database-unavailable"


def masked(url: str | None) -> str:
    """Write a database URL with its password hidden, for logs and reports."""
    if not url:
        return "(embedded SQLite files)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  not a URL at all: say nothing of it
        return "(unreadable database URL)"


def sqlalchemy_url(url: str) -> str:
    """Name psycopg 3 as the driver of a ``postgresql://`` URL (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(path: Path) -> Engine:
    """An engine for migrations and tools (wodp db); the part's own statements go through SqliteConnection."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False},
                           poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we say BEGIN ourselves (below)
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


class SqliteConnection:
    """A thread's SQLite connection with the little of SQLAlchemy's Connection the parts use.

    The parts write their SQL once, as SQLAlchemy ``text()`` with ``:name`` parameters, which sqlite3 reads
    natively: so on the embedded default a statement goes straight to sqlite3 (~10 µs) instead of through a
    pool checkout, a transaction and SQLAlchemy's execution (~150-400 µs), which a harvest pays per dataset.
    """

    class dialect:  # noqa: N801  (as SQLAlchemy's conn.dialect.name)
        name = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, statement, params=None) -> sqlite3.Cursor:
        sql = statement.text if isinstance(statement, TextClause) else str(statement)
        if isinstance(params, list):
            return self.raw.executemany(sql, params)
        return self.raw.execute(sql, params or {})


def _postgres_engine(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(sqlalchemy_url(url), pool_size=5, max_overflow=20, pool_pre_ping=True)
            event.listen(engine, "connect", _no_jit)
            _engines[url] = engine
        return engine


def _no_jit(dbapi_conn, _record) -> None:
    """Our statements are short: PostgreSQL's JIT, which compiles a plan it estimates dear, cost a word search
    0.4 s of compiling for 1 ms of work (its join estimates over the search postings run high)."""
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_conn.commit()


class Database:
    """One part's tables: on its own SQLite file, or in the shared PostgreSQL database."""

    def __init__(self, engine: Engine, part: str, *, path: Path | None = None, url: str | None = None,
                 owned: bool = True) -> None:
        self.engine, self.part, self.path, self.url, self._owned = engine, part, path, url, owned
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        self._threads = ThreadConnections(path) if path is not None else None  # SQLite: one per thread

    @contextmanager
    def _sqlite(self, begin: str | None) -> Iterator[SqliteConnection]:
        raw = self._threads.get()
        if begin is None or raw.in_transaction:  # a single statement, or one inside this thread's transaction
            yield SqliteConnection(raw)
            return
        raw.execute(begin)
        try:
            yield SqliteConnection(raw)
        except BaseException:
            rollback(raw)
            raise
        try:
            raw.execute("COMMIT")
        except BaseException:
            rollback(raw)  # e.g. SQLITE_FULL at COMMIT: the connection must stay usable
            raise

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def describe(self) -> str:
        """Say where the part's tables are (password hidden)."""
        return str(self.path) if self.path is not None else masked(self.url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Run reads in one transaction: one snapshot on both engines (REPEATABLE READ on PostgreSQL)."""
        if not self.postgres:
            with self._sqlite("BEGIN") as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            if self.postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self, serial: bool = False) -> Iterator[Connection]:
        """Run writes in one transaction (BEGIN IMMEDIATE on SQLite): committed at the end, else rolled back.

        serial: one such writer of the part at a time across processes (SQLite's BEGIN IMMEDIATE does it
        already; on PostgreSQL a transaction-level advisory lock named after the part).
        """
        if not self.postgres:
            with self._sqlite("BEGIN IMMEDIATE") as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(write=True)
            with conn.begin():
                if serial and self.postgres:
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "wodp." + self.part})
                yield conn

    def run(self, sql: str, params=None):
        """Run one statement in its own transaction; return its rows (a list) when it has any."""
        if not self.postgres:
            with self._sqlite(None) as conn:
                cursor = conn.execute(sql, params)
                return cursor.fetchall() if cursor.description is not None else None
        with self.write() as conn:
            result = conn.execute(text(sql), params or {})
            return result.fetchall() if result.returns_rows else None

    def rows(self, sql: str, params=None) -> list:
        """Run one query and return its rows."""
        if not self.postgres:
            with self._sqlite(None) as conn:
                return conn.execute(sql, params).fetchall()
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), params or {}).fetchall()
            conn.rollback()
            return rows

    def close(self) -> None:
        """Close the part's connections (the shared PostgreSQL engine stays for the other parts)."""
        if self._threads is not None:
            self._threads.close()
        if self._owned:
            self.engine.dispose()


def open_database(url: str | None, part: str, path: Path | None = None, *,
                  auto_migrate: bool = False) -> Database:
    """Open a part's tables: its SQLite file (migrated at once) or the shared PostgreSQL database."""
    if part not in PARTS:
        raise ValueError(f"unknown data-layer part {part!r}; known: {', '.join(PARTS)}")
    if url:
        scheme = make_url(url).get_backend_name()
        if scheme not in ("postgresql", "postgres"):
            raise DatabaseError(f"database.url must be a postgresql:// URL, got {scheme}:// ({masked(url)})")
        db = Database(_postgres_engine(url), part, url=url, owned=False)
    else:
        if path is None:
            raise ValueError(f"{part}: an embedded database needs a file path")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(_sqlite_engine(path), part, path=path)
    try:
        prepare(db, migrate=not db.postgres or auto_migrate)
    except BaseException:
        db.close()
        raise
    return db


def as_database(where, part: str) -> Database:
    """Take a Database as it is, or open the embedded SQLite file at a path (tests, tools)."""
    return where if isinstance(where, Database) else open_database(None, part, Path(where))


# -- migrations ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(__file__).with_name("migrations")))


def head_of(part: str) -> str:
    """Return the newest revision of a part's branch."""
    return _script().get_revision(f"{part}@head").revision


def current_of(conn: Connection, part: str) -> str | None:
    """Return the revision of a part's branch that the database holds (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    script = _script()
    for rev in heads:
        found = script.get_revision(rev)
        if found is not None and part in _branch_of(found):
            return rev
    return None


def _branch_of(revision) -> set[str]:
    labels, seen, todo = set(), set(), [revision]
    while todo:
        rev = todo.pop()
        if rev is None or rev.revision in seen:
            continue
        seen.add(rev.revision)
        labels |= set(rev.branch_labels or ())
        todo += [_script().get_revision(r) for r in (rev._all_down_revisions or ())]
    return labels


def prepare(db: Database, *, migrate: bool) -> None:
    """Bring a part's schema to the code's revision, or refuse when it is behind and migrating is not allowed."""
    head = head_of(db.part)
    with db.engine.connect() as conn:
        current = current_of(conn, db.part)
        conn.rollback()
    if current == head:
        return
    if not migrate:
        raise DatabaseError(
            f"the shared database {db.describe()} holds {db.part} at revision {current or 'none'}, the code needs "
            f"{head}: run `wodp db upgrade` (or set database.auto_migrate: true)")
    upgrade(db.engine, f"{db.part}@head")
    log.info("database %s: %s migrated from %s to %s", db.describe(), db.part, current or "nothing", head)


def upgrade(engine: Engine, target: str = "heads") -> None:
    """Run the Alembic migrations up to target on an engine (one transaction per migration on PostgreSQL)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with _migrate_lock, engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def status(engine: Engine, parts=PARTS) -> dict[str, tuple[str | None, str]]:
    """Return part → (revision held, revision the code needs)."""
    with engine.connect() as conn:
        out = {part: (current_of(conn, part), head_of(part)) for part in parts}
        conn.rollback()
    return out


def engine_for(url: str | None, path: Path | None = None) -> Engine:
    """Make an engine for a command (wodp db): the shared database, or one embedded file."""
    if url:
        return _postgres_engine(url)
    return create_engine(f"sqlite:///{path}", poolclass=NullPool)


def open_part(section, part: str, path: Path) -> Database:
    """Open a part as the ``database`` settings section says (url, auto_migrate); path is its embedded file."""
    return open_database(section.url, part, path, auto_migrate=section.auto_migrate)


def dispose_engines() -> None:
    """Close every shared PostgreSQL engine of this process (at exit, and between tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# -- moving an embedded home to the shared database ------------------------------------------------
PART_TABLES = {  # what `wodp db copy` moves; the search index is derived and rebuilds itself from the store
    "harvest": ("harvest_jobs", "harvest_job_errors", "harvest_job_log", "harvest_datasets", "harvest_history",
                "harvest_source_state", "harvest_intents", "harvest_sources"),
    "changes": ("changes_meta", "changes_log", "changes_seen"),
    "accounts": ("accounts", "account_tokens", "push_grants"),
    "links": ("link_status", "dataset_links", "link_quality"),
    "catalog_texts": ("catalog_texts",),
    "submissions": ("submissions", "submission_files", "submission_events"),
    "datafiles": ("datafiles",),  # catalog_order and quality_scores are derived: rebuilt from the store
    "freshness": ("freshness_days", "freshness"),
    "workorders": ("workorders", "workorder_events"),
    "audit": ("audit_log", "audit_state"),
    "usage": ("usage_counts", "usage_visitors", "usage_salts"),
    "feedback": ("feedback_ratings", "feedback_comments"),
    "quality_checks": ("quality_check_runs", "quality_check_findings", "quality_check_files"),
    "applications": ("applications", "application_items", "application_grants", "application_reports"),
    "quotas": ("quota_counters", "quota_usage"),
    "requests": ("requests",),
    "showcase": ("showcase_items", "showcase_datasets", "showcase_images"),
}  # the rate limits' counts (throttle) are not moved: they start again
SERIALS = {"harvest_jobs": "id", "harvest_job_errors": "n", "harvest_job_log": "n", "harvest_history": "n",
           "changes_log": "seq", "submission_events": "n", "workorders": "id", "workorder_events": "n",
           "feedback_comments": "id", "applications": "id", "application_reports": "n",
           "requests": "id",
           "showcase_items": "id"}


def copy_part(source: Database, target: Database, batch: int = 5000) -> dict[str, int]:
    """Copy a part's rows from its embedded file into the shared database, whose tables must be empty.

    Return table → rows copied. Everything is copied in one transaction of the target: all or nothing.
    """
    from sqlalchemy import MetaData, Table, func, select

    tables = PART_TABLES.get(source.part, ())
    counts: dict[str, int] = {}
    with source.engine.connect() as src, target.write() as dst:
        for name in tables:
            table = Table(name, MetaData(), autoload_with=dst)
            held = dst.execute(select(func.count()).select_from(table)).scalar_one()
            if held:
                raise DatabaseError(f"{name} already holds {held} rows in {target.describe()}: "
                                    "copy into an empty database (wodp db upgrade, then wodp db copy)")
            rows = src.execute(text(f"SELECT * FROM {name}"))
            keys, n = list(rows.keys()), 0
            while chunk := rows.fetchmany(batch):
                dst.execute(table.insert(), [dict(zip(keys, row)) for row in chunk])
                n += len(chunk)
            counts[name] = n
            if name in SERIALS and target.postgres:  # new rows are numbered after the copied ones
                column = SERIALS[name]
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                                 f"COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)"))
        src.rollback()
    return counts
