"""Test-only SQL emulation of the Citus node-metadata API, and helpers that also work on real Citus.

The citus extension is not installable everywhere the tests run. This subpackage ships
``citus_emulation.sql``: ``pg_catalog.pg_dist_node``, ``pg_catalog.pg_dist_authinfo``, the ``noderole`` enum
and the functions ``citus_add_node``, ``citus_update_node``, ``citus_remove_node`` and
``citus_set_coordinator_host``, written from Citus 13.2's documented behaviour (see README.md here). It is
installed into a real (test) PostgreSQL server with :func:`install_emulation`.

The helpers take a psycopg connection to the Citus database and work on both an emulated and a
real Citus server where that makes sense (:func:`reset_metadata`, :func:`metadata_unsynced`,
:func:`unsynced_nodes`, :func:`wait_metadata_synced`; client traffic is in :mod:`.traffic`); the
rest is emulation-only (the reachability registry, the call log, one round of the emulated
maintenance daemon).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

__all__ = [
    "LOCK_NAMESPACE",
    "PROBE_TABLE",
    "SQL_RESOURCE",
    "UNSYNCED_METADATA_NODES",
    "CallLogEntry",
    "EmulationError",
    "MetadataNotSyncedError",
    "call_count",
    "call_log",
    "citus_available",
    "emulation_sql",
    "install_emulation",
    "is_emulated",
    "is_real_citus",
    "metadata_unsynced",
    "register_reachable_node",
    "reset_metadata",
    "set_call_log",
    "set_node_reachable",
    "sync_metadata",
    "unsynced_nodes",
    "wait_metadata_synced",
]

SQL_RESOURCE = "citus_emulation.sql"
"""Name of the SQL script inside this package."""

LOCK_NAMESPACE = 1129883733
"""First key of the advisory lock ``(LOCK_NAMESPACE, groupid)`` standing for a group's shards."""

PROBE_TABLE = "patroni_mpp_probe"
"""Distributed table (schema ``public``) used for client traffic on a real Citus server."""

UNSYNCED_METADATA_NODES = (
    "SELECT nodename, nodeport FROM pg_catalog.pg_dist_node "
    "WHERE hasmetadata AND NOT metadatasynced AND isactive AND noderole = 'primary' "
    "ORDER BY nodeid"
)
"""The metadata nodes that are out of sync (on real Citus and the emulation alike): while there is one,
``citus_add_node`` and ``citus_remove_node`` are refused with SQLSTATE 55000."""

Connection = psycopg.Connection[Any]


class EmulationError(RuntimeError):
    """The emulation cannot do what was asked (e.g. it is not installed on that server)."""


class MetadataNotSyncedError(RuntimeError):
    """Metadata nodes stayed out of sync longer than a bounded wait allowed.

    :param nodes: ``host:port`` of each node still out of sync.
    :param message: the explanation.
    """

    def __init__(self, nodes: list[str], message: str) -> None:
        super().__init__(message)
        self.nodes = nodes


@dataclass(frozen=True)
class CallLogEntry:
    """One committed call of an emulated Citus function.

    :param seq: order of the call.
    :param fn: function name, e.g. ``citus_update_node``.
    :param args: the arguments as SQL literals, comma separated.
    :param backend_pid: pid of the backend that made the call.
    :param at: when (``clock_timestamp()``).
    """

    seq: int
    fn: str
    args: str
    backend_pid: int
    at: datetime


def emulation_sql() -> str:
    """The text of the emulation's SQL script."""
    return (
        resources.files(__package__ or "patroni_mpp_citus.testing")
        .joinpath(SQL_RESOURCE)
        .read_text(encoding="utf-8")
    )


def install_emulation(conn: Connection, *, placeholder_extension: bool = False) -> None:
    """Install (or refresh) the emulation in the connected database, in one transaction.

    Idempotent: existing rows are kept, functions are replaced. Needs a superuser.

    :param conn: a psycopg connection (auto-commit or not) to the target database.
    :param placeholder_extension: also register a placeholder ``pg_extension`` row ``citus``
        (version ``13.2-emulated``) so that ``CREATE EXTENSION IF NOT EXISTS citus`` is a no-op.
    :raises EmulationError: when the real citus extension is installed in that database.
    """
    if is_real_citus(conn):
        raise EmulationError("the citus extension is installed here; not installing the emulation")
    script = emulation_sql()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(script.encode())
        if placeholder_extension:
            cursor.execute("SELECT citus_emulation.register_placeholder_extension()")
    logger.debug("Citus emulation installed in database %s", conn.info.dbname)


