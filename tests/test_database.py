"""The data layer (core/database.py): old embedded homes adopted, PostgreSQL answering as SQLite does."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from core.database import DatabaseError, masked, open_database
from harvesters.jobs import JobStore
from server.changes import ChangeLog
from server.search import SearchIndex
from sparql.store import OxigraphStore
from tests.catalog_samples import SAMPLES, fill_store
from tests.conftest import admin_headers

# The schemas as the code before the data layer wrote them (harvesters/jobs.py, server/changes.py,
# server/search.py at f4de2aa): a home made then must open and keep its rows.
OLD_HARVEST = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY, source TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL,
  finished REAL, heartbeat REAL NOT NULL, pid INTEGER, host TEXT, retry_of INTEGER, trigger TEXT,
  new INTEGER DEFAULT 0, updated INTEGER DEFAULT 0, unchanged INTEGER DEFAULT 0, withdrawn INTEGER DEFAULT 0,
  failed INTEGER DEFAULT 0, superseded INTEGER DEFAULT 0, message TEXT DEFAULT '', held INTEGER DEFAULT 0,
  figures TEXT DEFAULT '{}', boot TEXT);
CREATE TABLE job_errors (job INTEGER NOT NULL, origin TEXT, kind TEXT, message TEXT);
CREATE TABLE job_log (job INTEGER NOT NULL, at REAL NOT NULL, line TEXT NOT NULL);
CREATE TABLE datasets (uri TEXT PRIMARY KEY, source TEXT NOT NULL, channel TEXT, rank INTEGER, hash TEXT,
  state TEXT NOT NULL, job INTEGER, updated REAL NOT NULL);
CREATE TABLE history (dataset TEXT NOT NULL, job INTEGER, source TEXT, at REAL NOT NULL, action TEXT NOT NULL,
  hash TEXT);
CREATE TABLE source_state (source TEXT PRIMARY KEY, state TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE intents (uri TEXT PRIMARY KEY, source TEXT NOT NULL, channel TEXT, rank INTEGER, hash TEXT,
  job INTEGER, at REAL NOT NULL);
INSERT INTO jobs (id, source, status, started, finished, heartbeat, new, message, figures)
  VALUES (7, 'ck', 'succeeded', 100, 160, 160, 2, 'done', '{"records_read": 3}');
INSERT INTO job_log VALUES (7, 101, 'first'), (7, 102, 'second');
INSERT INTO job_errors VALUES (7, 'rec-3', 'mapping', 'no title');
INSERT INTO datasets VALUES ('http://x/datasets/a', 'ck', 'ckan', 1, 'h1', 'published', 7, 150);
INSERT INTO history VALUES ('http://x/datasets/a', 7, 'ck', 150, 'created', 'h1'),
  ('http://x/datasets/b', 7, 'ck', 151, 'created', 'h2');
INSERT INTO source_state VALUES ('ck', '{"etag": "w/1"}', 160);
"""
OLD_CHANGES = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, generation INTEGER NOT NULL,
  id TEXT NOT NULL, uri TEXT NOT NULL, action TEXT NOT NULL);
CREATE TABLE seen(uri TEXT PRIMARY KEY, generation INTEGER NOT NULL, present INTEGER NOT NULL, modified TEXT);
INSERT INTO meta VALUES ('schema', '1'), ('generation', '4');
INSERT INTO changes VALUES (1, 10.0, 3, 'a', 'http://x/datasets/a', 'created'),
  (2, 11.0, 4, 'b', 'http://x/datasets/b', 'withdrawn');
INSERT INTO seen VALUES ('http://x/datasets/a', 3, 1, '2026-01-01T00:00:00+00:00');
"""
OLD_SEARCH = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE docs(n INTEGER PRIMARY KEY, uri TEXT UNIQUE NOT NULL, id TEXT NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5(title);
INSERT INTO meta VALUES ('schema', '1'), ('generation', '9');
INSERT INTO docs VALUES (1, 'http://x/datasets/a', 'a');
"""


