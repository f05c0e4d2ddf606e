"""Several processes on the scaled-out configuration (issue 11, point 3): PostgreSQL (tests/pg.py), Oxigraph server
or Virtuoso (tests/remote_engines.py), harvest workers taking tasks from the PostgreSQL queue, the web under
gunicorn. Every test runs on both engines.

One topology per module: a PostgreSQL database of its own (the queue's tables, CSW's repository), an Oxigraph
server, one WODP_HOME shared by every process (docs/scale-out.md, "Several processes") and local CKAN sources.
Absent PostgreSQL or Oxigraph skip the tests, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.remote_engines import ENGINES

ROOT = Path(__file__).resolve().parents[1]
FOUR = ("src-a", "src-b", "src-c", "src-d")
PER_SOURCE = 40
SLOW, SLOW_COUNT = "src-slow", 150
RECORD = {
    "资源名称": "武汉市公共停车场信息 多进程测试", "资源代码": "420100-D017-07101", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}


class Topology:
    """The shared pieces and how to start processes over them."""

    def __init__(self, home: Path, env: dict, database_url: str, store) -> None:
        self.home, self.env, self.database_url, self.store = home, env, database_url, store
        self.procs: list[subprocess.Popen] = []

    def wodp(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        log = open(self.home.parent / f"proc-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def settings(self):
        from config import load_settings

        return load_settings({k: v for k, v in self.env.items() if k.startswith("WODP_")})

    def jobs(self, source: str | None = None) -> list[tuple]:
        """(id, source, status, retry_of, pid) of the harvest jobs, oldest first, read through the job store."""
        from harvesters.jobs import JobStore

        settings = self.settings()
        if not settings.home.exists():  # no worker has opened the home yet
            return []
        jobs = JobStore(_part(settings, "harvest", settings.path(settings.harvest.db_path)))
        try:
            return sorted((j.id, j.source, j.status, j.retry_of, j.pid) for j in jobs.jobs(source, limit=1000))
        finally:
            jobs.close()

    def log_has(self, job: int, text: str) -> bool:
        from harvesters.jobs import JobStore

        settings = self.settings()
        jobs = JobStore(_part(settings, "harvest", settings.path(settings.harvest.db_path)))
        try:
            return any(text in line for line in jobs.job_log(job))
        finally:
            jobs.close()

    def wait(self, what, timeout: float = 240, every: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            for proc in self.procs:
                assert proc.poll() is None or proc.returncode in (0, -9, -15), self.logs()
            time.sleep(every)
        raise AssertionError(f"timed out waiting; process logs:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.home.parent.glob("proc-*.log")))


@pytest.fixture(scope="module", params=sorted(ENGINES))
def topology(request, tmp_path_factory, postgis_dsn):
    from tests.pg import fresh_database_url

    url = fresh_database_url(postgis_dsn, "wodp_scale")  # the queue's tables and CSW's repository, this module's
    root = tmp_path_factory.mktemp("scale-out")
    engine = ENGINES[request.param](root / request.param).start()
    fakes = []
    sources = []
    for name in FOUR:
        source = FakeSource()
        fakes.append((source, FakeCkan(source, [ckan_package(n, f"{name} 数据集 {n}") for n in range(PER_SOURCE)])))
        sources.append({"name": name, "kind": "ckan", "url": source.url})
    slow = FakeSource()
    slow_ckan = FakeCkan(slow, [ckan_package(n, f"慢速来源 数据集 {n}") for n in range(SLOW_COUNT)])
    slow_ckan.on_page = lambda start: time.sleep(0.5)  # a slow source: several seconds per job
    fakes.append((slow, slow_ckan))
    sources.append({"name": SLOW, "kind": "ckan", "url": slow.url})
    config = root / "wodp.yml"
    config.write_text(yaml.safe_dump({"harvest": {"sources": sources, "page_size": 25, "batch_size": 25,
                                                  "queue": "postgres", "queue_heartbeat_s": 0.5,
                                                  "queue_stalled_after_s": 3, "stale_after_s": 600},
                                      "sandbox": {"enabled": False}}))
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               WODP_STORE__URL=engine.query_url, WODP_DATABASE__URL=url, WODP_LOGGING__LEVEL="INFO")
    yield from running_topology(Topology(home, env, url, engine), [source for source, _ in fakes])


def running_topology(top: "Topology", sources: list):
    """Migrate the shared schema once, as a deployment does before starting its processes (docs/deployment.md),
    yield the topology, then kill what it started and stop the engine and the sources."""
    upgrade = subprocess.run([sys.executable, "-m", "server.cli", "db", "upgrade"], env=top.env,
                             capture_output=True, text=True, timeout=300)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    try:
        yield top
    finally:
        for proc in top.procs:
            top.stop(proc, signal.SIGKILL)
        top.store.stop()
        for source in sources:
            source.close()


def _count_store(top: Topology) -> int:
    from sparql.remote import RemoteStore

    store = RemoteStore(top.store.query_url, None, timeout_s=30, engine=top.store.name)
    try:
        return store.count_datasets()
    finally:
        store.close()


def _part(settings, part: str, path: Path):
    """What the platform opens a part of its data layer with: the embedded file, or (with the SQLAlchemy data
    layer of issue 11 point 2, core/database.py) that part in database.url."""
    try:
        from core.database import open_part
    except ImportError:
        return path
    return open_part(settings.database, part, path)


def _index_counts(top: Topology) -> dict[str, int]:
    """What each derived index holds, read through the platform's own classes, as every process reads them."""
    import psycopg

    from server.changes import ChangeLog
    from server.search import SearchIndex

    settings = top.settings()
    counts = {}
    search = SearchIndex(_part(settings, "search", settings.path(settings.search.path)))
    counts["search"] = search.count()
    search.close()
    changes = ChangeLog(_part(settings, "changes", settings.home / "changes.sqlite"))
    rows, more = changes.page(limit=100_000)
    changes.close()
    assert not more
    last = {row.uri: row.action for row in rows}  # in order: the last action of each dataset
    counts["changes"] = len(rows)  # one row per dataset per publication: followed once
    counts["changes_present"] = sum(1 for action in last.values() if action not in ("withdrawn", "removed"))
    with psycopg.connect(top.database_url) as con:
        counts["csw"] = con.execute("SELECT count(*) FROM csw_records").fetchone()[0]
    return counts


