"""Check, submit, review and publish submissions: the workbench's rules over the store and the publication gate.

A draft is checked as the gate will check it: its china-core record is mapped (manage/drafts.py) and validated
against the gate's profile; the findings are kept with the draft and placed beside their fields. A draft with a
violation cannot be submitted. ``review.mode`` says which submissions wait for a reviewer: none, new datasets,
every change; the others, and approved ones, are published through the same ``Publisher`` the push API uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from core.errors import WodpError
from manage import drafts
from manage.profile_form import FILES, field_by_name
from manage.submissions import PUBLISHED, Submission, SubmissionStore
from publish.gate import department_of, report_to_json

SOURCE = "push-workbench"  # a department channel (precedence: push), named apart in the ledger's history
CHINA = ZoneInfo("Asia/Shanghai")


class SubmissionInvalidError(WodpError):
    """A draft with violations cannot be submitted, nor a submission the gate held back be approved."""

    status = 422
    code = "validation-failed"

    def __init__(self, message: str, checked: "Checked") -> None:
        super().__init__(message)
        self.checked = checked


@dataclass
class Checked:
    """A draft's dataset graph and what validation found, placed beside the form's fields."""

    uri: str | None
    triples: list
    report: dict
    placed: dict = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return sum(f.get("severity") == "Violation" for items in self.placed.values() for f in items)


def _own(where: str, zh: str, en: str, severity: str = "Violation") -> tuple[str, dict]:
    return where, {"severity": severity, "message_zh": zh, "message_en": en}


class Workbench:
    """The rules of 数据报送 and 审核 over a SubmissionStore and the platform's Publisher."""

    def __init__(self, store: SubmissionStore, publisher, base_uri: str, *, mode: str = "new",
                 overdue_days: int = 5, owner_rule=None, attribute=None) -> None:
        self.store, self.publisher, self.base_uri = store, publisher, base_uri.rstrip("/")
        self.mode, self.overdue_days = mode, overdue_days
        self.owner_rule = owner_rule  # (department, dataset_id) -> None when allowed, else why not
        self.attribute = attribute  # (uri, triples, account id) -> triples with prov:wasAttributedTo the account

    # -- the dataset a draft makes -----------------------------------------------------------------------
    def dataset_uri(self, dataset_id: str) -> str:
        return f"{self.base_uri}/datasets/{dataset_id}"

    def file_url(self, dataset_id: str, stored) -> str:
        """Where a published data file is downloaded: by dataset, the start of its sha256 and its name (a
        changed file has a new URL, so the gate reads it again)."""
        return f"{self.base_uri}/files/submitted/{dataset_id}/{stored.sha256[:16]}/{quote(stored.name)}"

    def attached(self, sub: Submission, dataset_id: str | None) -> list[drafts.AttachedFile]:
        return [drafts.AttachedFile(f.name, f.media_type, f.size, f.crs, self.file_url(dataset_id or "-", f))
                for f in self.store.files(sub.id)]

    def published_graph(self, dataset_id: str | None) -> list:
        return list(self.publisher.store.dataset_triples(self.dataset_uri(dataset_id))) if dataset_id else []

    def check(self, sub: Submission) -> Checked:
        """Map and validate a draft; keep the report with it; return it with the findings placed."""
        dataset_id = sub.dataset_id if sub.kind == "change" else drafts.dataset_id_of(sub.values)
        uri, triples, problems = drafts.graph_of(sub.values, self.attached(sub, dataset_id), self.base_uri)
        findings = []
        if triples:
            report = self.publisher.validator.validate(triples, profile=self.publisher.profile)
            findings = report_to_json(report)["findings"]
        own = self._own_checks(sub, dataset_id, uri, triples)
        report = {"findings": findings, "problems": [p.__dict__ for p in problems],
                  "own": [{"field": w} | f for w, f in own]}
        placed = drafts.place(findings, report["problems"], uri)
        for where, finding in own:
            placed.setdefault(where, []).insert(0, finding)
        report["violations"] = sum(f.get("severity") == "Violation" for items in placed.values() for f in items)
        report["warnings"] = sum(f.get("severity") == "Warning" for items in placed.values() for f in items)
        self.store.save_report(sub.id, report)
        return Checked(uri, triples, report, placed)

    def _own_checks(self, sub: Submission, dataset_id: str | None, uri: str | None, triples) -> list:
        out = []
        if not dataset_id:
            out.append(_own("resource_code", "缺少资源代码：数据集的标识由它生成（wuhan.资源代码）。",
                            "The resource code is missing: the dataset's identifier is made from it."))
            return out
        if uri is not None and uri != self.dataset_uri(dataset_id):
            out.append(_own("resource_code", f"资源代码不能改变：本次报送修改的是数据集 {dataset_id}。",
                            f"The resource code cannot change: this submission changes dataset {dataset_id}."))
        named = department_of(uri, triples) if uri else None
        if uri and named != sub.department:
            out.append(_own("publisher", f"资源提供方必须是本部门（{sub.department}）。",
                            f"The publisher must be this department ({sub.department})."))
        if self.owner_rule is not None and sub.kind == "new":
            refused = self.owner_rule(sub.department, dataset_id)
            if refused:
                out.append(_own("resource_code", f"资源代码须含本部门代码（如 420100-{sub.department}-…）：{refused}",
                                refused))
        published = self.publisher.store.record_modified(self.dataset_uri(dataset_id)) is not None
        if sub.kind == "new" and sub.status != PUBLISHED and published:
            out.append(_own("resource_code", f"数据集 {dataset_id} 已发布：请在工作台打开它并报送变更。",
                            f"Dataset {dataset_id} is published already: open it and submit a change."))
        systems = {f.crs for f in self.store.files(sub.id) if f.crs}
        if len(systems) > 1:
            out.append(_own(FILES, f"数据文件声明了不同的坐标系（{'、'.join(sorted(systems))}）：一个数据集只有一个源坐标系。",
                            f"The data files declare different coordinate systems ({', '.join(sorted(systems))}); "
                            "a dataset has one source coordinate system."))
        return out

    # -- the steps ---------------------------------------------------------------------------------------
    def needs_review(self, sub: Submission) -> bool:
        return self.mode == "every-change" or (self.mode == "new" and sub.kind == "new")

    def submit(self, sub: Submission, actor: str | None, role: str | None) -> tuple[Submission, Checked]:
        """Submit a draft without violations: to the queue, or (no review needed) published at once."""
        self.store.allowed(sub, "submit")
        checked = self.check(sub)
        if checked.violations:
            raise SubmissionInvalidError(f"submission {sub.id} has {checked.violations} violations: fix them "
                                         "before submitting", checked)
        sub = self.store.step(sub.id, "submit", actor, role, detail={"review": self.needs_review(sub)})
        if not self.needs_review(sub):
            sub = self._publish(sub, checked, actor, role)
        return sub, checked

    def approve(self, sub: Submission, actor: str | None, role: str | None) -> tuple[Submission, Checked]:
        """Approve a submission and publish it through the gate; one the gate holds back stays in the queue."""
        self.store.allowed(sub, "approve")
        checked = self.check(sub)
        if checked.violations:
            raise SubmissionInvalidError(f"submission {sub.id} no longer validates: return it with the report",
                                         checked)
        sub = self.store.step(sub.id, "approve", actor, role)
        return self._publish(sub, checked, actor, role), checked

    def send_back(self, sub: Submission, actor: str | None, role: str | None, reason: str) -> Submission:
        return self.store.step(sub.id, "return", actor, role, reason=reason)

    def withdraw(self, sub: Submission, actor: str | None, role: str | None) -> Submission:
        return self.store.step(sub.id, "withdraw", actor, role)

    def _publish(self, sub: Submission, checked: Checked, actor, role) -> Submission:
        triples = checked.triples
        if self.attribute is not None and sub.created_by:  # the dataset's history names who reported the change
            triples = self.attribute(checked.uri, triples, sub.created_by)
        outcome = self.publisher.publish({checked.uri: triples}, SOURCE)
        if checked.uri in outcome.published:
            return self.store.step(sub.id, "publish", actor, role, detail={"uri": checked.uri})
        reports = {uri: report_to_json(r) for uri, r in outcome.held.items()}
        held = reports.get(checked.uri)
        checked.report["gate"] = held or {"superseded": list(outcome.superseded)}
        if held:
            placed = drafts.place(held["findings"], [], checked.uri)
            checked.placed = placed
        raise SubmissionInvalidError(f"the publication gate held dataset {checked.uri} back: it stays in review",
                                     checked)

    def start_change(self, dataset_id: str, department: str, actor: str | None, role: str | None) -> Submission:
        """Open a change of a published dataset, its form filled from the published graph."""
        uri = self.dataset_uri(dataset_id)
        triples = self.published_graph(dataset_id)
        values = drafts.values_of(uri, triples)
        sub = self.store.create(department, actor, role, dataset_id=dataset_id, values=values)
        latest = self.store.latest_published(dataset_id)
        if latest is not None:  # its data files go on unless the department removes them
            self.store.copy_files(latest, sub.id, actor, role)
        return sub

    def dropped(self, sub: Submission, lang: str = "zh") -> list[str]:
        """Return what a change would remove from the published dataset that the form does not carry: fields
        left empty, data files (distributions) the draft does not have."""
        published = self.published_graph(sub.dataset_id)
        if sub.kind != "change" or not published:
            return []
        uri = self.dataset_uri(sub.dataset_id)
        out = [f.label(lang) for f in drafts.uncarried(uri, published, sub.values)]
        checked = self.check(sub)
        before = drafts.shown_values(uri, published, lang).get(FILES, [])
        after = drafts.shown_values(checked.uri, checked.triples, lang).get(FILES, []) if checked.uri else []
        return out + [entry for entry in before if entry not in after]

    # -- the reviewer's view -----------------------------------------------------------------------------
    def diff(self, sub: Submission, lang: str = "zh") -> list[dict]:
        """Field by field, what the submission changes in what is published (for a new dataset, all is new)."""
        checked = self.check(sub)
        dataset_id = sub.dataset_id or drafts.dataset_id_of(sub.values)
        published = self.published_graph(dataset_id) if sub.status != PUBLISHED else []
        old = drafts.shown_values(self.dataset_uri(dataset_id), published, lang) if published else {}
        new = drafts.shown_values(checked.uri, checked.triples, lang)
        labels = field_by_name()
        rows = drafts.diff(old, new)
        for row in rows:
            f = labels.get(row["field"])
            row["label"] = f.label(lang) if f else ("数据文件" if lang != "en" else "Data files")
        return rows

    def waiting(self, sub: Submission, today: date | None = None) -> int:
        """Return the working days a submission has waited in the queue (manage.workdays)."""
        from manage.workdays import working_days_between

        start = datetime.fromisoformat(sub.submitted).astimezone(CHINA).date()
        return working_days_between(start, today or datetime.now(CHINA).date())

    def queue(self, today: date | None = None) -> list[dict]:
        """Return the queue, oldest first, each with its working days waited and whether it is overdue.

        Where the official calendar does not cover a day counted (a year neither chinese-calendar nor the holiday
        supplement holds), the days are unknown (None, with ``calendar_unknown`` naming the year), never guessed.
        """
        from manage.workdays import CalendarRangeError

        items = []
        for sub in self.store.queue():
            try:
                days = self.waiting(sub, today)
            except CalendarRangeError as exc:
                items.append({"submission": sub, "days": None, "overdue": False, "calendar_unknown": exc.year})
                continue
            items.append({"submission": sub, "days": days, "overdue": days > self.overdue_days,
                          "calendar_unknown": None})
        return items


__all__ = ["Checked", "SOURCE", "SubmissionInvalidError", "Workbench"]