def _old_file(path, script: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()


def test_an_embedded_home_made_before_the_data_layer_opens_with_its_rows(tmp_path):
    _old_file(tmp_path / "harvest.sqlite", OLD_HARVEST)
    _old_file(tmp_path / "changes.sqlite", OLD_CHANGES)
    _old_file(tmp_path / "search.sqlite", OLD_SEARCH)
    jobs = JobStore(tmp_path / "harvest.sqlite")
    job = jobs.job(7)
    assert (job.source, job.status, job.counts["new"], job.message) == ("ck", "succeeded", 2, "done")
    assert job.as_json()["records_read"] == 3
    assert jobs.job_log(7) == ["first", "second"]
    assert jobs.job_errors(7) == [{"origin": "rec-3", "kind": "mapping", "message": "no title"}]
    assert jobs.changed(7)["created"] == ["a", "b"]
    assert jobs.entry("http://x/datasets/a").hash == "h1" and jobs.state("ck") == {"etag": "w/1"}
    assert jobs.start("ck") == 8  # ids go on after the old ones
    jobs.close()
    log = ChangeLog(tmp_path / "changes.sqlite")
    assert log.generation() == 4 and log.last_seq() == 2
    assert [(c.seq, c.id, c.action) for c in log.page()[0]] == [(1, "a", "created"), (2, "b", "withdrawn")]
    log.close()
    index = SearchIndex(tmp_path / "search.sqlite")
    assert index.generation() == -1 and index.count() == 0  # derived: rebuilt from the store at start-up
    index.close()
    with sqlite3.connect(tmp_path / "harvest.sqlite") as conn:  # the old tables are gone, not left beside
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "jobs" not in names and "history" not in names and "harvest_jobs" in names


def test_the_url_is_never_shown_with_its_password():
    shown = masked("postgresql://wodp:s3cret-pw@db.example:5432/wodp")
    assert "s3cret-pw" not in shown and "db.example:5432/wodp" in shown
    assert masked(None) == "(embedded SQLite files)"


def test_a_postgresql_database_behind_the_code_stops_the_start(postgis_dsn):
    from tests.conftest import pg_schema_url

    url = pg_schema_url(postgis_dsn, "behind").replace("postgres@", "postgres:pw-not-shown@")
    with pytest.raises(DatabaseError) as caught:
        open_database(url, "harvest")
    assert "wodp db upgrade" in caught.value.message and "none" in caught.value.message
    assert "pw-not-shown" not in caught.value.message
    open_database(url, "harvest", auto_migrate=True).close()
    open_database(url, "harvest").close()  # at the code's revision now: opens


# -- the same answers on both backends ---------------------------------------------------------------
QUERIES = ["", "交通", "教育", "公交", "公交车", "空气质量", "SCHOOLS", "school", "数据 交通", "学", "交 通",
           "roads", "武汉 数据", "nothing-like-this", "车",
           "坐公交车", "教育学校", "PM2.5 空气"]  # jieba cuts and synonyms (ORed alternatives) alike on both
FILTERS = [{}, {"department": ["D012"]}, {"department": ["D012", "D020"]}, {"format": ["CSV"]},
           {"open_type": ["conditional"]}, {"theme": ["T05"]}]


def _answer(result) -> tuple:
    return (result.total, [h["id"] for h in result.hits], [h["title"] for h in result.hits], result.facets)


def _same_bm25(embedded: SearchIndex, shared: SearchIndex, common: frozenset[str] = frozenset()) -> None:
    """Each matching dataset's score on PostgreSQL is FTS5's bm25() of it, to the last bits."""
    from sqlalchemy import text

    from server.search_query import WEIGHTS, Match, bm25_scores

    compared = 0
    for q in QUERIES:
        match = Match.of(q)
        if match is None:
            continue
        with embedded.db.read() as conn:
            fts = dict(conn.execute(text(
                "SELECT d.n, bm25(search_fts, %s) FROM search_fts JOIN search_docs d ON d.n = search_fts.rowid "
                "WHERE search_fts MATCH :m" % ", ".join(map(str, WEIGHTS))), {"m": match.fts}).fetchall())
        with shared.db.read() as conn:
            ours = dict(bm25_scores(conn, match, {}, common=common))
            # the ranked candidates only (lo: the upper half), told how many match (as a search does): the IDF
            # of a one-phrase query is then that number, not counted; the scores are the same
            lo = sorted(ours)[len(ours) // 2] if ours else 0
            upper = dict(bm25_scores(conn, match, {}, lo, matched=len(ours), common=common))
        assert ours.keys() == fts.keys(), q
        assert upper == {n: score for n, score in ours.items() if n >= lo}, q
        for n in fts:
            assert ours[n] == pytest.approx(fts[n], rel=1e-12, abs=1e-15), (q, n)
            compared += 1
    assert compared >= 20


@contextlib.contextmanager
def _both_indexes(tmp_path, postgis_dsn: str, schema: str):
    """The samples' search index on SQLite and on PostgreSQL (a schema of its own), rebuilt; closed after."""
    from core.database import dispose_engines
    from tests.conftest import pg_schema_url

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    embedded = SearchIndex(tmp_path / "search.sqlite")
    shared = SearchIndex(open_database(pg_schema_url(postgis_dsn, schema), "search", auto_migrate=True))
    try:
        for index in (embedded, shared):
            index.rebuild(store)
        yield embedded, shared
    finally:
        embedded.close()
        shared.close()
        store.close()
        dispose_engines()


def test_search_answers_alike_on_sqlite_and_postgresql(tmp_path, postgis_dsn):
    with _both_indexes(tmp_path, postgis_dsn, "parity") as (embedded, shared):
        assert embedded.count() == shared.count() == len(SAMPLES)
        assert embedded.stats() == shared.stats()
        asked = 0
        for q in QUERIES:
            for filters in FILTERS:
                for sort in ("relevance", "modified", "title"):
                    for lang in ("zh", "en"):
                        for page, size, bound in ((1, 100, 10_000), (2, 3, 10_000), (1, 2, 2), (2, 2, 2)):
                            embedded.rank_candidates = shared.rank_candidates = bound  # bounded ranking alike
                            a = embedded.search(q, filters, page=page, page_size=size, lang=lang, sort=sort)
                            b = shared.search(q, filters, page=page, page_size=size, lang=lang, sort=sort)
                            assert _answer(a) == _answer(b), (q, filters, sort, lang, page, bound)
                            asked += 1
            assert embedded.matching(q) == shared.matching(q), q
            for offset, limit in ((0, 100), (1, 2)):  # OGC API Records q pages in the index: alike on both
                page = embedded.matching_page(q, offset, limit)
                assert page == shared.matching_page(q, offset, limit), (q, offset)
                if page is not None:
                    assert page[1] == len(embedded.matching(q)) and set(page[0]) <= embedded.matching(q)
        assert asked == len(QUERIES) * len(FILTERS) * 24
        # every word taken as one in very many datasets (looked up by key in the ranking, semi-joins for the
        # matches: what PostgreSQL's statistics choose for 数据 at 100,000 datasets): the same answers
        from server.search_query import Match

        words = frozenset(t for q in QUERIES if Match.of(q) for _, tokens in Match.of(q).phrases for t in tokens)
        assert len(words) >= 20
        shared._common_tokens = lambda: words
        for q in QUERIES:
            for filters in FILTERS:
                for page, size, bound in ((1, 100, 10_000), (2, 3, 10_000), (1, 2, 2), (2, 2, 2)):
                    embedded.rank_candidates = shared.rank_candidates = bound
                    a = embedded.search(q, filters, page=page, page_size=size)
                    assert _answer(a) == _answer(shared.search(q, filters, page=page, page_size=size)), (q, filters)
        _same_bm25(embedded, shared, words)
        del shared._common_tokens
        _same_bm25(embedded, shared)
        assert sum(embedded.search(q).total > 0 for q in QUERIES) >= 10  # the queries find things


def test_a_word_in_very_many_datasets_is_not_ranked_whole_without_statistics(tmp_path, postgis_dsn, monkeypatch):
    """A relevance search of several phrases is ranked whole, once, only when none is in very many datasets.
    PostgreSQL's statistics can be missing or old (here: none are read), so each phrase's first token is counted
    up to the bound as well: with the bound at 2 datasets, a query with a word in more takes the bounded path,
    one with only rarer words the ranked-once path, and both answer as SQLite does."""
    from sqlalchemy import text

    import server.search_query as search_query
    from server.search_query import Match

    with _both_indexes(tmp_path, postgis_dsn, "rare") as (embedded, shared):
        monkeypatch.setattr(search_query, "COMMON_ROWS", 2)
        with shared.db.read() as conn:
            rows = dict(conn.execute(text("SELECT token, count(*) FROM search_postings GROUP BY token")).fetchall())
            kinds = set()
            for q in QUERIES:
                match = Match.of(q)
                if match is None:
                    continue
                firsts = {tokens[0] for _, tokens in match.phrases if tokens}
                rare = all(rows.get(t, 0) <= 2 for t in firsts)
                assert search_query._all_rare(conn, match, frozenset()) == rare, q
                words = {tokens[0] for _, tokens in match.phrases if len(tokens) == 1}
                if words:  # a one-token phrase the statistics call common: not counted, not rare
                    assert not search_query._all_rare(conn, match, frozenset(words)), q
                if search_query._one_token(match) is None:
                    kinds.add(rare)
        assert kinds == {True, False}  # several-phrase queries of both kinds: both paths are taken
        for q in QUERIES:
            for bound in (10_000, 2):
                embedded.rank_candidates = shared.rank_candidates = bound
                for page, size in ((1, 100), (2, 2)):
                    assert _answer(embedded.search(q, page=page, page_size=size)) == \
                        _answer(shared.search(q, page=page, page_size=size)), (q, bound, page)


def _kept_and_recount(index: SearchIndex) -> tuple[list, list]:
    """The kept counts (zeros left by removals aside) and the same tables counted again from the index's rows."""
    from sqlalchemy import text

    from server.search_query import RECOUNT

    with index.db.read() as conn:
        kept = [sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}")) if r[-1] != 0) for t in RECOUNT]
        recount = [sorted(tuple(r) for r in conn.execute(text(rows)) if r[-1] != 0) for rows in RECOUNT.values()]
    return kept, recount


def test_kept_counts_equal_a_recount_and_answer_alike_after_publish_replace_remove(tmp_path, postgis_dsn):
    """h7's kept facet counts, pairs and home totals: SQLite's triggers and PostgreSQL's counting in Python keep
    the same numbers through a rebuild, new datasets, replaced ones (another publisher and theme) and removals."""
    import dataclasses

    from core.database import dispose_engines
    from tests.catalog_samples import dataset_triples
    from tests.conftest import pg_schema_url

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    embedded = SearchIndex(tmp_path / "search.sqlite")
    shared = SearchIndex(open_database(pg_schema_url(postgis_dsn, "kept"), "search", auto_migrate=True))
    indexes = (embedded, shared)
    try:
        for index in indexes:
            index.rebuild(store)
        copies = [dataclasses.replace(s, key=f"{s.key}-copy") for s in SAMPLES[:6]]
        events = [store.put_datasets({c.uri: dataset_triples(c) for c in copies})]
        moved = [dataclasses.replace(c, department=SAMPLES[-1].department, themes=SAMPLES[-1].themes,
                                     spatial=not c.spatial) for c in copies[:2]]
        events.append(store.put_datasets({c.uri: dataset_triples(c) for c in moved}))  # replaced
        events.append(store.remove_datasets([c.uri for c in copies[2:4]] + [SAMPLES[0].uri]))
        for event in events:
            for index in indexes:
                index.follow(store, event)
        for index in indexes:
            kept, recount = _kept_and_recount(index)
            assert kept == recount and kept[2], index.db.dialect
        assert _kept_and_recount(embedded) == _kept_and_recount(shared)
        from sqlalchemy import text

        with shared.db.read() as conn:  # bm25's token total (search_0006), kept through the same changes
            kept_tokens, summed = conn.execute(text("SELECT (SELECT n FROM search_text_totals WHERE key = 'tokens'), "
                                                    "(SELECT SUM(ntok) FROM search_text)")).fetchone()
        assert kept_tokens == summed > 0
        stats = embedded.stats()
        assert stats == shared.stats()
        assert stats["datasets"] == len(SAMPLES) + 6 - 3 == store.count_datasets()
        for filters in FILTERS:
            a, b = embedded.search("", filters, page_size=100), shared.search("", filters, page_size=100)
            assert _answer(a) == _answer(b), filters
            # the kept counts (one value of one facet) equal those a search counts (two values, one not there)
            if len(filters) == 1 and len(next(iter(filters.values()))) == 1:
                (facet, values), = filters.items()
                counted = embedded.search("", {facet: [*values, "nothing-here"]}, page_size=1)
                assert a.total == counted.total
                assert {f: v for f, v in a.facets.items() if f != facet} == \
                       {f: v for f, v in counted.facets.items() if f != facet}
    finally:
        embedded.close()
        shared.close()
        store.close()
        dispose_engines()


def test_an_index_made_before_the_kept_counts_is_counted_once_by_its_migration(tmp_path, database_url):
    """search_0002 on an index that search_0001 made and filled: its counts are backfilled, then kept."""
    import dataclasses
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import core.database as database
    from tests.catalog_samples import dataset_triples

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    index = SearchIndex(open_database(database_url, "search", tmp_path / "search.sqlite", auto_migrate=True))
    try:
        index.rebuild(store)
        before = index.stats(), index.search("", {"theme": ["T05"]}).facets
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
        with index.db.engine.begin() as conn:  # back to the index of search_0001: no kept counts
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "search_0001")
            assert database.current_of(conn, "search") == "search_0001"
        database.prepare(index.db, migrate=True)
        kept, recount = _kept_and_recount(index)
        assert kept == recount and kept[2]
        assert (index.stats(), index.search("", {"theme": ["T05"]}).facets) == before
        assert index.stats()["datasets"] == len(SAMPLES)
        copy = dataclasses.replace(SAMPLES[0], key=SAMPLES[0].key + "-2")
        index.follow(store, store.put_datasets({copy.uri: dataset_triples(copy)}))
        kept, recount = _kept_and_recount(index)
        assert kept == recount and index.stats()["datasets"] == len(SAMPLES) + 1  # kept from then on
    finally:
        index.close()
        store.close()


def test_the_newest_datasets_are_read_from_an_index_not_sorted(tmp_path, database_url):
    """The home page and every browse without words list the newest datasets first: both backends read them in
    the order of an index (search_0008), instead of sorting every dataset for each page (33 ms at 100,000 on
    PostgreSQL). Sorting is priced out of the planner's reach, so a missing index shows as a sort in the plan."""
    from sqlalchemy import text

    from server.search_query import _order

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    index = SearchIndex(open_database(database_url, "search", tmp_path / "search.sqlite", auto_migrate=True))
    try:
        index.rebuild(store)
        pg = database_url is not None
        newest = f"SELECT d.* FROM search_docs d ORDER BY {_order(pg, 'modified', None, 'zh')} LIMIT 8"
        with index.db.read() as conn:
            if pg:
                conn.execute(text("SET LOCAL enable_sort = off"))
                plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + newest)))
                assert "search_docs_newest" in plan and "Sort" not in plan, plan
            else:
                plan = "\n".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + newest)))
                assert "search_docs_newest" in plan and "TEMP B-TREE" not in plan, plan
            listed = [r[0] for r in conn.execute(text(newest.replace("SELECT d.*", "SELECT d.uri")))]
        assert listed == [hit["uri"] for hit in index.search("", sort="modified", page_size=8).hits]
        assert len(listed) == min(8, len(SAMPLES))
    finally:
        index.close()
        store.close()


