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
:class:`MaintenanceDaemon`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import psycopg
import psycopg.sql
from patroni_mpp.testing.postgres import PostgresServer

from .emulation import (
    Connection,
    citus_available,
    client_read,
    client_write,
    install_emulation,
    locked_groups,
    prepare_client_traffic,
    register_reachable_node,
    reset_metadata,
    set_node_reachable,
    unsynced_nodes,
    wait_metadata_synced,
)
from .statement_log import STATEMENT_LOG_SETTINGS, StatementLog

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
    "resolve_mode",
]

logger = logging.getLogger(__name__)

Mode = Literal["real", "emulated"]
MODE_ENV = "PATRONI_MPP_TEST_CITUS"
"""Environment variable choosing ``real``, ``emulated`` or ``auto`` (default)."""

DBNAME = "citus"
"""The database holding the Citus metadata on test servers."""

MAINTENANCE_APPLICATION_NAME = "citus-test-maintenance"
"""``application_name`` of the emulated maintenance daemon's connections (its statements are not logged)."""

MAINTENANCE_INTERVAL = 0.02
"""Seconds between two rounds of the emulated maintenance daemon in database :data:`DBNAME`."""

OTHER_DATABASES_INTERVAL = 0.5
"""Seconds between two rounds of the emulated maintenance daemon in the other databases."""

_EMULATED_NODE = "192.0.2.{index}"  # TEST-NET-1: never routed
_EMULATED_ALIAS = "198.51.100.{index}"  # TEST-NET-2
_EMULATED_PORT = 5432

_SETTINGS: dict[str, Any] = {
    **STATEMENT_LOG_SETTINGS,
    "allow_system_table_mods": True,
    "max_prepared_transactions": 20,
}


_WORKER_SETTINGS: dict[str, Any] = {**_SETTINGS, "shared_preload_libraries": "citus"}


def _start_citus_server(server: PostgresServer, databases: tuple[str, ...] = (DBNAME,)) -> None:
    """Start a worker server and create the citus extension in its database ``citus`` (and others)."""
    server.start()
    for database in databases:
        _create_citus_database(server, database)


def _create_citus_database(server: PostgresServer, database: str) -> None:
    """Create ``database`` with the citus extension on a real-Citus server (an existing one is kept)."""
    with server.connect() as conn:
        if (
            conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (database,)).fetchone()
            is None
        ):
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
    with server.connect(database) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")


class CitusUnavailableError(RuntimeError):
    """``PATRONI_MPP_TEST_CITUS=real`` was asked for, but the server lacks the citus extension."""


def requested_mode() -> str:
    """The value of ``PATRONI_MPP_TEST_CITUS`` (``auto`` when unset).

    :raises ValueError: for any other value than ``real``, ``emulated`` or ``auto``.
    """
    value = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if value not in ("real", "emulated", "auto"):
        raise ValueError(f"{MODE_ENV} must be real, emulated or auto, not {value!r}")
    return value


def resolve_mode(requested: str, available: bool) -> Mode:
    """Decide between real and emulated Citus.

    :param requested: ``real``, ``emulated`` or ``auto``.
    :param available: whether the server has the citus extension.
    :raises CitusUnavailableError: when ``real`` is requested but not available.
    """
    if requested == "emulated":
        return "emulated"
    if requested == "real" and not available:
        raise CitusUnavailableError(
            f"{MODE_ENV}=real but the citus extension is not in pg_available_extensions of "
            "this PostgreSQL installation; install Citus or use emulated/auto"
        )
    return "real" if available else "emulated"


