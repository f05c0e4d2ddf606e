"""A department's dashboard numbers, each checked against what was put in its parts."""

from datetime import date, datetime, timezone

from harvesters.links import LinkStatus, LinkTable
from manage.daily import remeasure
from manage.dashboard import department_dashboard
from manage.freshness import FreshnessLedger
from manage.workorders import Finding, WorkOrders
from server.quality_scores import QualityScores
from shapes.quality import Quality, measurement_triples
from sparql.quarantine import Quarantine
from sparql.store import OxigraphStore
from tests.test_freshness import BASE, _graph


def _scored(name, score, *row):
    triples = _graph(name, *row)
    return triples + measurement_triples(BASE + name, Quality(1, 1, 1, None, score, ()),
                                         datetime(2026, 10, 9, tzinfo=timezone.utc))


def test_department_numbers(tmp_path):
    store = OxigraphStore(tmp_path / "store")
    ledger = FreshnessLedger(tmp_path / "freshness.sqlite")
    orders = WorkOrders(tmp_path / "workorders.sqlite", {"overdue-update": 10, "broken-link": 5})
    links = LinkTable(tmp_path / "links.sqlite")
    scores = QualityScores(tmp_path / "scores.sqlite")
    quarantine = Quarantine(tmp_path / "quarantine")
    try:
        store.put_datasets({
            BASE + "a": _scored("a", 80.0, "D017", "daily", None, "2026-09-30"),     # late on Oct 9
            BASE + "b": _scored("b", 90.0, "D017", "monthly", None, "2026-09-30"),   # on time
            BASE + "c": _scored("c", 70.0, "D017", None, None, "2026-09-30"),        # no cycle
            BASE + "x": _scored("x", 10.0, "D020", "daily", None, "2026-09-01"),     # another department
        })
        scores.rebuild(store)
        quarantine.hold("push.held-one", BASE + "push.held-one", [], {"conforms": False}, "push", "D017")
        quarantine.hold("push.held-other", BASE + "push.held-other", [], {"conforms": False}, "push", "D020")
        links.save([LinkStatus("http://f/a.csv", 404, broken=True), LinkStatus("http://f/b.csv", 200),
                    LinkStatus("http://f/x.csv", None, error="timeout", broken=True)],
                   {BASE + "a": {"http://f/a.csv"}, BASE + "b": {"http://f/b.csv"}, BASE + "x": {"http://f/x.csv"}})
        at = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)
        orders.open_or_refresh(Finding("D017", BASE + "a", "broken-link", "404", "http://f/a.csv"), at=at)
        report = remeasure(store, ledger, orders, now=datetime(2026, 10, 9, 1, 0, tzinfo=timezone.utc), links=links)
        # a.csv's order was opened before (refreshed), x.csv's is new; b.csv answers
        assert report["broken_link_orders"] == {"opened": 1, "refreshed": 1, "resolved": 0}
        assert report["broken_without_department"] == 0

        board = department_dashboard("D017", freshness=ledger, workorders=orders, quarantine=quarantine,
                                     links=links, quality_scores=scores, as_of=date(2026, 10, 14))
        assert board.freshness_day == date(2026, 10, 9)          # the last measure on or before the day
        assert (board.datasets, board.held, board.broken_links, board.overdue_updates) == (3, 1, 1, 1)
        assert board.on_time_rate == 0.5                          # b on time, a late; c declares no cycle
        assert board.quality_score == 80.0                        # (80 + 90 + 70) / 3
        assert board.work_orders == {"open": 2}
        kinds = sorted(o.kind for o in board.open_work_orders)
        assert kinds == ["broken-link", "overdue-update"]
        # the broken-link order was due Tue Oct 13 (5 working days over National Day): overdue on Oct 14
        assert board.overdue_work_orders == 1
        assert [r.stage for r in board.reminders] == ["overdue"] and board.reminders[0].order.kind == "broken-link"
        other = department_dashboard("D020", freshness=ledger, workorders=orders, quarantine=quarantine,
                                     links=links, quality_scores=scores, as_of=date(2026, 10, 14))
        assert (other.datasets, other.held, other.broken_links, other.overdue_updates) == (1, 1, 1, 1)
        assert other.on_time_rate == 0.0 and other.quality_score == 10.0
        assert other.work_orders == {"open": 2}
        links.save([LinkStatus("http://f/x.csv", 200)], {BASE + "x": {"http://f/x.csv"}})   # x.csv answers again
        report = remeasure(store, ledger, orders, now=datetime(2026, 10, 10, 1, 0, tzinfo=timezone.utc), links=links)
        assert report["broken_link_orders"] == {"opened": 0, "refreshed": 1, "resolved": 1}
        assert [o.kind for o in orders.for_department("D020", active_only=True)] == ["overdue-update"]
        nothing = department_dashboard("D099", freshness=ledger, workorders=orders, as_of=date(2026, 10, 14))
        assert (nothing.datasets, nothing.held, nothing.broken_links, nothing.on_time_rate) == (0, 0, None, None)
        early = department_dashboard("D017", freshness=ledger, workorders=orders, as_of=date(2026, 10, 8))
        assert early.freshness_day is None and early.datasets is None and early.overdue_updates is None
    finally:
        for part in (orders, ledger, links, scores, store):
            part.close()