def test_the_postings_migration_makes_the_rows_the_index_writes(tmp_path, postgis_dsn):
    """search_0007 turns search_0006's token arrays into postings, and search_0009 writes in each its dataset's
    combination of facet values and length: down to the arrays and up again, every posting (token, dataset, counts
    per column, places, combination, length) is the one the index wrote, and the searches answer alike. A one-word
    search counts its facets from the word's group index (search_0009), not by joining every match to its
    combination."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    import core.database as database
    from tests.conftest import pg_schema_url

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    index = SearchIndex(open_database(pg_schema_url(postgis_dsn, "postings"), "search", auto_migrate=True))
    postings = "SELECT token, n, c0, c1, c2, c3, c4, c5, pos, combo, ntok FROM search_postings ORDER BY token, n"
    try:
        index.rebuild(store)
        with index.db.read() as conn:
            written = conn.execute(text(postings)).fetchall()
        answers = [_answer(index.search(q)) for q in QUERIES]
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
        with index.db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "search_0006")
            assert conn.execute(text("SELECT count(*) FROM search_text WHERE cardinality(title_t) > 0")).scalar() \
                == len(SAMPLES)
        database.prepare(index.db, migrate=True)
        with index.db.read() as conn:
            assert conn.execute(text(postings)).fetchall() == written and len(written) > 200
            assert conn.execute(text("SELECT count(DISTINCT combo) FROM search_postings")).scalar() > 1
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # (a few rows: the planner would read them all)
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text(
                "EXPLAIN SELECT x.combo, COUNT(*) FROM search_postings x WHERE x.token = '交通' "
                "AND c0 + c1 + c2 > 0 GROUP BY x.combo")))
            assert "search_postings_w_combo" in plan and "search_doc_combos" not in plan, plan
        assert [_answer(index.search(q)) for q in QUERIES] == answers
    finally:
        index.close()
        store.close()


# catalog-order.sqlite and quality-scores.sqlite as server/catalog_order.py and server/quality_scores.py wrote
# them before they were parts of the data layer (452c45c)
OLD_CATALOG_ORDER = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(uri TEXT PRIMARY KEY, modified TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX entries_order ON entries(modified, uri);
INSERT INTO meta VALUES ('schema', '1'), ('count', '3'), ('built', '1');
INSERT INTO entries VALUES ('http://x/datasets/b', '2026-01-02T00:00:00.000000Z'),
  ('http://x/datasets/a', '2026-01-01T00:00:00.000000Z'), ('http://x/datasets/c', '');
"""
OLD_QUALITY = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pairs(graph TEXT NOT NULL, publisher TEXT NOT NULL, value TEXT);
CREATE INDEX pairs_graph ON pairs(graph);
CREATE TABLE publishers(publisher TEXT PRIMARY KEY, n INTEGER NOT NULL, total TEXT NOT NULL,
  bad INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '1'), ('built', '1');
