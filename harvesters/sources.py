"""Keep the harvest sources added in the admin console on the data layer, beside those of the settings.

Sources written in settings (``harvest.sources``) are read-only here: the console shows them, marked so, and
refuses to change them. Sources added in the console live in the harvest part's ``harvest_sources`` table, so
every process (web processes, harvest workers, the scheduler) sees the same ones.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from pydantic import ValidationError

from config.settings import HarvestSource
from core.database import Database
from core.errors import WodpError

SETTINGS, CONSOLE = "settings", "console"


class SourceConfigError(WodpError):
    """A source added or edited in the console is refused: the message names the field."""

    status = 400
    code = "bad-source"


class SourceConflictError(WodpError):
    status = 409
    code = "source-exists"


class SourceReadOnlyError(WodpError):
    status = 409
    code = "source-read-only"


@dataclass(frozen=True)
class KnownSource:
    """A source and where it is defined: ``settings`` (read-only) or ``console`` (the data layer)."""

    source: HarvestSource
    origin: str
    updated: float | None = None
    updated_by: str | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def read_only(self) -> bool:
        return self.origin == SETTINGS


def make_source(fields: dict) -> HarvestSource:
    """Check and build a source from plain fields (a form or JSON), or refuse it naming the field."""
    from harvesters.base import harvester_class

    clean = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        source = HarvestSource(**clean)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SourceConfigError(f"source {fields.get('name')!r}: {problems}") from None
    try:
        harvester_class(source.kind)
    except WodpError as exc:
        raise SourceConfigError(f"source {source.name!r}: kind: {exc.message}") from None
    if source.mapping:
        from mappings.spec import available_mappings

        if source.mapping not in available_mappings():
            raise SourceConfigError(f"source {source.name!r}: mapping: no mapping named {source.mapping!r} "
                                    f"(known: {', '.join(available_mappings())})")
    if source.schedule and source.schedule != "cycle":
        from harvesters.scheduler import CronError, parse_cron

        try:
            parse_cron(source.schedule)
        except CronError as exc:
            raise SourceConfigError(f"source {source.name!r}: schedule: {exc.message}") from None
    return source


class SourceTable:
    """The console's sources (table harvest_sources of the harvest part), merged with the settings' sources."""

    def __init__(self, db: Database, configured=()) -> None:
        self.db = db
        self.configured = tuple(configured)   # harvest.sources of the settings: read-only
        self._lock = threading.RLock()

    def _rows(self, name: str | None = None) -> list:
        where = "WHERE name = :name" if name else ""
        with self._lock:
            return self.db.rows(f"SELECT name, config, enabled, updated, updated_by FROM harvest_sources {where} "
                                "ORDER BY name", {"name": name})

    @staticmethod
    def _known(row) -> KnownSource:
        name, config, enabled, updated, by = row
        fields = {**json.loads(config), "name": name, "enabled": bool(enabled)}
        return KnownSource(HarvestSource(**fields), CONSOLE, updated, by)

    def all(self) -> list[KnownSource]:
        """Return every source: the settings' first (in their order), then the console's (by name)."""
        mine = {s.name for s in self.configured}
        return [KnownSource(s, SETTINGS) for s in self.configured] + \
            [self._known(r) for r in self._rows() if r[0] not in mine]

    def get(self, name: str) -> KnownSource | None:
        for s in self.configured:
            if s.name == name:
                return KnownSource(s, SETTINGS)
        rows = self._rows(name)
        return self._known(rows[0]) if rows else None

    def add(self, source: HarvestSource, by: str | None = None) -> KnownSource:
        """Keep a new source; refuse a name that any source (settings or console) has already."""
        if self.get(source.name) is not None:
            raise SourceConflictError(f"a harvest source named {source.name!r} exists already")
        now = time.time()
        with self._lock:
            self.db.run("INSERT INTO harvest_sources (name, config, enabled, created, updated, updated_by) "
                        "VALUES (:name, :config, :enabled, :now, :now, :by)",
                        {"name": source.name, "config": _config(source), "enabled": int(source.enabled),
                         "now": now, "by": by})
        return self.get(source.name)

    def update(self, source: HarvestSource, by: str | None = None) -> tuple[KnownSource, KnownSource]:
        """Replace a console source by name; return (before, after). Settings' sources are refused."""
        before = self._writable(source.name)
        with self._lock:
            self.db.run("UPDATE harvest_sources SET config = :config, enabled = :enabled, updated = :now, "
                        "updated_by = :by WHERE name = :name",
                        {"name": source.name, "config": _config(source), "enabled": int(source.enabled),
                         "now": time.time(), "by": by})
        return before, self.get(source.name)

    def set_enabled(self, name: str, enabled: bool, by: str | None = None) -> tuple[KnownSource, KnownSource]:
        """Enable or disable a console source; return (before, after)."""
        before = self._writable(name)
        with self._lock:
            self.db.run("UPDATE harvest_sources SET enabled = :enabled, updated = :now, updated_by = :by "
                        "WHERE name = :name", {"name": name, "enabled": int(enabled), "now": time.time(), "by": by})
        return before, self.get(name)

    def _writable(self, name: str) -> KnownSource:
        from harvesters.base import UnknownSourceError

        found = self.get(name)
        if found is None:
            raise UnknownSourceError(f"no harvest source {name!r}")
        if found.read_only:
            raise SourceReadOnlyError(f"the harvest source {name!r} is defined in the settings (harvest.sources): "
                                      "change it there, not in the console")
        return found


def _config(source: HarvestSource) -> str:
    """Return a source as JSON without its name and enabled flag (they have their own columns)."""
    body = source.model_dump(exclude={"name", "enabled"}, exclude_defaults=True)
    return json.dumps(body, ensure_ascii=False, sort_keys=True)
