"""Working days on the official calendar: deadlines across the 2026 Spring Festival and National Day holidays.

The expected dates are read by hand from the State Council's notice (国务院办公厅关于2026年部分节假日安排的通知,
4 November 2025), not computed with the library:
  春节: 2月15日（周日）至23日（周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
  中秋节: 9月25日（周五）至27日（周日）放假，共3天。
  国庆节: 10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
"""

import re
from datetime import date, datetime

import pytest

from manage.workdays import (CalendarRangeError, add_working_days, is_working_day, next_working_day,
                             working_days_between)


@pytest.mark.parametrize("day, working", [
    (date(2026, 2, 13), True),    # Friday before the Spring Festival
    (date(2026, 2, 14), True),    # Saturday, 调休: at work
    (date(2026, 2, 15), False),   # first day of the 9 days off
    (date(2026, 2, 23), False),   # Monday, last day off
    (date(2026, 2, 24), True),    # Tuesday, back at work
    (date(2026, 2, 28), True),    # Saturday, 调休: at work
    (date(2026, 3, 1), False),    # an ordinary Sunday
    (date(2026, 9, 20), True),    # Sunday, 调休 for National Day: at work
    (date(2026, 9, 25), False),   # Mid-autumn, Friday off
    (date(2026, 9, 30), True),    # Wednesday before National Day
    (date(2026, 10, 1), False), (date(2026, 10, 5), False), (date(2026, 10, 7), False),
    (date(2026, 10, 8), True),    # Thursday, back at work
    (date(2026, 10, 10), True),   # Saturday, 调休: at work
    (date(2026, 10, 11), False),  # an ordinary Sunday
])
def test_official_2026_calendar(day, working):
    assert is_working_day(day) is working


def test_every_day_of_the_2026_spring_festival_and_national_day():
    """Each day of the two weeks around each holiday, written out from the notice (not from the library)."""
    spring = {date(2026, 2, d): d in (9, 10, 11, 12, 13, 14, 24, 25, 26, 27, 28) for d in range(8, 29)}
    national = {date(2026, 10, d): d in (8, 9, 10, 12, 13, 14, 15, 16) for d in range(1, 18)}
    national |= {date(2026, 9, d): d in (21, 22, 23, 24, 28, 29, 30, 20) for d in range(19, 31)}
    wrong = {day: working for day, working in (spring | national).items() if is_working_day(day) is not working}
    assert wrong == {}


# (start, n, expected): each counted by hand on the notice above
NATIONAL_DAY = [
    (date(2026, 9, 30), 1, date(2026, 10, 8)),    # Oct 1-7 off: the next working day is Thursday Oct 8
    (date(2026, 9, 30), 3, date(2026, 10, 10)),   # Oct 8, Oct 9, Sat Oct 10 (调休)
    (date(2026, 9, 30), 5, date(2026, 10, 13)),   # ... Sun Oct 11 off, Mon Oct 12, Tue Oct 13
    (date(2026, 9, 18), 1, date(2026, 9, 20)),    # Fri Sep 18 → Sat off → Sun Sep 20 (调休)
    (date(2026, 9, 24), 2, date(2026, 9, 29)),    # Thu Sep 24 → Sep 25-27 off, Mon Sep 28, Tue Sep 29
    (date(2026, 10, 3), 1, date(2026, 10, 8)),    # opened during the holiday: the first day back
]
SPRING_FESTIVAL = [
    (date(2026, 2, 13), 1, date(2026, 2, 14)),    # Friday → Saturday Feb 14 (调休)
    (date(2026, 2, 13), 2, date(2026, 2, 24)),    # Feb 14, then Feb 15-23 off, Tue Feb 24
    (date(2026, 2, 27), 1, date(2026, 2, 28)),    # Friday → Saturday Feb 28 (调休)
    (date(2026, 2, 27), 2, date(2026, 3, 2)),     # Sat Feb 28, Sun Mar 1 off, Mon Mar 2
    (date(2026, 2, 12), 5, date(2026, 2, 26)),    # Feb 13, 14, 24, 25, 26
]


