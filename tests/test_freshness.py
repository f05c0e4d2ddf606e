"""Freshness against the declared update cycle, and each department's on-time rate, recomputed independently.

Due days around the 2026 National Day holiday are read by hand from the State Council's notice (Oct 1-7 off;
Sun Sep 20 and Sat Oct 10 are working days), written here as literal dates.
"""

from datetime import date

import pyoxigraph as ox
import pytest

from manage.freshness import FreshnessLedger, assess
from sparql.store import OxigraphStore

BASE = "http://example.org/datasets/"
DCT, DCAT = "http://purl.org/dc/terms/", "http://www.w3.org/ns/dcat#"
WODP = "https://data.wuhan.gov.cn/def/wodp#"
UC = "https://data.wuhan.gov.cn/def/update-cycle/"
FREQ = "http://publications.europa.eu/resource/authority/frequency/"
DEPT = "https://data.wuhan.gov.cn/def/department/"
TEXT = object()  # marks a cycle given as a text

# name: (department, wodp:updateCycle, dct:accrualPeriodicity, dct:modified)
DATASETS = {
    "daily-fresh": ("D017", "daily", None, "2026-10-08"),
    "daily-over-holiday": ("D017", "daily", None, "2026-09-30"),
    "weekly-to-tiaoxiu-saturday": ("D017", "weekly", None, "2026-10-03"),
    "monthly-late": ("D017", "monthly", None, "2026-08-15"),
    "irregular": ("D017", "irregular", None, "2020-01-01"),
    "eu-monthly-only": ("D020", None, "MONTHLY", "2026-09-10T09:00:00+08:00"),
    "weekly-due-saturday-before-sep20": ("D020", "weekly", None, "2026-09-12"),
    "no-cycle": ("D020", None, None, "2026-01-01"),
    "text-cycle": ("D020", None, TEXT, "2026-09-01"),
    "monthly-no-modified": ("D020", "monthly", None, None),
    "disagreeing-cycles": ("D031", "monthly", "WEEKLY", "2026-10-01"),
    "eu-biweekly": ("D031", None, "BIWEEKLY", "2026-09-20"),
    "no-publisher": (None, "daily", None, "2026-10-08"),
}

# Expected by hand: (status, due, days late) on Fri 2026-10-09 and on Sun 2026-10-11.
EXPECTED = {
    date(2026, 10, 9): {
        "daily-fresh": ("on-time", "2026-10-09", None),
        # Sep 30 + 1 day = Oct 1, a holiday: due on the first working day, Thu Oct 8; one day late on Oct 9
        "daily-over-holiday": ("late", "2026-10-08", 1),
        # Oct 3 + 7 days = Sat Oct 10, a 调休 working day: due that Saturday, not moved to Monday
        "weekly-to-tiaoxiu-saturday": ("on-time", "2026-10-10", None),
        # Aug 15 + 1 month = Tue Sep 15 (a working day); Oct 9 is 24 days later
        "monthly-late": ("late", "2026-09-15", 24),
        "irregular": ("no-deadline", None, None),
        # Sep 10 + 1 month = Sat Oct 10, 调休 working day
        "eu-monthly-only": ("on-time", "2026-10-10", None),
        # Sep 12 + 7 = Sat Sep 19 (no work): due Sun Sep 20, a 调休 working day; Oct 9 is 19 days later
        "weekly-due-saturday-before-sep20": ("late", "2026-09-20", 19),
        "no-cycle": ("no-cycle", None, None),
        "text-cycle": ("cycle-unreadable", None, None),
        "monthly-no-modified": ("no-modified", None, None),
        "disagreeing-cycles": ("cycle-unreadable", None, None),
        # Sep 20 + 14 = Sun Oct 4, holiday: due Thu Oct 8; one day late
        "eu-biweekly": ("late", "2026-10-08", 1),
        "no-publisher": ("on-time", "2026-10-09", None),
    },
    date(2026, 10, 11): {
        "daily-fresh": ("late", "2026-10-09", 2),
        "daily-over-holiday": ("late", "2026-10-08", 3),
        "weekly-to-tiaoxiu-saturday": ("late", "2026-10-10", 1),   # the 调休 Saturday passed without an update
        "monthly-late": ("late", "2026-09-15", 26),
        "irregular": ("no-deadline", None, None),
        "eu-monthly-only": ("late", "2026-10-10", 1),
        "weekly-due-saturday-before-sep20": ("late", "2026-09-20", 21),
        "no-cycle": ("no-cycle", None, None),
        "text-cycle": ("cycle-unreadable", None, None),
        "monthly-no-modified": ("no-modified", None, None),
        "disagreeing-cycles": ("cycle-unreadable", None, None),
        "eu-biweekly": ("late", "2026-10-08", 3),
        "no-publisher": ("late", "2026-10-09", 2),
    },
}


