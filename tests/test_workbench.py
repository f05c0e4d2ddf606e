"""The department workbench (数据报送): the form made from the Wuhan profile, drafts, data files, validation beside
the fields, submission with and without review."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyoxigraph as ox
import pytest

from tests.workbench_support import BASE, CSV, VALUES, open_platform

SH = "http://www.w3.org/ns/shacl#"
CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def wb_platform(tmp_path_factory):
    platform = open_platform(tmp_path_factory.mktemp("workbench-home"))
    yield platform
    platform.close()


@pytest.fixture
def workbench(wb_platform, tmp_path):
    from core.database import open_database
    from manage.review import Workbench
    from manage.submissions import SubmissionStore

    store = SubmissionStore(open_database(None, "submissions", tmp_path / "submissions.sqlite"),
                            tmp_path / "submissions")
    yield Workbench(store, wb_platform.publisher, BASE, mode="new", owner_rule=wb_platform.accounts.owner_rule)
    store.db.close()


# -- the form from the shapes ------------------------------------------------------------------------------
def _dataset_shape_requirements() -> dict[str, str]:
    """Read shapes/wuhan.ttl independently: path → 'required' (minCount ≥ 1, violation) or 'recommended'."""
    from shapes.profiles import shape_file_bytes

    triples = [q.triple for q in ox.parse(shape_file_bytes("wuhan.ttl"), format=ox.RdfFormat.TURTLE)]
    shape = ox.NamedNode("https://data.wuhan.gov.cn/def/shapes/wuhan#DatasetShape")
    props = [t.object for t in triples if t.subject == shape and t.predicate.value == SH + "property"]
    value = {(t.subject, t.predicate.value): t.object for t in triples}
    out = {}
    for prop in props:
        minimum = value.get((prop, SH + "minCount"))
        if minimum is None or int(minimum.value) < 1:
            continue
        warning = value.get((prop, SH + "severity")) == ox.NamedNode(SH + "Warning")
        path = value[(prop, SH + "path")].value
        if out.get(path) != "required":
            out[path] = "recommended" if warning else "required"
    return out


def test_every_required_property_of_the_wuhan_dataset_shape_has_a_required_field():
    from manage.profile_form import form_fields, unformed_paths

    wanted = _dataset_shape_requirements()
    assert len(wanted) == 13  # 8 required (title … contact point), 5 recommended (theme … data volume)
    fields = {f.path: f for f in form_fields()}
    for path, level in wanted.items():
        assert path in fields, f"no form field for {path}"
        assert fields[path].required == (level == "required"), path
        assert fields[path].recommended == (level == "recommended"), path
    assert sum(f.required for f in form_fields()) == 9  # the 8 of the shape and the resource code (the key)
    assert unformed_paths() == []


def test_vocabulary_pickers_carry_the_schemes_with_both_labels():
    from manage.profile_form import field_by_name

    fields = field_by_name()
    assert [o.zh for o in fields["open_type"].options] == ["无条件开放", "有条件开放", "不予开放"]
    assert fields["open_type"].options[0].en == "open without conditions"
    assert fields["open_type"].kind == "select"
    assert len(fields["update_cycle"].options) == 9 and fields["update_cycle"].options[3].zh == "每月"
    assert len(fields["theme"].options) == 22 and fields["theme"].kind == "multiselect"
    assert fields["publisher"].kind == "select" and len(fields["publisher"].options) == 99
    transport = next(o for o in fields["publisher"].options if o.value.endswith("/D017"))
    assert (transport.zh, transport.en) == ("武汉市交通运输局", "Wuhan Municipal Transport Bureau")
    assert {"CSV", "XLSX", "JSON", "GEOJSON"} <= {o.zh for o in fields["format"].options}
    assert fields["issued"].kind == "date" and fields["data_volume"].kind == "number"


# -- drafts, validation beside the fields -----------------------------------------------------------------
def test_a_missing_required_field_is_reported_beside_that_field(workbench):
    sub = workbench.store.create("D017", "acct-1", "publisher",
                                 values={k: v for k, v in VALUES.items() if k != "description"})
    checked = workbench.check(sub)
    description = checked.placed["description"]
    assert any(f["severity"] == "Violation" and "资源摘要" in f["message_zh"] for f in description)
    assert "title" not in checked.placed
    assert [f["path"] for f in checked.placed[""]] == ["http://purl.org/dc/terms/temporal"]  # a warning of no field
    assert checked.violations == len([f for items in checked.placed.values() for f in items
                                      if f["severity"] == "Violation"]) >= 1
    from manage.review import SubmissionInvalidError

    with pytest.raises(SubmissionInvalidError):
        workbench.submit(sub, "acct-1", "publisher")
    assert workbench.store.get(sub.id).status == "draft"


def test_one_message_per_field_and_problem_with_the_count_of_its_sources(workbench, wb_platform):
    """A missing 资源摘要 is found by three shapes (DCAT-AP 3, the Wuhan profile, its Chinese-text rule): said once."""
    sub = workbench.store.create("D017", "acct-1", "publisher", values={**VALUES, "description": ""})
    checked = workbench.check(sub)
    (said,) = checked.placed["description"]
    assert (said["severity"], said["message_zh"], said["sources"]) == ("Violation", "缺少资源摘要（dct:description）。", 3)
    assert sorted(s.rsplit("/", 1)[-1] for s in said["shapes"]) == [
        "dcat-ap-3#Dataset-description", "wuhan#description", "wuhan#descriptionZh"]
    (spatial,) = checked.placed["spatial"]  # the same words from two shapes: once, both counted
    assert spatial["sources"] == 2 and spatial["severity"] == "Warning"
    assert checked.report["violations"] == 1  # what the officer reads: one problem to fix
    template = wb_platform_app(wb_platform).jinja_env.from_string(
        '{% import "workbench_macros.html" as m %}{{ m.findings(items, lang) }}')
    html = template.render(items=checked.placed["description"], lang="zh")
    assert html.count("<li") == 1 and "缺少资源摘要" in html and "（3 条规则发现）" in html
    assert "(found by 3 rules)" in template.render(items=checked.placed["description"], lang="en")


def test_merging_keeps_apart_other_values_and_other_kinds():
    from shapes.report import merge_findings

    d, p = "http://x/d", "http://purl.org/dc/terms/issued"
    sh = "http://www.w3.org/ns/shacl#"
    found = [{"focus": d, "path": p, "constraint": sh + "DatatypeConstraintComponent", "severity": "Violation",
              "shape": "s1", "message_zh": "日期格式不对", "value": '"2024/1/1"'},
             {"focus": d, "path": p, "constraint": sh + "DatatypeConstraintComponent", "severity": "Violation",
              "shape": "s1", "message_zh": "日期格式不对", "value": '"2024/2/1"'},
             {"focus": d, "path": p, "constraint": sh + "MaxCountConstraintComponent", "severity": "Warning",
              "shape": "s2", "message_zh": "只应有一个", "value": None},
             {"focus": d, "path": p, "constraint": sh + "MinCountConstraintComponent", "severity": "Warning",
              "shape": "a", "message_zh": "建议给出", "value": None},
             {"focus": d, "path": p, "constraint": sh + "QualifiedMinCountConstraintComponent",
              "severity": "Violation", "shape": "b", "message_zh": "必须给出", "value": None}]
    merged = merge_findings(found)
    assert [(f["message_zh"], f["sources"]) for f in merged] == [
        ("日期格式不对", 1), ("日期格式不对", 1), ("只应有一个", 1), ("必须给出", 2)]  # the most severe speaks


def wb_platform_app(platform):
    from server.app import create_app

    return create_app(platform=platform)


def test_another_departments_code_or_publisher_is_refused_beside_its_field(workbench):
    values = VALUES | {"resource_code": "420100-D012-00001",
                       "publisher": "https://data.wuhan.gov.cn/def/department/D012"}
    sub = workbench.store.create("D017", "acct-1", "publisher", values=values)
    placed = workbench.check(sub).placed
    assert any("D017" in f["message_zh"] for f in placed["publisher"])
    assert any("资源代码须含本部门代码" in f["message_zh"] for f in placed["resource_code"])


def test_review_mode_new_queues_then_return_resubmit_approve_publishes(workbench, wb_platform):
    store = workbench.store
    sub = store.create("D017", "acct-1", "publisher", values=VALUES)
    sub = store.update(sub.id, VALUES, "acct-1", "publisher", dataset_id="wuhan.420100-D017-08001")
    store.attach(sub.id, "stations.csv", CSV, "text/csv", "GCJ02", 2, "acct-1", "publisher")
    sub, checked = workbench.submit(store.get(sub.id), "acct-1", "publisher")
    assert checked.violations == 0
    assert sub.status == "submitted"
    uri = f"{BASE}/datasets/wuhan.420100-D017-08001"
    assert wb_platform.store.record_modified(uri) is None  # waits for review
    queue = workbench.queue(today=datetime.fromisoformat(sub.submitted).astimezone(CHINA).date())
    assert [i["submission"].id for i in queue] == [sub.id] and queue[0]["days"] == 0 and not queue[0]["overdue"]

    rows = {r["field"]: r for r in workbench.diff(sub)}
    assert rows["title"] == rows["title"] | {"old": [], "new": [VALUES["title"]], "change": "added"}
    assert rows["open_type"]["new"] == ["无条件开放"]
    assert rows["files"]["new"] == ["stations.csv (%d B)" % len(CSV), "CRS GCJ02"]

    with pytest.raises(Exception) as refused:
        workbench.send_back(sub, "rev-1", "reviewer", "  ")
    assert getattr(refused.value, "status", None) == 400
    sub = workbench.send_back(sub, "rev-1", "reviewer", "请补充数据量")
    assert (sub.status, sub.reason, sub.decided_by) == ("returned", "请补充数据量", "rev-1")
    sub = store.update(sub.id, VALUES | {"data_volume": "2"}, "acct-1", "publisher",
                       dataset_id="wuhan.420100-D017-08001")
    sub, _ = workbench.submit(sub, "acct-1", "publisher")
    sub, _ = workbench.approve(sub, "rev-1", "reviewer")
    assert sub.status == "published"
    published = wb_platform.store.dataset_triples(uri)
    titles = [t.object.value for t in published if t.predicate.value == "http://purl.org/dc/terms/title"
              and t.subject.value == uri]
    assert titles == [VALUES["title"]]
    downloads = [t.object.value for t in published if t.predicate.value == "http://www.w3.org/ns/dcat#downloadURL"]
    digest = __import__("hashlib").sha256(CSV).hexdigest()
    assert downloads == [f"{BASE}/files/submitted/wuhan.420100-D017-08001/{digest[:16]}/stations.csv"]
    actions = [(e.action, e.actor) for e in store.events(sub.id)]
    assert actions == [("create", "acct-1"), ("edit", "acct-1"), ("attach", "acct-1"), ("submit", "acct-1"),
                       ("return", "rev-1"), ("edit", "acct-1"), ("submit", "acct-1"), ("approve", "rev-1"),
                       ("publish", "rev-1")]
    assert store.published_file("wuhan.420100-D017-08001", digest[:16], "stations.csv").sha256 == digest
    assert store.published_file("wuhan.420100-D017-08001", "0" * 16, "stations.csv") is None

    # a change of the published dataset: with mode "new" it is published at once; the diff shows old → new
    change = workbench.start_change("wuhan.420100-D017-08001", "D017", "acct-1", "publisher")
    assert change.values["title"] == VALUES["title"] and change.values["open_type"] == VALUES["open_type"]
    store.update(change.id, change.values | {"title": "武汉市公共自行车站点（更新）"}, "acct-1", "publisher")
    rows = {r["field"]: r for r in workbench.diff(store.get(change.id))}
    assert rows["title"]["old"] == [VALUES["title"]] and rows["title"]["new"] == ["武汉市公共自行车站点（更新）"]
    assert rows["title"]["change"] == "changed"
    change, _ = workbench.submit(store.get(change.id), "acct-1", "publisher")
    assert change.status == "published"


def test_review_mode_none_publishes_at_once(workbench, wb_platform):
    workbench.mode = "none"
    values = VALUES | {"resource_code": "420100-D017-08002", "title": "武汉市停车泊位 报送测试"}
    sub = workbench.store.create("D017", "acct-1", "publisher", values=values)
    sub = workbench.store.update(sub.id, values, "acct-1", "publisher", dataset_id="wuhan.420100-D017-08002")
    sub, _ = workbench.submit(sub, "acct-1", "publisher")
    assert sub.status == "published"
    assert wb_platform.store.record_modified(f"{BASE}/datasets/wuhan.420100-D017-08002") is not None
    assert workbench.queue() == []


def test_overdue_after_the_set_working_days(workbench, monkeypatch):
    import manage.workdays

    monkeypatch.setattr(manage.workdays, "working_days_between", lambda start, end: 6)
    values = VALUES | {"resource_code": "420100-D017-08003"}
    sub = workbench.store.create("D017", "acct-1", "publisher", values=values)
    sub = workbench.store.update(sub.id, values, "acct-1", "publisher", dataset_id="wuhan.420100-D017-08003")
    workbench.submit(sub, "acct-1", "publisher")
    [item] = workbench.queue()
    assert item["days"] == 6 and item["overdue"] is True
    workbench.overdue_days = 6
    assert workbench.queue()[0]["overdue"] is False


def test_withdraw_and_steps_out_of_order(workbench):
    from manage.submissions import ConflictError

    sub = workbench.store.create("D017", "acct-1", "publisher", values=VALUES)
    with pytest.raises(ConflictError):
        workbench.approve(sub, "rev-1", "reviewer")
    sub = workbench.withdraw(sub, "acct-1", "publisher")
    assert sub.status == "withdrawn"
    with pytest.raises(ConflictError):
        workbench.store.update(sub.id, VALUES, "acct-1", "publisher")


def test_data_files_are_kept_private_with_their_digest(workbench):
    import hashlib
    import stat

    sub = workbench.store.create("D017", "acct-1", "publisher", values=VALUES)
    kept = workbench.store.attach(sub.id, "a.csv", CSV, "text/csv", None, 2, "acct-1", "publisher")
    again = workbench.store.attach(sub.id, "a.csv", CSV + b"x,1,2,3\n", "text/csv", "WGS84", 3, "acct-1")
    files = workbench.store.files(sub.id)
    assert [f.id for f in files] == [again.id] and files[0].rows == 3 and files[0].crs == "WGS84"
    assert files[0].sha256 == hashlib.sha256(CSV + b"x,1,2,3\n").hexdigest() and files[0].size == len(CSV) + 8
    assert not workbench.store.path_of(kept).exists()
    path = workbench.store.path_of(again)
    assert path.read_bytes() == CSV + b"x,1,2,3\n"
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_the_submissions_part_on_both_engines(database_url, tmp_path):
    """The same steps, rows and order on the embedded SQLite file and in PostgreSQL."""
    from core.database import open_database
    from manage.submissions import SubmissionStore

    store = SubmissionStore(open_database(database_url, "submissions", tmp_path / "s.sqlite", auto_migrate=True),
                            tmp_path / "files")
    try:
        first = store.create("D017", "a1", "publisher", values={"title": "一"})
        second = store.create("D017", "a1", "publisher", values={"title": "二"})
        store.create("D012", "a2", "publisher", values={"title": "三"})
        store.attach(first.id, "t.csv", CSV, "text/csv", "CGCS2000", 2, "a1")
        store.step(first.id, "submit", "a1", "publisher")
        store.step(second.id, "submit", "a1", "publisher")
        assert [s.id for s in store.queue()] == [first.id, second.id]
        store.step(first.id, "return", "r1", "reviewer", reason="数据量不对")
        assert [s.id for s in store.queue()] == [second.id]
        assert sorted(s.values["title"] for s in store.of_department("D017")) == ["一", "二"]
        returned = store.get(first.id)
        assert (returned.status, returned.reason, returned.decided_by) == ("returned", "数据量不对", "r1")
        assert [e.action for e in store.events(first.id)] == ["create", "attach", "submit", "return"]
        assert store.events(first.id)[-1].detail == {"reason": "数据量不对"}
        assert [f.crs for f in store.files(first.id)] == ["CGCS2000"]
    finally:
        store.db.close()


def test_working_days_in_the_queue_across_the_2026_national_day(workbench):
    """Submitted on 2026-09-30 (Beijing time), looked at on 2026-10-12: counted on the official calendar."""
    import chinese_calendar

    values = VALUES | {"resource_code": "420100-D017-08004"}
    sub = workbench.store.create("D017", "acct-1", "publisher", values=values)
    sub = workbench.store.update(sub.id, values, "acct-1", "publisher", dataset_id="wuhan.420100-D017-08004")
    workbench.submit(sub, "acct-1", "publisher")
    workbench.store.db.run("UPDATE submissions SET submitted = :at WHERE id = :id",
                           {"at": "2026-09-30T02:00:00+00:00", "id": sub.id})
    days = [date(2026, 9, 30) + timedelta(days=n) for n in range(1, 13)]
    expected = sum(chinese_calendar.is_workday(d) for d in days)  # Oct 1-7 off; the 调休 Saturday Oct 10 worked
    assert expected == sum(d.weekday() < 5 for d in days) - 5 + 1
    [item] = [i for i in workbench.queue(today=date(2026, 10, 12)) if i["submission"].id == sub.id]
    assert item["days"] == expected
    assert item["overdue"] is (expected > workbench.overdue_days)
