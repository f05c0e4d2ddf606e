"""Ask the open-type policy (access.policy) at the doors that serve data: who asks, and what the store says.

``require_data(platform, dataset_id)`` raises DataAccessRefused (403) for the data of a 不予开放 dataset and, to an
anonymous request, of a 有条件开放 one. ``principal()`` is where a grant or API key will name the caller; today
every request is anonymous.
"""

from __future__ import annotations

from access.policy import ANONYMOUS, DatasetAccess, Principal, may_read_data, open_type_of, require_data as _require

OPEN_TYPE_QUERY = """SELECT ?p ?o WHERE { GRAPH <%s> { <%s> ?p ?o
  VALUES ?p { <https://data.wuhan.gov.cn/def/wodp#openType> <http://purl.org/dc/terms/accessRights> } } }"""
_OPEN_TYPE = "https://data.wuhan.gov.cn/def/wodp#openType"


def principal() -> Principal:
    """Return who asks. Grants and API keys come with a later issue: until then, everyone is anonymous."""
    return ANONYMOUS


def dataset_access(store, uri: str) -> DatasetAccess:
    """Read a published dataset's open type from the store (one small query on its graph)."""
    if ">" in uri or "<" in uri or " " in uri:
        raise ValueError(f"not an IRI: {uri!r}")
    types, rights = [], []
    for row in store.query(OPEN_TYPE_QUERY % (uri, uri)):
        (types if row[0].value == _OPEN_TYPE else rights).append(row[1].value)
    return DatasetAccess(uri, open_type_of(types, rights))


def require_data(platform, dataset_uri: str) -> None:
    """Refuse (403) unless the one asking may read the data of the dataset ``dataset_uri``."""
    _require(dataset_access(platform.store, dataset_uri), principal())


def may_serve_layer(store, dataset_uri: str | None) -> bool:
    """Whether the layer of a dataset may be offered to everyone (a layer of no dataset, e.g. records: yes)."""
    if not dataset_uri:
        return True
    return may_read_data(dataset_access(store, dataset_uri), ANONYMOUS).allowed
