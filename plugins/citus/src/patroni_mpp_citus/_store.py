"""Statements on the ``citus`` metadata connection: reading and writing ``pg_dist_node``.

Every statement goes through :meth:`MetadataStore.query`: parameters are passed separately (``%s``
placeholders, never formatted into the SQL), the statement is debug-logged (parameters are addresses
and ids, never credentials), and a failure of any kind closes the connection (which rolls back an open
transaction on the server) and raises :class:`~patroni_mpp_citus.MetadataQueryError`.

Time bounds: inside an event transaction (:meth:`MetadataStore.until`) each statement is bounded by the time
left before the transaction's deadline (``statement_timeout``, set with ``set_config(..., true)`` just before
it), and a statement due after the deadline is not run: the transaction is rolled back instead
(:class:`~patroni_mpp_citus.MetadataDeadlineError`). Outside event transactions a statement waits at most
:data:`LOCK_TIMEOUT_MS` for each lock (``lock_timeout`` of the connection), so that a lock held elsewhere
cannot block the worker forever.

Metadata sync: after an effective ``citus_update_node`` commits, Citus refuses ``citus_add_node`` and
``citus_remove_node`` until its maintenance daemon has synced every metadata node. Before a change
that adds or removes rows, :meth:`MetadataStore.apply` asks whether a metadata node is out of sync
(:data:`UNSYNCED_NODE`); if one is, it writes only the updates and reports the node, and the worker
retries the rest. A refusal that still happens (a race) is a :class:`MetadataUnsyncedError`, which
keeps the connection.

Ownership: ``citus_add_node`` returns the id of an address registered anywhere (another group, another
node cluster). After each add the store reads that row's group, role and node cluster
(:data:`NODE_OWNER`); a row that is not the one asked for is never adopted, so it is never updated or
removed later (see :class:`NodeConflicts`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from patroni_mpp import NamedConnectionLike

from ._errors import MetadataDeadlineError, MetadataQueryError, MetadataUnsyncedError
from ._logs import DatabaseLog, FailureLog
from ._model import DEMOTED, REMOVE, Group, Row
from ._transition import is_update, transition

__all__ = [
    "ADD_NODE",
    "BOUND_STATEMENT",
    "CONNECTION_NAME",
    "CONNECTION_OPTIONS",
    "LOAD_NODES",
    "LOCK_TIMEOUT_MS",
    "NODE_OWNER",
    "REMOVE_NODE",
    "UNSYNCED_NODE",
    "UPDATE_NODE",
    "MetadataStore",
    "NodeConflicts",
]

logger = logging.getLogger(__name__)

CONNECTION_NAME = "citus"
"""Name of the metadata connection in the host's pool."""

LOCK_TIMEOUT_MS = 30000
"""``lock_timeout`` of the metadata connection outside event transactions (milliseconds).

It bounds how long a reconciliation statement waits for a lock held elsewhere. It exceeds the default
``lock_cooldown`` (10 s) after which ``citus_update_node`` cancels the backends that block it. It is not a
``statement_timeout``: ``citus_add_node`` may legitimately run long (metadata sync to a new node).
"""

