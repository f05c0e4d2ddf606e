"""Work orders: a finding handed to a department to fix, with a deadline in working days and reminders.

A work order is about one dataset of a department (and, where the finding names one, a distribution, file, URL or
check: its ``subject``). Its kind names the finding (a data-quality check, ``broken-link``, ``overdue-update``,
later user reports). Its status moves open → in-progress → resolved / rejected (and back to open when reopened),
each move recorded with who, when and a note. Its deadline is the day it was opened (in Beijing) plus N working
days of the official calendar (``manage.deadlines`` per kind); when that calendar is not known yet the deadline is
left empty and ``deadline_note`` says why.

The same finding seen again (same kind, dataset and subject) while its order is not resolved is that one order,
its ``last_seen`` moved on; a rejected order stays rejected (the department said it is not a fault) until someone
reopens it. A check that no longer finds what an open order is about resolves it, with a note (``sync``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import Callable, Iterable, Mapping

from sqlalchemy import text

from core.database import as_database
from core.errors import NotFoundError, WodpError
from manage.freshness import beijing_today
from manage.workdays import CalendarRangeError, add_working_days, uncovered_year, working_days_between

STATUSES = ("open", "in-progress", "resolved", "rejected")
ACTIVE = ("open", "in-progress")
TRANSITIONS = {
    "open": ("in-progress", "resolved", "rejected"),
    "in-progress": ("open", "resolved", "rejected"),
    "resolved": ("open",),
    "rejected": ("open",),
}
SYSTEM = "system"  # the actor of what the checks do by themselves


class TransitionError(WodpError):
    status = 409
    code = "work-order-transition"


@dataclass(frozen=True)
class Finding:
    """What a check found about one dataset of a department."""

    department: str
    dataset: str
    kind: str
    detail: str
    subject: str = ""  # a distribution, file, URL or check inside the dataset; "" for the dataset itself


@dataclass(frozen=True)
class WorkOrder:
    id: int
    department: str
    dataset: str
    subject: str
    kind: str
    detail: str
    status: str
    opened: str
    opened_by: str | None
    deadline: str | None
    deadline_note: str | None
    last_seen: str
    updated: str
    updated_by: str | None
    closed: str | None
    note: str | None
    reminded: int

    @property
    def calendar_unknown(self) -> int | None:
        """The year whose official calendar was not configured when the deadline was set (None: not that)."""
        return uncovered_year(self.deadline_note) if self.deadline is None else None

    def overdue_on(self, day: date) -> bool:
        return self.status in ACTIVE and self.deadline is not None and date.fromisoformat(self.deadline) < day

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Reminder:
    """A reminder due for a work order: ``approaching`` (deadline within R working days) or ``overdue``."""

    order: WorkOrder
    stage: str
    working_days_left: int | None


@dataclass(frozen=True)
class SyncReport:
    opened: int
    refreshed: int
    resolved: int
    stopped: bool = False  # the process was ending: what was found is written, nothing resolved (next time)
    left: int = 0  # findings not written because of the stop (counted, not dropped without a word)


COLUMNS = ", ".join(f.name for f in fields(WorkOrder))
STAGES = {1: "approaching", 2: "overdue"}


def _stamp(at: datetime | None) -> str:
    return (at or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkOrders:
    """The work orders of every department (part ``workorders`` of the data layer)."""

    SYNC_BATCH = 500  # findings a transaction (sync)

    def __init__(self, where, deadlines: Mapping[str, int] | None = None, *, default_days: int = 10,
                 reminder_days: int = 2) -> None:
        self.db = as_database(where, "workorders")
        self.deadlines = dict(deadlines or {})
        self.default_days = default_days
        self.reminder_days = reminder_days

    @classmethod
    def from_settings(cls, where, manage) -> "WorkOrders":
        """Open with the ``manage`` settings section (deadlines per kind, reminder window)."""
        deadlines = dict(manage.deadlines)
        return cls(where, deadlines, default_days=deadlines.pop("default", 10),
                   reminder_days=manage.reminder_working_days)

    def close(self) -> None:
        self.db.close()

    def deadline_for(self, kind: str, opened: datetime) -> tuple[str | None, str | None]:
        """Return (deadline day, why none) for an order of a kind opened at a moment."""
        days = self.deadlines.get(kind, self.default_days)
        try:
            return add_working_days(beijing_today(opened), days).isoformat(), None
        except CalendarRangeError as exc:
            return None, f"{days} working days: {exc.message}"

    # -- writes ---------------------------------------------------------------------------------
    def fill_deadlines(self, *, at: datetime | None = None) -> int:
        """Set the deadline of each active order that has none because its calendar was not known then.

        The deadline counts from the day the order was opened, as it would have; return how many were set.
        """
        filled = 0
        rows = self._select("WHERE status IN ('open', 'in-progress') AND deadline IS NULL ORDER BY id", {})
        for order in rows:
            opened = datetime.strptime(order.opened, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            deadline, why = self.deadline_for(order.kind, opened)
            if deadline is None:
                if why != order.deadline_note:  # e.g. the supplement now lists other years: say so
                    with self.db.write(serial=True) as conn:
                        conn.execute(text("UPDATE workorders SET deadline_note = :why WHERE id = :id "
                                          "AND deadline IS NULL"), {"why": why, "id": order.id})
                continue
            with self.db.write(serial=True) as conn:
                filled += conn.execute(text(
                    "UPDATE workorders SET deadline = :d, deadline_note = :note WHERE id = :id AND deadline IS NULL"),
                    {"d": deadline, "note": f"deadline set on {_stamp(at)} once the calendar was known",
                     "id": order.id}).rowcount
        return filled

    def open_or_refresh(self, finding: Finding, *, at: datetime | None = None,
                        actor: str | None = SYSTEM) -> tuple[WorkOrder, bool]:
        """Open a work order for a finding, or move the last-seen time of the one already about it.

        Return (the order, whether it was opened now).
        """
        at = at or datetime.now(timezone.utc)
        with self.db.write(serial=True) as conn:
            return self._open_or_refresh(conn, finding, at, actor)

    def _open_or_refresh(self, conn, finding: Finding, at: datetime, actor: str | None,
                         fetch: bool = True) -> tuple[WorkOrder | None, bool]:
        """Open a work order for a finding, or refresh the one open; return it (read back when ``fetch``) and
        whether it is new."""
        stamp = _stamp(at)
        row = conn.execute(text(
            "SELECT id FROM workorders WHERE kind = :kind AND dataset = :dataset AND subject = :subject "
            "AND status <> 'resolved' ORDER BY id DESC LIMIT 1"),
            {"kind": finding.kind, "dataset": finding.dataset, "subject": finding.subject}).fetchone()
        if row is not None:
            conn.execute(text("UPDATE workorders SET last_seen = :at, detail = :detail WHERE id = :id"),
                         {"at": stamp, "detail": finding.detail, "id": row[0]})
            return (self._get(conn, row[0]) if fetch else None), False
        deadline, why = self.deadline_for(finding.kind, at)
        new = conn.execute(text(
            "INSERT INTO workorders (department, dataset, subject, kind, detail, status, opened, opened_by, "
            "deadline, deadline_note, last_seen, updated, updated_by, reminded) VALUES (:department, "
            ":dataset, :subject, :kind, :detail, 'open', :at, :actor, :deadline, :why, :at, :at, :actor, 0) "
            "RETURNING id"), {"department": finding.department, "dataset": finding.dataset,
                              "subject": finding.subject, "kind": finding.kind, "detail": finding.detail,
                              "at": stamp, "actor": actor, "deadline": deadline, "why": why}).fetchone()[0]
        self._event(conn, new, stamp, actor, None, "open", finding.detail)
        return (self._get(conn, new) if fetch else None), True

    def transition(self, order_id: int, status: str, actor: str | None, note: str | None = None, *,
                   at: datetime | None = None) -> WorkOrder:
        """Move a work order to a status (TRANSITIONS says which moves are allowed), recording who and why."""
        if status not in STATUSES:
            raise TransitionError(f"unknown work-order status {status!r}; known: {', '.join(STATUSES)}", status=400)
        with self.db.write(serial=True) as conn:
            return self._transition(conn, order_id, status, actor, note, _stamp(at))

    def _transition(self, conn, order_id: int, status: str, actor: str | None, note: str | None,
                    stamp: str) -> WorkOrder:
        order = self._get(conn, order_id)
        if status not in TRANSITIONS[order.status]:
            raise TransitionError(f"work order {order_id} is {order.status}: it cannot become {status} "
                                  f"(allowed: {', '.join(TRANSITIONS[order.status])})")
        closed = stamp if status in ("resolved", "rejected") else None
        conn.execute(text("UPDATE workorders SET status = :s, updated = :at, updated_by = :actor, closed = :closed, "
                          "note = :note, reminded = CASE WHEN :s = 'open' THEN 0 ELSE reminded END "
                          "WHERE id = :id"),
                     {"s": status, "at": stamp, "actor": actor, "closed": closed, "note": note, "id": order_id})
        self._event(conn, order_id, stamp, actor, order.status, status, note)
        return self._get(conn, order_id)

    def sync(self, kind: str, findings: Iterable[Finding], *, scope: Iterable[str] | None = None,
             at: datetime | None = None, check: str | None = None,
             give_way: Callable[[], object] | None = None, stop: threading.Event | None = None) -> SyncReport:
        """Apply one check's findings of a kind: open or refresh each, resolve the active orders it no longer finds.

        scope: the datasets the check looked at (None: all); orders about other datasets are left as they are.
        The findings are written 500 to a transaction (a daily check at 100,000 datasets finds ~90,000: one
        transaction held the work orders for a minute, while departments' replies waited), the orders gone are
        resolved last, in one: a sync cut short has opened and refreshed some, and resolved none. ``give_way``
        is called every 50 findings (core/foreground.py); when ``stop`` is set (the process ending) the sync ends
        there, what it wrote kept, nothing resolved (``stopped``).
        """
        at = at or datetime.now(timezone.utc)
        findings = list(findings)
        for finding in findings:  # before anything is written
            if finding.kind != kind:
                raise ValueError(f"a {finding.kind} finding given to the sync of {kind}")
        opened = refreshed = 0
        seen: set[tuple[str, str]] = set()
        checked = None if scope is None else set(scope)
        day = beijing_today(at).isoformat()
        note = f"{check or kind} 检查于 {day} 未再发现此问题，自动关闭 (not found again by the check of {day})"
        for start in range(0, len(findings), self.SYNC_BATCH):
            with self.db.write(serial=True) as conn:
                for n, finding in enumerate(findings[start:start + self.SYNC_BATCH]):
                    if n % 50 == 0:
                        if stop is not None and stop.is_set():
                            break
                        if give_way is not None:
                            give_way()
                    new = self._open_or_refresh(conn, finding, at, SYSTEM, fetch=False)[1]
                    opened, refreshed = opened + new, refreshed + (not new)
                    seen.add((finding.dataset, finding.subject))
            if stop is not None and stop.is_set():
                return SyncReport(opened, refreshed, 0, stopped=True, left=len(findings) - opened - refreshed)
        with self.db.write(serial=True) as conn:
            gone = [i for i, d, s in conn.execute(text(
                "SELECT id, dataset, subject FROM workorders WHERE kind = :kind AND status IN ('open', 'in-progress')"),
                {"kind": kind}).fetchall() if (d, s) not in seen and (checked is None or d in checked)]
            for order_id in gone:
                self._transition(conn, order_id, "resolved", SYSTEM, note, _stamp(at))
        return SyncReport(opened, refreshed, len(gone))

    def due_reminders(self, as_of: date, *, mark: bool = True, department: str | None = None) -> list[Reminder]:
        """Return the reminders due on a day (deadline within R working days, or passed), marking them sent.

        Each order is reminded once as its deadline approaches and once when it has passed.
        """
        out: list[Reminder] = []
        where, params = "WHERE status IN ('open', 'in-progress') AND deadline IS NOT NULL", {}
        if department is not None:
            where, params["d"] = where + " AND department = :d", department
        for order in self._select(where + " ORDER BY deadline, id", params):
            deadline = date.fromisoformat(order.deadline)
            left = None
            if deadline < as_of:
                stage = 2
            else:
                try:
                    left = working_days_between(as_of, deadline)
                except CalendarRangeError:
                    continue  # not countable yet: no reminder rather than a guessed one
                stage = 1 if left <= self.reminder_days else 0
            if stage > order.reminded:
                out.append(Reminder(order, STAGES[stage], left))
        if mark and out:
            with self.db.write(serial=True) as conn:
                for r in out:
                    conn.execute(text("UPDATE workorders SET reminded = :stage WHERE id = :id"),
                                 {"stage": 2 if r.stage == "overdue" else 1, "id": r.order.id})
        return out

    # -- reads ----------------------------------------------------------------------------------
    def get(self, order_id: int) -> WorkOrder:
        with self.db.read() as conn:
            return self._get(conn, order_id)

    def for_department(self, code: str, *, active_only: bool = False) -> list[WorkOrder]:
        """Return a department's work orders, the active first, then by deadline and id."""
        where = "WHERE department = :d" + (" AND status IN ('open', 'in-progress')" if active_only else "")
        return self._select(where + " ORDER BY CASE WHEN status IN ('open', 'in-progress') THEN 0 ELSE 1 END, "
                            "deadline IS NULL, deadline, id", {"d": code})

    def overdue(self, as_of: date, department: str | None = None) -> list[WorkOrder]:
        """Return the active work orders whose deadline passed before a day (of one department, or all)."""
        where = "WHERE status IN ('open', 'in-progress') AND deadline < :day"
        params: dict = {"day": as_of.isoformat()}
        if department is not None:
            where, params["d"] = where + " AND department = :d", department
        return self._select(where + " ORDER BY deadline, id", params)

    def counts(self, department: str) -> dict[str, int]:
        """Return status → number of a department's work orders."""
        rows = self.db.rows("SELECT status, COUNT(*) FROM workorders WHERE department = :d GROUP BY status",
                            {"d": department})
        return {status: int(n) for status, n in rows}

    def history(self, order_id: int) -> list[dict]:
        rows = self.db.rows("SELECT at, actor, from_status, to_status, note FROM workorder_events "
                            "WHERE workorder = :id ORDER BY n", {"id": order_id})
        return [dict(zip(("at", "actor", "from", "to", "note"), r)) for r in rows]

    def _select(self, where: str, params: dict) -> list[WorkOrder]:
        return [WorkOrder(*row) for row in self.db.rows(f"SELECT {COLUMNS} FROM workorders {where}", params)]

    @staticmethod
    def _get(conn, order_id: int) -> WorkOrder:
        row = conn.execute(text(f"SELECT {COLUMNS} FROM workorders WHERE id = :id"), {"id": order_id}).fetchone()
        if row is None:
            raise NotFoundError(f"no work order {order_id}")
        return WorkOrder(*row)

    @staticmethod
    def _event(conn, order_id: int, at: str, actor, before, after, note) -> None:
        conn.execute(text("INSERT INTO workorder_events (workorder, at, actor, from_status, to_status, note) "
                          "VALUES (:id, :at, :actor, :before, :after, :note)"),
                     {"id": order_id, "at": at, "actor": actor, "before": before, "after": after, "note": note})
