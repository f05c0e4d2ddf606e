"""Disk full: clear 507 answers, nothing half-stored, no ledger gap, recovery without a restart.

Two tests. The first runs a real server on a small tmpfs it mounts (root only; skipped when mounting is not
possible) and fills it. The second simulates ENOSPC in-process (a store handle that fails like RocksDB, a
ledger that fails like SQLite) to reach each failure point of a publication deterministically.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
RECORD = {
    "资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-07001", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
COUNT = "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"


def record(n: int, title: str = "武汉市公共停车场信息") -> dict:
    return RECORD | {"资源代码": f"420100-D017-{n:05d}", "资源名称": f"{title} {n}"}


def dataset_id(n: int) -> str:
    return f"wuhan.420100-D017-{n:05d}"


def _disk_reason(text: str) -> bool:
    return "disk is full" in text or "disk failed" in text


# -- a real server on a small filesystem ---------------------------------------------------------
class Mounted:
    """A tmpfs of a given size mounted for the test, unmounted at the end."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            pytest.skip("mounting a small filesystem needs root (the simulated test covers the rest)")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")

    def unmount(self) -> None:
        for _ in range(20):
            if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _fill(filler: Path, leave: int = 0) -> None:
    """Grow the filler file until the filesystem has at most `leave` bytes free."""
    with open(filler, "ab") as f:
        for size in (1 << 20, 64 << 10, 4 << 10, 512):
            try:
                while True:
                    st = os.statvfs(filler.parent)
                    if st.f_bavail * st.f_frsize - size < leave:
                        break
                    f.write(b"\0" * size)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                f.truncate(f.tell())  # keep what was written; Python's buffer may hold a partial block


@pytest.fixture
def small_disk(tmp_path):
    disk = Mounted(tmp_path / "home", 40)
    yield disk.path
    disk.unmount()


