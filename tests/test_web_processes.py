"""A real `wodp serve` with two web processes: writes seen at once, a dead process replaced, slow clients held
off, a prompt and clean stop (docs/architecture.md, "Several web processes")."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RECORD = {
    "资源名称": "武汉市公共停车场信息 多进程测试", "资源代码": "420100-D017-07101", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 30, **headers) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    def __init__(self, home: Path, port: int, env: dict) -> None:
        self.home, self.port, self.env = home, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([str(ROOT / ".venv/bin/wodp"), "serve", "--port", str(port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if get(self.url + "/datasets/demo.none", timeout=5)[0] == 404 and len(self.web_pids()) == 2:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        os.killpg(self.proc.pid, signal.SIGKILL)  # leave nothing running behind a failed start
        self.proc.wait()
        raise AssertionError("wodp serve did not start")

    def web_pids(self) -> list[int]:
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        pids = []
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "server.web" in " ".join(child.cmdline()):
                    pids.append(child.pid)
            except psutil.Error:  # gone, or a zombie not yet reaped by the writer
                continue
        return pids


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-processes")
    env = dict(os.environ, WODP_HOME=str(home), PYTHONPATH=str(ROOT), WODP_SERVER__PROCESSES="2",
               WODP_DEMO__DATASETS="60", WODP_DEMO__SPATIAL="10", WODP_LOGGING__LEVEL="WARNING", WODP_CSW__ENABLED="false")
    port = free_port()
    subprocess.run([str(ROOT / ".venv/bin/wodp"), "demo", "--build-only", "--port", str(port)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    added = subprocess.run([str(ROOT / ".venv/bin/wodp"), "account", "add", "D017"], env=env, check=True,
                           capture_output=True, text=True, timeout=60).stdout
    server = Server(home, port, env)
    server.token = re.search(r"token[^:]*: (\S+)", added).group(1)
    yield server
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()


def some_dataset(server) -> str:
    status, body = get(server.url + "/datasets?format=json")
    assert status == 200
    return json.loads(body)["hits"][0]["id"]


def test_a_push_is_seen_by_every_web_process_at_once(server):
    assert len(server.web_pids()) == 2
    body = json.dumps(RECORD, ensure_ascii=False).encode()
    for round_ in range(3):
        record = RECORD | {"资源摘要": f"全市公共停车场名称、地址和泊位数（第 {round_} 版）。"}
        req = urllib.request.Request(server.url + "/api/datasets", data=json.dumps(record, ensure_ascii=False)
                                     .encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {server.token}"})
        with urllib.request.urlopen(req, timeout=60) as answer:
            assert answer.status in (200, 201)
        for _ in range(8):  # fresh connections: the kernel spreads them over both processes
            status, page = get(server.url + "/datasets/wuhan.420100-D017-07101.ttl")
            assert status == 200
            assert f"第 {round_} 版" in page.decode()
            status, found = get(server.url + "/datasets?format=json&q=" + urllib.parse.quote("多进程测试"))
            assert status == 200 and json.loads(found)["total"] == 1
    assert body


def test_a_killed_web_process_is_replaced_and_the_site_keeps_answering(server):
    before = server.web_pids()
    os.kill(before[0], signal.SIGKILL)
    dataset = some_dataset(server)
    for _ in range(10):
        status, page = get(server.url + f"/datasets/{dataset}", Accept="text/html")
        assert status == 200, (dataset, page[:600])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(server.web_pids()) < 2 or before[0] in server.web_pids()):
        time.sleep(0.5)
    after = server.web_pids()
    assert len(after) == 2 and before[0] not in after and before[1] in after


def _slow_clients(server, count: int, opening: bytes, drip: bytes, stop: threading.Event) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(opening)
        sockets.append(s)

    def drip_loop():
        while not stop.wait(5):  # one more line every 5 s, never the end
            for s in sockets:
                try:
                    s.sendall(drip)
                except OSError:
                    pass

    threading.Thread(target=drip_loop, daemon=True).start()
    return sockets


def _normal_gets_while(server, sockets, stop) -> list[float]:
    dataset = some_dataset(server)
    took = []
    try:
        for _ in range(12):
            started = time.monotonic()
            status, _ = get(server.url + f"/datasets/{dataset}", timeout=10, Accept="text/html")
            took.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.5)
        alive = sum(1 for s in sockets if _still_open(s))
    finally:
        stop.set()
        for s in sockets:
            s.close()
    assert alive == len(sockets), f"only {alive} of {len(sockets)} slow connections were still held"
    return took


def _still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def test_200_slow_connections_do_not_starve_a_normal_client(server):
    stop = threading.Event()
    sockets = _slow_clients(server, 200, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", stop)
    took = _normal_gets_while(server, sockets, stop)
    assert max(took) < 2.0, took


def test_120_slow_uploads_do_not_starve_a_normal_client(server):
    stop = threading.Event()
    head = (b"POST /api/validate HTTP/1.1\r\nHost: x\r\nContent-Type: text/turtle\r\n"
            b"Content-Length: 100000\r\n\r\n@prefix dct: <http://purl.org/dc/terms/> .\n")
    sockets = _slow_clients(server, 120, head, b"# still uploading\n", stop)
    took = _normal_gets_while(server, sockets, stop)
    assert max(took) < 2.0, took


def _writer_sandbox_workers(server) -> list[psutil.Process]:
    """The writer's sandbox workers (its direct children running core.sandbox_worker)."""
    out = []
    for child in psutil.Process(server.proc.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "core.sandbox_worker" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out


def _cpu(procs: list[psutil.Process], seconds: float = 1.0) -> float:
    """CPU used by ``procs`` over ``seconds``, in percent of one core."""
    for proc in procs:
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(seconds)
    total = 0.0
    for proc in procs:
        try:
            total += proc.cpu_percent(None)
        except psutil.Error:
            pass
    return total


def records_xlsx(rows: int) -> bytes:
    """A workbook of china-core records, one dataset per row."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(RECORD))
    for i in range(rows):
        sheet.append(list((RECORD | {"资源代码": f"420100-D017-{10000 + i:05d}",
                                     "资源名称": f"武汉市公共停车场信息 {i}"}).values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _abandon_upload(port: int, body: bytes, after: float) -> None:
    """Upload an inventory to /api/validate, wait ``after`` seconds, and close the connection unanswered."""
    head = (f"POST /api/validate?mapping=china-core HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {XLSX}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.settimeout(after)
        try:
            sock.recv(65536)
        except TimeoutError:
            pass


def test_uploads_abandoned_while_forwarded_to_the_writer_are_stopped_there(server):
    body = records_xlsx(1500)                 # several seconds of validation each
    deadline = time.monotonic() + 60
    while _cpu(_writer_sandbox_workers(server)) > 10:  # warm workers idle before the storm
        assert time.monotonic() < deadline, "the writer's sandbox workers were not idle before the test"
    before = {p.pid for p in _writer_sandbox_workers(server)}
    clients = [threading.Thread(target=_abandon_upload, args=(server.port, body, 0.5)) for _ in range(8)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    abandoned = time.monotonic()
    # the web processes closed their connections to the writer: its running tasks were killed with their
    # workers, the waiting ones left the queue, and nothing more is read
    cpu = _cpu(_writer_sandbox_workers(server))
    while cpu > 25 and time.monotonic() - abandoned < 5:
        cpu = _cpu(_writer_sandbox_workers(server))
    assert cpu <= 25, f"the writer still works on abandoned uploads ({cpu:.0f} % CPU)"
    assert before - {p.pid for p in _writer_sandbox_workers(server)}, "no sandbox worker of the writer was stopped"
    assert get(server.url + "/datasets/demo.none")[0] == 404   # and the site answers
    # the replacements of the stopped workers are warm before the next test stops the server
    deadline = time.monotonic() + 60
    while not _writer_sandbox_workers(server) or _cpu(_writer_sandbox_workers(server), 2.0) > 10:
        assert time.monotonic() < deadline, "the writer's sandbox workers were not replaced"


# before the test that stops the module's server
def test_web_processes_answer_the_data_api_from_the_loaded_tables(server):
    """The writer loads the tables (Parquet files); every web process reads them with its own DuckDB."""
    status, body = get(server.url + "/datasets?format=json&page_size=50")
    ids = [hit["id"] for hit in json.loads(body)["hits"]]
    deadline, found = time.monotonic() + 180, None
    while found is None and time.monotonic() < deadline:
        for dataset_id in ids:
            status, body = get(f"{server.url}/api/data/{dataset_id}/tables")
            if status == 200 and json.loads(body)["tables"]:
                found = dataset_id
                break
        else:
            time.sleep(1)
    assert found is not None, "no dataset's tables were loaded"
    answers = set()
    for _ in range(12):  # fresh connections: the kernel spreads them over both processes
        status, body = get(f"{server.url}/api/data/{found}?page_size=3&sort=-" + urllib.parse.quote(
            json.loads(get(f"{server.url}/api/data/{found}/tables")[1])["tables"][0]["columns"][0]["name"]))
        assert status == 200, body[:300]
        page = json.loads(body)
        answers.add((page["total"], json.dumps(page["records"], ensure_ascii=False)))
    assert len(answers) == 1


def test_sigterm_stops_every_process_within_seconds(server):
    family = [server.proc.pid] + [c.pid for c in psutil.Process(server.proc.pid).children(recursive=True)]
    assert len(family) >= 3  # the writer, two web processes, and the SPARQL workers
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=30)
    stopped = time.monotonic() - started
    time.sleep(0.5)
    left = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert left == []
    assert stopped < 10, f"took {stopped:.1f} s to stop"
    assert not (server.home / "server.json").exists()


def test_the_front_answers_408_to_a_request_past_its_header_deadline():
    from config.settings import ServerSettings
    from server.front import make_server

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    port = free_port()
    server = make_server(app, ServerSettings(header_timeout_s=1.0, body_timeout_s=1.0), host="127.0.0.1", port=port)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        for opening in (b"GET / HTTP/1.1\r\nHost: x\r\n",  # headers never finished
                        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"):  # body never finished
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            started = time.monotonic()
            s.sendall(opening)
            for _ in range(3):
                time.sleep(0.5)
                try:
                    s.sendall(b"X-Slow: 1\r\n" if b"GET" in opening else b"d")
                except OSError:
                    break
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            s.close()
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"did not arrive within 1 s" in answer
            assert time.monotonic() - started < 5
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
    finally:
        server.close()