def _queue(top: Topology):
    from types import SimpleNamespace

    from harvesters.queue import HarvestQueue

    return HarvestQueue(SimpleNamespace(database=SimpleNamespace(url=top.database_url)))


def test_two_workers_take_the_harvests_of_four_sources(topology):
    top = topology
    workers = [top.start("worker"), top.start("worker")]
    queue = _queue(top)
    try:
        answers = [queue.defer(name) for name in FOUR]
        assert all(a["queued"] for a in answers)
        again = queue.defer(FOUR[0])  # still waiting, or taken already: never twice in the queue
        assert again["status"] == "queued"
        done = lambda: all(any(j[2] == "succeeded" for j in top.jobs(name)) for name in FOUR)  # noqa: E731
        top.wait(done)
        top.wait(lambda: queue.depth().get("todo", 0) + queue.depth().get("doing", 0) == 0)
    finally:
        queue.close()
    for name in FOUR:  # each source harvested by one worker; a second run only if deferred again after the first
        jobs = top.jobs(name)
        assert {j[2] for j in jobs} == {"succeeded"} and len(jobs) == (2 if name == FOUR[0] and
                                                                       again["queued"] else 1), jobs
    assert {j[4] for name in FOUR for j in top.jobs(name)} <= {w.pid for w in workers}
    total = len(FOUR) * PER_SOURCE
    assert _count_store(top) == total
    assert _index_counts(top) == {"search": total, "changes": total, "changes_present": total, "csw": total}
    for worker in workers:
        top.stop(worker)


def test_the_scheduler_worker_measures_freshness_of_every_dataset(topology):
    """The daily job runs in `wodp worker --scheduler` (gunicorn's web workers run none of it): at its start it
    measures today's freshness of every dataset the store holds, and stops cleanly on SIGTERM."""
    from manage.freshness import FreshnessLedger, beijing_today

    top = topology
    settings = top.settings()
    ledger = FreshnessLedger(_part(settings, "freshness", settings.home / "freshness.sqlite"))
    try:
        today = beijing_today()
        assert not ledger.has_day(today)
        scheduler = top.start("worker", "--scheduler")
        top.wait(lambda: ledger.has_day(today))
        rows = ledger.rows(today)
        assert len(rows) == _count_store(top) >= len(FOUR) * PER_SOURCE
        assert {r["status"] for r in rows} <= {"on-time", "late", "no-cycle", "cycle-unreadable", "no-deadline",
                                               "no-modified", "calendar-unknown"}
        top.stop(scheduler)
        assert scheduler.returncode in (0, -15)
    finally:
        ledger.close()


