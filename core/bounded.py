"""Errors of the bounded readers of outside input (XML, JSON, XLSX, CSV): what was refused, and which bound.

The readers (``core.xmlsafe``, ``core.jsonsafe``, ``core.xlsxsafe``, ``core.csvsafe``) take a ``limits``
object with the attributes of ``config.settings.InputLimits`` (settings section ``input_limits``); ``core``
imports nothing of ours, so the entry points pass it down.
"""

from __future__ import annotations

from core.errors import BadRequestError


class InputRefusedError(BadRequestError):
    """Input that is refused for what it is (a DTD, an entity, a lone surrogate, a dangling reference)."""

    code = "input-refused"

    def __init__(self, what: str, *, name: str, status: int | None = None) -> None:
        super().__init__(f"{name}: {what}", status=status)
        self.what = what
        self.name = name


class InputLimitError(InputRefusedError):
    """Input past one of the bounds of settings input_limits; the message names the bound."""

    status = 413
    code = "input-limit"


def bound(setting: str, value: int) -> str:
    """Name a bound as users configure it: 'input_limits.xlsx_max_cells = 2000000'."""
    return f"input_limits.{setting} = {value}"
