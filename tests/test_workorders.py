"""Work orders: every transition, the dedup of a finding, auto-resolve, reminders and overdue across National Day.

Deadlines are read by hand from the State Council's 2026 notice (Oct 1-7 off; Sat Oct 10 a working day).
"""

from datetime import date, datetime, timezone

import pytest

from manage.daily import remeasure
from manage.freshness import FreshnessLedger
from manage.workorders import Finding, TransitionError, WorkOrders
from sparql.store import OxigraphStore

SEP30 = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)   # Wed Sep 30, 10:00 in Beijing
LINK = Finding("D017", "http://example.org/datasets/bus", "broken-link", "HTTP 404", "http://files.example/bus.csv")


@pytest.fixture
def orders(database_url, tmp_path):
    """The work orders on both backends of the data layer: a SQLite file and PostgreSQL."""
    from core.database import open_database

    db = open_database(database_url, "workorders", tmp_path / "workorders.sqlite", auto_migrate=True)
    wo = WorkOrders(db, {"broken-link": 5, "overdue-update": 10}, default_days=10, reminder_days=2)
    yield wo
    wo.close()


def test_deadline_counts_working_days_over_national_day(orders):
    order, new = orders.open_or_refresh(LINK, at=SEP30)
    assert new and order.status == "open"
    # 5 working days from Sep 30: Oct 8, 9, Sat Oct 10 (调休), Mon Oct 12, Tue Oct 13
    assert order.deadline == "2026-10-13"
    other, _ = orders.open_or_refresh(Finding("D017", "http://example.org/datasets/bus", "empty-rows", "3 空行"),
                                      at=SEP30)
    # 10 working days (default): Oct 8 9 10 12 13 14 15 16 19 20
    assert other.deadline == "2026-10-20"
    assert orders.overdue(date(2026, 10, 13)) == []          # the deadline day itself is not overdue
    assert [o.id for o in orders.overdue(date(2026, 10, 14))] == [order.id]
    assert orders.overdue(date(2026, 10, 14), department="D020") == []


def test_the_same_finding_is_one_order_and_its_last_seen_moves(orders):
    first, new = orders.open_or_refresh(LINK, at=SEP30)
    later = datetime(2026, 10, 8, 2, 0, tzinfo=timezone.utc)
    again, new_again = orders.open_or_refresh(
        Finding(LINK.department, LINK.dataset, LINK.kind, "HTTP 410", LINK.subject), at=later)
    assert new and not new_again and again.id == first.id
    assert (again.last_seen, again.detail, again.opened) == ("2026-10-08T02:00:00Z", "HTTP 410", first.opened)
    other_file, other_new = orders.open_or_refresh(
        Finding(LINK.department, LINK.dataset, LINK.kind, "HTTP 404", "http://files.example/other.csv"), at=later)
    assert other_new and other_file.id != first.id
    assert len(orders.for_department("D017")) == 2


@pytest.mark.parametrize("path", [
    ["in-progress", "resolved"], ["in-progress", "rejected"], ["resolved"], ["rejected"],
    ["in-progress", "open"], ["resolved", "open"], ["rejected", "open", "in-progress"],
])
def test_each_allowed_transition_is_recorded_with_who_and_when(orders, path):
    order, _ = orders.open_or_refresh(LINK, at=SEP30)
    for i, status in enumerate(path):
        at = datetime(2026, 10, 8 + i, 3, 0, tzinfo=timezone.utc)
        order = orders.transition(order.id, status, f"acct-{i}", f"note {i}", at=at)
        assert (order.status, order.updated_by, order.note) == (status, f"acct-{i}", f"note {i}")
        assert order.closed == (order.updated if status in ("resolved", "rejected") else None)
    history = orders.history(order.id)
    assert [(h["from"], h["to"]) for h in history] == list(zip([None, "open"] + path[:-1], ["open"] + path))
    assert [h["actor"] for h in history] == ["system"] + [f"acct-{i}" for i in range(len(path))]


