"""Turn index text into the very tokens SQLite FTS5 makes of it, for the index on PostgreSQL.

The embedded index hands FTS5 our segmented text (server.search_query.index_text: CJK bigrams and characters,
Latin words) and FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer lowercases, folds and stems it.
On PostgreSQL the same tokens are stored as arrays, so both backends match and rank alike: they are read
here from an in-memory FTS5 table through ``fts5vocab`` (the tokenizer itself, not a copy of it).

Also here: the Chinese word segmentation (jieba over our dictionary) that index_text and queries share, the
token scheme that makes an index built by another tokenizer rebuild once, and the synonyms (docs/search.md).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

TOKENIZER = "porter unicode61 remove_diacritics 2"


class Tokenizer:
    """FTS5's tokenizer over an in-memory table; safe across threads (one lock)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(c, tokenize='{TOKENIZER}')")
        self._conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()

    def tokens(self, texts: list[str]) -> list[list[str]]:
        """Return each text's tokens in order."""
        out: list[list[str]] = [[] for _ in texts]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT INTO t(rowid, c) VALUES (?, ?)",
                                       [(i + 1, t or "") for i, t in enumerate(texts)])
                for doc, term in self._conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
                    out[doc - 1].append(term)
            finally:
                self._conn.execute("ROLLBACK")
        return out


_shared: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    """Return the process's tokenizer."""
    global _shared
    if _shared is None:
        _shared = Tokenizer()
    return _shared


# -- Chinese word segmentation (jieba) and synonyms -------------------------------------------------
# The index text (server.search_query.index_text) keeps every CJK run's bigrams and characters, as before, and
# adds the run's words of three characters or more as found by jieba over a dictionary built at start-up from
# our own vocabularies (Segmenter). A query is cut into words the same way; each word matches as its bigram
# phrase, or as one of its synonyms (server/search_synonyms.yml, read at start, applied to queries only).
SCHEME_VERSION = 1  # bump whenever index_text's output changes for the same input: the index is rebuilt once
_CJK_WORD = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
SYNONYMS_FILE = Path(__file__).with_name("search_synonyms.yml")

_settings: dict = {"synonyms": SYNONYMS_FILE}
_lock = threading.Lock()
_segmenter: "Segmenter | None" = None
_scheme: str | None = None  # token_scheme(), named once
_synonyms: "Synonyms | None" = None


def configure(synonyms: "Path | None" = None) -> None:
    """Say which synonym file queries use (None: server/search_synonyms.yml); read again on the next query."""
    global _synonyms
    with _lock:
        if synonyms is not None and Path(synonyms) != _settings["synonyms"]:
            _settings["synonyms"] = Path(synonyms)
            _synonyms = None


def dictionary_words() -> list[str]:
    """The words our platform knows, for jieba's user dictionary: the Chinese labels of our vocabularies (themes,
    departments, open types, update cycles and the rest of ontology/*.ttl), department names with and without
    their city or district prefix, and the demo subjects' title phrases, keywords and item names."""
    from ontology.labels import concept_labels, department_names

    labels = [lit.value for group in (concept_labels(), department_names()) for lits in group.values()
              for lit in lits if not (lit.language or "").lower().startswith("en")]
    try:
        from demo.topics import SUBJECTS

        for subjects in SUBJECTS.values():
            for s in subjects:
                labels += [s.zh, *s.keywords, *(i.split(":")[0] for i in s.items)]
    except ImportError:  # an installation without the demo: the vocabularies alone
        pass
    words = set()
    for label in labels:
        for word in _CJK_WORD.findall(label):
            words.add(word)
            for prefix in ("武汉市", "武汉"):
                if word.startswith(prefix) and len(word) - len(prefix) >= 2:
                    words.add(word[len(prefix):])
    return sorted(words)