INSERT INTO pairs VALUES ('http://x/datasets/a', 'http://x/d/1', '80.5'), ('http://x/datasets/b', 'http://x/d/1', '90');
INSERT INTO publishers VALUES ('http://x/d/1', 2, '170.5', 0);
"""


def test_catalog_order_and_quality_scores_files_made_before_the_data_layer_keep_their_rows(tmp_path):
    from server.catalog_order import CatalogOrder
    from server.quality_scores import QualityScores

    _old_file(tmp_path / "catalog-order.sqlite", OLD_CATALOG_ORDER)
    _old_file(tmp_path / "quality-scores.sqlite", OLD_QUALITY)
    order, scores = CatalogOrder(tmp_path / "catalog-order.sqlite"), QualityScores(tmp_path / "quality-scores.sqlite")
    try:
        assert order.in_step_with(None) and order.count() == 3  # adopted: no rebuild at the next start
        assert [u for _, u in order.page(10)] == ["http://x/datasets/c", "http://x/datasets/a", "http://x/datasets/b"]
        assert order.count(since="2026-01-02T00:00:00.000000Z") == 1
        assert scores.in_step_with(None) and scores.score("http://x/d/1") == 85.2  # 170.5 / 2
        assert order.db.rows("SELECT value FROM catalog_order_meta WHERE key = 'schema'") == []
    finally:
        order.close()
        scores.close()
    with sqlite3.connect(tmp_path / "catalog-order.sqlite") as conn:  # the old tables are gone
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"entries", "meta"}.isdisjoint(names) and "catalog_order_entries" in names


OLD_DATAFILES = """
CREATE TABLE IF NOT EXISTS datafiles (
    dataset TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT, sha256 TEXT,
    recipe TEXT NOT NULL, outcome TEXT NOT NULL, placed INTEGER, extent TEXT);
