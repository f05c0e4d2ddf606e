"""The harvester contract, its values and errors, and the registry of harvester kinds."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pyoxigraph as ox

from mappings.model import SourceRecord
from core.errors import WodpError


class HarvestError(WodpError):
    status = 502
    code = "harvest-error"


class SourceUnavailableError(HarvestError):
    """The source could not be reached, answered an error status, or timed out."""

    code = "source-unavailable"
    answered: int | None = None       # the status the source answered, when it answered one
    retry_after: str | None = None    # its Retry-After header, if any


class SourceFormatError(HarvestError):
    """The source answered something we cannot read (malformed page, unexpected document)."""

    code = "source-malformed"


class SourceChangedError(HarvestError):
    """The source changed while it was being paged through (counts or items moved between pages)."""

    code = "source-changed"


class HarvestBusyError(HarvestError):
    """A harvest of the same source is already running."""

    status = 409
    code = "harvest-busy"


class UnknownSourceError(HarvestError):
    status = 404
    code = "unknown-source"


@dataclass(frozen=True)
class FetchResult:
    """What one fetch of a source gave: records (to map) or dataset graphs, and the new state."""

    records: Sequence[SourceRecord] = ()   # a tuple, or a harvesters.spool.PageSpool read a page at a time
    graphs: Mapping[str, list[ox.Triple]] = field(default_factory=dict)  # or a PageSpool of (uri, N-Triples)
    complete: bool = True            # the listing holds every dataset of the source (absent ones are withdrawn)
    not_modified: bool = False       # the source said nothing changed (304): nothing to map or publish
    state: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()   # per-record problems met while fetching (the harvest carries on)
    mapped: tuple = ()               # mappings.model.Problem of records the harvester mapped itself (CSW)
    log: tuple[str, ...] = ()        # what the fetch did (pages, conditional hits)


class Harvester(ABC):
    """A source kind: fetch a source's listing, given the state its previous fetch left.

    Every harvester is built the same way, with everything it may use: ``Harvester(source, settings, home, log,
    http=…, base_uri=…)``. ``settings`` are the harvest settings (page_size, max_pages, max_bytes, cloud_token …),
    ``home`` the data folder relative paths are read from, ``log`` a callable taking one line (the job log with
    its heartbeat), ``limits`` the input limits every answer is read within (settings input_limits), ``isolate``
    where each fetched page is read (``core.sandbox.Sandbox.run``-like: ``isolate(function, *args, what=…)``; the
    runner gives the platform's sandbox, the default reads in this process: harvesters.pages). Paging invariants
    live in harvesters.paging, shared by the paged kinds.
    """

    kind: str = ""
    default_mapping: str | None = None
    default_profile: str = "dcat-ap-3"
    channel: str = "external"        # push, cloud, file (department channels) or external catalogues

    def __init__(self, source, settings, home, log: Callable[[str], None] | None = None, *,
                 http=None, base_uri: str = "", limits=None, isolate=None) -> None:
        from config.settings import InputLimits

        self.source = source         # config.settings.HarvestSource
        self.settings = settings     # config.settings.HarvestSettings
        self.home = Path(home) if home is not None else Path(".")
        self.note = log or _quiet
        self.http = http             # harvesters.http.HttpClient
        self.base_uri = base_uri.rstrip("/")
        self.limits = limits or InputLimits()  # config.settings.InputLimits: bounds of what a source sends
        self.isolate = isolate or inline  # runs the reading of a fetched page (a sandbox worker in a server)

    @abstractmethod
    def fetch(self, state: Mapping[str, Any]) -> FetchResult:
        """Fetch every record of the source (all pages), or raise a HarvestError leaving nothing half-read."""

    def spool(self):
        """Return an empty spool for this fetch's pages, in the data directory (harvesters.spool)."""
        from harvesters.spool import PageSpool

        return PageSpool(self.home / "spool")

    def option(self, name: str, default: Any = None) -> Any:
        """Return one of the source's options."""
        return (self.source.options or {}).get(name, default)


KINDS: dict[str, str] = {
    "inventory": "harvesters.inventory.InventoryHarvester",
    "dcat": "harvesters.dcat.DcatHarvester",
    "ckan": "harvesters.ckan.CkanHarvester",
    "csw": "harvesters.csw.CswHarvester",
    "cloud": "harvesters.cloud.CloudCenterHarvester",
    "links": "harvesters.links.LinkMonitor",
}


def harvester_class(kind: str) -> type[Harvester]:
    """Return the harvester class registered for a kind."""
    try:
        dotted = KINDS[kind]
    except KeyError:
        raise UnknownSourceError(f"unknown harvester kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def mapping_context(source, channel: str | None = None) -> dict:
    """Return what a source states about its records, as apply_mapping takes it (docs/sources.md).

    The jurisdiction is never left to a mapping's default: the source's stated code, else Wuhan's for our
    departments' channels, else none (publishers become organisations of the source).
    """
    from harvesters.provenance import DEFAULT_CHANNEL, DEPARTMENT_CHANNELS
    from mappings.departments import source_jurisdiction

    channel = source.channel or channel or DEFAULT_CHANNEL.get(source.kind, "external")
    where = source_jurisdiction(source.jurisdiction, department_channel=channel in DEPARTMENT_CHANNELS)
    return {"jurisdiction": where, "publishers": tuple(source.publishers), "themes": dict(source.themes)}


def profile_of(source) -> str:
    """Return the gate profile of a source: its own, else ``external`` for a source reading another catalogue
    (channel external: the default of dcat, ckan and csw), else its kind's.

    The external profile publishes another catalogue's dataset as its source has it where the source leaves out
    a description, a publisher's name or a theme's label (warnings, docs/sources.md); a source that names
    ``profile: dcat-ap-3`` is held for them.
    """
    if source.profile:
        return source.profile
    kind = harvester_class(source.kind)
    external = (source.channel or kind.channel) == "external"
    return "external" if external else kind.default_profile


def id_space(source) -> str:
    """Return the first part of a source's dataset ids: department channels share ``wuhan`` (资源代码 keys)."""
    from harvesters.provenance import DEFAULT_CHANNEL, DEPARTMENT_CHANNELS, DEPARTMENT_ID_SPACE

    channel = source.channel or DEFAULT_CHANNEL.get(source.kind, "external")
    return DEPARTMENT_ID_SPACE if channel in DEPARTMENT_CHANNELS else source.name


def json_body(resp, what: str, limits=None) -> Any:
    """Parse a JSON answer within the input limits (core.jsonsafe) or raise SourceFormatError naming the URL."""
    from config.settings import InputLimits
    from core import jsonsafe
    from core.bounded import InputRefusedError

    try:
        return jsonsafe.loads(resp.body, resp.url, limits or InputLimits())
    except InputRefusedError as exc:
        raise SourceFormatError(f"{resp.url}: {what} is not valid JSON: {exc.what}") from None


def inline(function: Callable, *args: Any, what: str = "", **kwargs: Any) -> Any:
    """Read a page in this process (a harvester built without a sandbox)."""
    return function(*args, **kwargs)


def _quiet(line: str) -> None:
    """The log of a harvester built without one."""