def _graph(name: str, department, cycle, freq, modified) -> list[ox.Triple]:
    d = ox.NamedNode(BASE + name)
    a = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    out = [ox.Triple(d, a, ox.NamedNode(DCAT + "Dataset")),
           ox.Triple(d, ox.NamedNode(DCT + "title"), ox.Literal(name, language="zh-CN"))]
    if department:
        out.append(ox.Triple(d, ox.NamedNode(DCT + "publisher"), ox.NamedNode(DEPT + department)))
    if cycle:
        out.append(ox.Triple(d, ox.NamedNode(WODP + "updateCycle"), ox.NamedNode(UC + cycle)))
    if freq is TEXT:
        out.append(ox.Triple(d, ox.NamedNode(DCT + "accrualPeriodicity"), ox.Literal("每月一次")))
    elif freq:
        out.append(ox.Triple(d, ox.NamedNode(DCT + "accrualPeriodicity"), ox.NamedNode(FREQ + freq)))
    if modified:
        kind = "dateTime" if "T" in modified else "date"
        out.append(ox.Triple(d, ox.NamedNode(DCT + "modified"),
                             ox.Literal(modified, datatype=ox.NamedNode(f"http://www.w3.org/2001/XMLSchema#{kind}"))))
    return out


@pytest.fixture
def measured(tmp_path, database_url):
    """The datasets above in a store, and the freshness ledger on both backends (a SQLite file, PostgreSQL)."""
    from core.database import open_database

    store = OxigraphStore(tmp_path / "store")
    store.put_datasets({BASE + name: _graph(name, *row) for name, row in DATASETS.items()})
    ledger = FreshnessLedger(open_database(database_url, "freshness", tmp_path / "freshness.sqlite",
                                           auto_migrate=True))
    yield store, ledger
    ledger.close()
    store.close()


@pytest.mark.parametrize("day", sorted(EXPECTED))
def test_each_dataset_against_its_cycle(measured, day):
    store, ledger = measured
    totals = ledger.measure(store, day)
    got = {r["dataset"][len(BASE):]: (r["status"], r["due"], r["days_late"]) for r in ledger.rows(day)}
    assert got == EXPECTED[day]
    assert sum(totals.values()) == len(DATASETS)
    assert ledger.has_day(day) and ledger.latest_day() == day


@pytest.mark.parametrize("day", sorted(EXPECTED))
def test_on_time_rates_recomputed_independently(measured, day):
    store, ledger = measured
    ledger.measure(store, day)
    # plain Python over the expected table: on time / (on time + late), per department
    expected: dict[str, dict[str, int]] = {}
    for name, (status, _due, _late) in EXPECTED[day].items():
        department = DATASETS[name][0] or ""
        expected.setdefault(department, {}).setdefault(status, 0)
        expected[department][status] += 1
    got = ledger.departments(day)
    assert {d: f.counts for d, f in got.items()} == expected
    for department, counts in expected.items():
        on, late = counts.get("on-time", 0), counts.get("late", 0)
        assert got[department].on_time_rate == (on / (on + late) if on + late else None)
    if day == date(2026, 10, 9):  # written out once: D017 has 2 on time of 4 measured, D020 1 of 2, D031 0 of 1
        assert [got[d].on_time_rate for d in ("D017", "D020", "D031")] == [0.5, 0.5, 0.0]


