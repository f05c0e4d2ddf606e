"""Error reports (纠错) and data requests (数据需求), issue 13 point 5: filed by a signed-in public account, routed to
a department (the dataset's publisher, the one chosen, or the one the data bureau assigns), replied by that
department's publisher, the reply and its time in working days public on the dataset page and /requests, the
overdue ones first on the department's dashboard; refused to the anonymous, to another department, without CSRF.

The deadlines across the 2026 Spring Festival and National Day are counted by hand from the State Council's notice
(国务院办公厅关于2026年部分节假日安排的通知): 春节 2月15日至23日放假，2月14日（周六）、2月28日（周六）上班；
国庆节 10月1日至7日放假，9月20日（周日）、10月10日（周六）上班 — not from chinese-calendar.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pyoxigraph as ox
import pytest

from core.database import open_database
from services.requests import DATA, ERROR, OPEN, REPLIED, UNASSIGNED, AlreadyReplied, Requests
from tests.conftest import csrf_of

BEIJING = timezone(timedelta(hours=8))
OA = "http://www.w3.org/ns/oa#"
DQV = "http://www.w3.org/ns/dqv#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_VALUE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"


def at(day: str, hour: int = 10) -> datetime:
    """A moment of a Beijing day."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=BEIJING)


def took_text(days: int, lang: str = "zh") -> str:
    """What the pages say of the working days a reply took (0: less than one)."""
    if days == 0:
        return "took less than a working day" if lang == "en" else "用时不足 1 个工作日"
    return f"took {days} working days" if lang == "en" else f"用时 {days} 个工作日"


def _settings():
    from config import load_settings

    return load_settings({}, overrides={}, home="/nonexistent").requests


@pytest.fixture
def store(tmp_path, database_url):
    requests = Requests(open_database(database_url, "requests", tmp_path / "requests.sqlite", auto_migrate=True),
                        _settings())
    yield requests
    requests.close()


# -- the rules, on SQLite and PostgreSQL ----------------------------------------------------------------------
def test_an_error_report_across_the_spring_festival(store):
    assert store.settings.error_reply_days == 5
    r = store.report_error("u1", "wuhan.x-1", "公交站点", "D017", what="第 3 行经度有误", field="经度", row="3",
                           now=at("2026-02-12"))
    assert (r.kind, r.status, r.department, r.routed_by) == (ERROR, OPEN, "D017", "publisher")
    # Feb 13 (Fri), 14 (Sat, 调休), then 15-23 off, 24, 25, 26
    assert r.deadline == "2026-02-26" and r.deadline_note is None
    assert not r.overdue(date(2026, 2, 26)) and r.overdue(date(2026, 2, 27))
    assert [q.id for q in store.department_queue("D017", date(2026, 2, 27))] == [r.id]
    assert store.department_queue("D012", date(2026, 2, 27)) == []
    with pytest.raises(Exception):
        store.answer(r.id, "D012", "p2", "不是我们的", now=at("2026-02-27"))  # not with that department
    done = store.answer(r.id, "D017", "p1", "已更正第 3 行经度", now=at("2026-02-27", 16))
    # Feb 13, 14, 24, 25, 26, 27: six working days after the filing day
    assert (done.status, done.reply_days, done.reply_note, done.late_reply()) == (REPLIED, 6, None, True)
    assert store.department_queue("D017", date(2026, 2, 27)) == []
    with pytest.raises(AlreadyReplied):
        store.answer(r.id, "D017", "p1", "again", now=at("2026-02-28"))
    on_time = store.report_error("u2", "wuhan.x-1", None, "D017", what="单位缺失", now=at("2026-02-13"))
    # Feb 14 (调休) is the first working day after Friday the 13th; 24-27 complete the five
    assert on_time.deadline == "2026-02-27"
    answered = store.answer(on_time.id, "D017", "p1", "已补充", now=at("2026-02-14"))
    assert (answered.reply_days, answered.late_reply()) == (1, False)
    after_holiday = store.request_data("u3", wanted="数据", use="研究", department="D017", now=at("2026-02-13"))
    answered = store.answer(after_holiday.id, "D017", "p1", "已答复", now=at("2026-02-24"))
    assert answered.reply_days == 2  # Sat Feb 14 (调休) and Tue Feb 24 (docs/services.md's example)