class MaintenanceDaemon:
    """The emulated Citus maintenance daemon: a thread syncing metadata to reachable nodes.

    Real Citus's maintenance daemon syncs ``pg_dist_node`` to every metadata node that a committed
    ``citus_update_node`` marked unsynced, and retries while a node cannot be reached. This thread
    does the emulated equivalent: every :data:`MAINTENANCE_INTERVAL` s it calls
    ``citus_emulation.sync_metadata()`` in database :data:`DBNAME` (and every
    :data:`OTHER_DATABASES_INTERVAL` s in every other database holding the emulation, on short-lived
    connections), which marks synced each unsynced metadata worker whose address is registered
    reachable. Its connections run with ``log_statement = none``, so they stay out of the statement
    log, and under :data:`MAINTENANCE_APPLICATION_NAME`.

    :param server: the PostgreSQL server holding the emulation.
    :param interval: seconds between two rounds in :data:`DBNAME`.
    """

    def __init__(self, server: PostgresServer, interval: float = MAINTENANCE_INTERVAL) -> None:
        self.server = server
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        """Completed rounds in :data:`DBNAME` (for tests)."""

    def _connect(self, dbname: str) -> Connection:
        return psycopg.connect(
            autocommit=True,
            **self.server.conninfo(
                dbname,
                application_name=MAINTENANCE_APPLICATION_NAME,
                options="-c log_statement=none -c lock_timeout=1000",
                connect_timeout=2,
            ),
        )

    def start(self) -> MaintenanceDaemon:
        """Start the thread (a daemon thread with its own connection)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="citus-test-maintenance-daemon", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait up to ``timeout`` s for it to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        conn: Connection | None = None
        next_scan = 0.0
        try:
            while not self._stop.is_set():
                delay = self.interval
                try:
                    if conn is None or conn.closed:
                        conn = self._connect(DBNAME)
                    conn.execute("SELECT citus_emulation.sync_metadata()")
                    self.rounds += 1
                    if time.monotonic() >= next_scan:
                        self._sync_other_databases(conn)
                        next_scan = time.monotonic() + OTHER_DATABASES_INTERVAL
                except psycopg.Error as exc:
                    logger.debug("emulated maintenance daemon: %s", exc)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
                    delay = 0.2  # the server restarts, or database citus is not there yet
                self._stop.wait(delay)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _sync_other_databases(self, conn: Connection) -> None:
        names = [
            str(row[0])
            for row in conn.execute(
                "SELECT datname FROM pg_catalog.pg_database "
                "WHERE datallowconn AND NOT datistemplate AND datname NOT IN (%s, 'postgres')",
                (DBNAME,),
            ).fetchall()
        ]
        for name in names:
            if self._stop.is_set():
                return
            try:
                with self._connect(name) as other:
                    row = other.execute(
                        "SELECT to_regprocedure('citus_emulation.sync_metadata()') IS NOT NULL"
                    ).fetchone()
                    if row is not None and row[0]:
                        other.execute("SELECT citus_emulation.sync_metadata()")
            except psycopg.Error as exc:  # dropped meanwhile, or not accepting connections
                logger.debug("emulated maintenance daemon, database %s: %s", name, exc)


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
        self._workers: dict[int, PostgresServer] = {}
        self._stand_ins: list[PostgresServer] = []
        self._registered: set[tuple[str, int]] = set()
        self._down: set[int] = set()
        self.databases: list[str] = [DBNAME]
        """Every Citus database of the test formation: :data:`DBNAME` and those of :meth:`add_database`."""
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
        server = PostgresServer({**_SETTINGS, **(settings or {})})
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
            for worker in (*self._workers.values(), *self._stand_ins):
                worker.cleanup()
            self._workers.clear()
            self._stand_ins.clear()
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
            _create_citus_database(self.server, name)
            if on_workers:
                for worker in self._running_servers():
                    _create_citus_database(worker, name)
        else:
            with self.server.connect() as conn:
                found = conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (name,))
                if found.fetchone() is None:
                    conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
            self._copy_reachable_nodes(name)
        if on_workers and name not in self.databases:
            self.databases.append(name)

    def drop_database(self, name: str) -> None:
        """Drop a database of :meth:`add_database` here (``WITH (FORCE)``), leaving the workers' copies."""
        with self.server.connect() as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )
        if name in self.databases and name != DBNAME:
            self.databases.remove(name)

    def _copy_reachable_nodes(self, name: str) -> None:
        """Emulated: the addresses registered reachable in ``citus`` are reachable in ``name`` too."""
        with self.connect(application_name="citus-test-setup") as source:
            rows = source.execute(
                "SELECT nodename, nodeport, node_index, reachable FROM citus_emulation.reachable_node"
            ).fetchall()
        with self.connect(dbname=name, application_name="citus-test-setup") as target:
            for host, port, index, reachable in rows:
                register_reachable_node(target, str(host), int(port), index)
                if not reachable and index is not None:
                    set_node_reachable(target, int(index), False)

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
            conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            try:
                if self.is_real:
                    self._make_metadata_nodes_reachable(conn)
                reset_metadata(conn, sync_timeout)
            except psycopg.errors.LockNotAvailable:
                blockers = conn.execute(
                    "SELECT pid, application_name, state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND xact_start IS NOT NULL AND application_name <> %s",
                    (MAINTENANCE_APPLICATION_NAME,),
                ).fetchall()
                raise RuntimeError(
                    f"cannot reset the Citus metadata of {database}: sessions with open transactions "
                    f"{blockers}"
                ) from None

    def _make_metadata_nodes_reachable(self, conn: Connection) -> None:
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
        servers = {(s.host, s.port): s for s in self._running_servers()}
        servers.update({("localhost", s.port): s for s in self._running_servers()})
        # the servers that metadata rows point at already
        used = {
            id(servers[(str(n), int(p))]) for _, n, p, meta in listed if meta and (str(n), int(p)) in servers
        }
        by_port = {worker.port: worker for worker in self._workers.values() if worker.running}
        for nodeid, name, port, meta in listed:
            address = (str(name), int(port))
            if not meta or address in servers or self._answers(*address):
                continue
            worker = by_port.get(address[1])
            target = None
            if worker is not None and id(worker) not in used:
                target = next((c for c in self._addresses(worker) if c not in taken), None)
            if target is None:
                worker = self._free_stand_in(used)
                target = (worker.host, worker.port)
            logger.info("reset: moving node %s from %s:%s (unreachable) to %s:%s", nodeid, *address, *target)
            conn.execute(
                "SELECT pg_catalog.citus_update_node(%s::int, %s, %s::int, true, 1000)",
                (nodeid, *target),
            )
            taken.discard(address)
            taken.add(target)
            used.add(id(worker))

    @staticmethod
    def _addresses(worker: PostgresServer) -> list[tuple[str, int]]:
        return [(worker.host, worker.port), ("localhost", worker.port)]

    def _running_servers(self) -> list[PostgresServer]:
        return [w for w in (*self._workers.values(), *self._stand_ins) if w.running]

    def _free_stand_in(self, used: set[int]) -> PostgresServer:
        """A running stand-in worker server no metadata row points at (started when there is none)."""
        for stand_in in self._stand_ins:
            if stand_in.running and id(stand_in) not in used:
                return stand_in
        stand_in = PostgresServer(_WORKER_SETTINGS)
        self._stand_ins.append(stand_in)
        _start_citus_server(stand_in, tuple(self.databases))
        return stand_in

    @staticmethod
    def _answers(host: str, port: int) -> bool:
        """True when a PostgreSQL server accepts a connection on ``host:port`` (within 2 s)."""
        try:
            with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError as exc:
            # a server that answers but refuses the login is there all the same
            return "password" in str(exc) or "no pg_hba.conf entry" in str(exc)

    # -- nodes ----------------------------------------------------------------------------------

    def node_address(self, index: int) -> tuple[str, int]:
        """A ``(host, port)`` that can be registered as node number ``index`` (1, 2, ...).

        Citus connects to a primary it adds, so the address must be reachable. Real Citus: a worker
        server started on first use (with the citus extension in database ``citus``). Emulated:
        ``192.0.2.<index>:5432``, registered reachable in the emulation (never contacted).
        """
        if self.mode == "emulated":
            address = (_EMULATED_NODE.format(index=index), _EMULATED_PORT)
            self._register(address, index)
            return address
        worker = self._worker(index)
        return (worker.host, worker.port)

    def node_alias(self, index: int) -> tuple[str, int]:
        """Another ``(host, port)`` reaching node ``index``: renaming a row to it keeps it reachable.

        Real Citus: ``localhost`` and the worker's port. Emulated: ``198.51.100.<index>:5432``,
        registered reachable as node ``index`` (down and up with it).
        """
        if self.mode == "emulated":
            self.node_address(index)
            address = (_EMULATED_ALIAS.format(index=index), _EMULATED_PORT)
            self._register(address, index)
            return address
        worker = self._worker(index)
        return ("localhost", worker.port)

    def add_reachable_address(self, host: str, port: int) -> None:
        """Declare that a server (other than the nodes of :meth:`node_address`) listens on ``host:port``.

        Emulated: registers the address reachable, so that Citus may add it as a primary and sync
        metadata to it. Real Citus connects for itself: nothing to do.
        """
        if self.mode == "emulated":
            self._register((host, port), None)

    def _register(self, address: tuple[str, int], index: int | None) -> None:
        if address in self._registered:
            return
        for database in self.databases:
            with self.connect(dbname=database, application_name="citus-test-setup") as conn:
                register_reachable_node(conn, address[0], address[1], index)
        self._registered.add(address)

    def _worker(self, index: int) -> PostgresServer:
        worker = self._workers.get(index)
        if worker is None:
            worker = PostgresServer(_WORKER_SETTINGS)
            self._workers[index] = worker  # stopped by stop() even when the setup fails
            _start_citus_server(worker, tuple(self.databases))
        return worker

    def stop_node(self, index: int) -> None:
        """Take node ``index`` (see :meth:`node_address`) down until :meth:`start_node` or :meth:`reset`.

        Real Citus: stops that worker server (``pg_ctl stop``, by its own pid); connections to it
        then fail. Emulated: marks its addresses unreachable. Either way Citus cannot connect to it:
        adding a primary, or any node change while it is a metadata node, fails, and metadata is not
        synced to it.

        :raises ValueError: when node ``index`` was never used.
        """
        if self.mode == "emulated":
            for database in self.databases:
                with self.connect(dbname=database, application_name="citus-test-setup") as conn:
                    if not set_node_reachable(conn, index, False):
                        raise ValueError(f"node {index} was never used (call node_address({index}) first)")
        else:
            worker = self._workers.get(index)
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
            for database in self.databases:
                with self.connect(dbname=database, application_name="citus-test-setup") as conn:
                    set_node_reachable(conn, index, True)
        else:
            worker = self._workers.get(index)
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


