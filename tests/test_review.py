"""Reporting and review through the browser's doors: a publisher reports a dataset with a data file, sees the
violation beside its field, fixes it and submits; a reviewer returns it with a reason, then approves it; it is on
/datasets/{id}, in /sparql and its file downloads. Refusals: anonymous, another department's publisher, no reason."""

from __future__ import annotations

import json

import pytest

from tests.workbench_support import CSV, VALUES, field_block, form_data, open_platform, submission_id

DATASET_ID = "wuhan.420100-D017-08001"


@pytest.fixture(scope="module")
def review_platform(tmp_path_factory):
    platform = open_platform(tmp_path_factory.mktemp("review-home"), workers=True)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def app(review_platform):
    from server.app import create_app

    app = create_app(platform=review_platform)
    app.config["TESTING"] = True
    return app


def _location(answer) -> str:
    assert answer.status_code == 303, (answer.status_code, answer.get_data(as_text=True)[:800])
    return answer.headers["Location"]


def test_report_return_resubmit_approve_publish(app, sign_in):
    publisher, reviewer, other = app.test_client(), app.test_client(), app.test_client()
    publisher_id = sign_in(publisher, "publisher", "D017")
    reviewer_id = sign_in(reviewer, "reviewer")
    sign_in(other, "publisher", "D012")

    # the new form marks every required field
    blank = publisher.get("/admin/workbench/new").get_data(as_text=True)
    from manage.profile_form import form_fields

    for f in form_fields():
        assert ("wb-req" in field_block(blank, f.name)) == f.required, f.name
    assert 'name="csrf_token"' in blank

    # a draft without its description: the violation is shown beside the description field, not elsewhere
    missing = {k: v for k, v in VALUES.items() if k != "description"}
    where = _location(publisher.post("/admin/workbench/new", data=form_data(missing, publisher.csrf_token)))
    sid = submission_id(where)
    page = publisher.get(f"/admin/workbench/{sid}").get_data(as_text=True)
    assert "缺少资源摘要（dct:description）。" in field_block(page, "description")
    assert "wb-invalid" in field_block(page, "description")
    assert "缺少资源摘要" not in field_block(page, "title")
    english = publisher.get(f"/admin/workbench/{sid}?lang=en").get_data(as_text=True)
    assert "The description (资源摘要, dct:description) is missing." in field_block(english, "description")
    refused = publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token})
    assert refused.status_code == 422

    # another department's publisher may neither see nor submit it; anonymous is sent to sign in
    assert other.get(f"/admin/workbench/{sid}").status_code == 403
    assert other.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": other.csrf_token}).status_code == 403
    anonymous = app.test_client().get(f"/admin/workbench/{sid}", headers={"Accept": "text/html"})
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]
    assert publisher.get("/admin/review").status_code == 403

    # a data file with its coordinate system, then the fix
    _location(publisher.post(f"/admin/workbench/{sid}/files", content_type="multipart/form-data",
                             data={"file": (__import__("io").BytesIO(CSV), "stations.csv"), "crs": "GCJ02",
                                   "csrf_token": publisher.csrf_token}))
    _location(publisher.post(f"/admin/workbench/{sid}", data=form_data(VALUES, publisher.csrf_token)))
    page = publisher.get(f"/admin/workbench/{sid}").get_data(as_text=True)
    assert "0 个错误" in page and "stations.csv" in page and "GCJ02" in page
    _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    assert app.test_client().get(f"/datasets/{DATASET_ID}").status_code == 404  # waits for review

    # the reviewer's queue and diff
    queue = reviewer.get("/admin/review").get_data(as_text=True)
    assert VALUES["title"] in queue and 'data-days="0"' in queue
    item = reviewer.get(f"/admin/review/{sid}").get_data(as_text=True)
    assert 'data-field="title" data-change="added"' in item and "stations.csv" in item

    # returned: a reason is required; the publisher sees it
    assert reviewer.post(f"/admin/review/{sid}/return", data={"reason": " ",
                                                               "csrf_token": reviewer.csrf_token}).status_code == 400
    _location(reviewer.post(f"/admin/review/{sid}/return", data={"reason": "请补充数据量",
                                                                  "csrf_token": reviewer.csrf_token}))
    assert "请补充数据量" in publisher.get("/admin/workbench").get_data(as_text=True)
    assert sid not in reviewer.get("/admin/review").get_data(as_text=True)

    # resubmitted and approved: published on the dataset page, in /sparql, its file downloads
    _location(publisher.post(f"/admin/workbench/{sid}", data=form_data(VALUES | {"data_volume": "2"},
                                                                          publisher.csrf_token)))
    _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    assert other.post(f"/admin/review/{sid}/approve", data={"csrf_token": other.csrf_token}).status_code == 403
    _location(reviewer.post(f"/admin/review/{sid}/approve", data={"csrf_token": reviewer.csrf_token}))
    public = app.test_client()
    dataset = public.get(f"/datasets/{DATASET_ID}")
    assert dataset.status_code == 200 and VALUES["title"] in dataset.get_data(as_text=True)
    turtle = public.get(f"/datasets/{DATASET_ID}.nt").get_data(as_text=True)  # its history names who reported it
    assert (f"<http://127.0.0.1:8000/datasets/{DATASET_ID}> <http://www.w3.org/ns/prov#wasAttributedTo> "
            f"<http://127.0.0.1:8000/accounts/{publisher_id}> .") in turtle
    query = ("SELECT ?t WHERE { <http://127.0.0.1:8000/datasets/%s> <http://purl.org/dc/terms/title> ?t }"
             % DATASET_ID)
    answer = public.get("/sparql", query_string={"query": query},
                        headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200
    assert [b["t"]["value"] for b in json.loads(answer.get_data())["results"]["bindings"]] == [VALUES["title"]]
    digest = __import__("hashlib").sha256(CSV).hexdigest()[:16]
    download = public.get(f"/files/submitted/{DATASET_ID}/{digest}/stations.csv")
    assert download.status_code == 200 and download.get_data() == CSV

    # who did what, and when
    events = [(e.action, e.actor) for e in app.extensions["wodp"].extras["workbench"].store.events(sid)]
    assert ("return", reviewer_id) in events and ("approve", reviewer_id) in events
    assert ("submit", publisher_id) in events and events[-1] == ("publish", reviewer_id)

    # and the audit log says the same, with roles and the dataset's digests
    audit_log = app.extensions["wodp"].audit
    mine = [(e.action, e.actor, e.role) for e in audit_log.entries(action="review.")
            if e.target == f"submission:{sid}"]
    assert mine == [("review.return", reviewer_id, "reviewer"), ("review.approve", reviewer_id, "reviewer")]
    [published] = [e for e in audit_log.entries(action="dataset.publish") if e.target == f"dataset:{DATASET_ID}"]
    assert (published.actor, published.role, published.before) == (reviewer_id, "reviewer", None)
    assert published.after and published.detail["via"] == "workbench"
    submitted = [e.actor for e in audit_log.entries(action="submission.submit") if e.target == f"submission:{sid}"]
    assert submitted == [publisher_id, publisher_id]


def test_mode_none_publishes_at_once(app, sign_in):
    from server.admin.workbench import workbench

    publisher = app.test_client()
    sign_in(publisher, "publisher", "D017")
    with app.app_context():
        wb = workbench()
    wb.mode = "none"
    try:
        values = VALUES | {"resource_code": "420100-D017-08009", "title": "武汉市停车泊位 即时发布"}
        sid = submission_id(_location(publisher.post("/admin/workbench/new",
                                                     data=form_data(values, publisher.csrf_token))))
        _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
        page = app.test_client().get("/datasets/wuhan.420100-D017-08009")
        assert page.status_code == 200 and "武汉市停车泊位 即时发布" in page.get_data(as_text=True)
    finally:
        wb.mode = "new"


def test_a_withdrawn_dataset_s_submission_says_withdrawn_with_who_and_when(app, sign_in):
    from server.admin.workbench import workbench

    publisher = app.test_client()
    publisher_id = sign_in(publisher, "publisher", "D017")
    with app.app_context():
        wb = workbench()
    wb.mode = "none"
    try:
        values = VALUES | {"resource_code": "420100-D017-08010", "title": "武汉市停车泊位 将撤回"}
        sid = submission_id(_location(publisher.post("/admin/workbench/new",
                                                     data=form_data(values, publisher.csrf_token))))
        _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    finally:
        wb.mode = "new"
    dataset = "wuhan.420100-D017-08010"
    page = publisher.get(f"/admin/workbench/{sid}").get_data(as_text=True)
    assert "已发布" in page and f'href="/datasets/{dataset}"' in page
    _location(publisher.post(f"/admin/datasets/{dataset}/withdraw",
                             data={"csrf_token": publisher.csrf_token, "reason": "数据已过时"}))
    assert app.test_client().get(f"/datasets/{dataset}").status_code == 410
    assert wb.store.get(sid).status == "withdrawn"
    page = publisher.get(f"/admin/workbench/{sid}").get_data(as_text=True)
    assert 'wb-status-withdrawn">已撤回' in page and 'wb-status-published">' not in page
    assert f'href="/datasets/{dataset}"' not in page  # no link that answers 410
    assert "撤回已发布数据集" in page and "撤回原因：数据已过时" in page
    last = wb.store.events(sid)[-1]
    assert (last.action, last.actor, last.detail["reason"]) == ("withdraw-published", publisher_id, "数据已过时")
    listed = publisher.get("/admin/workbench").get_data(as_text=True)
    row = listed[listed.index("武汉市停车泊位 将撤回"):]
    assert "已撤回" in row[:row.index("</tr>")]


def test_a_form_without_its_csrf_token_is_refused(app, sign_in):
    publisher = app.test_client()
    sign_in(publisher, "publisher", "D017")
    publisher.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    answer = publisher.post("/admin/workbench/new", data=form_data(VALUES))
    assert answer.status_code in (400, 403)


def test_the_form_in_english_and_who_may_open_it(app, sign_in):
    publisher, auditor, reviewer = app.test_client(), app.test_client(), app.test_client()
    sign_in(publisher, "publisher", "D017")
    sign_in(auditor, "auditor")
    sign_in(reviewer, "reviewer")
    english = publisher.get("/admin/workbench/new?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Title" in field_block(english, "title") and "*required" in field_block(english, "title")
    assert ">open without conditions<" in field_block(english, "open_type")
    assert ">monthly<" in field_block(english, "update_cycle")
    chinese = publisher.get("/admin/workbench/new").get_data(as_text=True)
    assert ">无条件开放<" in field_block(chinese, "open_type") and ">每月<" in field_block(chinese, "update_cycle")
    # a publisher names only its own department as the publisher
    assert field_block(chinese, "publisher").count("<option value=\"https://") == 1
    assert ">武汉市交通运输局<" in field_block(chinese, "publisher")
    # the auditor reads, it does not report; the reviewer reviews, it does not report either
    assert auditor.get("/admin/workbench").status_code == 403
    assert auditor.get("/admin/review").status_code == 403
    assert reviewer.get("/admin/workbench/new").status_code == 403
    assert reviewer.get("/admin/review").status_code == 200


def test_a_change_starts_from_the_published_dataset_with_its_files(app, sign_in):
    from server.admin.workbench import workbench

    publisher, other = app.test_client(), app.test_client()
    sign_in(publisher, "publisher", "D017")
    sign_in(other, "publisher", "D012")
    values = VALUES | {"resource_code": "420100-D017-08005", "title": "武汉市公交站点 变更测试"}
    sid = submission_id(_location(publisher.post("/admin/workbench/new",
                                                 data=form_data(values, publisher.csrf_token))))
    _location(publisher.post(f"/admin/workbench/{sid}/files", content_type="multipart/form-data",
                             data={"file": (__import__("io").BytesIO(CSV), "stops.csv"), "crs": "WGS84",
                                   "csrf_token": publisher.csrf_token}))
    with app.app_context():
        wb = workbench()
    wb.mode = "none"
    try:
        _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    finally:
        wb.mode = "new"
    assert other.post("/admin/workbench/new", data={"dataset": "wuhan.420100-D017-08005",
                                                    "csrf_token": other.csrf_token}).status_code == 403
    change = submission_id(_location(publisher.post("/admin/workbench/new", data={
        "dataset": "wuhan.420100-D017-08005", "csrf_token": publisher.csrf_token})))
    page = publisher.get(f"/admin/workbench/{change}").get_data(as_text=True)
    assert 'value="武汉市公交站点 变更测试"' in field_block(page, "title")
    assert "readonly" in field_block(page, "resource_code")
    assert "stops.csv" in page and "WGS84" in page  # the published file goes on
    # removing the file is said before submitting: the change would drop it from the published dataset
    [kept] = wb.store.files(change)
    _location(publisher.post(f"/admin/workbench/{change}/files/{kept.id}/delete",
                             data={"csrf_token": publisher.csrf_token}))
    page = publisher.get(f"/admin/workbench/{change}").get_data(as_text=True)
    assert "提交后将被删除" in page and "stops.csv" in page


def test_an_admin_names_the_department_it_reports_for(app, sign_in):
    admin = app.test_client()
    sign_in(admin, "admin")
    chooser = admin.get("/admin/workbench")  # an admin has no department: it chooses one, as on /admin/department
    assert chooser.status_code == 200
    text = chooser.get_data(as_text=True)
    assert 'id="department-choice"' in text and '<option value="D012">D012 ' in text
    assert "/admin/workbench/new" not in text  # nothing to start before a department is chosen
    assert admin.get("/admin/workbench?department=D999").status_code == 400
    page = admin.get("/admin/workbench?department=D012")
    assert page.status_code == 200 and "D012" in page.get_data(as_text=True)
    assert '<option value="D012" selected>' in page.get_data(as_text=True)
    values = VALUES | {"resource_code": "420100-D012-00042",
                       "publisher": "https://data.wuhan.gov.cn/def/department/D012"}
    sid = submission_id(_location(admin.post("/admin/workbench/new",
                                             data=form_data(values, admin.csrf_token) | {"department": "D012"})))
    assert "武汉市" in field_block(admin.get(f"/admin/workbench/{sid}").get_data(as_text=True), "publisher")
    withdrawn = admin.post(f"/admin/workbench/{sid}/withdraw", data={"csrf_token": admin.csrf_token})
    assert "department=D012" in _location(withdrawn)


def test_a_geojson_file_becomes_a_layer_at_publication(app, sign_in):
    """The gate reads an attached file from where the workbench keeps it (its URL answers only once published)."""
    from server.admin.workbench import workbench

    publisher = app.test_client()
    sign_in(publisher, "publisher", "D017")
    geojson = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "汉口火车站"},
         "geometry": {"type": "Point", "coordinates": [114.2556, 30.6180]}},
        {"type": "Feature", "properties": {"名称": "武昌火车站"},
         "geometry": {"type": "Point", "coordinates": [114.3169, 30.5287]}}]}, ensure_ascii=False).encode()
    values = VALUES | {"resource_code": "420100-D017-08006", "title": "武汉市火车站 图层测试", "format": ["geojson"]}
    sid = submission_id(_location(publisher.post("/admin/workbench/new",
                                                 data=form_data(values, publisher.csrf_token))))
    _location(publisher.post(f"/admin/workbench/{sid}/files", content_type="multipart/form-data",
                             data={"file": (__import__("io").BytesIO(geojson), "stations.geojson"), "crs": "WGS84",
                                   "csrf_token": publisher.csrf_token}))
    assert "<td>2</td>" in publisher.get(f"/admin/workbench/{sid}").get_data(as_text=True)  # two features read
    with app.app_context():
        wb = workbench()
    wb.mode = "none"
    try:
        _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    finally:
        wb.mode = "new"
    platform = app.extensions["wodp"]
    uri = platform.dataset_uri("wuhan.420100-D017-08006")
    triples = platform.store.dataset_triples(uri)
    assert triples, "published"
    access = [t.object.value for t in triples if t.predicate.value == "http://www.w3.org/ns/dcat#accessURL"]
    assert any("/ogc/collections/" in a for a in access), access


def test_days_in_the_queue_are_unknown_where_the_calendar_ends(app, sign_in):
    """A submission waiting into a year the official calendar does not cover: its days are unknown, not guessed,
    and the queue page says so instead of failing."""
    from datetime import date

    from manage.workdays import covers
    from server.admin.workbench import workbench

    publisher, reviewer = app.test_client(), app.test_client()
    sign_in(publisher, "publisher", "D017")
    sign_in(reviewer, "reviewer")
    values = VALUES | {"resource_code": "420100-D017-08011", "title": "武汉市公共自行车站点 跨年待审"}
    sid = submission_id(_location(publisher.post("/admin/workbench/new",
                                                 data=form_data(values, publisher.csrf_token))))
    _location(publisher.post(f"/admin/workbench/{sid}/submit", data={"csrf_token": publisher.csrf_token}))
    with app.app_context():
        wb = workbench()
    year = max(y for y in range(2004, 2100) if covers(y)) + 1
    items = {i["submission"].id: i for i in wb.queue(today=date(year, 1, 20))}
    assert items[sid]["days"] is None and items[sid]["calendar_unknown"] == year and not items[sid]["overdue"]
