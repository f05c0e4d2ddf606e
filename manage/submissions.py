"""Keep departments' submissions (数据报送): drafts of datasets, their data files and each step of their review.

A submission is one department's draft of a dataset: a new one, or a change of a published one. Its life:
draft → submitted (in the reviewers' queue) → returned (with a reason; edited and submitted again) or
approved and published; a draft, a submitted or a returned one may be withdrawn. Every step is an event with who
and when. Data files are kept under WODP_HOME (``review.files_dir``, its owner's only) by submission, with their
sha256, size, media type and declared coordinate system; never under a name the department chose.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

from core.errors import BadRequestError, NotFoundError, WodpError
from core.private import private_dir

DRAFT, SUBMITTED, RETURNED, PUBLISHED, WITHDRAWN = "draft", "submitted", "returned", "published", "withdrawn"
EDITABLE = (DRAFT, RETURNED)
# status → the statuses a step may start from
STEPS = {"submit": EDITABLE, "withdraw": (DRAFT, SUBMITTED, RETURNED), "return": (SUBMITTED,),
         "approve": (SUBMITTED,), "publish": (DRAFT, RETURNED, SUBMITTED),
         "withdraw-published": (PUBLISHED,)}  # its dataset withdrawn (workbench, push API): 已撤回
STATUS_TEXT = {DRAFT: ("草稿", "draft"), SUBMITTED: ("待审核", "in review"), RETURNED: ("已退回", "returned"),
               PUBLISHED: ("已发布", "published"), WITHDRAWN: ("已撤回", "withdrawn")}


class ConflictError(WodpError):
    """A step that the submission's status does not allow (submitting a published one, ...)."""

    status = 409
    code = "conflict"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Submission:
    id: str
    department: str
    dataset_id: str | None   # the published dataset a change is about; a new one's id once it has a code
    kind: str                # new, change
    status: str
    values: dict
    report: dict | None
    created: str
    created_by: str | None
    updated: str
    submitted: str | None
    decided: str | None
    decided_by: str | None
    reason: str | None

    def status_text(self, lang: str = "zh") -> str:
        zh, en = STATUS_TEXT.get(self.status, (self.status, self.status))
        return en if lang == "en" else zh


@dataclass(frozen=True)
class SubmittedFile:
    id: str
    submission: str
    name: str
    sha256: str
    size: int
    media_type: str
    crs: str | None
    rows: int | None
    added: str
    added_by: str | None


@dataclass(frozen=True)
class Event:
    at: str
    actor: str | None
    role: str | None
    action: str
    detail: dict = field(default_factory=dict)


_COLUMNS = ("id, department, dataset_id, kind, status, fields, report, created, created_by, updated, submitted, "
            "decided, decided_by, reason")


def _submission(row) -> Submission:
    values = list(row)
    values[5] = json.loads(values[5] or "{}")
    values[6] = json.loads(values[6]) if values[6] else None
    return Submission(*values)


