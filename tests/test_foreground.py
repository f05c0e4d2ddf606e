"""Background work gives way to the requests its process has in hand (core/foreground.py)."""

import threading
import time
import urllib.request

from core.foreground import Foreground, waitress_in_hand


def test_the_waitress_probe_counts_the_requests_in_hand_and_background_work_waits_for_them():
    from config.settings import ServerSettings
    from server.front import make_server
    from conftest import free_port

    release, entered = threading.Event(), threading.Event()

    def app(environ, start_response):
        entered.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    port = free_port()
    server = make_server(app, ServerSettings(), host="127.0.0.1", port=port, threads=2)
    foreground = Foreground()
    foreground.watch(waitress_in_hand(server.task_dispatcher))
    threading.Thread(target=server.run, daemon=True).start()
    answers = []
    try:
        time.sleep(0.2)
        assert foreground.busy() == 0 and foreground.give_way() < 0.05   # nothing in hand: no wait
        for _ in range(3):   # two served by the two threads, one waiting for a thread: three in hand
            threading.Thread(target=lambda: answers.append(urllib.request.urlopen(
                f"http://127.0.0.1:{port}/", timeout=10).read()), daemon=True).start()
        assert entered.wait(5)
        deadline = time.monotonic() + 5
        while foreground.busy() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert foreground.busy() == 3
        waited = foreground.give_way(max_wait_s=0.3)   # in hand all along: the whole 0.3 s, then on
        assert 0.3 <= waited < 1.0
        threading.Timer(0.2, release.set).start()
        waited = foreground.give_way(max_wait_s=5)      # answered after 0.2 s: the wait ends with them
        assert 0.15 <= waited < 2.0 and foreground.busy() == 0
        deadline = time.monotonic() + 5
        while len(answers) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert answers == [b"ok"] * 3
    finally:
        release.set()
        server.close()


def test_giving_way_ends_when_the_work_is_stopped():
    foreground = Foreground()
    foreground.watch(lambda: 1)
    foreground.watch(lambda: 1 / 0)   # a server closing is counted as nothing in hand
    assert foreground.busy() == 1
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert foreground.give_way(max_wait_s=5, stop=stop) < 1.0
