"""Statements on the ``citus`` metadata connection: reading and writing ``pg_dist_node``.

Every statement goes through :meth:`MetadataStore.query`: parameters are passed separately (``%s``
placeholders, never formatted into the SQL), the statement is debug-logged (parameters are addresses
and ids, never credentials), and a failure of any kind closes the connection (which rolls back an open
transaction on the server) and raises :class:`~patroni_mpp_citus.MetadataQueryError`.

Time bounds: inside an event transaction (:meth:`MetadataStore.until`) each statement is bounded by
the time left before the transaction's deadline (``statement_timeout``, set with ``set_config(...,
true)`` just before it), and a statement due after the deadline is not run: the transaction is rolled
back instead (:class:`~patroni_mpp_citus.MetadataDeadlineError`). Outside event transactions a
statement waits at most :data:`LOCK_TIMEOUT_MS` for each lock (``lock_timeout`` of the connection),
so that a lock held elsewhere cannot block the worker forever.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from patroni_mpp import NamedConnectionLike

from ._errors import MetadataDeadlineError, MetadataQueryError
from ._model import DEMOTED, REMOVE, Group, Row
from ._transition import transition

__all__ = [
    "ADD_NODE",
    "BOUND_STATEMENT",
    "CONNECTION_NAME",
    "CONNECTION_OPTIONS",
    "LOAD_NODES",
    "LOCK_TIMEOUT_MS",
    "REMOVE_NODE",
    "UPDATE_NODE",
    "MetadataStore",
]

logger = logging.getLogger(__name__)

CONNECTION_NAME = "citus"
"""Name of the metadata connection in the host's pool."""

LOCK_TIMEOUT_MS = 30000
"""``lock_timeout`` of the metadata connection outside event transactions (milliseconds).

It bounds how long a reconciliation statement waits for a lock held elsewhere. It exceeds the default
``lock_cooldown`` (10 s) after which ``citus_update_node`` cancels the backends that block it. It is
not a ``statement_timeout``: ``citus_add_node`` may legitimately run long (metadata sync to a new
node).
"""

CONNECTION_OPTIONS = (
    f"-c statement_timeout=0 -c lock_timeout={LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=0"
)
"""Server options of the metadata connection: event transactions stay open until their deadline
(the worker ends them), statements are bounded as the module docstring says.
"""

BOUND_STATEMENT = (
    "SELECT pg_catalog.set_config('statement_timeout', %s, true), "
    "pg_catalog.set_config('lock_timeout', '0', true)"
)
"""Run before each statement of an event transaction: the time left (ms) bounds the next statement."""

_BEGIN = "BEGIN"
_COMMIT = "COMMIT"
_ROLLBACK = "ROLLBACK"

LOAD_NODES = (
    "SELECT groupid, nodename, nodeport, noderole::text, nodeid FROM pg_catalog.pg_dist_node "
    "WHERE nodecluster = 'default' ORDER BY groupid, nodeid"
)
ADD_NODE = "SELECT pg_catalog.citus_add_node(%s::text, %s::int, %s::int, %s::pg_catalog.noderole, 'default')"
UPDATE_NODE = "SELECT pg_catalog.citus_update_node(%s::int, %s::text, %s::int, true, %s::int)"
REMOVE_NODE = "SELECT pg_catalog.citus_remove_node(%s::text, %s::int)"


