"""Count views, downloads and API calls per dataset, department and day, without keeping who asked.

A request adds one to an in-memory buffer (``UsageCounter.record``: a dict increment under a lock, no I/O);
a thread flushes the buffer every ``flush_s`` seconds, and ``close`` flushes what is left, with one UPSERT per
(day, dataset, kind, bot) key: ``n = n + excluded.n``. Several processes writing one database therefore add up
exactly (SQLite's write lock or PostgreSQL's row lock orders the increments).

No address is stored. For an estimate of distinct visitors the client's network (IPv4 /24, IPv6 /48) is hashed
with a salt of the day (``usage_salts`` keeps today's only: once the day's salt is deleted, its hashes cannot be
tied to a network by trying every prefix). Requests whose User-Agent names a robot are counted apart (bot = 1).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import text

from core.database import as_database

log = logging.getLogger(__name__)

KINDS = ("view", "download", "api")
BEIJING = timezone(timedelta(hours=8))  # the platform's day (as manage/freshness.py)
# crawlers, link checkers, command-line fetchers and libraries: counted apart, never mixed with people
BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|baiduspider|sogou|bingpreview|yandex|facebookexternalhit|curl/|wget/|"
    r"python-requests|python-urllib|httpx|aiohttp|go-http-client|java/|libwww|okhttp|headless|scrapy|"
    r"monitor|uptime|pingdom|harvest|ckan|pycsw|owslib|check_http", re.IGNORECASE)


@lru_cache(maxsize=2048)  # User-Agents repeat: the pattern runs once per distinct one
def is_bot(user_agent: str | None) -> bool:
    """Tell whether a User-Agent names a robot (an empty one counts as a robot: browsers always send one)."""
    return not user_agent or bool(BOT_PATTERN.search(user_agent))


def truncate_address(address: str | None) -> str | None:
    """Return the client's network: IPv4 to /24, IPv6 to /48 (an IPv4-mapped IPv6 address as IPv4); None if
    the text is not an address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@lru_cache(maxsize=8192)
def visitor_key(address: str | None, salt: str) -> str | None:
    """Hash the truncated address with the day's salt (None when there is no address)."""
    network = truncate_address(address)
    if network is None:
        return None
    return hashlib.sha256(f"{salt}|{network}".encode()).hexdigest()[:32]


def today() -> date:
    return datetime.now(BEIJING).date()


@dataclass(frozen=True)
class Totals:
    total: int
    last_30: int


