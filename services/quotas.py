"""Count API-key requests at the data doors against the quotas of settings (``quotas``), exactly, across processes.

A key (a token of scope ``data``) may make ``per_minute`` and ``per_day`` requests by the open type of the dataset
it asks for (``quotas.unconditional``, ``quotas.conditional``). Each window of each key is one row of the data
layer (part ``quotas``), raised by one atomic statement that only raises it while it is below the limit::

    INSERT … VALUES (key, slot, 1) ON CONFLICT (key_id, slot) DO UPDATE SET count = count + 1
        WHERE count < :limit RETURNING count

so however many processes or threads ask at once, exactly ``limit`` requests of a window get a row back; the rest
are refused (429 with Retry-After: the seconds until the window ends). The minute and the day are charged in one
transaction: a request the day refuses gives its minute back. Each request is also counted per key, dataset and
day (Beijing time) in ``quota_usage``, allowed or refused. Nothing is held in a process's memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from core.database import as_database
from core.errors import WodpError

BEIJING = timezone(timedelta(hours=8))
PRUNE_EVERY = 1000  # charges of a process between two removals of ended windows

_RAISE = text("INSERT INTO quota_counters (key_id, slot, count) VALUES (:key, :slot, 1) "
              "ON CONFLICT (key_id, slot) DO UPDATE SET count = quota_counters.count + 1 "
              "WHERE quota_counters.count < :limit RETURNING count")
_USAGE = text("INSERT INTO quota_usage (key_id, dataset, day, count, refused) VALUES (:key, :dataset, :day, :ok, :no) "
              "ON CONFLICT (key_id, dataset, day) DO UPDATE SET count = quota_usage.count + :ok, "
              "refused = quota_usage.refused + :no")


class QuotaExceeded(WodpError):
    """429: the key has made as many requests as its quota allows in this window."""

    status = 429
    code = "quota-exceeded"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Charge:
    """The answer to one request: allowed or not, and when refused, which window and how long to wait."""

    allowed: bool
    window: str | None = None        # "minute" or "day" when refused
    limit: int | None = None
    retry_after: int | None = None   # seconds


class _Refused(Exception):
    def __init__(self, window: str, limit: int) -> None:
        self.window, self.limit = window, limit


class Quotas:
    """The counters of the part ``quotas``."""

    def __init__(self, where, settings) -> None:
        self.db = as_database(where, "quotas")
        self.settings = settings
        self._charges = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def limits(self, open_type: str) -> tuple[int, int]:
        """Return (per minute, per day) for an open type (0: no limit); closed and undeclared data count as
        unconditional (a closed dataset's data is refused before any quota is asked)."""
        limit = self.settings.conditional if open_type == "conditional" else self.settings.unconditional
        return limit.per_minute, limit.per_day

    def charge(self, key_id: str, dataset: str, open_type: str, now: datetime | None = None) -> Charge:
        """Count one request of a key for a dataset; return whether its quota allows it."""
        now = (now or datetime.now(timezone.utc)).astimezone(BEIJING)
        per_minute, per_day = self.limits(open_type)
        day = now.strftime("%Y-%m-%d")
        windows = [(w, slot, limit) for w, slot, limit in
                   (("minute", f"{open_type}:m:{now:%Y-%m-%dT%H:%M}", per_minute),
                    ("day", f"{open_type}:d:{day}", per_day)) if limit > 0]
        try:
            with self.db.write() as conn:
                for window, slot, limit in windows:
                    if not conn.execute(_RAISE, {"key": key_id, "slot": slot, "limit": limit}).fetchall():
                        raise _Refused(window, limit)  # rolls back the windows raised before it
                conn.execute(_USAGE, {"key": key_id, "dataset": dataset, "day": day, "ok": 1, "no": 0})
            charge = Charge(True)
        except _Refused as refused:
            with self.db.write() as conn:
                conn.execute(_USAGE, {"key": key_id, "dataset": dataset, "day": day, "ok": 0, "no": 1})
            charge = Charge(False, refused.window, refused.limit, retry_after(refused.window, now))
        self._maybe_prune(now)
        return charge

    def usage(self, key_id: str | None = None, day: str | None = None) -> list[dict]:
        """Return the daily usage rows (of a key, of a day), newest day first."""
        where, params = [], {}
        if key_id:
            where.append("key_id = :key")
            params["key"] = key_id
        if day:
            where.append("day = :day")
            params["day"] = day
        sql = "SELECT key_id, dataset, day, count, refused FROM quota_usage"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        return [{"key": r[0], "dataset": r[1], "day": r[2], "count": r[3], "refused": r[4]}
                for r in self.db.rows(sql + " ORDER BY day DESC, key_id, dataset", params)]

    def count(self, key_id: str, open_type: str, window: str, now: datetime | None = None) -> int:
        """Return the requests a key has been allowed in the current minute or day."""
        now = (now or datetime.now(timezone.utc)).astimezone(BEIJING)
        slot = f"{open_type}:m:{now:%Y-%m-%dT%H:%M}" if window == "minute" else f"{open_type}:d:{now:%Y-%m-%d}"
        rows = self.db.rows("SELECT count FROM quota_counters WHERE key_id = :key AND slot = :slot",
                            {"key": key_id, "slot": slot})
        return rows[0][0] if rows else 0

    def prune(self, now: datetime | None = None) -> int:
        """Remove the counters of ended windows and usage rows older than quotas.keep_days; return how many."""
        now = (now or datetime.now(timezone.utc)).astimezone(BEIJING)
        removed = 0
        with self.db.write() as conn:
            for kind in ("unconditional", "conditional", "closed", "undeclared"):
                for prefix, current in ((f"{kind}:m:", f"{kind}:m:{now:%Y-%m-%dT%H:%M}"),
                                        (f"{kind}:d:", f"{kind}:d:{now:%Y-%m-%d}")):
                    removed += conn.execute(text("DELETE FROM quota_counters WHERE slot >= :lo AND slot < :cur"),
                                            {"lo": prefix, "cur": current}).rowcount or 0
            oldest = (now - timedelta(days=self.settings.keep_days)).strftime("%Y-%m-%d")
            removed += conn.execute(text("DELETE FROM quota_usage WHERE day < :oldest"),
                                    {"oldest": oldest}).rowcount or 0
        return removed

    def _maybe_prune(self, now: datetime) -> None:
        with self._lock:
            self._charges += 1
            due = self._charges % PRUNE_EVERY == 0
        if due:
            self.prune(now)


def retry_after(window: str, now: datetime) -> int:
    """Return the whole seconds (at least 1) until the current minute or Beijing day ends."""
    now = now.astimezone(BEIJING)
    if window == "minute":
        end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    else:
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(1, int((end - now).total_seconds() + 0.999))
