"""Decide what a dataset's open type (开放类型) lets a principal read, and what its public metadata may link to.

The rule (issue 9, docs/access.md):

- 无条件开放 (``unconditional``): metadata and data open to all;
- 有条件开放 (``conditional``): metadata public; data only to a holder of a grant for the dataset. Grants come
  with the one-stop services issue: until then no principal holds one, so no anonymous request gets the data;
- 不予开放 (``closed``): listed with its metadata; no data anywhere, to anyone.

A dataset's open type is its ``wodp:openType``; a dataset without one (an external catalogue that does not say)
falls back to its ``dct:accessRights`` in the EU access-right table (PUBLIC, RESTRICTED, NON_PUBLIC); a dataset
that declares neither is ``undeclared`` and served as its source published it (open), since our doors can only
serve what the source itself made downloadable.

Every door that serves data asks ``may_read_data(dataset, principal)``; every door that serves metadata passes the
dataset graph through ``public_view`` (the download links of data a principal may not read are taken out).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Sequence

import pyoxigraph as ox

from core.errors import WodpError
from ontology.namespaces import ACCESS_RIGHT, DCAT, DCT, OPEN_TYPE, WODP


class OpenType(StrEnum):
    """The open types of ontology/open-types.ttl, and ``undeclared`` for a dataset that states none."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    CLOSED = "closed"
    UNDECLARED = "undeclared"


# EU access rights (the closeMatch of each open type in ontology/open-types.ttl), read when wodp:openType is absent.
_BY_ACCESS_RIGHT = {ACCESS_RIGHT.PUBLIC.value: OpenType.UNCONDITIONAL,
                    ACCESS_RIGHT.RESTRICTED.value: OpenType.CONDITIONAL,
                    ACCESS_RIGHT.NON_PUBLIC.value: OpenType.CLOSED}
_BY_OPEN_TYPE = {OPEN_TYPE[kind.value].value: kind
                 for kind in (OpenType.UNCONDITIONAL, OpenType.CONDITIONAL, OpenType.CLOSED)}
RESTRICTED = frozenset({OpenType.CONDITIONAL, OpenType.CLOSED})


def open_type_of(open_types: Iterable[str], access_rights: Iterable[str] = ()) -> OpenType:
    """Return the open type named by wodp:openType IRIs, else by dct:accessRights IRIs; the strictest wins."""
    for table, values in ((_BY_OPEN_TYPE, list(open_types)), (_BY_ACCESS_RIGHT, list(access_rights))):
        found = {table[v] for v in values if v in table}
        for kind in (OpenType.CLOSED, OpenType.CONDITIONAL, OpenType.UNCONDITIONAL):
            if kind in found:
                return kind
    return OpenType.UNDECLARED


def open_type_in(uri: str, triples: Iterable[ox.Triple]) -> OpenType:
    """Return the open type a dataset graph states for the dataset ``uri``."""
    node = ox.NamedNode(uri)
    types, rights = [], []
    for t in triples:
        if t.subject == node and t.predicate == WODP.openType:
            types.append(t.object.value)
        elif t.subject == node and t.predicate == DCT.accessRights:
            rights.append(t.object.value)
    return open_type_of(types, rights)


@dataclass(frozen=True)
class Principal:
    """Who asks: anonymous (no id), or an account with its role, its department (a publisher's) and its grants
    (dataset IRIs whose restricted data it may read)."""

    id: str | None = None
    grants: frozenset[str] = frozenset()
    role: str | None = None
    department: str | None = None


ANONYMOUS = Principal()


@dataclass(frozen=True)
class DatasetAccess:
    """What the policy needs to know of a dataset: its IRI and its open type."""

    uri: str
    open_type: OpenType


@dataclass(frozen=True)
class Decision:
    """The answer to "may this principal read this dataset's data?", with the reason in both languages."""

    allowed: bool
    open_type: OpenType
    reason_zh: str = ""
    reason_en: str = ""


def may_read_data(dataset: DatasetAccess, principal: Principal = ANONYMOUS) -> Decision:
    """Decide whether ``principal`` may read the data (files, API rows, features) of ``dataset``."""
    kind = dataset.open_type
    if kind is OpenType.CLOSED:
        return Decision(False, kind, "该数据集为不予开放数据，仅公开元数据，不提供数据。",
                        "This dataset is not open (不予开放): only its metadata is published; its data is "
                        "not available to anyone.")
    if kind is OpenType.CONDITIONAL and dataset.uri not in principal.grants:
        return Decision(False, kind, "该数据集为有条件开放数据，需向提供部门申请并获得授权后使用。"
                        f"申请方式见数据集页面：{dataset.uri}",
                        "This dataset is conditionally open (有条件开放): its data is provided only to holders "
                        "of a grant from the publishing department. See the dataset page for how to apply: "
                        f"{dataset.uri}")
    return Decision(True, kind)


class DataAccessRefused(WodpError):
    """403: the open type of a dataset keeps its data from the one who asked."""

    status = 403
    code = "data-not-open"

    def __init__(self, decision: Decision) -> None:
        code = "data-conditionally-open" if decision.open_type is OpenType.CONDITIONAL else "data-not-open"
        super().__init__(f"{decision.reason_zh} {decision.reason_en}", code=code)
        self.decision = decision


def require_data(dataset: DatasetAccess, principal: Principal = ANONYMOUS) -> None:
    """Raise DataAccessRefused (403) unless ``principal`` may read the data of ``dataset``."""
    decision = may_read_data(dataset, principal)
    if not decision.allowed:
        raise DataAccessRefused(decision)


# -- metadata: the links of a dataset graph a principal may follow ------------------------------------------
def public_view(uri: str, triples: Sequence[ox.Triple], principal: Principal = ANONYMOUS) -> list[ox.Triple]:
    """Return the dataset graph as ``principal`` may see it: all of it, or without the ways to its data.

    For a dataset whose data the principal may not read, each distribution keeps its description (title,
    format, media type, licence, size) but loses ``dcat:downloadURL``, ``dcat:accessService`` and the standard
    of that service (``dct:conformsTo``), and its ``dcat:accessURL`` becomes the dataset page (where the page
    says how to apply); data services stop saying they serve the dataset. The stored graph is unchanged.
    """
    triples = list(triples)
    dataset = DatasetAccess(uri, open_type_in(uri, triples))
    if may_read_data(dataset, principal).allowed:
        return triples
    node = ox.NamedNode(uri)
    distributions = {t.object for t in triples if t.subject == node and t.predicate == DCAT.distribution}
    served = {t.subject for t in triples if t.subject in distributions and t.predicate == DCAT.accessService}
    kept = []
    for t in triples:
        if t.subject in distributions:
            if t.predicate in (DCAT.downloadURL, DCAT.accessURL, DCAT.accessService):
                continue
            if t.predicate == DCT.conformsTo and t.subject in served:
                continue
        if t.predicate == DCAT.servesDataset and t.object == node:
            continue
        kept.append(t)
    kept += [ox.Triple(d, DCAT.accessURL, node) for d in sorted(distributions, key=lambda n: n.value)]
    return kept


def withheld_links(uri: str, triples: Sequence[ox.Triple], principal: Principal = ANONYMOUS) -> list[str]:
    """Return the download and access URLs of the dataset's distributions that ``public_view`` takes out."""
    before = {t.object.value for t in triples if t.predicate in (DCAT.downloadURL, DCAT.accessURL)}
    after = {t.object.value for t in public_view(uri, triples, principal)
             if t.predicate in (DCAT.downloadURL, DCAT.accessURL)}
    return sorted(before - after)
