"""Measure every published dataset's last update against its declared update cycle, once a day, and keep it.

For each dataset in the store (the store lists them; one SPARQL query a slice of 500, each slice's rows written to
the data layer before the next, giving way to the requests of a serving process: core/foreground.py) the day's
status is one of:

- ``on-time``: its last update (dct:modified) plus its cycle has not passed, the due day moved past holidays to
  the next working day of the official calendar (manage/workdays.py);
- ``late``: the due day passed; ``days_late`` counts the days since (calendar days: the official calendar only
  moves the due day itself off a holiday or weekend, or onto a 调休 working weekend day);
- ``no-cycle``: it declares no update cycle (neither wodp:updateCycle nor dct:accrualPeriodicity);
- ``cycle-unreadable``: what it declares is not a cycle we can measure (a text, an unknown term, two cycles that
  disagree): the value is kept in ``detail``, never guessed;
- ``no-deadline``: its cycle sets none (不定期 irregular, 不更新 never);
- ``no-modified``: its cycle sets a deadline but it has no single readable dct:modified;
- ``calendar-unknown``: the due day falls in a year the official calendar is not known for yet.

A department's on-time rate on a day is on-time / (on-time + late): the share of its datasets whose declared
cycle could be measured that were on time; the other statuses are counted beside it, never folded in.
"""

from __future__ import annotations

import calendar
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Callable
from zoneinfo import ZoneInfo

import pyoxigraph as ox

from core.database import as_database
from manage.workdays import CalendarRangeError, library_years, next_working_day
from ontology.namespaces import DEPARTMENT, UPDATE_CYCLE

log = logging.getLogger(__name__)
BEIJING = ZoneInfo("Asia/Shanghai")
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
# (months, days) a dataset may go without an update under each cycle of ontology/update-cycles.ttl
CYCLE_PERIODS: dict[str, tuple[int, int] | None] = {
    "realtime": (0, 1), "daily": (0, 1), "weekly": (0, 7), "monthly": (1, 0), "quarterly": (3, 0),
    "halfyearly": (6, 0), "yearly": (12, 0), "irregular": None, "never": None,
}
# EU frequencies with no Wuhan cycle of their own, whose period is exact
EU_PERIODS: dict[str, tuple[int, int]] = {
    "BIWEEKLY": (0, 14), "BIMONTHLY": (2, 0), "ANNUAL_3": (4, 0), "BIENNIAL": (24, 0), "TRIENNIAL": (36, 0),
    "QUINQUENNIAL": (60, 0), "DECENNIAL": (120, 0),
}
STATUSES = ("on-time", "late", "no-cycle", "cycle-unreadable", "no-deadline", "no-modified", "calendar-unknown")
SEP = "\x1f"
# the datasets of one slice (VALUES); each OPTIONAL names the dataset's graph itself: Oxigraph joined VALUES with
# a GRAPH ?d { ... OPTIONAL ... } group only after reading every graph (~20x slower at 20,000 datasets)
QUERY = """
SELECT ?d (GROUP_CONCAT(DISTINCT STR(?pub); separator="\\u001f") AS ?pubs)
  (GROUP_CONCAT(DISTINCT IF(isIRI(?c), CONCAT("<", STR(?c), ">"), STR(?c)); separator="\\u001f") AS ?cycles)
  (GROUP_CONCAT(DISTINCT IF(isIRI(?f), CONCAT("<", STR(?f), ">"), STR(?f)); separator="\\u001f") AS ?freqs)
  (GROUP_CONCAT(DISTINCT STR(?m); separator="\\u001f") AS ?mods)
WHERE { VALUES ?d { %s } GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> }
  OPTIONAL { GRAPH ?d { ?d <http://purl.org/dc/terms/publisher> ?pub } }
  OPTIONAL { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#updateCycle> ?c } }
  OPTIONAL { GRAPH ?d { ?d <http://purl.org/dc/terms/accrualPeriodicity> ?f } }
  OPTIONAL { GRAPH ?d { ?d <http://purl.org/dc/terms/modified> ?m } } }
GROUP BY ?d
"""