INSERT INTO datafiles VALUES ('http://x/datasets/a', 'http://files/a.csv', 'W/"1"', NULL, 'ab12', 'r1', 'read', 215,
  '[114.1, 30.5, 114.6, 30.9]');
"""


def test_a_datafiles_file_made_before_the_data_layer_keeps_its_rows(tmp_path):
    """ogc/datafile_state.py's datafiles.sqlite (h3, before the data layer): adopted as it is."""
    from ogc.datafile_state import DataFileRow, DataFileState

    _old_file(tmp_path / "datafiles.sqlite", OLD_DATAFILES)
    state = DataFileState(tmp_path / "datafiles.sqlite")
    try:
        assert state.get("http://x/datasets/a") == DataFileRow("http://x/datasets/a", "http://files/a.csv", 'W/"1"',
                                                               None, "ab12", "r1", "read", 215,
                                                               "[114.1, 30.5, 114.6, 30.9]")
    finally:
        state.close()


def test_data_file_rows_on_both_backends(tmp_path, database_url):
    from ogc.datafile_state import DataFileRow, DataFileState

    state = DataFileState(open_database(database_url, "datafiles", tmp_path / "datafiles.sqlite", auto_migrate=True))
    try:
        rows = [DataFileRow(f"http://x/datasets/{n}", f"http://files/{n}.csv", None, "Mon, 01 Jan 2024", f"h{n}",
                            "r", "read" if n % 2 else "no-rows", n or None, None) for n in range(1200)]
        for row in rows:
            state.put(row)
        state.put(rows[5].__class__(**{**rows[5].__dict__, "etag": 'W/"2"', "outcome": "failed"}))  # replaced
        state.drop(rows[7].dataset)
        found = state.get_many([r.dataset for r in rows] + ["http://x/none"])  # more than one query of 500
        assert len(found) == 1199 and rows[7].dataset not in found
        assert found[rows[5].dataset].etag == 'W/"2"' and found[rows[5].dataset].outcome == "failed"
        assert found[rows[0].dataset] == rows[0] and found[rows[1199].dataset] == rows[1199]
    finally:
        state.close()


