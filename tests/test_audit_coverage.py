"""Every action of the policy table leaves its entry in the audit log, performed as users perform it.

Each step goes through the real route (or, for settings, a restart with a changed setting) and must add exactly
the entries named here — who, their role, the action and the target — nothing more, nothing less; afterwards
``wodp audit verify`` finds the chain whole. A new Action in access.roles without a step here fails the test.
Reading the management pages (read-management) is the one action that changes nothing: it is shown to leave no
entry (the log holds changes and security events, GB/T 22239 8.1.4.3), so a read never floods it.
The command line's changes (each `wodp` command that changes something, with and without `--as`) are performed
the same way in tests/test_cli_access.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from access.roles import Action
from harvest_fixtures.fake_sources import FakeCkan, FakeSource, ckan_package
from tests.conftest import csrf_of, make_account, sign_in_as
from tests.workbench_support import CSV, VALUES, form_data, submission_id

DATASET_ID = "wuhan.420100-D017-08001"
ROOT = Path(__file__).resolve().parents[1]


def open_platform(home: Path, **extra):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    overrides = {"rate_limits": {"enabled": False}, "review": {"mode": "new"}, "csw": {"enabled": False},
                 "sparql": {"timeout_s": 10.0}} | extra
    settings = load_settings({}, overrides=overrides, home=home)
    platform = Platform.open(settings, start_workers=True)
    install(platform.store, settings)
    return platform


class Log:
    """The audit log as a test reads it: what each step added."""

    def __init__(self, platform) -> None:
        self.log = platform.audit
        self.seen = self.log.count()

    def added(self) -> list[tuple]:
        new = [(e.action, e.target, e.actor, e.role) for e in self.log.entries() if e.seq > self.seen]
        self.seen = self.log.count()
        return new

    def skip(self) -> None:
        self.seen = self.log.count()


def _see_other(answer, code=303) -> str:
    assert answer.status_code == code, (answer.status_code, answer.get_data(as_text=True)[:600])
    return answer.headers["Location"]


def test_every_action_of_the_policy_leaves_its_entry(tmp_path, sign_in, staff_token):
    from server.app import create_app

    source = FakeSource()
    FakeCkan(source, [ckan_package(n) for n in range(3)])
    home = tmp_path / "home"
    platform = open_platform(home)
    covered: dict[Action, list[str]] = {}  # each Action → the audit actions its steps left

    def step(action: Action | None, want: list[tuple], got: list[tuple]) -> None:
        assert got == want, (action, got)
        if action is not None:
            covered.setdefault(action, []).extend(w[0] for w in want)

    try:
        app = create_app(platform=platform)
        app.config["TESTING"] = True
        log = Log(platform)

        # signing in, failing to, signing out
        someone = make_account(platform, "reviewer")
        client = app.test_client()
        assert sign_in_as(client, someone.login, "wrong-password-1").status_code == 401
        step(None, [("sign-in.failed", f"account:{someone.id}", None, None)], log.added())
        assert sign_in_as(client, someone.login).status_code == 302
        step(None, [("sign-in.ok", f"account:{someone.id}", someone.id, "reviewer")], log.added())
        token = csrf_of(client.get("/admin/logout").get_data(as_text=True))
        assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
        step(None, [("sign-out", f"account:{someone.id}", someone.id, "reviewer")], log.added())

        publisher, reviewer, admin, auditor = (app.test_client() for _ in range(4))
        pub = sign_in(publisher, "publisher", "D017")
        rev = sign_in(reviewer, "reviewer")
        adm = sign_in(admin, "admin")
        aud = sign_in(auditor, "auditor")
        log.skip()  # four sign-ins, seen above

        # reading the management center changes nothing: each session leaves one entry, at its first read
        for client_, path in ((auditor, "/admin/sources"), (reviewer, "/admin/review"),
                              (publisher, "/admin/department"), (auditor, "/admin/settings")):
            assert client_.get(path).status_code == 200, path
        step(Action.READ_MANAGEMENT, [("management.read", f"account:{aud}", aud, "auditor"),
                                      ("management.read", f"account:{pub}", pub, "publisher")], log.added())
        assert auditor.get("/admin/alerts").status_code == 200  # the same session again: nothing more
        step(None, [], log.added())
        machine = staff_token(platform, "auditor")  # a token: once a day (and process), whatever it reads
        log.skip()
        for path in ("/api/harvest/jobs", "/api/quality", "/api/harvest/jobs"):
            assert app.test_client().get(path, headers={"Authorization": f"Bearer {machine}"}).status_code == 200
        (entry,) = [e for e in platform.audit.entries() if e.seq > log.seen]
        assert (entry.action, entry.role, entry.detail["via"]) == ("management.read", "auditor", "token")
        assert entry.detail["token"] == machine.split(".")[1]
        log.skip()

        # 报送: create, edit (a data file, the form), submit
        sid = submission_id(_see_other(publisher.post("/admin/workbench/new",
                                                      data=form_data(VALUES, publisher.csrf_token))))
        target = f"submission:{sid}"
        step(Action.CREATE, [("submission.create", target, pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{sid}/files", content_type="multipart/form-data",
                                  data={"file": (io.BytesIO(CSV), "stations.csv"), "crs": "GCJ02",
                                        "csrf_token": publisher.csrf_token}))
        step(Action.EDIT, [("submission.attach", target, pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{sid}", data=form_data(VALUES, publisher.csrf_token)))
        step(Action.EDIT, [("submission.edit", target, pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
        step(Action.SUBMIT, [("submission.submit", target, pub, "publisher")], log.added())

        # review: returned with a reason, resubmitted, approved (and so published)
        _see_other(reviewer.post(f"/admin/review/{sid}/return", data={"reason": "请补充数据量",
                                                                       "csrf_token": reviewer.csrf_token}))
        step(Action.REVIEW, [("review.return", target, rev, "reviewer")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
        step(Action.SUBMIT, [("submission.submit", target, pub, "publisher")], log.added())
        _see_other(reviewer.post(f"/admin/review/{sid}/approve", data={"csrf_token": reviewer.csrf_token}))
        step(Action.PUBLISH, [("review.approve", target, rev, "reviewer"),
                              ("dataset.publish", f"dataset:{DATASET_ID}", rev, "reviewer")], log.added())
        assert app.test_client().get(f"/datasets/{DATASET_ID}").status_code == 200

        # a change of the published dataset: started, edited, then taken back (a draft withdrawn)
        change = submission_id(_see_other(publisher.post(
            "/admin/workbench/new", data={"dataset": DATASET_ID, "csrf_token": publisher.csrf_token})))
        step(Action.CREATE, [("submission.create", f"submission:{change}", pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{change}",
                                  data=form_data(VALUES | {"data_volume": "3"}, publisher.csrf_token)))
        step(Action.EDIT, [("submission.edit", f"submission:{change}", pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{change}/withdraw", data={"csrf_token": publisher.csrf_token}))
        step(Action.WITHDRAW, [("submission.withdraw", f"submission:{change}", pub, "publisher")], log.added())

        # the published dataset withdrawn: refused to another department and without a CSRF token
        path = f"/admin/datasets/{DATASET_ID}/withdraw"
        stranger = app.test_client()
        sign_in(stranger, "publisher", "D012")
        assert stranger.post(path, data={"csrf_token": stranger.csrf_token}).status_code == 403
        bare = app.test_client()
        sign_in(bare, "reviewer")
        bare.environ_base.pop("HTTP_X_CSRFTOKEN")
        assert bare.post(path).status_code == 400
        assert auditor.post(path, data={"csrf_token": auditor.csrf_token}).status_code == 403
        log.skip()  # the two sign-ins
        assert app.test_client().get(f"/datasets/{DATASET_ID}").status_code == 200  # nobody refused withdrew it
        _see_other(reviewer.post(path, data={"reason": "数据有误", "csrf_token": reviewer.csrf_token}))
        step(Action.WITHDRAW, [("dataset.withdraw", f"dataset:{DATASET_ID}", rev, "reviewer")], log.added())
        assert app.test_client().get(f"/datasets/{DATASET_ID}").status_code == 410
        assert reviewer.post(path, data={"csrf_token": reviewer.csrf_token}).status_code == 404  # gone now
        step(None, [], log.added())

        # a 有条件开放 dataset reported and published, then applied for: the department decides for its datasets,
        # the bureau grants (issue 13's applications)
        code, cond_id = "420100-D017-08002", "wuhan.420100-D017-08002"
        values = VALUES | {"resource_code": code, "title": "武汉市公共自行车租还记录 有条件开放",
                           "open_type": "https://data.wuhan.gov.cn/def/open-type/conditional"}
        cond = submission_id(_see_other(publisher.post("/admin/workbench/new",
                                                       data=form_data(values, publisher.csrf_token))))
        step(Action.CREATE, [("submission.create", f"submission:{cond}", pub, "publisher")], log.added())
        _see_other(publisher.post(f"/admin/workbench/{cond}/submit", data={"csrf_token": publisher.csrf_token}))
        step(Action.SUBMIT, [("submission.submit", f"submission:{cond}", pub, "publisher")], log.added())
        _see_other(reviewer.post(f"/admin/review/{cond}/approve", data={"csrf_token": reviewer.csrf_token}))
        step(Action.PUBLISH, [("review.approve", f"submission:{cond}", rev, "reviewer"),
                              ("dataset.publish", f"dataset:{cond_id}", rev, "reviewer")], log.added())
        applicant = app.test_client()
        citizen = sign_in(applicant, "public")
        log.skip()
        from services.applications import beijing_day

        today = beijing_day(datetime.now(timezone.utc))  # the form's dates are Beijing days
        applied = applicant.post("/apply", data={
            "csrf_token": applicant.csrf_token, "datasets": cond_id, "purpose": "出行研究", "scenario": "站点布局分析",
            "fields": "站点, 时间", "period_from": today.isoformat(),
            "period_to": (today + timedelta(days=30)).isoformat(), "commitment": "signed"})
        assert applied.status_code == 302, applied.get_data(as_text=True)[:500]
        (filed,) = platform.applications.of_account(citizen)
        app_target = f"application:{filed.id}"
        step(None, [("application.submit", app_target, citizen, "public")], log.added())
        decided = publisher.post(f"/admin/applications/{filed.id}/department",
                                 data={"department": "D017", "decision": "approve"})
        assert decided.status_code == 302, decided.get_data(as_text=True)[:500]
        step(Action.DECIDE_APPLICATION, [("application.department-decision", app_target, pub, "publisher")],
             log.added())
        granted = reviewer.post(f"/admin/applications/{filed.id}/bureau", data={"decision": "approve"})
        assert granted.status_code == 302, granted.get_data(as_text=True)[:500]
        step(Action.GRANT_APPLICATION, [("application.bureau-decision", app_target, rev, "reviewer")], log.added())

        # 纠错 and 数据需求 (issue 13's feedback that is answered): a citizen reports an error in the published
        # dataset (sent to its department, D017, whose publisher replies) and asks for data without naming a
        # department (the bureau assigns it)
        filed_error = applicant.post(f"/requests/error/{cond_id}", data={"what": "第 2 行站点名称有误", "row": "2"})
        assert filed_error.status_code == 303, filed_error.get_data(as_text=True)[:500]
        report = platform.requests.get(int(_see_other(filed_error).rsplit("/", 1)[-1]))
        step(None, [("request.file", f"request:{report.id}", citizen, "public")], log.added())
        _see_other(publisher.post(f"/requests/{report.id}/reply", data={"reply": "已更正"}))
        step(Action.REPLY_REQUEST, [("request.reply", f"request:{report.id}", pub, "publisher")], log.added())
        asked = applicant.post("/requests/new", data={"wanted": "充电桩位置", "use": "导航", "department": ""})
        wanted = int(_see_other(asked).rsplit("/", 1)[-1])
        step(None, [("request.file", f"request:{wanted}", citizen, "public")], log.added())
        _see_other(reviewer.post(f"/requests/{wanted}/assign", data={"department": "D017"}))
        step(Action.ASSIGN_REQUEST, [("request.assign", f"request:{wanted}", rev, "reviewer")], log.added())
        # the showcase (应用成果): an app submitted by the public, approved by the bureau's reviewer, another
        # returned with its reason
        showcase = {"kind": "app", "title": "公共自行车地图", "description": "站点与可借车辆。", "author": "市民甲",
                    "link": "https://bike.example.cn/", "datasets": cond_id, "csrf_token": applicant.csrf_token}
        shown = applicant.post("/showcase/new", data=showcase)
        item = _see_other(shown).rsplit("#item-", 1)[1]
        step(None, [("showcase.submit", f"showcase:{item}", citizen, "public")], log.added())
        _see_other(reviewer.post(f"/admin/showcase/{item}/decision", data={"decision": "approve"}))
        step(Action.REVIEW_SHOWCASE, [("showcase.approve", f"showcase:{item}", rev, "reviewer")], log.added())
        other = _see_other(applicant.post("/showcase/new", data=showcase)).rsplit("#item-", 1)[1]
        log.skip()
        _see_other(reviewer.post(f"/admin/showcase/{other}/decision", data={"decision": "return", "reason": "重复"}))
        step(Action.REVIEW_SHOWCASE, [("showcase.return", f"showcase:{other}", rev, "reviewer")], log.added())

        # harvest sources: added, edited, run, disabled
        form = {"name": "audit-ckan", "kind": "ckan", "url": source.url, "schedule": "30 3 * * *", "enabled": "on",
                "csrf_token": admin.csrf_token}
        _see_other(admin.post("/admin/sources", data=form))
        hs = "harvest-source:audit-ckan"
        step(Action.HARVEST, [("harvest-source.add", hs, adm, "admin")], log.added())
        _see_other(admin.post("/admin/sources/audit-ckan/edit", data=form | {"schedule": "0 5 * * *"}))
        step(Action.HARVEST, [("harvest-source.edit", hs, adm, "admin")], log.added())
        ran = _see_other(admin.post("/admin/sources/audit-ckan/run", data={"csrf_token": admin.csrf_token}))
        assert "job=" in ran
        assert platform.harvesting.wait(120)  # the run is handed to a thread: its entries name who asked
        step(Action.HARVEST, [("harvest.start", hs, adm, "admin"), ("harvest.finish", hs, adm, "admin")],
             log.added())
        [finish] = list(platform.audit.entries(action="harvest.finish"))
        assert finish.detail["status"] == "succeeded" and finish.detail["counts"]["new"] == 3  # the run's counts
        _see_other(admin.post("/admin/sources/audit-ckan/enabled", data={"enabled": "0",
                                                                        "csrf_token": admin.csrf_token}))
        step(Action.HARVEST, [("harvest-source.disable", hs, adm, "admin")], log.added())

        # accounts: added, given another role, disabled
        _see_other(admin.post("/admin/accounts", data={"login": "clerk-d020", "role": "publisher",
                                                       "department": "D020", "password": "Clerk-passw0rd-测试",
                                                       "csrf_token": admin.csrf_token}))
        clerk = platform.accounts.find("clerk-d020")
        acct = f"account:{clerk.id}"
        step(Action.MANAGE_ACCOUNTS, [("account.add", acct, adm, "admin")], log.added())
        _see_other(admin.post(f"/admin/accounts/{clerk.id}/role", data={"role": "reviewer",
                                                                         "csrf_token": admin.csrf_token}))
        step(Action.MANAGE_ACCOUNTS, [("account.role", acct, adm, "admin")], log.added())
        _see_other(admin.post(f"/admin/accounts/{clerk.id}/disabled", data={"disabled": "1",
                                                                             "csrf_token": admin.csrf_token}))
        step(Action.MANAGE_ACCOUNTS, [("account.disable", acct, adm, "admin")], log.added())

        # a work order moved by its department
        from manage.workorders import Finding

        order, _ = platform.workorders.open_or_refresh(Finding("D017", DATASET_ID, "broken-link", "链接失效"))
        log.skip()
        moved = publisher.post(f"/admin/workorders/{order.id}/status",
                               data={"status": "in-progress", "note": "已联系", "csrf_token": publisher.csrf_token})
        _see_other(moved, 302)
        step(Action.WORK_ORDERS, [("workorder.status", f"workorder:{order.id}", pub, "publisher")], log.added())

        # the auditor reads the log (nothing) and exports it (an entry)
        assert auditor.get("/admin/audit").status_code == 200
        step(None, [], log.added())
        export = auditor.get("/admin/audit/export.csv")
        assert export.status_code == 200 and "dataset.withdraw" in export.get_data(as_text=True)
        step(Action.READ_AUDIT, [("audit.export", "audit-log", aud, "auditor")], log.added())
    finally:
        platform.close()
        source.close()

    # a setting changed between two starts: one entry, by nobody signed in
    platform = open_platform(home, review={"mode": "every-change"})
    try:
        log = Log(platform)
        last = list(platform.audit.entries(action="settings.", newest_first=True, limit=1))
        assert [(e.action, e.target, e.actor, e.role) for e in last] == [("settings.changed", "settings", None, None)]
        assert last[0].detail["changed"]["review.mode"] == ["new", "every-change"]
        covered[Action.MANAGE_SETTINGS] = ["settings.changed"]
        step(None, [], log.added())
    finally:
        platform.close()

    # every Action of the table was performed (a new one needs its step here), and the chain is whole
    assert set(covered) == set(Action), sorted(set(Action) - set(covered))
    env = {**os.environ, "WODP_HOME": str(home), "PYTHONPATH": str(ROOT)}
    verified = subprocess.run([sys.executable, "-m", "server.cli", "audit", "verify"], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=120)
    assert verified.returncode == 0, verified.stderr
    assert "the chain is whole" in verified.stdout
