"""Errors of the mapping engine: bad input files and unknown mappings, each naming file, record and field."""

from __future__ import annotations

from core.errors import BadRequestError


class MappingInputError(BadRequestError):
    """A record file could not be read: names the file and, when known, the record and the field."""

    code = "bad-mapping-input"

    def __init__(self, message: str, *, file: str, record: str | None = None, field: str | None = None,
                 status: int | None = None) -> None:
        where = file + (f"#{record}" if record else "") + (f" field {field!r}" if field else "")
        super().__init__(f"{where}: {message}", status=status)
        self.file = file
        self.record = record
        self.field = field


class InputTooLargeError(MappingInputError):
    """A record file is larger than the size limit."""

    status = 413
    code = "input-too-large"


class MappingError(BadRequestError, KeyError):
    """A mapping file is unknown or malformed."""

    code = "bad-mapping"

    def __str__(self) -> str:
        return self.message