# -- the whole platform on PostgreSQL --------------------------------------------------------------
def _run_platform(home, environ: dict, load: bool = True) -> dict:
    """Open a platform, load a small demo catalogue, record a harvest job; return what its doors answer."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings(environ, overrides={"demo": {"datasets": 40, "spatial": 0}, "csw": {"enabled": False},
                                                 "rate_limits": {"enabled": False}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    try:
        if load:
            load_demo(platform)
            jobs = platform.harvesting.jobs
            job = jobs.start("bench")
            jobs.log(job, "read 3 records")
            jobs.finish(job, "succeeded", {"new": 3}, "3 new", {"records_read": 3})
        client = create_app(platform=platform).test_client()
        changes = client.get("/changes?limit=1000").get_json()
        listed = client.get("/api/harvest/jobs", headers=admin_headers(platform)).get_json()
        searches = {q: _answer(platform.search.search(q, page_size=50)) for q in ("", "数据", "交通", "公园")}
        return {"changes": [(c["seq"], c["id"], c["action"]) for c in changes["changes"]],
                "jobs": [{k: v for k, v in j.items() if k not in ("started", "finished", "duration_s")}
                         for j in listed["jobs"]],
                "search": searches, "stats": platform.search.stats()}
    finally:
        platform.close()


def test_the_platform_on_postgresql_answers_as_on_sqlite(tmp_path, postgis_dsn):
    from core.database import dispose_engines
    from tests.conftest import pg_schema_url

    embedded = _run_platform(tmp_path / "embedded", {})
    url = pg_schema_url(postgis_dsn, "platform")
    shared = _run_platform(tmp_path / "shared", {"WODP_DATABASE__URL": url, "WODP_DATABASE__AUTO_MIGRATE": "true"})
    dispose_engines()
    assert len(embedded["changes"]) == 40 and embedded["stats"]["datasets"] == 40
    assert embedded["jobs"] and embedded["jobs"][0]["records_read"] == 3
    assert shared == embedded
    assert not (tmp_path / "shared" / "changes.sqlite").exists()  # the state went to PostgreSQL
    assert not (tmp_path / "shared" / "search.sqlite").exists()
    assert not (tmp_path / "shared" / "harvest.sqlite").exists()


def test_wodp_db_copy_moves_an_embedded_home_to_postgresql(tmp_path, postgis_dsn, monkeypatch, capsys):
    from core.database import dispose_engines
    from server.cli import main
    from tests.conftest import pg_schema_url

    home = tmp_path / "home"
    embedded = _run_platform(home, {})
    url = pg_schema_url(postgis_dsn, "copied")
    monkeypatch.setenv("WODP_HOME", str(home))
    monkeypatch.setenv("WODP_DATABASE__URL", url)
    assert main(["db", "copy"]) == 0
    out = capsys.readouterr().out
    assert "changes_log 40" in out and "harvest_jobs 1" in out
    assert main(["db", "copy"]) == 1  # never into tables that hold rows: nothing doubled
    assert "already holds" in capsys.readouterr().err
    moved = _run_platform(home, {"WODP_DATABASE__URL": url}, load=False)
    dispose_engines()
    assert moved["changes"] == embedded["changes"] and moved["jobs"] == embedded["jobs"]
    assert moved["stats"] == embedded["stats"]
    # the search index is rebuilt, not copied: it numbers datasets in the store's order, so datasets of the same
    # modification date may come in another order (as after any rebuild); totals, hits and facets are the same
    for q, (total, ids, titles, facets) in embedded["search"].items():
        assert (moved["search"][q][0], set(moved["search"][q][1]), moved["search"][q][3]) == (total, set(ids), facets)


# -- a home made by the code before the data layer, opened by this code -------------------------------
BEFORE = "f4de2aa"  # the last commit before the data layer
BUILD_OLD_HOME = r"""
import sys
from config import load_settings
from server.catalogue import load_demo
from server.platform import Platform
settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 0}, "csw": {"enabled": False}},
                         home=sys.argv[1])
