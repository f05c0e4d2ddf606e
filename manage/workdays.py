"""Count working days on the official calendar of the State Council, with its 调休 days (chinese-calendar).

A working day is a day the State Council's notice has people at work: weekdays that are not public holidays, and
the weekend days it moves work to (调休, e.g. Saturday 10 October 2026). The calendar is the library's; a year it
does not hold is refused (``CalendarRangeError``), never guessed from the weekdays.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar

from core.errors import WodpError


class CalendarRangeError(WodpError):
    """The official calendar of a year is not known (chinese-calendar holds each year once the notice is out)."""

    status = 503
    code = "calendar-not-covered"


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def covered_years() -> tuple[int, int]:
    """Return the first and last year whose official calendar the library holds."""
    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return years[0], years[-1]


def is_working_day(day: date | datetime) -> bool:
    """Tell whether people work on that day by the official calendar (调休 weekend days included)."""
    day = _day(day)
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        first, last = covered_years()
        raise CalendarRangeError(
            f"the official working-day calendar of {day.year} is not known here (chinese-calendar "
            f"{chinese_calendar.__version__} holds {first}-{last}); update chinese-calendar once the State "
            f"Council's notice for {day.year} is out") from None


def add_working_days(start: date | datetime, n: int) -> date:
    """Return the day n working days after start (start itself not counted; n < 0 counts back; 0 gives start)."""
    day, step, left = _day(start), (1 if n >= 0 else -1), abs(n)
    while left:
        day += timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date | datetime, end: date | datetime) -> int:
    """Return the working days after start up to and including end (negative when end is before start)."""
    a, b = _day(start), _day(end)
    if b < a:
        return -working_days_between(b, a)
    count, day = 0, a
    while day < b:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def next_working_day(day: date | datetime) -> date:
    """Return the day itself when people work on it, else the first working day after it."""
    day = _day(day)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day