CONNECTION_OPTIONS = (
    f"-c statement_timeout=0 -c lock_timeout={LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=0 "
    "-c citus.max_cached_conns_per_worker=0"
)
"""Server options of the metadata connection: event transactions stay open until their deadline
(the worker ends them), statements are bounded as the module docstring says, and Citus keeps no
connection to a worker past the transaction that opened it: the session lives as long as Patroni,
and a connection cached to a node that restarted since would fail the next statement that needs it
("failure on connection marked as essential"). The engine's statements are rare; a fresh
connection per transaction costs nothing that matters.
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
NODE_OWNER = (
    "SELECT groupid, noderole::text, nodecluster::text FROM pg_catalog.pg_dist_node WHERE nodeid = %s::int"
)
UNSYNCED_NODE = (
    "SELECT nodename || ':' || nodeport FROM pg_catalog.pg_dist_node "
    "WHERE isactive AND noderole = 'primary' AND hasmetadata AND NOT metadatasynced "
    "ORDER BY nodeid LIMIT 1"
)
"""The first metadata node Citus would name when it refuses an add or a remove (none: in sync)."""

_DEFAULT_CLUSTER = "default"
_OUT_OF_SYNC_STATE = "55000"
_OUT_OF_SYNC_TEXT = "is a metadata node, but is out of sync"


def _refused_for_sync(exc: BaseException) -> str | None:
    """The node Citus named when ``exc`` (or its cause) refuses a node change for unsynced metadata.

    :returns: ``host:port`` (or ``"a metadata node"``), or None for any other error.
    """
    cause: BaseException | None = exc
    while cause is not None:
        text = str(cause)
        if getattr(cause, "sqlstate", None) == _OUT_OF_SYNC_STATE and _OUT_OF_SYNC_TEXT in text:
            return text.partition(f" {_OUT_OF_SYNC_TEXT}")[0].strip().rsplit("\n", 1)[-1] or "a metadata node"
        cause = cause.__cause__
    return None


class NodeConflicts:
    """Addresses the engine wanted to register that Citus holds for someone else.

    Each conflict is logged once, when it appears or its owner changes, and once when it is gone.
    """

    def __init__(self, log: DatabaseLog | None = None) -> None:
        self._owners: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._log = log or DatabaseLog(logger, None)

    def found(self, row: Row, groupid: int, owner: tuple[Any, ...]) -> None:
        """``row`` (wanted in ``groupid``) is registered as ``owner`` = (nodeid, group, role, cluster)."""
        key = (row.host.lower(), row.port)
        if self._owners.get(key) == owner:
            return
        self._owners[key] = owner
        nodeid, owner_group, owner_role, owner_cluster = owner
        self._log.warning(
            "Not registering %s:%s as %s of group %s: Citus holds that address as node %s, %s of group "
            "%s in node cluster %r; it is left alone until that registration goes",
            row.host,
            row.port,
            row.role,
            groupid,
            nodeid,
            owner_role,
            owner_group,
            owner_cluster,
        )

    def resolved(self, row: Row) -> None:
        """``row`` could be registered: a conflict on its address, if any, is over."""
        if self._owners.pop((row.host.lower(), row.port), None) is not None:
            self._log.info("%s:%s is registered for this formation again", row.host, row.port)


class MetadataStore:
    """The engine's statements, on one connection used by the worker thread only.

    :ivar statements: number of statements issued so far (for tests and benchmarks).
    :ivar conflicts: addresses Citus holds for another group, role or node cluster.
    :ivar sync_checked: the last :meth:`apply` asked Citus whether its metadata is in sync.
    """

    def __init__(self, connection: NamedConnectionLike, database: str | None = None) -> None:
        """Keep the connection; nothing is opened yet.

        :param connection: the host's named ``citus`` connection (auto-commit, opened lazily).
        :param database: its database, named in every log line (None: not named).
        """
        self._connection = connection
        self._deadline: float | None = None
        self._in_transaction = False
        self._log = DatabaseLog(logger, database)
        self._failures = FailureLog(self._log)
        self.database = database
        self.statements = 0
        self.conflicts = NodeConflicts(self._log)
        self.sync_checked = False

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
        self._log.debug("query(%s, %r)", sql, params)
        self.statements += 1
        try:
            rows = list(self._connection.query(sql, *params))
        except Exception as exc:
            node = _refused_for_sync(exc)
            if node is not None:
                self._refused_unsynced(sql, exc, node)
            self.close()
            if deadline is not None and time.monotonic() >= deadline:
                self._log.debug("Statement %r ran into the deadline of its transaction: %s", sql, exc)
                raise MetadataDeadlineError(sql, exc) from exc
            # the same statement failing the same way again (at every HA cycle) is not repeated
            level = self._failures.failed((sql, params), str(exc)) if log_errors else logging.DEBUG
            self._log.log(level, "Exception when executing query %r, %r: %s", sql, params, exc)
            raise MetadataQueryError(sql, exc) from exc
        if (sql, params) in self._failures:
            self._failures.succeeded((sql, params), f"Query {sql!r}, {params!r}")
        if sql == _BEGIN:
            self._in_transaction = True
        elif sql in (_COMMIT, _ROLLBACK):
            self._in_transaction = False
        return rows

    def _refused_unsynced(self, sql: str, exc: BaseException, node: str) -> NoReturn:
        """Citus refused an add or remove for unsynced metadata: nothing changed, keep the connection."""
        self._log.debug("Citus refused %r: metadata node %s is out of sync", sql, node)
        if self._in_transaction:
            # the transaction is aborted; when the ROLLBACK fails the connection is closed by _run
            with contextlib.suppress(MetadataQueryError):
                self._run(_ROLLBACK, (), True, None)
        raise MetadataUnsyncedError(sql, exc, node) from exc

    def _expire(self, sql: str) -> NoReturn:
        """Roll back instead of running ``sql``: the transaction's deadline passed."""
        self._log.debug("Not running %r: the deadline of its transaction passed", sql)
        # when the ROLLBACK fails, the connection was closed, which rolled back too
        with contextlib.suppress(MetadataQueryError):
            self._run(_ROLLBACK, (), True, None)
        raise MetadataDeadlineError(sql, TimeoutError("the deadline of the transaction passed"))

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server)."""
        self._in_transaction = False
        try:
            self._connection.close()
        except Exception as exc:
            self._log.debug("Closing the citus connection failed: %s", exc)

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

        Rows of other node clusters (secondaries configured for ``citus.cluster_name``) are not ours and are
        left alone.
        """
        groups: dict[int, Group] = {}
        for groupid, nodename, nodeport, noderole, nodeid in self.query(LOAD_NODES, log_errors=log_errors):
            group = groups.get(groupid)
            if group is None:
                group = groups[groupid] = Group(groupid)
            group.add(Row(nodename, nodeport, noderole, nodeid))
        return groups

    def unsynced_node(self) -> str | None:
        """``host:port`` of a metadata node Citus has not synced yet, or None when all are in sync."""
        rows = self.query(UNSYNCED_NODE)
        return str(rows[0][0]) if rows else None

    def apply(
        self, new: Group, old: Group, cooldown: int, *, in_transaction: bool, unsynced: str | None = None
    ) -> str | None:
        """Write the transition from ``old`` to ``new`` (``new`` becomes the resulting state).

        When the transition adds or removes rows and a metadata node is out of sync, only its updates
        are written (as if ``old`` were in failover: additions and removals wait), and the node is
        returned so that the caller retries later.

        :param new: the desired state (changed in place, see :func:`~._transition.transition`).
        :param old: the current state.
        :param cooldown: ``lock_cooldown`` in milliseconds.
        :param in_transaction: a transaction is open; otherwise several changes are wrapped in one.
        :param unsynced: a metadata node already known to be out of sync: additions and removals
            wait without asking Citus again.
        :returns: the metadata node that deferred additions and removals, or None.
        :raises MetadataQueryError: when a statement fails (:class:`MetadataUnsyncedError` when
            Citus still refused an addition or removal).
        """
        desired = new.copy()
        changes = transition(new, old)
        adds_or_removes = any(not is_update(row) for row in changes)
        self.sync_checked = adds_or_removes and unsynced is None
        if not adds_or_removes:
            unsynced = None
        elif self.sync_checked:
            unsynced = self.unsynced_node()
        if unsynced is not None:
            waiting = old.copy()
            waiting.failover = True
            new.rows, new.failover = desired.rows, desired.failover
            changes = transition(new, waiting)
        if changes:
            wrap = not in_transaction and len(changes) > 1
            if wrap:
                self.begin()
            for row in changes:
                if not self.write(row, new.groupid, cooldown):
                    new.discard(row)
            if wrap:
                new.failover = False
                self.commit()
        return unsynced

    def write(self, row: Row, groupid: int, cooldown: int) -> bool:
        """Write one change: remove, update (by nodeid) or add the row.

        :param row: the change (see :func:`~._transition.transition` for its meaning).
        :param groupid: its group.
        :param cooldown: ``lock_cooldown`` in milliseconds.
        :returns: False when an added address turned out to be registered for another group, role or node
            cluster: that row is not ours and is left out of the state (see :class:`NodeConflicts`).
        """
        if row.role == REMOVE:
            self.query(REMOVE_NODE, row.host, row.port)
        elif row.nodeid is not None:
            self.query(UPDATE_NODE, row.nodeid, row.nodename, row.port, cooldown)
        elif row.role == DEMOTED:
            self._log.debug("Not adding %r: a group that is not registered cannot be paused", row)
        else:
            nodeid = int(self.query(ADD_NODE, row.host, row.port, groupid, row.role)[0][0])
            owner = self.query(NODE_OWNER, nodeid)
            found = tuple(owner[0]) if owner else None
            if found != (groupid, row.role, _DEFAULT_CLUSTER):
                self.conflicts.found(row, groupid, (nodeid, *(found or (None, None, None))))
                return False
            self.conflicts.resolved(row)
            row.nodeid = nodeid
        return True
