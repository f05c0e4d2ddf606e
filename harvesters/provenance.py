"""Content hashes, provenance triples, dataset ids of department channels, and the precedence rule."""

from __future__ import annotations

import hashlib
import logging
from typing import Iterable, Mapping, Sequence

import pyoxigraph as ox

from ontology.namespaces import PROV, RDF, WODP, XSD
from sparql import records
from core.identifiers import dataset_id

# Department channels share one id space keyed by 资源代码, so a dataset keeps one URI whichever way it comes.
DEPARTMENT_ID_SPACE = "wuhan"
DEPARTMENT_CHANNELS = ("push", "cloud", "file")
DEFAULT_CHANNEL = {"inventory": "file", "cloud": "cloud"}
DQV_HAS_MEASUREMENT = "http://www.w3.org/ns/dqv#hasQualityMeasurement"

log = logging.getLogger(__name__)


def channel_dataset_id(resource_code: str) -> str:
    """Return the id of a department's dataset, whichever channel brings it: ``wuhan.{资源代码}``."""
    return dataset_id(DEPARTMENT_ID_SPACE, resource_code.strip())


def content_triples(uri: str, triples: Sequence[ox.Triple]) -> list[ox.Triple]:
    """Return a dataset graph without its catalogue record, quality measurements and provenance."""
    record = records.record_uri(uri)
    quality = f"{uri}#quality-"
    out = []
    for t in triples:
        s = t.subject
        if s == record or t.predicate == records.DCAT_RECORD or t.predicate.value == DQV_HAS_MEASUREMENT:
            continue
        if isinstance(s, ox.NamedNode) and (s.value.startswith(quality) or "/harvest/jobs/" in s.value
                                            or ACCOUNTS_PATH in s.value):
            continue
        if t.predicate == PROV.wasAttributedTo and ACCOUNTS_PATH in t.object.value:
            continue  # who made the change is provenance, not content (an unchanged dataset stays unchanged)
        if t.predicate == PROV.wasGeneratedBy or (t.predicate == RDF.type and t.object.value.endswith("dqv#Metric")):
            continue
        out.append(t)
    return out


def content_hash(uri: str, triples: Sequence[ox.Triple]) -> str:
    """Hash a dataset's content: sorted canonical N-Triples (blank nodes canonicalised) → SHA-256 hex."""
    kept = content_triples(uri, triples)
    if any(isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode) for t in kept):
        data = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in kept)
        data.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
        kept = [q.triple for q in data]
    lines = sorted({str(t) for t in kept})
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def job_uri(base_uri: str, job: int) -> str:
    return f"{base_uri.rstrip('/')}/harvest/jobs/{job}"


def with_provenance(uri: str, triples: Sequence[ox.Triple], source: str, job_node: str,
                    started: ox.Literal) -> list[ox.Triple]:
    """Return the graph with wodp:source set to the source and prov:wasGeneratedBy the harvest job."""
    dataset = ox.NamedNode(uri)
    job = ox.NamedNode(job_node)
    out = [t for t in triples if not (t.subject == dataset and t.predicate in (WODP.source, PROV.wasGeneratedBy))
           and t.subject != job]
    return out + [
        ox.Triple(dataset, WODP.source, ox.Literal(source)),
        ox.Triple(dataset, PROV.wasGeneratedBy, job),
        ox.Triple(job, RDF.type, PROV.Activity),
        ox.Triple(job, PROV.startedAtTime, started),
    ]


ACCOUNTS_PATH = "/accounts/"


def account_uri(base_uri: str, account_id: str) -> str:
    """Return the IRI of a staff account: ``{base}/accounts/{id}`` (the id only: no personal data)."""
    return f"{base_uri.rstrip('/')}/accounts/{account_id}"


def with_attribution(uri: str, triples: Sequence[ox.Triple], agent: str) -> list[ox.Triple]:
    """Return the graph with ``prov:wasAttributedTo`` the account that changed it, typed ``prov:Agent``.

    Not ``foaf:Agent``: DCAT-AP's Agent shape asks a foaf:Agent for a foaf:name, and an account carries no name
    into the public catalogue (its id only).

    An attribution the dataset itself states (to a person or body of the source) is kept; one to an account of
    ours is replaced: the dataset is attributed to the account of its latest change."""
    dataset, node = ox.NamedNode(uri), ox.NamedNode(agent)
    ours = agent.rsplit("/", 1)[0] + "/"  # {base}/accounts/
    out = [t for t in triples
           if not (t.subject == dataset and t.predicate == PROV.wasAttributedTo and t.object.value.startswith(ours))
           and not (isinstance(t.subject, ox.NamedNode) and t.subject.value.startswith(ours))]
    return out + [ox.Triple(dataset, PROV.wasAttributedTo, node), ox.Triple(node, RDF.type, PROV.Agent)]


