"""The emulated Citus maintenance daemon: a thread syncing metadata to reachable nodes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import psycopg
from patroni_mpp.testing.postgres import PostgresServer

from .emulation import Connection
from .node_servers import DBNAME

__all__ = [
    "MAINTENANCE_APPLICATION_NAME",
    "MAINTENANCE_INTERVAL",
    "OTHER_DATABASES_INTERVAL",
    "MaintenanceDaemon",
]

logger = logging.getLogger(__name__)

MAINTENANCE_APPLICATION_NAME = "citus-test-maintenance"
"""``application_name`` of the emulated maintenance daemon's connections (its statements are not logged)."""

MAINTENANCE_INTERVAL = 0.02
"""Seconds between two rounds of the emulated maintenance daemon in database :data:`DBNAME`."""

OTHER_DATABASES_INTERVAL = 0.5
"""Seconds between two rounds of the emulated maintenance daemon in the other databases."""


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