@pytest.mark.parametrize("start, n, expected", NATIONAL_DAY + SPRING_FESTIVAL)
def test_deadlines_across_holidays(start, n, expected):
    assert add_working_days(start, n) == expected
    assert add_working_days(datetime(start.year, start.month, start.day, 17, 30), n) == expected
    assert working_days_between(start, expected) == n
    assert working_days_between(expected, start) == -n


def test_ten_working_days_over_mid_autumn_and_national_day():
    # from Tue Sep 22: Wed 23, Thu 24 (1, 2); Sep 25-27 off; Mon 28, Tue 29, Wed 30 (3-5); Oct 1-7 off;
    # Thu 8, Fri 9, Sat 10 (调休) (6-8); Sun 11 off; Mon 12, Tue 13 (9, 10)
    assert add_working_days(date(2026, 9, 22), 10) == date(2026, 10, 13)
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0   # the whole holiday counts nothing


def test_counting_back_and_zero():
    assert add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert add_working_days(date(2026, 2, 24), -1) == date(2026, 2, 14)
    assert add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)
    assert next_working_day(date(2026, 10, 3)) == date(2026, 10, 8)
    assert next_working_day(date(2026, 10, 10)) == date(2026, 10, 10)


def test_a_year_the_calendar_does_not_hold_is_refused():
    with pytest.raises(CalendarRangeError) as err:
        add_working_days(date(2026, 12, 25), 10)   # runs into 2027, whose notice the library does not hold
    assert "2027" in err.value.message and "chinese-calendar" in err.value.message
    with pytest.raises(CalendarRangeError):
        is_working_day(date(2003, 5, 1))


# -- the holiday supplement (manage.holidays_file) ---------------------------------------------------------------
# TEST DATA ONLY: the years 2030 and 2031 below are made up (well-formed, not any State Council notice); they are
# written by the tests into a temporary directory and never shipped.
import textwrap  # noqa: E402

from manage.workdays import (HolidayFileError, calendar_year, configure, covered_days_ahead, covers,  # noqa: E402
                             load_supplement, read_supplement_file, supplement_in_use, uncovered_within)

TEST_2031 = """\
# TEST DATA (made up, not a State Council notice): the year 2031 for tests/test_workdays.py
years:
  - year: 2031
    source: "TEST DATA 测试数据：虚构的 2031 年节假日安排 (not a real notice)"
    holidays:
      - {name: 元旦, from: 2031-01-01, to: 2031-01-01}
      - name: 春节
        from: 2031-01-22
        to: 2031-01-28
    workdays:
      - {date: 2031-01-19, for: 春节}
      - 2031-02-08
"""
TEST_2030 = """\
  - year: 2030
    source: "TEST DATA 测试数据：虚构的 2030 年节假日安排 (not a real notice)"
    holidays:
      - {name: 国庆节, from: 2030-10-01, to: 2030-10-07}
    workdays: []
"""


