"""Read back every statement a test server ran, from its log (``log_statement = 'all'``).

Start the server with :data:`STATEMENT_LOG_SETTINGS`; then :class:`StatementLog` parses the log
file and filters by ``application_name`` / database, so a test can assert the exact SQL sequence
one connection sent (``BEGIN``, ``SELECT pg_catalog.citus_update_node(...)``, ``COMMIT``) or that it
sent nothing. The server writes a statement's log line before it runs it, so once a client has its
answer the line is in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STATEMENT_LOG_SETTINGS", "LoggedStatement", "StatementLog", "StatementLogView"]

STATEMENT_LOG_SETTINGS: dict[str, str] = {
    "log_statement": "all",
    "log_line_prefix": "%m [%p] app=%a db=%d: ",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
}
"""``postgresql.conf`` settings the parser expects."""

_LINE = re.compile(
    r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] app=(?P<app>.*?) db=(?P<db>\S*): "
    r"(?P<level>[A-Z0-9]+):  (?P<msg>.*)$"
)
_STATEMENT = re.compile(r"^(?:statement|execute (?P<name>[^:]+)): (?P<sql>.*)$", re.DOTALL)
_PARAMS = re.compile(r"\$(?P<n>\d+) = (?P<v>'(?:[^']|'')*'|NULL)", re.DOTALL)


@dataclass
class LoggedStatement:
    """One statement as the server logged it.

    :param pid: backend pid.
    :param application_name: the client's ``application_name`` (``''`` when unset).
    :param database: database name.
    :param sql: the statement text (with ``$n`` placeholders for extended-protocol executions).
    :param params: ``$n`` → SQL literal (``'…'`` or ``NULL``) from the ``parameters:`` detail line.
    :param offset: byte offset of the entry in the log file.
    """

    pid: int
    application_name: str
    database: str
    sql: str
    params: dict[int, str] = field(default_factory=dict)
    offset: int = 0

    @property
    def text(self) -> str:
        """The statement with parameters substituted (as SQL literals), whitespace collapsed."""
        result = self.sql
        for number in sorted(self.params, reverse=True):
            result = result.replace(f"${number}", self.params[number])
        return " ".join(result.split())


class StatementLog:
    """Parser of one server's log file.

    :param path: the server's log file (``PostgresServer.logfile``).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def mark(self) -> int:
        """The current end of the log; pass it as ``since`` to see only later statements."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _records(self, since: int) -> Iterable[tuple[int, int, str, str, str, str]]:
        """(offset, pid, app, db, level, message) per log record, continuation lines joined."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(since)
                data = handle.read()
        except FileNotFoundError:
            return
        offset = since
        current: list[object] | None = None
        for raw in data.splitlines(keepends=True):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            match = _LINE.match(line)
            if match:
                if current is not None:
                    yield tuple(current)  # type: ignore[misc]
                current = [
                    offset,
                    int(match["pid"]),
                    match["app"],
                    match["db"],
                    match["level"],
                    match["msg"],
                ]
            elif current is not None and line.startswith("\t"):
                current[5] = f"{current[5]}\n{line[1:]}"
            offset += len(raw)
        if current is not None:
            yield tuple(current)  # type: ignore[misc]

    def entries(
        self,
        since: int = 0,
        *,
        application_name: str | None = None,
        database: str | None = None,
        pid: int | None = None,
    ) -> list[LoggedStatement]:
        """Statements logged after ``since``, oldest first, optionally filtered.

        :param since: a value of :meth:`mark` (default: the whole log).
        :param application_name: only statements of clients with this ``application_name``.
        :param database: only statements run in this database.
        :param pid: only statements of this backend.
        """
        result: list[LoggedStatement] = []
        pending: dict[int, LoggedStatement] = {}
        for offset, rec_pid, app, db, level, message in self._records(since):
            if level == "DETAIL" and message.startswith("parameters: ") and rec_pid in pending:
                entry = pending.pop(rec_pid)
                entry.params = {int(m["n"]): m["v"] for m in _PARAMS.finditer(message)}
                continue
            pending.pop(rec_pid, None)
            if level != "LOG":
                continue
            statement = _STATEMENT.match(message)
            if statement is None:
                continue
            entry = LoggedStatement(rec_pid, app, db, statement["sql"], offset=offset)
            pending[rec_pid] = entry
            if application_name is not None and app != application_name:
                continue
            if database is not None and db != database:
                continue
            if pid is not None and rec_pid != pid:
                continue
            result.append(entry)
        return result

    def statements(
        self,
        since: int = 0,
        *,
        application_name: str | None = None,
        database: str | None = None,
        pid: int | None = None,
    ) -> list[str]:
        """Like :meth:`entries`, but only each statement's :attr:`LoggedStatement.text`."""
        return [
            entry.text
            for entry in self.entries(since, application_name=application_name, database=database, pid=pid)
        ]


class StatementLogView:
    """The server's statement log restricted to what was logged since the test started.

    :param log: the server's log parser.
    :param start: log offset at the start of the test.
    """

    def __init__(self, log: StatementLog, start: int) -> None:
        self.log = log
        self.start = start

    def mark(self) -> int:
        """Current end of the log (pass as ``since``)."""
        return self.log.mark()

    def entries(self, since: int | None = None, **filters: Any) -> list[LoggedStatement]:
        """Statements since the test start (or ``since``); see :meth:`StatementLog.entries`."""
        return self.log.entries(self.start if since is None else since, **filters)

    def statements(self, since: int | None = None, **filters: Any) -> list[str]:
        """Statement texts (parameters substituted) since the test start (or ``since``)."""
        return self.log.statements(self.start if since is None else since, **filters)

    @property
    def path(self) -> Path:
        """The log file."""
        return self.log.path