def started_literal(at: float) -> ox.Literal:
    from datetime import datetime, timezone

    moment = datetime.fromtimestamp(at, tz=timezone.utc)
    return ox.Literal(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=XSD.dateTime)


class Ledger:
    """Who holds each dataset, its hash and history, and the precedence between department channels."""

    def __init__(self, jobs, precedence: Sequence[str] = DEPARTMENT_CHANNELS,
                 sources: Iterable = ()) -> None:
        self.jobs = jobs   # harvesters.jobs.JobStore
        self.order = list(precedence)
        self._sources: dict[str, tuple[str | None, int | None]] = {}
        for s in sources:
            self.know(s)

    def know(self, s) -> None:
        """Note a source's channel and priority (settings' sources at start, console's before each run)."""
        self._sources[s.name] = (s.channel or DEFAULT_CHANNEL.get(s.kind, "external"), s.priority)

    def channel(self, source: str) -> str | None:
        """Return the channel of a source: configured, 'push' for the push API, else None."""
        if source in self._sources:
            return self._sources[source][0]
        return "push" if source == "push" or source.startswith("push-") else None

    def rank(self, source: str) -> int | None:
        """Return the rank of a source (smaller wins), or None when precedence does not apply to it."""
        channel, priority = self._sources.get(source, (self.channel(source), None))
        if priority is not None:
            return priority
        return self.order.index(channel) if channel in self.order else None

    # -- the gate's hooks (publish/hooks.py) ----------------------------------------------------------------
    def admit(self, graphs: Mapping[str, Sequence[ox.Triple]], source: str) -> tuple[dict, tuple[str, ...]]:
        """Split graphs into those the source may write and those a higher-ranked channel holds."""
        mine = self.rank(source)
        allowed, superseded = {}, []
        entries = self.jobs.entries_of(list(graphs)) if mine is not None else {}
        for uri, triples in graphs.items():
            entry = entries.get(uri)
            if (mine is not None and entry is not None and entry.source != source and entry.rank is not None
                    and entry.state in ("published", "held") and entry.rank < mine):
                superseded.append(uri)
            else:
                allowed[uri] = triples
        return allowed, tuple(superseded)

    def intend(self, uris, source, hashes, job) -> None:
        """Note ahead the datasets a publication is about to store (settled by ``published``, or by
        ``reconcile`` at the next start when the process ended, or the disk filled, in between)."""
        hashes = hashes or {}
        channel, rank = self.channel(source), self.rank(source)
        self.jobs.intend(((u, source, channel, rank, hashes.get(u)) for u in uris), job)

    def reconcile(self, store) -> int:
        """Settle the publications noted ahead and never recorded: a dataset the store holds as stored at or
        after the note gets its ledger row (created or updated); the others were never stored (or undone) and
        are forgotten. Return how many rows were written."""
        found = self.jobs.intents()
        if not found:
            return 0
        done, dropped = [], []
        for uri, source, channel, rank, digest, job, at in found:
            modified = store.record_modified(uri)
            if modified is not None and modified.timestamp() >= at - 1.0:
                entry = self.jobs.entry(uri)
                action = "updated" if entry is not None and entry.state != "withdrawn" else "created"
                self.jobs.record([(uri, source, channel, rank, digest, "published",
                                   action)], job)
                done.append(uri)
            else:
                dropped.append(uri)
        self.jobs.drop_intents(dropped)
        if done:
            log.warning("ledger: %d publications stored but not recorded (the process ended or the disk was full "
                        "in between) were recorded from the store", len(done))
        return len(done)

    def published(self, created, updated, source, hashes, job) -> None:
        self.note(created, source, "published", "created", hashes, job)
        self.note(updated, source, "published", "updated", hashes, job)

    def held(self, reports, source, hashes, job) -> None:
        self.note(reports, source, "held", "held", hashes, job)

    def withdrawn(self, uris, source, job) -> None:
        self.note(uris, source, "withdrawn", "withdrawn", None, job)

    def note(self, uris: Iterable[str], source: str, state: str, action: str,
             hashes: Mapping[str, str] | None = None, job: int | None = None) -> None:
        """Record that datasets were published, held or withdrawn by a source."""
        hashes = hashes or {}
        channel, rank = self.channel(source), self.rank(source)
        self.jobs.record(((u, source, channel, rank, hashes.get(u), state, action) for u in uris), job)
