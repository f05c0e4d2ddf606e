"""Benchmark an end-to-end harvest of a local CKAN-style source: first harvest and a no-change re-harvest.

Run: PYTHONPATH=. python bench/harvest.py [--datasets 10000] [--etags] [--progress 60]
The clock stops when every derived index reports the store's count: the search index, and the CSW index as
pycsw itself answers it (GetRecords resultType=hits through the running pycsw process).

The source is served by a child process of its own, so that what is measured is the harvesting process alone:
its peak resident memory (and that of its own children: the CSW indexer, pycsw, sandbox workers), the bytes
they wrote to storage (/proc/<pid>/io write_bytes, summed), the disk the data directory takes, and the
per-step times the job reports (harvesters.runner: fetch, map, validate, store, each index).
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package  # noqa: E402


CSW_HITS = ("service=CSW&version=2.0.2&request=GetRecords&typenames=csw:Record&elementsetname=brief"
            "&resultType=hits")


def csw_hits(platform) -> int:
    """Ask pycsw (the real process behind /csw) how many records it has."""
    import re

    answer = platform.csw.forward("GET", CSW_HITS, b"", {})
    return int(re.search(rb'numberOfRecordsMatched="(\d+)"', answer.body).group(1))


def caught_up(platform) -> bool:
    """Every derived index reports the store's dataset count."""
    expected = platform.store.count_datasets()
    return platform.search.count() == expected and (platform.csw is None or csw_hits(platform) == expected)


def serve_source(datasets: int, etags: bool, pipe) -> None:
    """Serve the CKAN-style source in this (child) process until the pipe closes."""
    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(datasets)])
    if not etags:
        orig = source._answer

        def no_etags(h):
            h.headers.replace_header("If-None-Match", "") if "If-None-Match" in h.headers else None
            return orig(h)
        source._answer = no_etags
    pipe.send(source.url)
    try:
        pipe.recv()
    except EOFError:
        pass
    source.close()