platform = Platform.open(settings, start_workers=False)
load_demo(platform)
account, token = platform.accounts.create("D017", "old")
platform.accounts.grant("D017", "wuhan.420100-x-1", "kept")
jobs = platform.harvesting.jobs
job = jobs.start("old-source")
jobs.log(job, "old line")
jobs.finish(job, "succeeded", {"new": 30}, "old job", {"records_read": 30})
import json
print(json.dumps([[c.seq, c.at, c.id, c.action] for c in platform.changes.page(limit=1000)[0]]))
print(token)
platform.close()
"""


def test_a_home_built_by_the_code_before_opens_and_keeps_its_state(tmp_path):
    """Build a home with the code of the commit before the data layer, then open it with this code."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    old = tmp_path / "old-code"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", BEFORE], capture_output=True)
    if archive.returncode:
        pytest.skip(f"commit {BEFORE} is not in this checkout (a shallow clone): {archive.stderr[:200]!r}")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    home = tmp_path / "home"
    built = subprocess.run([sys.executable, "-c", BUILD_OLD_HOME, str(home)], cwd=old, capture_output=True,
                           text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(old)})
    assert built.returncode == 0, built.stderr[-2000:]
    *_, old_changes, token = built.stdout.strip().splitlines()

    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 0}, "csw": {"enabled": False},
                                            "rate_limits": {"enabled": False}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    try:
        assert platform.accounts.verify(token).department == "D017"
        assert platform.accounts.grants("D017")[0]["note"] == "kept"
        job = platform.harvesting.jobs.jobs("old-source")[0]
        assert (job.status, job.counts["new"], job.message) == ("succeeded", 30, "old job")
        assert platform.harvesting.jobs.job_log(job.id) == ["old line"]
        client = create_app(platform=platform).test_client()
        changes = client.get("/changes?limit=1000").get_json()
        assert changes["count"] == 30 and {c["action"] for c in changes["changes"]} == {"created"}
        kept = [[c.seq, c.at, c.id, c.action] for c in platform.changes.page(limit=1000)[0]]
        assert kept == json.loads(old_changes)  # the same log (times and numbers), not a new one
        assert platform.search.count() == 30 and platform.search.search("数据").total > 0
        assert client.get("/catalog.ttl").status_code == 200
    finally:
        platform.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_wodp_db_current_and_upgrade(tmp_path, backend, request, capsys, monkeypatch):
    from core.database import PARTS, dispose_engines
    from server.cli import main
    from tests.conftest import pg_schema_url

    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    if backend == "postgresql":
        url = pg_schema_url(request.getfixturevalue("postgis_dsn"), "cli").replace("postgres@", "postgres:pw9@")
        monkeypatch.setenv("WODP_DATABASE__URL", url)
    assert main(["db", "current"]) == 1  # nothing made yet: every part behind (and the queue on PostgreSQL)
    out = capsys.readouterr().out
    assert out.count("BEHIND") == len(PARTS) + (backend == "postgresql")
    assert main(["db", "upgrade"]) == 0
    assert ("queue: procrastinate's tables created" in capsys.readouterr().out) == (backend == "postgresql")
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert "BEHIND" not in out and "harvest: harvest_0002 (code: harvest_0002)" in out and "pw9" not in out
    dispose_engines()
    if backend == "postgresql":  # the queue is ready after that one command: a harvest is deferred into it
        import psycopg

        from harvesters.queue import HarvestQueue, dsn
        from config import load_settings

        settings = load_settings({"WODP_DATABASE__URL": url}, overrides={"harvest": {"queue": "postgres"}},
                                 home=tmp_path)
        with psycopg.connect(dsn(url), autocommit=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                                 "WHERE table_schema = current_schema() AND table_name LIKE 'procrastinate%'")}
        assert {"procrastinate_jobs", "procrastinate_events"} <= tables
        assert main(["db", "upgrade"]) == 0 and "tables present" in capsys.readouterr().out  # once only
        queue = HarvestQueue(settings)
        try:
            queue.defer("some-source")
            assert queue.depth().get("todo") == 1
        finally:
            queue.close()


