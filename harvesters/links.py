"""Website content monitoring: check every distribution URL, mark broken links, find changed files.

A ``links`` source is a job like a harvest (status, counts, log, errors in the harvest database) but it reads
the store instead of a source: every dcat:downloadURL / dcat:accessURL of the published datasets is asked
(conditionally, with a time limit), its status, content type, size, ETag, Last-Modified and a SHA-256 of the
body (up to a bounded size) kept per URL. Datasets whose link availability changed are published again through
the gate, as their own source, so the quality hook measures them with ``links=(answering, checked)``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import httpx

from sqlalchemy import text

from core.database import Database, as_database, in_lists
from harvesters.base import FetchResult, HarvestBusyError, HarvestError, Harvester, profile_of
from harvesters.http import USER_AGENT

log = logging.getLogger(__name__)
MAX_HASH_BYTES = 8 * 1024 * 1024   # bytes of a body read and hashed; larger files hash their first bytes
URLS_QUERY = """
SELECT DISTINCT ?d ?u WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> ;
  <http://www.w3.org/ns/dcat#distribution> ?x .
  { ?x <http://www.w3.org/ns/dcat#downloadURL> ?u } UNION { ?x <http://www.w3.org/ns/dcat#accessURL> ?u } } }
"""


@dataclass(frozen=True)
class LinkStatus:
    """What one check of a URL found."""

    url: str
    status: int | None            # HTTP status (304: unchanged since the last check), None when no answer
    content_type: str | None = None
    size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    hash: str | None = None       # sha256 of the body (of its first MAX_HASH_BYTES when larger)
    error: str | None = None
    broken: bool = False
    changed: bool = False         # hash or a validator differs from the last check


class LinkTable:
    """The link monitor's tables (one row per URL, datasets → URLs): in harvest.sqlite, or the shared database."""

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "links")
        self._lock = threading.RLock()

    def get(self, url: str) -> LinkStatus | None:
        rows = self.db.rows("SELECT url, status, content_type, size, etag, last_modified, hash, error, broken "
                            "FROM link_status WHERE url = :url", {"url": url})
        return LinkStatus(*rows[0][:8], broken=bool(rows[0][8])) if rows else None

    def save(self, results: Iterable[LinkStatus], links: Mapping[str, set[str]]) -> None:
        """Record check results and which URLs each checked dataset has, in one transaction."""
        now = time.time()
        with self._lock, self.db.write() as conn:  # a failed COMMIT (a full disk) rolls back: nothing half-saved
            rows = [{"url": r.url, "status": r.status, "ct": r.content_type, "size": r.size, "etag": r.etag,
                     "lm": r.last_modified, "hash": r.hash, "broken": int(r.broken), "error": r.error, "now": now,
                     "changed": now if r.changed else None, "since": now if r.broken else None} for r in results]
            if rows:
                conn.execute(text(
                    "INSERT INTO link_status (url, status, content_type, size, etag, last_modified, hash, broken, "
                    "error, checked_at, changed_at, broken_since) VALUES (:url, :status, :ct, :size, :etag, :lm, "
                    ":hash, :broken, :error, :now, :changed, :since) "
                    "ON CONFLICT(url) DO UPDATE SET status = excluded.status, content_type = "
                    "excluded.content_type, size = excluded.size, etag = excluded.etag, last_modified = "
                    "excluded.last_modified, hash = excluded.hash, broken = excluded.broken, error = "
                    "excluded.error, checked_at = excluded.checked_at, changed_at = COALESCE(excluded.changed_at, "
                    "link_status.changed_at), broken_since = CASE WHEN excluded.broken = 0 THEN NULL "
                    "ELSE COALESCE(link_status.broken_since, excluded.broken_since) END"), rows)
            for dataset, urls in links.items():
                conn.execute(text("DELETE FROM dataset_links WHERE dataset = :d"), {"d": dataset})
                if urls:
                    conn.execute(text("INSERT INTO dataset_links (dataset, url) VALUES (:d, :u)"),
                                 [{"d": dataset, "u": u} for u in sorted(urls)])

    def checks(self, urls: Iterable[str]) -> dict[str, tuple[LinkStatus, float, float | None]]:
        """Return URL → (its last check, when it was made, since when it is broken) for the URLs ever checked."""
        wanted = sorted(set(urls))
        out: dict[str, tuple[LinkStatus, float, float | None]] = {}
        for marks, params in in_lists(wanted):
            for r in self.db.rows("SELECT url, status, content_type, size, etag, last_modified, hash, error, broken, "
                                  f"checked_at, broken_since FROM link_status WHERE url IN ({marks})", params):
                out[r[0]] = (LinkStatus(*r[:8], broken=bool(r[8])), float(r[9]),
                             None if r[10] is None else float(r[10]))
        return out

    def counts(self, dataset: str) -> tuple[int, int] | None:
        """Return (answering, checked) links of a dataset, or None when none of them was checked."""
        return self.counts_of([dataset])[dataset]

    def counts_of(self, datasets: Sequence[str]) -> dict[str, tuple[int, int] | None]:
        """``counts`` of many datasets, from their ``statuses_of``."""
        return {d: (sum(not s.broken for s in found), len(found)) if found else None
                for d, found in self.statuses_of(datasets).items()}

    def statuses(self, dataset: str) -> list[LinkStatus]:
        """Return the last check of each link of a dataset (URI), in URL order; empty when none was checked."""
        return self.statuses_of([dataset])[dataset]

    def statuses_of(self, datasets: Sequence[str]) -> dict[str, list[LinkStatus]]:
        """``statuses`` of many datasets: one query per 500 of them (a publication's batch asks them together)."""
        out: dict[str, list[LinkStatus]] = {d: [] for d in datasets}
        wanted = sorted(set(datasets))
        for marks, params in in_lists(wanted):
            for r in self.db.rows("SELECT l.dataset, s.url, s.status, s.content_type, s.size, s.etag, "
                                  "s.last_modified, s.hash, s.error, s.broken FROM dataset_links l JOIN link_status s "
                                  f"ON s.url = l.url WHERE l.dataset IN ({marks}) ORDER BY l.dataset, s.url", params):
                out[r[0]].append(LinkStatus(*r[1:9], broken=bool(r[9])))
        return out

    def published(self, dataset: str) -> tuple[int, int] | None:
        """Return the counts last published in the dataset's quality measurements."""
        rows = self.db.rows("SELECT ok, checked FROM link_quality WHERE dataset = :d", {"d": dataset})
        return (rows[0][0], rows[0][1]) if rows else None

    def mark_published(self, counts: Mapping[str, tuple[int, int]]) -> None:
        if counts:
            with self._lock, self.db.write() as conn:
                conn.execute(text("INSERT INTO link_quality (dataset, ok, checked) VALUES (:d, :ok, :n) "
                                  "ON CONFLICT (dataset) DO UPDATE SET ok = excluded.ok, checked = excluded.checked"),
                             [{"d": d, "ok": ok, "n": n} for d, (ok, n) in counts.items()])

    def broken(self) -> list[dict]:
        """Return the broken links with the datasets that hold them."""
        concat = "string_agg(l.dataset, ' ')" if self.db.postgres else "group_concat(l.dataset, ' ')"
        rows = self.db.rows(f"SELECT s.url, s.status, s.error, {concat} FROM link_status s "
                            "JOIN dataset_links l ON l.url = s.url WHERE s.broken = 1 GROUP BY s.url, s.status, "
                            "s.error ORDER BY s.url")
        return [{"url": u, "status": st, "error": e, "datasets": (d or "").split()} for u, st, e, d in rows]

    def close(self) -> None:
        self.db.close()


