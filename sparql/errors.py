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


class QueryMemoryError(WodpError):
    """A query needed more memory than a worker may take; its worker was stopped."""

    status = 503
    code = "query-memory-limit"


class QueryCrashError(WodpError):
    """A query made its worker process crash (a parser or engine fault); the query is not run again."""

    status = 400
    code = "query-crashed-worker"


class ServiceBusyError(WodpError):
    """Every query worker is busy; answered with Retry-After."""

    status = 503
    code = "service-busy"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ClientBusyError(ServiceBusyError):
    """One client already runs its share of the query workers; answered with Retry-After."""

    status = 429
    code = "too-many-queries"
