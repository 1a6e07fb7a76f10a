"""Logging of one Citus database's worker: every line names the database, failures once per change.

With several Citus databases (``citus.databases``) each has its own worker, store and connection;
their log lines end with `` [database <name>]`` so that a failure in one is told apart. A failure
that repeats unchanged (the same statement failing the same way at every HA cycle, a database that
was dropped) is logged as an error when it starts or changes, at debug level while it lasts, and
once at info level when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, MutableMapping
from typing import Any

__all__ = ["DatabaseLog", "FailureLog"]


class DatabaseLog(logging.LoggerAdapter[logging.Logger]):
    """A module's logger whose messages end with `` [database <name>]``.

    :param logger: the module's logger (``logging.getLogger(__name__)``).
    :param database: the Citus database; None adds nothing.
    """

    def __init__(self, logger: logging.Logger, database: str | None) -> None:
        super().__init__(logger, {})
        self.database = database
        # a % in a name must not be read as a format directive of the message
        self._suffix = "" if database is None else f" [database {database}]".replace("%", "%%")

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Append the database to the message."""
        return f"{msg}{self._suffix}", kwargs


class FailureLog:
    """Remembers the failures being reported, so that each is logged once per change of state.

    :param log: where the lines go.
    """

    def __init__(self, log: logging.LoggerAdapter[logging.Logger] | logging.Logger) -> None:
        self._log = log
        self._failing: dict[Hashable, str] = {}

    def failed(self, key: Hashable, text: str) -> int:
        """``key`` failed with ``text``; the level to log it at (ERROR when new or changed, else DEBUG)."""
        if self._failing.get(key) == text:
            return logging.DEBUG
        self._failing[key] = text
        return logging.ERROR

    def succeeded(self, key: Hashable, what: str) -> None:
        """``key`` went through: when it was failing, say once that it works again."""
        if self._failing.pop(key, None) is not None:
            self._log.info("%s works again", what)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._failing
