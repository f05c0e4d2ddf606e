"""`wodp freshness`: each department's datasets on time, late, and not measurable, on a day.
`wodp calendar check FILE` / `wodp calendar show YEAR`: the official working-day calendar and its holiday supplement."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from core.database import open_part
from manage.freshness import STATUSES, FreshnessLedger, beijing_today

HEADS = {"on-time": "on time", "late": "late", "no-cycle": "no cycle", "cycle-unreadable": "cycle unreadable",
         "no-deadline": "no deadline", "no-modified": "no modified", "calendar-unknown": "calendar unknown"}


def add_parser(sub) -> None:
    p = sub.add_parser("freshness", help="each department's datasets on time or late against their declared "
                                         "update cycle on a day (measured now when today's is missing)")
    p.add_argument("--date", type=date.fromisoformat, help="the day, YYYY-MM-DD (default: today in Beijing)")
    p.add_argument("--measure", action="store_true",
                   help="measure today again (and open, refresh or resolve the overdue-update work orders)")
    p.set_defaults(func=cmd_freshness)
    p = sub.add_parser("calendar", help="the official working-day calendar: check a holiday supplement file, or show "
                                        "a year's holidays and 调休 days and where they come from")
    calendar_sub = p.add_subparsers(dest="calendar_action", required=True)
    c = calendar_sub.add_parser("check", help="check a holiday supplement file (YAML) and print what it holds")
    c.add_argument("file")
    c.set_defaults(func=cmd_calendar_check)
    c = calendar_sub.add_parser("show", help="print a year's holidays and 调休 working days (library or "
                                             "manage.holidays_file)")
    c.add_argument("year", type=int)
    c.set_defaults(func=cmd_calendar_show)


def open_ledgers(settings):
    """Open the freshness ledger and the work orders as the settings say."""
    from manage.workorders import WorkOrders
    from manage.workdays import configure

    configure(settings)  # deadlines count on the holiday supplement too

    home = settings.home
    ledger = FreshnessLedger(open_part(settings.database, "freshness", home / "freshness.sqlite"),
                             keep_days=settings.manage.freshness_keep_days)
    orders = WorkOrders.from_settings(open_part(settings.database, "workorders", home / "workorders.sqlite"),
                                      settings.manage)
    return ledger, orders


def cmd_freshness(args: argparse.Namespace) -> int:
    from server.cli import _settings

    settings = _settings(args)
    ledger, orders = open_ledgers(settings)
    try:
        today = beijing_today()
        day = args.date or today
        if args.measure or not ledger.has_day(day):
            if day != today:
                print(f"wodp freshness: no measure kept for {day} (measures are taken on their day; the last one "
                      f"is {ledger.latest_day() or 'none'})", file=sys.stderr)
                return 1
            code = _measure(settings, ledger, orders)
            if code:
                return code
        _print(ledger, day)
        return 0
    finally:
        ledger.close()
        orders.close()


def _measure(settings, ledger, orders) -> int:
    from manage.daily import remeasure
    from sparql.errors import StoreBusyError
    from sparql.store import open_store

    try:
        store = open_store(settings)
    except StoreBusyError:
        print("wodp freshness: the running server holds the store; it measures every day from "
              f"{settings.manage.freshness_hour}:00 (Beijing) and at start (manage.freshness_job)", file=sys.stderr)
        return 1
    from harvesters.links import LinkTable

    links = LinkTable(open_part(settings.database, "links", settings.path(settings.harvest.db_path)))
    try:
        report = remeasure(store, ledger, orders, links=links)
    finally:
        links.close()
        store.close()
    from server.audit import command_entry

    command_entry(settings, "freshness.measure", f"freshness:{report['day']}",
                  {k: report[k] for k in ("statuses", "work_orders", "broken_link_orders") if k in report})
    if "work_orders" in report:
        w = report["work_orders"]
        print(f"measured {report['day']}: overdue-update work orders opened {w['opened']}, refreshed "
              f"{w['refreshed']}, resolved {w['resolved']}; late datasets without a department "
              f"{report['late_without_department']}")
    if "broken_link_orders" in report:
        b = report["broken_link_orders"]
        print(f"broken-link work orders opened {b['opened']}, refreshed {b['refreshed']}, resolved {b['resolved']}; "
              f"broken links of datasets without a department {report['broken_without_department']}")
    return 0


def _print(ledger: FreshnessLedger, day: date) -> None:
    from manage.dashboard import department_label

    rows = ledger.departments(day)
    print(f"freshness on {day}: on-time rate = on time / (on time + late)")
    print("department\t" + "\t".join(HEADS[s] for s in STATUSES) + "\ton-time rate\tname")
    totals = dict.fromkeys(STATUSES, 0)
    for code, f in rows.items():
        for s in STATUSES:
            totals[s] += f.counts.get(s, 0)
        rate = "-" if f.on_time_rate is None else f"{100 * f.on_time_rate:.1f}%"
        print(f"{code or '(none)'}\t" + "\t".join(str(f.counts.get(s, 0)) for s in STATUSES)
              + f"\t{rate}\t{department_label(code) or ('(no department)' if not code else '(unknown code)')}")
    measured = totals["on-time"] + totals["late"]
    rate = "-" if not measured else f"{100 * totals['on-time'] / measured:.1f}%"
    print("all\t" + "\t".join(str(totals[s]) for s in STATUSES) + f"\t{rate}\t{sum(totals.values())} datasets")


def _print_year(held) -> None:
    where = "chinese-calendar (library)" if held.origin == "library" else f"holiday supplement {held.origin}"
    print(f"{held.year}: from {where}; source: {held.source}")
    print(f"holidays ({len(held.holidays)}):")
    for h in held.holidays:
        span = str(h.start) if h.start == h.end else f"{h.start} to {h.end}"
        print(f"  {span}\t{(h.end - h.start).days + 1} days\t{h.name}")
    print(f"调休 working days ({len(held.workdays)}):")
    for day, serves in held.workdays.items():
        print(f"  {day}\t{day.strftime('%A')}\t{serves or '-'}")


def cmd_calendar_check(args: argparse.Namespace) -> int:
    from manage.workdays import HolidayFileError, library_years, read_supplement_file

    try:
        supplement = read_supplement_file(args.file)
    except HolidayFileError as exc:
        print(f"wodp calendar check: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    first, last = library_years()
    print(f"{args.file}: {len(supplement.years)} year(s), each holds")
    for year, held in sorted(supplement.years.items()):
        note = " (replaces the library's)" if first <= year <= last else " (the library does not hold it)"
        print(f"{year}{note}: {len(held.holidays)} holidays, {sum(1 for h in held.holidays for _ in h.days())} days "
              f"off, {len(held.workdays)} 调休 working days; source: {held.source}")
    return 0


def cmd_calendar_show(args: argparse.Namespace) -> int:
    from manage.workdays import CalendarRangeError, calendar_year, configure
    from server.cli import _settings

    settings = _settings(args)
    configure(settings)
    try:
        held = calendar_year(args.year)
    except CalendarRangeError as exc:
        print(f"wodp calendar show: {exc.message}", file=sys.stderr)
        return 1
    _print_year(held)
    return 0
