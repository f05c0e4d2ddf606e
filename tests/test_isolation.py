"""Heavy per-request work runs in killable sandbox workers: limits, a bounded queue, abandoned uploads stopped.

The first tests drive core.sandbox directly (tasks are library functions, so no worker needs our modules);
the others run a real `wodp demo` server and measure it from outside with psutil.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from core.sandbox import (ClientGoneError, InlineSandbox, Limits, Sandbox, SandboxBusyError, SandboxMemoryError,
                          SandboxTimeoutError)
from mappings import MappingInputError, read_records
from tests.conftest import ROOT, LiveServer, admin_headers, free_port

RECORD = {
    "资源名称": "武汉市公共停车场信息", "资源代码": "420100-D017-09999", "资源提供方": "武汉市交通运输局",
    "资源摘要": "全市公共停车场名称、地址和泊位数。", "资源分类": "交通运输", "开放类型": "无条件开放",
    "更新周期": "每月", "发布日期": "2021-03-04", "更新日期": "2024-10-01", "资源格式": "csv,xlsx",
    "关键字": "停车场、交通", "联系方式": "027-85123456 opendata@jtj.wuhan.gov.cn", "数据量": "12345",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def records_xlsx(rows: int) -> bytes:
    """A workbook of china-core records, one dataset per row (600 rows: about 40 KB, seconds to validate)."""
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


def many_values_turtle(values: int) -> bytes:
    """A plain Turtle dataset with one keyword list of ``values`` numbers: 10 MB need about 1 GB to read."""
    numbers = ", ".join(str(i) for i in range(values))
    return ("@prefix d: <http://127.0.0.1/datasets/> .\nd:x.a a <http://www.w3.org/ns/dcat#Dataset> ;\n"
            f"  <http://www.w3.org/ns/dcat#keyword> {numbers} .\n").encode()


# -- the sandbox itself ---------------------------------------------------------------------------------------
@pytest.fixture
def sandbox(tmp_path):
    made = []

    def make(**limits) -> Sandbox:
        box = Sandbox(Limits(**({"workers": 1, "nice": 0} | limits)), tmp_path / "slots")
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


def test_a_task_answers_and_its_own_error_comes_back_unchanged(sandbox):
    box = sandbox()
    assert box.run(sum, [1, 2, 3]) == 6
    with pytest.raises(MappingInputError) as info:
        box.run(read_records, b"", "empty.csv", "upload")
    assert info.value.status == 400 and info.value.message == "empty.csv: the file is empty"
    assert InlineSandbox().run(sum, [4, 5]) == 9


def test_a_task_past_its_time_is_stopped_and_its_worker_replaced(sandbox):
    box = sandbox(timeout_s=1.0)
    box.run(sum, [])
    before = set(box.worker_pids())
    started = time.monotonic()
    with pytest.raises(SandboxTimeoutError) as info:
        box.run(time.sleep, 30, what="the upload")
    assert time.monotonic() - started < 5
    assert info.value.status == 503 and info.value.message == "the upload needed more than 1 s and was stopped"
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in before)
    assert box.run(sum, [2, 2]) == 4


def test_a_task_past_its_memory_is_stopped(sandbox):
    box = sandbox(memory_mb=400)
    with pytest.raises(SandboxMemoryError) as info:
        box.run(bytearray, 800 * 1024 * 1024, what="the upload")
    assert info.value.status == 413
    assert info.value.message == "the upload needed more than 400 MB of memory and was stopped"
    assert box.run(len, b"still here") == 10


def test_extra_tasks_wait_in_a_bounded_queue_then_get_503_with_retry_after(sandbox):
    box = sandbox(max_tasks=1, max_queue=1, queue_timeout_s=1.0)
    outcomes: list = []

    def call():
        try:
            outcomes.append(box.run(time.sleep, 3, what="the upload"))
        except SandboxBusyError as exc:
            outcomes.append(exc)

    box.run(sum, [])
    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    busy = [o for o in outcomes if isinstance(o, SandboxBusyError)]
    assert outcomes.count(None) == 1 and len(busy) == 2  # one ran; one waited 1 s; one found the queue full
    assert all(b.status == 503 and b.retry_after == 1 and "try again" in b.message for b in busy)


def test_a_task_whose_client_went_away_is_stopped(sandbox):
    box = sandbox()
    box.run(sum, [])
    [pid] = box.worker_pids()
    started = time.monotonic()
    with pytest.raises(ClientGoneError):
        box.run(time.sleep, 30, gone=lambda: time.monotonic() - started > 0.5)
    assert time.monotonic() - started < 3
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_worker_killed_while_idle_is_replaced_for_the_next_task(sandbox):
    box = sandbox()
    box.run(sum, [])
    [pid] = box.worker_pids()
    os.kill(pid, 9)
    time.sleep(0.2)
    assert box.run(sum, [1, 1]) == 2 and pid not in box.worker_pids()


# -- a real server --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("isolation-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), WODP_SITE__BASE_URI=f"http://127.0.0.1:{port}", PYTHONPATH=str(ROOT),
               WODP_DEMO__DATASETS="60", WODP_DEMO__SPATIAL="8", WODP_SPARQL__WORKERS="1",
               # a worker's address space is ~380 MB once warm (DuckDB, pyoxigraph, pyrudof imported), and
               # pyrudof reserves 200 MB more to validate even three records (its in-memory store's bulk-load
               # buffer): 600 MB left ~25 MB to spare, and a small upload was sometimes stopped (413)
               WODP_SANDBOX__MEMORY_MB="800", WODP_SANDBOX__MAX_TASKS="2", WODP_SANDBOX__MAX_QUEUE="4")
    live = LiveServer(home, port, env)
    yield live
    live.stop()


def _get(url: str) -> tuple[int, float]:
    """GET a page: (status, seconds); a page not answered in 10 s is (0, 10+)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status, time.monotonic() - started
    except (TimeoutError, urllib.error.URLError):
        return 0, time.monotonic() - started


