"""Run harvest sources on their schedules (cron strings, or derived from declared update cycles) in a thread."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from core.errors import WodpError

log = logging.getLogger(__name__)
FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
# The cron of the most frequent update cycle declared by a source's datasets (schedule: cycle).
CYCLE_CRON = {
    "realtime": "*/15 * * * *", "daily": "0 2 * * *", "weekly": "0 3 * * 1", "monthly": "0 4 1 * *",
    "quarterly": "0 4 1 1,4,7,10 *", "halfyearly": "0 4 1 1,7 *", "yearly": "0 4 1 1 *",
    "irregular": "0 2 * * *", "never": "0 4 1 1 *",
}


class CronError(WodpError):
    status = 400
    code = "bad-schedule"


def parse_cron(text: str) -> tuple[frozenset[int], ...]:
    """Parse five cron fields (minute hour day month weekday; * a-b a,b */n a-b/n) into sets of values."""
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"schedule {text!r}: a cron string has five fields")
    return tuple(_field(part, lo, hi, text) for part, (lo, hi) in zip(parts, FIELDS))


def _field(part: str, lo: int, hi: int, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        body, _, step = item.partition("/")
        try:
            first, last = (lo, hi) if body == "*" else (
                tuple(int(x) for x in body.split("-")) if "-" in body else (int(body), int(body)))
            n = int(step) if step else 1
        except ValueError:
            raise CronError(f"schedule {text!r}: cannot read {item!r}") from None
        if not (lo <= first <= last <= hi) or n < 1:
            raise CronError(f"schedule {text!r}: {item!r} is outside {lo}-{hi}")
        values.update(range(first, last + 1, n))
    return frozenset(values)


def cron_matches(cron: tuple[frozenset[int], ...], moment: datetime) -> bool:
    """Tell whether a minute matches (weekday 0 is Sunday; day and weekday both restrict)."""
    minute, hour, day, month, weekday = cron
    return (moment.minute in minute and moment.hour in hour and moment.day in day and moment.month in month
            and (moment.isoweekday() % 7) in weekday)


def next_match(cron: tuple[frozenset[int], ...], after: datetime, horizon_days: int = 800) -> datetime | None:
    """Return the first minute after ``after`` that a cron matches (None within the horizon: it never does)."""
    minute, hour, day, month, weekday = cron
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = moment + timedelta(days=horizon_days)
    while moment < end:
        if moment.month not in month:
            moment = (moment.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
        elif moment.day not in day or (moment.isoweekday() % 7) not in weekday:
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
        elif moment.hour not in hour:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute not in minute:
            moment += timedelta(minutes=1)
        else:
            return moment
    return None


def schedule_interval_s(text: str, now: datetime | None = None, matches: int = 6) -> float | None:
    """Return the longest gap in seconds between a cron's next few runs (None: it does not run again)."""
    cron, moment = parse_cron(text), now or datetime.now()
    runs = []
    while len(runs) < matches and (moment := next_match(cron, moment)) is not None:
        runs.append(moment)
    gaps = [(b - a).total_seconds() for a, b in zip(runs, runs[1:])]
    return max(gaps) if gaps else None


def cycle_cron(store, source: str) -> str:
    """Return the cron of the most frequent update cycle declared by the datasets of a source."""
    rows = store.query(  # source names are [a-z0-9_-]+ (settings), safe inside a string literal
        f'SELECT ?c WHERE {{ ?d <https://data.wuhan.gov.cn/def/wodp#source> "{source}" ; '
        "<https://data.wuhan.gov.cn/def/wodp#updateCycle> ?c }")
    cycles = Counter(row[0].value.rsplit("/", 1)[-1] for row in rows)
    return CYCLE_CRON.get(cycles.most_common(1)[0][0] if cycles else "daily", CYCLE_CRON["daily"])


class Scheduler:
    """A daemon thread: each tick, retry interrupted jobs that are due, then run the sources whose schedule
    matched a minute since the last tick (only the retries when harvest.scheduler is off)."""

    def __init__(self, harvesting, settings) -> None:
        self.harvesting = harvesting
        self.settings = settings   # HarvestSettings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wodp-harvest-scheduler", daemon=True)
        self._last = datetime.now().replace(second=0, microsecond=0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def due(self, since: datetime, until: datetime) -> list[str]:
        """Return the sources whose schedule matches a minute in (since, until]."""
        out = []
        configured = getattr(self.harvesting, "configured", None)  # the settings' and the console's sources
        for src in configured() if configured is not None else self.settings.sources:
            if not src.enabled or not src.schedule:
                continue
            text = cycle_cron(self.harvesting.context.publisher.store, src.name) \
                if src.schedule == "cycle" else src.schedule
            cron = parse_cron(text)
            moment = since + timedelta(minutes=1)
            while moment <= until and moment - since <= timedelta(days=1):
                if cron_matches(cron, moment):
                    out.append(src.name)
                    break
                moment += timedelta(minutes=1)
        return out

    def _loop(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self.settings.tick_s):
                return

    def tick(self) -> list[str]:
        """Run interrupted jobs due for a retry, then the sources whose schedule matched; return their names."""
        now = datetime.now().replace(second=0, microsecond=0)
        scheduled = self.due(self._last, now) if self.settings.scheduler else []  # off: retries only
        self._last = now
        try:
            retries = [n for n in self.harvesting.due_retries() if n not in scheduled]
        except Exception:
            log.exception("looking for interrupted harvests failed")
            retries = []
        for name, trigger in [(n, "retry") for n in retries] + [(n, "schedule") for n in scheduled]:
            try:
                report = self.harvesting.submit(name, trigger=trigger)  # run here, or queued for a worker
                if report.get("status") not in ("succeeded", "queued"):   # e.g. no dataset found: say so once, here
                    log.warning("%s harvest of %s %s: %s", trigger, name, report.get("status"), report.get("message"))
            except WodpError as exc:
                log.warning("%s harvest of %s: %s", trigger, name, exc.message)
            except Exception:
                log.exception("%s harvest of %s failed", trigger, name)
        return retries + scheduled
