"""Log records of a test: a handler that keeps every record with its full text, and filters.

:class:`LogRecorder` keeps what a handler would print, traceback included, so that a test can
check that no secret reaches any log text; :func:`records` picks records out of pytest's
``caplog``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any


class LogRecorder(logging.Handler):
    """Keeps every record, and the full text it would print (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Store the record and its rendering."""
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        if record.stack_info:
            text += "\n" + record.stack_info
        with self._records_lock:
            self.records.append(record)
            self.texts.append(text)

    def all_text(self) -> str:
        """Every record's text, one after the other."""
        with self._records_lock:
            return "\n".join(self.texts)

    def messages(self, logger_prefix: str = "", level: int = logging.DEBUG) -> list[str]:
        """Messages of records from loggers starting with ``logger_prefix`` at ``level`` or above."""
        with self._records_lock:
            return [
                r.getMessage()
                for r in self.records
                if r.name.startswith(logger_prefix) and r.levelno >= level
            ]


def exception_text(exc: BaseException) -> str:
    """An exception as a traceback would show it: its chain of causes and contexts included."""
    return "".join(traceback.format_exception(exc))


def records(caplog: Any, level: str, prefix: str) -> list[Any]:
    """Records of pytest's ``caplog`` at ``level`` (a name) whose message starts with ``prefix``.

    Typed ``Any``, so that a test reads ``args`` without narrowing them.
    """
    return [r for r in caplog.records if r.levelname == level and r.getMessage().startswith(prefix)]