def test_the_department_page_renders_the_numbers_in_both_languages(tmp_path):
    import re
    from types import SimpleNamespace

    from flask import Flask

    from config import load_settings
    from server.admin.department_page import department_bp, render_department
    from server.portal.views import portal_bp

    settings = load_settings({}, home=tmp_path)
    store = OxigraphStore(tmp_path / "store")
    platform = SimpleNamespace(
        freshness=FreshnessLedger(tmp_path / "freshness.sqlite"),
        workorders=WorkOrders(tmp_path / "workorders.sqlite", {"broken-link": 5}),
        quarantine=Quarantine(tmp_path / "quarantine"), harvesting=SimpleNamespace(links=LinkTable(tmp_path / "l.db")),
        quality_scores=QualityScores(tmp_path / "scores.sqlite"))
    try:
        store.put_datasets({BASE + "a": _scored("a", 80.0, "D017", "daily", None, "2026-09-30"),
                            BASE + "b": _scored("b", 90.0, "D017", "monthly", None, "2026-09-30")})
        platform.quality_scores.rebuild(store)
        platform.workorders.open_or_refresh(Finding("D017", BASE + "a", "broken-link", "HTTP 404", "http://f/a.csv"),
                                            at=datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc))
        remeasure(store, platform.freshness, platform.workorders, now=datetime(2026, 10, 9, 1, 0, tzinfo=timezone.utc))
        app = Flask(__name__)
        app.register_blueprint(portal_bp)
        app.register_blueprint(department_bp)
        pages = {}
        for lang in ("zh", "en"):
            with app.test_request_context("/admin/department" + ("?lang=en" if lang == "en" else "")):
                pages[lang] = render_department(platform, "D017", lang, settings=settings, as_of=date(2026, 10, 14))

        def number(page, key):
            return re.search(rf'id="{key}">([^<]*)<', page).group(1)

        for page in pages.values():
            assert [number(page, k) for k in ("n-datasets", "n-held", "n-overdue-updates", "n-on-time", "n-quality",
                                              "n-orders")] == ["2", "0", "1", "50.0%", "85.0", "2"]
            assert number(page, "n-broken") == "0"   # the link monitor has not found any
            assert number(page, "f-late") == "1" and number(page, "f-on-time") == "1"
        assert "武汉市交通运输局" in pages["zh"] and "按时更新率" in pages["zh"] and "已超期" in pages["zh"]
        assert "Wuhan Municipal Transport Bureau" in pages["en"] and "On-time update rate" in pages["en"]
        assert "past due" in pages["en"] and "2026-10-13" in pages["en"]   # the broken-link order's deadline
        with app.test_request_context("/admin/department"):
            chooser = render_department(platform, None, "zh", choices=["D017", "D020"], settings=settings)
        assert '<option value="D020">' in chooser and 'id="n-datasets"' not in chooser
    finally:
        for part in (platform.workorders, platform.freshness, platform.harvesting.links, platform.quality_scores,
                     store):
            part.close()
