"""Errors of validation, under the platform's root error (an HTTP status, a code and a safe message)."""

from __future__ import annotations

from core.errors import BadRequestError, WodpError


class UnknownProfileError(BadRequestError):
    """The validation profile named is not in the registry."""

    code = "unknown-profile"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown validation profile {name!r}; known profiles: {', '.join(known)}")


class EngineUnavailableError(WodpError):
    """The validation engine asked for cannot run here."""

    status = 500
    code = "validation-engine-unavailable"


class ShapesFileError(WodpError):
    """A shapes file could not be read or parsed (names the file)."""

    status = 500
    code = "shapes-file-invalid"
