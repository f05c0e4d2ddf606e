"""有条件开放 applications through the site (issue 13, point 1): apply, the department then the bureau decide, the
granted account's API key reads the dataset's file while anonymous requests and other accounts' keys are refused;
refusal with its reason; expiry and revocation close the door again; another department's publisher cannot decide;
deadlines in working days across the 2026 National Day holiday; each step in the audit log."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from access.accounts import department_codes
from ontology.namespaces import DCAT
from services.applications import Applications, beijing_day

OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""
KEY = re.compile(r'<code id="new-key-value">([^<]+)</code>')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A demo catalogue (80 datasets) and, of each open type, a dataset with a downloadable file."""
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 80, "spatial": 20},
                                            "rate_limits": {"enabled": False}},
                             home=tmp_path_factory.mktemp("applications-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    kinds = {row[0].value: row[1].value.rsplit("/", 1)[-1] for row in platform.store.query(OPEN_TYPES)}
    files: dict[str, list[tuple[str, str]]] = {"conditional": [], "closed": [], "unconditional": []}
    base = settings.base_uri
    for uri in sorted(kinds):
        for t in platform.store.dataset_triples(uri):
            if t.predicate == DCAT.downloadURL and t.object.value.startswith(f"{base}/files/"):
                files[kinds[uri]].append((uri.rsplit("/", 1)[-1], t.object.value[len(base):]))
                break
    yield app, platform, files
    platform.close()


def _conditional(app, files, index=0):
    from server import services_pages

    with app.test_request_context("/"):
        dataset_id, path = files["conditional"][index]
        info = services_pages.describe(dataset_id)
    assert info["ok"], info
    return dataset_id, path, info


def _apply(client, dataset_id, **over):
    page = client.get(f"/apply?datasets={dataset_id}")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    today = beijing_day(datetime.now(timezone.utc))
    form = {"csrf_token": client.csrf_token, "datasets": dataset_id, "purpose": "交通规划研究",
            "scenario": "分析公交线网覆盖", "fields": "线路名称, 站点", "period_from": today.isoformat(),
            "period_to": (today + timedelta(days=60)).isoformat(), "commitment": "signed"} | over
    return client.post("/apply", data=form)


def _key(client) -> str:
    answer = client.post("/account/keys", data={"csrf_token": client.csrf_token})
    assert answer.status_code == 200
    found = KEY.search(answer.get_data(as_text=True))
    assert found, "the new key is shown on the page"
    assert client.get("/account/applications").get_data(as_text=True).count(found.group(1)) == 0  # shown once
    return found.group(1)


def _other_department(code: str) -> str:
    return next(c for c in sorted(department_codes()) if c != code)


def test_the_whole_flow_opens_the_door_to_that_key_only(site, sign_in):
    app, platform, files = site
    dataset_id, path, info = _conditional(app, files)
    department = info["department"]
    assert app.test_client().get(path).status_code == 403  # anonymous: refused before anything

    # the dataset page links to the application form
    page = app.test_client().get(f"/datasets/{dataset_id}").get_data(as_text=True)
    assert f"/apply?datasets={dataset_id}" in page and "申请使用" in page

    applicant = app.test_client()
    applicant_id = sign_in(applicant, "public")
    refused = _apply(applicant, dataset_id, commitment="")  # the commitment is not signed
    assert refused.status_code == 400 and "安全承诺" in refused.get_data(as_text=True)
    assert platform.applications.of_account(applicant_id) == []
    answer = _apply(applicant, dataset_id)
    assert answer.status_code == 302
    (filed,) = platform.applications.of_account(applicant_id)
    assert filed.status == "department" and [i.dataset for i in filed.items] == [info["uri"]]
    assert filed.commitment_version == platform.settings.applications.commitment_version
    assert filed.department_deadline is not None

    # another department's publisher may neither decide nor see it in its queue
    other = app.test_client()
    sign_in(other, "publisher", _other_department(department))
    assert other.post(f"/admin/applications/{filed.id}/department",
                      data={"department": department, "decision": "approve"}).status_code == 403
    assert f'id="q-{filed.id}"' not in other.get("/admin/applications").get_data(as_text=True)
    assert other.get(f"/admin/applications/{filed.id}").status_code == 403
    # the bureau cannot decide before the department has
    bureau = app.test_client()
    sign_in(bureau, "reviewer")
    assert bureau.post(f"/admin/applications/{filed.id}/bureau", data={"decision": "approve"}).status_code == 409

    # the department: in its queue and on its dashboard, then it approves
    publisher = app.test_client()
    sign_in(publisher, "publisher", department)
    assert f'id="q-{filed.id}"' in publisher.get("/admin/applications").get_data(as_text=True)
    assert f'id="pa-{filed.id}"' in publisher.get("/admin/department").get_data(as_text=True)
    detail = publisher.get(f"/admin/applications/{filed.id}").get_data(as_text=True)
    assert f'id="decide-{department}"' in detail and "交通规划研究" in detail and 'name="csrf_token"' in detail
    assert 'id="decide-bureau"' not in detail
    assert publisher.post(f"/admin/applications/{filed.id}/department",
                          data={"department": department, "decision": "approve"}).status_code == 302
    assert platform.applications.get(filed.id).status == "bureau"
    assert f'id="pa-{filed.id}"' not in publisher.get("/admin/department").get_data(as_text=True)

    # the bureau approves; the grant ends with the requested period
    assert f'id="q-{filed.id}"' in bureau.get("/admin/applications").get_data(as_text=True)
    assert 'id="decide-bureau"' in bureau.get(f"/admin/applications/{filed.id}?lang=en").get_data(as_text=True)
    assert bureau.post(f"/admin/applications/{filed.id}/bureau", data={"decision": "approve"}).status_code == 302
    assert 'id="revoke"' in bureau.get(f"/admin/applications/{filed.id}").get_data(as_text=True)
    granted = platform.applications.get(filed.id)
    assert granted.status == "approved" and granted.expires == filed.period_to
    assert [g.dataset for g in granted.grants] == [info["uri"]]

    # the key reads the file; anonymous, another account's key, a manage token do not
    key = _key(applicant)
    assert applicant.get("/account/applications").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert anonymous.get(f"{path}?api_key={key}").status_code == 200
    assert anonymous.get(path).status_code == 403
    stranger = app.test_client()
    sign_in(stranger, "public")
    assert anonymous.get(path, headers={"Authorization": f"Bearer {_key(stranger)}"}).status_code == 403
    assert anonymous.get(path, headers={"Authorization": "Bearer wodp.000000000000.nope"}).status_code == 401
    # the key opens only the granted dataset: another conditional one, a closed one stay shut
    other_id, other_path, _ = _conditional(app, files, 1)
    assert anonymous.get(other_path, headers={"Authorization": f"Bearer {key}"}).status_code == 403
    if files["closed"]:
        assert anonymous.get(files["closed"][0][1], headers={"Authorization": f"Bearer {key}"}).status_code == 403

    # a use report, then revocation by the bureau (reason required) closes the door
    assert applicant.post(f"/account/applications/{filed.id}/report",
                          data={"csrf_token": applicant.csrf_token, "report": "已用于线网分析"}).status_code == 302
    assert len(platform.applications.get(filed.id).reports) == 1
    assert bureau.post(f"/admin/applications/{filed.id}/revoke", data={"reason": ""}).status_code == 400
    assert bureau.post(f"/admin/applications/{filed.id}/revoke", data={"reason": "超范围使用"}).status_code == 302
    assert platform.applications.get(filed.id).status == "revoked"
    assert anonymous.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 403

    # every step in the audit log, by whom
    steps = [(e.action, e.actor) for e in platform.audit.entries() if e.target == f"application:{filed.id}"]
    assert [a for a, _ in steps] == ["application.submit", "application.department-decision",
                                     "application.bureau-decision", "application.report", "application.revoke"]
    assert steps[0][1] == applicant_id
    assert any(e.action == "api-key.create" and e.detail["account"] == applicant_id for e in platform.audit.entries())


def test_refusal_needs_and_shows_its_reason(site, sign_in):
    app, platform, files = site
    dataset_id, path, info = _conditional(app, files, 2)
    applicant = app.test_client()
    applicant_id = sign_in(applicant, "public")
    english = applicant.get(f"/apply?datasets={dataset_id}&lang=en").get_data(as_text=True)
    assert "Apply for conditionally open data" in english and 'name="csrf_token"' in english
    assert applicant.post("/apply", data={"datasets": dataset_id}, headers={"X-CSRFToken": ""}).status_code == 400
    assert app.test_client().get(f"/apply?datasets={dataset_id}").status_code == 401  # anonymous: sign in first
    to_login = app.test_client().get(f"/apply?datasets={dataset_id}", headers={"Accept": "text/html"})
    assert to_login.status_code == 302 and "/admin/login" in to_login.headers["Location"]
    assert _apply(applicant, dataset_id).status_code == 302
    (filed,) = platform.applications.of_account(applicant_id)
    publisher = app.test_client()
    sign_in(publisher, "publisher", info["department"])
    url = f"/admin/applications/{filed.id}/department"
    assert publisher.post(url, data={"department": info["department"], "decision": "refuse"}).status_code == 400
    assert publisher.post(url, data={"department": info["department"], "decision": "refuse",
                                     "reason": "用途与数据不符"}).status_code == 302
    assert platform.applications.get(filed.id).status == "refused"
    mine = applicant.get("/account/applications").get_data(as_text=True)
    assert "用途与数据不符" in mine and "未通过" in mine
    entry = [e for e in platform.audit.entries() if e.target == f"application:{filed.id}"][-1]
    assert entry.action == "application.department-decision" and entry.detail["reason"] == "用途与数据不符"


def test_expiry_closes_the_door(site, sign_in):
    app, platform, files = site
    dataset_id, path, info = _conditional(app, files, 3)
    client = app.test_client()
    account_id = sign_in(client, "public")
    key = _key(client)
    applications: Applications = platform.applications
    start = datetime(2026, 11, 2, 2, tzinfo=timezone.utc)  # Monday 10:00 in Beijing
    filed = applications.apply(account_id, [(info["uri"], info["department"], None)], purpose="p", scenario="s",
                               fields="f", period_from=date(2026, 11, 2), period_to=date(2026, 11, 30),
                               committed=True, now=start)
    applications.decide_department(filed.id, info["department"], "x", True, now=start)
    granted = applications.decide_bureau(filed.id, "y", True, now=start)
    assert granted.expires == "2026-11-30"
    assert info["uri"] in applications.grants_of(account_id, date(2026, 11, 30))  # the last day holds
    assert info["uri"] not in applications.grants_of(account_id, date(2026, 12, 1))
    assert app.test_client().get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 403  # today: past


def test_a_grant_never_outlasts_the_cap(tmp_path, settings_factory):
    settings = settings_factory(applications={"max_grant_days": 30})
    applications = Applications(tmp_path / "a.sqlite", settings.applications)
    start = datetime(2026, 11, 2, 2, tzinfo=timezone.utc)
    filed = applications.apply("acc", [("https://x/datasets/a", "D017", None)], purpose="p", scenario="s",
                               fields="f", period_from=date(2026, 11, 2), period_to=date(2027, 11, 1),
                               committed=True, now=start)
    applications.decide_department(filed.id, "D017", "x", True, now=start)
    assert applications.decide_bureau(filed.id, "y", True, now=start).expires == "2026-12-02"
    applications.close()


def test_several_departments_each_decide_their_own(tmp_path, settings_factory):
    settings = settings_factory()
    applications = Applications(tmp_path / "a.sqlite", settings.applications)
    start = datetime(2026, 11, 2, 2, tzinfo=timezone.utc)
    filed = applications.apply("acc", [("https://x/datasets/a", "D017", None), ("https://x/datasets/b", "D020", None)],
                               purpose="p", scenario="s", fields="f", period_from=date(2026, 11, 2),
                               period_to=date(2026, 12, 31), committed=True, now=start)
    assert [a.id for a in applications.department_queue("D020", date(2026, 11, 3))] == [filed.id]
    after = applications.decide_department(filed.id, "D017", "p17", True, now=start)
    assert after.status == "department" and after.pending_departments() == ["D020"]
    assert applications.department_queue("D017", date(2026, 11, 3)) == []
    after = applications.decide_department(filed.id, "D020", "p20", False, "不具备开放条件", now=start)
    assert after.status == "bureau"  # one dataset approved: the bureau decides on it
    granted = applications.decide_bureau(filed.id, "r", True, now=start)
    assert [g.dataset for g in granted.grants] == ["https://x/datasets/a"]
    assert applications.grants_of("acc", date(2026, 11, 10)) == {"https://x/datasets/a"}
    # a department revokes only its own datasets' grants
    applications.revoke(filed.id, "p17", "违规", department="D017", now=start)
    assert applications.grants_of("acc", date(2026, 11, 10)) == frozenset()
    applications.close()


@pytest.mark.parametrize("submitted, department_deadline, bureau_start, bureau_deadline", [
    # Tue 29 Sep 2026: 30 Sep, then 1–7 Oct National Day off, 8 Oct, 9 Oct, Sat 10 Oct (调休 working day), 12 Oct
    (datetime(2026, 9, 29, 2, tzinfo=timezone.utc), "2026-10-12",
     datetime(2026, 9, 30, 2, tzinfo=timezone.utc), "2026-10-13"),
    # Fri 18 Sep 2026: Sun 20 Sep is a 调休 working day
    (datetime(2026, 9, 18, 2, tzinfo=timezone.utc), "2026-09-24",
     datetime(2026, 9, 25, 2, tzinfo=timezone.utc), "2026-10-09"),
])
def test_deadlines_across_the_2026_national_day(tmp_path, settings_factory, submitted, department_deadline,
                                                bureau_start, bureau_deadline):
    settings = settings_factory(applications={"department_days": 5, "bureau_days": 5})
    applications = Applications(tmp_path / "a.sqlite", settings.applications)
    filed = applications.apply("acc", [("https://x/datasets/a", "D017", None)], purpose="p", scenario="s",
                               fields="f", period_from=date(2026, 10, 1), period_to=date(2026, 12, 31),
                               committed=True, now=submitted)
    assert filed.department_deadline == department_deadline
    after = applications.decide_department(filed.id, "D017", "p", True, now=bureau_start)
    assert after.bureau_deadline == bureau_deadline
    # overdue the day after its deadline, not on it; overdue ones come first in the queue
    deadline = date.fromisoformat(department_deadline)
    assert not filed.overdue(deadline) and filed.overdue(deadline + timedelta(days=1))
    applications.close()


def test_a_deadline_in_an_unknown_year_is_not_guessed(tmp_path, settings_factory):
    applications = Applications(tmp_path / "a.sqlite", settings_factory().applications)
    filed = applications.apply("acc", [("https://x/datasets/a", "D017", None)], purpose="p", scenario="s",
                               fields="f", period_from=date(2040, 1, 1), period_to=date(2040, 12, 31),
                               committed=True, now=datetime(2039, 12, 20, 2, tzinfo=timezone.utc))
    assert filed.department_deadline is None and "2039" in (filed.deadline_note or "")
    assert not filed.overdue(date(2041, 1, 1))
    applications.close()


def test_overdue_first_in_the_bureau_queue(tmp_path, settings_factory):
    applications = Applications(tmp_path / "a.sqlite", settings_factory().applications)
    early = applications.apply("a", [("https://x/datasets/a", "D017", None)], purpose="p", scenario="s", fields="f",
                               period_from=date(2026, 11, 1), period_to=date(2026, 12, 31), committed=True,
                               now=datetime(2026, 11, 2, 2, tzinfo=timezone.utc))
    late = applications.apply("b", [("https://x/datasets/b", "D017", None)], purpose="p", scenario="s", fields="f",
                              period_from=date(2026, 11, 1), period_to=date(2026, 12, 31), committed=True,
                              now=datetime(2026, 11, 20, 2, tzinfo=timezone.utc))
    queue = applications.bureau_queue(date(2026, 11, 21))
    assert [a.id for a in queue] == [early.id, late.id] and queue[0].overdue(date(2026, 11, 21))
    applications.close()


def test_the_key_opens_the_layer_download_too(site):
    """The whole-layer GeoJSON of a granted 有条件开放 layer: the key (header or ?api_key=) reads it, anonymous
    does not. (Its OGC API collection is not offered to anyone: pygeoapi is configured with public layers only.)"""
    app, platform, files = site
    layer = None
    for uri, kind in ((row[0].value, row[1].value.rsplit("/", 1)[-1]) for row in platform.store.query(OPEN_TYPES)):
        info = platform.features.layer(uri.rsplit("/", 1)[-1])
        if kind == "conditional" and info is not None and info.kind == "feature" and info.count:
            layer = (uri, info)
            break
    if layer is None:
        pytest.skip("the demo made no 有条件开放 layer")
    uri, info = layer
    account = platform.accounts.add("layer-user", "public", "图层用户", None, None)
    _, key = platform.accounts.add_token(account.id, ("data",), "test")
    applications = platform.applications
    now = datetime.now(timezone.utc)
    today = beijing_day(now)
    filed = applications.apply(account.id, [(uri, "D017", None)], purpose="p", scenario="s", fields="f",
                               period_from=today, period_to=today + timedelta(days=5), committed=True, now=now)
    items = f"/layers/{uri.rsplit('/', 1)[-1]}.geojson"
    client = app.test_client()
    assert client.get(items, headers={"Authorization": f"Bearer {key}"}).status_code == 403  # not granted yet
    applications.decide_department(filed.id, "D017", "p", True, now=now)
    applications.decide_bureau(filed.id, "r", True, now=now)
    answer = client.get(items, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and len(json.loads(answer.get_data())["features"]) == info.count
    assert client.get(items + f"?api_key={key}").status_code == 200
    assert client.get(items).status_code == 403
    applications.revoke(filed.id, "r", "测试撤销")
    assert client.get(items, headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_the_store_on_both_backends(tmp_path, settings_factory, database_url):
    from core.database import open_database

    db = open_database(database_url, "applications", tmp_path / "applications.sqlite", auto_migrate=True)
    applications = Applications(db, settings_factory().applications)
    start = datetime(2026, 11, 2, 2, tzinfo=timezone.utc)
    filed = applications.apply("acc", [("https://x/datasets/a", "D017", "甲"), ("https://x/datasets/b", "D017", "乙")],
                               purpose="p", scenario="s", fields="f", period_from=date(2026, 11, 2),
                               period_to=date(2026, 11, 20), committed=True, now=start)
    assert filed.department_deadline == "2026-11-09"  # Mon 2 Nov + 5 working days
    applications.decide_department(filed.id, "D017", "p", True, datasets=["https://x/datasets/a"], now=start)
    after = applications.decide_department(filed.id, "D017", "p", False, "不开放", now=start)
    assert [i.decision for i in after.items] == ["approved", "refused"] and after.status == "bureau"
    applications.decide_bureau(filed.id, "r", True, now=start)
    assert applications.grants_of("acc", date(2026, 11, 20)) == {"https://x/datasets/a"}
    applications.report(filed.id, "acc", "用于研究", now=start + timedelta(days=3))
    got = applications.get(filed.id)
    assert got.next_report_due(30) == "2026-12-05" and len(got.reports) == 1
    assert got.report_overdue(date(2026, 12, 6), 30) is False  # the grant ended on 20 Nov: nothing to report
    applications.close()


def test_an_overdue_use_report_is_shown(tmp_path, settings_factory, sign_in, site):
    app, platform, files = site
    dataset_id, path, info = _conditional(app, files, 4)
    client = app.test_client()
    account_id = sign_in(client, "public")
    applications = platform.applications
    start = datetime.now(timezone.utc) - timedelta(days=40)
    filed = applications.apply(account_id, [(info["uri"], info["department"], None)], purpose="p", scenario="s",
                               fields="f", period_from=beijing_day(start),
                               period_to=beijing_day(start) + timedelta(days=300), committed=True, now=start)
    applications.decide_department(filed.id, info["department"], "x", True, now=start)
    applications.decide_bureau(filed.id, "y", True, now=start)
    due = (beijing_day(start) + timedelta(days=platform.settings.applications.report_every_days)).isoformat()
    page = client.get("/account/applications").get_data(as_text=True)
    assert "report-overdue" in page and due in page
    client.post(f"/account/applications/{filed.id}/report", data={"csrf_token": client.csrf_token, "report": "按期使用"})
    assert "report-overdue" not in client.get("/account/applications").get_data(as_text=True)
