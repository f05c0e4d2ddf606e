"""Errors of the store and the query service, each with an HTTP status and a safe message."""

from __future__ import annotations

from core.errors import BadRequestError, WodpError


class StoreError(WodpError):
    status = 500
    code = "store-error"


class StoreBusyError(StoreError):
    """The store is locked by another process (the running server)."""

    status = 503
    code = "store-busy"


class QueryError(BadRequestError):
    """A SPARQL query was malformed or not allowed."""

    code = "malformed-query"


class QueryRefusedError(WodpError):
    """A SPARQL request was refused (an update, too long)."""

    status = 400
    code = "query-refused"


class QueryTimeoutError(WodpError):
    status = 503
    code = "query-timeout"


class QueryTooLargeError(WodpError):
    status = 413
    code = "result-too-large"


class ServiceBusyError(WodpError):
    status = 503
    code = "service-busy"
