"""Count working days on the official calendar of the State Council, with its 调休 days.

A working day is a day the State Council's notice (国务院办公厅关于某年部分节假日安排的通知) has people at work:
weekdays that are not public holidays, and the weekend days it moves work to (调休, e.g. Saturday 10 October 2026).

The calendar is chinese-calendar's, and a holiday supplement's for the years it lists: the notice for a year comes
out in November or December and a library release may lag months, so the data bureau enters that notice's holidays
and 调休 days itself (``manage.holidays_file``, read by ``read_supplement_file``; the admin console will hand
``load_supplement`` the same entries). A year of the supplement replaces the library's for that whole year. A year
in neither is refused (``CalendarRangeError``, saying how to add it), never guessed from the weekdays.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import chinese_calendar

from core.errors import WodpError

DOCS = "docs/management.md"


class CalendarRangeError(WodpError):
    """The official calendar of a year is not known: not in chinese-calendar nor in the holiday supplement."""

    status = 503
    code = "calendar-not-covered"

    def __init__(self, message: str, *, year: int | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.year = year


class HolidayFileError(WodpError):
    """A holiday supplement that does not hold: each problem names the file, line and value."""

    status = 400
    code = "holiday-supplement-invalid"

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__("the holiday supplement does not hold:\n  " + "\n  ".join(shown))
        self.problems = problems


@dataclass(frozen=True)
class Holiday:
    name: str
    start: date
    end: date

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)


@dataclass(frozen=True)
class HolidayYear:
    """One year of the official calendar: its holidays and its 调休 working days, and where they come from."""

    year: int
    source: str                                   # the notice's title and number, or the library and its version
    holidays: tuple[Holiday, ...]
    workdays: dict[date, str]                     # 调休 working day (a Saturday or Sunday) → the festival it serves
    origin: str                                   # "library" or the file (or "admin console") it was read from
    off: dict[date, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.off.update({day: h.name for h in self.holidays for day in h.days()})

    def is_working_day(self, day: date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.off)


@dataclass(frozen=True)
class Supplement:
    years: dict[int, HolidayYear]
    origin: str


# -- reading a supplement -------------------------------------------------------------------------------------------
class _Lines:
    """Where each value was in its file: mappings and lists read from YAML carry the line of each key or item."""

    @staticmethod
    def of(container, key) -> int | None:
        lines = getattr(container, "lines", None)
        return None if lines is None else lines.get(key)


class _Map(dict):
    lines: dict


class _List(list):
    lines: dict


def _yaml_entries(text: str):
    """Read YAML keeping the line (1-based) of every key and list item."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        out = _Map()
        out.lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        out.lines[None] = node.start_mark.line + 1
        return out

    def sequence(loader, node):
        out = _List(loader.construct_object(item, deep=True) for item in node.value)
        out.lines = {i: item.start_mark.line + 1 for i, item in enumerate(node.value)}
        out.lines[None] = node.start_mark.line + 1
        return out

    def timestamp(loader, node):
        try:
            return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
        except ValueError:  # 2031-02-30: kept as written, refused as "not a date" with its line
            return loader.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return yaml.load(text, Loader=Loader)  # noqa: S506  a SafeLoader with two more constructors


