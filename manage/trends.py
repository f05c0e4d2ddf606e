"""Count harvest jobs per source and day, and find the sources that need someone: failing, stuck, not run.

Both read the harvest part of the data layer (table ``harvest_jobs`` kept by harvesters/jobs.py) with one
query each, on SQLite and PostgreSQL alike. A day is a calendar day at ``trends.utc_offset_h`` hours east of
UTC (8: Wuhan). A job counts on the day it started; its duration counts once it has finished.
What a source is (its schedule's interval, whether it is enabled) is given by the caller (``SourceInfo``):
this module reads jobs only, so it needs nothing of harvesters/.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Iterable

from core.database import Database

DAY_S = 86400
FAILED = ("failed", "interrupted")
SERIES = ("new", "updated", "unchanged", "held", "failed", "withdrawn")


@dataclass(frozen=True)
class DayTrend:
    """What one source's jobs did on one day: runs, datasets by outcome, seconds spent."""

    day: str                # YYYY-MM-DD
    runs: int = 0
    failed_runs: int = 0    # failed or interrupted
    running: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    held: int = 0
    failed: int = 0         # datasets that failed (per-record errors counted by the job)
    withdrawn: int = 0
    duration_s: float = 0.0     # sum over the day's finished jobs
    longest_s: float | None = None


@dataclass(frozen=True)
class SourceInfo:
    """What the caller knows of a source: enabled, and its schedule's interval in seconds (None: no schedule)."""

    name: str
    enabled: bool = True
    interval_s: float | None = None
    max_run_s: float | None = None   # None: trends.max_run_s


@dataclass(frozen=True)
class Alert:
    """A source that needs someone: kind failing, held, stuck, overdue or not-run, with words in both languages."""

    source: str
    kind: str
    message_zh: str
    message_en: str
    job: int | None = None
    since: float | None = None
    figures: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)


def _day_sql(db: Database) -> str:
    """Return the SQL of a job's day number (days since 1970-01-01 at the offset), floored on both engines."""
    if db.postgres:
        return "CAST(FLOOR((started + :offset) / 86400.0) AS BIGINT)"
    return "CAST((started + :offset) / 86400.0 AS INTEGER)"   # started > 0: truncation is the floor


def day_number(moment: float, utc_offset_h: float) -> int:
    return int((moment + utc_offset_h * 3600) // DAY_S)


def day_text(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=number)).isoformat()


def trends(db: Database, source: str | None = None, days: int = 30, *, utc_offset_h: float = 8,
           now: float | None = None) -> dict[str, list[DayTrend]]:
    """Return source → one DayTrend per day of the last ``days`` days (today included, days without jobs zero)."""
    now = time.time() if now is None else now
    offset = utc_offset_h * 3600
    last = day_number(now, utc_offset_h)
    first = last - days + 1
    since = first * DAY_S - offset
    where = "AND source = :source" if source else ""
    rows = db.rows(
        f"SELECT source, {_day_sql(db)} AS day, COUNT(*), "
        "SUM(CASE WHEN status IN ('failed', 'interrupted') THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), "
        "SUM(new), SUM(updated), SUM(unchanged), SUM(held), SUM(failed), SUM(withdrawn), "
        "SUM(CASE WHEN finished IS NOT NULL THEN finished - started ELSE 0 END), "
        "MAX(CASE WHEN finished IS NOT NULL THEN finished - started END) "
        f"FROM harvest_jobs WHERE started >= :since AND started < :until {where} "
        "GROUP BY source, day ORDER BY source, day",
        {"offset": offset, "since": since, "until": (last + 1) * DAY_S - offset, "source": source})
    found: dict[str, dict[int, DayTrend]] = {}
    for name, day, runs, failed_runs, running, *sums, duration, longest in rows:
        counts = dict(zip(SERIES, (int(v or 0) for v in sums)))
        found.setdefault(name, {})[int(day)] = DayTrend(
            day_text(int(day)), int(runs), int(failed_runs or 0), int(running or 0), **counts,
            duration_s=round(float(duration or 0), 3), longest_s=None if longest is None else round(float(longest), 3))
    names = sorted(found) if source is None else [source]
    return {name: [found.get(name, {}).get(n) or DayTrend(day_text(n)) for n in range(first, last + 1)]
            for name in names}


def chart_data(series: list[DayTrend]) -> dict:
    """Return one source's trend as the columns a chart draws (days, one list per series, durations)."""
    return {"days": [d.day for d in series], "runs": [d.runs for d in series],
            "failed_runs": [d.failed_runs for d in series],
            **{name: [getattr(d, name) for d in series] for name in SERIES},
            "duration_s": [d.duration_s for d in series]}