class UsageCounter:
    """The usage part: buffered increments, flushed in batches; the reports the pages and the center read."""

    def __init__(self, where, *, flush_s: float = 5.0, department_of: Callable[[str], str | None] | None = None,
                 clock: Callable[[], date] = today) -> None:
        self.db = as_database(where, "usage")
        self.flush_s = flush_s
        self.department_of = department_of or (lambda _dataset: None)
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, int], int] = {}
        self._visitors: set[tuple[str, str, str]] = set()
        self._departments: dict[str, str] = {}
        self._salt: tuple[str, str] | None = None  # (day, salt)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    # -- counting ------------------------------------------------------------------------------------------
    def record(self, kind: str, dataset: str, *, user_agent: str | None = None, address: str | None = None,
               n: int = 1) -> None:
        """Add n to today's count of kind for dataset (no I/O; flushed later)."""
        if kind not in KINDS:
            raise ValueError(f"usage kind must be one of {KINDS}, got {kind!r}")
        day = self.clock().isoformat()
        bot = 1 if is_bot(user_agent) else 0
        with self._lock:
            key = (day, dataset, kind, bot)
            self._counts[key] = self._counts.get(key, 0) + n
            if not bot and address:
                salt = self._salt[1] if self._salt and self._salt[0] == day else None
                if salt is None:
                    try:
                        salt = self._day_salt(day)
                    except Exception as exc:  # noqa: BLE001  the count stands; the visitor estimate misses one
                        log.warning("usage: the day's salt cannot be read (%s): visitor not estimated", exc)
                        return
                visitor = visitor_key(address, salt)
                if visitor is not None:
                    self._visitors.add((day, dataset, visitor))

    def _day_salt(self, day: str) -> str:
        """Return the shared salt of the day (made by the first process that needs it); older salts deleted."""
        candidate = secrets.token_hex(16)
        with self.db.write() as conn:
            conn.execute(text("DELETE FROM usage_salts WHERE day <> :day"), {"day": day})
            conn.execute(text("INSERT INTO usage_salts (day, salt) VALUES (:day, :salt) ON CONFLICT (day) DO NOTHING"),
                         {"day": day, "salt": candidate})
            salt = conn.execute(text("SELECT salt FROM usage_salts WHERE day = :day"), {"day": day}).fetchone()[0]
        self._salt = (day, salt)
        return salt

    def flush(self) -> int:
        """Write the buffered increments (one transaction); return how many were written. On failure they are
        put back, to be written at the next flush."""
        with self._lock:
            counts, self._counts = self._counts, {}
            visitors, self._visitors = self._visitors, set()
        if not counts and not visitors:
            return 0
        rows = [{"day": day, "dataset": dataset, "kind": kind, "bot": bot, "n": n,
                 "department": self._department(dataset)} for (day, dataset, kind, bot), n in counts.items()]
        try:
            with self.db.write() as conn:
                if rows:
                    conn.execute(text(
                        "INSERT INTO usage_counts (day, dataset, kind, bot, department, n) "
                        "VALUES (:day, :dataset, :kind, :bot, :department, :n) "
                        "ON CONFLICT (day, dataset, kind, bot) DO UPDATE SET n = usage_counts.n + excluded.n, "
                        "department = CASE WHEN excluded.department <> '' THEN excluded.department "
                        "ELSE usage_counts.department END"), rows)
                if visitors:
                    conn.execute(text("INSERT INTO usage_visitors (day, dataset, visitor) VALUES (:d, :s, :v) "
                                      "ON CONFLICT DO NOTHING"),
                                 [{"d": d, "s": s, "v": v} for d, s, v in visitors])
        except Exception:
            self.failures += 1
            with self._lock:  # kept for the next flush: no count is lost to a busy or full database
                for key, n in counts.items():
                    self._counts[key] = self._counts.get(key, 0) + n
                self._visitors |= visitors
            raise
        return sum(counts.values())

    def _department(self, dataset: str) -> str:
        if dataset not in self._departments:
            try:
                self._departments[dataset] = self.department_of(dataset) or ""
            except Exception as exc:  # noqa: BLE001  the count is kept; its department is left empty and said
                log.warning("usage: the department of %s is not known (%s)", dataset, exc)
                return ""
        return self._departments[dataset]

    def start(self) -> None:
        """Flush every flush_s seconds in a daemon thread (until close)."""
        if self._thread is None and self.flush_s > 0:
            self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001  kept in the buffer, tried again
                log.warning("usage: flush failed, kept for the next one: %s", exc)

    def close(self) -> None:
        """Stop the flushing thread, write what is left and close the database."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001
            log.error("usage: %d buffered counts could not be written at shutdown: %s",
                      sum(self._counts.values()), exc)
        self.db.close()

    # -- reading -------------------------------------------------------------------------------------------
    def dataset_totals(self, dataset: str, *, bots: bool = False) -> dict[str, Totals]:
        """Return kind → (total, last 30 days including today) for one dataset, people only unless bots."""
        since = (self.clock() - timedelta(days=29)).isoformat()
        rows = self.db.rows(
            "SELECT kind, SUM(n), SUM(CASE WHEN day >= :since THEN n ELSE 0 END) FROM usage_counts "
            "WHERE dataset = :dataset AND bot = :bot GROUP BY kind",
            {"dataset": dataset, "since": since, "bot": 1 if bots else 0})
        found = {kind: Totals(int(total or 0), int(last or 0)) for kind, total, last in rows}
        return {kind: found.get(kind, Totals(0, 0)) for kind in KINDS}

    def visitors(self, dataset: str, day: date) -> int:
        """Return the estimated distinct visitors (networks) of a dataset on a day."""
        return int(self.db.rows("SELECT COUNT(*) FROM usage_visitors WHERE dataset = :s AND day = :d",
                                {"s": dataset, "d": day.isoformat()})[0][0])

    def by_department_day(self, start: date, end: date, department: str | None = None, *,
                          bots: bool = False) -> list[dict]:
        """Return, per department and day from start to end (inclusive), the views, downloads and API calls:
        the management center's report. Days without any count are absent."""
        params = {"start": start.isoformat(), "end": end.isoformat(), "bot": 1 if bots else 0}
        where = "day >= :start AND day <= :end AND bot = :bot"
        if department is not None:
            where += " AND department = :department"
            params["department"] = department
        rows = self.db.rows(
            f"SELECT department, day, kind, SUM(n) FROM usage_counts WHERE {where} "
            "GROUP BY department, day, kind ORDER BY department, day", params)
        out: dict[tuple[str, str], dict] = {}
        for dept, day, kind, n in rows:
            entry = out.setdefault((dept, day), {"department": dept, "day": day, "view": 0, "download": 0, "api": 0})
            entry[kind] = int(n)
        return list(out.values())

    def by_dataset_day(self, start: date, end: date, dataset: str, *, bots: bool = False) -> list[dict]:
        """Return one dataset's counts per day (the center's detail)."""
        rows = self.db.rows(
            "SELECT day, kind, SUM(n) FROM usage_counts WHERE dataset = :s AND day >= :start AND day <= :end "
            "AND bot = :bot GROUP BY day, kind ORDER BY day",
            {"s": dataset, "start": start.isoformat(), "end": end.isoformat(), "bot": 1 if bots else 0})
        out: dict[str, dict] = {}
        for day, kind, n in rows:
            out.setdefault(day, {"day": day, "view": 0, "download": 0, "api": 0})[kind] = int(n)
        return list(out.values())