def test_remeasuring_a_day_replaces_it_and_days_are_kept_apart(measured):
    store, ledger = measured
    ledger.measure(store, date(2026, 10, 9))
    ledger.measure(store, date(2026, 10, 11))
    store.put_datasets({BASE + "daily-fresh": _graph("daily-fresh", "D017", "daily", None, "2026-10-11")})
    ledger.measure(store, date(2026, 10, 11))
    assert ledger.department("D017", date(2026, 10, 11)).counts["on-time"] == 1   # updated, on time again
    assert ledger.department("D017", date(2026, 10, 9)).counts["on-time"] == 2    # the earlier day is kept
    assert ledger.of_dataset(BASE + "daily-fresh")["status"] == "on-time"
    assert ledger.of_dataset(BASE + "daily-fresh", date(2026, 10, 10)) == {
        "day": "2026-10-09", "cycle": "daily", "modified": "2026-10-08", "due": "2026-10-09", "status": "on-time",
        "days_late": None, "detail": None}
    assert ledger.of_dataset(BASE + "nothing") is None
    assert len(ledger.rows(date(2026, 10, 11))) == len(DATASETS)
    ledger.keep_days = 2   # keep Oct 10 and 11: measuring Oct 11 again removes Oct 9
    ledger.measure(store, date(2026, 10, 11))
    assert ledger.rows(date(2026, 10, 9)) == [] and not ledger.has_day(date(2026, 10, 9))
    assert ledger.latest_day(date(2026, 10, 10)) is None and ledger.has_day(date(2026, 10, 11))


def test_the_unreadable_is_said_not_guessed():
    text = assess([], ['每月一次'], ["2026-09-01"], date(2026, 10, 9))
    assert text.status == "cycle-unreadable" and "每月一次" in text.detail
    two = assess([], [], ["2026-09-01", "2026-09-02"], date(2026, 10, 9))
    assert two.status == "no-cycle"
    both = assess([f"<{UC}monthly>"], [], ["2026-09-01", "2026-09-02"], date(2026, 10, 9))
    assert both.status == "no-modified" and "2026-09-01 / 2026-09-02" in both.detail
    future = assess([f"<{UC}monthly>"], [], ["2026-12-20"], date(2027, 1, 21))   # due Jan 20, 2027: no calendar
    assert future.status == "calendar-unknown" and "2027" in future.detail


def test_wodp_freshness_measures_today_and_prints_each_department(tmp_path, monkeypatch, capsys):
    from datetime import timedelta

    from manage.freshness import beijing_today
    from server.cli import main

    today = beijing_today()
    long_ago, recent = (today - timedelta(days=400)).isoformat(), today.isoformat()
    store = OxigraphStore(tmp_path / "store")
    store.put_datasets({BASE + "old": _graph("old", "D017", "daily", None, long_ago),       # late
                        BASE + "new": _graph("new", "D017", "yearly", None, recent),        # on time
                        BASE + "odd": _graph("odd", "D017", None, TEXT, recent),            # cycle unreadable
                        BASE + "none": _graph("none", "D020", None, None, recent)})         # no cycle
    store.close()
    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    assert main(["freshness"]) == 0
    out = capsys.readouterr().out
    lines = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    # columns: on time, late, no cycle, cycle unreadable, no deadline, no modified, calendar unknown, rate, name
    assert lines["D017"][1:] == ["1", "1", "0", "1", "0", "0", "0", "50.0%", "武汉市交通运输局"]
    assert lines["D020"][1:9] == ["0", "0", "1", "0", "0", "0", "0", "-"]
    assert lines["all"][1:9] == ["1", "1", "1", "1", "0", "0", "0", "50.0%"]
    assert "overdue-update work orders opened 1" in out
    assert main(["freshness", "--date", "2020-01-01"]) == 1
    assert "no measure kept for 2020-01-01" in capsys.readouterr().err


