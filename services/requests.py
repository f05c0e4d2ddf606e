"""Error reports (纠错) and data requests (数据需求): filed by the public, answered by a department, in the open.

An error report names a dataset, optionally the field and the row, and what is wrong; it goes to the dataset's
publisher department. A data request says what data is wanted and for what use; it goes to the department the
requester chose, or, when none was chosen (or the dataset's publisher is not one of our departments), it waits for
the data bureau to assign it. From the day it reaches its department, the department has
``requests.error_reply_days`` / ``requests.data_reply_days`` working days to reply (the official calendar with
调休, manage.workdays); a deadline in a year the calendar does not hold stays unknown, with the reason kept, never
guessed. The reply, its time and the working days it took (from the filing to the reply, as the public waited)
are public; a request past its deadline is overdue on the department's dashboard.

Error reports are published with the dataset's RDF as Web Annotation (``annotation_triples``): the report an
``oa:Annotation`` and ``dqv:UserQualityFeedback`` motivated by ``oa:assessing``, the reply an ``oa:Annotation``
motivated by ``oa:replying`` whose target is the report. They are added when the RDF is served, never stored in
the dataset's graph (its digest does not change). The tables live on the data layer's part ``requests``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pyoxigraph as ox
from sqlalchemy import text

from core.database import as_database
from core.errors import BadRequestError, NotFoundError, WodpError
from core.stamps import parse_stamp, stamp, utc_now
from manage.workdays import CalendarRangeError, add_working_days, working_days_between
from ontology.namespaces import DEPARTMENT

BEIJING = timezone(timedelta(hours=8))
ERROR, DATA = "error", "data"
UNASSIGNED, OPEN, REPLIED = "unassigned", "open", "replied"
MAX_SHORT = 200
OA = "http://www.w3.org/ns/oa#"
DQV = "http://www.w3.org/ns/dqv#"
DCT = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

_COLUMNS = ("id", "kind", "account_id", "dataset", "dataset_title", "field", "row_ref", "title", "body",
            "department", "routed_by", "status", "filed", "received", "assigned_by", "deadline", "deadline_note",
            "reply", "replied", "replied_by", "reply_days", "reply_note")


class AlreadyReplied(WodpError):
    """409: a request is answered once."""

    status = 409
    code = "already-replied"


def beijing_day(when: datetime) -> date:
    return when.astimezone(BEIJING).date()


@dataclass(frozen=True)
class Request:
    id: int
    kind: str                     # error (纠错) or data (数据需求)
    account_id: str
    dataset: str | None           # the dataset's id (an error report always names one)
    dataset_title: str | None
    field: str | None             # error report: the field, and the row, as the user wrote them
    row_ref: str | None
    title: str | None             # data request: what data is wanted
    body: str                     # error report: what is wrong; data request: for what use
    department: str | None        # None: waiting for the data bureau to assign it
    routed_by: str                # publisher (the dataset's), requester (chosen), bureau (assigned)
    status: str                   # unassigned, open, replied
    filed: str
    received: str | None          # when it reached its department (the deadline counts from that day)
    assigned_by: str | None
    deadline: str | None          # the last day (Beijing) for the reply; None: unassigned, or unknown (note)
    deadline_note: str | None
    reply: str | None
    replied: str | None
    replied_by: str | None
    reply_days: int | None        # working days from the filing to the reply; None: unknown (reply_note)
    reply_note: str | None

    def filed_local(self) -> str:
        """The filing time in Beijing, to the minute (as the public reads it)."""
        return _local(self.filed)

    def replied_local(self) -> str:
        return _local(self.replied)

    def overdue(self, today: date) -> bool:
        """Tell whether the department's deadline has passed without a reply."""
        return self.status == OPEN and self.deadline is not None and today > date.fromisoformat(self.deadline)

    def late_reply(self) -> bool:
        """Tell whether the reply came after the deadline."""
        return (self.replied is not None and self.deadline is not None
                and beijing_day(parse_stamp(self.replied)) > date.fromisoformat(self.deadline))


def _local(stamped: str | None) -> str:
    return parse_stamp(stamped).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if stamped else ""