class Meter:
    """Peak memory and bytes written by this process and its children (the source's process left out)."""

    def __init__(self, leave_out: set[int]) -> None:
        import psutil
        import threading

        self.me = psutil.Process()
        self.leave_out = leave_out
        self.written: dict[int, tuple[str, int]] = {}    # pid → (name, write_bytes at last look)
        self.start: dict[int, int] = {}
        self.peak_children = 0
        self._stop = threading.Event()
        self._look()
        self.start = {pid: w for pid, (_, w) in self.written.items()}
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _processes(self):
        return [self.me] + [c for c in self.me.children(recursive=True) if c.pid not in self.leave_out]

    def _look(self) -> None:
        import psutil

        rss = 0
        for proc in self._processes():
            try:
                io, name = proc.io_counters(), proc.name()
                rss += proc.memory_info().rss if proc.pid != self.me.pid else 0
            except psutil.Error:
                continue
            self.written[proc.pid] = (" ".join(proc.cmdline()[1:3])[:40] or name, io.write_bytes)
        self.peak_children = max(self.peak_children, rss)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self._look()

    def mark(self) -> dict[int, int]:
        self._look()
        return {pid: w for pid, (_, w) in self.written.items()}

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds (user + system) of this process and of its children (the source's left out), so far."""
        import psutil

        own = sum(self.me.cpu_times()[:2])
        children = 0.0
        for proc in self._processes()[1:]:
            try:
                children += sum(proc.cpu_times()[:2])
            except psutil.Error:
                continue
        return own, children

    def since(self, mark: dict[int, int]) -> dict[str, int]:
        """Bytes written by each process since a mark (processes started after it count from zero)."""
        now = self.mark()
        out: dict[str, int] = {}
        for pid, (name, w) in self.written.items():
            label = "harvest process" if pid == self.me.pid else name
            out[label] = out.get(label, 0) + w - mark.get(pid, 0)
        return out

    @staticmethod
    def peak_rss_mb() -> float:
        """The harvesting process's peak resident set (VmHWM)."""
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def disk_mb(path: Path) -> float:
    """Return the disk space taken by a folder (allocated blocks)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


def print_steps(report: dict) -> None:
    """Print the per-step times the job reported."""
    steps = report.get("steps_s") or {}
    if steps:
        print("    steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()), flush=True)


def progress_lines(home: Path, meter: Meter, every_s: float, stop) -> None:
    """Every ``every_s`` seconds of the first harvest, print one line: datasets stored so far (the store's
    settled digests, read beside it), the rate since the last line and overall, memory, bytes written, disk,
    and the free disk left. Lines printed before a run is stopped are its rate curve."""
    import shutil as sh
    import sqlite3

    start, last_n, last_t = time.perf_counter(), 0, time.perf_counter()
    mark = meter.mark()
    while not stop.wait(every_s):
        try:
            with sqlite3.connect(f"file:{home / 'store.digests.sqlite'}?mode=ro", uri=True, timeout=5) as db:
                n = db.execute("SELECT COUNT(*) FROM digests WHERE digest IS NOT NULL").fetchone()[0]
        except sqlite3.Error:
            continue
        now = time.perf_counter()
        written = sum(meter.since(mark).values())
        print(f"  progress {now - start:7.0f} s  {n:9d} stored  {(n - last_n) / (now - last_t):6.0f}/s now  "
              f"{n / (now - start):6.0f}/s overall  peak RSS {meter.peak_rss_mb():.0f} MB (children now "
              f"{meter.peak_children / 2**20:.0f} MB at most)  written {written / max(n, 1) / 1024:.0f} KB/dataset  "
              f"disk {disk_mb(home) / 1024:.1f} GB  free {sh.disk_usage(home).free / 2**30:.1f} GB  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        last_n, last_t = n, now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="harvest.batch_size (default: the setting's)")
    parser.add_argument("--etags", action="store_true", help="let the source answer 304 to conditional requests")
    parser.add_argument("--profile", action="store_true", help="print where the first harvest spends its time")
    parser.add_argument("--profile-again", action="store_true", help="print where the re-harvest spends its time")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (else removed at the end)")
    parser.add_argument("--without-csw", action="store_true", help="leave the CSW index out (to see its cost)")
    parser.add_argument("--progress", type=float, default=0.0, metavar="S",
                        help="print the stored count, rate, memory and disk every S seconds of the first harvest")
    args = parser.parse_args()
    from config import load_settings
    from harvesters.service import Harvesting
    from server.platform import Platform

    here, there = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve_source, args=(args.datasets, args.etags, there),
                                                         daemon=True)
    server.start()
    source_url = here.recv()
    meter = Meter({server.pid})
    home = Path(tempfile.mkdtemp(prefix="wodp-bench-harvest-"))
    batch = {"batch_size": args.batch_size} if args.batch_size else {}
    pages = max(1000, -(-args.datasets // args.page_size) + 1)  # harvest.max_pages (1,000) would end at 1,000,000
    settings = load_settings({}, overrides={"harvest": {**batch, "page_size": args.page_size, "max_pages": pages,
        "sources": [{"name": "bench", "kind": "ckan", "url": source_url}]}, "csw": {"enabled": not args.without_csw},
        # the data API's loads and the daily data checks fetch each published file in the background (here
        # files.example.org, unreachable): a pipeline of their own beside the harvest, not timed with it
        "data_api": {"load_at_publication": False}, "data_checks": {"daily": False}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    harvesting: Harvesting = platform.harvesting
    if platform.csw is not None:
        csw_hits(platform)  # start pycsw before the clock (a server has it running)
    for label in ("first harvest", "no-change re-harvest"):
        mark, cpu = meter.mark(), meter.cpu_s()
        profiler = cProfile.Profile() if (args.profile and label == "first harvest") or (
            args.profile_again and label != "first harvest") else None
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        watching = None
        if args.progress and label == "first harvest":
            import threading

            done = threading.Event()
            watching = threading.Thread(target=progress_lines, args=(home, meter, args.progress, done), daemon=True)
            watching.start()
        report = harvesting.run("bench")
        while not caught_up(platform):
            time.sleep(0.01)
        if watching is not None:
            done.set()
        elapsed = time.perf_counter() - start
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        print(f"{label:<22} {elapsed:8.2f} s  {args.datasets / elapsed:8.0f} datasets/s  "
              f"new {report['new']} updated {report['updated']} unchanged {report['unchanged']} "
              f"failed {report['failed']} 304s {report['conditional_hits']}  store {platform.store.count_datasets()}"
              f"  search {platform.search.count()}  csw {csw_hits(platform) if platform.csw else '-'}", flush=True)
        if report.get("status") != "succeeded":  # a failed job is no rate: say why
            print(f"    THE JOB {str(report.get('status')).upper()}: {report.get('message')}", flush=True)
        own, children = (now - then for now, then in zip(meter.cpu_s(), cpu))
        print(f"    cpu {own:.1f} s in the harvesting process ({args.datasets / own:.0f} datasets per cpu-second), "
              f"{children:.1f} s in its children; load average {os.getloadavg()[0]:.1f}", flush=True)
        written = meter.since(mark)
        total = sum(written.values())
        print(f"    peak RSS {meter.peak_rss_mb():.0f} MB (children at most {meter.peak_children / 2**20:.0f} MB "
              f"together); written {total / 2**20:.0f} MB = {total / args.datasets / 1024:.1f} KB per dataset "
              f"({', '.join(f'{k}: {v / 2**20:.0f} MB' for k, v in sorted(written.items(), key=lambda kv: -kv[1]) if v)}); "
              f"disk {disk_mb(home):.0f} MB", flush=True)
        print_steps(report)
    platform.close()
    here.send("stop")
    server.join(10)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
