"""Serve pycsw 2.6.2 over WSGI on loopback: runs in pycsw's own environment (.venv-csw), started by ogc.csw.process.

    python -m ogc.csw.service --port 8123 --config /path/pycsw.json

The config file is the pycsw configuration as JSON (section → option → value), written by the main process
from the platform settings. Each request gets ``pycsw.server.Csw(config, environ)`` directly: pycsw's own
dispatcher (pycsw.wsgi) lets a ``config`` query parameter choose another configuration file, so that parameter
is dropped here and never reaches pycsw. XML with a DTD or entity declarations is refused before parsing.
Only the standard library, pycsw and waitress are imported (the main environment's packages are not here).
"""

from __future__ import annotations

import argparse
import configparser
import io
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from urllib.parse import parse_qsl, urlencode

from ogc.csw import anytext
from ogc.csw.owsexception import CONTENT_TYPE, exception_report, has_doctype, request_version

log = logging.getLogger("ogc.csw.service")
SAFE_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(;[\w\s=.+\"-]*)?$")
STATUS = re.compile(r"^\d{3} [^\r\n]*$")


def pycsw_config(sections: dict) -> configparser.ConfigParser:
    """Build pycsw's configuration from a dict, with no interpolation (values are taken literally)."""
    config = configparser.ConfigParser(interpolation=None)
    for section, options in sections.items():
        config.add_section(section)
        for key, value in options.items():
            config.set(section, key, str(value))
    return config


DEFAULT_MAX_RECORDS = "10"  # CSW 2.0.2 and 3.0: maxRecords defaults to 10 (pycsw would use its cap instead)
GET_RECORDS = "GetRecords"


def _without_config(query: str) -> str:
    """Drop any `config` parameter; give GetRecords the standard default maxRecords when it has none."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() != "config"]
    names = {k.lower(): v for k, v in pairs}
    if names.get("request") == GET_RECORDS and "maxrecords" not in names:
        pairs.append(("maxrecords", DEFAULT_MAX_RECORDS))
    return urlencode(pairs)


def _with_default_max(body: bytes) -> bytes:
    """Give an XML GetRecords the standard default maxRecords when it has none (the body has no DTD)."""
    from lxml import etree

    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return body  # pycsw answers the parse error
    if etree.QName(root).localname == GET_RECORDS and root.get("maxRecords") is None:
        root.set("maxRecords", DEFAULT_MAX_RECORDS)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return body


def map_table_once() -> None:
    """Let pycsw map its records table once per process, not on every request (what pycsw answers is unchanged).

    pycsw 2.6.2 builds a new SQLAlchemy class over the table for each request: it reads the table's columns and
    indexes from SQLite again (reflection) and, the class being new, SQLAlchemy compiles every query again. That
    was ~60% of a GetRecords (about 40 ms of CPU here). The table's shape never changes while the process runs
    (ogc/csw/repository.py creates it with pycsw's own columns), so the class made by the first request is kept,
    per database and table, and every later request gets its own session over it, as pycsw does. On PostgreSQL
    the first request's findings are kept too (PostGIS and its native geometry column, full text or not: four
    queries per request otherwise). Other databases go through pycsw's own code.
    """
    from pycsw.core import repository as pycsw_repository
    from sqlalchemy.orm import create_session

    base = pycsw_repository.Repository
    if getattr(base, "maps_table_once", False):
        return
    mapped: dict[tuple, tuple] = {}
    pairs: dict[tuple, tuple] = {}  # (database, table) → (when looked at, what _pairs_facts found: None, no index)
    lock = threading.Lock()

    class Repository(base):
        maps_table_once = True

        def __init__(self, database, context, app_root=None, table="records", repo_filter=None):
            key = (database, app_root, table)
            with lock:
                known = mapped.get(key)
            if known is None or not database.startswith(("sqlite:", "postgresql")):
                base.__init__(self, database, context, app_root, table, repo_filter)
                if self.engine.name in ("sqlite", "sqlite3", "postgresql"):
                    with lock:
                        mapped.setdefault(key, (self.engine, self.dataset, self.dbtype, self.postgis_geometry_column,
                                                self.fts))
                return
            # what base.__init__ does, with the engine, mapped class and findings of the first request
            self.context, self.filter = context, repo_filter
            self.engine, self.dataset, self.dbtype, self.postgis_geometry_column, self.fts = known
            self.session = create_session(self.engine)
            self.queryables = {}
            for tname in self.context.model["typenames"]:
                for qname in self.context.model["typenames"][tname]["queryables"]:
                    self.queryables[qname] = dict(self.context.model["typenames"][tname]["queryables"][qname])
            self.queryables["_all"] = {}
            for qbl in self.queryables:
                self.queryables["_all"].update(self.queryables[qbl])
            self.queryables["_all"].update(self.context.md_core_model["mappings"])

        def query(self, constraint, sortby=None, typenames=None, maxrecords=10, startposition=0):
            """pycsw's query, with the character pairs' condition beside a csw:AnyText LIKE (anytext.py)."""
            dialect = str(self.dbtype).split("+")[0]
            if "where" in constraint and dialect in ("postgresql", "sqlite"):
                too_common = self._too_common(dialect)
                if too_common is not None:
                    where = anytext.with_grams(constraint["where"], constraint["values"], too_common,
                                               table=self.dataset.__tablename__, dialect=dialect)
                    constraint = {**constraint, "where": where}
            return base.query(self, constraint, sortby, typenames, maxrecords, startposition)

        def _too_common(self, dialect: str):
            """None while the table has no pairs' index (it is made filled: databases.py), else how to tell a
            pattern whose candidates are too many for the index to pay: PostgreSQL's statistics of the pairs
            (pg_stats, the rarest pair's share), SQLite's count of the candidates up to that share (FTS5,
            a few ms). What is known of the table is looked at again after a minute."""
            from sqlalchemy import text

            table = self.dataset.__tablename__
            key = (str(self.engine.url), table)
            with lock:
                known = pairs.get(key)
            if known is None or time.monotonic() - known[0] > 60:
                known = (time.monotonic(), self._pairs_facts(dialect, table))
                with lock:
                    pairs[key] = known
            facts = known[1]
            if facts is None:
                return None
            share = anytext.UNSELECTIVE[dialect]
            if dialect == "postgresql":
                return lambda codes: min(facts.get(code, 0.0) for code in codes) > share
            cap = int(facts["records"] * share) + 1

            def too_common(codes: list[int]) -> bool:
                found = self.session.execute(text(
                    f"SELECT count(*) FROM ({anytext.fts_match(table, codes)} LIMIT {cap})")).scalar()
                return found >= cap

            return too_common

        def _pairs_facts(self, dialect: str, table: str) -> dict | None:
            from sqlalchemy import text

            if dialect == "sqlite":
                fts, numbers = anytext.sqlite_tables(table)
                if not self.session.execute(text("SELECT 1 FROM sqlite_master WHERE name = :name"),
                                            {"name": fts}).first():
                    return None
                return {"records": self.session.execute(text(f"SELECT count(*) FROM {numbers}")).scalar()}
            if not self.session.execute(text("SELECT to_regclass(:name) IS NOT NULL"),
                                        {"name": anytext.index_name(table)}).scalar():
                return None
            row = self.session.execute(text(
                "SELECT most_common_elems::text::integer[], most_common_elem_freqs FROM pg_stats"
                " WHERE tablename = :table AND attname = :column"), {"table": table, "column": anytext.COLUMN}).first()
            return dict(zip(row[0], row[1])) if row and row[0] else {}

    pycsw_repository.Repository = Repository


class CswApp:
    """The WSGI application: one pycsw Csw object per request, over a fixed configuration."""

    def __init__(self, sections: dict, max_body: int = 10 * 1024 * 1024) -> None:
        self.sections = sections
        self.max_body = max_body

    def __call__(self, environ, start_response):
        try:
            status, content_type, body = self.handle(environ)
        except Exception:  # never a traceback to the client
            log.exception("pycsw failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("QUERY_STRING"))
            status, content_type = "500 Internal Server Error", CONTENT_TYPE
            body = exception_report(request_version(environ.get("QUERY_STRING", "")), "NoApplicableCode",
                                    "service", "the catalogue service failed on this request; it has been logged")
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    def handle(self, environ) -> tuple[str, str, bytes]:
        """Answer one request: (status line, content type, body)."""
        from pycsw.server import Csw

        environ = dict(environ)
        environ["QUERY_STRING"] = _without_config(environ.get("QUERY_STRING", ""))
        if environ.get("REQUEST_METHOD") == "POST":
            refused = self._read_post(environ)
            if refused:
                return refused
        csw = Csw(pycsw_config(self.sections), environ)
        status, body = csw.dispatch_wsgi()
        content_type = getattr(csw, "contenttype", CONTENT_TYPE)
        if isinstance(content_type, bytes):
            content_type = content_type.decode("latin-1")
        if csw.exception or not SAFE_TYPE.match(content_type or ""):
            content_type = CONTENT_TYPE  # an exception is XML whatever outputFormat asked
        if not STATUS.match(status):
            status = "500 Internal Server Error"
        return status, content_type, body

    def _read_post(self, environ) -> tuple[str, str, bytes] | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(max(length, 0), self.max_body))
        version = request_version("", body) if body else "3.0.0"
        if has_doctype(body):
            return ("400 Bad Request", CONTENT_TYPE,
                    exception_report(version, "NoApplicableCode", "request",
                                     "XML with a DOCTYPE or ENTITY declaration is not accepted"))
        body = _with_default_max(body)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return None


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone (no orphaned pycsw)."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True, help="pycsw configuration as JSON")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.logs import bound_log_lines

    bound_log_lines(2000)  # the default of logging.max_line_chars: no line carries a whole record
    warnings.filterwarnings("ignore")  # pkg_resources and SQLAlchemy deprecation notes, once per import
    with open(args.config, encoding="utf-8") as handle:
        sections = json.load(handle)
    database = os.environ.pop("CSW_REPOSITORY_DATABASE", None)  # PostgreSQL: the URL is never in the file
    if database:
        sections["repository"]["database"] = database
    import pycsw.server  # noqa: F401  import before listening: the first request is then fast

    map_table_once()

    from waitress import serve

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    serve(CswApp(sections), host=args.host, port=args.port, threads=args.threads, ident="pycsw",
          _quiet=True)


if __name__ == "__main__":
    main()
