"""Fixtures of the TimescaleDB engine's tests: servers prepared the way the engine expects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp.testing.postgres import PostgresServer

EXTENSION = "timescaledb"


@pytest.fixture
def available_extensions(fresh_postgres_server: PostgresServer) -> set[str]:
    """The extensions the test's fresh server offers (those whose packages are installed)."""
    rows = fresh_postgres_server.execute("SELECT name FROM pg_catalog.pg_available_extensions")
    return {str(row[0]) for row in rows}


@pytest.fixture
def timescaledb_server(
    fresh_postgres_server: PostgresServer, available_extensions: set[str]
) -> PostgresServer:
    """The fresh server, preloading timescaledb when installed (as the engine's GUCs would)."""
    if EXTENSION in available_extensions:
        fresh_postgres_server.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{EXTENSION}'")
        fresh_postgres_server.restart()
    return fresh_postgres_server


@pytest.fixture
def mpp_bootstrap_postgresql(timescaledb_server: PostgresServer) -> Iterator[LocalPostgresql]:
    """The conformance suite's bootstrap host: a fresh server prepared for TimescaleDB."""
    server = timescaledb_server
    postgresql = LocalPostgresql("ts-node", server.host, server.port, password=server.password)
    try:
        yield postgresql
    finally:
        postgresql.close()