@pytest.mark.parametrize("min_free_mb, reserve_mb", [(0, 0), (0, 2), (2, 2)])
def test_disk_full_server(small_disk, min_free_mb, reserve_mb):
    """Push until the disk is full: 201 or 507 with the reason, all-or-nothing; free space: all works again."""
    home = small_disk
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), WODP_SITE__BASE_URI=base, WODP_SPARQL__WORKERS="1",
               WODP_SPARQL__MAX_WORKERS="2", WODP_STORAGE__MIN_FREE_MB=str(min_free_mb),
               WODP_STORAGE__RESERVE_MB=str(reserve_mb), WODP_STORAGE__RECHECK_S="0.5", PYTHONPATH=str(ROOT))
    made = subprocess.run([sys.executable, "-m", "server.cli", "account", "add", "D017"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    token = next(w for w in made.stdout.split() if w.startswith("wodp."))
    log = open(home.parent / f"server-{min_free_mb}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    filler = home / "filler.bin"
    try:
        _wait_up(base, proc)
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def push(n: int, title: str = "武汉市公共停车场信息") -> tuple[int, str]:
            return _http("POST", base + "/api/datasets", json.dumps(record(n, title)).encode(), auth)

        def sparql() -> tuple[int, str]:
            return _http("GET", base + "/sparql?" + urllib.parse.urlencode({"query": COUNT}),
                         headers={"Accept": "application/sparql-results+json"})

        def in_store(n: int) -> bool:
            status, text = _http("GET", f"{base}/datasets/{dataset_id(n)}.nt")
            assert status in (200, 404), text
            return status == 200

        def in_ledger(n: int) -> bool:
            with sqlite3.connect(f"file:{home / 'harvest.sqlite'}?mode=ro", uri=True) as db:
                return db.execute("SELECT 1 FROM harvest_datasets WHERE uri LIKE ? AND state = 'published'",
                                  (f"%/{dataset_id(n)}",)).fetchone() is not None

        def in_search(n: int) -> bool:
            with sqlite3.connect(f"file:{home / 'search.sqlite'}?mode=ro", uri=True) as db:
                return db.execute("SELECT 1 FROM search_docs WHERE id = ?", (dataset_id(n),)).fetchone() is not None

        created: list[int] = []
        for n in range(1, 4):
            status, text = push(n)
            assert status == 201, text
            created.append(n)
        assert sparql()[0] == 200

        refused, statuses, sparql_statuses = [], [], []
        n = 10
        full_streak = 0
        while full_streak < 4 and n < 200:  # grow the filler a little before each push, to the brim
            n += 1
            st = os.statvfs(home)
            free = st.f_bavail * st.f_frsize
            _fill(filler, leave=max(free - (256 << 10), 0))
            status, text = push(n)
            statuses.append(status)
            assert status in (201, 507), f"push {n}: {status} {text}"
            if status == 201:
                created.append(n)
                assert in_store(n) and in_ledger(n), f"push {n} answered 201 but is not stored and recorded"
                full_streak = 0
            else:
                assert _disk_reason(text), text
                if "nothing was stored" in text:
                    refused.append(n)
                    # all or nothing: the refused dataset is in none of the store, the ledger, the search index
                    assert (in_store(n), in_ledger(n), in_search(n)) == (False, False, False), f"push {n} half-stored"
                else:
                    # only without a reserve: stored, but the ledger could take its row only when space is back
                    assert reserve_mb == 0 and "ledger rows" in text and "written as soon as space" in text, text
                    assert in_store(n)
                    created.append(n)
                st = os.statvfs(home)
                full_streak += st.f_bavail * st.f_frsize < (256 << 10)
            q_status, q_text = sparql()
            sparql_statuses.append(q_status)
            assert q_status in (200, 503, 507), f"SPARQL while filling: {q_status} {q_text}"
            if q_status != 200:
                assert _disk_reason(q_text), q_text
        print("pushes:", statuses, "SPARQL:", sparql_statuses)
        assert refused, f"the disk never filled up: {statuses}"
        status, text = _http("GET", base + "/datasets?format=json&q=" + urllib.parse.quote("停车场"))
        assert status == 200, text  # search answers while the disk is full

        filler.unlink()  # space is back: no restart
        time.sleep(1.0)
        deadline = time.monotonic() + 30
        while True:
            status, text = push(500, "恢复后推送")
            if status == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 201, f"push after space was freed: {status} {text}"
        created.append(500)
        for again in refused[:2]:  # a refused push goes through now
            status, text = push(again)
            assert status == 201, text
            created.append(again)
        status, text = sparql()
        assert status == 200, text
        count = int(json.loads(text)["results"]["bindings"][0]["n"]["value"])
        assert count == len(created), (count, created, statuses)
        deadline = time.monotonic() + 30
        while not all(in_search(m) for m in created) and time.monotonic() < deadline:
            _http("GET", base + "/datasets?format=json")  # requests let the indexes catch up
            time.sleep(0.5)
        missing = [m for m in created if not (in_store(m) and in_ledger(m) and in_search(m))]
        assert not missing, f"acknowledged datasets missing from store, ledger or search: {missing}"
        status, text = _http("GET", base + "/datasets?format=json&q=" + urllib.parse.quote("恢复后推送"))
        assert status == 200 and json.loads(text)["total"] == 1, text
        assert proc.poll() is None, "the server stopped"
    finally:
        filler.unlink(missing_ok=True)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_up(base: str, proc) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited at start-up"
        try:
            with urllib.request.urlopen(base + "/catalog.ttl?page_size=1", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the server did not start in time")


# -- simulated ENOSPC, in-process ----------------------------------------------------------------
class Disk:
    """What the fault-injecting wrappers read: is the disk full, and which parts fail."""

    def __init__(self) -> None:
        self.full: set[str] = set()  # "store", "ledger", "search", "snapshot"


class FailingHandle:
    """A pyoxigraph store that fails its writes like RocksDB on a full disk: once failed, always (until reopened)."""

    WRITES = {"extend", "bulk_extend", "update", "flush", "backup", "load", "bulk_load", "add", "remove", "clear"}

    def __init__(self, inner, disk: Disk) -> None:
        self._inner, self._disk, self._failed = inner, disk, False

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args, **kwargs):
            part = "snapshot" if name == "backup" else "store"
            if self._failed or part in self._disk.full:
                self._failed = part == "store" or self._failed
                raise OSError("IO error: No space left on device: While appending to file: store/000042.log: "
                              "No space left on device")
            return attr(*args, **kwargs)
        return write


@pytest.fixture
def simulated(tmp_path, monkeypatch):
    """A platform whose store, ledger and search index fail on demand as on a full disk; a reserve of 1 MB."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform
    from sparql.store import OxigraphStore

    disk = Disk()
    reopen = OxigraphStore._reopen

    def reopen_failing(self):  # the reopened handle fails too while the disk is full
        if "store" in disk.full:
            return False
        done = reopen(self)
        self._store = FailingHandle(self._store, disk)
        return done

    monkeypatch.setattr(OxigraphStore, "_reopen", reopen_failing)
    settings = load_settings({}, overrides={"storage": {"min_free_mb": 0, "reserve_mb": 1, "recheck_s": 0.01},
                                            "sparql": {"workers": 1}}, home=tmp_path)
    platform = Platform.open(settings)
    install(platform.store, settings)
    platform.store._store = FailingHandle(platform.store._store, disk)
    jobs = platform.harvesting.jobs
    record_rows = jobs.record

    def record_failing(*args, **kwargs):
        if "ledger" in disk.full:
            raise sqlite3.OperationalError("database or disk is full")
        return record_rows(*args, **kwargs)

    monkeypatch.setattr(jobs, "record", record_failing)
    search_follow = platform.search.follow

    def follow_failing(store, event):
        if "search" in disk.full:
            raise sqlite3.OperationalError("database or disk is full")
        return search_follow(store, event)

    monkeypatch.setattr(platform.search, "follow", follow_failing)
    account, token = platform.accounts.create("D017")
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield platform, app.test_client(), disk, token
    platform.close()


def test_simulated_disk_full_each_write(simulated):
    """Each write of a publication failing on a full disk: 507 with the reason, all or none, recovery."""
    platform, client, disk, token = simulated
    auth = {"Authorization": f"Bearer {token}"}

    def push(n: int, title: str = "武汉市公共停车场信息"):
        return client.post("/api/datasets", data=json.dumps(record(n, title)), content_type="application/json",
                           headers=auth)

    def where(n: int) -> tuple[bool, bool, bool]:
        uri = platform.dataset_uri(dataset_id(n))
        entry = platform.harvesting.jobs.entry(uri)
        found = platform.search.search(f"停车场 {n}").hits
        return (platform.store.has_dataset(uri), entry is not None and entry.state == "published",
                any(h["id"] == dataset_id(n) for h in found))

    def title(n: int) -> str:
        uri = platform.dataset_uri(dataset_id(n))
        return next(t.object.value for t in platform.store.dataset_triples(uri)
                    if t.subject.value == uri and t.predicate.value.endswith("/title"))

    assert push(1).status_code == 201
    assert where(1) == (True, True, True)

    # the store's write fails: nothing is stored
    disk.full = {"store"}
    answer = push(2)
    assert answer.status_code == 507, answer.get_data(as_text=True)
    assert "the server's disk is full" in answer.get_json()["detail"]
    assert "nothing was stored" in answer.get_json()["detail"]
    assert where(2) == (False, False, False)
    assert platform.store.broken  # RocksDB refuses writes until reopened
    assert push(3).status_code == 507  # still full
    disk.full = set()
    time.sleep(0.05)
    assert push(3).status_code == 201  # reopened without a restart
    assert platform.store.broken is None and where(3) == (True, True, True)

    # the store takes the datasets but the ledger cannot take its rows even with the reserve: undone
    disk.full = {"ledger"}
    answer = client.post("/api/datasets", data=json.dumps([record(1, "改过的标题"), record(4)]),
                         content_type="application/json", headers=auth)
    assert answer.status_code == 507, answer.get_data(as_text=True)
    assert "nothing was stored" in answer.get_json()["detail"]
    assert where(4) == (False, False, False)
    assert title(1) == "武汉市公共停车场信息 1"  # the update was undone too
    assert not (platform.settings.home / ".disk-reserve").exists()  # released to undo
    disk.full = set()
    time.sleep(0.05)
    assert push(4).status_code == 201
    assert where(4) == (True, True, True)
    assert (platform.settings.home / ".disk-reserve").exists()  # made again once space is back

    # the search index cannot follow: the publication stands, the index catches up once space is back
    disk.full = {"search"}
    answer = push(5)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert where(5) == (True, True, False)
    disk.full = set()
    time.sleep(0.05)
    client.get("/datasets?format=json")  # any request looks whether space is back
    assert where(5) == (True, True, True)

    # SPARQL: a snapshot cannot be made on a full disk
    assert push(6).status_code == 201
    disk.full = {"snapshot"}
    answer = client.get("/sparql", query_string={"query": COUNT}, headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 507, answer.get_data(as_text=True)
    assert "the server's disk is full" in answer.get_data(as_text=True)
    disk.full = set()
    answer = client.get("/sparql", query_string={"query": COUNT}, headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200
    assert int(answer.get_json()["results"]["bindings"][0]["n"]["value"]) == 5  # 1, 3, 4, 5, 6


def test_storage_errors_are_named():
    """OS, SQLite and RocksDB errors of a full disk or a failing disk become 507 / 503 with the reason."""
    from core.storage import StorageFullError, StorageIOError, storage_error

    full = [OSError(errno.ENOSPC, "No space left on device"), sqlite3.OperationalError("database or disk is full"),
            OSError("IO error: No space left on device: While appending to file: store/000008.log")]
    for exc in full:
        error = storage_error(exc, "storing 1 datasets")
        assert isinstance(error, StorageFullError) and error.status == 507
        assert error.message.startswith("the server's disk is full: storing 1 datasets failed")
    for exc in (OSError(errno.EIO, "Input/output error"), sqlite3.OperationalError("disk I/O error")):
        error = storage_error(exc, "reading")
        assert isinstance(error, StorageIOError) and error.status == 503
    assert storage_error(ValueError("no"), "x") is None
    assert storage_error(sqlite3.OperationalError("database is locked"), "x") is None


def test_a_publication_stored_without_its_ledger_rows_is_recorded_at_the_next_start(tmp_path, monkeypatch):
    """No reserve: the store takes a push, the ledger cannot take its rows and the store cannot be undone;
    the process then ends without the pending rows ever written. The next start records them from the store."""
    from config import load_settings
    from core.storage import StorageFullError
    from server.catalogue import install
    from server.platform import Platform
    from server.push_api import PUSH_SOURCE, read_push

    settings = load_settings({}, overrides={"storage": {"min_free_mb": 0, "reserve_mb": 0}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    graphs, _ = _pushed_graphs(platform, read_push)
    [uri] = graphs
    jobs = platform.harvesting.jobs

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    def store_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jobs, "record", full)
    monkeypatch.setattr(platform.store, "restore", store_full)
    with pytest.raises(StorageFullError) as info:
        platform.publisher.publish(graphs, PUSH_SOURCE)
    assert "stored but their ledger rows could not be written" in info.value.message
    assert platform.store.has_dataset(uri) and jobs.entry(uri) is None
    monkeypatch.undo()
    platform.publisher._pending.clear()  # the process "crashes": what it kept in memory is lost
    platform.close()

    again = Platform.open(settings, start_workers=False)
    try:
        entry = again.harvesting.jobs.entry(uri)
        assert entry is not None and (entry.state, entry.source, entry.channel) == ("published", "push", "push")
        assert [h["action"] for h in again.harvesting.jobs.history(uri)] == ["created"]
        assert again.harvesting.jobs.intents() == []
    finally:
        again.close()


def test_a_publication_that_never_reached_the_store_leaves_no_ledger_row(tmp_path, monkeypatch):
    """The store refuses the write: the row noted ahead is forgotten at the next start, nothing is recorded."""
    from config import load_settings
    from core.storage import StorageFullError
    from server.catalogue import install
    from server.platform import Platform
    from server.push_api import PUSH_SOURCE, read_push

    settings = load_settings({}, overrides={"storage": {"min_free_mb": 0, "reserve_mb": 0}}, home=tmp_path)
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    graphs, _ = _pushed_graphs(platform, read_push)
    [uri] = graphs

    def store_full(*args, **kwargs):  # the store's own refusal on a full disk (sparql/store.py)
        raise StorageFullError("the server's disk is full: storing 1 datasets failed (no space left on device); "
                               "nothing was stored")

    monkeypatch.setattr(platform.store, "put_datasets", store_full)
    with pytest.raises(StorageFullError) as info:
        platform.publisher.publish(graphs, PUSH_SOURCE)
    assert "nothing was stored" in info.value.message
    assert platform.harvesting.jobs.intents()  # noted ahead, never settled
    monkeypatch.undo()
    platform.close()
    again = Platform.open(settings, start_workers=False)
    try:
        assert not again.store.has_dataset(uri) and again.harvesting.jobs.entry(uri) is None
        assert again.harvesting.jobs.intents() == []
    finally:
        again.close()


def _pushed_graphs(platform, read_push):
    """The dataset graph of one pushed record, read as the push API reads it: (graphs, mapping problems)."""
    from server.validation_api import graphs_from_ntriples

    body = json.dumps(record(7), ensure_ascii=False).encode()
    documents, problems = read_push(body, "push.json", "china-core", None, platform.settings.base_uri, 10 << 20,
                                    platform.settings.input_limits)
    return graphs_from_ntriples(documents), problems
