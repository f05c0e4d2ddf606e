"""Keep the change log (created, updated, withdrawn, removed datasets) and serve it at /changes as JSON and Atom.

The log is a derived index: it follows the store's publish events, and, when it was not listening (a
reset, a write made by another process), it compares the store with the datasets it last saw and logs
the difference. Sequence numbers only grow and times never go back, so ``?since=`` and ``?after=`` both
select a suffix of the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from server import http
from core.errors import BadRequestError, NotAcceptableError, NotFoundError
from sparql import records
from sparql.formats import parse_accept
from sqlalchemy import text

from core.database import Database, as_database, in_lists
from sparql.followers import Follower

log = logging.getLogger(__name__)

ACTIONS = {"created": "新增", "updated": "更新", "withdrawn": "撤回", "removed": "删除"}
ATOM = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
MODIFIED = """SELECT ?d ?m WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> .
  OPTIONAL { ?r <http://xmlns.com/foaf/0.1/primaryTopic> ?d ; <http://purl.org/dc/terms/modified> ?m } } }"""


@dataclass(frozen=True)
class Change:
    """One logged change of one dataset."""

    seq: int
    at: float
    id: str
    uri: str
    action: str

    @property
    def when(self) -> str:
        return iso_time(self.at)

    def as_json(self) -> dict:
        return {"seq": self.seq, "at": self.when, "id": self.id, "uri": self.uri, "action": self.action}


def iso_time(moment: float) -> str:
    """Write an epoch time as ISO 8601 UTC with milliseconds."""
    dt = datetime.fromtimestamp(moment, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _id_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


class ChangeLog(Follower):
    """The change log: its tables in the data layer (core.database), writers serialised."""

    in_turn = True  # its rows follow the generations in order: written in the store's turn (sparql/shared.py)

    def __init__(self, where: "Path | Database", withdrawn: Callable[[str], bool] | None = None) -> None:
        self.db = as_database(where, "changes")
        self.path = self.db.path
        self.withdrawn = withdrawn or (lambda dataset_id: False)
        self._write_lock = threading.Lock()

    def close(self) -> None:
        """Close the log's connections."""
        self.db.close()

    def _one(self, sql: str, params=None):
        rows = self.db.rows(sql, params)
        return rows[0] if rows else None

    # -- state -----------------------------------------------------------------------------
    def generation(self) -> int:
        """Return the store generation the log was last brought up to."""
        row = self._one("SELECT value FROM changes_meta WHERE key = 'generation'")
        return int(row[0]) if row else -1

    def in_step_with(self, store) -> bool:
        return self.generation() == store.generation

    def last_seq(self) -> int:
        return int(self._one("SELECT COALESCE(MAX(seq), 0) FROM changes_log")[0])

    def last_time(self) -> float | None:
        row = self._one("SELECT at FROM changes_log ORDER BY seq DESC LIMIT 1")
        return float(row[0]) if row else None

    # -- writes ----------------------------------------------------------------------------
    def follow(self, store, event) -> None:
        """Log one publish event: created, updated (put but not created), withdrawn or removed."""
        if event.reset:
            self.reconcile(store)
            return
        created = set(event.created)
        rows = [(uri, "created" if uri in created else "updated", True) for uri in event.put]
        rows += [(uri, self._removal(event.reason, uri), False) for uri in event.removed]
        with self._write_lock:
            modified = {uri: _text(_modified(store, event, uri)) for uri, _, present in rows if present}
            with self.db.write(serial=True) as conn:
                at = self._next_time(conn, event.at)
                logged = self._generations(conn, [uri for uri, _, _ in rows])
                # a later event for a dataset logged first makes this one stale for it
                self._log_many(conn, at, event.generation, [
                    (uri, action, present, modified.get(uri)) for uri, action, present in rows
                    if logged.get(uri, -1) <= event.generation])
                self._set_generation(conn, event.generation)

    def graphs_changed(self, store) -> None:
        """Follower contract: no dataset changed, nothing to log; the log takes the store's generation."""
        with self._write_lock:
            with self.db.write(serial=True) as conn:
                self._set_generation(conn, store.generation)

    def _removal(self, reason: str, uri: str) -> str:
        """Say why a dataset left: withdrawn (a tombstone answers 410) or removed."""
        if reason == "withdrawn" or (reason == "repair" and self.withdrawn(_id_of(uri))):
            return "withdrawn"
        return "removed"

    def _seen(self) -> dict[str, str | None]:
        return dict(self.db.rows("SELECT uri, modified FROM changes_seen WHERE present = 1"))

    def repair(self, store, put, created, removed) -> None:
        """Follower contract: log what the log missed; a change it logged already (the process died before
        its digest was noted) is not logged twice."""
        from sparql.store import PublishEvent

        seen = self._seen()
        put = [u for u in put if u not in seen or seen[u] != _text(store.record_modified(u))]
        removed = [u for u in removed if u in seen]
        if put or removed:
            self.follow(store, PublishEvent(store.generation, put=tuple(put), removed=tuple(removed),
                                            created=tuple(u for u in created if u not in seen), reason="repair"))

    def catch_up(self, store) -> None:
        """Follower contract: log what changed in the store while the log was not following."""
        self.reconcile(store)

    def reconcile(self, store) -> int:
        """Log how the store differs from the datasets last seen; return the number of changes logged."""
        with self._write_lock:
            generation = store.generation
            current = {row[0].value: _text(records.parse_datetime(row[1])) for row in store.query(MODIFIED)}
            with self.db.write(serial=True) as conn:
                seen = dict(conn.execute(text("SELECT uri, modified FROM changes_seen WHERE present = 1")).fetchall())
                at = self._next_time(conn, time.time())
                entries = [(uri, "created" if uri not in seen else "updated", True, current[uri])
                           for uri in sorted(current) if uri not in seen or seen[uri] != current[uri]]
                entries += [(uri, "withdrawn" if self.withdrawn(_id_of(uri)) else "removed", False, None)
                            for uri in sorted(set(seen) - set(current))]
                self._log_many(conn, at, generation, entries)
                n = len(entries)
                conn.execute(text("DELETE FROM changes_meta WHERE key = 'generation'"))
                self._set_generation(conn, generation)
        if n:
            log.info("change log caught up with the store: %d changes at generation %d", n, generation)
        return n

    @staticmethod
    def _next_time(conn, moment: float) -> float:
        row = conn.execute(text("SELECT at FROM changes_log ORDER BY seq DESC LIMIT 1")).fetchone()
        return max(moment, float(row[0])) if row else moment

    @staticmethod
    def _generations(conn, uris: list[str]) -> dict[str, int]:
        """The generation each of these datasets was last logged at (one query per 500)."""
        found: dict[str, int] = {}
        for marks, params in in_lists(uris):
            found.update(conn.execute(text(f"SELECT uri, generation FROM changes_seen WHERE uri IN ({marks})"),
                                      params).fetchall())
        return found

    @staticmethod
    def _log_many(conn, at: float, generation: int, entries: list[tuple[str, str, bool, object]]) -> None:
        """Log changes (uri, action, present, modified), in order: each statement sent once for all of them."""
        if not entries:
            return
        conn.execute(text("INSERT INTO changes_log(at, generation, id, uri, action) "
                          "VALUES (:at, :generation, :id, :uri, :action)"),
                     [{"at": at, "generation": generation, "id": _id_of(uri), "uri": uri, "action": action}
                      for uri, action, _, _ in entries])
        conn.execute(text("INSERT INTO changes_seen (uri, generation, present, modified) "
                          "VALUES (:uri, :generation, :present, :modified) ON CONFLICT(uri) DO UPDATE SET "
                          "generation = excluded.generation, present = excluded.present, "
                          "modified = excluded.modified"),
                     [{"uri": uri, "generation": generation, "present": int(present), "modified": modified}
                      for uri, _, present, modified in entries])

    @staticmethod
    def _set_generation(conn, generation: int) -> None:
        row = conn.execute(text("SELECT value FROM changes_meta WHERE key = 'generation'")).fetchone()
        if row is None or int(row[0]) < generation:
            conn.execute(text("INSERT INTO changes_meta (key, value) VALUES ('generation', :g) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value"), {"g": str(generation)})

    # -- reads -----------------------------------------------------------------------------
    def page(self, after: int = 0, since: float | None = None, limit: int = PAGE_SIZE) -> tuple[list[Change], bool]:
        """Return up to limit changes after a sequence number (or from a time on), and whether more follow."""
        if since is not None:
            where, args = "at >= :since", {"since": since}
        else:
            where, args = "seq > :after", {"after": after}
        rows = self.db.rows(f"SELECT seq, at, id, uri, action FROM changes_log WHERE {where} ORDER BY seq "
                            "LIMIT :limit", {**args, "limit": limit + 1})
        return [Change(*row) for row in rows[:limit]], len(rows) > limit


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# -- the door ------------------------------------------------------------------------------------
bp = Blueprint("changes", __name__)


def _platform():
    return current_app.extensions["wodp"]


def parse_since(raw: str) -> float:
    """Read an ISO 8601 date or date-time (UTC when no offset is given) as an epoch time."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise BadRequestError(f"since must be an ISO 8601 date or date-time such as 2026-01-31T08:00:00Z, "
                              f"got {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequestError(f"{name} must be a whole number between {low} and {high}, got {raw[:40]!r}")
    return int(raw)


def _format(suffix: str | None) -> str:
    if suffix is not None:
        if suffix not in ("json", "atom"):
            raise NotFoundError(f"unknown change feed format .{suffix}; use .json or .atom")
        return suffix
    for media, _q in parse_accept(request.headers.get("Accept")):
        if media == ATOM_TYPE:
            return "atom"
        if media in ("application/json", "*/*", "application/*", "text/html"):
            return "json"
    raise NotAcceptableError(f"offered: application/json, {ATOM_TYPE}")


@bp.route("/changes", methods=["GET", "HEAD"])
@bp.route("/changes.<suffix>", methods=["GET", "HEAD"])
def changes(suffix: str | None = None):
    """Answer the datasets created, updated and withdrawn after a cursor or since a time, oldest first."""
    platform = _platform()
    changelog = platform.changes
    fmt = _format(suffix)
    if "since" in request.args and "after" in request.args:
        raise BadRequestError("give either since (a time) or after (a sequence number), not both")
    since = parse_since(request.args["since"]) if request.args.get("since") else None
    after = _int_arg("after", 0, 0, 2 ** 62)
    limit = _int_arg("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    latest = changelog.last_seq()
    etag = http.etag_for("changes", latest, fmt, since, after, limit)
    if request.if_none_match and etag in request.if_none_match:
        return http.conditional(Response(), etag, None)
    items, more = changelog.page(after, since, limit)
    cursor = items[-1].seq if items else (latest if since is not None else min(after, latest))
    base = platform.settings.base_uri
    params = {"after": cursor} | ({"limit": limit} if limit != PAGE_SIZE else {})
    next_url = f"{base}{request.path}?{urlencode(params)}"
    if fmt == "atom":
        body = atom_feed(platform.settings, items, more, next_url, changelog.last_time())
        response = Response(body, content_type=ATOM_TYPE + "; charset=utf-8")
    else:
        doc = {"changes": [c.as_json() for c in items], "count": len(items), "more": more, "next": next_url,
               "latest": latest}
        response = Response(json.dumps(doc, ensure_ascii=False), mimetype="application/json")
    if more:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    response.vary.add("Accept")
    return http.conditional(response, etag, None)


def atom_feed(settings, items: list[Change], more: bool, next_url: str, last: float | None) -> bytes:
    """Write one page of changes as an Atom feed (RFC 4287), with rel="next" when more follow (RFC 5005)."""
    base = settings.base_uri
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": "zh-CN"})
    ET.SubElement(feed, "id").text = base + "/changes"
    ET.SubElement(feed, "title").text = f"{settings.site.title_zh} · 数据集变更 / Dataset changes"
    updated = items[-1].at if items else (last or time.time())
    ET.SubElement(feed, "updated").text = iso_time(updated)
    author = ET.SubElement(feed, "author")
    ET.SubElement(author, "name").text = settings.site.title_zh
    ET.SubElement(author, "uri").text = base + "/"
    query = request.query_string.decode("utf-8", "replace")
    ET.SubElement(feed, "link", {"rel": "self", "type": ATOM_TYPE,
                                 "href": base + request.path + ("?" + query if query else "")})
    if more:
        ET.SubElement(feed, "link", {"rel": "next", "type": ATOM_TYPE, "href": next_url})
    for change in items:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "id").text = f"{base}/changes#{change.seq}"
        ET.SubElement(entry, "title").text = f"{ACTIONS[change.action]} / {change.action}: {change.id}"
        ET.SubElement(entry, "updated").text = change.when
        ET.SubElement(entry, "link", {"rel": "alternate", "href": change.uri})
        ET.SubElement(entry, "category", {"term": change.action, "scheme": base + "/changes#action",
                                          "label": ACTIONS[change.action]})
        ET.SubElement(entry, "summary").text = f"{change.uri} {change.action} at {change.when} (#{change.seq})"
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _modified(store, event, uri: str) -> datetime | None:
    """When a dataset an event put last changed: its record's date in the graph the event carries (as stored),
    else read from the store (one request each on a remote store)."""
    carried = event.graphs.get(uri) if event.graphs else None
    if carried is not None:
        modified = records.record_dates(carried, uri)[1]
        if modified is not None:
            return records.parse_datetime(modified)
    return store.record_modified(uri)
