"""The root error of the platform and the generic kinds every part raises (HTTP status, code, safe message)."""

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