def _scalar(conn: Connection, query: str | sql.Composable, params: Any = None) -> Any:
    with conn.cursor() as cursor:
        cursor.execute(query, params)  # type: ignore[arg-type]
        row = cursor.fetchone()
    return None if row is None else row[0]


def is_real_citus(conn: Connection) -> bool:
    """True when the real citus extension (not the emulation's placeholder) is installed."""
    return bool(
        _scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_extension "
            "WHERE extname = 'citus' AND extversion NOT LIKE '%-emulated')",
        )
    )


def is_emulated(conn: Connection) -> bool:
    """True when this emulation is installed in the connected database."""
    return bool(_scalar(conn, "SELECT to_regprocedure('citus_emulation.version()') IS NOT NULL"))


def citus_available(conn: Connection) -> bool:
    """True when the server could ``CREATE EXTENSION citus`` (per ``pg_available_extensions``)."""
    return bool(
        _scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'citus')",
        )
    )


def _require_emulation(conn: Connection) -> None:
    if not is_emulated(conn):
        raise EmulationError("the Citus emulation is not installed in this database")


def reset_metadata(conn: Connection, sync_timeout: float = 30.0) -> None:
    """Empty ``pg_dist_node`` and ``pg_dist_authinfo``.

    Emulated: also empties the call log and client writes, restarts the node and group id sequences,
    makes every registered node reachable again and switches call logging back on.

    Real Citus (node ids are not reset there): waits up to ``sync_timeout`` s until no metadata node
    is out of sync, since Citus refuses ``citus_remove_node`` meanwhile; drops the probe table;
    removes the primary workers first (removing one propagates to the other metadata workers, which
    must be in sync and reachable, while removing a node that is down or out of sync itself works,
    so a worker that fails is retried after the others), then the secondaries and the coordinator
    rows; deletes all authinfo rows.

    :param conn: an **auto-commit** connection to the Citus database.
    :param sync_timeout: how long real Citus may take to sync the metadata nodes.
    :raises MetadataNotSyncedError: (real Citus) metadata nodes stayed out of sync and block the
        removal; the message names them.
    :raises RuntimeError: (real Citus) a node could not be removed for another reason (for example a
        server the test started and stopped while registered, holding shards of the probe table).
    """
    if is_emulated(conn):
        conn.execute("SELECT citus_emulation.reset()")
        return
    wait_metadata_synced(conn, sync_timeout)
    drop = sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(PROBE_TABLE))
    dropped = _try(conn, drop) is None
    failures: dict[str, str] = {}
    pending = conn.execute(
        "SELECT nodename, nodeport FROM pg_catalog.pg_dist_node "
        "WHERE groupid > 0 AND noderole = 'primary' ORDER BY metadatasynced, nodeid"
    ).fetchall()
    while pending:
        left = []
        for nodename, nodeport in pending:
            error = _try(conn, "SELECT pg_catalog.citus_remove_node(%s, %s::int)", (nodename, nodeport))
            if error is not None:
                left.append((nodename, nodeport))
                failures[f"{nodename}:{nodeport}"] = error
        if len(left) == len(pending):
            break
        pending = left
    if pending:
        unsynced = unsynced_nodes(conn)
        details = "; ".join(f"{node}: {failures[node]}" for node in (f"{n}:{p}" for n, p in pending))
        if unsynced:
            raise MetadataNotSyncedError(
                unsynced,
                f"cannot reset the Citus metadata: metadata node(s) {', '.join(unsynced)} still out "
                f"of sync after {sync_timeout:g} s (Citus refuses citus_remove_node meanwhile; a node "
                "that is down, or a primary renamed to an address nothing listens on, never syncs): "
                + details,
            )
        raise RuntimeError(
            f"cannot reset the Citus metadata: {details} (a node that is down and holds shards of "
            f"{PROBE_TABLE}, e.g. a server the test registered and then stopped: reset first)"
        )
    if not dropped:
        conn.execute(drop)
    rows = conn.execute(
        "SELECT nodename, nodeport FROM pg_catalog.pg_dist_node "
        "ORDER BY groupid = 0, noderole = 'primary', nodeid"
    ).fetchall()
    for nodename, nodeport in rows:
        conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s::int)", (nodename, nodeport))
    conn.execute("DELETE FROM pg_catalog.pg_dist_authinfo")


