"""Working days on the official calendar: deadlines across the 2026 Spring Festival and National Day holidays.

The expected dates are read by hand from the State Council's notice (国务院办公厅关于2026年部分节假日安排的通知,
4 November 2025), not computed with the library:
  春节: 2月15日（周日）至23日（周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
  中秋节: 9月25日（周五）至27日（周日）放假，共3天。
  国庆节: 10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
"""

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
