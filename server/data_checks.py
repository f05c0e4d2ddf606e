"""Run the data-quality checks of tabular/ in a platform: at the publication gate and by `wodp check-data`.

At the gate, ``DataChecks`` is a hook (publish/hooks.py) placed after the quality hook:

- ``file_read`` (told by ``ogc.layers.Layers`` when it reads a data file for a layer) checks that file in the
  sandbox (``tabular.run.check_file``) and keeps its results for the distribution;
- ``assess`` checks the dataset's declared formats and its links (the link monitor's last results), then
  writes one DQV measurement per check that ran (``shapes.quality.data_quality_triples``);
- ``withdrawn`` forgets a withdrawn dataset's results.

``check_datasets`` (the command) reads every downloadable file of the datasets named (or of all), runs the file
checks and the split-series check over the catalogue's titles, keeps the findings, and publishes the datasets
again through the gate so that their DQV measurements follow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Sequence

import pyoxigraph as ox

from core.errors import WodpError
from ontology.namespaces import DCAT, DCT, WODP
from shapes.quality import data_quality_triples
from tabular.checks import CHECKS, Distribution, Link, broken_links_run, not_machine_readable_run
from tabular.findings import FileContent, QualityChecks
from tabular.run import SCOPE, FileChecked, check_file
from tabular.series import split_series

log = logging.getLogger(__name__)
TITLES = """SELECT ?d ?p ?t WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ;
  <http://purl.org/dc/terms/title> ?t . OPTIONAL { ?d <http://purl.org/dc/terms/publisher> ?p } } }"""


def wuhan_districts() -> list[str]:
    """Names of Wuhan's districts and functional areas (ogc/gazetteer.json), with their aliases ending in 区."""
    gazetteer = json.loads(resources.files("ogc").joinpath("gazetteer.json").read_text("utf-8"))
    places = gazetteer["districts"] + [p for p in gazetteer["places"] if p.get("kind") == "functional-area"]
    return sorted({n for p in places for n in [p["name"], *p.get("aliases", ())] if n.endswith("区")})


@dataclass
class CheckReport:
    """What one `wodp check-data` did: counts, and what it could not do."""

    datasets: int = 0
    files: int = 0
    unchanged: int = 0  # files found the same as at their last check (not read again)
    findings: dict[str, int] = field(default_factory=dict)
    not_read: list[str] = field(default_factory=list)
    republished: int = 0
    held: int = 0
    work_orders: dict = field(default_factory=dict)
    stopped: bool = False  # the process was ending: the datasets after the last one checked wait for next time
    not_republished: int = 0  # checked, but the process ended before their publication: checked again next time

    def as_json(self) -> dict:
        return {"datasets": self.datasets, "files": self.files, "unchanged": self.unchanged, "findings": dict(sorted(self.findings.items())),
                "not_read": len(self.not_read), "not_read_files": self.not_read[:50],
                "republished": self.republished, "held": self.held, "work_orders": self.work_orders,
                "stopped": self.stopped, "not_republished": self.not_republished}


REPUBLISH_CHUNK = 50  # datasets published again at a time: a process ending waits for one such publication (200: ~5 s)