def test_a_data_request_assigned_by_the_bureau_across_national_day(store):
    assert store.settings.data_reply_days == 10
    r = store.request_data("u1", wanted="全市公共自行车站点", use="出行研究", now=at("2026-09-28"))
    assert (r.kind, r.status, r.department, r.deadline, r.routed_by) == (DATA, UNASSIGNED, None, None, "bureau")
    chosen = store.request_data("u2", wanted="学校名录", use="择校", department="D012", now=at("2026-09-28"))
    # Sep 29, 30, Oct 8, 9, 10 (Sat, 调休), 12, 13, 14, 15, 16
    assert (chosen.status, chosen.routed_by, chosen.deadline) == (OPEN, "requester", "2026-10-16")
    assert [q.id for q in store.bureau_queue(date(2026, 9, 30))] == [r.id, chosen.id]  # unassigned first
    assigned = store.assign(r.id, "d017", "bureau-1", now=at("2026-09-30"))
    # from Sep 30: Oct 8, 9, 10 (调休), 12, 13, 14, 15, 16, 19, 20
    assert (assigned.status, assigned.department, assigned.deadline, assigned.assigned_by) == \
        (OPEN, "D017", "2026-10-20", "bureau-1")
    done = store.answer(r.id, "D017", "p1", "已列入开放计划", now=at("2026-10-09"))
    # filed Sep 28: Sep 29, 30, Oct 8, 9 (the holiday counts nothing)
    assert (done.reply_days, done.late_reply()) == (4, False)
    with pytest.raises(AlreadyReplied):
        store.assign(r.id, "D012", "bureau-1", now=at("2026-10-09"))


def test_a_deadline_in_a_year_the_calendar_does_not_hold_is_unknown(store):
    r = store.report_error("u1", "wuhan.x-2", None, "D017", what="错误", now=at("2026-12-28"))
    assert r.deadline is None and "2027" in r.deadline_note  # never guessed from the weekdays
    assert not r.overdue(date(2027, 6, 1))
    done = store.answer(r.id, "D017", "p1", "已处理", now=at("2027-01-05"))
    assert done.reply_days is None and "2027" in done.reply_note


def test_the_queue_puts_overdue_first_and_texts_are_checked(store):
    fresh = store.report_error("u1", "wuhan.x-3", None, "D017", what="新的", now=at("2026-10-12"))
    old = store.report_error("u1", "wuhan.x-4", None, "D017", what="旧的", now=at("2026-09-01"))
    assert [q.id for q in store.department_queue("D017", date(2026, 10, 13))] == [old.id, fresh.id]
    for bad in ("", "   ", "x" * (store.settings.max_chars + 1)):
        with pytest.raises(Exception):
            store.report_error("u1", "wuhan.x-3", None, "D017", what=bad)
    with pytest.raises(Exception):
        store.request_data("u1", wanted="", use="研究")
    with pytest.raises(Exception):
        store.answer(fresh.id, "D017", "p1", " ")


def test_error_reports_are_web_annotations(store):
    uri = "https://data.example/datasets/wuhan.x-5"
    r = store.report_error("u1", "wuhan.x-5", None, "D017", what="坐标偏移", field="经度", row="12",
                           now=at("2026-10-12"))
    other = store.report_error("u1", "wuhan.other", None, "D017", what="别的数据集", now=at("2026-10-12"))
    store.answer(other.id, "D017", "p1", "已纠正", now=at("2026-10-13"))
    # published with its reply: before, what was typed is nobody's to read but its author's and the staff's
    assert store.annotation_triples("wuhan.x-5", uri) == [] and store.waiting_on_dataset("wuhan.x-5") == 1
    store.answer(r.id, "D017", "p1", "已纠正", now=at("2026-10-13"))
    assert store.waiting_on_dataset("wuhan.x-5") == 0
    graph = {(t.subject.value, t.predicate.value, t.object.value) for t in store.annotation_triples("wuhan.x-5", uri)}
    node = f"{uri}/feedback/error-{r.id}"
    assert {(uri, DQV + "hasQualityAnnotation", node), (node, RDF_TYPE, OA + "Annotation"),
            (node, RDF_TYPE, DQV + "UserQualityFeedback"), (node, OA + "motivatedBy", OA + "assessing"),
            (node, OA + "hasTarget", uri)} <= graph
    values = {o for s, p, o in graph if p == RDF_VALUE}
    assert values == {"坐标偏移", "字段 field: 经度；行 row: 12", "已纠正"}
    assert not any("/feedback/error-" + str(other.id) in s for s, _, _ in graph)  # another dataset's
    reply = f"{node}/reply"
    assert {(reply, RDF_TYPE, OA + "Annotation"), (reply, OA + "motivatedBy", OA + "replying"),
            (reply, OA + "hasTarget", node),
            (reply, "http://purl.org/dc/terms/creator", "https://data.wuhan.gov.cn/def/department/D017")} <= graph
    assert "已纠正" in {o for s, p, o in graph if p == RDF_VALUE}


