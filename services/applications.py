"""有条件开放 applications: apply, two-stage review, grants with an expiry, use reports, revocation.

A signed-in account (public or staff) applies for one or more 有条件开放 datasets with its purpose, use scenario,
the fields it needs, a period (from, to) and the security commitment it signs (the text and its version are kept
with the time of signing). The review runs in two stages, each with a deadline in working days (the official
calendar with 调休, manage.workdays; settings ``applications.department_days`` and ``applications.bureau_days``):

1. each owning department decides for its own datasets (an application may span several departments);
2. once every department has decided and at least one dataset was approved, the data bureau decides.

A refusal needs its reason. The bureau's approval grants the account the approved datasets until the requested
period's end, and never more than ``applications.max_grant_days`` after the approval. The grants open the data doors
to the account's API keys (tokens of scope ``data``; server/access_guard.py). While a grant lasts the applicant
reports the data's use every ``applications.report_every_days`` days; an overdue report is shown. The bureau may
revoke an application's grants, a department those of its own datasets.

A deadline in a year the calendar does not hold is not guessed: it stays unknown with the reason kept
(``deadline_note``). The tables live on the data layer's part ``applications``; the routes (server/services_pages.py)
write each step to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import text

from core.database import as_database
from core.errors import BadRequestError, NotFoundError, WodpError
from core.stamps import parse_stamp as _parse, stamp as _stamp, utc_now as _now
from manage.workdays import CalendarRangeError, add_working_days

BEIJING = timezone(timedelta(hours=8))
MAX_TEXT = 4000
DEPARTMENT_STAGE, BUREAU_STAGE = "department", "bureau"
APPROVED, REFUSED, REVOKED = "approved", "refused", "revoked"
PENDING = "pending"
_APP_COLUMNS = ("id", "account_id", "purpose", "scenario", "fields", "period_from", "period_to",
                "commitment_version", "commitment_text", "committed_at", "status", "submitted",
                "department_deadline", "bureau_from", "bureau_deadline", "deadline_note", "bureau_decided",
                "bureau_by", "bureau_reason", "expires", "updated")


class NotYourDecision(WodpError):
    """403: the department may decide only for its own datasets, the bureau only at its stage."""

    status = 403
    code = "forbidden"


class WrongStage(WodpError):
    """409: the application is not at the stage this decision belongs to."""

    status = 409
    code = "wrong-stage"


def beijing_day(when: datetime) -> date:
    return when.astimezone(BEIJING).date()


@dataclass(frozen=True)
class Item:
    """One dataset of an application, with its department's decision."""

    dataset: str
    department: str
    title: str | None
    decision: str                 # pending, approved, refused
    decided: str | None = None
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Grant:
    dataset: str
    account_id: str
    granted: str
    expires: str                  # the last day (Beijing) the grant holds
    revoked: str | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def active(self, today: date) -> bool:
        return self.revoked is None and today <= date.fromisoformat(self.expires)


@dataclass(frozen=True)
class Report:
    at: str
    text: str


@dataclass(frozen=True)
class Application:
    id: int
    account_id: str
    purpose: str
    scenario: str
    fields: str
    period_from: str
    period_to: str
    commitment_version: str
    commitment_text: str
    committed_at: str
    status: str                   # department, bureau, approved, refused, revoked
    submitted: str
    department_deadline: str | None
    bureau_from: str | None
    bureau_deadline: str | None
    deadline_note: str | None
    bureau_decided: str | None
    bureau_by: str | None
    bureau_reason: str | None
    expires: str | None
    updated: str
    items: tuple[Item, ...] = ()
    grants: tuple[Grant, ...] = ()
    reports: tuple[Report, ...] = field(default_factory=tuple)

    def departments(self) -> list[str]:
        return sorted({i.department for i in self.items})

    def pending_departments(self) -> list[str]:
        return sorted({i.department for i in self.items if i.decision == PENDING})

    def deadline(self) -> str | None:
        """The deadline of the stage the application waits at (None: decided, or unknown)."""
        if self.status == DEPARTMENT_STAGE:
            return self.department_deadline
        if self.status == BUREAU_STAGE:
            return self.bureau_deadline
        return None

    def overdue(self, today: date) -> bool:
        deadline = self.deadline()
        return deadline is not None and today > date.fromisoformat(deadline)

    def active_grants(self, today: date) -> list[Grant]:
        return [g for g in self.grants if g.active(today)]

    def next_report_due(self, every_days: int) -> str | None:
        """The day the next use report is due (None: no grant was given)."""
        if self.bureau_decided is None or self.status not in (APPROVED, REVOKED) or not self.grants:
            return None
        last = _parse(self.reports[-1].at) if self.reports else _parse(self.bureau_decided)
        return (beijing_day(last) + timedelta(days=every_days)).isoformat()

    def report_overdue(self, today: date, every_days: int) -> bool:
        due = self.next_report_due(every_days)
        return due is not None and bool(self.active_grants(today)) and today > date.fromisoformat(due)


