"""A temporary PostgreSQL server with Citus (real or emulated), for tests and benchmarks.

:class:`CitusTestServer` wraps :class:`patroni_mpp.testing.postgres.PostgresServer`: it starts one
server logging every statement (see :mod:`.statement_log`), creates the database ``citus`` and in it
either ``CREATE EXTENSION citus`` (real Citus, when the server has the extension) or the emulation.

Mode selection (:func:`resolve_mode`): environment variable ``PATRONI_MPP_TEST_CITUS`` = ``real``,
``emulated`` or ``auto`` (default): real when ``citus`` is in ``pg_available_extensions``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import psycopg
from patroni_mpp.testing.postgres import PostgresServer

from .emulation import (
    Connection,
    citus_available,
    client_read,
    client_write,
    install_emulation,
    reset_metadata,
)
from .statement_log import STATEMENT_LOG_SETTINGS, StatementLog

__all__ = [
    "DBNAME",
    "MODE_ENV",
    "CitusTestServer",
    "CitusUnavailableError",
    "ClientOperation",
    "ClientOps",
    "Mode",
    "resolve_mode",
]

logger = logging.getLogger(__name__)

Mode = Literal["real", "emulated"]
MODE_ENV = "PATRONI_MPP_TEST_CITUS"
"""Environment variable choosing ``real``, ``emulated`` or ``auto`` (default)."""

DBNAME = "citus"
"""The database holding the Citus metadata on test servers."""

_SETTINGS: dict[str, Any] = {
    **STATEMENT_LOG_SETTINGS,
    "allow_system_table_mods": True,
    "max_prepared_transactions": 20,
}


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


class CitusTestServer:
    """One started test server with the database :data:`DBNAME` holding (real or emulated) Citus.

    Create it with :meth:`start`; :meth:`stop` stops it (and any worker servers, real mode) by pid.

    :param server: the started PostgreSQL server.
    :param mode: ``real`` or ``emulated``.
    """

    dbname = DBNAME

    def __init__(self, server: PostgresServer, mode: Mode) -> None:
        self.server = server
        self.mode: Mode = mode
        self.statement_log = StatementLog(server.logfile)
        self._workers: dict[int, PostgresServer] = {}

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
        return cls(server, chosen)

    def stop(self) -> None:
        """Stop and remove the server and any worker servers."""
        try:
            for worker in self._workers.values():
                worker.cleanup()
            self._workers.clear()
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

    def conninfo(self, **extra: Any) -> dict[str, Any]:
        """Connection parameters (superuser, database ``citus``) for psycopg / libpq."""
        return self.server.conninfo(DBNAME, **extra)

    def connect(self, *, autocommit: bool = True, **extra: Any) -> Connection:
        """A new psycopg connection to database ``citus`` (auto-commit unless asked otherwise)."""
        return psycopg.connect(autocommit=autocommit, **self.conninfo(**extra))

    # -- state --------------------------------------------------------------------------------

    def reset(self, lock_timeout_ms: int = 10000) -> None:
        """Empty ``pg_dist_node`` and ``pg_dist_authinfo`` (see :func:`reset_metadata`).

        :param lock_timeout_ms: how long to wait for locks held by other sessions.
        :raises RuntimeError: when another session's open transaction blocks the reset (a test
            left a transaction open); the message lists those sessions.
        """
        with self.connect(application_name="citus-test-reset") as conn:
            conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            try:
                reset_metadata(conn)
            except psycopg.errors.LockNotAvailable:
                blockers = conn.execute(
                    "SELECT pid, application_name, state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND xact_start IS NOT NULL"
                ).fetchall()
                raise RuntimeError(
                    f"cannot reset the Citus metadata: sessions with open transactions {blockers}"
                ) from None

    def node_address(self, index: int) -> tuple[str, int]:
        """A ``(host, port)`` that can be registered as node number ``index`` (1, 2, ...).

        Emulated: ``192.0.2.<index>:5432`` (never contacted). Real Citus: a worker server started
        on first use (with the citus extension in database ``citus``) that Citus can reach.
        """
        if self.mode == "emulated":
            return (f"192.0.2.{index}", 5432)
        worker = self._workers.get(index)
        if worker is None:
            worker = PostgresServer({**_SETTINGS, "shared_preload_libraries": "citus"})
            self._workers[index] = worker
            worker.start()
            with worker.connect() as conn:
                conn.execute(f'CREATE DATABASE "{DBNAME}"')
            with worker.connect(DBNAME) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        return (worker.host, worker.port)

    def coordinator_address(self) -> tuple[str, int]:
        """The ``(host, port)`` of this server, for ``citus_set_coordinator_host``."""
        return (self.host, self.port)

    # -- client traffic -------------------------------------------------------------------------

    def client_write(self, groupid: int, payload: str | None = None) -> None:
        """One committed client write routed to group ``groupid`` (see :func:`client_write`)."""
        with self.connect(application_name="citus-test-client") as conn:
            client_write(conn, groupid, payload)

    def client_read(self, groupid: int) -> int:
        """One client read of group ``groupid`` (see :func:`client_read`)."""
        with self.connect(application_name="citus-test-client") as conn:
            return client_read(conn, groupid)

    def start_client_write(self, groupid: int, payload: str | None = None) -> ClientOperation:
        """Run a client write to group ``groupid`` in a background :class:`ClientOperation`."""
        return ClientOperation(self, lambda conn: client_write(conn, groupid, payload)).start()

    def start_client_read(self, groupid: int) -> ClientOperation:
        """Run a client read of group ``groupid`` in a background thread."""
        return ClientOperation(self, lambda conn: client_read(conn, groupid)).start()

    def backend_waits_for_lock(self, pid: int) -> bool:
        """True when backend ``pid`` is waiting for a heavyweight lock (advisory locks included)."""
        with self.connect(application_name="citus-test-probe") as conn:
            row = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        return row is not None and row[0] == "Lock"

    def locked_groups(self) -> list[int]:
        """Groups whose emulated shard lock is held exclusively right now (emulation only)."""
        with self.connect(application_name="citus-test-probe") as conn:
            rows = conn.execute(
                "SELECT DISTINCT objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND mode = 'ExclusiveLock' AND classid::bigint = 1129883733 "
                "AND objsubid = 2 ORDER BY 1"
            ).fetchall()
        return [int(row[0]) for row in rows]


class ClientOperation:
    """A client statement running on its own connection in a background thread.

    The connection is opened by :meth:`start` in the calling thread, so :attr:`pid` is known before
    the statement runs. Errors are kept in :attr:`error`, never raised in the thread. Always
    :meth:`close` it (or use it as a context manager): a still-waiting statement is cancelled.

    :param server: the server to connect to.
    :param action: what to run with the connection; its return value goes to :attr:`result`.
    """

    def __init__(self, server: CitusTestServer, action: Callable[[Connection], object]) -> None:
        self.server = server
        self._action = action
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self.pid = 0
        self.result: object = None
        self.error: BaseException | None = None

    def start(self) -> ClientOperation:
        """Connect and start the thread."""
        self._conn = self.server.connect(application_name="citus-test-client")
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
                conn.execute("SELECT pg_cancel_backend(%s)", (self.pid,))
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