# -- alerts ----------------------------------------------------------------------------------------
def _latest(db: Database, name: str, limit: int) -> list[tuple]:
    """Return the source's last finished jobs, newest first: (id, status, started, finished, counts...)."""
    return db.rows("SELECT id, status, started, finished, new, updated, unchanged, held, failed "
                   "FROM harvest_jobs WHERE source = :source AND status <> 'running' ORDER BY id DESC LIMIT :limit",
                   {"source": name, "limit": limit})


def _summary(db: Database) -> dict[str, tuple]:
    """Return source → (last start of any job, last finish of a successful job, first start of any job)."""
    rows = db.rows("SELECT source, MAX(started), MAX(CASE WHEN status = 'succeeded' THEN finished END), "
                   "MIN(started) FROM harvest_jobs GROUP BY source")
    return {r[0]: tuple(r[1:]) for r in rows}


def alerts(db: Database, sources: Iterable[SourceInfo], limits, now: float | None = None) -> list[Alert]:
    """Return the alerts of the given sources (limits: config.settings.TrendSettings), most urgent kind first."""
    now = time.time() if now is None else now
    summary = _summary(db)
    running = db.rows("SELECT id, source, started FROM harvest_jobs WHERE status = 'running' ORDER BY id")
    out: list[Alert] = []
    for src in sources:
        out += _stuck_running(src, [r for r in running if r[1] == src.name], limits, now)
        out += _failing(db, src, limits)
        if src.enabled:
            out += _not_run(src, summary.get(src.name), limits, now)
    order = {"stuck": 0, "failing": 1, "overdue": 2, "held": 3, "not-run": 4}
    return sorted(out, key=lambda a: (order.get(a.kind, 9), a.source))


def _stuck_running(src: SourceInfo, running: list, limits, now: float) -> list[Alert]:
    limit = src.max_run_s or limits.max_run_s
    out = []
    for job, _, started in running:
        if now - started > limit:
            hours = (now - started) / 3600
            out.append(Alert(src.name, "stuck", f"作业 {job} 已运行 {hours:.1f} 小时，超过上限 {limit / 3600:.1f} 小时",
                             f"job {job} has been running for {hours:.1f} h, longer than its limit of "
                             f"{limit / 3600:.1f} h", job=job, since=started,
                             figures={"running_s": round(now - started), "limit_s": limit}))
    return out


def _failing(db: Database, src: SourceInfo, limits) -> list[Alert]:
    n = limits.failing_runs
    latest = _latest(db, src.name, n)
    out = []
    if len(latest) == n and all(r[1] in FAILED for r in latest):
        out.append(Alert(src.name, "failing", f"最近 {n} 次采集全部失败", f"its last {n} harvests all failed",
                         job=latest[0][0], since=latest[-1][2], figures={"runs": n, "failed_runs": n}))
    held = sum(r[7] or 0 for r in latest)
    read = sum(sum(v or 0 for v in r[4:9]) for r in latest)
    if read and held / read > limits.held_share:
        share = held / read
        out.append(Alert(src.name, "held", f"最近 {len(latest)} 次采集中 {share:.0%} 的数据集被拦截（{held}/{read}）",
                         f"{share:.0%} of the datasets of its last {len(latest)} harvests were held back "
                         f"({held} of {read})", job=latest[0][0],
                         figures={"held": held, "read": read, "share": round(share, 4), "limit": limits.held_share}))
    return out


def _not_run(src: SourceInfo, summary: tuple | None, limits, now: float) -> list[Alert]:
    if summary is None:
        return [Alert(src.name, "not-run", "从未采集过", "it has never been harvested")]
    last_start, last_success, first_start = summary
    out = []
    if src.interval_s:
        since = last_success or first_start
        allowed = limits.missed_intervals * src.interval_s
        if now - since > allowed:
            days = (now - since) / DAY_S
            what_zh = "上次成功采集" if last_success else "首次采集（从未成功）"
            what_en = "its last successful harvest" if last_success else "its first harvest (never successful)"
            out.append(Alert(src.name, "overdue", f"{what_zh}距今 {days:.1f} 天，超过计划间隔的 "
                                                  f"{limits.missed_intervals:g} 倍",
                             f"{what_en} was {days:.1f} days ago, more than {limits.missed_intervals:g} times "
                             "its schedule's interval", since=since,
                             figures={"interval_s": src.interval_s, "allowed_s": allowed}))
    if now - last_start > limits.not_run_days * DAY_S:
        days = (now - last_start) / DAY_S
        out.append(Alert(src.name, "not-run", f"已 {days:.0f} 天未采集（上限 {limits.not_run_days:g} 天）",
                         f"not harvested for {days:.0f} days (limit {limits.not_run_days:g})", since=last_start))
    return out