def test_the_daily_job_measures_at_start_when_missing_then_once_a_day_from_its_hour(measured):
    from datetime import datetime, timezone

    from manage.daily import DailyFreshness

    import threading

    store, ledger = measured
    warm = threading.Event()
    job = DailyFreshness(store, ledger, None, hour=2, after=warm)
    utc = timezone.utc
    assert job.tick(datetime(2026, 10, 8, 15, 0, tzinfo=utc)) is None   # the demo's first harvests are not in yet
    assert not ledger.has_day(date(2026, 10, 8))
    warm.set()
    # first tick at 23:30 Beijing on Oct 8 (15:30 UTC): today's is missing, so it measures though before 02:00
    assert job.tick(datetime(2026, 10, 8, 15, 30, tzinfo=utc))["day"] == "2026-10-08"
    assert job.tick(datetime(2026, 10, 8, 15, 45, tzinfo=utc)) is None          # measured already
    assert job.tick(datetime(2026, 10, 8, 17, 0, tzinfo=utc)) is None           # Oct 9, 01:00 Beijing: not yet
    assert job.tick(datetime(2026, 10, 8, 18, 5, tzinfo=utc))["day"] == "2026-10-09"   # 02:05 Beijing
    assert job.tick(datetime(2026, 10, 9, 3, 0, tzinfo=utc)) is None
    assert ledger.latest_day() == date(2026, 10, 9) and ledger.has_day(date(2026, 10, 8))


def test_the_measure_goes_in_slices_giving_way_between_them_and_a_stop_keeps_nothing(measured):
    import threading

    from manage.freshness import MeasureStopped

    store, ledger = measured
    day = date(2026, 10, 9)
    ledger.BATCH, ledger.STEP = 4, 2  # 13 datasets: slices of 4, 4, 4 and 1, a look every 2
    calls = []
    totals = ledger.measure(store, day, give_way=lambda: calls.append(1))
    assert len(calls) == 2 + 2 + 2 + 1 and sum(totals.values()) == len(DATASETS)
    got = {r["dataset"][len(BASE):]: (r["status"], r["due"], r["days_late"]) for r in ledger.rows(day)}
    assert got == EXPECTED[day]   # the same as in one slice
    # the day measured again, stopped during its first slice: the measure says so and the day is as it was
    store.put_datasets({BASE + "daily-fresh": _graph("daily-fresh", "D017", "daily", None, "2026-09-01")})
    stop = threading.Event()
    with pytest.raises(MeasureStopped, match="after 4 of 13 datasets"):
        ledger.measure(store, day, give_way=stop.set, stop=stop)
    assert ledger.of_dataset(BASE + "daily-fresh")["status"] == "on-time"   # the first measure's, kept
    assert len(ledger.rows(day)) == len(DATASETS) and ledger.has_day(day)
    # a stop that came while the datasets were listed (a second at 100,000 on a remote store): no slice is read
    calls.clear()
    with pytest.raises(MeasureStopped, match="after 0 of 13 datasets"):
        ledger.measure(store, day, give_way=lambda: calls.append(1), stop=stop)
    assert calls == [] and len(ledger.rows(day)) == len(DATASETS)


def test_the_daily_job_gives_way_to_requests_in_hand_and_stops_between_slices(measured):
    from datetime import datetime, timezone

    from core.foreground import Foreground
    from manage.daily import DailyFreshness

    store, ledger = measured
    ledger.BATCH = 5
    in_hand = [1]
    foreground = Foreground()
    foreground.watch(lambda: in_hand[0])
    job = DailyFreshness(store, ledger, None, foreground=foreground)
    report = job.tick(datetime(2026, 10, 9, 3, 0, tzinfo=timezone.utc))
    assert sum(report["statuses"].values()) == len(DATASETS)
    # a request in hand all along: each of the 3 slices (one look each) waited out its 0.1 s, then went on
    assert 0.3 <= foreground.waited_s < 2.0
    in_hand[0] = 0
    job.stop(wait_s=0)   # the server stopping: the next measure ends at its first slice, keeping nothing
    fresh = DailyFreshness(store, ledger, None, foreground=foreground)
    fresh._stop.set()
    assert fresh.tick(datetime(2026, 10, 10, 3, 0, tzinfo=timezone.utc)) is None
    assert not ledger.has_day(date(2026, 10, 10))
