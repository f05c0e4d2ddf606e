"""Re-measure freshness once a day; hand overdue updates and broken links to their departments as work orders;
then run the data-quality checks on the data files new or changed since their last check (a callable the
platform gives: server.data_checks.run_daily_data_checks)."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timezone
from typing import Callable

from manage.freshness import BEIJING, FreshnessLedger, MeasureStopped, beijing_today
from manage.workorders import Finding, SyncReport, WorkOrders

log = logging.getLogger(__name__)
OVERDUE_UPDATE = "overdue-update"
BROKEN_LINK = "broken-link"


def cycle_label(name: str | None, lang: str = "zh") -> str:
    """Return an update cycle's label (ontology/update-cycles.ttl), or the name itself (an EU frequency)."""
    from ontology.labels import concept_labels
    from ontology.namespaces import UPDATE_CYCLE

    labels = concept_labels().get(UPDATE_CYCLE[name]) if name and not name.startswith("eu:") else None
    found = [x.value for x in labels or () if (x.language or "").startswith("en" if lang == "en" else "zh")]
    return found[0] if found else (name or "")


def overdue_update_findings(ledger: FreshnessLedger, day: date) -> tuple[list[Finding], set[str], int]:
    """Return the day's late datasets as findings, the datasets measured, and how many late ones have no department."""
    findings, scope, orphans = [], set(), 0
    for row in ledger.rows(day):
        scope.add(row["dataset"])
        if row["status"] != "late":
            continue
        if not row["department"]:
            orphans += 1  # no department to hand it to: counted in the report, no work order
            continue
        late = "" if row["days_late"] is None else f"，逾期 {row['days_late']} 天"
        cycle = cycle_label(row["cycle"])
        detail = f"更新周期{cycle}，最后更新 {row['modified']}，更新期限 {row['due']}{late}"
        findings.append(Finding(row["department"], row["dataset"], OVERDUE_UPDATE, detail))
    return findings, scope, orphans


def broken_link_findings(broken: list[dict], departments: dict[str, str]) -> tuple[list[Finding], int]:
    """Return one finding per broken URL and dataset holding it (links.broken()), and how many have no department."""
    findings, orphans = [], 0
    for link in broken:
        answer = f"HTTP {link['status']}" if link.get("status") else (link.get("error") or "no answer")
        for dataset in link["datasets"]:
            if not departments.get(dataset):
                orphans += 1
                continue
            findings.append(Finding(departments[dataset], dataset, BROKEN_LINK,
                                    f"链接无法访问：{answer}", link["url"]))
    return findings, orphans


def remeasure(store, ledger: FreshnessLedger, workorders: WorkOrders | None, day: date | None = None,
              now: datetime | None = None, links=None, give_way: Callable[[], object] | None = None,
              stop: threading.Event | None = None) -> dict:
    """Measure the day's freshness, then open, refresh or resolve the overdue-update work orders, and the
    broken-link ones from the link monitor's last checks (links: harvesters.links.LinkTable, when there is one).
    ``give_way`` and ``stop``: see FreshnessLedger.measure."""
    now = now or datetime.now(timezone.utc)
    day = day or beijing_today(now)
    totals = ledger.measure(store, day, now, give_way=give_way, stop=stop)
    report: dict = {"day": day.isoformat(), "statuses": totals}
    if workorders is None:
        return report
    report["deadlines_set"] = workorders.fill_deadlines(at=now)  # orders whose calendar is known by now
    findings, scope, orphans = overdue_update_findings(ledger, day)
    synced: SyncReport = workorders.sync(OVERDUE_UPDATE, findings, scope=scope, at=now, check="更新时效",
                                         give_way=give_way, stop=stop)
    report |= {"work_orders": _synced(synced), "late_without_department": orphans}
    if links is not None:
        departments = {row["dataset"]: row["department"] for row in ledger.rows(day)}
        found, orphans = broken_link_findings(links.broken(), departments)
        synced = workorders.sync(BROKEN_LINK, found, at=now, check="链接检查", give_way=give_way, stop=stop)
        report |= {"broken_link_orders": _synced(synced), "broken_without_department": orphans}
    return report


def _synced(synced: SyncReport) -> dict:
    """A sync's counts for the report; a sync the stop cut short says so and counts the findings it left."""
    out = {"opened": synced.opened, "refreshed": synced.refreshed, "resolved": synced.resolved}
    return out | ({"stopped": True, "not_written": synced.left} if synced.stopped else {})


class DailyFreshness:
    """A daemon thread: re-measure at start when today's measure is missing, then once a day from a set hour.

    In a process that serves requests (``foreground``: core/foreground.py) the measure gives way to them between
    its slices; a stop ends it at the next slice, with nothing of that day written.
    """

    def __init__(self, store, ledger: FreshnessLedger, workorders: WorkOrders | None, *, hour: int = 2,
                 tick_s: float = 300.0, links=None, after: threading.Event | None = None,
                 data_checks: Callable[[threading.Event], dict] | None = None, foreground=None) -> None:
        self.store, self.ledger, self.workorders, self.links = store, ledger, workorders, links
        self.foreground = foreground
        self.data_checks = data_checks
        self.after = after  # e.g. the demo's first harvests: measure what they published, not an empty store
        self.hour, self.tick_s = hour, tick_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wodp-freshness", daemon=True)
        self._started = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_s: float = 30.0) -> None:
        """Stop ticking; wait (a while) for a re-measure under way, so its ledger is not closed under it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(wait_s)

    def tick(self, now: datetime | None = None) -> dict | None:
        """Re-measure when today's measure is missing (first tick, or from the set hour on); return the report."""
        now = now or datetime.now(timezone.utc)
        if self.after is not None and not self.after.is_set():
            return None
        first, self._started = not self._started, True
        today = beijing_today(now)
        if self.ledger.has_day(today) or not (first or now.astimezone(BEIJING).hour >= self.hour):
            return None
        give_way = None if self.foreground is None else (lambda: self.foreground.give_way(stop=self._stop))
        try:
            report = remeasure(self.store, self.ledger, self.workorders, today, now, links=self.links,
                               give_way=give_way, stop=self._stop)
        except MeasureStopped as stopped:
            log.info("%s", stopped)
            return None
        log.info("freshness re-measured for %s: %s", today, report)
        if self.data_checks is not None:
            try:
                report["data_checks"] = checked = self.data_checks(self._stop)  # stops between datasets
                log.info("data files checked for %s: %d checked, %d unchanged, %d failed%s", today,
                         checked["checked"], checked["unchanged"], checked["failed"],
                         "".join(f"\n  {why}" for why in checked["failed_files"]))
            except Exception as exc:  # the freshness is kept; the files are looked at again tomorrow
                log.exception("the daily data checks failed")
                report["data_checks"] = {"error": f"{type(exc).__name__}: {exc}"}
        return report

    def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("the daily freshness re-measure failed")
            waiting = self.after is not None and not self.after.is_set()
            if self._stop.wait(min(self.tick_s, 5.0) if waiting else self.tick_s):  # soon after the warm-up
                return
