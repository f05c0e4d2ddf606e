"""Ask the open-type policy (access.policy) at the doors that serve data: who asks, and what the store says.

``require_data(platform, dataset_id)`` raises DataAccessRefused (403) for the data of a 不予开放 dataset and, to a
request without a grant, of a 有条件开放 one.

``principal()`` names the caller of a data door: a request bearing an API key (a token of scope ``data``, sent as
``Authorization: Bearer wodp.<id>.<secret>`` or ``?api_key=…``) is its account, holding the account's unexpired,
unrevoked grants (services/applications.py); any other request is anonymous (a signed-in browser session opens
no data door: data goes to keys, whose use is counted). A key that is unknown, revoked, of another scope or of a
disabled account is refused with 401. The key is never written to a log: only its token id is kept (the quota
counters, the audit log).

A request with a key is counted against its quota (services/quotas.py, settings ``quotas``) once the policy lets
it through; past the quota it answers 429 with Retry-After.
"""

from __future__ import annotations

from dataclasses import replace

from flask import current_app, g, has_request_context, request

from access.policy import ANONYMOUS, DatasetAccess, Principal, may_read_data, open_type_of, require_data as _require

OPEN_TYPE_QUERY = """SELECT ?p ?o WHERE { GRAPH <%s> { <%s> ?p ?o
  VALUES ?p { <https://data.wuhan.gov.cn/def/wodp#openType> <http://purl.org/dc/terms/accessRights> } } }"""
_OPEN_TYPE = "https://data.wuhan.gov.cn/def/wodp#openType"
DATA_SCOPE = "data"
API_KEY_PARAM = "api_key"


def presented_key() -> str | None:
    """Return the API key the request bears (Bearer header first, else ?api_key=), or None."""
    if not has_request_context():
        return None
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.args.get(API_KEY_PARAM) or None


def principal() -> Principal:
    """Return who asks at a data door: the account of a valid data key with its grants, else ANONYMOUS."""
    if not has_request_context():
        return ANONYMOUS
    if "wodp_data_principal" in g:
        return g.wodp_data_principal
    found, g.wodp_key_id = ANONYMOUS, None
    key = presented_key()
    if key is not None:
        platform = current_app.extensions["wodp"]
        accounts = getattr(platform, "accounts", None)
        verified = accounts.verify_token(key) if accounts is not None else None
        if verified is None:
            _refuse_key("the API key is unknown or has been revoked", "invalid_token")
        account, token = verified
        if DATA_SCOPE in token.scopes:
            applications = getattr(platform, "applications", None)
            grants = applications.grants_of(account.id) if applications is not None else frozenset()
            found = replace(account.principal(), grants=grants)
            g.wodp_key_id = token.id
        elif request.args.get(API_KEY_PARAM):
            _refuse_key(f"this token has the scopes {' '.join(token.scopes)}; a data door needs an API key "
                        f"(scope {DATA_SCOPE})", "insufficient_scope")
        # a staff token of another scope in the header reads as anonymous here (its scope is not data)
    g.wodp_data_principal = found
    return found


def _refuse_key(message: str, error: str):
    from server.auth import SignInRequired

    raise SignInRequired(message, error)


def dataset_access(store, uri: str) -> DatasetAccess:
    """Read a published dataset's open type from the store (one small query on its graph)."""
    if ">" in uri or "<" in uri or " " in uri:
        raise ValueError(f"not an IRI: {uri!r}")
    types, rights = [], []
    for row in store.query(OPEN_TYPE_QUERY % (uri, uri)):
        (types if row[0].value == _OPEN_TYPE else rights).append(row[1].value)
    return DatasetAccess(uri, open_type_of(types, rights))


def require_data(platform, dataset_uri: str) -> None:
    """Refuse (403) unless the one asking may read the data of the dataset ``dataset_uri``; then count a keyed
    request against its quota (429 past it)."""
    access = dataset_access(platform.store, dataset_uri)
    who = principal()
    _require(access, who)
    key_id = g.get("wodp_key_id")
    quotas = getattr(platform, "quotas", None)
    if key_id and quotas is not None and quotas.settings.enabled:
        from services.quotas import QuotaExceeded

        charge = quotas.charge(key_id, dataset_uri, access.open_type.value)
        if not charge.allowed:
            window = "每分钟" if charge.window == "minute" else "每日"
            raise QuotaExceeded(f"已超过 API 密钥{window}调用限额（{charge.limit} 次）。 The API key has made its "
                                f"{charge.limit} requests per {charge.window}: retry after {charge.retry_after} s.",
                                charge.retry_after)


def may_serve_layer(store, dataset_uri: str | None) -> bool:
    """Whether the layer of a dataset may be offered to everyone (a layer of no dataset, e.g. records: yes)."""
    if not dataset_uri:
        return True
    return may_read_data(dataset_access(store, dataset_uri), ANONYMOUS).allowed
