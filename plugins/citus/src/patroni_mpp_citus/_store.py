"""Statements on the ``citus`` metadata connection: reading and writing ``pg_dist_node``.

Every statement goes through :meth:`MetadataStore.query`: parameters are passed separately (``%s``
placeholders, never formatted into the SQL), the statement is debug-logged (parameters are addresses
and
ids, never credentials), and a failure of any kind closes the connection (which rolls back an open
transaction on the server) and raises :class:`~patroni_mpp_citus.MetadataQueryError`.
"""

from __future__ import annotations

import logging
from typing import Any

from patroni_mpp import NamedConnectionLike

from ._errors import MetadataQueryError
from ._model import DEMOTED, REMOVE, Group, Row
from ._transition import transition

__all__ = [
    "ADD_NODE",
    "CONNECTION_NAME",
    "CONNECTION_OPTIONS",
    "LOAD_NODES",
    "REMOVE_NODE",
    "UPDATE_NODE",
    "MetadataStore",
]

logger = logging.getLogger(__name__)

CONNECTION_NAME = "citus"
"""Name of the metadata connection in the host's pool."""

CONNECTION_OPTIONS = "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0"
"""Server options of the metadata connection: event transactions stay open until their deadline."""

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
        self.statements = 0

    def query(self, sql: str, *params: Any, log_errors: bool = True) -> list[tuple[Any, ...]]:
        """Run one statement.

        :param sql: the statement, with ``%s`` placeholders.
        :param params: its parameters.
        :param log_errors: log a failure as an error (else at debug level; the caller reports it).
        :returns: the rows.
        :raises MetadataQueryError: on any failure; the connection is closed first.
        """
        logger.debug("query(%s, %r)", sql, params)
        self.statements += 1
        try:
            return list(self._connection.query(sql, *params))
        except Exception as exc:
            level = logging.ERROR if log_errors else logging.DEBUG
            logger.log(level, "Exception when executing query %r, %r: %s", sql, params, exc)
            self.close()
            raise MetadataQueryError(sql, exc) from exc

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server)."""
        try:
            self._connection.close()
        except Exception as exc:
            logger.debug("Closing the citus connection failed: %s", exc)

    def begin(self) -> None:
        """Open an explicit transaction."""
        self.query("BEGIN")

    def commit(self) -> None:
        """Commit the open transaction."""
        self.query("COMMIT")

    def rollback(self) -> None:
        """Roll the open transaction back."""
        self.query("ROLLBACK")

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
