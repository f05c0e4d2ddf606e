"""Errors of the store and the query service, each with an HTTP status and a safe message."""

from __future__ import annotations


class WodpError(Exception):
    """Root of the platform's errors: an HTTP status, a machine code and a user-safe message."""

    status = 500
    code = "internal-error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class NotFoundError(WodpError):
    status = 404
    code = "not-found"


class GoneError(WodpError):
    status = 410
    code = "gone"


class BadRequestError(WodpError):
    status = 400
    code = "bad-request"


class NotAcceptableError(WodpError):
    status = 406
    code = "not-acceptable"


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