@pytest.mark.parametrize("start, refused", [
    (["resolved"], "in-progress"), (["rejected"], "resolved"), ([], "open"), (["in-progress"], "in-progress"),
])
def test_refused_transitions_change_nothing(orders, start, refused):
    order, _ = orders.open_or_refresh(LINK, at=SEP30)
    for status in start:
        order = orders.transition(order.id, status, "a")
    with pytest.raises(TransitionError) as err:
        orders.transition(order.id, refused, "b")
    assert err.value.status == 409
    assert orders.get(order.id).status == order.status
    assert len(orders.history(order.id)) == 1 + len(start)
    with pytest.raises(TransitionError):
        orders.transition(order.id, "closed", "b")


def test_a_rejected_finding_stays_rejected_and_a_resolved_one_comes_back_as_new(orders):
    order, _ = orders.open_or_refresh(LINK, at=SEP30)
    orders.transition(order.id, "rejected", "dept-officer", "文件已迁移，链接无误")
    again, new = orders.open_or_refresh(LINK)
    assert not new and again.id == order.id and again.status == "rejected"
    orders.transition(order.id, "open", "reviewer", "复核后仍无法访问")
    orders.transition(order.id, "resolved", "dept-officer")
    back, new = orders.open_or_refresh(LINK)
    assert new and back.id != order.id and back.status == "open"


def test_a_finding_that_disappears_resolves_its_order(orders):
    a = Finding("D017", "http://example.org/datasets/a", "broken-link", "404", "http://f/a.csv")
    b = Finding("D017", "http://example.org/datasets/b", "broken-link", "404", "http://f/b.csv")
    c = Finding("D020", "http://example.org/datasets/c", "broken-link", "404", "http://f/c.csv")
    report = orders.sync("broken-link", [a, b, c], at=SEP30)
    assert (report.opened, report.refreshed, report.resolved) == (3, 0, 0)
    progressing = orders.for_department("D017")[1]
    orders.transition(progressing.id, "in-progress", "dept-officer")
    # the next check looks at a and b only: b is gone, c was not looked at
    later = datetime(2026, 10, 9, 2, 0, tzinfo=timezone.utc)
    report = orders.sync("broken-link", [a], scope={a.dataset, b.dataset}, at=later, check="链接检查")
    assert (report.opened, report.refreshed, report.resolved) == (0, 1, 1)
    statuses = {o.dataset[-1]: o for o in orders.for_department("D017") + orders.for_department("D020")}
    assert {k: o.status for k, o in statuses.items()} == {"a": "open", "b": "resolved", "c": "open"}
    assert statuses["b"].updated_by == "system" and "2026-10-09" in statuses["b"].note
    assert "链接检查" in statuses["b"].note


def test_a_large_sync_goes_in_transactions_giving_way_and_a_wrong_finding_writes_nothing(orders):
    found = [Finding("D017", f"http://example.org/datasets/{n}", "broken-link", "404", f"http://f/{n}.csv")
             for n in range(7)]
    with pytest.raises(ValueError, match="a empty-rows finding"):   # checked before anything is written
        orders.sync("broken-link", found + [Finding("D017", "http://example.org/datasets/x", "empty-rows", "3")])
    assert orders.for_department("D017") == []
    orders.SYNC_BATCH = 3   # transactions of 3, 3 and 1 findings; a look at the requests at each one's start
    looks = []
    report = orders.sync("broken-link", found, at=SEP30, give_way=lambda: looks.append(1))
    assert (report.opened, report.refreshed, report.resolved) == (7, 0, 0) and len(looks) == 3
    later = datetime(2026, 10, 9, 2, 0, tzinfo=timezone.utc)
    report = orders.sync("broken-link", found[2:], at=later)   # 0 and 1 are gone: resolved after the rest
    assert (report.opened, report.refreshed, report.resolved) == (0, 5, 2)
    assert sorted(o.dataset[-1] for o in orders.for_department("D017") if o.status == "resolved") == ["0", "1"]
    # the process ending: the findings seen so far are written, no order is resolved (next time)
    import threading

    stop = threading.Event()
    orders.SYNC_BATCH = 3
    report = orders.sync("broken-link", found[4:], at=later, give_way=stop.set, stop=stop)
    assert report.stopped and (report.opened, report.refreshed, report.resolved) == (0, 3, 0)
    assert report.left == 0   # the stop came after the last of the three was written
    report = orders.sync("broken-link", found[4:], at=later, stop=stop)   # stopped before the first: all counted
    assert report.stopped and (report.opened, report.refreshed, report.left) == (0, 0, 3)
    assert sorted(o.dataset[-1] for o in orders.for_department("D017") if o.status == "resolved") == ["0", "1"]