# -- through the site -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    settings = load_settings({}, overrides={"demo": {"datasets": 30, "spatial": 4},
                                            "rate_limits": {"enabled": False}},
                             home=tmp_path_factory.mktemp("requests-home"))
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    from server.services_pages import describe

    with app.test_request_context("/"):
        found = [describe(uri.rsplit("/", 1)[-1]) for uri in sorted(platform.store.dataset_uris())]
    with_department = [d for d in found if d.get("department")]
    assert with_department, "the demo names no department"
    yield app, platform, with_department
    platform.close()


def _entries(platform, action):
    return [e for e in platform.audit.entries() if e.action == action]


def test_refused_to_the_anonymous_to_staff_and_without_csrf(site, sign_in):
    app, platform, datasets = site
    dataset = datasets[0]["id"]
    anonymous = app.test_client()
    assert anonymous.get(f"/requests/error/{dataset}").status_code == 200  # the form says to sign in
    assert "/admin/login?next=" in anonymous.get(f"/requests/error/{dataset}").get_data(as_text=True)
    assert anonymous.post(f"/requests/error/{dataset}", data={"what": "x"}).status_code == 400  # no CSRF token
    token = csrf_of(anonymous.get("/admin/login").get_data(as_text=True))
    assert anonymous.post(f"/requests/error/{dataset}", data={"what": "x", "csrf_token": token}).status_code == 401
    assert anonymous.post("/requests/new", data={"wanted": "x", "use": "y", "csrf_token": token}).status_code == 401
    staff = app.test_client()
    sign_in(staff, "publisher", "D017")
    assert staff.post(f"/requests/error/{dataset}", data={"what": "x"}).status_code == 403
    user = app.test_client()
    sign_in(user, "public")
    del user.environ_base["HTTP_X_CSRFTOKEN"]
    assert user.post(f"/requests/error/{dataset}", data={"what": "x"}).status_code == 400  # missing CSRF
    assert user.post("/requests/new", data={"wanted": "x", "use": "y"}).status_code == 400
    assert user.post(f"/requests/error/{dataset}", data={"what": "x", "csrf_token": "forged"}).status_code == 400
    assert user.post("/requests/error/wuhan.no-such-dataset",
                     data={"what": "x", "csrf_token": user.csrf_token}).status_code == 404
    assert platform.requests.public() == []
    assert _entries(platform, "request.file") == []