class DataChecks:
    """The data-quality checks of one platform: a gate hook, and the runner of `wodp check-data`."""

    def __init__(self, settings, checks: QualityChecks, fetch: Callable[[str], bytes], *,
                 isolate: Callable[..., Any] | None = None, districts: Sequence[str] = ()) -> None:
        self.settings = settings.data_checks
        self.limits = settings.input_limits
        self.checks = checks
        self.fetch = fetch
        self.fetch_if_changed = None  # (url, etag, last_modified) -> ogc.datafile_state.Fetched (set by the platform)
        self.isolate = isolate
        self.districts = tuple(districts)
        self.base = settings.base_uri
        self.link_table = None  # harvesters.links.LinkTable: the link monitor's results (set by the platform)
        self._pending: dict[str, list] = {}  # dataset URI -> format and link runs measured, not yet kept
        self._departments: dict[str, list[str]] = {}  # dataset URI -> its publishers, for its work orders
        self.workorders = None  # manage.workorders.WorkOrders: findings handed to departments (set by the platform)
        self._lock = threading.Lock()
        self._batch = threading.local()  # .read: uri -> (files, link statuses, stored runs) of the batch in hand

    # -- the gate ------------------------------------------------------------------------------------------
    def file_read(self, uri: str, url: str, media: str | None, raw: bytes, dist: ox.Term | None) -> None:
        """Check a data file the gate has just read (ogc.layers.Layers tells of each one)."""
        if not (self.settings.enabled and self.settings.at_publication):
            return
        try:
            self._check_one(_dataset_id(uri), _dist_id(dist, url), url, media, raw,
                            FileContent(url, sha256=hashlib.sha256(raw).hexdigest()))
        except WodpError as exc:  # a check must never stop a publication
            log.warning("%s: the data checks of %s did not run: %s", _dataset_id(uri), url, exc.message)

    def before_assess(self, uris: Sequence[str]) -> None:
        """Read what ``assess`` needs of a batch's datasets at once (three queries per 500, not three each)."""
        if not self.settings.enabled or not uris:
            return
        ids = {uri: _dataset_id(uri) for uri in uris}
        files, runs = self.checks.files_of(list(ids.values())), self.checks.runs_of(list(ids.values()))
        links = self.link_table.statuses_of(list(uris)) if self.link_table is not None else {}
        self._batch.read = {uri: (files[i], links.get(uri), runs[i]) for uri, i in ids.items()}

    def assess(self, uri: str, triples: Sequence[ox.Triple], report) -> list[ox.Triple]:
        """Check the dataset's formats and links, and add the DQV measurements of every check that ran."""
        triples = list(triples)
        if not self.settings.enabled:
            return triples
        dataset_id = _dataset_id(uri)
        read = getattr(self._batch, "read", {}).get(uri)  # this thread's batch (before_assess), else asked here
        files, statuses, stored = read or (self.checks.files(dataset_id), None, None)
        dists = [replace_sniffed(d, files) for d in distributions(uri, triples)]
        runs = [not_machine_readable_run(dataset_id, dists)]
        if self.link_table is not None:
            if statuses is None:
                statuses = self.link_table.statuses(uri)
            links = [Link(s.url, s.broken, s.status, s.error) for s in statuses]
            run = broken_links_run(dataset_id, links)
            if run is not None:
                runs.append(run)
        subject = ox.NamedNode(uri)
        publishers = [t.object.value for t in triples if t.subject == subject and t.predicate == DCT.publisher]
        with self._lock:
            self._pending[uri] = runs  # kept once the store has the dataset (published), in one transaction
            self._departments[uri] = publishers
        values = self.checks.measurements(dataset_id, runs, stored)
        return _without_data_measurements(uri, triples, values) + data_quality_triples(uri, values)

    def published(self, created: Sequence[str], updated: Sequence[str], source: str, hashes, job) -> None:
        """Keep the format and link checks of the datasets just published, all in one transaction."""
        with self._lock:
            batch = [(_dataset_id(u), runs, [r.check for r in runs], None)
                     for u in [*created, *updated] if (runs := self._pending.pop(u, None)) is not None]
            departments = {u: self._departments.pop(u) for u in [*created, *updated] if u in self._departments}
        if batch:
            self.checks.save_many(batch)
        if self.workorders is not None and departments:
            try:
                sync_work_orders(self.workorders, self.checks, departments)
            except WodpError as exc:  # the findings are kept; the next publication or check-data syncs them
                log.warning("data-quality work orders not synced: %s", exc.message)

    def held(self, reports, source: str, hashes, job) -> None:
        with self._lock:
            for uri in reports:
                self._pending.pop(uri, None)
                self._departments.pop(uri, None)

    def withdrawn(self, uris: Sequence[str], source: str, job: int | None) -> None:
        self.checks.forget(_dataset_id(u) for u in uris)

    # -- on demand -----------------------------------------------------------------------------------------
    def check_datasets(self, publisher, uris: Sequence[str] | None, owner_of: Callable[[str], str | None],
                       profile_of: Callable[[str], str], publish: Callable | None = None,
                       changed_only: bool = False, stop: threading.Event | None = None) -> CheckReport:
        """Check the files of the datasets named (all when None) and the catalogue's titles; publish again.

        ``publish(graphs, source, profile)`` publishes (default: the gate's own; the command's audits it).
        ``changed_only`` (the daily job): read only the files new or changed since their last check (a
        conditional GET with the kept ETag / Last-Modified, else the same sha256), and publish again only the
        datasets one of whose files was checked. ``stop`` (set: the process is ending) ends the reading between
        two datasets; what was checked is kept and published, the rest is looked at next time (``stopped``).
        """
        publish = publish or publisher.publish
        if not self.settings.enabled:
            raise WodpError("data checks are off (settings data_checks.enabled)", status=409, code="disabled")
        store = publisher.store
        uris = list(store.dataset_uris()) if uris is None else list(uris)
        report = CheckReport(datasets=len(uris))
        graphs = {}
        for uri in uris:
            if stop is not None and stop.is_set():
                report.stopped = True
                break
            triples = store.dataset_triples(uri)
            if not triples:
                continue
            if self._check_files(uri, triples, report, changed_only) or not changed_only:
                graphs[uri] = triples
        publishers = self._check_titles(store, report)
        for uri in graphs:
            for finding in self.checks.findings_for(_dataset_id(uri)):
                report.findings[finding.check] = report.findings.get(finding.check, 0) + 1
        if self.workorders is not None:  # split series may name datasets not checked here: every dataset's
            report.work_orders = sync_work_orders(self.workorders, self.checks,
                                                  {u: [p] if p else [] for u, p in publishers.items()}, stop=stop)
        by_owner: dict[str, dict] = {}  # then published again: their DQV measurements follow
        for uri, triples in graphs.items():
            by_owner.setdefault(owner_of(uri) or "load", {})[uri] = triples
        chunks = [(owner, dict(list(batch.items())[i:i + REPUBLISH_CHUNK]))
                  for owner, batch in sorted(by_owner.items()) for i in range(0, len(batch), REPUBLISH_CHUNK)]
        for k, (owner, chunk) in enumerate(chunks):
            if stop is not None and stop.is_set():  # the process is ending: the rest are checked again next time
                left = [uri for _, rest in chunks[k:] for uri in rest]
                self.checks.unsettle([_dataset_id(uri) for uri in left])
                report.stopped, report.not_republished = True, len(left)
                log.info("data checks: the process is ending; %d datasets checked but not published again will "
                         "be checked again next time", len(left))
                break
            outcome = publish(chunk, owner, profile_of(owner))
            report.republished += len(outcome.published)
            report.held += len(outcome.held)
        return report

    def _check_files(self, uri: str, triples: Sequence[ox.Triple], report: CheckReport,
                     changed_only: bool = False) -> bool:
        """Check the dataset's data files (only the new or changed ones); return whether one was checked."""
        dataset_id = _dataset_id(uri)
        dists = [d for d in distributions(uri, triples) if d.url and d.url.startswith(("http://", "https://", "file:"))
                 and "/layers/" not in d.url and not d.url.startswith(f"{self.base}/ogc/")]  # not our layers' files
        if changed_only:  # files no longer listed leave no results behind
            self.checks.keep_only(dataset_id, [d.iri for d in dists], SCOPE)
        else:
            self.checks.save(dataset_id, [], scope=SCOPE)
        known = self.checks.contents(dataset_id) if changed_only else {}
        checked = False
        for dist in dists:
            before = known.get(dist.iri)
            before = before if before is not None and before.url == dist.url and before.sha256 else None
            try:
                fetched = self._fetch(dist.url, before)
            except WodpError as exc:  # the fetch's message names the URL already
                report.not_read.append(exc.message if exc.message.startswith(dist.url) else
                                       f"{dist.url}: {exc.message}")
                continue
            if before is not None and (fetched.body is None or fetched.sha256 == before.sha256):
                report.unchanged += 1  # the file checked last time: its results stand
                self.checks.seen_unchanged(dataset_id, dist.iri, FileContent(
                    dist.url, fetched.etag or before.etag, fetched.last_modified or before.last_modified))
                continue
            if fetched.body is None or len(fetched.body) > self.settings.max_bytes:
                why = "no content" if fetched.body is None else \
                    f"larger than data_checks.max_bytes = {self.settings.max_bytes}"
                report.not_read.append(f"{dist.url}: {why}")
                continue
            try:
                self._check_one(dataset_id, dist.iri, dist.url, (dist.media_type or "").split("/media-types/")[-1],
                                fetched.body, FileContent(dist.url, fetched.etag, fetched.last_modified,
                                                          fetched.sha256))
            except WodpError as exc:
                report.not_read.append(f"{dist.url}: {exc.message}")
                continue
            report.files += 1
            checked = True
        return checked

    def _fetch(self, url: str, before: FileContent | None):
        """Fetch a file, conditionally on what identified it at its last check (bounded as the gate's reads)."""
        from ogc.datafile_state import Fetched

        if self.fetch_if_changed is None:
            return Fetched(self.fetch(url))
        return self.fetch_if_changed(url, before.etag if before else None, before.last_modified if before else None)

    def _check_one(self, dataset_id: str, dist: str, url: str, media: str | None, raw: bytes,
                   content: FileContent | None = None) -> FileChecked:
        args = (raw, url, dataset_id, dist, self.limits)
        options = {"media": media or None, "max_empty_share": self.settings.max_empty_share,
                   "max_rows": self.settings.max_rows, "memory_mb": self.settings.duckdb_memory_mb}
        if self.isolate is None:
            result = check_file(*args, **options)
        else:
            result = self.isolate(check_file, *args, what=f"the data checks of {url}", background=True, **options)
        self.checks.save(dataset_id, result.runs, scope=SCOPE, distribution=dist)
        self.checks.note_file(dataset_id, dist, result.sniffed, result.encoding, result.rows, result.columns,
                              result.notes, content)
        return result

    def _check_titles(self, store, report: CheckReport) -> dict[str, str | None]:
        """Find the series among the catalogue's titles; return each dataset's publisher."""
        titles: dict[str, tuple[str | None, str]] = {}
        for row in store.query(TITLES):
            uri, publisher, title = row[0].value, row[1].value if row[1] is not None else None, row[2]
            language = getattr(title, "language", None) or ""
            if uri not in titles or language.startswith("zh"):
                titles[uri] = (publisher, title.value)
        runs = split_series(((_dataset_id(u), p, t) for u, (p, t) in titles.items()), self.districts,
                            min_size=self.settings.series_min_size)
        self.checks.save_many((dataset_id, [run], None, None) for dataset_id, run in runs.items())
        return {u: p for u, (p, _) in titles.items()}