def _post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type,
                                                               "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _tree_cpu(pid: int, seconds: float = 1.0) -> float:
    """CPU used by the server and all its children over ``seconds``, in percent of one core."""
    procs = _tree(pid)
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


def _sandbox_workers(pid: int) -> set[int]:
    return {p.pid for p in _tree(pid)[1:] if "core.sandbox_worker" in _cmdline(p)}


def _cmdline(process: psutil.Process) -> str:
    """The command line of a process, or "" for one gone or a zombie not yet reaped."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _settle(pid: int, ceiling: float, within: float) -> float:
    deadline = time.monotonic() + within
    cpu = _tree_cpu(pid)
    while cpu > ceiling and time.monotonic() < deadline:
        cpu = _tree_cpu(pid)
    return cpu


def _abandon(port: int, body: bytes, after: float, answers: list) -> None:
    """Upload, keep what the server answers within ``after`` seconds, and close the connection."""
    head = (f"POST /api/validate?mapping=china-core HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {XLSX}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.settimeout(after)
        try:
            answers.append(sock.recv(65536))
        except TimeoutError:
            answers.append(b"")


def test_sixteen_abandoned_uploads_are_stopped_and_pages_stay_fast(server):
    body = records_xlsx(600)
    assert 30_000 < len(body) < 50_000
    pid = server.proc.pid
    page = re.search(r'href="(/datasets/demo\.[^"?#]+)"', urllib.request.urlopen(server.url + "/datasets").read()
                     .decode()).group(1)
    assert _settle(pid, 25, 60) <= 25, "the server was not idle before the storm"
    before = _sandbox_workers(pid)
    answers: list[bytes] = []
    clients = [threading.Thread(target=_abandon, args=(server.port, body, 0.5, answers)) for _ in range(16)]
    for client in clients:
        client.start()
    time.sleep(0.2)
    during = {path: _get(server.url + path) for path in ("/", page)}
    for client in clients:
        client.join()
    assert all(status == 200 and seconds < 2.0 for status, seconds in during.values()), during
    # two ran, four waited, the others were told at once to come back later
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    assert len(refused) >= 8 and all(b"\r\nRetry-After: 10\r\n" in a for a in refused), answers
    # the running tasks were killed with their workers, the waiting ones left the queue: the CPU settles (the
    # workers started in their place import their modules first: a few seconds of CPU each, then idle)
    cpu = _settle(pid, 25, 20)
    assert cpu <= 25, f"the server still works on abandoned uploads ({cpu:.0f} % CPU)"
    assert before - _sandbox_workers(pid), "no sandbox worker was stopped"


def test_an_upload_past_the_memory_limit_is_stopped_and_the_server_stays_small(server):
    rss_before = psutil.Process(server.proc.pid).memory_info().rss
    status, problem = _post(server.url + "/api/validate", many_values_turtle(1_200_000), "text/turtle")
    assert status == 413, problem
    assert problem["detail"] == "the upload needed more than 800 MB of memory and was stopped"
    assert psutil.Process(server.proc.pid).memory_info().rss - rss_before < 200 * 1024 * 1024


def test_a_small_upload_validates_as_it_does_in_process(server):
    from server.validation_api import validate_upload

    body = records_xlsx(3)
    status, answer = _post(server.url + "/api/validate?mapping=china-core", body, XLSX)
    assert status == 200, answer
    report, datasets, problems, figures = validate_upload(body, "request-body.xlsx", "china-core", server.url,
                                                          10 * 1024 * 1024, None, "wuhan")
    assert answer["datasets"] == datasets == 3 and answer["conforms"] is report.conforms
    assert answer["violations"] == report.count("Violation") and answer["warnings"] == report.count("Warning")
    assert sorted(f["message_en"] for f in answer["findings"]) == sorted(f.message_en for f in report.findings)
    assert answer["records_read"] == figures["records_read"] and answer["valid"] == figures["valid"]
    assert len(answer["mapping_problems"]) == len(problems)


def test_a_push_is_read_in_a_worker_and_published(server):
    added = server.wodp("account", "add", "D017")
    assert added.returncode == 0, added.stderr
    token = re.search(r"wodp\.\S+", added.stdout).group(0)
    record = RECORD | {"资源代码": "420100-D017-07777", "资源名称": "武汉市公共停车场信息（推送）"}

    def push(body: bytes, content_type: str = "application/json; charset=utf-8") -> tuple[int, dict]:
        request = urllib.request.Request(server.url + "/api/datasets", data=body, method="POST", headers={
            "Content-Type": content_type, "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, answer = push(json.dumps(record, ensure_ascii=False).encode("gbk"), "application/json; charset=GBK")
    assert status == 201, answer
    [published] = answer["published"]
    with urllib.request.urlopen(published["uri"] + ".ttl", timeout=30) as page:
        assert "武汉市公共停车场信息（推送）" in page.read().decode()
    status, problem = push('{"资源名称": }'.encode())
    assert status == 400 and problem["detail"].startswith("request body: malformed JSON at line 1")


def test_the_demo_data_files_were_spatialized_in_workers(server):
    ask = urllib.request.Request(server.url + "/api/layers", headers=admin_headers(server.home))
    with urllib.request.urlopen(ask, timeout=30) as response:
        layers = json.loads(response.read())
    assert layers["total"] == 8 and layers["without_layer"] == {}, layers
    assert all(layer["placed"] > 0 for layer in layers["layers"]), layers["layers"]