def test_an_error_report_goes_to_its_department_and_the_reply_is_public(site, sign_in):
    app, platform, datasets = site
    target = datasets[1]
    dataset, department = target["id"], target["department"]
    other = "D012" if department != "D012" else "D017"
    user = app.test_client()
    citizen = sign_in(user, "public")
    page = user.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert f'href="/requests/error/{dataset}"' in page  # the 纠错 link
    form = user.get(f"/requests/error/{dataset}").get_data(as_text=True)
    assert 'name="what"' in form and 'name="csrf_token"' in form
    assert user.post(f"/requests/error/{dataset}", data={"what": " "}).status_code == 400
    filed = user.post(f"/requests/error/{dataset}", data={"field": "经度", "row": "7", "what": "经度超出武汉范围"})
    assert filed.status_code == 303
    r = platform.requests.get(int(filed.headers["Location"].rsplit("/", 1)[-1]))
    assert filed.headers["Location"] == f"/requests/{r.id}" and r.dataset == dataset
    assert (r.account_id, r.department, r.status, r.field, r.row_ref) == (citizen, department, OPEN, "经度", "7")
    (entry,) = _entries(platform, "request.file")
    assert (entry.target, entry.actor, entry.role, entry.detail["department"]) == \
        (f"request:{r.id}", citizen, "public", department)
    # not public before its reply: its author sees it, the public sees that one is being handled
    public = app.test_client()
    shown = public.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert "经度超出武汉范围" not in shown and "另有 1 条正在办理，答复后公开。" in shown
    assert "经度超出武汉范围" not in public.get("/requests").get_data(as_text=True)
    assert public.get(f"/requests/{r.id}").status_code == 404
    mine = user.get(f"/requests/{r.id}").get_data(as_text=True)
    assert "经度超出武汉范围" in mine and 'id="rq-not-public"' in mine and "办理中" in mine
    # another department's publisher may not reply; the department's may, once, with its CSRF token
    stranger = app.test_client()
    sign_in(stranger, "publisher", other)
    assert 'id="reply-form"' not in stranger.get(f"/requests/{r.id}").get_data(as_text=True)
    assert stranger.post(f"/requests/{r.id}/reply", data={"reply": "x"}).status_code == 403
    assert user.post(f"/requests/{r.id}/reply", data={"reply": "x"}).status_code == 403  # the public: no
    assert public.post(f"/requests/{r.id}/reply", data={"reply": "x"}).status_code == 400  # no session, no CSRF
    publisher = app.test_client()
    publisher_id = sign_in(publisher, "publisher", department)
    assert f'id="rq-{r.id}"' in publisher.get("/admin/department").get_data(as_text=True)
    assert 'id="reply-form"' in publisher.get(f"/requests/{r.id}").get_data(as_text=True)
    bare = app.test_client()
    sign_in(bare, "publisher", department)
    del bare.environ_base["HTTP_X_CSRFTOKEN"]
    assert bare.post(f"/requests/{r.id}/reply", data={"reply": "x"}).status_code == 400
    assert platform.requests.get(r.id).status == OPEN
    answer = publisher.post(f"/requests/{r.id}/reply", data={"reply": "已核实并更正经度"})
    assert answer.status_code == 303
    done = platform.requests.get(r.id)
    assert (done.status, done.replied_by) == (REPLIED, publisher_id)
    assert publisher.post(f"/requests/{r.id}/reply", data={"reply": "again"}).status_code == 409
    (entry,) = _entries(platform, "request.reply")
    assert (entry.actor, entry.role, entry.detail["reply_days"]) == (publisher_id, "publisher", done.reply_days)
    # public: the reply and its time, on the dataset page, /requests and in the dataset's RDF
    took = took_text(done.reply_days)
    for path in (f"/datasets/{dataset}", "/requests", f"/requests/{r.id}"):
        html = public.get(path).get_data(as_text=True)
        assert "已核实并更正经度" in html and took in html, path
    assert took_text(done.reply_days, "en") in public.get(f"/requests/{r.id}?lang=en").get_data(as_text=True)
    turtle = public.get(f"/datasets/{dataset}.ttl")
    graph = {(t.subject.value, t.predicate.value, t.object.value)
             for t in ox.parse(turtle.data, format=ox.RdfFormat.TURTLE)}
    uri = platform.dataset_uri(dataset)
    node = f"{uri}/feedback/error-{r.id}"
    assert (node, OA + "motivatedBy", OA + "assessing") in graph
    assert (f"{node}/reply", OA + "motivatedBy", OA + "replying") in graph
    assert (f"{node}/reply", OA + "hasTarget", node) in graph
    # the served graph passes the shapes as the dataset's own graph does (the annotations are not in it)
    from access.policy import public_view

    served = platform.validator.validate(list(ox.parse(turtle.data, format=ox.RdfFormat.TURTLE)))
    own = platform.validator.validate(public_view(uri, platform.store.dataset_triples(uri)))
    assert served.count("Violation") == own.count("Violation") == 0
    assert not any("/feedback/error-" in t.subject.value for t in platform.store.dataset_triples(uri))
    english = public.get(f"/datasets/{dataset}?lang=en").get_data(as_text=True)
    assert "Error reports" in english and "Report an error" in english and "replied" in english
    board = publisher.get("/admin/department").get_data(as_text=True)
    assert f'id="rq-{r.id}"' not in board  # answered: no longer waiting
    assert 'href="/admin/requests"' in board  # the management center's link to the department's queue


