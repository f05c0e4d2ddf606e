"""Write and read the UTC time stamps the data layer keeps (``2026-12-06T10:26:13Z``, whole seconds)."""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """Return now in UTC, to the second (what a stamp can hold)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def stamp(when: datetime) -> str:
    """Return a time as a UTC stamp."""
    return when.astimezone(timezone.utc).strftime(FORMAT)


def parse_stamp(text: str | None) -> datetime | None:
    """Return the time a UTC stamp names (None for none)."""
    return datetime.strptime(text, FORMAT).replace(tzinfo=timezone.utc) if text else None
