"""The daily job checks the data files new or changed since their last check, and only those.

A department's file server answers conditional GETs (ETag); the daily job (manage.daily.DailyFreshness, with
the platform's server.data_checks.run_daily_data_checks) runs on two days: an unchanged file is answered 304
and not read again; a file changed between the days is checked again and its new defect becomes a work order
of the department and a DQV measurement; a file that cannot be fetched is counted with why.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyoxigraph as ox

from tests.test_tabular_checks import CLEAN, _measurements

SPATIAL = {"https://data.wuhan.gov.cn/def/wodp#spatializationStatus", "https://data.wuhan.gov.cn/def/wodp#sourceCRS"}


class FileServer:
    """A loopback file server with ETags: counts the bodies it sends per path (a 304 sends none)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.bodies: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = owner.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                owner.bodies[self.path] = owner.bodies.get(self.path, 0) + 1
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _tabular_dataset(base: str, code: str, url: str) -> dict[str, list]:
    """A department's (D017) non-spatial dataset whose one distribution is a CSV at url."""
    from tests.test_ogc_channels import _dataset_file

    triples = [t for t in ox.parse(_dataset_file(base, code, url), format=ox.RdfFormat.TURTLE)
               if t.predicate.value not in SPATIAL]
    (uri,) = {t.subject.value for t in triples if t.object.value == "http://www.w3.org/ns/dcat#Dataset"}
    return {uri: triples}


def data_orders(platform) -> list:
    """The department's open work orders of the data checks (not its overdue updates)."""
    return [o for o in platform.workorders.for_department("D017", active_only=True) if o.kind != "overdue-update"]


def test_the_daily_job_checks_new_and_changed_files_only(tmp_path):
    from config import load_settings
    from manage.daily import DailyFreshness
    from server.data_checks import run_daily_data_checks
    from server.platform import Platform

    files = FileServer()
    files.files = {"/kept.csv": CLEAN.encode(), "/changing.csv": CLEAN.encode()}
    # the data API's loader fetches the files too when a dataset is published: off here, so that every request
    # the file server counts is the daily checks' own
    settings = load_settings({}, overrides={"csw": {"enabled": False}, "data_api": {"load_at_publication": False}},
                             home=tmp_path / "home")
    platform = Platform.open(settings, start_workers=False)
    try:
        base = settings.base_uri
        graphs = {**_tabular_dataset(base, "09401", files.url + "/kept.csv"),
                  **_tabular_dataset(base, "09402", files.url + "/changing.csv"),
                  **_tabular_dataset(base, "09403", files.url + "/gone.csv")}
        outcome = platform.publisher.publish(graphs, "load")
        assert len(outcome.published) == 3
        kept, changing, gone = sorted(outcome.published)
        ids = {u: u.rsplit("/", 1)[-1] for u in (kept, changing, gone)}
        checks = platform.data_checks.checks
        assert all(checks.files(i) == {} for i in ids.values())  # not spatial: not read at publication
        daily = DailyFreshness(platform.store, platform.freshness, platform.workorders, tick_s=3600,
                               data_checks=lambda stop: run_daily_data_checks(platform, stop))

        first = daily.tick(datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc))["data_checks"]
        assert (first["checked"], first["unchanged"], first["failed"], first["republished"]) == (2, 0, 1, 2)
        assert first["failed_files"] == [f"{files.url}/gone.csv: the server answered 404"]
        assert files.bodies == {"/kept.csv": 1, "/changing.csv": 1}
        assert checks.findings_for(ids[changing]) == []
        assert data_orders(platform) == []
        assert _measurements(platform, changing)["duplicateRows"] == "0"  # measured: published again

        lines = CLEAN.splitlines()  # between the two days, the department adds a row twice
        files.files["/changing.csv"] = ("\n".join(lines + [lines[1]]) + "\n").encode()
        second = daily.tick(datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc))["data_checks"]
        assert (second["checked"], second["unchanged"], second["failed"], second["republished"]) == (1, 1, 1, 1)
        assert files.bodies == {"/kept.csv": 1, "/changing.csv": 2}  # the unchanged file was not sent again
        (finding,) = checks.findings_for(ids[changing])
        assert (finding.check, finding.detail["rows"]) == ("duplicate-rows", [[2, 6]])
        (order,) = data_orders(platform)
        assert (order.kind, order.dataset, order.status) == ("duplicate-rows", changing, "open")
        assert second["work_orders"]["opened"] == 1
        assert _measurements(platform, changing)["duplicateRows"] == "1"
        assert _measurements(platform, kept)["duplicateRows"] == "0"
        entry = next(platform.audit.entries(action="dataset.publish", newest_first=True))
        assert (entry.target, entry.detail["via"], entry.detail["reason"]) == (
            f"dataset:{ids[changing]}", "daily", "check-data")

        assert daily.tick(datetime(2026, 12, 8, 5, 0, tzinfo=timezone.utc)) is None  # once a day
        ending = threading.Event()
        ending.set()  # the process is ending: nothing more is read, and the report says so
        stopped = run_daily_data_checks(platform, ending)
        assert (stopped["stopped"], stopped["checked"], stopped["unchanged"]) == (True, 0, 0)
    finally:
        files.server.shutdown()
        platform.close()


def test_a_process_ending_while_datasets_are_published_again_leaves_the_rest_for_the_next_look(tmp_path, monkeypatch):
    """The republication after the checks goes REPUBLISH_CHUNK datasets at a time; a process ending stops it
    between two (a shutdown waits for one, not for the catalogue). The datasets checked but not published again
    are read and checked again at the next look, and published then: none is left without its measurements."""
    from config import load_settings
    from server import data_checks
    from server.data_checks import run_daily_data_checks
    from server.platform import Platform

    files = FileServer()
    files.files = {f"/{n}.csv": CLEAN.encode() for n in "abc"}
    settings = load_settings({}, overrides={"csw": {"enabled": False}, "data_api": {"load_at_publication": False}},
                             home=tmp_path / "home")
    platform = Platform.open(settings, start_workers=False)
    try:
        graphs = {}
        for code, n in zip(("09411", "09412", "09413"), "abc"):
            graphs.update(_tabular_dataset(settings.base_uri, code, f"{files.url}/{n}.csv"))
        uris = sorted(platform.publisher.publish(graphs, "load").published)
        monkeypatch.setattr(data_checks, "REPUBLISH_CHUNK", 1)
        ending, real, published = threading.Event(), platform.publisher.publish, []

        def publish_then_end(graphs, source, profile=None):
            published.append(sorted(graphs))
            ending.set()  # SIGTERM arrives during the first publication
            return real(graphs, source, profile)

        monkeypatch.setattr(platform.publisher, "publish", publish_then_end)
        first = run_daily_data_checks(platform, ending)
        assert (first["checked"], first["republished"], first["not_republished"], first["stopped"]) == (3, 1, 2, True)
        assert len(published) == 1
        monkeypatch.setattr(platform.publisher, "publish", real)
        second = run_daily_data_checks(platform, threading.Event())
        assert (second["checked"], second["unchanged"], second["republished"], second["stopped"]) == (2, 1, 2, False)
        assert all(_measurements(platform, uri)["duplicateRows"] == "0" for uri in uris)
        # the published one's file was answered 304 the second time; the two others were read again
        assert sorted(files.bodies.values()) == [1, 2, 2]
    finally:
        files.server.shutdown()
        platform.close()