def test_a_data_request_assigned_by_the_bureau_and_answered(site, sign_in, monkeypatch):
    app, platform, _ = site
    user = app.test_client()
    sign_in(user, "public")
    form = user.get("/requests/new").get_data(as_text=True)
    assert 'name="wanted"' in form and '<option value="D017">' in form
    english = user.get("/requests/new?lang=en").get_data(as_text=True)
    assert "What data" in english and "Not sure (the data bureau assigns it)" in english
    assert user.post("/requests/new", data={"wanted": "x", "use": "y", "department": "NOPE"}).status_code == 400
    filed = user.post("/requests/new", data={"wanted": "全市充电桩位置", "use": "导航应用", "department": ""})
    assert filed.status_code == 303
    r = platform.requests.get(int(filed.headers["Location"].rsplit("/", 1)[-1]))
    assert (r.kind, r.status, r.department) == (DATA, UNASSIGNED, None)
    assert "全市充电桩位置" not in app.test_client().get("/requests").get_data(as_text=True)  # public with its reply
    assert "待数据局分配" in user.get(f"/requests/{r.id}").get_data(as_text=True)  # its author sees where it is
    publisher = app.test_client()
    sign_in(publisher, "publisher", "D017")
    assert publisher.post(f"/requests/{r.id}/reply", data={"reply": "x"}).status_code == 403  # nobody's yet
    assert publisher.post(f"/requests/{r.id}/assign", data={"department": "D017"}).status_code == 403
    bureau = app.test_client()
    bureau_id = sign_in(bureau, "reviewer")
    assert f'id="q-{r.id}"' in bureau.get("/admin/requests").get_data(as_text=True)
    assert 'id="assign-form"' in bureau.get(f"/requests/{r.id}").get_data(as_text=True)
    assert bureau.post(f"/requests/{r.id}/assign", data={"department": "XX"}).status_code == 400
    assert bureau.post(f"/requests/{r.id}/assign", data={"department": "D017"}).status_code == 303
    assigned = platform.requests.get(r.id)
    assert (assigned.status, assigned.department, assigned.assigned_by) == (OPEN, "D017", bureau_id)
    assert assigned.deadline is not None or assigned.deadline_note
    (entry,) = [e for e in _entries(platform, "request.assign") if e.target == f"request:{r.id}"]
    assert (entry.actor, entry.role, entry.detail["department"]) == (bureau_id, "reviewer", "D017")
    assert f'id="q-{r.id}"' in publisher.get("/admin/requests").get_data(as_text=True)
    assert publisher.post(f"/requests/{r.id}/reply", data={"reply": "已纳入2027年开放计划"}).status_code == 303
    listing = app.test_client().get("/requests").get_data(as_text=True)
    assert "全市充电桩位置" in listing and "已纳入2027年开放计划" in listing
    english = app.test_client().get("/requests?lang=en").get_data(as_text=True)
    assert "Data requests" in english and "replied" in english
    assert 'id="data-shown"' not in listing  # every request is on the page: no note
    from server import requests_pages

    monkeypatch.setattr(requests_pages, "LIST_LIMIT", 1)
    filed = user.post("/requests/new", data={"wanted": "公园名录", "use": "出游", "department": "D017"})
    assert filed.status_code == 303
    waiting = platform.requests.count("data", replied=False)
    assert f"另有 {waiting} 条正在办理，答复后公开。" in app.test_client().get("/requests").get_data(as_text=True)
    second = platform.requests.get(int(filed.headers["Location"].rsplit("/", 1)[-1]))
    assert publisher.post(f"/requests/{second.id}/reply", data={"reply": "已开放"}).status_code == 303
    shown = app.test_client().get("/requests").get_data(as_text=True)
    total = platform.requests.count("data")
    assert total >= 2 and f"显示最新 1 条，共 {total} 条。" in shown and shown.count('class="request"') >= 1


def test_overdue_requests_come_first_on_the_department_dashboard(site, sign_in):
    app, platform, datasets = site
    department = "D020"
    fresh = platform.requests.request_data("u9", wanted="新需求", use="研究", department=department)
    old = platform.requests.request_data("u9", wanted="旧需求", use="研究", department=department,
                                         now=datetime(2026, 9, 1, 2, tzinfo=timezone.utc))
    publisher = app.test_client()
    sign_in(publisher, "publisher", department)
    html = publisher.get("/admin/department").get_data(as_text=True)
    section = html[html.index('id="requests"'):]
    assert section.index(f'id="rq-{old.id}"') < section.index(f'id="rq-{fresh.id}"')
    item = re.search(rf'id="rq-{old.id}".*?</li>', section, re.S).group(0)
    assert "已超期" in item and "已超期" not in re.search(rf'id="rq-{fresh.id}".*?</li>', section, re.S).group(0)
    menu = app.test_client().get("/").get_data(as_text=True)
    assert menu.count('href="/requests"') >= 2  # the menu and the footer
