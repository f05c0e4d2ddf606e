"""kill -9 of the server at random moments during a harvest and a push storm, then a restart, 20 times.

After every restart: each derived index equals the store by content (the title of every dataset in the
search index, OGC API Records and the CSW repository; the change log's datasets and their modification
times), no harvest job is left running, and every push answered 201 is in the store with its title.
At the end, a server started with nobody asking for anything completes the interrupted harvest by itself.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.test_push_api import RECORD

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("KILL_ROUNDS", "20"))
N = 300
SEED = 20261206
PUSHERS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`wodp serve` in a process of its own, over one home."""

    def __init__(self, home: Path, config: Path, port: int, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
        env.update(WODP_HOME=str(home), WODP_CONFIG=str(config), PYTHONPATH=str(ROOT))
        self.home, self.url = home, f"http://127.0.0.1:{port}"
        (home / "server.json").unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT,
                                     env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited at start-up ({self.proc.returncode})")
            if (self.home / "server.json").exists():
                try:
                    with urllib.request.urlopen(self.url + "/health/ready", timeout=5):
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError("the server did not start")

    def post(self, path: str, body: bytes, headers: dict, timeout: float = 120) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    def harvest(self, source: str) -> None:
        token = json.loads((self.home / "server.json").read_text())["token"]
        try:
            self.post("/internal/harvest", json.dumps({"source": source}).encode(),
                      {"Content-Type": "application/json", "X-WODP-Token": token}, timeout=300)
        except OSError:
            pass  # killed while harvesting

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def _storm(server: Server, token: str, first: int, stop: threading.Event, acked: dict, once: bool = False) -> None:
    """Push new datasets one by one until stopped (or just one); note each one answered 201 with its title."""
    n = 0
    while not stop.is_set() or (once and n == 0):
        code = f"420100-D017-{first + n:05d}"
        title = f"停车场 推送 {first + n}"
        body = json.dumps(RECORD | {"资源代码": code, "资源名称": title}, ensure_ascii=False).encode()
        try:
            status, answer = server.post("/api/datasets", body, {"Content-Type": "application/json",
                                                                 "Authorization": f"Bearer {token}"}, timeout=60)
        except OSError:
            return  # the server was killed
        if status == 201:
            acked[answer["published"][0]["uri"]] = title
        n += 1


def _job_time(home: Path) -> float | None:
    """Return when the latest running harvest job started, if one runs."""
    try:
        with sqlite3.connect(home / "harvest.sqlite", timeout=1) as conn:
            row = conn.execute("SELECT started FROM harvest_jobs WHERE status = 'running' ORDER BY id DESC").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _check_whole(home: Path, config: Path, acked: dict[str, str]) -> dict:
    """Start the platform as the server does and compare every index with the store by content."""
    from config import load_settings
    from ogc.records import LAYER_ID
    from server.platform import Platform

    settings = load_settings({"WODP_CONFIG": str(config)}, home=home)
    platform = Platform.open(settings, start_workers=False)
    try:
        store = platform.store
        rows = store.query("SELECT ?d ?t WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ; "
                           "<http://purl.org/dc/terms/title> ?t FILTER(LANG(?t) != 'en') } }")
        titles = {row[0].value: row[1].value for row in rows}
        assert len(titles) == store.count_datasets()
        with sqlite3.connect(platform.search.path) as conn:
            assert dict(conn.execute("SELECT uri, title_zh FROM search_docs")) == titles, "search index"
        records = {u: (f or {}).get("properties", {}).get("title")
                   for u in titles for f in [platform.features.get(LAYER_ID, u.rsplit("/", 1)[-1])]}
        assert records == titles, "OGC API Records"
        assert platform.features.layer(LAYER_ID).count == len(titles)
        platform.csw.repository.flush()
        with sqlite3.connect(platform.csw.repository.path) as conn:
            assert dict(conn.execute("SELECT identifier, title FROM records")) == titles, "CSW repository"
        with sqlite3.connect(platform.changes.path) as conn:
            seen = dict(conn.execute("SELECT uri, modified FROM changes_seen WHERE present = 1"))
        assert seen == {u: store.record_modified(u).isoformat() for u in titles}, "change log"
        with sqlite3.connect(home / "harvest.sqlite") as conn:
            assert conn.execute("SELECT COUNT(*) FROM harvest_jobs WHERE status = 'running'").fetchone()[0] == 0
        lost = {u: t for u, t in acked.items() if titles.get(u) != t}
        assert not lost, f"{len(lost)} acknowledged pushes lost, e.g. {next(iter(lost))}"
        return {"titles": titles, "repairs": sum(v.repaired for v in platform.verification),
                "caught_up": [v.follower for v in platform.verification if v.caught_up]}
    finally:
        platform.close()


@pytest.mark.slow
def test_kill_during_harvest_and_push_storm_restarts_whole(tmp_path):
    from access.accounts import AccountStore

    rng = random.Random(SEED)
    source = FakeSource()
    source.server.handle_error = lambda request, address: None  # connections cut by the kills: expected
    fake = FakeCkan(source, [ckan_package(n) for n in range(N)])
    # each page takes 0.3 s to answer: a harvest lasts as long in every round, whatever the load and the
    # (faster) re-harvest, so a moment drawn from the first harvest's length falls inside the later ones
    fake.on_page = lambda start: time.sleep(0.3)
    port = _free_port()
    config = tmp_path / "wodp.yml"
    harvest = {"sources": [{"name": "ck", "kind": "ckan", "url": source.url}], "page_size": 50,
               "batch_size": 50, "timeout_s": 60, "retry_limit": 0}
    config.write_text(yaml.safe_dump({"site": {"base_uri": f"http://127.0.0.1:{port}"}, "harvest": harvest}))
    accounts = AccountStore(tmp_path / "accounts.sqlite")
    token = accounts.create("D017")[1]
    accounts.close()
    log = tmp_path / "server.log"
    acked: dict[str, str] = {}
    found = []
    try:
        server = Server(tmp_path, config, port, log)   # a first harvest, not killed, gives its length
        server.wait_ready()
        started = time.monotonic()
        server.harvest("ck")
        length = time.monotonic() - started
        server.stop()
        for round_ in range(1, ROUNDS + 1):
            for p in fake.packages:
                p["title"] = f"Dataset {p['name']} round {round_}"
            server = Server(tmp_path, config, port, log)
            server.wait_ready()
            # one push before the storm: push bodies are read in sandbox workers, which warm up after a start
            warm = threading.Event()
            warm.set()
            _storm(server, token, round_ * 1000 + 999, warm, acked, once=True)
            stop = threading.Event()
            threads = [threading.Thread(target=server.harvest, args=("ck",), daemon=True)]
            threads += [threading.Thread(target=_storm, args=(server, token, round_ * 1000 + k * 300, stop, acked),
                                         daemon=True) for k in range(PUSHERS)]
            for thread in threads:
                thread.start()
            while _job_time(tmp_path) is None and threads[0].is_alive():
                time.sleep(0.02)
            time.sleep(rng.uniform(0.05, 0.8) * length)   # a random moment of the harvest
            assert _job_time(tmp_path) is not None, "the harvest ended before the kill: kill earlier"
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(60)
            found.append(_check_whole(tmp_path, config, acked))
        print(f"{ROUNDS} kills: {sum(f['repairs'] for f in found)} datasets repaired at start-up, "
              f"{sum(len(f['caught_up']) for f in found)} indexes caught up whole, {len(acked)} pushes acknowledged")
        assert len(acked) >= ROUNDS // 2  # the storm really pushed
        with (tmp_path / "wodp.yml").open("w") as f:   # retries on: nobody asks, the scheduler completes it
            yaml.safe_dump({"site": {"base_uri": f"http://127.0.0.1:{port}"},
                            "harvest": harvest | {"retry_limit": 100, "retry_backoff_s": 0, "tick_s": 0.5}}, f)
        server = Server(tmp_path, config, port, log)
        server.wait_ready()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "harvest.sqlite") as conn:
                last = conn.execute("SELECT status, trigger, retry_of FROM harvest_jobs ORDER BY id DESC").fetchone()
            if last[0] == "succeeded":
                break
            time.sleep(0.2)
        assert last[0] == "succeeded" and last[1] == "retry" and last[2] is not None
        server.stop()
        _check_whole(tmp_path, config, acked)
        again = _check_whole(tmp_path, config, acked)
        assert again["repairs"] == 0 and again["caught_up"] == []   # a repair is done once, not at every start
        final = again["titles"]
        harvested = {t for u, t in final.items() if "/datasets/wuhan." not in u}
        assert harvested == {f"Dataset {p['name']} round {ROUNDS}" for p in fake.packages}  # the retry completed it
        assert len(final) >= N + len(acked)  # pushes cut by a kill before their answer may be stored too
    finally:
        if server.proc.poll() is None:
            server.kill()
        source.close()