class SubmissionStore:
    """The submissions part of the data layer, and the directory of their data files."""

    def __init__(self, db, files_root: Path, max_file_bytes: int = 50 * 1024 * 1024) -> None:
        self.db = db
        self.files_root = Path(files_root)
        self.max_file_bytes = max_file_bytes

    @classmethod
    def open(cls, settings) -> "SubmissionStore":
        """Open the part as the settings say: WODP_HOME/submissions.sqlite (0600) or the shared database."""
        from core.database import open_part
        from core.private import private_sqlite

        path = settings.home / "submissions.sqlite"
        if not settings.database.url:
            private_dir(settings.home)
            private_sqlite(path)  # drafts are their department's until published: the file is the owner's only
        return cls(open_part(settings.database, "submissions", path), settings.path(settings.review.files_dir),
                   settings.review.max_file_bytes)

    def close(self) -> None:
        self.db.close()

    # -- reading -----------------------------------------------------------------------------------------
    def get(self, submission_id: str) -> Submission:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM submissions WHERE id = :id", {"id": submission_id})
        if not rows:
            raise NotFoundError(f"no submission {submission_id!r}")
        return _submission(rows[0])

    def of_department(self, department: str) -> list[Submission]:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM submissions WHERE department = :d ORDER BY updated DESC, id",
                            {"d": department})
        return [_submission(r) for r in rows]

    def queue(self) -> list[Submission]:
        """Return the submissions waiting for review, the oldest first."""
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM submissions WHERE status = :s ORDER BY submitted, "
                            "(SELECT MAX(n) FROM submission_events e WHERE e.submission = submissions.id "
                            "AND e.action = 'submit')", {"s": SUBMITTED})
        return [_submission(r) for r in rows]

    def open_for(self, dataset_id: str) -> list[Submission]:
        """Return the submissions about a dataset that are not yet published or withdrawn."""
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM submissions WHERE dataset_id = :d AND status IN "
                            "('draft', 'submitted', 'returned') ORDER BY created", {"d": dataset_id})
        return [_submission(r) for r in rows]

    def events(self, submission_id: str) -> list[Event]:
        rows = self.db.rows("SELECT at, actor, role, action, detail FROM submission_events WHERE submission = :s "
                            "ORDER BY n", {"s": submission_id})
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]

    # -- writing -----------------------------------------------------------------------------------------
    def _event(self, conn, submission_id: str, actor, role, action: str, detail: dict | None = None) -> None:
        conn.execute(text("INSERT INTO submission_events (submission, at, actor, role, action, detail) "
                          "VALUES (:s, :at, :actor, :role, :action, :detail)"),
                     {"s": submission_id, "at": now(), "actor": actor, "role": role, "action": action,
                      "detail": json.dumps(detail or {}, ensure_ascii=False)})

    def create(self, department: str, actor: str | None, role: str | None = None, *, dataset_id: str | None = None,
               values: dict | None = None) -> Submission:
        """Start a draft: of a new dataset, or (dataset_id) a change of a published one, from its values."""
        submission_id = secrets.token_hex(6)
        stamp = now()
        with self.db.write() as conn:
            conn.execute(text(f"INSERT INTO submissions ({_COLUMNS}) VALUES (:id, :department, :dataset_id, :kind, "
                              ":status, :fields, NULL, :at, :actor, :at, NULL, NULL, NULL, NULL)"),
                         {"id": submission_id, "department": department, "dataset_id": dataset_id,
                          "kind": "change" if dataset_id else "new", "status": DRAFT,
                          "fields": json.dumps(values or {}, ensure_ascii=False), "at": stamp, "actor": actor})
            self._event(conn, submission_id, actor, role, "create", {"dataset_id": dataset_id})
        return self.get(submission_id)

    def update(self, submission_id: str, values: dict, actor: str | None, role: str | None = None, *,
               dataset_id: str | None = None) -> Submission:
        """Save a draft's values (only while it is a draft or returned)."""
        current = self._editable(submission_id, "edit")
        with self.db.write() as conn:
            conn.execute(text("UPDATE submissions SET fields = :f, updated = :at, dataset_id = :d WHERE id = :id"),
                         {"f": json.dumps(values, ensure_ascii=False), "at": now(), "id": submission_id,
                          "d": current.dataset_id if current.kind == "change" else dataset_id})
            self._event(conn, submission_id, actor, role, "edit", {"fields": sorted(values)})
        return self.get(submission_id)

    def save_report(self, submission_id: str, report: dict) -> None:
        self.db.run("UPDATE submissions SET report = :r WHERE id = :id",
                    {"r": json.dumps(report, ensure_ascii=False), "id": submission_id})

    def _editable(self, submission_id: str, doing: str) -> Submission:
        current = self.get(submission_id)
        if current.status not in EDITABLE:
            raise ConflictError(f"submission {submission_id} is {current.status}: only a draft or a returned "
                                f"submission can be changed ({doing})")
        return current

    @staticmethod
    def allowed(current: Submission, step: str) -> Submission:
        """Return the submission when its status allows the step, else raise ConflictError."""
        if current.status not in STEPS[step]:
            raise ConflictError(f"submission {current.id} is {current.status}; it cannot be {step}ed now")
        return current

    def step(self, submission_id: str, step: str, actor: str | None, role: str | None = None, *,
             reason: str | None = None, detail: dict | None = None) -> Submission:
        """Move a submission on: submit, withdraw, return (reason required), approve, publish."""
        current = self.allowed(self.get(submission_id), step)
        if step == "return" and not (reason or "").strip():
            raise BadRequestError("a returned submission needs a reason (退回原因)", code="reason-required")
        stamp = now()
        status = {"submit": SUBMITTED, "withdraw": WITHDRAWN, "return": RETURNED, "approve": SUBMITTED,
                  "publish": PUBLISHED, "withdraw-published": WITHDRAWN}[step]
        sets = {"status": status, "updated": stamp}
        if step == "submit":
            sets |= {"submitted": stamp, "decided": None, "decided_by": None}
        if step in ("return", "approve"):
            sets |= {"decided": stamp, "decided_by": actor, "reason": (reason or "").strip() or None}
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        with self.db.write() as conn:
            conn.execute(text(f"UPDATE submissions SET {assignments} WHERE id = :id AND status = :was"),
                         sets | {"id": submission_id, "was": current.status})
            self._event(conn, submission_id, actor, role, step,
                        (detail or {}) | ({"reason": reason.strip()} if reason else {}))
        return self.get(submission_id)

    def withdraw_published(self, dataset_id: str, actor: str | None, role: str | None = None, *,
                           reason: str | None = None, detail: dict | None = None) -> list[Submission]:
        """Mark the published submissions of a dataset just withdrawn as withdrawn (who and when in the history)."""
        rows = self.db.rows("SELECT id FROM submissions WHERE dataset_id = :d AND status = :s ORDER BY updated, id",
                            {"d": dataset_id, "s": PUBLISHED})
        return [self.step(r[0], "withdraw-published", actor, role, reason=reason, detail=detail) for r in rows]

    # -- data files --------------------------------------------------------------------------------------
    def files(self, submission_id: str) -> list[SubmittedFile]:
        rows = self.db.rows("SELECT id, submission, name, sha256, size, media_type, crs, rows, added, added_by "
                            "FROM submission_files WHERE submission = :s ORDER BY added, name", {"s": submission_id})
        return [SubmittedFile(*r) for r in rows]

    def attach(self, submission_id: str, name: str, data: bytes, media_type: str, crs: str | None,
               rows: int | None, actor: str | None, role: str | None = None) -> SubmittedFile:
        """Keep a data file (read beforehand by the caller); a file of the same name is replaced."""
        self._editable(submission_id, "attach a file")
        if len(data) > self.max_file_bytes:
            raise BadRequestError(f"{name}: {len(data)} bytes; a data file may have at most {self.max_file_bytes}",
                                  status=413, code="payload-too-large")
        file_id = secrets.token_hex(6)
        folder = private_dir(private_dir(self.files_root) / submission_id)
        path = folder / file_id
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        replaced = [f for f in self.files(submission_id) if f.name == name]
        with self.db.write() as conn:
            for old in replaced:
                conn.execute(text("DELETE FROM submission_files WHERE id = :id"), {"id": old.id})
            conn.execute(text("INSERT INTO submission_files (id, submission, name, sha256, size, media_type, crs, "
                              "rows, added, added_by) VALUES (:id, :s, :name, :sha, :size, :media, :crs, :rows, "
                              ":at, :actor)"),
                         {"id": file_id, "s": submission_id, "name": name, "sha": digest, "size": len(data),
                          "media": media_type, "crs": crs, "rows": rows, "at": now(), "actor": actor})
            self._event(conn, submission_id, actor, role, "attach",
                        {"name": name, "sha256": digest, "size": len(data), "crs": crs,
                         "replaced": [f.sha256 for f in replaced]})
        for old in replaced:
            self.path_of(old).unlink(missing_ok=True)
        return next(f for f in self.files(submission_id) if f.id == file_id)

    def detach(self, submission_id: str, file_id: str, actor: str | None, role: str | None = None) -> None:
        self._editable(submission_id, "remove a file")
        found = [f for f in self.files(submission_id) if f.id == file_id]
        if not found:
            raise NotFoundError(f"submission {submission_id} has no file {file_id!r}")
        with self.db.write() as conn:
            conn.execute(text("DELETE FROM submission_files WHERE id = :id"), {"id": file_id})
            self._event(conn, submission_id, actor, role, "detach", {"name": found[0].name,
                                                                      "sha256": found[0].sha256})
        self.path_of(found[0]).unlink(missing_ok=True)

    def path_of(self, stored: SubmittedFile) -> Path:
        return self.files_root / stored.submission / stored.id

    def latest_published(self, dataset_id: str) -> str | None:
        """Return the id of a dataset's latest published submission, None when none was published."""
        rows = self.db.rows("SELECT id FROM submissions WHERE dataset_id = :d AND status = :s "
                            "ORDER BY updated DESC, id LIMIT 1", {"d": dataset_id, "s": PUBLISHED})
        return rows[0][0] if rows else None

    def published_file(self, dataset_id: str, digest: str, name: str) -> SubmittedFile | None:
        """Return a file of a dataset's latest published submission by its digest's start and name (what its
        download URL serves), None when that submission has no such file."""
        latest = self.latest_published(dataset_id)
        return self._match(self.files(latest), digest, name) if latest else None

    def file_of(self, dataset_id: str, digest: str, name: str) -> SubmittedFile | None:
        """Return a file of any submission of a dataset by its digest's start and name (the same bytes in each):
        what the gate reads while it publishes the submission."""
        rows = self.db.rows("SELECT f.id, f.submission, f.name, f.sha256, f.size, f.media_type, f.crs, f.rows, "
                            "f.added, f.added_by FROM submission_files f JOIN submissions s ON s.id = f.submission "
                            "WHERE s.dataset_id = :d AND f.name = :n ORDER BY f.added DESC",
                            {"d": dataset_id, "n": name})
        return self._match([SubmittedFile(*r) for r in rows], digest, name)

    @staticmethod
    def _match(files: list[SubmittedFile], digest: str, name: str) -> SubmittedFile | None:
        if len(digest) < 16:
            return None
        return next((f for f in files if f.name == name and f.sha256.startswith(digest)), None)

    def copy_files(self, source_id: str, target_id: str, actor: str | None, role: str | None = None) -> int:
        """Give a draft the data files of another submission (a change starts with the published files)."""
        copied = 0
        for f in self.files(source_id):
            self.attach(target_id, f.name, self.path_of(f).read_bytes(), f.media_type, f.crs, f.rows, actor, role)
            copied += 1
        return copied
