"""CSW on SQLite against CSW on PostgreSQL + PostGIS, side by side, on the demo catalogue (issue 11).

    PYTHONPATH=. .venv/bin/python bench/csw_postgres.py [--datasets 1700] [--rounds 60] [--copies 58]

Two platforms over the same demo catalogue: the embedded default (pycsw's repository an SQLite file) and
``database.url`` set (the repository a table in a throwaway PostgreSQL + PostGIS cluster, tests/pg.py). Each is
served by waitress as `wodp serve` does; requests go to /csw over HTTP, alternating between the two, one client.
Reported: the repository rebuild rate, then p50/p95 of GetRecords (10 records, brief) with a text filter, with a
bounding box and without a filter, and the hits each backend answered (they must agree). Last, for the docs, what
pycsw's own PostgreSQL full text (``plainto_tsquery('english', …)``) would match for the same words.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

WORDS = ("交通", "教育", "江夏区", "统计", "data")


def serve(datasets: int, home: Path, environ: dict):
    """Open a platform with the demo loaded, serve it on a free port; return (platform, csw url, stop)."""
    from waitress.server import create_server

    from config import load_settings
    from ogc.csw.process import free_port
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    port = free_port()
    settings = load_settings(environ, overrides={"site": {"base_uri": f"http://127.0.0.1:{port}"},
                                                 "demo": {"datasets": datasets, "spatial": min(200, datasets // 8)},
                                                 "rate_limits": {"enabled": False}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    server = create_server(create_app(platform=platform), host="127.0.0.1", port=port, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    return platform, f"http://127.0.0.1:{port}/csw", server.close


def multiply(repository, copies: int) -> None:
    """Add `copies` copies of every record, under new identifiers (the same texts: each word as frequent)."""
    from ogc.csw import anytext
    from ogc.csw.records import COLUMNS

    db, table = repository.db, repository.table
    columns = [*COLUMNS, anytext.COLUMN] if db.kind == "postgresql" else list(COLUMNS)
    chosen = ", ".join("identifier || '-copy-' || n" if c == "identifier" else c for c in columns)
    numbers = ("SELECT generate_series(1, ?) AS n" if db.kind == "postgresql" else
               "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?) SELECT n FROM s")
    with db.transaction():
        db.run(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table}"
               f" CROSS JOIN ({numbers}) AS copies", (copies,))
        if db.kind == "sqlite":  # the pairs of every record again, the copies' with them (ogc/csw/anytext.py)
            db.forget_pairs(table, [], everything=True)
            db.add_pairs(table, db.rows(f"SELECT identifier, anytext FROM {table}"))
    if db.kind == "postgresql":  # vacuumed now, not by autovacuum during the measures (before and after alike)
        db.run(f"VACUUM ANALYZE {table}")


def get_records(constraint: str | None, results: str = "results") -> str:
    params = {"service": "CSW", "version": "2.0.2", "request": "GetRecords", "typenames": "csw:Record",
              "elementsetname": "brief", "resulttype": results, "maxrecords": "10"}
    if constraint:
        language = "FILTER" if constraint.startswith("<") else "CQL_TEXT"
        params |= {"constraintlanguage": language, "constraint_language_version": "1.1.0", "constraint": constraint}
    return urllib.parse.urlencode(params)


def bbox_filter(w: float, s: float, e: float, n: float) -> str:
    return ('<ogc:Filter xmlns:ogc="http://www.opengis.net/ogc" xmlns:gml="http://www.opengis.net/gml"><ogc:BBOX>'
            '<ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope srsName="urn:ogc:def:crs:OGC:1.3:CRS84">'
            f'<gml:lowerCorner>{w} {s}</gml:lowerCorner><gml:upperCorner>{e} {n}</gml:upperCorner></gml:Envelope>'
            '</ogc:BBOX></ogc:Filter>')


def matched(body: bytes) -> int:
    from lxml import etree

    results = etree.fromstring(body).find(".//{*}SearchResults")
    if results is None:
        raise RuntimeError(body[:500].decode("utf-8", "replace"))
    return int(results.get("numberOfRecordsMatched"))


def measure(client, urls: dict[str, str], query: str, rounds: int) -> dict[str, tuple[float, float, int]]:
    """Alternate the backends; return name -> (p50 ms, p95 ms, records matched)."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    hits = {}
    for name, url in urls.items():  # warm: pycsw started, table mapped, caches filled
        hits[name] = matched(client.get(f"{url}?{query}").content)
    for _ in range(rounds):
        for name, url in urls.items():
            started = time.perf_counter()
            response = client.get(f"{url}?{query}")
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return {name: (statistics.median(t), statistics.quantiles(t, n=20)[18], hits[name]) for name, t in times.items()}