class MetadataStore:
    """The engine's statements, on one connection used by the worker thread only.

    :ivar statements: number of statements issued so far (for tests and benchmarks).
    """

    def __init__(self, connection: NamedConnectionLike) -> None:
        """:param connection: the host's named ``citus`` connection (auto-commit, opened lazily)."""
        self._connection = connection
        self._deadline: float | None = None
        self.statements = 0

    @property
    def deadline(self) -> float | None:
        """``time.monotonic()`` deadline of the open event transaction, None outside :meth:`until`."""
        return self._deadline

    @contextlib.contextmanager
    def until(self, deadline: float | None) -> Iterator[None]:
        """Bound the statements of the block by ``deadline`` (an event transaction's).

        :param deadline: ``time.monotonic()`` value; None leaves the statements unbounded (apart
            from the connection's ``lock_timeout``).
        """
        previous, self._deadline = self._deadline, deadline
        try:
            yield
        finally:
            self._deadline = previous

    def query(self, sql: str, *params: Any, log_errors: bool = True) -> list[tuple[Any, ...]]:
        """Run one statement; inside :meth:`until`, within the time left before the deadline.

        :param sql: the statement, with ``%s`` placeholders.
        :param params: its parameters.
        :param log_errors: log a failure as an error (else at debug level; the caller reports it).
        :returns: the rows.
        :raises MetadataDeadlineError: when the deadline passed before or while the statement ran;
            the transaction was rolled back.
        :raises MetadataQueryError: on any other failure; the connection is closed first.
        """
        deadline = self._deadline
        if deadline is not None and sql != _ROLLBACK:
            left = deadline - time.monotonic()
            if left <= 0:
                self._expire(sql)
            if sql not in (_BEGIN, _COMMIT):
                # never 0, which would mean "no limit"
                self._run(BOUND_STATEMENT, (str(max(1, math.ceil(left * 1000))),), log_errors, deadline)
        return self._run(sql, params, log_errors, deadline)

    def _run(
        self, sql: str, params: tuple[Any, ...], log_errors: bool, deadline: float | None
    ) -> list[tuple[Any, ...]]:
        logger.debug("query(%s, %r)", sql, params)
        self.statements += 1
        try:
            return list(self._connection.query(sql, *params))
        except Exception as exc:
            self.close()
            if deadline is not None and time.monotonic() >= deadline:
                logger.debug("Statement %r ran into the deadline of its transaction: %s", sql, exc)
                raise MetadataDeadlineError(sql, exc) from exc
            level = logging.ERROR if log_errors else logging.DEBUG
            logger.log(level, "Exception when executing query %r, %r: %s", sql, params, exc)
            raise MetadataQueryError(sql, exc) from exc

    def _expire(self, sql: str) -> NoReturn:
        """Roll back instead of running ``sql``: the transaction's deadline passed."""
        logger.debug("Not running %r: the deadline of its transaction passed", sql)
        # when the ROLLBACK fails, the connection was closed, which rolled back too
        with contextlib.suppress(MetadataQueryError):
            self._run(_ROLLBACK, (), True, None)
        raise MetadataDeadlineError(sql, TimeoutError("the deadline of the transaction passed"))

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server)."""
        try:
            self._connection.close()
        except Exception as exc:
            logger.debug("Closing the citus connection failed: %s", exc)

    def begin(self) -> None:
        """Open an explicit transaction."""
        self.query(_BEGIN)

    def commit(self) -> None:
        """Commit the open transaction (inside :meth:`until`, roll back if the deadline passed)."""
        self.query(_COMMIT)

    def rollback(self) -> None:
        """Roll the open transaction back."""
        self.query(_ROLLBACK)

    def load(self, *, log_errors: bool = True) -> dict[int, Group]:
        """Read every row of the ``default`` node cluster, grouped by ``groupid``.

        Rows of other node clusters (secondaries configured for ``citus.cluster_name``) are not ours
        and
        are left alone.
        """
        groups: dict[int, Group] = {}
        for groupid, nodename, nodeport, noderole, nodeid in self.query(LOAD_NODES, log_errors=log_errors):
            group = groups.get(groupid)
            if group is None:
                group = groups[groupid] = Group(groupid)
            group.add(Row(nodename, nodeport, noderole, nodeid))
        return groups

    def apply(self, new: Group, old: Group, cooldown: int, *, in_transaction: bool) -> int:
        """Write the transition from ``old`` to ``new`` (``new`` becomes the resulting state).

        :param new: the desired state (changed in place, see :func:`~patroni_mpp_citus.transition`).
        :param old: the current state.
        :param cooldown: ``lock_cooldown`` in milliseconds.
        :param in_transaction: a transaction is open; otherwise several changes are wrapped in one.
        :returns: the number of rows written.
        :raises MetadataQueryError: when a statement fails.
        """
        changes = transition(new, old)
        if not changes:
            return 0
        wrap = not in_transaction and len(changes) > 1
        if wrap:
            self.begin()
        for row in changes:
            self.write(row, new.groupid, cooldown)
        if wrap:
            new.failover = False
            self.commit()
        return len(changes)

    def write(self, row: Row, groupid: int, cooldown: int) -> None:
        """Write one change: remove, update (by nodeid) or add the row.

        :param row: the change (see :func:`~patroni_mpp_citus.transition` for its meaning).
        :param groupid: its group.
        :param cooldown: ``lock_cooldown`` in milliseconds.
        """
        if row.role == REMOVE:
            self.query(REMOVE_NODE, row.host, row.port)
        elif row.nodeid is not None:
            self.query(UPDATE_NODE, row.nodeid, row.nodename, row.port, cooldown)
        elif row.role == DEMOTED:
            logger.debug("Not adding %r: a group that is not registered cannot be paused", row)
        else:
            result = self.query(ADD_NODE, row.host, row.port, groupid, row.role)
            row.nodeid = int(result[0][0])
