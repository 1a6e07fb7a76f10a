"""A temporary PostgreSQL server with Citus (real or emulated), for tests and benchmarks.

:class:`CitusTestServer` wraps :class:`patroni_mpp.testing.postgres.PostgresServer`: it starts one
server logging every statement (see :mod:`.statement_log`), creates the database ``citus`` and in it
either ``CREATE EXTENSION citus`` (real Citus, when the server has the extension) or the emulation.

Mode selection (:func:`resolve_mode`): environment variable ``PATRONI_MPP_TEST_CITUS`` = ``real``,
``emulated`` or ``auto`` (default): real when ``citus`` is in ``pg_available_extensions``.

Both modes behave alike where tests rely on it: :meth:`CitusTestServer.node_address` gives addresses
Citus can reach (real worker servers, or addresses registered reachable in the emulation),
:meth:`CitusTestServer.stop_node` / :meth:`CitusTestServer.start_node` take one down and bring it
back, and metadata goes out of sync after a ``citus_update_node`` until a maintenance daemon syncs it
(Citus's own, or on the emulation a thread of :class:`CitusTestServer`, see
:class:`~.maintenance.MaintenanceDaemon`).

The parts live in modules of their own and are importable from here as well: :mod:`.modes` (real or
emulated), :mod:`.node_servers` (the worker servers of real Citus), :mod:`.emulated_nodes` (the node addresses
of the emulation), :mod:`.maintenance` (the emulated maintenance daemon), :mod:`.reset` (emptying the metadata
between tests) and :mod:`.clients` (client statements in background threads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
import psycopg.sql
from patroni_mpp.testing.postgres import PostgresServer

from .clients import ClientOperation, ClientOps
from .emulated_nodes import EmulatedNodes
from .emulation import Connection, citus_available, install_emulation, unsynced_nodes, wait_metadata_synced
from .maintenance import MAINTENANCE_APPLICATION_NAME, MAINTENANCE_INTERVAL, MaintenanceDaemon
from .modes import MODE_ENV, CitusUnavailableError, Mode, requested_mode, resolve_mode
from .node_servers import DBNAME, SERVER_SETTINGS, NodeServers, create_citus_database
from .reset import reset_database
from .statement_log import StatementLog
from .traffic import client_read, client_write, locked_groups, prepare_client_traffic

__all__ = [
    "DBNAME",
    "MAINTENANCE_APPLICATION_NAME",
    "MAINTENANCE_INTERVAL",
    "MODE_ENV",
    "CitusTestServer",
    "CitusUnavailableError",
    "ClientOperation",
    "ClientOps",
    "MaintenanceDaemon",
    "Mode",
    "requested_mode",
    "resolve_mode",
]

logger = logging.getLogger(__name__)


class CitusTestServer:
    """One started test server with the database :data:`DBNAME` holding (real or emulated) Citus.

    Create it with :meth:`start`; :meth:`stop` stops it (and any worker servers, real mode) by pid.
    On the emulation, :meth:`start` also starts the emulated maintenance daemon
    (:class:`MaintenanceDaemon`) and :meth:`stop` stops it.

    :param server: the started PostgreSQL server.
    :param mode: ``real`` or ``emulated``.
    """

    dbname = DBNAME

    def __init__(self, server: PostgresServer, mode: Mode) -> None:
        self.server = server
        self.mode: Mode = mode
        self.statement_log = StatementLog(server.logfile)
        self._down: set[int] = set()
        self.databases: list[str] = [DBNAME]
        """Every Citus database of the test formation: :data:`DBNAME` and those of :meth:`add_database`."""
        self._nodes = NodeServers(self.databases)
        self._emulated = EmulatedNodes(server, self.databases)
        self.maintenance: MaintenanceDaemon | None = None
        """The emulated maintenance daemon (emulated mode, between :meth:`start` and :meth:`stop`)."""

    @classmethod
    def start(cls, mode: str | None = None, settings: Mapping[str, Any] | None = None) -> CitusTestServer:
        """Start a server and prepare database ``citus``.

        :param mode: ``real``, ``emulated`` or ``auto``; default: :func:`requested_mode`.
        :param settings: extra ``postgresql.conf`` settings.
        :raises CitusUnavailableError: when real Citus is requested and not available.
        """
        requested = mode or requested_mode()
        server = PostgresServer({**SERVER_SETTINGS, **(settings or {})})
        try:
            server.start()
            with server.connect() as conn:
                chosen = resolve_mode(requested, citus_available(conn))
            if chosen == "real":
                with server.connect() as conn:
                    conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'citus'")
                server.restart()
            else:
                # in template1, so that every database created later has it too
                with server.connect("template1") as conn:
                    install_emulation(conn, placeholder_extension=True)
            with server.connect() as conn:
                conn.execute(f'CREATE DATABASE "{DBNAME}"')
            if chosen == "real":
                with server.connect(DBNAME) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        except BaseException:
            server.cleanup()
            raise
        logger.info("Citus test server (%s) on %s:%s", chosen, server.host, server.port)
        made = cls(server, chosen)
        if chosen == "emulated":
            made.maintenance = MaintenanceDaemon(server).start()
        return made

    def stop(self) -> None:
        """Stop the emulated maintenance daemon; stop and remove the server and any worker servers."""
        try:
            if self.maintenance is not None:
                self.maintenance.stop()
                self.maintenance = None
            self._nodes.cleanup()
        finally:
            self.server.cleanup()

    def __enter__(self) -> CitusTestServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- connections --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """Address the server listens on."""
        return self.server.host

    @property
    def port(self) -> int:
        """Port the server listens on."""
        return self.server.port

    @property
    def is_real(self) -> bool:
        """True when this server runs the real citus extension."""
        return self.mode == "real"

    def conninfo(self, dbname: str = DBNAME, **extra: Any) -> dict[str, Any]:
        """Connection parameters (superuser, database ``citus`` unless told) for psycopg / libpq."""
        return self.server.conninfo(dbname, **extra)

    def connect(self, *, autocommit: bool = True, dbname: str = DBNAME, **extra: Any) -> Connection:
        """A new psycopg connection to database ``citus`` (or ``dbname``; auto-commit unless told)."""
        return psycopg.connect(autocommit=autocommit, **self.conninfo(dbname, **extra))

    # -- several Citus databases ------------------------------------------------------------------

    def add_database(self, name: str, *, on_workers: bool = True) -> None:
        """Create another Citus database on this server and (``on_workers``) on every node server.

        Real Citus: ``CREATE DATABASE`` and ``CREATE EXTENSION citus`` on the coordinator and on
        each worker server, started now or later (a stand-in too). Emulated: the database is made
        from ``template1``, which holds the emulation; the emulated maintenance daemon syncs it too.
        ``on_workers=False`` leaves it out on the worker servers (a member whose configuration
        lacks it); it is not remembered for servers started later either. An existing database is
        kept. :meth:`reset` empties its metadata as well.
        """
        if self.is_real:
            create_citus_database(self.server, name)
            if on_workers:
                for worker in self._nodes.running():
                    create_citus_database(worker, name)
        else:
            with self.server.connect() as conn:
                found = conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (name,))
                if found.fetchone() is None:
                    conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
            self._emulated.copy_to(name)
        if on_workers and name not in self.databases:
            self.databases.append(name)

    def drop_database(self, name: str) -> None:
        """Drop a database of :meth:`add_database` here (sessions terminated), leaving the workers' copies."""
        self.server.drop_database(name)
        if name in self.databases and name != DBNAME:
            self.databases.remove(name)

    # -- state --------------------------------------------------------------------------------

    def reset(self, lock_timeout_ms: int = 10000, sync_timeout: float = 30.0) -> None:
        """Empty ``pg_dist_node`` and ``pg_dist_authinfo`` (see :func:`reset_metadata`).

        First brings back every node a test took down (:meth:`stop_node`). Real Citus refuses
        ``citus_remove_node`` while a metadata node is out of sync or unreachable, so there this
        also points every metadata worker row nothing answers at to a running server: a row a test
        left at ``<host>-demoted`` (a worker server's port) back to that worker, any other (a server
        the test started, registered and stopped) to a stand-in worker server; then it waits up to
        ``sync_timeout`` s for the metadata to be synced before removing the nodes. Node ids: only
        the emulation restarts them.

        :param lock_timeout_ms: how long to wait for locks held by other sessions.
        :param sync_timeout: how long real Citus may take to sync the metadata nodes.
        :raises RuntimeError: when another session's open transaction blocks the reset (a test
            left a transaction open; the message lists those sessions), or (real Citus) a node
            cannot be removed (the message says why).
        :raises MetadataNotSyncedError: (real Citus) metadata nodes stayed out of sync and block
            the removal; the message names them.
        """
        for index in sorted(self._down):
            self.start_node(index)
        for database in self.databases:
            self._reset_database(database, lock_timeout_ms, sync_timeout)

    def _reset_database(self, database: str, lock_timeout_ms: int, sync_timeout: float) -> None:
        with self.connect(dbname=database, application_name="citus-test-reset") as conn:
            reset_database(
                conn, database, self._nodes if self.is_real else None, lock_timeout_ms, sync_timeout
            )

    # -- nodes ----------------------------------------------------------------------------------

    def node_address(self, index: int) -> tuple[str, int]:
        """A ``(host, port)`` that can be registered as node number ``index`` (1, 2, ...).

        Citus connects to a primary it adds, so the address must be reachable. Real Citus: a worker
        server started on first use (with the citus extension in database ``citus``). Emulated:
        ``192.0.2.<index>:5432``, registered reachable in the emulation (never contacted).
        """
        if self.mode == "emulated":
            return self._emulated.address(index)
        worker = self._nodes.worker(index)
        return (worker.host, worker.port)

    def node_alias(self, index: int) -> tuple[str, int]:
        """Another ``(host, port)`` reaching node ``index``: renaming a row to it keeps it reachable.

        Real Citus: ``localhost`` and the worker's port. Emulated: ``198.51.100.<index>:5432``,
        registered reachable as node ``index`` (down and up with it).
        """
        if self.mode == "emulated":
            return self._emulated.alias(index)
        worker = self._nodes.worker(index)
        return ("localhost", worker.port)

    def add_reachable_address(self, host: str, port: int) -> None:
        """Declare that a server (other than the nodes of :meth:`node_address`) listens on ``host:port``.

        Emulated: registers the address reachable, so that Citus may add it as a primary and sync
        metadata to it. Real Citus connects for itself: nothing to do.
        """
        if self.mode == "emulated":
            self._emulated.register((host, port), None)

    def stop_node(self, index: int) -> None:
        """Take node ``index`` (see :meth:`node_address`) down until :meth:`start_node` or :meth:`reset`.

        Real Citus: stops that worker server (``pg_ctl stop``, by its own pid); connections to it
        then fail. Emulated: marks its addresses unreachable. Either way Citus cannot connect to it:
        adding a primary, or any node change while it is a metadata node, fails, and metadata is not
        synced to it.

        :raises ValueError: when node ``index`` was never used.
        """
        if self.mode == "emulated":
            self._emulated.set_reachable(index, False)
        else:
            worker = self._nodes.workers.get(index)
            if worker is None:
                raise ValueError(f"node {index} was never used (call node_address({index}) first)")
            worker.stop()
        self._down.add(index)

    def start_node(self, index: int) -> None:
        """Bring node ``index`` back after :meth:`stop_node` (real Citus: starts that server again).

        Citus's maintenance daemon then syncs metadata to it at its next retry (real: within about
        5 s; emulated: within ~20 ms); see :meth:`wait_metadata_synced`. Real Citus caches its
        connections to workers per session: a session that talked to the node before it was
        stopped fails once on the stale connection; use a new session where that matters.
        """
        if self.mode == "emulated":
            self._emulated.set_reachable(index, True)
        else:
            worker = self._nodes.workers.get(index)
            if worker is not None and not worker.running:
                worker.start()
        self._down.discard(index)

    @contextlib.contextmanager
    def node_down(self, index: int) -> Iterator[None]:
        """Context manager: node ``index`` is down inside, back up after (see :meth:`stop_node`)."""
        self.stop_node(index)
        try:
            yield
        finally:
            self.start_node(index)

    def node_is_down(self, index: int) -> bool:
        """True between :meth:`stop_node` and :meth:`start_node` of node ``index``."""
        return index in self._down

    def coordinator_address(self) -> tuple[str, int]:
        """The ``(host, port)`` of this server, for ``citus_set_coordinator_host``."""
        return (self.host, self.port)

    # -- metadata sync ----------------------------------------------------------------------------

    def unsynced_nodes(self) -> list[str]:
        """``host:port`` of every committed metadata node out of sync (see :func:`unsynced_nodes`)."""
        with self.connect(application_name="citus-test-probe") as conn:
            return unsynced_nodes(conn)

    def wait_metadata_synced(self, timeout: float = 30.0) -> bool:
        """Wait until the maintenance daemon synced every metadata node; False after ``timeout`` s.

        Real Citus syncs within tens of ms (sometimes about 2 s) when every node is reachable and
        retries about every 5 s after a failure (a node that was down); the emulated daemon syncs
        within ~20 ms. A node that is down, or a primary renamed to an address nothing listens on,
        never syncs.
        """
        with self.connect(application_name="citus-test-probe") as conn:
            return wait_metadata_synced(conn, timeout)

    # -- client traffic -------------------------------------------------------------------------

    def prepare_client_traffic(self, *groupids: int, dbname: str = DBNAME) -> None:
        """Prepare client traffic of ``groupids`` before a pause (see :func:`prepare_client_traffic`)."""
        with self.connect(dbname=dbname, application_name="citus-test-setup") as conn:
            for groupid in groupids:
                prepare_client_traffic(conn, groupid)

    def client_write(self, groupid: int, payload: str | None = None) -> None:
        """One committed client write routed to group ``groupid`` (see :func:`client_write`)."""
        with self.connect(application_name="citus-test-client") as conn:
            client_write(conn, groupid, payload)

    def client_read(self, groupid: int) -> int:
        """One client read of group ``groupid`` (see :func:`client_read`); a paused group lets it pass."""
        with self.connect(application_name="citus-test-client") as conn:
            return client_read(conn, groupid)

    def start_client_write(
        self, groupid: int, payload: str | None = None, *, dbname: str = DBNAME
    ) -> ClientOperation:
        """Run a client write to group ``groupid`` (in ``dbname``) in a background thread."""
        return ClientOperation(self, lambda conn: client_write(conn, groupid, payload), dbname).start()

    def start_client_read(self, groupid: int) -> ClientOperation:
        """Run a client read of group ``groupid`` in a background thread."""
        return ClientOperation(self, lambda conn: client_read(conn, groupid)).start()

    def backend_waits_for_lock(self, pid: int) -> bool:
        """True when backend ``pid`` is waiting for a heavyweight lock (advisory locks included)."""
        with self.connect(application_name="citus-test-probe") as conn:
            row = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s::int", (pid,)
            ).fetchone()
        return row is not None and row[0] == "Lock"

    def locked_groups(self, dbname: str = DBNAME) -> list[int]:
        """Groups whose shards an uncommitted ``citus_update_node`` holds locked (see :func:`locked_groups`).

        On real Citus only groups with shard placements show up: write to the group first
        (:meth:`client_write` creates the probe table's shards).
        """
        with self.connect(dbname=dbname, application_name="citus-test-probe") as conn:
            return locked_groups(conn)