def fts_counts(url: str, table: str) -> dict[str, tuple[int, int]]:
    """What a substring (ILIKE, what we serve) and pycsw's full text would match for each word."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {word: (conn.execute(f"SELECT count(*) FROM {table} WHERE anytext ILIKE %s",
                                    (f"%{word}%",)).fetchone()[0],
                       conn.execute(f"SELECT count(*) FROM {table} WHERE to_tsvector('english', anytext) @@ "
                                    "plainto_tsquery('english', %s)", (word,)).fetchone()[0])
                for word in WORDS}


def pairs_size(url: str, table: str) -> str:
    """What the pairs cost in the database: per record, the array's bytes and the GIN index's."""
    import psycopg

    from ogc.csw import anytext

    with psycopg.connect(url) as conn:
        rows, pairs, array_bytes, text_bytes, table_bytes = conn.execute(
            f"SELECT count(*), avg(cardinality({anytext.COLUMN})), avg(pg_column_size({anytext.COLUMN})),"
            f" avg(pg_column_size(anytext)), pg_total_relation_size('{table}') FROM {table}").fetchone()
        index_bytes = conn.execute("SELECT pg_relation_size(%s)", (anytext.index_name(table),)).fetchone()[0]
    return (f"{rows} records, {pairs:.0f} pairs each, array {array_bytes / 1024:.1f} KB (AnyText itself "
            f"{text_bytes / 1024:.1f} KB), GIN index {index_bytes / rows / 1024:.2f} KB per record; "
            f"the whole table {table_bytes / rows / 1024:.1f} KB per record")


def sql_times(url: str, table: str) -> dict[str, dict[str, float]]:
    """Median ms of the count pycsw runs for AnyText (ILIKE), of LIKE, and of ILIKE over a pg_trgm index."""
    import psycopg

    def median_ms(conn, sql, word):
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            conn.execute(sql, (f"%{word}%",) if word is not None else ()).fetchone()
            runs.append((time.perf_counter() - started) * 1000)
        return statistics.median(runs)

    from ogc.csw import anytext

    out: dict[str, dict[str, float]] = {word: {} for word in WORDS}
    with psycopg.connect(url, autocommit=True) as conn:
        for label, op in (("ILIKE", "ILIKE"), ("LIKE", "LIKE")):
            for word in WORDS:
                out[word][label] = median_ms(conn, f"SELECT count(*) FROM {table} WHERE anytext {op} %s", word)
        for word in WORDS:  # what pycsw runs since ogc/csw/anytext.py: the pairs' index, then the same ILIKE
            where = anytext.with_grams("anytext ilike :pvalue0", [f"%{word}%"]).replace(":pvalue0", "%s")
            out[word]["pairs+ILIKE"] = median_ms(conn, f"SELECT count(*) FROM {table} WHERE {where}",
                                                 word if "%s" in where else None)  # a pair alone: no ILIKE
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute(f"CREATE INDEX bench_trgm ON {table} USING gin (anytext gin_trgm_ops)")
        except psycopg.Error as exc:
            print(f"  (pg_trgm not measured: {exc})")
            return out
        for word in WORDS:
            out[word]["ILIKE+trgm"] = median_ms(conn, f"SELECT count(*) FROM {table} WHERE anytext ILIKE %s", word)
        conn.execute("DROP INDEX bench_trgm")
    return out


def main() -> int:
    import httpx

    from pg import fresh_database_url, start_cluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1700)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--copies", type=int, default=0,
                        help="then copy every record this many times in both repositories (1,700 × 59 = 100,300)")
    args = parser.parse_args()
    cluster, seconds = start_cluster()
    print(f"PostgreSQL + PostGIS cluster up in {seconds:.1f} s")
    platforms = []
    try:
        url = fresh_database_url(cluster.dsn, "cswbench")
        urls = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, environ in (("sqlite", {}), ("postgresql", {"WODP_DATABASE__URL": url,
                                                                          "WODP_DATABASE__AUTO_MIGRATE": "true"})):
                started = time.perf_counter()
                platform, csw_url, stop = serve(args.datasets, Path(tmp) / name, environ)
                platforms.append((platform, stop))
                urls[name] = csw_url
                repository = platform.csw.repository
                repository.rebuild(platform.store)
                print(f"{name:10}  demo loaded in {time.perf_counter() - started:5.1f} s; rebuild of "
                      f"{repository.count()} records {repository.last_write['seconds']:.2f} s "
                      f"({repository.last_write['rows_per_s']:.0f} rows/s)")
                if args.copies:
                    started = time.perf_counter()
                    multiply(repository, args.copies)
                    print(f"{name:10}  copied to {repository.count()} records in {time.perf_counter() - started:.1f} s")
            w, s, e, n = 114.25, 30.55, 114.35, 30.65  # central Wuhan
            queries = {
                "GetRecords 10, text 交通 (AnyText)": get_records("csw:AnyText like '%交通%'"),
                "GetRecords 10, text 统计 (AnyText)": get_records("csw:AnyText like '%统计%'"),
                "GetRecords 10, text 交通运输 (AnyText)": get_records("csw:AnyText like '%交通运输%'"),
                "GetRecords 10, text data (AnyText)": get_records("csw:AnyText like '%data%'"),
                "GetRecords 10, title 交通": get_records("dc:title like '%交通%'"),
                "GetRecords 10, bbox": get_records(bbox_filter(w, s, e, n)),
                "GetRecords 10, no filter": get_records(None),
                "GetRecords hits, text 交通": get_records("csw:AnyText like '%交通%'", "hits"),
            }
            records = args.datasets * (args.copies + 1)
            print(f"\n{records} records ({args.datasets} datasets × {args.copies + 1}), {args.rounds} rounds each, one client, alternating:\n")
            print(f"{'request':38} {'sqlite p50':>10} {'p95':>7} {'pg p50':>8} {'p95':>7} {'pg/sqlite':>9}  matched")
            with httpx.Client(timeout=60, trust_env=False) as client:
                for label, query in queries.items():
                    got = measure(client, urls, query, args.rounds)
                    (sp50, sp95, shits), (pp50, pp95, phits) = got["sqlite"], got["postgresql"]
                    same = "" if shits == phits else "  DIFFERENT"
                    print(f"{label:38} {sp50:10.1f} {sp95:7.1f} {pp50:8.1f} {pp95:7.1f} {pp50 / sp50:9.2f}"
                          f"  {shits} / {phits}{same}")
            print("\nAnyText on PostgreSQL: substring (ILIKE, served) vs pycsw's full text (not enabled):")
            for word, (like, fts) in fts_counts(url, "csw_records").items():
                print(f"  {word:6} ILIKE {like:5}   plainto_tsquery('english') {fts:5}")
            print("\nThe AnyText pairs on PostgreSQL (ogc/csw/anytext.py): " + pairs_size(url, "csw_records"))
            print("\nThe AnyText count in SQL alone on PostgreSQL, median ms (pycsw ran ILIKE; now pairs+ILIKE where"
                  " the pairs are rare, ILIKE alone elsewhere; here pairs+ILIKE for every word):")
            for word, times in sql_times(url, "csw_records").items():
                print(f"  {word:6} " + "   ".join(f"{k} {v:6.1f}" for k, v in times.items()))
    finally:
        for platform, stop in platforms:
            stop()
            platform.close()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