@dataclass(frozen=True)
class Assessment:
    """One dataset's freshness on a day."""

    status: str
    cycle: str | None = None
    modified: date | None = None
    due: date | None = None
    days_late: int | None = None
    detail: str | None = None


@lru_cache(maxsize=1)
def eu_to_cycle() -> dict[str, str]:
    """Return EU frequency IRI → Wuhan cycle name, as ontology/update-cycles.ttl matches them."""
    store = ox.Store()
    store.load(resources.files("ontology").joinpath("update-cycles.ttl").read_bytes(), format=ox.RdfFormat.TURTLE)
    rows = store.query("SELECT ?c ?f WHERE { ?c <http://www.w3.org/2004/02/skos/core#exactMatch>"
                       "|<http://www.w3.org/2004/02/skos/core#closeMatch> ?f }")
    return {f.value: c.value[len(UPDATE_CYCLE.base):] for c, f in rows if c.value.startswith(UPDATE_CYCLE.base)}


def _values(joined: str | None) -> list[str]:
    return [v for v in (joined or "").split(SEP) if v]


def _period_of(cycles: list[str], freqs: list[str]) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """Return (cycle name, period, why unreadable) from the declared values (encoded <iri> or text)."""
    def read(value: str, own: bool) -> tuple[str, tuple[int, int] | None] | None:
        if not (value.startswith("<") and value.endswith(">")):
            return None  # a text: not a cycle we can measure
        iri = value[1:-1]
        if iri.startswith(UPDATE_CYCLE.base) and iri[len(UPDATE_CYCLE.base):] in CYCLE_PERIODS:
            name = iri[len(UPDATE_CYCLE.base):]
            return name, CYCLE_PERIODS[name]
        if not own and iri in eu_to_cycle():
            name = eu_to_cycle()[iri]
            return name, CYCLE_PERIODS[name]
        if not own and iri.startswith(EU_FREQUENCY) and iri[len(EU_FREQUENCY):] in EU_PERIODS:
            code = iri[len(EU_FREQUENCY):]
            return f"eu:{code}", EU_PERIODS[code]
        return None

    found: dict[str, tuple[int, int] | None] = {}
    for values, own, prop in ((cycles, True, "wodp:updateCycle"), (freqs, False, "dct:accrualPeriodicity")):
        for value in values:
            got = read(value, own)
            if got is None:
                return None, None, f"{prop} {value!r} is not a cycle that can be measured"
            found[got[0]] = got[1]
    if len(found) > 1:
        return None, None, "the declared cycles disagree: " + ", ".join(sorted(found))
    name, period = next(iter(found.items()))
    return name, period, None


def _modified_day(text: str) -> date | None:
    """Read an xsd:date or xsd:dateTime as a day in Beijing (a time with a zone is moved to Beijing first)."""
    try:
        if len(text) <= 10 or "T" not in text:
            return date.fromisoformat(text[:10])
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(BEIJING).date() if moment.tzinfo else moment.date()


def add_period(day: date, period: tuple[int, int]) -> date:
    """Add months (clamped to the month's last day) and days to a day."""
    months, days = period
    if months:
        total = day.month - 1 + months
        year, month = day.year + total // 12, total % 12 + 1
        day = day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))
    return day + timedelta(days=days)


def assess(cycles: list[str], freqs: list[str], modified: list[str], as_of: date) -> Assessment:
    """Measure one dataset on a day from its declared cycle values and dct:modified texts."""
    if not cycles and not freqs:
        return Assessment("no-cycle")
    name, period, why = _period_of(cycles, freqs)
    if why is not None:
        return Assessment("cycle-unreadable", detail=why)
    if period is None:
        return Assessment("no-deadline", name)
    days = {_modified_day(text) for text in modified}
    if len(days) != 1 or None in days:
        what = "no dct:modified" if not modified else f"dct:modified {' / '.join(sorted(modified))} is not one day"
        return Assessment("no-modified", name, detail=what)
    last = days.pop()
    raw = add_period(last, period)
    try:
        due = next_working_day(raw)
    except CalendarRangeError as exc:
        if raw >= as_of:
            return Assessment("on-time", name, last, raw, detail="due day not moved past holidays: " + exc.message)
        if exc.year is None or exc.year > library_years()[0]:  # a year whose notice is not entered yet
            return Assessment("calendar-unknown", name, last, raw, detail=exc.message)
        return Assessment("late", name, last, raw, (as_of - raw).days,
                          "due day not moved past holidays: " + exc.message)
    if due >= as_of:
        return Assessment("on-time", name, last, due)
    return Assessment("late", name, last, due, (as_of - due).days)


