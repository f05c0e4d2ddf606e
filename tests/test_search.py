"""The portal's search index over a small hand-written catalogue: Chinese words, facets, paging, following."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from server.search import SearchIndex
from server.search_query import index_text, match_expression, snippet
from sparql.store import OxigraphStore
from tests.catalog_samples import SAMPLES, Sample, dataset_triples, fill_store

ALL = {s.id for s in SAMPLES}


@pytest.fixture
def store(tmp_path):
    store = OxigraphStore(tmp_path / "store")
    fill_store(store)
    yield store
    store.close()


@pytest.fixture
def index(tmp_path, store, database_url):
    from core.database import open_database

    index = SearchIndex(open_database(database_url, "search", tmp_path / "search.sqlite", auto_migrate=True))
    index.rebuild(store)
    store.subscribe(lambda event: index.follow(store, event))
    yield index
    index.close()


def ids(result) -> list[str]:
    return [hit["id"] for hit in result.hits]


def facet(result, name: str) -> dict[str, int]:
    return {value: count for value, _, count in result.facets[name]}


def everything(index: SearchIndex, q: str = "", **filters) -> list[str]:
    return ids(index.search(q, filters, page_size=100))


# -- words ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("q, expected, first", [
    ("交通", {"demo.traffic-flow", "demo.bus-routes"}, "demo.traffic-flow"),   # title before keyword
    ("教育", {"demo.teacher-training", "demo.schools"}, "demo.teacher-training"),  # title before description
    ("公交", {"demo.bus-routes", "demo.charging", "demo.vehicle-inspection"}, "demo.bus-routes"),
])
def test_two_character_words_match_and_title_hits_rank_first(index, q, expected, first):
    result = index.search(q)
    assert set(ids(result)) == expected
    assert result.total == len(expected)
    assert ids(result)[0] == first


@pytest.fixture
def no_synonyms(tmp_path):
    from server import search_tokens

    empty = tmp_path / "synonyms.yml"
    empty.write_text("groups: []\n", encoding="utf-8")
    search_tokens.configure(synonyms=empty)
    yield
    search_tokens.configure(synonyms=search_tokens.SYNONYMS_FILE)


def test_a_three_character_query_matches_as_a_phrase(index, no_synonyms):
    # 机动车检验记录 holds 公交 and 交车 but not 公交车
    assert set(everything(index, "公交车")) == {"demo.bus-routes", "demo.charging"}


def test_a_query_word_matches_its_synonyms_too(index):
    # server/search_synonyms.yml: 公交车 = 公交 = 巴士 …; 机动车检验记录 says 不含公交
    assert set(everything(index, "公交车")) == {"demo.bus-routes", "demo.charging", "demo.vehicle-inspection"}
    assert set(everything(index, "巴士")) == set(everything(index, "公交车"))
    assert set(everything(index, "bus")) >= {"demo.bus-routes"}
    assert everything(index, "雾霾") == ["demo.air-quality"]  # 雾霾 is grouped with 空气质量, AQI …
    assert everything(index, "霾") == []  # one character: no synonyms


def test_a_long_chinese_query_is_cut_into_words_each_required(index):
    # no spaces: jieba cuts 武汉市中小学校 into 武汉市 / 中小学校, found apart in the text (全市中小学校, 武汉)
    assert everything(index, "坐公交") == everything(index, "公交")  # 坐 (one character) is dropped
    assert everything(index, "教育学校") == ["demo.schools"]  # 教育 and 学校, not next to each other


def test_editing_the_synonyms_needs_no_reindex(index, tmp_path):
    from server import search_tokens

    mine = tmp_path / "mine.yml"
    mine.write_text("groups:\n  - [霾, 检验]\n  - [dust, 空气]\n", encoding="utf-8")
    search_tokens.configure(synonyms=mine)
    try:
        assert everything(index, "dust") == ["demo.air-quality"]
        assert set(everything(index, "公交车")) == {"demo.bus-routes", "demo.charging"}  # its group is gone
    finally:
        search_tokens.configure(synonyms=search_tokens.SYNONYMS_FILE)
    assert "demo.vehicle-inspection" in everything(index, "公交车")


def test_one_character_queries_match_single_characters(index):
    assert set(everything(index, "车")) == {"demo.bus-routes", "demo.charging", "demo.vehicle-inspection"}
    assert everything(index, "霾") == []


def test_words_separated_by_spaces_are_all_required(index):
    assert everything(index, "交通 道路") == ["demo.traffic-flow"]
    assert everything(index, "公交 充电") == ["demo.charging"]
    assert everything(index, "交通 空气") == []


def test_english_words_match_case_insensitively_and_titles_follow_the_language(index):
    zh = index.search("SCHOOLS")
    en = index.search("school", lang="en")
    assert ids(zh) == ids(en) == ["demo.schools"]
    assert zh.hits[0]["title"] == "中小学校名录"
    assert en.hits[0]["title"] == "Primary and secondary schools"
    assert en.hits[0]["department_label"] == "Municipal Education Bureau"
    assert everything(index, "aqi") == ["demo.air-quality"]


def test_a_missing_english_title_falls_back_to_chinese(index, store):
    bare = replace(SAMPLES[0], key="no-english")
    triples = [t for t in dataset_triples(bare) if getattr(t.object, "language", None) != "en"]
    store.put_datasets({bare.uri: triples})
    hit = next(h for h in index.search("公交车", lang="en").hits if h["id"] == bare.id)
    assert hit["title"] == bare.title_zh


def test_hits_carry_what_the_result_list_shows(index):
    hit = index.search("空气质量").hits[0]
    assert hit["id"] == "demo.air-quality"
    assert hit["uri"] == "http://127.0.0.1:8000/datasets/demo.air-quality"
    assert hit["department"] == "D030" and hit["department_label"] == "市生态环境局"
    assert hit["themes"] == [{"code": "T07", "label": "生态环境"}]
    assert hit["formats"] == ["CSV"]
    assert hit["open_type"] == "unconditional" and hit["open_type_label"] == "无条件开放"
    assert hit["modified"] == "2024-12-01"
    assert "AQI" in hit["description"]


# -- facets and filters --------------------------------------------------------------------------
def test_facet_counts_of_the_whole_catalogue_are_exact(index):
    result = index.search()
    assert result.total == len(SAMPLES)
    assert facet(result, "department") == {"D012": 3, "D020": 2, "D015": 1, "D030": 1}
    assert facet(result, "theme") == {"T03": 4, "T05": 2, "T06": 1, "T07": 1}
    assert facet(result, "format") == {"CSV": 5, "JSON": 2, "XLSX": 2}
    assert facet(result, "open_type") == {"unconditional": 5, "conditional": 2}
    assert ("T03", "交通出行", 4) in result.facets["theme"]
    assert ("T03", "Transport", 4) in index.search(lang="en").facets["theme"]


def test_filters_narrow_exactly_and_facets_count_with_the_other_filters(index):
    d012 = index.search(filters={"department": ["D012"]})
    assert d012.total == 3
    assert facet(d012, "department") == {"D012": 3, "D020": 2, "D015": 1, "D030": 1}  # own filter ignored
    assert facet(d012, "format") == {"CSV": 2, "JSON": 2}
    assert facet(d012, "open_type") == {"unconditional": 1, "conditional": 2}
    both = index.search(filters={"department": ["D012"], "format": ["CSV"]})
    assert set(ids(both)) == {"demo.bus-routes", "demo.vehicle-inspection"}
    assert facet(both, "format") == {"CSV": 2, "JSON": 2}
    either = index.search(filters={"department": ["D012", "D020"]})
    assert either.total == 5  # values of one facet are alternatives


def test_words_and_filters_combine(index):
    result = index.search("交通", {"open_type": ["conditional"]})
    assert ids(result) == ["demo.traffic-flow"]
    assert facet(result, "open_type") == {"conditional": 1, "unconditional": 1}


def test_unknown_filters_and_values_are_harmless(index):
    assert index.search(filters={"colour": ["red"]}).total == len(SAMPLES)
    result = index.search(filters={"theme": ["T99"]})
    assert result.total == 0 and ("T99", "T99", 0) in result.facets["theme"]
    assert index.search(filters={"theme": "T05"}).total == 2


def test_sorting_by_modification_date_and_title(index):
    modified = [h["modified"] for h in index.search(sort="modified", page_size=100).hits]
    assert modified == sorted(modified, reverse=True)
    titles = [h["title"] for h in index.search(sort="title", lang="en", page_size=100).hits]
    assert titles == sorted(titles)


# -- paging and hostile input --------------------------------------------------------------------
def test_pages_cover_the_result_once(index):
    pages = [index.search(page=p, page_size=3) for p in (1, 2, 3)]
    assert [len(p.hits) for p in pages] == [3, 3, 1]
    assert {i for p in pages for i in ids(p)} == ALL
    assert all(p.total == len(SAMPLES) and p.pages == 3 for p in pages)


@pytest.mark.parametrize("q, filters", [("市", {}), ("的", {}), ("of", {"format": ["CSV"]}), ("公交", {}),
                                        ("and", {"department": ["D012", "D020"]})])
def test_relevance_pages_are_slices_of_the_whole_ranking(index, q, filters):
    """A relevance page sorts only the matches ranked at or above its last rank (ties included): every page
    of every size is the slice of the whole ranking (one page holding every match)."""
    whole = ids(index.search(q, filters, page_size=100))
    assert len(whole) >= 3
    for size in (1, 2):
        paged = [i for p in range(1, len(whole) // size + 2) for i in ids(index.search(q, filters, page=p,
                                                                                        page_size=size))]
        assert paged == whole, size


@pytest.mark.parametrize("page, size, expected_page, hits", [
    (4, 3, 4, 0), (10**9, 20, 10**9, 0), (10**30, 20, 10**9, 0), (-1, 20, 1, 7), (0, 20, 1, 7),
    ("x", 20, 1, 7), (1, 0, 1, 1), (1, 10**6, 1, 7),
])
def test_page_edges_never_fail(index, page, size, expected_page, hits):
    result = index.search(page=page, page_size=size)
    assert result.total == len(SAMPLES)
    assert result.page == expected_page
    assert len(result.hits) == hits


HOSTILE = ['"', '交通"', '"交通', "*", "交*", "NEAR(交通 教育)", "NEAR", "AND", "OR OR", "NOT 交通", "(交通",
           "交通)", "-", "^", ":", "title:交通", "{title}: 交通", "'; DROP TABLE docs; --", "\x00",
           "交" * 10_000, "a " * 5_000, "🚌", "　交通　", "％", "a*b", "+", "col:"]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_never_raise(index, q):
    result = index.search(q, sort="nonsense", lang="xx")
    assert result.total >= 0
    assert index.count() == len(SAMPLES)


def test_query_syntax_characters_are_text_not_operators(index):
    assert set(everything(index, "(交通")) == set(everything(index, "交通"))
    assert set(everything(index, 'NOT 交通')) <= set(everything(index, "交通"))
    assert everything(index, "交通)") == everything(index, "交通")


def test_match_expression_quotes_every_term():
    expression = match_expression('交通 NEAR("x" OR y*) 公交车')
    assert expression.count(" AND ") == 4  # punctuation inside a word keeps its parts as one phrase
    assert '"交通"' in expression and '"公交 交车"' in expression and '"NEAR x"' in expression
    assert match_expression("  ()*\"  ") is None


def test_index_text_makes_bigrams_and_characters():
    assert index_text("公交车 Bus 2号线") == ("公交 交车 Bus 2 号线 公交车", "公 交 车 号 线")
    # jieba's words of three characters or more follow all the bigrams, so no phrase of bigrams is broken
    assert index_text("江岸区公交站点信息 Bus") == ("江岸 岸区 区公 公交 交站 站点 点信 信息 Bus 江岸区 公交站点信息",
                                               "江 岸 区 公 交 站 点 信 息")


def test_snippet_cuts_around_the_first_word():
    text = "甲" * 300 + "交通" + "乙" * 300
    cut = snippet(text, ["交通"], width=60)
    assert "交通" in cut and cut.startswith("…") and cut.endswith("…") and len(cut) == 62


# -- following the store -------------------------------------------------------------------------
NEW = Sample("metro-stations", "地铁站点", "Metro stations", "轨道交通站点位置。", "Stations of the metro.",
             "D012", ("T03",), ("地铁",), "unconditional", ("CSV",), "2025-01-01", spatial=True)


def test_a_put_adds_exactly_that_dataset(index, store):
    store.put_datasets({NEW.uri: dataset_triples(NEW)})
    assert index.count() == len(SAMPLES) + 1
    assert everything(index, "地铁") == [NEW.id]
    assert facet(index.search(), "department")["D012"] == 4
    assert index.in_step_with(store)


def test_a_put_of_an_existing_dataset_replaces_it(index, store):
    changed = replace(SAMPLES[5], title_zh="空气污染日报", desc_zh="各站点污染物浓度。")
    store.put_datasets({changed.uri: dataset_triples(changed)})
    assert index.count() == len(SAMPLES)
    assert everything(index, "污染") == [changed.id]
    assert everything(index, "质量") == []


def test_a_removal_drops_exactly_those_datasets(index, store):
    store.remove_datasets([SAMPLES[0].uri, SAMPLES[1].uri, "http://127.0.0.1:8000/datasets/demo.unknown"])
    assert index.count() == len(SAMPLES) - 2
    assert set(everything(index)) == ALL - {SAMPLES[0].id, SAMPLES[1].id}
    assert facet(index.search(), "format") == {"CSV": 3, "JSON": 1, "XLSX": 1}
    assert index.in_step_with(store)


def test_a_reset_rebuilds(index, store):
    store.clear()
    assert index.count() == 0 and index.in_step_with(store)


def test_following_equals_rebuilding(index, store, tmp_path):
    store.put_datasets({NEW.uri: dataset_triples(NEW)})
    store.remove_datasets([SAMPLES[2].uri])
    store.put_datasets({SAMPLES[3].uri: dataset_triples(replace(SAMPLES[3], themes=("T07",)))})
    fresh = SearchIndex(tmp_path / "fresh.sqlite")
    fresh.rebuild(store)
    for q, lang in (("", "zh"), ("交通", "en"), ("车", "zh")):
        followed, rebuilt = index.search(q, page_size=100, lang=lang), fresh.search(q, page_size=100, lang=lang)
        assert followed.total == rebuilt.total
        assert followed.facets == rebuilt.facets
        assert sorted(ids(followed)) == sorted(ids(rebuilt))
    assert index.stats() == fresh.stats()
    fresh.close()


def test_in_step_with_tracks_generation_and_count(tmp_path, store):
    index = SearchIndex(tmp_path / "other.sqlite")
    assert not index.in_step_with(store)
    index.rebuild(store)
    assert index.in_step_with(store)
    store.put_datasets({NEW.uri: dataset_triples(NEW)})  # this index does not follow the store
    assert not index.in_step_with(store)
    index.close()
    reopened = SearchIndex(tmp_path / "other.sqlite")
    assert reopened.count() == len(SAMPLES) and not reopened.in_step_with(store)
    reopened.close()


def test_stats_count_what_the_home_page_shows(index):
    assert index.stats() == {"datasets": 7, "departments": 4, "spatial": 2, "distributions": 9,
                             "downloadable": 5}


def test_readers_in_other_threads_never_see_a_half_update(index, store):
    extra = [replace(NEW, key=f"extra-{n}") for n in range(40)]
    allowed = {len(SAMPLES), len(SAMPLES) + len(extra)}
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(index.search("", page_size=5).total)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for _ in range(3):
        store.put_datasets({s.uri: dataset_triples(s) for s in extra})
        store.remove_datasets([s.uri for s in extra])
    done.set()
    for thread in readers:
        thread.join()
    assert not errors
    assert seen and set(seen) <= allowed


def test_vocabulary_labels_win_over_names_in_dataset_graphs(index, store):
    import pyoxigraph as ox

    from ontology.namespaces import DEPARTMENT, FOAF

    renamed = replace(NEW, key="renamed")
    triples = [t for t in dataset_triples(renamed) if t.predicate != FOAF.name]
    triples.append(ox.Triple(DEPARTMENT.D012, FOAF.name, ox.Literal("旧名称", language="zh-CN")))
    store.put_datasets({renamed.uri: triples})
    assert ("D012", "市交通运输局", 4) in index.search().facets["department"]


def test_a_dataset_read_from_its_graph_equals_the_store_reading(demo_platform):
    """Publish events carry the stored graphs; the index reads them instead of querying the store."""
    from server.search import doc_from_triples, read_datasets

    store = demo_platform.store
    uris = store.dataset_uris()[:60] + [d.uri for d in demo_platform.demo.datasets if d.spatial][:20]
    from_store = {d["uri"]: d for d in read_datasets(store, uris)}
    for uri in uris:
        doc = doc_from_triples(uri, store.dataset_triples(uri))
        expected = from_store[uri]
        for key in ("id", "title", "description", "department", "open_type", "modified", "issued", "spatial",
                    "distributions", "downloadable"):
            assert doc[key] == expected[key], (uri, key)
        assert sorted(doc["keywords"]) == sorted(expected["keywords"])
        assert sorted(doc["themes"]) == sorted(expected["themes"])
        assert sorted(doc["formats"]) == sorted(expected["formats"])


# -- a word in more datasets than are ranked (search.rank_candidates, issue 11) -----------------------
@pytest.mark.parametrize("q, filters", [("公交", {}), ("市", {}), ("的", {}), ("of", {}), ("of", {"format": ["CSV"]}),
                                        ("and", {"department": ["D012", "D020"]}), ("车", {"format": ["CSV"]})])
def test_a_word_in_more_datasets_than_are_ranked_keeps_its_total_facets_and_the_stated_order(index, q, filters):
    """With 2 candidates, a word matching more datasets: the total and facets are those of the whole ranking;
    the pages list every match once: the 2 highest-numbered matches first, by bm25 as the full ranking orders
    them, then the others by number, highest first."""
    from sqlalchemy import text

    full = index.search(q, filters, page_size=100)
    assert full.total > 2  # more matches than candidates: the bound applies
    ranking = ids(full)
    index.rank_candidates = 2
    try:
        pages = [index.search(q, filters, page=p, page_size=2) for p in range(1, full.total // 2 + 3)]
    finally:
        index.rank_candidates = 10_000
    assert {(p.total, str(p.facets)) for p in pages} == {(full.total, str(full.facets))}
    with index.db.read() as conn:
        number = dict(conn.execute(text("SELECT id, n FROM search_docs")).fetchall())
    candidates = set(sorted(ranking, key=number.get, reverse=True)[:2])
    expected = [i for i in ranking if i in candidates] + sorted(set(ranking) - candidates, key=number.get,
                                                                reverse=True)
    assert [i for p in pages for i in ids(p)] == expected


def test_an_index_made_by_another_tokenizer_is_rebuilt_once_at_start(index, store):
    """A changed tokenizer (jieba, our dictionary, index_text: server.search_tokens.token_scheme) makes the
    start-up check rebuild the index once; the next start finds it in step."""
    from sqlalchemy import text

    from server import search_tokens
    from sparql.followers import FollowedDigests, catch_up_all

    assert index.token_scheme() == search_tokens.token_scheme() and index.in_step_with(store)
    with index.db.write(serial=True) as conn:  # as an index made by the tokenizer before jieba left it
        conn.execute(text("UPDATE search_meta SET value = 'bigrams' WHERE key = 'tokens'"))
        for table in (["search_text", "search_postings"] if index.db.postgres else ["search_fts"]):
            conn.execute(text(f"DELETE FROM {table}"))  # (its words gone: no search finds them)
    assert not index.in_step_with(store) and everything(index, "公交") == []
    ledger = FollowedDigests(None)
    first, = catch_up_all([index], store, ledger)
    assert first.caught_up and index.token_scheme() == search_tokens.token_scheme()
    assert set(everything(index, "公交")) == {"demo.bus-routes", "demo.charging", "demo.vehicle-inspection"}
    again, = catch_up_all([index], store, ledger)
    assert not again.caught_up and again.repaired == 0


def test_jieba_starts_quietly_and_writes_no_file(tmp_path, monkeypatch, capfd):
    """jieba's default start logs to stderr and writes its cache to the temp directory; ours does neither."""
    import tempfile

    from server.search_tokens import Segmenter, dictionary_words

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    words = dictionary_words()
    assert {"交通运输局", "公交站点信息", "无条件开放"} <= set(words)  # department, demo subject, open type
    segmenter = Segmenter(words)
    assert segmenter.cut("武汉市公交站点信息") == ["武汉市", "公交站点信息"]
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr().err == ""


