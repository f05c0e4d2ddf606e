"""A department's dashboard numbers: held datasets, broken links, overdue updates, on-time rate, quality score,
open work orders and the reminders due. The page (server/admin/) only renders what these functions return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from manage.freshness import DepartmentFreshness, FreshnessLedger, beijing_today
from manage.workdays import covered_days_ahead, covered_years, uncovered_within
from manage.workorders import Reminder, WorkOrder, WorkOrders
from ontology.namespaces import DEPARTMENT


@dataclass(frozen=True)
class DepartmentDashboard:
    department: str
    as_of: date
    datasets: int | None                 # published datasets measured on freshness_day (None: never measured)
    held: int                            # held back at the publication gate (quarantine)
    broken_links: int | None             # broken URLs in its datasets (None: the link monitor has not run)
    freshness_day: date | None           # the day the freshness numbers are of (the last measure on or before as_of)
    freshness: DepartmentFreshness | None
    overdue_updates: int | None          # its datasets late against their declared cycle on freshness_day
    quality_score: float | None          # mean quality score of its published datasets (None: none measured)
    work_orders: dict[str, int] = field(default_factory=dict)   # status → number
    open_work_orders: list[WorkOrder] = field(default_factory=list)
    overdue_work_orders: int = 0
    reminders: list[Reminder] = field(default_factory=list)
    unknown_deadlines: int = 0           # open work orders with no deadline: the calendar of its year not configured
    calendar: "CalendarOutlook | None" = None

    @property
    def on_time_rate(self) -> float | None:
        return None if self.freshness is None else self.freshness.on_time_rate


@dataclass(frozen=True)
class CalendarOutlook:
    """How far ahead the official calendar is known, and the year to enter when it is not known far enough."""

    as_of: date
    days_ahead: int                      # days after as_of the calendar is known without a gap
    missing_year: int | None             # the first year not known within the warning window (None: no warning)
    last_year: int                       # the last year known without a gap

    @property
    def warn(self) -> bool:
        return self.missing_year is not None


def calendar_outlook(as_of: date | None = None, warning_days: int = 30) -> CalendarOutlook:
    """Tell whether deadlines counted from as_of over the next warning_days can be set (a warning, not an outage)."""
    as_of = as_of or beijing_today()
    return CalendarOutlook(as_of, covered_days_ahead(as_of), uncovered_within(as_of, warning_days),
                           covered_years()[1])


def department_label(code: str, lang: str = "zh") -> str | None:
    """Return a department's name in a language (zh-CN first) from ontology/departments.ttl; None: not ours."""
    from ontology.labels import department_names

    names = department_names().get(DEPARTMENT[code]) if code else None
    if not names:
        return None
    want = "en" if lang == "en" else "zh"
    found = [n.value for n in names if (n.language or "").startswith(want)]
    return found[0] if found else names[0].value


def held_datasets(quarantine, department: str) -> int:
    """Count the datasets of a department held back at the gate (sparql.quarantine.Quarantine)."""
    return 0 if quarantine is None else len(quarantine.list(department))


def broken_links(links, datasets: set[str]) -> int | None:
    """Count the broken URLs held by any of these datasets (harvesters.links.LinkTable; None: no table)."""
    if links is None:
        return None
    return sum(1 for link in links.broken() if datasets.intersection(link["datasets"]))


def department_dashboard(department: str, *, freshness: FreshnessLedger | None, workorders: WorkOrders | None,
                         quarantine=None, links=None, quality_scores=None, as_of: date | None = None,
                         mark_reminders: bool = False, calendar_warning_days: int = 30) -> DepartmentDashboard:
    """Gather one department's numbers as of a day (today in Beijing); the parts not given count as unknown.

    Reminders are listed, and marked sent only when mark_reminders says so (the page that shows them does).
    """
    as_of = as_of or beijing_today()
    day = freshness.latest_day(as_of) if freshness is not None else None
    fresh = freshness.department(department, day) if day is not None else None
    datasets = {r["dataset"] for r in freshness.rows(day, department=department)} if day is not None else set()
    orders = workorders.for_department(department, active_only=True) if workorders is not None else []
    reminders = workorders.due_reminders(as_of, mark=mark_reminders, department=department) \
        if workorders is not None else []
    score = quality_scores.score(DEPARTMENT.base + department) if quality_scores is not None else None
    return DepartmentDashboard(
        department=department, as_of=as_of, datasets=None if day is None else len(datasets),
        held=held_datasets(quarantine, department),
        broken_links=broken_links(links, datasets), freshness_day=day, freshness=fresh,
        overdue_updates=None if fresh is None else fresh.counts.get("late", 0), quality_score=score,
        work_orders=workorders.counts(department) if workorders is not None else {},
        open_work_orders=orders, overdue_work_orders=sum(o.overdue_on(as_of) for o in orders),
        reminders=reminders, unknown_deadlines=sum(o.calendar_unknown is not None for o in orders),
        calendar=calendar_outlook(as_of, calendar_warning_days))