def _file(tmp_path, text: str, name: str = "holidays.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def test_2031(tmp_path):
    supplement = read_supplement_file(_file(tmp_path, TEST_2031))
    with supplement_in_use(supplement):
        yield supplement


@pytest.mark.parametrize("day, working", [
    (date(2030, 12, 31), None),   # 2030: in neither the library nor the supplement
    (date(2031, 1, 1), False),    # Wednesday, 元旦 (test data)
    (date(2031, 1, 2), True),     # Thursday
    (date(2031, 1, 18), False),   # an ordinary Saturday
    (date(2031, 1, 19), True),    # Sunday, 调休 (test data)
    (date(2031, 1, 22), False), (date(2031, 1, 25), False), (date(2031, 1, 28), False),  # 春节 (test data)
    (date(2031, 1, 29), True),    # Wednesday, back at work
    (date(2031, 2, 8), True),     # Saturday, 调休 (test data)
    (date(2031, 2, 9), False),    # an ordinary Sunday
    (date(2031, 10, 1), True),    # a Wednesday the test data gives no holiday: an ordinary working day
])
def test_a_supplement_year_is_the_calendar_of_that_year(test_2031, day, working):
    if working is None:
        with pytest.raises(CalendarRangeError):
            is_working_day(day)
    else:
        assert is_working_day(day) is working


def test_deadlines_across_a_supplement_year(test_2031):
    # Fri Jan 17: Sat 18 off, Sun 19 (调休) 1, Mon 20 2, Tue 21 3, Jan 22-28 off, Wed 29 4, Thu 30 5
    assert add_working_days(date(2031, 1, 17), 5) == date(2031, 1, 30)
    assert working_days_between(date(2031, 1, 17), date(2031, 1, 30)) == 5
    # Fri Feb 7 → Sat Feb 8 (调休)
    assert add_working_days(date(2031, 2, 7), 1) == date(2031, 2, 8)
    assert next_working_day(date(2031, 1, 22)) == date(2031, 1, 29)
    assert add_working_days(date(2031, 1, 29), -1) == date(2031, 1, 21)
    with pytest.raises(CalendarRangeError) as err:   # back from Jan 2 crosses Jan 1 (test data) into 2030
        add_working_days(date(2031, 1, 2), -1)
    assert err.value.year == 2030


def test_a_year_in_neither_says_how_to_add_it(test_2031):
    with pytest.raises(CalendarRangeError) as err:
        add_working_days(date(2026, 12, 28), 10)
    message = err.value.message
    assert err.value.year == 2027 and "calendar of 2027 is not configured" in message
    assert "lists 2031" in message and "manage.holidays_file" in message and "wodp calendar check" in message
    assert covers(2031) and not covers(2027) and covers(2026)
    assert covered_days_ahead(date(2026, 12, 6)) == 25    # Dec 7 .. Dec 31: 2027 is the gap
    assert uncovered_within(date(2026, 12, 6), 30) == 2027 and uncovered_within(date(2026, 11, 1), 30) is None


def test_a_supplement_year_replaces_the_librarys(tmp_path):
    # TEST DATA: a made-up 2026 with no National Day holiday, to show the file wins over the library
    made_up = load_supplement([{"year": 2026, "source": "TEST DATA (made up)",
                                "holidays": [{"name": "元旦", "from": "2026-01-01", "to": "2026-01-01"}]}])
    assert is_working_day(date(2026, 10, 1)) is False   # the library: National Day
    with supplement_in_use(made_up):
        assert is_working_day(date(2026, 10, 1)) is True and is_working_day(date(2026, 10, 10)) is False
        assert calendar_year(2026).origin == "admin console"
    assert calendar_year(2026).origin == "library" and date(2026, 10, 10) in calendar_year(2026).workdays


def test_configure_reads_the_file_named_in_settings(tmp_path):
    from config import load_settings

    _file(tmp_path, TEST_2031, "cal.yml")
    settings = load_settings({}, overrides={"manage": {"holidays_file": "cal.yml"}}, home=tmp_path)
    with supplement_in_use(None):
        configure(settings)
        held = calendar_year(2031)
        assert held.origin == str(tmp_path / "cal.yml") and [h.name for h in held.holidays] == ["元旦", "春节"]
        assert list(held.workdays.items()) == [(date(2031, 1, 19), "春节"), (date(2031, 2, 8), "")]
        missing = load_settings({}, overrides={"manage": {"holidays_file": "none.yml"}}, home=tmp_path)
        with pytest.raises(HolidayFileError) as err:
            configure(missing)
        assert "none.yml: not found" in err.value.message
    assert not covers(2031)


# (what to change in TEST_2031, the line the error names, what the message says)
INVALID = [
    ("to: 2031-01-28", "to: 2032-01-28", 9, "春节 to 2032-01-28 is not in 2031"),
    ("- 2031-02-08", "- 2031-02-10", 12, "调休 day 2031-02-10 is a Monday"),
    ("{date: 2031-01-19, for: 春节}", "{date: 2031-01-25, for: 春节}", 11,
     "调休 day 2031-01-25 is inside the holiday 春节"),
    ("from: 2031-01-22", "from: 2030-12-31", 8, "春节 from 2030-12-31 is not in 2031"),
    ("{name: 元旦, from: 2031-01-01, to: 2031-01-01}", "{name: 元旦, from: 2031-01-01, to: 2031-01-24}", 8,
     "春节 (2031-01-22 to 2031-01-28) overlaps 元旦 (2031-01-01 to 2031-01-24) on 2031-01-22"),
    ("from: 2031-01-22", "from: 2031-01-30", 9, "春节: to 2031-01-28 is before from 2031-01-30"),
    ("from: 2031-01-22", "from: 2031-02-30", 8, "春节 from '2031-02-30' is not a date"),
    ('source: "TEST DATA', 'sauce: "TEST DATA', 4, "unknown key 'sauce'"),
    ("- {name: 元旦, ", "- {", 6, "a holiday without its festival's name"),
    ("- 2031-02-08", "- {date: 2031-02-09, for: 春节, note: x}", 12, "unknown key 'note' in a 调休 day"),
]


@pytest.mark.parametrize("old, new, line, says", INVALID, ids=[case[3][:40] for case in INVALID])
def test_each_invalid_supplement_names_file_line_and_value(tmp_path, old, new, line, says):
    assert old in TEST_2031
    path = _file(tmp_path, TEST_2031.replace(old, new, 1))
    with pytest.raises(HolidayFileError) as err:
        read_supplement_file(path)
    assert any(p.startswith(f"{path}:{line}: ") and says in p for p in err.value.problems), err.value.problems


def test_a_year_twice_and_a_missing_source_are_refused(tmp_path):
    path = _file(tmp_path, TEST_2031 + TEST_2030 + TEST_2030.replace("2030-10", "2030-11"))
    with pytest.raises(HolidayFileError) as err:
        read_supplement_file(path)
    assert err.value.problems == [f"{path}:18: year 2030 is listed twice"]   # the second "- year: 2030"
    entry = {"year": 2030, "source": " ", "holidays": [{"name": "国庆节", "from": "2030-10-01", "to": "2030-10-07"}]}
    with pytest.raises(HolidayFileError) as err:   # entries from the admin console: no lines, the origin named
        load_supplement([entry], "admin console")
    assert err.value.problems == ["admin console: year 2030: source (the notice's title and number) is missing"]
    assert load_supplement([entry | {"source": "TEST DATA"}]).years[2030].holidays[0].end == date(2030, 10, 7)


def test_files_that_are_not_a_supplement(tmp_path):
    for text, says in [("years: [\n", "not YAML"), ("- 2031\n", "the file holds one key, years"),
                       ("years: {a: 1}\n", "years must be a list")]:
        path = _file(tmp_path, text)
        with pytest.raises(HolidayFileError) as err:
            read_supplement_file(path)
        assert str(path) in err.value.problems[0] and says in err.value.problems[0], err.value.problems


# -- callers: a year not configured is "deadline unknown", never a 500 -----------------------------------------
def test_work_orders_opened_when_the_calendar_runs_out_get_their_deadline_later(tmp_path):
    from datetime import timezone

    from manage.workorders import Finding, WorkOrders

    orders = WorkOrders(tmp_path / "workorders.sqlite", {"broken-link": 5}, default_days=10)
    try:
        opened = datetime(2030, 12, 24, 2, tzinfo=timezone.utc)   # Tue Dec 24 2030 in Beijing
        finding = Finding("D001", "https://data.wuhan.gov.cn/dataset/x", "broken-link", "404")
        only_2030 = load_supplement([{"year": 2030, "source": "TEST DATA (made up)",
                                      "holidays": [{"name": "国庆节", "from": "2030-10-01", "to": "2030-10-07"}]}])
        with supplement_in_use(only_2030):
            order, _ = orders.open_or_refresh(finding, at=opened)
            # Dec 25, 26, 27, 30, 31 are 5 working days of (test) 2030: Dec 31 is in it
            assert (order.deadline, order.calendar_unknown) == ("2030-12-31", None)
            late = orders.open_or_refresh(Finding("D001", "https://data.wuhan.gov.cn/dataset/y", "empty-rows", "3"),
                                          at=opened)[0]
            assert late.deadline is None and late.calendar_unknown == 2031
            assert "calendar of 2031 is not configured" in late.deadline_note
            assert orders.due_reminders(date(2030, 12, 30), mark=False) != []   # the dated one; no crash
            assert orders.fill_deadlines() == 0 and orders.get(late.id).deadline is None
        both = load_supplement([
            {"year": 2030, "source": "TEST DATA (made up)",
             "holidays": [{"name": "国庆节", "from": "2030-10-01", "to": "2030-10-07"}]},
            {"year": 2031, "source": "TEST DATA (made up)",
             "holidays": [{"name": "元旦", "from": "2031-01-01", "to": "2031-01-01"}]}])
        with supplement_in_use(both):
            assert orders.fill_deadlines() == 1
            # from Tue Dec 24: Dec 25, 26, 27, 30, 31 (5), Jan 1 off (test data), Jan 2, 3, 6, 7, 8 (10)
            assert orders.get(late.id).deadline == "2031-01-08" and orders.get(late.id).calendar_unknown is None
    finally:
        orders.close()


def test_freshness_due_in_a_year_not_configured_is_calendar_unknown():
    from manage.freshness import assess
    from ontology.namespaces import UPDATE_CYCLE

    # a monthly dataset last updated on 2026-12-20 is due 2027-01-20: on time on 2027-01-05 ...
    early = assess([f"<{UPDATE_CYCLE.base}monthly>"], [], ["2026-12-20"], date(2027, 1, 5))
    late = assess([f"<{UPDATE_CYCLE.base}monthly>"], [], ["2026-12-20"], date(2027, 2, 1))
    assert early.status == "on-time" and late.status == "calendar-unknown"
    assert "calendar of 2027 is not configured" in late.detail


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    settings = load_settings({}, overrides={"rate_limits": {"enabled": False}, "csw": {"enabled": False},
                                            "manage": {"freshness_job": False}},
                             home=tmp_path_factory.mktemp("calendar-home"))
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield app
    platform.close()


def test_a_2027_deadline_is_unknown_on_the_department_page_not_a_500(app, sign_in):
    from datetime import timezone

    from manage.workorders import Finding

    orders = app.extensions["wodp"].workorders
    opened = datetime(2026, 12, 28, 2, tzinfo=timezone.utc)   # 10 working days from Dec 28 run into 2027
    order, _ = orders.open_or_refresh(Finding("D001", "https://data.wuhan.gov.cn/dataset/cal-1", "empty-rows",
                                              "空行 3 行"), at=opened)
    assert order.deadline is None and order.calendar_unknown == 2027
    client = app.test_client()
    sign_in(client, "publisher", "D001")
    page = client.get("/admin/department")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "办理期限未知：2027 年节假日安排尚未配置" in html
    assert re.search(r'id="n-unknown-deadlines">1<', html)
    english = client.get("/admin/department?lang=en").get_data(as_text=True)
    assert "deadline unknown: the calendar for 2027 is not configured" in english
    assert 'id="calendar-warning"' not in html   # the warning is the admin's


def test_the_admin_is_warned_30_days_ahead(app, sign_in, monkeypatch):
    import manage.dashboard

    admin = app.test_client()
    sign_in(admin, "admin")
    monkeypatch.setattr(manage.dashboard, "beijing_today", lambda: date(2026, 12, 6))
    html = admin.get("/admin/department?department=D001").get_data(as_text=True)
    warning = re.search(r'<p class="notice" id="calendar-warning"[^>]*>([^<]*)<', html).group(1)
    assert "2026 年底（还有 25 天）" in warning and "2027 年放假调休安排" in warning
    english = admin.get("/admin/department?department=D001&lang=en").get_data(as_text=True)
    assert "configured up to the end of 2026 (25 days from now)" in english
    assert 'id="calendar-warning"' in admin.get("/admin/department").get_data(as_text=True)   # the chooser too
    monkeypatch.setattr(manage.dashboard, "beijing_today", lambda: date(2026, 11, 1))   # Dec 1: still 2026
    assert 'id="calendar-warning"' not in admin.get("/admin/department?department=D001").get_data(as_text=True)


def test_ready_stays_ready_and_metrics_count_the_days_ahead(app, monkeypatch, tmp_path):
    import manage.freshness
    from tests.test_health_metrics import _samples

    client = app.test_client()
    monkeypatch.setattr(manage.freshness, "beijing_today", lambda now=None: date(2026, 12, 6))
    assert client.get("/health/ready").status_code == 200
    gauge = "wodp_calendar_covered_days_ahead"
    assert _samples(client.get("/metrics").get_data(as_text=True), gauge)[()] == 25
    with supplement_in_use(read_supplement_file(_file(tmp_path, TEST_2031))):   # 2027-2030 still a gap
        assert _samples(client.get("/metrics").get_data(as_text=True), gauge)[()] == 25
    monkeypatch.setattr(manage.freshness, "beijing_today", lambda now=None: date(2031, 12, 1))
    with supplement_in_use(read_supplement_file(_file(tmp_path, TEST_2031))):
        assert _samples(client.get("/metrics").get_data(as_text=True), gauge)[()] == 30
    assert _samples(client.get("/metrics").get_data(as_text=True), gauge)[()] == 0


def test_wodp_calendar_check_and_show(tmp_path, monkeypatch, capsys):
    from server.cli import main

    good = _file(tmp_path, TEST_2031, "good.yml")
    assert main(["calendar", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2031 (the library does not hold it): 2 holidays, 8 days off, 2 调休 working days" in out
    bad = _file(tmp_path, TEST_2031.replace("- 2031-02-08", "- 2031-02-10"), "bad.yml")
    assert main(["calendar", "check", str(bad)]) == 1
    assert f"{bad}:12: 调休 day 2031-02-10 is a Monday" in capsys.readouterr().err
    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    with supplement_in_use(None):
        assert main(["calendar", "show", "2026"]) == 0
        out = capsys.readouterr().out
        assert "2026: from chinese-calendar (library)" in out and "2026-10-01 to 2026-10-07\t7 days\tNational Day" in out
        assert "2026-10-10\tSaturday\tNational Day" in out
        assert main(["calendar", "show", "2031"]) == 1
        assert "calendar of 2031 is not configured" in capsys.readouterr().err
        monkeypatch.setenv("WODP_MANAGE__HOLIDAYS_FILE", "good.yml")
        assert main(["calendar", "show", "2031"]) == 0
        out = capsys.readouterr().out
        assert f"2031: from holiday supplement {good}; source: TEST DATA" in out
        assert "2031-01-22 to 2031-01-28\t7 days\t春节" in out and "2031-01-19\tSunday\t春节" in out


def test_the_platform_does_not_start_on_a_supplement_that_does_not_hold(tmp_path):
    from config import load_settings
    from server.platform import Platform

    _file(tmp_path, TEST_2031.replace("- 2031-02-08", "- 2031-02-10"), "holidays.yml")
    settings = load_settings({}, overrides={"manage": {"holidays_file": "holidays.yml"}}, home=tmp_path)
    with pytest.raises(HolidayFileError) as err:
        Platform.open(settings, start_workers=False)
    assert f"{tmp_path / 'holidays.yml'}:12: 调休 day 2031-02-10 is a Monday" in err.value.message
    assert not covers(2031)