def test_a_batch_reads_every_label_again_only_when_it_names_one_anew(index, store, monkeypatch):
    """Labels are not re-read from every graph after each batch (that grew with the catalogue); a department
    named anew or renamed (outside the vocabulary) is, and the index's labels then equal a rebuild's."""
    import pyoxigraph as ox

    import server.search as search

    calls = []
    real = search.read_labels
    monkeypatch.setattr(search, "read_labels", lambda s: calls.append(1) or real(s))
    uri = store.dataset_uris()[0]
    triples = [t for t in store.dataset_triples(uri) if not t.subject.value.endswith("#record")]
    store.put_datasets({uri: triples})  # the index follows (the fixture subscribed it)
    assert calls == []
    node = ox.NamedNode(search.DEF + "department/X999")
    name = ox.NamedNode("http://xmlns.com/foaf/0.1/name")
    store.put_datasets({uri: triples + [ox.Triple(node, name, ox.Literal("新设部门", language="zh"))]})
    assert calls == [1] and index.labels("department")["X999"] == "新设部门"
    store.put_datasets({uri: triples + [ox.Triple(node, name, ox.Literal("改名后的部门", language="zh"))]})
    assert calls == [1, 1] and index.labels("department")["X999"] == "改名后的部门"
    store.put_datasets({uri: triples + [ox.Triple(node, name, ox.Literal("改名后的部门", language="zh"))]})
    assert calls == [1, 1]
    followed = {kind: index.labels(kind) for kind in ("department", "theme", "open_type")}
    index.rebuild(store)
    assert {kind: index.labels(kind) for kind in ("department", "theme", "open_type")} == followed


def test_the_token_scheme_is_named_without_making_the_segmenter():
    """Every start asks the index's token scheme (the start-up check): it is named from jieba's version and our
    dictionary's words, without building jieba's dictionary (0.55 s of CPU, made in the background instead), and
    it is the name the segmenter gives itself once made."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from server import search_tokens as s; named = s.token_scheme(); made = s._segmenter is not None; "
            "print(named, made, named == s.segmenter().scheme)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert out[0].startswith("jieba-") and out[1:] == ["False", "True"], out