def _try(conn: Connection, query: str | sql.Composable, params: Any = None) -> str | None:
    """Run ``query``; the error message when it fails (lock timeouts are raised), else None."""
    try:
        conn.execute(query, params)  # type: ignore[arg-type]
    except psycopg.errors.LockNotAvailable:
        raise
    except psycopg.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def set_call_log(conn: Connection, enabled: bool) -> None:
    """Switch the emulation's call log on or off (the call counter always counts).

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    conn.execute("UPDATE citus_emulation.config SET log_calls = %s", (enabled,))


def call_log(conn: Connection, fn: str | None = None) -> list[CallLogEntry]:
    """Committed calls of the emulated functions, oldest first (a rolled-back call leaves no entry).

    :param fn: only calls of this function.
    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    rows = conn.execute(
        "SELECT seq, fn, args, backend_pid, at FROM citus_emulation.call_log "
        "WHERE %(fn)s::text IS NULL OR fn = %(fn)s ORDER BY seq",
        {"fn": fn},
    ).fetchall()
    return [CallLogEntry(*row) for row in rows]


def call_count(conn: Connection) -> int:
    """Number of calls of emulated functions since install/reset, committed or not.

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    value = _scalar(
        conn,
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM citus_emulation.call_counter",
    )
    return int(value)


def unsynced_nodes(conn: Connection) -> list[str]:
    """``host:port`` of every metadata node out of sync as seen by ``conn`` (oldest node first).

    The same on real Citus and on the emulation: active primaries with ``hasmetadata`` and not
    ``metadatasynced`` (see :data:`UNSYNCED_METADATA_NODES`). An effective ``citus_update_node``
    marks every metadata worker so in its transaction (visible to that transaction until it commits);
    the maintenance daemon (real, or the emulated one of
    :class:`~patroni_mpp_citus.testing.server.CitusTestServer`) syncs them after commit, except a node
    it cannot reach.
    """
    return [f"{name}:{port}" for name, port in conn.execute(UNSYNCED_METADATA_NODES).fetchall()]


def metadata_unsynced(conn: Connection) -> str | None:
    """``host:port`` of a metadata node that is out of sync as seen by ``conn``, else None.

    The oldest of :func:`unsynced_nodes`; Citus's error names one of them (in no defined order).
    """
    nodes = unsynced_nodes(conn)
    return nodes[0] if nodes else None


def wait_metadata_synced(conn: Connection, timeout: float = 30.0, interval: float = 0.01) -> bool:
    """Wait until no metadata node is out of sync; True when synced, False after ``timeout`` s.

    Polls ``pg_dist_node`` (:func:`unsynced_nodes`) every ``interval`` s. Real Citus's maintenance daemon
    syncs within tens of ms (sometimes about 2 s) when every node is reachable, and retries about every 5 s
    after a failure; the emulated daemon syncs within ~20 ms. A node that is down, or a primary renamed to an
    address nothing listens on, never syncs. Call it outside a transaction: the daemon cannot sync while an
    uncommitted ``citus_update_node`` holds its lock on ``pg_dist_node``.

    :param conn: a connection to the Citus database (auto-commit).
    """
    deadline = time.monotonic() + timeout
    while True:
        if not unsynced_nodes(conn):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def sync_metadata(conn: Connection) -> int:
    """One round of the emulated maintenance daemon; returns the number of nodes it marked synced.

    It marks synced every unsynced metadata worker whose address is registered reachable, and skips
    the round while another transaction holds a lock on ``pg_dist_node`` that conflicts (an
    uncommitted ``citus_update_node``, ``citus_add_node`` or ``citus_remove_node``).
    :class:`~patroni_mpp_citus.testing.server.CitusTestServer` runs it every ~20 ms in a thread;
    call it yourself on an emulation installed elsewhere.

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    return int(_scalar(conn, "SELECT citus_emulation.sync_metadata()"))


def register_reachable_node(conn: Connection, host: str, port: int, index: int | None = None) -> None:
    """Tell the emulation that a server listens on ``host:port`` (emulation only).

    The emulated ``citus_add_node`` of a primary, and the propagation of a node change to a metadata
    worker, fail with SQLSTATE 08006 ("connection to the remote node ... failed") for an address not
    registered reachable, as real Citus fails when it cannot connect. The emulated maintenance daemon
    only syncs metadata to a registered, reachable address.

    :param index: the :class:`~patroni_mpp_citus.testing.server.CitusTestServer` node number, so that
        :func:`set_node_reachable` can take the node down; None for other servers.
    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    conn.execute("SELECT citus_emulation.register_node(%s, %s::int, %s::int)", (host, port, index))


def set_node_reachable(conn: Connection, index: int, reachable: bool) -> int:
    """Take emulated node ``index`` down (``False``) or bring it back; returns its address count.

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    return int(_scalar(conn, "SELECT citus_emulation.set_node_reachable(%s::int, %s)", (index, reachable)))