def check_url(client: httpx.Client, url: str, previous: LinkStatus | None,
              max_hash_bytes: int = MAX_HASH_BYTES) -> LinkStatus:
    """Ask one URL (conditionally when its last check gave validators); never raise."""
    headers = {}
    if previous is not None and not previous.broken:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    try:
        with client.stream("GET", url, headers=headers) as resp:
            got = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status_code == 304 and previous is not None:
                return LinkStatus(url, 304, previous.content_type, previous.size, got.get("etag", previous.etag),
                                  got.get("last-modified", previous.last_modified), previous.hash)
            digest, n = hashlib.sha256(), 0
            if resp.status_code < 400:
                for chunk in resp.iter_bytes():
                    chunk = chunk[: max_hash_bytes - n]
                    digest.update(chunk)
                    n += len(chunk)
                    if n >= max_hash_bytes:
                        break
            status = resp.status_code
    except httpx.TimeoutException as exc:
        return LinkStatus(url, None, error=f"no answer in time ({type(exc).__name__})", broken=True)
    except httpx.HTTPError as exc:
        return LinkStatus(url, None, error=f"{type(exc).__name__}: {exc}"[:300], broken=True)
    if status >= 400:
        return LinkStatus(url, status, got.get("content-type"), error=f"HTTP {status}", broken=True)
    length = got.get("content-length")
    size = int(length) if length and length.isdigit() else (n if n < max_hash_bytes else None)
    found = LinkStatus(url, status, got.get("content-type"), size, got.get("etag"), got.get("last-modified"),
                       digest.hexdigest())
    changed = previous is not None and not previous.broken and previous.status is not None and (
        (previous.hash, previous.etag, previous.last_modified) != (found.hash, found.etag, found.last_modified))
    return LinkStatus(**{**found.__dict__, "changed": changed})