class Segmenter:
    """jieba over its own dictionary plus ours, initialised once, quietly, writing no file.

    jieba's default start writes a cache of its prefix dictionary to the system's temp directory. Here the
    dictionary is built in memory instead: 0.55 s of CPU, where loading jieba's cache file took 0.75 s (marshal,
    Python 3.12, measured here), so a cache under WODP_HOME would only cost a file.
    """

    def __init__(self, words: list[str]) -> None:
        import logging

        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba logs its start at DEBUG to stderr
        self.words = words
        tk = jieba.Tokenizer()
        with tk.lock:  # what Tokenizer.initialize does, without its cache file
            tk.FREQ, tk.total = tk.gen_pfdict(tk.get_dict_file())
            tk.initialized = True
        for word in words:
            tk.add_word(word)
        self._tk = tk
        self.scheme = _scheme_of(words)
        self._cut_lock = threading.Lock()

    def cut(self, run: str) -> list[str]:
        """Cut a run of text into words (jieba's precise mode, without HMM: no guessed words)."""
        with self._cut_lock:  # jieba's Tokenizer is not documented as thread-safe
            return list(self._tk.cut(run, HMM=False))


def segmenter() -> Segmenter:
    """Return the process's segmenter, made on first use."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                _segmenter = Segmenter(dictionary_words())
    return _segmenter


def warm_up() -> threading.Thread:
    """Make the segmenter in a background thread (the platform starts it once it is open): a start does not wait
    for jieba's dictionary (0.55 s of CPU, more on a busy machine), and a first search seldom does."""
    thread = threading.Thread(target=segmenter, name="search-warm-up", daemon=True)
    thread.start()
    return thread


def _scheme_of(words: list[str]) -> str:
    import hashlib

    import jieba

    digest = hashlib.sha1("\n".join(words).encode()).hexdigest()[:12]
    return f"jieba-{jieba.__version__}/{SCHEME_VERSION}/{digest}"


def token_scheme() -> str:
    """The name of the index text's making (jieba's version, ours, the dictionary): a change rebuilds the index.

    Named from the dictionary's words, without making the segmenter: the start-up check asks it of every start."""
    global _scheme
    if _scheme is None:
        _scheme = _segmenter.scheme if _segmenter is not None else _scheme_of(dictionary_words())
    return _scheme


class Synonyms:
    """Groups of words that mean the same to a searcher (a YAML file: ``groups:`` a list of lists of words)."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.groups = [list(dict.fromkeys(str(w).strip() for w in g if str(w).strip())) for g in groups]
        self._of: dict[str, list[str]] = {}
        for group in self.groups:
            for word in group:
                mine = self._of.setdefault(word.lower(), [])
                mine += [w for w in group if w not in mine]
        self._cjk_keys = sorted((k for k in self._of if _CJK_WORD.fullmatch(k)), key=len, reverse=True)

    @classmethod
    def read(cls, path: Path) -> "Synonyms":
        import yaml

        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        groups = data.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise ValueError(f"{path}: 'groups' must be a list of lists of words")
        return cls(groups)

    def knows(self, word: str) -> bool:
        """Tell whether a word is in a group."""
        return word.lower() in self._of

    def alternatives(self, word: str) -> list[str]:
        """Return the words a query word stands for: itself first, then its group's other words. A Chinese word
        not in a group but holding a grouped word has that part replaced by each of the group's words
        (公交车站 → 公交站, 公共汽车站 …)."""
        group = self._of.get(word.lower())
        if group:
            return [word] + [w for w in group if w.lower() != word.lower()]
        if _CJK_WORD.fullmatch(word):
            for key in self._cjk_keys:
                if len(key) < len(word) and key in word:
                    return [word] + [word.replace(key, w, 1) for w in self._of[key]
                                     if w != key and _CJK_WORD.fullmatch(w)]
        return [word]


def synonyms() -> Synonyms:
    """Return the synonyms queries use (read once per process from the configured file)."""
    global _synonyms
    if _synonyms is None:
        with _lock:
            if _synonyms is None:
                _synonyms = Synonyms.read(_settings["synonyms"])
    return _synonyms