def test_a_killed_worker_leaves_its_task_to_another_and_nothing_half_done(topology):
    top = topology
    first = top.start("worker")
    queued = top.wodp("harvest", SLOW)  # through the CLI: deferred, not run (harvest.queue postgres)
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["jobs"][0]["status"] == "queued"
    job = top.wait(lambda: next((j for j in top.jobs(SLOW) if j[4] == first.pid), None))
    top.wait(lambda: top.log_has(job[0], "batch 2:"))
    top.stop(first, signal.SIGKILL)  # mid-harvest: some batches published, others not
    assert 0 < _count_store(top) - len(FOUR) * PER_SOURCE < SLOW_COUNT
    second = top.start("worker")
    finished = top.wait(lambda: next((j for j in top.jobs(SLOW) if j[2] == "succeeded"), None), timeout=300)
    assert finished[4] == second.pid
    jobs = top.jobs(SLOW)
    killed = next(j for j in jobs if j[0] == job[0])
    assert killed[2] == "interrupted"
    assert finished[3] == killed[0]  # the job that completed it is the killed one's retry
    total = len(FOUR) * PER_SOURCE + SLOW_COUNT
    assert _count_store(top) == total  # the source harvested whole
    assert _index_counts(top) == {"search": total, "changes": total, "changes_present": total, "csw": total}
    top.stop(second)


def _vocabulary_installed(top: Topology) -> bool:
    from sparql.remote import RemoteStore

    store = RemoteStore(top.store.query_url, None, timeout_s=30, engine=top.store.name)
    try:
        return store.query("ASK { GRAPH ?g { ?s a <http://www.w3.org/2004/02/skos/core#ConceptScheme> } }",
                           use_default_graph_as_union=False)
    finally:
        store.close()


def _get(url: str, timeout: float = 60, **headers) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_gunicorn_workers_answer_and_each_sees_a_push(topology):
    from tests.conftest import free_port
    from tests.test_live_demo import csw_count, portal_count, records_count, sparql_count

    top = topology
    before = _count_store(top)
    added = top.wodp("account", "add", "D017")
    assert added.returncode == 0, added.stderr
    token = re.search(r"token[^:]*: (\S+)", added.stdout).group(1)
    port = free_port()
    web = top.start("serve", "--gunicorn", "--workers", "2", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    top.wait(lambda: _ready(url), timeout=180, every=0.5)
    site = type("Site", (), {"url": url})
    try:
        status, body = _get(url + "/health/ready")
        assert status == 200, body
        assert _vocabulary_installed(top)  # as `wodp serve` does, once, by one worker
        status, body = _get(url + "/catalog", Accept="text/turtle")
        assert status == 200 and b"dcat:Catalog" in body
        assert sparql_count(site) == portal_count(site) == before
        for round_ in range(4):  # fresh connections: the versions are published by one worker or the other
            record = RECORD | {"资源摘要": f"全市公共停车场泊位数（第 {round_} 版）。"}
            request = urllib.request.Request(url + "/api/datasets", method="POST",
                                             data=json.dumps(record, ensure_ascii=False).encode(),
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=120) as answer:
                assert answer.status == (201 if round_ == 0 else 200)
        for _ in range(12):  # fresh connections: gunicorn's workers take them in turn
            status, page = _get(url + "/datasets/wuhan.420100-D017-07101.ttl")
            assert status == 200 and "多进程测试" in page.decode() and "第 3 版" in page.decode()
            status, body = _get(url + "/datasets?format=json")
            assert json.loads(body)["total"] == before + 1
        assert sparql_count(site) == portal_count(site) == csw_count(site) == records_count(site) == before + 1
        status, body = _get(url + "/catalog?page_size=1000", Accept="text/turtle")
        assert status == 200 and b"wuhan.420100-D017-07101" in body
        # one change-log row per publication (1 created, 3 updated), each written once, whichever worker wrote it
        assert _index_counts(top) == {"search": before + 1, "changes": before + 4, "changes_present": before + 1,
                                      "csw": before + 1}
        import psycopg

        with psycopg.connect(top.database_url) as con:  # CSW holds the last version, whoever wrote which
            [(abstract,)] = con.execute("SELECT abstract FROM csw_records WHERE identifier LIKE %s",
                                        ("%420100-D017-07101%",)).fetchall()
        assert "第 3 版" in abstract
        status, body = _get(url + "/metrics")
        assert status == 200 and b"wodp_http_requests_total" in body
        assert len(_gunicorn_workers(web.pid)) == 2
    finally:
        top.stop(web)


def _ready(url: str) -> bool:
    try:
        return _get(url + "/health/ready", timeout=5)[0] == 200
    except OSError:
        return False


def _gunicorn_workers(master: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(master).children(recursive=False)]


def test_the_store_turn_waits_for_another_process_and_is_freed_when_it_dies(tmp_path):
    """sparql/shared.py: one process at a time; re-entrant inside a process; a holder killed frees it at once."""
    import threading

    from sparql.shared import SharedWrites

    path = tmp_path / "store.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path\n"
        "from sparql.shared import SharedWrites\n"
        "lock = SharedWrites(Path(sys.argv[2]))\n"
        "with lock.held():\n"
        "    print('held', flush=True); time.sleep(600)\n"), str(ROOT), str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        caught = []
        lock = SharedWrites(path, on_acquire=lambda: caught.append("generation re-read"))
        got = threading.Event()

        def take():
            with lock.held():
                with lock.held():  # nested in the same process: no second wait
                    got.set()

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        assert not got.wait(1.0)  # the other process holds it
        holder.kill()  # SIGKILL: the kernel lets its lock go
        assert got.wait(10)
        thread.join(10)
        assert caught == ["generation re-read"] and lock.waited_s > 0.5
        lock.close()
    finally:
        holder.kill()
        holder.wait()