def department_of(publishers: list[str]) -> tuple[str, str | None]:
    """Return (department code or "", why none) from the publisher IRIs."""
    codes = {p[len(DEPARTMENT.base):] for p in publishers if p.startswith(DEPARTMENT.base)}
    if len(codes) == 1 and len(publishers) == 1:
        return codes.pop(), None
    return "", ("no publisher" if not publishers else "publisher " + " / ".join(sorted(publishers)))


def beijing_today(now: datetime | None = None) -> date:
    """Return today's date in Beijing (the calendar working days are counted on)."""
    return (now or datetime.now(timezone.utc)).astimezone(BEIJING).date()


@dataclass(frozen=True)
class DepartmentFreshness:
    """A department's counts on a day, by status, and its on-time rate (None: nothing measurable)."""

    department: str
    counts: dict[str, int]

    @property
    def measured(self) -> int:
        return self.counts.get("on-time", 0) + self.counts.get("late", 0)

    @property
    def on_time_rate(self) -> float | None:
        return self.counts.get("on-time", 0) / self.measured if self.measured else None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class MeasureStopped(Exception):
    """A measure stopped before its end (the server stopping); its day was left as it was."""


class FreshnessLedger:
    """The freshness of every published dataset, per day (part ``freshness`` of the data layer)."""

    BATCH = 500  # datasets a query (and a slice of the work)
    STEP = 50  # datasets assessed between two looks at the requests in hand (give_way)

    def __init__(self, where, keep_days: int = 0) -> None:
        self.db = as_database(where, "freshness")
        self.keep_days = keep_days  # 0: keep every day

    def close(self) -> None:
        self.db.close()

    def measure(self, store, day: date | None = None, now: datetime | None = None,
                give_way: Callable[[], object] | None = None, stop: threading.Event | None = None
                ) -> dict[str, int]:
        """Measure every dataset of the store as of day (today in Beijing), replacing that day's rows.

        ``give_way`` is called every STEP datasets (core/foreground.py). When ``stop`` is set (the server
        stopping), the measure ends at the next slice with MeasureStopped and writes nothing: the day stays
        unmeasured, and is measured at the next start. Return status → number of datasets.
        """
        day = day or beijing_today(now)
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        totals = dict.fromkeys(STATUSES, 0)
        # the datasets the store holds, listed by the store itself: the digest table beside a home knows only what
        # the processes of its machine wrote (docs/scale-out.md, "Several machines")
        uris = store.dataset_uris()
        with self.db.write(serial=True) as conn:
            conn.execute(_text("DELETE FROM freshness WHERE day = :day"), {"day": day.isoformat()})
            for start in range(0, len(uris), self.BATCH):
                if stop is not None and stop.is_set():  # before each slice: the listing can take a second
                    raise MeasureStopped(f"the freshness measure of {day} was stopped after {start} of {len(uris)} "
                                         "datasets; nothing of it was kept")
                values = " ".join(f"<{uri}>" for uri in uris[start:start + self.BATCH])
                batch = []
                for n, row in enumerate(store.query(QUERY % values)):
                    if give_way is not None and n % self.STEP == 0:
                        give_way()  # (a slice of 500 took ~75 ms of the interpreter at 100,000 datasets)
                    batch.append(self._row(row, day))
                    totals[batch[-1]["status"]] += 1
                self._insert(conn, batch)
            conn.execute(_text("DELETE FROM freshness_days WHERE day = :day"), {"day": day.isoformat()})
            conn.execute(_text("INSERT INTO freshness_days (day, measured_at, datasets) VALUES (:day, :at, :n)"),
                         {"day": day.isoformat(), "at": stamp, "n": sum(totals.values())})
            if self.keep_days:
                oldest = (day - timedelta(days=self.keep_days - 1)).isoformat()
                for table in ("freshness", "freshness_days"):
                    conn.execute(_text(f"DELETE FROM {table} WHERE day < :oldest"), {"oldest": oldest})
        log.info("freshness of %s: %s", day, ", ".join(f"{k} {v}" for k, v in totals.items() if v))
        return totals

    @staticmethod
    def _row(row, day: date) -> dict:
        dataset = row[0].value
        texts = [None if row[i] is None else row[i].value for i in range(1, 5)]
        pubs, cycles, freqs, mods = (_values(t) for t in texts)
        department, why = department_of(pubs)
        a = assess(cycles, freqs, mods, day)
        detail = "; ".join(x for x in (a.detail, why) if x) or None
        return {"day": day.isoformat(), "dataset": dataset, "department": department, "cycle": a.cycle,
                "modified": a.modified and a.modified.isoformat(), "due": a.due and a.due.isoformat(),
                "status": a.status, "days_late": a.days_late, "detail": detail}

    @staticmethod
    def _insert(conn, rows: list[dict]) -> None:
        if rows:
            conn.execute(_text("INSERT INTO freshness (day, dataset, department, cycle, modified, due, status, "
                               "days_late, detail) VALUES (:day, :dataset, :department, :cycle, :modified, :due, "
                               ":status, :days_late, :detail)"), rows)

    # -- reads ----------------------------------------------------------------------------------
    def has_day(self, day: date) -> bool:
        return bool(self.db.rows("SELECT 1 FROM freshness_days WHERE day = :day", {"day": day.isoformat()}))

    def latest_day(self, on_or_before: date | None = None) -> date | None:
        """Return the last day measured (on or before a day)."""
        limit = (on_or_before or date.max).isoformat()
        rows = self.db.rows("SELECT MAX(day) FROM freshness_days WHERE day <= :d", {"d": limit})
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def departments(self, day: date) -> dict[str, DepartmentFreshness]:
        """Return department code ("" for none) → its counts and on-time rate on a day."""
        out: dict[str, dict[str, int]] = {}
        for department, status, n in self.db.rows(
                "SELECT department, status, COUNT(*) FROM freshness WHERE day = :day GROUP BY department, status",
                {"day": day.isoformat()}):
            out.setdefault(department, {})[status] = int(n)
        return {d: DepartmentFreshness(d, counts) for d, counts in sorted(out.items())}

    def department(self, code: str, day: date) -> DepartmentFreshness:
        rows = self.db.rows("SELECT status, COUNT(*) FROM freshness WHERE day = :day AND department = :d "
                            "GROUP BY status", {"day": day.isoformat(), "d": code})
        return DepartmentFreshness(code, {status: int(n) for status, n in rows})

    def of_dataset(self, dataset: str, on_or_before: date | None = None) -> dict | None:
        """Return a dataset's last measure (on or before a day) with its day, for its page; None: never measured."""
        rows = self.db.rows(
            "SELECT day, cycle, modified, due, status, days_late, detail FROM freshness WHERE dataset = :d "
            "AND day <= :limit ORDER BY day DESC LIMIT 1",
            {"d": dataset, "limit": (on_or_before or date.max).isoformat()})
        keys = ("day", "cycle", "modified", "due", "status", "days_late", "detail")
        return dict(zip(keys, rows[0])) if rows else None

    def rows(self, day: date, *, department: str | None = None, status: str | None = None) -> list[dict]:
        """Return the day's rows (optionally of one department and status), by dataset."""
        sql = "SELECT dataset, department, cycle, modified, due, status, days_late, detail FROM freshness " \
              "WHERE day = :day"
        params: dict = {"day": day.isoformat()}
        if department is not None:
            sql, params["d"] = sql + " AND department = :d", department
        if status is not None:
            sql, params["s"] = sql + " AND status = :s", status
        keys = ("dataset", "department", "cycle", "modified", "due", "status", "days_late", "detail")
        return [dict(zip(keys, r)) for r in self.db.rows(sql + " ORDER BY dataset", params)]


def _text(sql: str):
    from sqlalchemy import text

    return text(sql)
