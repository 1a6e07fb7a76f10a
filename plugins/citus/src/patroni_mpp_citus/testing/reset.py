"""Emptying the Citus metadata of one database of a test server between tests.

On real Citus the metadata rows a test left pointing at servers that no longer answer are first
moved to running servers (:func:`make_metadata_nodes_reachable`): Citus removes no node while a
metadata node is out of sync or unreachable. Then :func:`~.emulation.reset_metadata` empties
``pg_dist_node`` and ``pg_dist_authinfo``.
"""

from __future__ import annotations

import logging

import psycopg
from patroni_mpp.testing.postgres import PostgresServer

from .emulation import Connection, reset_metadata
from .maintenance import MAINTENANCE_APPLICATION_NAME
from .node_servers import NodeServers

__all__ = ["make_metadata_nodes_reachable", "reset_database"]

logger = logging.getLogger(__name__)


def reset_database(
    conn: Connection, database: str, nodes: NodeServers | None, lock_timeout_ms: int, sync_timeout: float
) -> None:
    """Empty the metadata of the database ``conn`` is connected to.

    :param conn: an auto-commit connection to that database.
    :param database: its name (for the error message).
    :param nodes: the formation's node servers (real Citus), or None (the emulation).
    :param lock_timeout_ms: how long to wait for locks held by other sessions.
    :param sync_timeout: how long real Citus may take to sync the metadata nodes.
    :raises RuntimeError: when another session's open transaction blocks the reset.
    """
    conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
    try:
        if nodes is not None:
            make_metadata_nodes_reachable(conn, nodes)
        reset_metadata(conn, sync_timeout)
    except psycopg.errors.LockNotAvailable:
        blockers = conn.execute(
            "SELECT pid, application_name, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND xact_start IS NOT NULL AND application_name <> %s",
            (MAINTENANCE_APPLICATION_NAME,),
        ).fetchall()
        raise RuntimeError(
            f"cannot reset the Citus metadata of {database}: sessions with open transactions {blockers}"
        ) from None


def make_metadata_nodes_reachable(conn: Connection, nodes: NodeServers) -> None:
    """Real Citus: point every metadata worker row nothing answers at back to a running server.

    Citus removes no node while a metadata worker is out of sync or unreachable (and none that
    holds shards it cannot drop), and an unreachable one never syncs. A row a test left at an
    unreachable name with a worker server's port (``<host>-demoted``) goes back to that worker
    (``127.0.0.1``, else ``localhost``) unless another metadata row already points there; any
    other (a server the test started, registered and stopped, or a made-up address) is moved to
    a stand-in worker server of its own, so that Citus can sync it, drop the probe table's
    shards there (``IF EXISTS``) and remove it. (Two metadata rows on one server would not
    sync: each sync sets the server's own group id.)
    """
    listed = conn.execute(
        "SELECT nodeid, nodename, nodeport, hasmetadata AND isactive AND noderole = 'primary' "
        "AND groupid > 0 FROM pg_catalog.pg_dist_node ORDER BY nodeid"
    ).fetchall()
    taken = {(str(name), int(port)) for _, name, port, _ in listed}
    running = nodes.running()
    servers = {(s.host, s.port): s for s in running}
    servers.update({("localhost", s.port): s for s in running})
    # the servers that metadata rows point at already
    used = {id(servers[(str(n), int(p))]) for _, n, p, meta in listed if meta and (str(n), int(p)) in servers}
    by_port = {worker.port: worker for worker in nodes.workers.values() if worker.running}
    for nodeid, name, port, meta in listed:
        address = (str(name), int(port))
        if not meta or address in servers or _answers(*address):
            continue
        worker = by_port.get(address[1])
        target = None
        if worker is not None and id(worker) not in used:
            target = next((c for c in _addresses(worker) if c not in taken), None)
        if target is None:
            worker = nodes.free_stand_in(used)
            target = (worker.host, worker.port)
        logger.info("reset: moving node %s from %s:%s (unreachable) to %s:%s", nodeid, *address, *target)
        conn.execute(
            "SELECT pg_catalog.citus_update_node(%s::int, %s, %s::int, true, 1000)",
            (nodeid, *target),
        )
        taken.discard(address)
        taken.add(target)
        used.add(id(worker))


def _addresses(worker: PostgresServer) -> list[tuple[str, int]]:
    return [(worker.host, worker.port), ("localhost", worker.port)]


def _answers(host: str, port: int) -> bool:
    """True when a PostgreSQL server accepts a connection on ``host:port`` (within 2 s)."""
    try:
        with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError as exc:
        # a server that answers but refuses the login is there all the same
        return "password" in str(exc) or "no pg_hba.conf entry" in str(exc)
