"""Harvest the government cloud data center (政务云中心接口): a token-authenticated JSON REST API.

The contract is docs/cloud-center-api.md; harvesters/cloud_center_app.py is a faithful local implementation.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from harvesters.base import FetchResult, Harvester, SourceFormatError, SourceUnavailableError, id_space
from harvesters.pages import read_json_page
from harvesters.paging import Pager
from mappings.model import SourceRecord
from mappings.readers import normalise_value

PATH = "/api/v1/resources"
RETRIES_429 = 3          # a busy center (429) is asked again this many times, after Retry-After (≤ 5 s)
META_FIELDS = ("updated_at",)  # envelope fields of an item, not metadata: kept out of the mapping


class CloudCenterHarvester(Harvester):
    """Page through /api/v1/resources; after a complete first listing, ask only what changed (updated_since)."""

    kind = "cloud"
    default_mapping = "china-core"
    default_profile = "wuhan"
    channel = "cloud"

    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        token = getattr(self.settings, "cloud_token", None)
        if not token:
            raise SourceUnavailableError(f"source {self.source.name}: no cloud data center token; set "
                                         "WODP_HARVEST__CLOUD_TOKEN in the environment")
        endpoint = self.source.url.rstrip("/")
        if not endpoint.endswith(PATH):
            endpoint += PATH
        since = state.get("updated_since") if self.option("incremental", True) else None
        size = int(self.option("page_size", self.settings.page_size))
        before = state.get("pages", {}) if since is None else {}
        space = id_space(self.source)
        records, pages, kept, problems = self.spool(), {}, [], []
        pager = Pager(endpoint, self.settings.max_pages, "resources", self.note)
        as_of, newest, number = None, since, 0
        while pager.more:
            number += 1
            params = {"page": number, "page_size": size, **({"updated_since": since} if since else {})}
            key = f"{endpoint}?page={number}&page_size={size}" + (f"&updated_since={since}" if since else "")
            old = before.get(key, {})
            resp = self._get(endpoint, params, token, old.get("http") if "uris" in old else None)
            items = None
            if resp.status == 304:
                count, codes = old.get("count"), old.get("codes", [])
                kept.append(key)
            else:
                doc = self.isolate(read_json_page, resp.body, resp.url, "the resource list", self.limits,
                                   what=f"reading the page {resp.url}")
                count, items = _page(doc, resp.url, number)
                as_of = as_of or doc.get("as_of")
                codes = [str(item.get("资源代码") or "").strip() or f"{key}#{n}" for n, item in enumerate(items, 1)]
            keep = pager.take(key, count, codes)
            found = []
            for n in keep if items is not None else ():
                item = items[n]
                if not str(item.get("资源代码") or "").strip():
                    problems.append(f"{key}#{n + 1}: item without 资源代码, skipped")
                    continue
                newest = max(filter(None, (newest, item.get("updated_at"))), default=None)
                fields = {k: v for k, v in item.items() if k not in META_FIELDS}
                found.append(SourceRecord(space, None, normalise_value(fields), f"{key}#{n + 1}"))
            records.add(key, found)
            del items, found
            pages[key] = {"http": resp.validators if resp.status != 304 else old.get("http"),
                          "count": count, "codes": codes}
            self.note(f"page {number}: {len(codes)} resources of {count}"
                      + (f" updated since {since}" if since else "") + (" (304)" if resp.status == 304 else ""))
        pager.finish()
        problems += pager.problems
        mark = as_of or newest
        return FetchResult(records=records, complete=since is None and pager.complete,
                           not_modified=len(kept) == len(pages) > 0,
                           state={"pages": pages, "kept_pages": kept, "updated_since": mark or since},
                           problems=tuple(problems),
                           log=(f"incremental: only resources updated since {since}; nothing is withdrawn",)
                           if since else ())

    def _get(self, endpoint: str, params: dict, token: str, validators):
        """GET one page with the token; wait and ask again when the center answers 429."""
        for attempt in range(RETRIES_429 + 1):
            try:
                return self.http.get(endpoint, params=params, validators=validators,
                                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
            except SourceUnavailableError as exc:
                if exc.answered in (401, 403):
                    raise SourceUnavailableError(
                        f"{endpoint}: the cloud data center refused the token (HTTP {exc.answered}); "
                        "check WODP_HARVEST__CLOUD_TOKEN", status=502) from exc
                if exc.answered != 429 or attempt == RETRIES_429:
                    raise
                wait = _seconds(exc.retry_after, 2 ** attempt)
                self.note(f"the center is busy (429): asking again in {wait:.1f} s")
                time.sleep(wait)
        raise AssertionError("unreachable")


def _seconds(retry_after: str | None, default: float) -> float:
    try:
        return min(5.0, max(0.0, float(retry_after))) if retry_after else min(5.0, default)
    except ValueError:
        return min(5.0, default)


def _page(doc: Any, url: str, number: int) -> tuple[int, list[dict]]:
    """Return (total, items) of one page, or raise SourceFormatError naming what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("total"), int) or not isinstance(doc.get("items"), list):
        raise SourceFormatError(f"{url}: not a resource list page (needs total and items)")
    if doc.get("page") not in (None, number):
        raise SourceFormatError(f"{url}: asked for page {number}, answered page {doc.get('page')}")
    if not all(isinstance(item, dict) for item in doc["items"]):
        raise SourceFormatError(f"{url}: items must be JSON objects")
    return doc["total"], doc["items"]