class LinkMonitor(Harvester):
    """The ``links`` kind: it runs through :func:`run_link_check` (Harvesting dispatches it), not fetch."""

    kind = "links"
    channel = "external"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        raise HarvestError(f"source {self.source.name}: link monitoring runs through Harvesting.run")


def dataset_links(store, base_uri: str, only: set[str] | None, skip_own: bool = True) -> dict[str, set[str]]:
    """Return dataset URI → its http(s) distribution URLs (our own dataset pages left out)."""
    own = base_uri.rstrip("/") + "/datasets/"
    out: dict[str, set[str]] = {}
    for row in store.query(URLS_QUERY):
        dataset, url = row[0].value, row[1].value
        if only is not None and dataset not in only:
            continue
        if not url.startswith(("http://", "https://")) or (skip_own and url.startswith(own)):
            continue
        out.setdefault(dataset, set()).add(url)
    return out


def run_link_check(src, ctx, table: LinkTable, trigger: str = "manual", on_job=None) -> dict:
    """Check the links of the published datasets as one job; re-publish datasets whose availability changed."""
    jobs = ctx.jobs
    jobs.recover(ctx.settings.harvest.stale_after_s, source=src.name)
    if jobs.running(src.name):
        raise HarvestBusyError(f"a check of {src.name!r} is already running")
    interrupted, _ = jobs.interrupted(src.name)
    job = jobs.start(src.name, retry_of=interrupted.id if interrupted else None, trigger=trigger)
    if on_job is not None:  # a run in the background: its job's id, as soon as it is recorded
        on_job(job)
    started, counts, errors, report = time.time(), {}, [], {}

    def note(line: str) -> None:
        jobs.log(job, line)
        jobs.heartbeat(job)

    status, message = "failed", ""
    try:
        report = _check(src, ctx, table, job, note)
        counts = {"unchanged": report["ok"] - len(report["changed_files"]), "updated": report["republished"],
                  "failed": report["broken"]}
        errors = [(r["url"], "broken-link", r["error"]) for r in report.pop("broken_links")]
        status = "succeeded"
        others = "".join(f" and {n} of the {name}" for name, n in report.get("others", {}).items())
        message = (f"{report['checked']} links of {report['datasets']} datasets{others} checked: "
                   f"{report['broken']} broken, "
                   f"{len(report['changed_files'])} changed files; {report['republished']} datasets re-published "
                   f"with their link availability")
    except Exception as exc:  # a failing check changes nothing published
        message = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        log.exception("link check %s failed", src.name) if not isinstance(exc, HarvestError) else None
    finally:
        note(message)
        jobs.errors(job, errors)
        jobs.finish(job, status, counts, message)
    out = jobs.job(job).as_json()
    out.update({k: v for k, v in report.items() if k in ("checked", "broken", "changed_files", "datasets", "others")})
    out["errors"] = len(errors)
    out["duration_s"] = round(time.time() - started, 3)
    return out