class ClientOperation:
    """A client statement running on its own connection in a background thread.

    The connection is opened by :meth:`start` in the calling thread, so :attr:`pid` is known before
    the statement runs. Errors are kept in :attr:`error`, never raised in the thread. Always
    :meth:`close` it (or use it as a context manager): a still-waiting statement is cancelled.

    :param server: the server to connect to.
    :param action: what to run with the connection; its return value goes to :attr:`result`.
    :param dbname: the database to connect to.
    """

    def __init__(
        self, server: CitusTestServer, action: Callable[[Connection], object], dbname: str = DBNAME
    ) -> None:
        self.server = server
        self._action = action
        self._dbname = dbname
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self.pid = 0
        self.result: object = None
        self.error: BaseException | None = None

    def start(self) -> ClientOperation:
        """Connect and start the thread."""
        self._conn = self.server.connect(dbname=self._dbname, application_name="citus-test-client")
        self.pid = self._conn.info.backend_pid
        self._thread = threading.Thread(target=self._run, name=f"citus-client-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._conn is not None
        try:
            self.result = self._action(self._conn)
        except BaseException as exc:  # kept for the test to inspect
            self.error = exc

    @property
    def done(self) -> bool:
        """True once the statement finished (successfully or not)."""
        return self._thread is not None and not self._thread.is_alive()

    def waiting(self) -> bool:
        """True while the statement waits for a lock."""
        return not self.done and self.server.backend_waits_for_lock(self.pid)

    def wait_until_waiting(self, timeout: float = 30.0) -> bool:
        """Poll until the statement waits for a lock (True), or finished / ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while not self.done:
            if self.server.backend_waits_for_lock(self.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return False

    def join(self, timeout: float = 30.0) -> bool:
        """Wait up to ``timeout`` s for the statement to finish; True when it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def close(self) -> None:
        """Cancel the statement if it still runs, wait for the thread, close the connection."""
        if self._thread is not None and self._thread.is_alive():
            with self.server.connect(application_name="citus-test-probe") as conn:
                conn.execute("SELECT pg_cancel_backend(%s::int)", (self.pid,))
            self._thread.join(30)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def __enter__(self) -> ClientOperation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ClientOps:
    """Starts background client operations and closes them all at the end of the test.

    :param server: the Citus test server.
    """

    def __init__(self, server: CitusTestServer) -> None:
        self.server = server
        self.started: list[ClientOperation] = []

    def write(self, groupid: int, payload: str | None = None) -> ClientOperation:
        """Start a client write to group ``groupid``."""
        op = self.server.start_client_write(groupid, payload)
        self.started.append(op)
        return op

    def read(self, groupid: int) -> ClientOperation:
        """Start a client read of group ``groupid``."""
        op = self.server.start_client_read(groupid)
        self.started.append(op)
        return op

    def close(self) -> None:
        """Cancel and close every started operation."""
        for op in self.started:
            op.close()