def test_reminders_are_due_in_the_last_working_days_and_once_overdue(orders):
    order, _ = orders.open_or_refresh(LINK, at=SEP30)             # deadline Tue Oct 13
    assert orders.due_reminders(date(2026, 10, 9)) == []          # Fri: Oct 10, 12, 13 still to work: 3 > 2
    due = orders.due_reminders(date(2026, 10, 10))                # Sat Oct 10 (调休): Oct 12, 13 left
    assert [(r.order.id, r.stage, r.working_days_left) for r in due] == [(order.id, "approaching", 2)]
    assert orders.due_reminders(date(2026, 10, 12)) == []         # already sent
    assert [r.stage for r in orders.due_reminders(date(2026, 10, 14), mark=False)] == ["overdue"]
    assert [r.stage for r in orders.due_reminders(date(2026, 10, 14))] == ["overdue"]
    assert orders.due_reminders(date(2026, 10, 15)) == []
    orders.transition(order.id, "resolved", "dept-officer")
    assert orders.due_reminders(date(2026, 10, 20)) == []


def test_a_deadline_past_the_known_calendar_is_left_empty_with_a_reason(orders):
    order, _ = orders.open_or_refresh(LINK, at=datetime(2026, 12, 28, 2, 0, tzinfo=timezone.utc))
    assert order.deadline is None and "2027" in order.deadline_note
    assert orders.overdue(date(2027, 6, 1)) == []


def test_overdue_updates_become_work_orders_and_resolve_when_updated(tmp_path):
    from tests.test_freshness import BASE, _graph

    store = OxigraphStore(tmp_path / "store")
    ledger = FreshnessLedger(tmp_path / "freshness.sqlite")
    orders = WorkOrders(tmp_path / "workorders.sqlite", {"overdue-update": 10})
    try:
        store.put_datasets({BASE + "late": _graph("late", "D017", "daily", None, "2026-09-30"),
                            BASE + "fine": _graph("fine", "D017", "monthly", None, "2026-09-30"),
                            BASE + "nobody": _graph("nobody", None, "daily", None, "2026-09-01")})
        at = datetime(2026, 10, 9, 0, 30, tzinfo=timezone.utc)   # 08:30 in Beijing, Fri Oct 9
        report = remeasure(store, ledger, orders, now=at)
        assert report["day"] == "2026-10-09"
        assert report["work_orders"] == {"opened": 1, "refreshed": 0, "resolved": 0}
        assert report["late_without_department"] == 1
        (order,) = orders.for_department("D017")
        assert order.kind == "overdue-update" and order.dataset == BASE + "late"
        # Oct 9 + 10 working days: Sat Oct 10 (调休), 12, 13, 14, 15, 16, 19, 20, 21, 22
        assert "2026-10-08" in order.detail and order.deadline == "2026-10-22"
        report = remeasure(store, ledger, orders, now=datetime(2026, 10, 10, 0, 30, tzinfo=timezone.utc))
        assert report["work_orders"] == {"opened": 0, "refreshed": 1, "resolved": 0}
        store.put_datasets({BASE + "late": _graph("late", "D017", "daily", None, "2026-10-12")})
        report = remeasure(store, ledger, orders, now=datetime(2026, 10, 12, 0, 30, tzinfo=timezone.utc))
        assert report["work_orders"] == {"opened": 0, "refreshed": 0, "resolved": 1}
        assert orders.get(order.id).status == "resolved"
    finally:
        orders.close(), ledger.close(), store.close()
