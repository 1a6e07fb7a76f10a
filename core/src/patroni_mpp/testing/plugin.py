"""pytest plugin of patroni-mpp, registered through the ``pytest11`` entry point ``patroni_mpp``.

It only registers fixtures; the conformance suite itself is a class that a test module imports and
subclasses (:class:`patroni_mpp.testing.conformance.EngineConformance`). Importing this module costs
almost nothing: it imports neither psycopg nor the conformance suite, and a fixture imports what it
needs only when a test asks for it.

Fixtures:

* ``postgres_server`` (session): a real temporary PostgreSQL server (:class:`PostgresServer`) shared by the
  session, stopped at its end. Tests that use it are skipped, with the reason, when no PostgreSQL installation
  is found; set ``PATRONI_MPP_REQUIRE_POSTGRES=1`` to make that an error instead (CI).
* ``fresh_postgres_server`` (function): a server of the test's own, stopped when the test ends (for
  work that can run once per server, such as an engine's ``bootstrap()``).
* ``mpp_postgresql`` (function): the host PostgreSQL object handlers are built with: a
  :class:`~patroni_mpp.testing.host.LocalPostgresql` for ``postgres_server``. Override it (in a
  conftest, module or class) to hand engines a server prepared for them.
* ``mpp_bootstrap_postgresql`` (function): the host PostgreSQL object ``bootstrap()`` runs against:
  a :class:`~patroni_mpp.testing.host.LocalPostgresql` for ``fresh_postgres_server``.
* ``mpp_cluster`` (function): a DCS view in which the ``mpp_postgresql`` node is the leader.

When pytest's plugin autoloading is disabled (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load this plugin
with ``-p patroni_mpp.testing.plugin``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from .._protocols import PostgresqlLike
    from .host import Cluster, LocalPostgresql
    from .postgres import PostgresServer

REQUIRE_POSTGRES_ENV = "PATRONI_MPP_REQUIRE_POSTGRES"
"""Environment variable: when ``1``, a missing PostgreSQL installation fails instead of skipping."""

NODE_NAME = "conformance-node"
"""Member name of the host PostgreSQL objects built by the fixtures."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mpp_conformance`` marker that every conformance test carries.

    :param config: the pytest configuration.
    """
    config.addinivalue_line("markers", "mpp_conformance: a check of the patroni-mpp engine conformance suite")


def _start_server() -> PostgresServer:
    """Start a temporary server, or skip (fail when required) when PostgreSQL is not installed."""
    from .postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{exc} ({REQUIRE_POSTGRES_ENV}=1)", pytrace=False)
        pytest.skip(f"needs a real PostgreSQL server: {exc}")
    try:
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


def _local_postgresql(server: PostgresServer) -> LocalPostgresql:
    from .host import LocalPostgresql

    return LocalPostgresql(NODE_NAME, server.host, server.port, password=server.password)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running temporary PostgreSQL server shared by the session (127.0.0.1, a free port)."""
    server = _start_server()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fresh_postgres_server() -> Iterator[PostgresServer]:
    """A running temporary PostgreSQL server of this test's own, stopped and removed afterwards."""
    server = _start_server()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def mpp_postgresql(postgres_server: PostgresServer) -> Iterator[LocalPostgresql]:
    """The host PostgreSQL object for ``postgres_server``; its connections are closed afterwards."""
    postgresql = _local_postgresql(postgres_server)
    try:
        yield postgresql
    finally:
        postgresql.close()


@pytest.fixture
def mpp_bootstrap_postgresql(fresh_postgres_server: PostgresServer) -> Iterator[LocalPostgresql]:
    """The host PostgreSQL object for a freshly initialised server, as ``bootstrap()`` finds it."""
    postgresql = _local_postgresql(fresh_postgres_server)
    try:
        yield postgresql
    finally:
        postgresql.close()


@pytest.fixture
def mpp_cluster(mpp_postgresql: PostgresqlLike) -> Cluster:
    """A one-member DCS view whose leader is the ``mpp_postgresql`` node (a primary); no workers."""
    from .host import cluster, member

    url = urlsplit(mpp_postgresql.connection_string)
    return cluster(
        member(
            mpp_postgresql.name,
            url.hostname or "127.0.0.1",
            url.port or 5432,
            role="primary",
            dbname=mpp_postgresql.database,
        )
    )
