"""The PostgreSQL servers of a test formation besides the coordinator (real Citus only).

Real Citus connects to a primary it adds, so every node a test registers is a server of its own: one per node
index (:meth:`NodeServers.worker`), plus stand-ins that :meth:`~.server.CitusTestServer.reset` points
unreachable metadata rows at. Each holds the citus extension in every Citus database of the formation.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.sql
from patroni_mpp.testing.postgres import PostgresServer

from .statement_log import STATEMENT_LOG_SETTINGS

__all__ = [
    "DBNAME",
    "SERVER_SETTINGS",
    "WORKER_SETTINGS",
    "NodeServers",
    "create_citus_database",
    "start_citus_server",
]

DBNAME = "citus"
"""The database holding the Citus metadata on test servers."""

SERVER_SETTINGS: dict[str, Any] = {
    **STATEMENT_LOG_SETTINGS,
    "allow_system_table_mods": True,
    "max_prepared_transactions": 20,
}
"""``postgresql.conf`` settings of the coordinator test server."""

WORKER_SETTINGS: dict[str, Any] = {**SERVER_SETTINGS, "shared_preload_libraries": "citus"}
"""``postgresql.conf`` settings of a worker server."""


def start_citus_server(server: PostgresServer, databases: tuple[str, ...] = (DBNAME,)) -> None:
    """Start a worker server and create the citus extension in its database ``citus`` (and others)."""
    server.start()
    for database in databases:
        create_citus_database(server, database)


def create_citus_database(server: PostgresServer, database: str) -> None:
    """Create ``database`` with the citus extension on a real-Citus server (an existing one is kept)."""
    with server.connect() as conn:
        if (
            conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (database,)).fetchone()
            is None
        ):
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
    with server.connect(database) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")


class NodeServers:
    """The worker servers (by node index) and stand-in servers of one test formation.

    :param databases: the formation's Citus databases (the caller's list, read when a server
        starts: a database added later is created on the running servers by the caller).
    """

    def __init__(self, databases: list[str]) -> None:
        self.databases = databases
        self.workers: dict[int, PostgresServer] = {}
        """Node index -> its worker server."""
        self.stand_ins: list[PostgresServer] = []

    def worker(self, index: int) -> PostgresServer:
        """The worker server of node ``index``, started on first use."""
        worker = self.workers.get(index)
        if worker is None:
            worker = PostgresServer(WORKER_SETTINGS)
            self.workers[index] = worker  # stopped by cleanup() even when the setup fails
            start_citus_server(worker, tuple(self.databases))
        return worker

    def running(self) -> list[PostgresServer]:
        """Every worker and stand-in server that runs now."""
        return [w for w in (*self.workers.values(), *self.stand_ins) if w.running]

    def free_stand_in(self, used: set[int]) -> PostgresServer:
        """A running stand-in worker server no metadata row points at (started when there is none).

        :param used: ``id()`` of the servers that metadata rows point at already.
        """
        for stand_in in self.stand_ins:
            if stand_in.running and id(stand_in) not in used:
                return stand_in
        stand_in = PostgresServer(WORKER_SETTINGS)
        self.stand_ins.append(stand_in)
        start_citus_server(stand_in, tuple(self.databases))
        return stand_in

    def cleanup(self) -> None:
        """Stop and remove every server (by pid)."""
        for worker in (*self.workers.values(), *self.stand_ins):
            worker.cleanup()
        self.workers.clear()
        self.stand_ins.clear()