# broken links are handed to departments by the daily job from the link monitor (manage/daily.py, broken-link)
ORDER_CHECKS = tuple(c for c in CHECKS if c != "broken-links")
CHECK_LABELS = {"empty-rows": "空行检查", "empty-columns": "空列检查", "empty-cells": "空值比例检查",
                "duplicate-rows": "重复行检查", "mixed-types": "类型一致性检查", "unreadable-file": "文件可读性检查",
                "not-machine-readable": "机读格式检查", "split-series": "拆分发布检查"}


def sync_work_orders(workorders, checks: QualityChecks, publishers: dict[str, list[str]], at=None,
                     stop: threading.Event | None = None) -> dict:
    """Open, refresh or resolve the work orders of each data check for these datasets (URI → publishers);
    ``stop`` set (the process ending) ends it as WorkOrders.sync says.

    An order is about (check, dataset URI, distribution or ""), goes to the dataset's department, and says the
    finding in Chinese; a dataset the check ran on without finding it again has its order resolved. Findings of
    datasets without one department are counted, not handed to anyone.
    """
    from manage.freshness import department_of
    from manage.workorders import Finding as Order

    known = {_dataset_id(u): (u, department_of(p)[0]) for u, p in publishers.items()}
    out = {"opened": 0, "refreshed": 0, "resolved": 0, "without_department": 0}
    # a publication's batch reads its own datasets' findings, not the whole catalogue's (at 600,000 datasets the
    # whole reads took 15 % of a harvest); the command's whole-catalogue sync reads them all at once
    among = list(known) if len(known) <= 5000 else None
    for check in ORDER_CHECKS:
        orders = []
        for f in checks.findings_of(check, among):
            uri, department = known.get(f.dataset_id, (None, ""))
            if uri is None:
                continue
            if not department:
                out["without_department"] += 1
                continue
            orders.append(Order(department, uri, check, f.message_zh, f.distribution or ""))
        scope = {known[i][0] for i in checks.checked(check, among) if i in known}
        synced = workorders.sync(check, orders, scope=scope, at=at, check=CHECK_LABELS[check], stop=stop)
        out = {**out, "opened": out["opened"] + synced.opened, "refreshed": out["refreshed"] + synced.refreshed,
               "resolved": out["resolved"] + synced.resolved}
        if synced.stopped:  # the process is ending: the other checks' orders are synced next time
            out["stopped"], out["not_written"] = True, synced.left
            break
    return out


