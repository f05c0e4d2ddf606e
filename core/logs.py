"""Keep every log line bounded: a message or traceback line longer than the limit is cut, saying by how much.

One formatter, installed on the root logger's handlers by each entry point (``wodp``'s ``_settings``, the CSW
service), so no log line carries a whole record, whatever a message or an exception quoted.
"""

from __future__ import annotations

import logging

from core.text import bounded

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class BoundedFormatter(logging.Formatter):
    """Cut the message to ``max_chars`` before formatting it, and each line of a traceback or stack."""

    def __init__(self, max_chars: int, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.max_chars = max_chars

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if len(message) > self.max_chars:
            record.msg, record.args = bounded(message, self.max_chars), None
        return super().format(record)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return self._lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return self._lines(super().formatStack(stack_info))

    def _lines(self, text: str) -> str:
        return "\n".join(bounded(line, self.max_chars) for line in text.split("\n"))


def bound_log_lines(max_chars: int, fmt: str = FORMAT) -> None:
    """Give every handler of the root logger the bounded formatter (after logging.basicConfig)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(BoundedFormatter(max_chars, fmt))
