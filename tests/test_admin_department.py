"""/admin/department: a publisher sees its own department's numbers, staff who read every department choose one."""

import re
from datetime import timedelta

import pytest

from manage.daily import remeasure
from manage.freshness import beijing_today
from tests.test_freshness import BASE, _graph


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from config import load_settings
    from server.app import create_app
    from server.catalogue import install
    from server.platform import Platform

    settings = load_settings({}, overrides={"rate_limits": {"enabled": False}},
                             home=tmp_path_factory.mktemp("department-home"))
    platform = Platform.open(settings, start_workers=False)
    install(platform.store, settings)
    today = beijing_today()
    platform.store.put_datasets({
        BASE + "late": _graph("late", "D017", "daily", None, (today - timedelta(days=30)).isoformat()),
        BASE + "fresh": _graph("fresh", "D017", "yearly", None, today.isoformat()),
        BASE + "open": _graph("open", "D017", "irregular", None, today.isoformat()),
        BASE + "other": _graph("other", "D020", "yearly", None, today.isoformat())})
    remeasure(platform.store, platform.freshness, platform.workorders)
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    yield app
    platform.close()


def _number(page: str, key: str) -> str:
    return re.search(rf'id="{key}">([^<]*)<', page).group(1)


def test_the_anonymous_are_sent_to_sign_in(app):
    answer = app.test_client().get("/admin/department", headers={"Accept": "text/html"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login?next=")


def test_a_publisher_sees_its_own_department_only(app, sign_in):
    client = app.test_client()
    sign_in(client, "publisher", "D017")
    page = client.get("/admin/department")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "武汉市交通运输局" in html and '<select id="department"' not in html   # no choice of department
    assert [_number(html, k) for k in ("n-datasets", "n-overdue-updates", "n-on-time", "n-orders")] == \
        ["3", "1", "50.0%", "1"]
    assert _number(html, "f-no-deadline") == "1"
    assert client.get("/admin/department?department=D017&lang=en").status_code == 200
    assert client.get("/admin/department?department=D020").status_code == 403


@pytest.mark.parametrize("role", ["admin", "reviewer", "auditor"])
def test_staff_choose_a_department(app, sign_in, role):
    client = app.test_client()
    sign_in(client, role)
    chooser = client.get("/admin/department").get_data(as_text=True)
    assert '<option value="D020">' in chooser and 'id="n-datasets"' not in chooser
    page = client.get("/admin/department?department=D020&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Department overview" in html and "On-time update rate" in html
    assert [_number(html, k) for k in ("n-datasets", "n-overdue-updates", "n-on-time", "n-orders")] == \
        ["1", "0", "100.0%", "0"]


def test_the_public_role_is_refused(app, sign_in):
    client = app.test_client()
    sign_in(client, "public")
    assert client.get("/admin/department", headers={"Accept": "text/html"}).status_code == 403


def test_a_department_moves_its_work_orders_and_others_cannot(app, sign_in):
    orders = app.extensions["wodp"].workorders
    (order,) = orders.for_department("D017", active_only=True)
    officer = app.test_client()
    account = sign_in(officer, "publisher", "D017")
    page = officer.get("/admin/department").get_data(as_text=True)
    assert f'action="/admin/workorders/{order.id}/status"' in page and 'name="csrf_token"' in page
    stranger, auditor, anonymous = app.test_client(), app.test_client(), app.test_client()
    sign_in(stranger, "publisher", "D020")
    sign_in(auditor, "auditor")
    path = f"/admin/workorders/{order.id}/status"
    assert stranger.post(path, data={"status": "resolved"}).status_code == 403
    assert auditor.post(path, data={"status": "resolved"}).status_code == 403
    assert 'action="/admin/workorders/' not in auditor.get("/admin/department?department=D017").get_data(as_text=True)
    assert anonymous.post(path, data={"status": "resolved"}).status_code in (400, 401)
    no_csrf = app.test_client()
    sign_in(no_csrf, "publisher", "D017")
    no_csrf.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert no_csrf.post(path, data={"status": "in-progress"}).status_code == 400
    assert orders.get(order.id).status == "open"
    moved = officer.post(path, data={"status": "in-progress", "note": "已联系数据源单位", "csrf_token": officer.csrf_token})
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith(f"/admin/department?department=D017#wo-{order.id}")
    assert officer.post(path, data={"status": "in-progress"}).status_code == 409   # not a move from in-progress
    assert officer.post("/admin/workorders/999999/status", data={"status": "resolved"}).status_code == 404
    after = orders.get(order.id)
    assert (after.status, after.updated_by, after.note) == ("in-progress", account, "已联系数据源单位")
    assert [(h["to"], h["actor"]) for h in orders.history(order.id)] == [("open", "system"), ("in-progress", account)]