_PUBLISHER = """
import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path
from sparql.shared import SharedWrites
turns = SharedWrites(Path(sys.argv[2]), url=sys.argv[3] or None)
with turns.publication():
    turns.write_turn()
    if turns.state is not None:
        turns.state.save(41, 1700000000.0)
    print('store', flush=True); sys.stdin.readline()
    turns.hand_over()
    print('indexes', flush=True); sys.stdin.readline()
print('done', flush=True); time.sleep(600)
"""


@pytest.fixture(params=["file", "postgresql"])
def turn_place(request, tmp_path):
    """Where the turns are kept: lock files beside a home, or advisory locks in PostgreSQL (database.url)."""
    if request.param == "file":
        return tmp_path / "store.lock", None
    from tests.pg import fresh_database_url

    return tmp_path / "store.lock", fresh_database_url(request.getfixturevalue("postgis_dsn"), "wodp_turns")


def test_a_publication_lets_the_next_write_in_while_its_indexes_follow(turn_place):
    """sparql/shared.py: a publication holds the store's turn for its write only; once it has handed over,
    another process takes the store's turn while the first still holds the indexes' turn, and that second
    publication's indexes wait for the first's; a holder killed frees both turns; the generation one process
    saved is the one another reads (PostgreSQL)."""
    import threading

    from sparql.shared import SharedWrites, holder

    path, url = turn_place
    other = subprocess.Popen([sys.executable, "-c", _PUBLISHER, str(ROOT), str(path), url or ""],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    turns = SharedWrites(path, url=url)
    try:
        assert other.stdout.readline().strip() == "store"
        if url:
            assert holder(url, "store") == other.pid and holder(url, "indexes") is None
            assert turns.state.read() == (41, 1700000000.0)
        reached = {name: threading.Event() for name in ("write", "indexes")}

        def publish():
            with turns.publication():
                turns.write_turn()
                reached["write"].set()
                turns.hand_over()
                reached["indexes"].set()

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        assert not reached["write"].wait(1.0)  # the other process writes
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "indexes"
        assert reached["write"].wait(10)  # its indexes follow: our write goes on meanwhile
        assert not reached["indexes"].wait(1.0)  # but our indexes wait for its indexes
        if url:
            assert holder(url, "store") == os.getpid() and holder(url, "indexes") == other.pid
        other.kill()  # SIGKILL while it holds the indexes' turn: let go at once
        assert reached["indexes"].wait(10)
        thread.join(10)
        assert turns.store.waited_s > 0.5 and turns.indexes.waited_s > 0.5
        assert (turns.store._depth, turns.indexes._depth) == (0, 0)  # both let go at the end of the publication
        with turns.exclusive():  # and taken again at once
            pass
    finally:
        other.kill()
        other.wait()
        turns.close()