def test_home_totals_count_public_downloads_and_published_datasets_only(tmp_path, database_url):
    """The home page's "downloadable" total leaves out restricted data (有条件开放 / 不予开放), on a new index and,
    through search_0004, on an index that counted it; a withdrawn dataset leaves the "datasets" total."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    import core.database as database
    from server.search import read_datasets

    import dataclasses

    import pyoxigraph as ox

    from ontology.namespaces import ACCESS_RIGHT, DCT, OPEN_TYPE, WODP
    from tests.catalog_samples import dataset_triples

    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    # restricted data whose graphs still carry download links: by its open type, and by dct:accessRights alone
    sample = next(s for s in SAMPLES if s.open_type == "unconditional" and s.formats)
    conditional, by_rights = (dataclasses.replace(sample, key=sample.key + k) for k in ("-c", "-r"))
    swap = {conditional: [ox.Triple(ox.NamedNode(conditional.uri), WODP.openType, OPEN_TYPE.conditional)],
            by_rights: [ox.Triple(ox.NamedNode(by_rights.uri), DCT.accessRights, ACCESS_RIGHT.NON_PUBLIC)]}
    event = store.put_datasets({s.uri: [t for t in dataset_triples(s) if t.predicate != WODP.openType] + extra
                                for s, extra in swap.items()})
    index = SearchIndex(open_database(database_url, "search", tmp_path / "search.sqlite", auto_migrate=True))
    try:
        index.rebuild(store)
        docs = read_datasets(store)  # the store holds the restricted datasets' public views (sparql/public.py)
        public = [d for d in docs if d["downloadable"]]
        assert public and not {d["uri"] for d in public} & {conditional.uri, by_rights.uri}
        assert index.stats()["downloadable"] == len(public)
        index.follow(store, event)  # the event carries their whole graphs, download links included
        assert sum(1 for uri in (conditional.uri, by_rights.uri)
                   for t in event.graphs[uri] if t.predicate.value.endswith("#downloadURL")) >= 2
        assert index.stats()["downloadable"] == len(public)
        assert index.stats()["datasets"] == len(SAMPLES) + 2

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
        with index.db.engine.begin() as conn:  # an index as search_0003 kept it: restricted links counted
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "search_0003")
            conn.execute(text("UPDATE search_docs SET downloadable = 1 WHERE uri = :u"), {"u": conditional.uri})
            conn.execute(text("UPDATE search_doc_totals SET n = :n WHERE key = 'downloadable'"),
                         {"n": len(public) + 1})
        assert index.stats()["downloadable"] == len(public) + 1
        database.prepare(index.db, migrate=True)
        assert index.stats()["downloadable"] == len(public)  # recounted once by search_0004
        kept, recount = _kept_and_recount(index)
        assert kept == recount

        index.follow(store, store.remove_datasets([public[0]["uri"], conditional.uri], "withdrawn"))
        assert index.stats()["datasets"] == len(SAMPLES)
        assert index.stats()["downloadable"] == len(public) - 1
    finally:
        index.close()
        store.close()