def _check(src, ctx, table: LinkTable, job: int, note) -> dict:
    options = src.options or {}
    store = ctx.publisher.store
    only = None
    if options.get("sources"):
        only = {u for s in options["sources"] for u, e in ctx.jobs.entries(s).items() if e.state == "published"}
    links = dataset_links(store, ctx.settings.base_uri, only, options.get("skip_own", True))
    urls = {u for us in links.values() for u in us}
    others = _more_links(ctx, options, note)
    urls = sorted(urls | {u for us in others.values() for u in us})
    note(f"checking {len(urls)} links of {len(links)} datasets"
         + "".join(f", {len(us)} of the {name}" for name, us in sorted(others.items())))
    timeout = float(options.get("timeout_s", ctx.settings.harvest.timeout_s))
    limit = int(options.get("max_hash_bytes", MAX_HASH_BYTES))
    with httpx.Client(timeout=timeout, follow_redirects=True, transport=ctx.transport,
                      headers={"User-Agent": USER_AGENT, **ctx.headers}) as client, \
            ThreadPoolExecutor(max_workers=int(options.get("workers", 8))) as pool:
        results = list(pool.map(lambda u: check_url(client, u, table.get(u), limit), urls))
    table.save(results, links)
    broken = [r for r in results if r.broken]
    changed = [r.url for r in results if r.changed]
    for r in broken:
        note(f"broken: {r.url} ({r.error})")
    for url in changed:
        note(f"changed: {url}")
    republished = _republish(src, ctx, table, links, job, note)
    return {"checked": len(results), "datasets": len(links), "ok": len(results) - len(broken),
            "others": {name: len(us) for name, us in sorted(others.items())},
            "broken": len(broken), "changed_files": changed, "republished": republished,
            "broken_links": [{"url": r.url, "error": r.error} for r in broken]}


def _more_links(ctx, options: Mapping[str, Any], note) -> dict[str, set[str]]:
    """Return the other links to check (HarvestContext.more_links: the showcase's), http(s) only; a provider
    that fails is said in the job's log and checks nothing (option ``others: false`` leaves them all out)."""
    out: dict[str, set[str]] = {}
    if options.get("others", True) is False:
        return out
    for name, provider in sorted(getattr(ctx, "more_links", {}).items()):
        try:
            out[name] = {u for u in provider() if isinstance(u, str) and u.startswith(("http://", "https://"))}
        except Exception as exc:  # noqa: BLE001  the distributions are checked all the same
            note(f"the {name}'s links could not be read: {type(exc).__name__}: {exc}")
    return out


def _republish(src, ctx, table: LinkTable, links: Mapping[str, set[str]], job: int, note) -> int:
    """Publish again, as their own source, the datasets whose (answering, checked) counts changed."""
    due: dict[str, tuple[int, int]] = {}
    for dataset in links:
        now = table.counts(dataset)
        if now is not None and now != table.published(dataset):
            due[dataset] = now
    by_source: dict[str, list[str]] = {}
    for dataset in due:
        entry = ctx.jobs.entry(dataset)
        by_source.setdefault(entry.source if entry else "links", []).append(dataset)
    done: dict[str, tuple[int, int]] = {}
    for owner, uris in sorted(by_source.items()):
        graphs = {u: ctx.publisher.store.dataset_triples(u) for u in uris}
        outcome = ctx.publisher.publish({u: t for u, t in graphs.items() if t}, owner, _profile(ctx, owner),
                                        job=job)
        done.update({u: due[u] for u in outcome.published})
        if outcome.held:
            note(f"{len(outcome.held)} datasets of {owner} no longer pass the gate; left as they were")
    table.mark_published(done)
    if done:
        note(f"re-published {len(done)} datasets with their link availability")
    return len(done)


def _profile(ctx, owner: str) -> str:
    """Return the gate profile of a source (the publisher's default for pushes, loads and the demo)."""
    every = [k.source for k in ctx.table.all()] if ctx.table is not None else ctx.settings.harvest.sources
    for s in every:
        if s.name == owner:
            return profile_of(s)
    return ctx.publisher.profile
