"""Exceptions of the Citus engine."""

from __future__ import annotations

from patroni_mpp import FieldProblem

__all__ = [
    "CitusBootstrapError",
    "CitusError",
    "CitusEventError",
    "MetadataDeadlineError",
    "MetadataQueryError",
    "MetadataUnsyncedError",
]


class CitusError(Exception):
    """Base class of the errors raised by the Citus engine."""


class CitusEventError(CitusError, ValueError):
    """An event POSTed to the coordinator is malformed; nothing was queued and no SQL was run.

    :ivar problems: one entry per offending field (``""`` for the event as a whole).
    """

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        parts = [f"{p.location}: {p.message}" if p.location else p.message for p in problems]
        super().__init__("invalid citus event: " + "; ".join(parts))


class MetadataQueryError(CitusError):
    """A statement on the ``citus`` metadata connection failed (the connection was closed).

    :ivar sql: the statement.
    :ivar cause: the host's exception.
    """

    def __init__(self, sql: str, cause: BaseException) -> None:
        self.sql = sql
        self.cause = cause
        super().__init__(f"{type(cause).__name__}: {cause}")


class MetadataDeadlineError(MetadataQueryError):
    """The deadline of the open event transaction passed; the transaction was rolled back.

    Either a statement was cancelled by the server (its ``statement_timeout`` was the time left; the
    connection was then closed), or a statement was due after the deadline: it was not run, and a
    ``ROLLBACK`` was issued instead.
    """


class MetadataUnsyncedError(MetadataQueryError):
    """Citus refused to add or remove a node: a metadata node is out of sync (SQLSTATE 55000).

    Citus marks every metadata node unsynced after an effective ``citus_update_node`` until its
    maintenance daemon has synced them. The statement changed nothing; the connection stays open (an
    explicit transaction was rolled back). The worker retries the task later.

    :ivar node: ``host:port`` of the node Citus named.
    """

    def __init__(self, sql: str, cause: BaseException, node: str) -> None:
        super().__init__(sql, cause)
        self.node = node


class CitusBootstrapError(CitusError):
    """A bootstrap step failed; its server message, which could reveal a secret, is redacted."""