def _dataset_id(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _dist_id(dist: ox.Term | None, url: str) -> str:
    return dist.value if isinstance(dist, ox.NamedNode) else url


def distributions(uri: str, triples: Sequence[ox.Triple]) -> list[Distribution]:
    """Read a dataset's distributions from its graph: IRI (or download URL), format, media type, URL."""
    subject = ox.NamedNode(uri)
    nodes = [t.object for t in triples if t.subject == subject and t.predicate == DCAT.distribution]
    out = []
    for node in nodes:
        values: dict[ox.NamedNode, str] = {}
        for t in triples:
            if t.subject == node and t.predicate in (DCT.format, DCAT.mediaType, DCAT.downloadURL, DCAT.accessURL):
                values.setdefault(t.predicate, t.object.value)
        url = values.get(DCAT.downloadURL) or values.get(DCAT.accessURL)
        if not isinstance(node, ox.NamedNode) and url is None:
            continue
        out.append(Distribution(_dist_id(node, url or ""), values.get(DCT.format), values.get(DCAT.mediaType),
                                url=values.get(DCAT.downloadURL)))
    return out


def replace_sniffed(dist: Distribution, files: dict[str, dict]) -> Distribution:
    """Give a distribution what its file was found to be, when it was read."""
    found = files.get(dist.iri)
    if not found:
        return dist
    return Distribution(dist.iri, dist.format, dist.media_type, found["sniffed"], dist.url)


def _without_data_measurements(uri: str, triples: list[ox.Triple], values: dict) -> list[ox.Triple]:
    """Drop earlier measurements of the data-quality metrics (the quality hook's own stay as they are)."""
    nodes = {ox.NamedNode(f"{uri}#quality-{metric}") for metric, _ in CHECKS.values()}
    metrics = {WODP[metric] for metric, _ in CHECKS.values()}
    return [t for t in triples if t.subject not in nodes and t.object not in nodes and t.subject not in metrics]


def run_check_data(platform, ids: Sequence[str] | None, via: dict | None = None, changed_only: bool = False,
                   stop: threading.Event | None = None) -> dict:
    """`wodp check-data ID…|--all`: check the datasets named by identifier (all when None); answer the counts.

    The datasets published again are in the audit log, one entry each, as `wodp load` leaves them (``via``).
    """
    from harvesters.base import profile_of
    from server.audit import audit_publication, digests_before

    by_id: dict[str, list[str]] = {}
    for uri in platform.store.dataset_uris():
        by_id.setdefault(_dataset_id(uri.rstrip("/")), []).append(uri)
    uris = None if ids is None else [u for i in ids for u in by_id.get(i, ())]
    jobs = platform.harvesting.jobs if platform.harvesting is not None else None
    sources = {s.name: s for s in platform.settings.harvest.sources}

    def owner_of(uri: str) -> str | None:
        entry = jobs.entry(uri) if jobs is not None else None
        return entry.source if entry is not None else None

    def profile(owner: str) -> str:
        return profile_of(sources[owner]) if owner in sources else platform.publisher.profile

    checks = platform.data_checks
    sandbox, isolate = None, checks.isolate
    if getattr(platform.sandbox, "limits", None) is None and platform.settings.sandbox.enabled:
        from server.platform import open_sandbox  # a command without workers: the files are read in one all the same

        sandbox = open_sandbox(platform.settings)
        checks.isolate = sandbox.run
    def publish(graphs: dict, source: str, profile: str):
        existed, before = digests_before(platform, graphs)
        outcome = platform.publisher.publish(graphs, source, profile)
        audit_publication(platform, graphs, outcome, before, existed,
                          detail={**(via or {}), "source": source, "reason": "check-data"})
        return outcome

    try:
        report = checks.check_datasets(platform.publisher, uris, owner_of, profile, publish, changed_only, stop)
    finally:
        checks.isolate = isolate
        if sandbox is not None:
            sandbox.close()
    out = report.as_json()
    out["not_found"] = [] if ids is None else [i for i in ids if i not in by_id]
    from server.audit import audit  # the findings and work orders changed, whether or not a dataset was published

    audit("data-checks.run", "data-checks", detail={**(via or {}), "changed_only": changed_only,
                                                    **{k: out[k] for k in ("datasets", "files", "unchanged",
                                                                           "not_read", "republished", "held",
                                                                           "work_orders")}},
          log_to=platform.audit)
    return out


def run_daily_data_checks(platform, stop: threading.Event | None = None) -> dict:
    """The daily job's data checks: every published dataset's files new or changed since their last check.

    Answers the counts: datasets, files checked, unchanged (not read again), failed (each with why), findings,
    datasets published again (their DQV measurements follow; audited with ``via: daily``) and work orders.
    """
    out = run_check_data(platform, None, {"via": "daily"}, changed_only=True, stop=stop)
    failed = out.pop("not_read_files")
    out["checked"], out["failed"], out["failed_files"] = out.pop("files"), out.pop("not_read"), failed
    out.pop("not_found", None)
    return out