def _text(value: str | None, name: str, limit: int, required: bool = True) -> str | None:
    value = (value or "").strip()
    if required and not value:
        raise BadRequestError(f"{name} is required")
    if len(value) > limit:
        raise BadRequestError(f"{name} has at most {limit} characters, this one {len(value)}")
    return value or None


def _deadline(start: datetime, days: int) -> tuple[str | None, str | None]:
    try:
        return add_working_days(beijing_day(start), days).isoformat(), None
    except CalendarRangeError as exc:
        return None, exc.message


class Requests:
    """The part ``requests`` of the data layer: error reports and data requests, routed, replied, timed."""

    def __init__(self, where, settings) -> None:
        self.db = as_database(where, "requests")
        self.settings = settings

    def close(self) -> None:
        self.db.close()

    def days_for(self, kind: str) -> int:
        return self.settings.error_reply_days if kind == ERROR else self.settings.data_reply_days

    # -- filing ---------------------------------------------------------------------------------------------
    def report_error(self, account_id: str, dataset: str, dataset_title: str | None, department: str | None, *,
                     what: str, field: str | None = None, row: str | None = None,
                     now: datetime | None = None) -> Request:
        """File an error report on a dataset; it goes to the dataset's publisher department (None: the bureau's)."""
        if not dataset:
            raise BadRequestError("an error report names its dataset")
        return self._file(ERROR, account_id, dataset=dataset, dataset_title=dataset_title,
                          field=_text(field, "field", MAX_SHORT, required=False),
                          row_ref=_text(row, "row", MAX_SHORT, required=False), title=None,
                          body=_text(what, "what is wrong", self.settings.max_chars),
                          department=department, routed_by="publisher", now=now)

    def request_data(self, account_id: str, *, wanted: str, use: str, department: str | None = None,
                     now: datetime | None = None) -> Request:
        """File a data request: what data, for what use, to a chosen department (None: the bureau assigns it)."""
        return self._file(DATA, account_id, dataset=None, dataset_title=None, field=None, row_ref=None,
                          title=_text(wanted, "the data wanted", MAX_SHORT),
                          body=_text(use, "its use", self.settings.max_chars),
                          department=department, routed_by="requester", now=now)

    def _file(self, kind: str, account_id: str, *, department: str | None, routed_by: str,
              now: datetime | None, **values) -> Request:
        now = now or utc_now()
        deadline, note = _deadline(now, self.days_for(kind)) if department else (None, None)
        params = {**values, "kind": kind, "account": account_id, "department": department,
                  "routed_by": routed_by if department else "bureau", "status": OPEN if department else UNASSIGNED,
                  "filed": stamp(now), "received": stamp(now) if department else None,
                  "deadline": deadline, "note": note}
        with self.db.write() as conn:
            row = conn.execute(text(
                "INSERT INTO requests (kind, account_id, dataset, dataset_title, field, row_ref, title, body, "
                "department, routed_by, status, filed, received, deadline, deadline_note) VALUES (:kind, :account, "
                ":dataset, :dataset_title, :field, :row_ref, :title, :body, :department, :routed_by, :status, "
                ":filed, :received, :deadline, :note) RETURNING id"), params).fetchall()
        return self.get(int(row[0][0]))

    # -- reading --------------------------------------------------------------------------------------------
    def get(self, request_id: int) -> Request:
        rows = self.db.rows(f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE id = :id", {"id": request_id})
        if not rows:
            raise NotFoundError(f"no request {request_id}")
        return Request(*rows[0])

    def _list(self, where: str = "", params: dict | None = None, limit: int = 200) -> list[Request]:
        rows = self.db.rows(f"SELECT {', '.join(_COLUMNS)} FROM requests {where} ORDER BY id DESC LIMIT :limit",
                            {**(params or {}), "limit": limit})
        return [Request(*r) for r in rows]

    # A request's text is made public with its department's reply: until a department has read and answered it,
    # what anybody typed is seen only by its author and the staff who handle it (as comments wait for moderation).
    def public(self, kind: str | None = None, limit: int = 200) -> list[Request]:
        """The replied requests (of a kind), newest first: what the public 数据需求 page lists."""
        where, params = "WHERE status = :s", {"s": REPLIED}
        if kind:
            where, params["k"] = where + " AND kind = :k", kind
        return self._list(where, params, limit)

    def count(self, kind: str, replied: bool = True) -> int:
        """How many requests of a kind are replied (public), or waiting for their reply (replied=False)."""
        op = "=" if replied else "<>"
        return int(self.db.rows(f"SELECT COUNT(*) FROM requests WHERE kind = :k AND status {op} :s",
                                {"k": kind, "s": REPLIED})[0][0])

    def of_dataset(self, dataset: str) -> list[Request]:
        """The replied error reports on a dataset, newest first (the public's, and its RDF's)."""
        return self._list("WHERE kind = :k AND dataset = :d AND status = :s", {"k": ERROR, "d": dataset, "s": REPLIED})

    def waiting_on_dataset(self, dataset: str) -> int:
        """How many error reports on a dataset wait for their reply (counted on its page, not shown)."""
        return int(self.db.rows("SELECT COUNT(*) FROM requests WHERE kind = :k AND dataset = :d AND status <> :s",
                                {"k": ERROR, "d": dataset, "s": REPLIED})[0][0])

    def of_account(self, account_id: str) -> list[Request]:
        return self._list("WHERE account_id = :a", {"a": account_id})

    def department_queue(self, department: str, today: date | None = None) -> list[Request]:
        """The department's requests waiting for its reply: overdue first, then by deadline."""
        found = self._list("WHERE department = :d AND status = :s", {"d": department, "s": OPEN}, limit=1000)
        return overdue_first(found, today or beijing_day(utc_now()))

    def bureau_queue(self, today: date | None = None) -> list[Request]:
        """Every request waiting (to be assigned, or for a reply): unassigned first, then overdue, by deadline."""
        found = self._list("WHERE status <> :s", {"s": REPLIED}, limit=1000)
        return overdue_first(found, today or beijing_day(utc_now()))

    def answered(self, department: str | None = None, limit: int = 50) -> list[Request]:
        if department:
            return self._list("WHERE status = :s AND department = :d", {"s": REPLIED, "d": department}, limit)
        return self._list("WHERE status = :s", {"s": REPLIED}, limit)

    def version(self, dataset: str) -> str:
        """A short tag that changes with the dataset's error reports and replies (for ETags)."""
        row = self.db.rows("SELECT COUNT(*), MAX(id), MAX(replied), COUNT(replied) FROM requests "
                           "WHERE kind = :k AND dataset = :d", {"k": ERROR, "d": dataset})[0]
        return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()[:16]

    # -- the bureau and the department ----------------------------------------------------------------------
    def assign(self, request_id: int, department: str, actor: str, now: datetime | None = None) -> Request:
        """Send a request waiting for a department (or not yet replied) to a department; its deadline starts anew."""
        now = now or utc_now()
        department = (department or "").strip().upper()
        if not department:
            raise BadRequestError("name the department the request goes to")
        before = self.get(request_id)
        if before.status == REPLIED:
            raise AlreadyReplied(f"request {request_id} was already replied to")
        deadline, note = _deadline(now, self.days_for(before.kind))
        with self.db.write() as conn:
            done = conn.execute(text(
                "UPDATE requests SET department = :d, routed_by = 'bureau', status = :open, received = :at, "
                "assigned_by = :by, deadline = :deadline, deadline_note = :note WHERE id = :id AND status <> :replied"),
                {"d": department, "open": OPEN, "at": stamp(now), "by": actor, "deadline": deadline, "note": note,
                 "id": request_id, "replied": REPLIED}).rowcount
        if not done:
            raise AlreadyReplied(f"request {request_id} was already replied to")
        return self.get(request_id)

    def answer(self, request_id: int, department: str, actor: str, reply: str,
               now: datetime | None = None) -> Request:
        """Record the department's reply and the working days it took from the filing (once)."""
        now = now or utc_now()
        reply = _text(reply, "the reply", self.settings.max_chars)
        before = self.get(request_id)
        if before.status == REPLIED:
            raise AlreadyReplied(f"request {request_id} was already replied to")
        if before.department != department:
            raise NotFoundError(f"request {request_id} is not with department {department}")
        try:
            days, note = working_days_between(beijing_day(parse_stamp(before.filed)), beijing_day(now)), None
        except CalendarRangeError as exc:
            days, note = None, exc.message
        with self.db.write() as conn:
            done = conn.execute(text(
                "UPDATE requests SET status = :replied, reply = :reply, replied = :at, replied_by = :by, "
                "reply_days = :days, reply_note = :note WHERE id = :id AND status = :open AND department = :d"),
                {"replied": REPLIED, "reply": reply, "at": stamp(now), "by": actor, "days": days, "note": note,
                 "id": request_id, "open": OPEN, "d": department}).rowcount
        if not done:
            raise AlreadyReplied(f"request {request_id} was already replied to")
        return self.get(request_id)

    # -- publication ----------------------------------------------------------------------------------------
    def annotation_triples(self, dataset: str, dataset_uri: str) -> list[ox.Triple]:
        """Return the dataset's error reports and their replies as Web Annotation (W3C OA, DQV §6.10)."""
        target = ox.NamedNode(dataset_uri)
        out: list[ox.Triple] = []

        def node(suffix: str) -> ox.NamedNode:
            return ox.NamedNode(f"{dataset_uri}/feedback/{suffix}")

        def annotation(subject: ox.NamedNode, motivation: str, about: ox.NamedNode, created: str) -> None:
            out.extend([
                ox.Triple(subject, ox.NamedNode(RDF + "type"), ox.NamedNode(OA + "Annotation")),
                ox.Triple(subject, ox.NamedNode(OA + "motivatedBy"), ox.NamedNode(OA + motivation)),
                ox.Triple(subject, ox.NamedNode(OA + "hasTarget"), about),
                ox.Triple(subject, ox.NamedNode(DCT + "created"),
                          ox.Literal(created, datatype=ox.NamedNode(XSD + "dateTime"))),
            ])

        def body(subject: ox.NamedNode, name: str, value: str, purpose: str | None = None) -> None:
            b = node(name)
            out.extend([
                ox.Triple(subject, ox.NamedNode(OA + "hasBody"), b),
                ox.Triple(b, ox.NamedNode(RDF + "type"), ox.NamedNode(OA + "TextualBody")),
                ox.Triple(b, ox.NamedNode(RDF + "value"), ox.Literal(value)),
                ox.Triple(b, ox.NamedNode(DCT + "format"), ox.Literal("text/plain")),
            ])
            if purpose:
                out.append(ox.Triple(b, ox.NamedNode(OA + "hasPurpose"), ox.NamedNode(OA + purpose)))

        for r in reversed(self.of_dataset(dataset)):
            report = node(f"error-{r.id}")
            annotation(report, "assessing", target, r.filed)
            out += [ox.Triple(target, ox.NamedNode(DQV + "hasQualityAnnotation"), report),
                    ox.Triple(report, ox.NamedNode(RDF + "type"), ox.NamedNode(DQV + "UserQualityFeedback"))]
            body(report, f"error-{r.id}/body", r.body, "assessing")
            where = "；".join(p for p in (f"字段 field: {r.field}" if r.field else None,
                                         f"行 row: {r.row_ref}" if r.row_ref else None) if p)
            if where:
                body(report, f"error-{r.id}/where", where, "describing")
            if r.status == REPLIED and r.reply:
                reply = node(f"error-{r.id}/reply")
                annotation(reply, "replying", report, r.replied)
                body(reply, f"error-{r.id}/reply/body", r.reply, "replying")
                if r.department:
                    out.append(ox.Triple(reply, ox.NamedNode(DCT + "creator"),
                                         ox.NamedNode(DEPARTMENT.base + r.department)))
        return out


def overdue_first(found: list[Request], today: date) -> list[Request]:
    """Order waiting requests: unassigned ones, then overdue, then by deadline (unknown last), oldest first."""
    return sorted(found, key=lambda r: (r.status != UNASSIGNED, not r.overdue(today), r.deadline or "9999", r.id))