def _deadline(start: datetime, days: int) -> tuple[str | None, str | None]:
    try:
        return add_working_days(beijing_day(start), days).isoformat(), None
    except CalendarRangeError as exc:
        return None, exc.message


def _text(value: str | None, name: str, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise BadRequestError(f"{name} is required")
    if len(value) > MAX_TEXT:
        raise BadRequestError(f"{name} is longer than {MAX_TEXT} characters")
    return value


class Applications:
    """The part ``applications`` of the data layer."""

    def __init__(self, where, settings) -> None:
        self.db = as_database(where, "applications")
        self.settings = settings

    def close(self) -> None:
        self.db.close()

    # -- applying -------------------------------------------------------------------------------------
    def apply(self, account_id: str, datasets: list[tuple[str, str, str | None]], *, purpose: str, scenario: str,
              fields: str, period_from: date, period_to: date, committed: bool, now: datetime | None = None
              ) -> Application:
        """File an application for datasets given as (IRI, owning department code, title)."""
        now = now or _now()
        if not committed:
            raise BadRequestError("the security commitment must be signed (安全承诺须勾选确认)")
        if not datasets:
            raise BadRequestError("name at least one 有条件开放 dataset")
        if len({d[0] for d in datasets}) != len(datasets):
            raise BadRequestError("a dataset is named twice")
        if any(not dept for _, dept, _ in datasets):
            raise BadRequestError("a dataset names no owning department: it cannot be applied for here")
        if period_to < period_from:
            raise BadRequestError("the period ends before it starts")
        if period_to < beijing_day(now):
            raise BadRequestError("the period has already ended")
        deadline, note = _deadline(now, self.settings.department_days)
        commitment = self.settings.commitment_zh + "\n" + self.settings.commitment_en
        with self.db.write() as conn:
            params = {"account": account_id, "purpose": _text(purpose, "purpose"),
                      "scenario": _text(scenario, "scenario"), "fields": _text(fields, "fields"),
                      "from": period_from.isoformat(), "to": period_to.isoformat(),
                      "version": self.settings.commitment_version, "commitment": commitment, "at": _stamp(now),
                      "deadline": deadline, "note": note}
            sql = ("INSERT INTO applications (account_id, purpose, scenario, fields, period_from, period_to, "
                   "commitment_version, commitment_text, committed_at, status, submitted, department_deadline, "
                   "deadline_note, updated) VALUES (:account, :purpose, :scenario, :fields, :from, :to, :version, "
                   ":commitment, :at, 'department', :at, :deadline, :note, :at) RETURNING id")
            app_id = conn.execute(text(sql), params).fetchall()[0][0]
            conn.execute(text("INSERT INTO application_items (application, dataset, department, title, decision) "
                              "VALUES (:app, :dataset, :department, :title, 'pending')"),
                         [{"app": app_id, "dataset": uri, "department": dept, "title": title}
                          for uri, dept, title in datasets])
        return self.get(app_id)

    # -- reading ----------------------------------------------------------------------------------------
    def get(self, app_id: int) -> Application:
        rows = self.db.rows(f"SELECT {', '.join(_APP_COLUMNS)} FROM applications WHERE id = :id", {"id": app_id})
        if not rows:
            raise NotFoundError(f"no application {app_id}")
        return self._full(rows[0])

    def _full(self, row) -> Application:
        app_id = row[0]
        items = tuple(Item(*r) for r in self.db.rows(
            "SELECT dataset, department, title, decision, decided, decided_by, reason FROM application_items "
            "WHERE application = :id ORDER BY department, dataset", {"id": app_id}))
        grants = tuple(Grant(*r) for r in self.db.rows(
            "SELECT dataset, account_id, granted, expires, revoked, revoked_by, revoke_reason FROM application_grants "
            "WHERE application = :id ORDER BY dataset", {"id": app_id}))
        reports = tuple(Report(*r) for r in self.db.rows(
            "SELECT at, text FROM application_reports WHERE application = :id ORDER BY n", {"id": app_id}))
        return Application(*row, items=items, grants=grants, reports=reports)

    def _list(self, where: str = "", params: dict | None = None) -> list[Application]:
        rows = self.db.rows(f"SELECT {', '.join(_APP_COLUMNS)} FROM applications {where} ORDER BY id DESC",
                            params or {})
        return [self._full(r) for r in rows]

    def of_account(self, account_id: str) -> list[Application]:
        return self._list("WHERE account_id = :a", {"a": account_id})

    def department_queue(self, department: str, today: date | None = None) -> list[Application]:
        """Applications with a dataset of the department still to decide: overdue first, then by deadline."""
        found = self._list("WHERE status = 'department' AND id IN (SELECT application FROM application_items "
                           "WHERE department = :d AND decision = 'pending')", {"d": department})
        return _overdue_first(found, today or beijing_day(_now()))

    def bureau_queue(self, today: date | None = None) -> list[Application]:
        """Applications waiting anywhere (the bureau sees both stages): overdue first, then by deadline."""
        return _overdue_first(self._list("WHERE status IN ('department', 'bureau')"), today or beijing_day(_now()))

    def decided(self, department: str | None = None, limit: int = 50) -> list[Application]:
        where = "WHERE status NOT IN ('department', 'bureau')"
        params: dict = {}
        if department:
            where += " AND id IN (SELECT application FROM application_items WHERE department = :d)"
            params["d"] = department
        return self._list(where, params)[:limit]

    def grants_of(self, account_id: str, today: date | None = None) -> frozenset[str]:
        """The dataset IRIs the account holds an unexpired, unrevoked grant for (within its period)."""
        today = (today or beijing_day(_now())).isoformat()
        rows = self.db.rows(
            "SELECT g.dataset FROM application_grants g JOIN applications a ON a.id = g.application "
            "WHERE g.account_id = :a AND g.revoked IS NULL AND g.expires >= :today AND a.period_from <= :today",
            {"a": account_id, "today": today})
        return frozenset(r[0] for r in rows)

    # -- deciding ---------------------------------------------------------------------------------------
    def decide_department(self, app_id: int, department: str, actor: str, approve: bool, reason: str | None = None,
                          datasets: list[str] | None = None, now: datetime | None = None) -> Application:
        """Record a department's decision on its pending datasets of the application (all, or those named)."""
        now = now or _now()
        reason = _text(reason, "reason", required=not approve)
        app = self.get(app_id)
        if app.status != DEPARTMENT_STAGE:
            raise WrongStage(f"application {app_id} is not waiting for the departments (status {app.status})")
        mine = [i for i in app.items if i.department == department]
        if not mine:
            raise NotYourDecision(f"application {app_id} names no dataset of department {department}")
        chosen = [i for i in mine if i.decision == PENDING and (datasets is None or i.dataset in datasets)]
        if not chosen:
            raise WrongStage(f"department {department} has no dataset of application {app_id} left to decide")
        with self.db.write() as conn:
            conn.execute(text("UPDATE application_items SET decision = :d, decided = :at, decided_by = :by, "
                              "reason = :reason WHERE application = :app AND dataset = :dataset AND decision = 'pending'"),
                         [{"d": APPROVED if approve else REFUSED, "at": _stamp(now), "by": actor,
                           "reason": reason or None, "app": app_id, "dataset": i.dataset} for i in chosen])
            left = conn.execute(text("SELECT decision FROM application_items WHERE application = :app"),
                                {"app": app_id}).fetchall()
            decisions = [r[0] for r in left]
            if PENDING not in decisions:
                if APPROVED in decisions:
                    deadline, note = _deadline(now, self.settings.bureau_days)
                    conn.execute(text("UPDATE applications SET status = 'bureau', bureau_from = :at, "
                                      "bureau_deadline = :deadline, deadline_note = :note, updated = :at "
                                      "WHERE id = :app"),
                                 {"at": _stamp(now), "deadline": deadline, "note": note, "app": app_id})
                else:
                    conn.execute(text("UPDATE applications SET status = 'refused', updated = :at WHERE id = :app"),
                                 {"at": _stamp(now), "app": app_id})
            else:
                conn.execute(text("UPDATE applications SET updated = :at WHERE id = :app"),
                             {"at": _stamp(now), "app": app_id})
        return self.get(app_id)

    def decide_bureau(self, app_id: int, actor: str, approve: bool, reason: str | None = None,
                      now: datetime | None = None) -> Application:
        """Record the bureau's decision; on approval grant the departments' approved datasets until the expiry."""
        now = now or _now()
        reason = _text(reason, "reason", required=not approve)
        app = self.get(app_id)
        if app.status != BUREAU_STAGE:
            raise WrongStage(f"application {app_id} is not waiting for the bureau (status {app.status})")
        expires = None
        with self.db.write() as conn:
            if approve:
                expires = grant_expiry(date.fromisoformat(app.period_to), beijing_day(now),
                                       self.settings.max_grant_days).isoformat()
                conn.execute(text("INSERT INTO application_grants (application, dataset, account_id, granted, expires) "
                                  "VALUES (:app, :dataset, :account, :at, :expires)"),
                             [{"app": app_id, "dataset": i.dataset, "account": app.account_id, "at": _stamp(now),
                               "expires": expires} for i in app.items if i.decision == APPROVED])
            conn.execute(text("UPDATE applications SET status = :status, bureau_decided = :at, bureau_by = :by, "
                              "bureau_reason = :reason, expires = :expires, updated = :at "
                              "WHERE id = :app AND status = 'bureau'"),
                         {"status": APPROVED if approve else REFUSED, "at": _stamp(now), "by": actor,
                          "reason": reason or None, "expires": expires, "app": app_id})
        return self.get(app_id)

    def revoke(self, app_id: int, actor: str, reason: str, department: str | None = None,
               now: datetime | None = None) -> Application:
        """Revoke the application's grants (a department: those of its own datasets only); reason required."""
        now = now or _now()
        reason = _text(reason, "reason")
        app = self.get(app_id)
        targets = [g for g in app.grants if g.revoked is None and
                   (department is None or any(i.dataset == g.dataset and i.department == department
                                              for i in app.items))]
        if department is not None and not any(i.department == department for i in app.items):
            raise NotYourDecision(f"application {app_id} names no dataset of department {department}")
        if not targets:
            raise WrongStage(f"application {app_id} has no grant left to revoke")
        with self.db.write() as conn:
            conn.execute(text("UPDATE application_grants SET revoked = :at, revoked_by = :by, revoke_reason = :reason "
                              "WHERE application = :app AND dataset = :dataset AND revoked IS NULL"),
                         [{"at": _stamp(now), "by": actor, "reason": reason, "app": app_id, "dataset": g.dataset}
                          for g in targets])
            left = conn.execute(text("SELECT COUNT(*) FROM application_grants WHERE application = :app "
                                     "AND revoked IS NULL"), {"app": app_id}).fetchall()[0][0]
            conn.execute(text("UPDATE applications SET status = :status, updated = :at WHERE id = :app"),
                         {"status": REVOKED if not left else app.status, "at": _stamp(now), "app": app_id})
        return self.get(app_id)

    def report(self, app_id: int, account_id: str, report: str, now: datetime | None = None) -> Application:
        """Record the applicant's use report."""
        now = now or _now()
        app = self.get(app_id)
        if app.account_id != account_id:
            raise NotYourDecision("only the applicant reports the use of its grant")
        if not app.grants:
            raise WrongStage(f"application {app_id} holds no grant to report on")
        self.db.run("INSERT INTO application_reports (application, at, text) VALUES (:app, :at, :text)",
                    {"app": app_id, "at": _stamp(now), "text": _text(report, "report")})
        return self.get(app_id)


def _overdue_first(apps: list[Application], today: date) -> list[Application]:
    return sorted(apps, key=lambda a: (not a.overdue(today), a.deadline() or "9999", a.id))


def grant_expiry(period_to: date, approved_on: date, max_days: int) -> date:
    """The last day a grant holds: the period's end, never more than max_days after the approval."""
    return min(period_to, approved_on + timedelta(days=max_days))