def read_supplement_file(path: str | Path) -> Supplement:
    """Read and check a holiday supplement file (YAML: ``years:`` a list of years, see docs/management.md)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HolidayFileError([f"{path}: cannot be read: {exc}"]) from None
    try:
        data = _yaml_entries(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise HolidayFileError([f"{where}: not YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(data, dict) or set(data) != {"years"}:
        raise HolidayFileError([f"{path}:1: the file holds one key, years: a list of years (found "
                                f"{sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__})"])
    return load_supplement(data["years"], str(path), line=_Lines.of(data, "years"))


def load_supplement(entries: Iterable[Mapping], origin: str = "admin console", *,
                    line: int | None = None) -> Supplement:
    """Check entries of the holiday supplement and return them; HolidayFileError lists every problem found.

    Each entry: ``year``, ``source`` (the notice's title and number), ``holidays`` (each ``name``, ``from``, ``to``,
    dates of that year) and ``workdays`` (the 调休 days: each a Saturday or Sunday, as ``{date, for}`` or a date).
    """
    problems: list[str] = []

    def where(container, key) -> str:
        n = _Lines.of(container, key)
        if n is None:
            n = _Lines.of(container, None)
        return f"{origin}:{n}" if n is not None else origin

    def bad(container, key, message: str) -> None:
        problems.append(f"{where(container, key)}: {message}")

    years: dict[int, HolidayYear] = {}
    if not isinstance(entries, (list, tuple)):
        problems.append(f"{origin}:{line or 1}: years must be a list of years, not {type(entries).__name__}")
        raise HolidayFileError(problems)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            bad(entries, i, f"a year is a mapping (year, source, holidays, workdays), not {entry!r}")
            continue
        before = len(problems)
        for key in sorted(set(entry) - {"year", "source", "holidays", "workdays"}, key=str):
            bad(entry, key, f"unknown key {key!r} (known: year, source, holidays, workdays)")
        year = entry.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 2200:
            bad(entry, "year", f"year {year!r} is not a year")
            continue
        if year in years:
            bad(entry, "year", f"year {year} is listed twice")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            bad(entry, "source", f"year {year}: source (the notice's title and number) is missing")
        holidays: list[Holiday] = []
        read_from: list = []  # the mapping each holiday was read from (for its line)
        raw_holidays = entry.get("holidays")
        if not isinstance(raw_holidays, list) or not raw_holidays:
            bad(entry, "holidays", f"year {year}: holidays must be a list of the notice's holidays")
            raw_holidays = []
        for j, h in enumerate(raw_holidays):
            if not isinstance(h, dict):
                bad(raw_holidays, j, f"year {year}: a holiday is a mapping (name, from, to), not {h!r}")
                continue
            for key in sorted(set(h) - {"name", "from", "to"}, key=str):
                bad(h, key, f"year {year}: unknown key {key!r} in a holiday (known: name, from, to)")
            name = h.get("name")
            if not isinstance(name, str) or not name.strip():
                bad(h, "name", f"year {year}: a holiday without its festival's name")
                continue
            start = _date_in(h, "from", year, bad, f"{name} from")
            end = _date_in(h, "to", year, bad, f"{name} to")
            if start and end:
                if end < start:
                    bad(h, "to", f"{name}: to {end} is before from {start}")
                else:
                    holidays.append(Holiday(name.strip(), start, end))
                    read_from.append(h)
        taken: dict[date, Holiday] = {}
        for h, container in zip(holidays, read_from):
            for day in h.days():
                if day in taken:
                    bad(container, "from", f"{h.name} ({h.start} to {h.end}) overlaps {taken[day].name} "
                              f"({taken[day].start} to {taken[day].end}) on {day}")
                    break
                taken[day] = h
        workdays: dict[date, str] = {}
        raw_workdays = entry.get("workdays", [])
        if raw_workdays is None:
            raw_workdays = []
        if not isinstance(raw_workdays, list):
            bad(entry, "workdays", f"year {year}: workdays must be a list of the 调休 working days")
            raw_workdays = []
        for j, w in enumerate(raw_workdays):
            if isinstance(w, dict):
                for key in sorted(set(w) - {"date", "for"}, key=str):
                    bad(w, key, f"year {year}: unknown key {key!r} in a 调休 day (known: date, for)")
                day = _date_in(w, "date", year, bad, "调休 day")
                serves = w.get("for")
                if serves is not None and not (isinstance(serves, str) and serves.strip()):
                    bad(w, "for", f"year {year}: for {serves!r} is not a festival's name")
                container, key = w, "date"
            else:
                day = _date_in(raw_workdays, j, year, bad, "调休 day")
                serves, container, key = None, raw_workdays, j
            if day is None:
                continue
            if day.weekday() < 5:
                bad(container, key, f"调休 day {day} is a {day.strftime('%A')}: a 调休 working day is a Saturday "
                                    "or Sunday (weekdays are working days already)")
            elif day in taken:
                bad(container, key, f"调休 day {day} is inside the holiday {taken[day].name} "
                                    f"({taken[day].start} to {taken[day].end})")
            elif day in workdays:
                bad(container, key, f"调休 day {day} is listed twice")
            else:
                workdays[day] = (serves or "").strip()
        if len(problems) == before and year not in years:
            years[year] = HolidayYear(year, source.strip(), tuple(sorted(holidays, key=lambda h: h.start)),
                                      dict(sorted(workdays.items())), origin)
    if problems:
        raise HolidayFileError(problems)
    return Supplement(years, origin)


def _date_in(container, key, year: int, bad, what: str) -> date | None:
    value = container.get(key) if isinstance(container, dict) else container[key]
    day = None
    if isinstance(value, datetime):
        day = None
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = None
    if day is None:
        bad(container, key, f"{what} {value!r} is not a date (write YYYY-MM-DD)")
        return None
    if day.year != year:
        bad(container, key, f"{what} {day} is not in {year}: each year lists only its own days")
        return None
    return day


# -- the calendar in use --------------------------------------------------------------------------------------------
_supplement: Supplement | None = None
_supplement_setting: str | None = None   # the setting that named it, for messages


def use_supplement(supplement: Supplement | None, setting: str | None = None) -> None:
    """Set the holiday supplement the working-day functions read (None: the library's calendar only)."""
    global _supplement, _supplement_setting
    _supplement, _supplement_setting = supplement, setting


def current_supplement() -> Supplement | None:
    return _supplement


@contextmanager
def supplement_in_use(supplement: Supplement | None) -> Iterator[None]:
    """Use a supplement inside a block (tests), then the one before it again."""
    before = (_supplement, _supplement_setting)
    use_supplement(supplement, supplement.origin if supplement else None)
    try:
        yield
    finally:
        use_supplement(*before)


def configure(settings) -> Supplement | None:
    """Read the supplement named by ``manage.holidays_file`` (relative: under WODP_HOME) and use it."""
    name = settings.manage.holidays_file
    if not name:
        use_supplement(None)
        return None
    path = settings.path(name)
    if not path.exists():
        raise HolidayFileError([f"{path}: not found (manage.holidays_file names it; write the State Council's "
                                f"notice there, see {DOCS}, or set manage.holidays_file to null)"])
    supplement = read_supplement_file(path)
    use_supplement(supplement, str(path))
    return supplement


def library_years() -> tuple[int, int]:
    """Return the first and last year whose official calendar chinese-calendar holds."""
    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return years[0], years[-1]


def covers(year: int) -> bool:
    """Tell whether the official calendar of a year is known (library or supplement)."""
    first, last = library_years()
    return first <= year <= last or (_supplement is not None and year in _supplement.years)


def covered_years() -> tuple[int, int]:
    """Return the first and last year of the calendar known without a gap (the library, extended by the supplement)."""
    first, last = library_years()
    while covers(last + 1):
        last += 1
    return first, last


def covered_days_ahead(today: date) -> int:
    """Return how many days after today the calendar is known without a gap (0: not even tomorrow's)."""
    if not covers(today.year):
        return 0
    last = today.year
    while covers(last + 1):
        last += 1
    return (date(last, 12, 31) - today).days


def uncovered_within(today: date, days: int) -> int | None:
    """Return the first year not covered between today and today + days (None: all known)."""
    end = today + timedelta(days=days)
    for year in range(today.year, end.year + 1):
        if not covers(year):
            return year
    return None


def _refuse(year: int) -> CalendarRangeError:
    first, last = library_years()
    if _supplement is None:
        there = "no holiday supplement is set (manage.holidays_file)"
    else:
        listed = ", ".join(map(str, sorted(_supplement.years))) or "no year"
        there = f"the holiday supplement {_supplement_setting or _supplement.origin} lists {listed}"
    return CalendarRangeError(
        f"the official working-day calendar of {year} is not configured: chinese-calendar "
        f"{chinese_calendar.__version__} holds {first}-{last} and {there}. Once the State Council's notice on "
        f"{year}'s holidays (放假调休安排) is out, enter its holidays and 调休 working days in the file named by "
        f"manage.holidays_file (check it with `wodp calendar check FILE`; see {DOCS}), or update chinese-calendar",
        year=year)


NOT_CONFIGURED = re.compile(r"calendar of (\d{4}) is not configured")


def uncovered_year(text: str | None) -> int | None:
    """Return the year a CalendarRangeError's message (kept in a note) says is not configured."""
    found = NOT_CONFIGURED.search(text or "")
    return int(found.group(1)) if found else None


def calendar_year(year: int) -> HolidayYear:
    """Return the holidays and 调休 days of a year and where they come from (CalendarRangeError: neither has it)."""
    if _supplement is not None and year in _supplement.years:
        return _supplement.years[year]
    first, last = library_years()
    if not first <= year <= last:
        raise _refuse(year)
    off = sorted((d, n) for d, n in chinese_calendar.holidays.items() if d.year == year)
    holidays: list[Holiday] = []
    for day, name in off:
        if holidays and holidays[-1].name == name and holidays[-1].end + timedelta(days=1) == day:
            holidays[-1] = Holiday(name, holidays[-1].start, day)
        else:
            holidays.append(Holiday(name, day, day))
    workdays = {d: n for d, n in sorted(chinese_calendar.workdays.items()) if d.year == year and d.weekday() >= 5}
    return HolidayYear(year, f"chinese-calendar {chinese_calendar.__version__}", tuple(holidays), workdays,
                       "library")


# -- counting -------------------------------------------------------------------------------------------------------
def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


_library_answers: dict[date, bool] = {}  # the library's answers so far (they never change in a process)


def is_working_day(day: date | datetime) -> bool:
    """Tell whether people work on that day by the official calendar (调休 weekend days included)."""
    day = _day(day)
    if _supplement is not None and day.year in _supplement.years:
        return _supplement.years[day.year].is_working_day(day)
    known = _library_answers.get(day)
    if known is None:  # (chinese_calendar checks its argument at each call: ~50 µs, 2.6 s of 20,000 datasets' measure)
        try:
            known = _library_answers[day] = chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise _refuse(day.year) from None
    return known


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
