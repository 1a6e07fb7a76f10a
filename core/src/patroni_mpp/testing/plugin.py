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
with ``-p patroni_mpp.testing.plugin``; a conformance class stops the collection with that fix when the
plugin is missing.

Before any test runs, the plugin checks once what the selected tests' servers need
(:func:`patroni_mpp.testing.postgres.check_environment`): a wrong ``PATRONI_MPP_PG_BINDIR``, or, as
root, a ``TMPDIR`` the ``postgres`` user cannot enter, ends the run with one ``ERROR:`` line saying
the fix.

A non-daemon thread still running after a conformance test (an engine's thread that nothing stops)
would keep the interpreter from exiting for ever. The plugin names such threads in the summary and,
when it is not nested in another pytest run of the same process, ends the process with ``os._exit``
(the run's exit status, 1 when that was 0) once pytest has written its reports, instead of waiting.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any
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


NOT_LOADED = (
    "the pytest plugin patroni_mpp is not loaded (is PYTEST_DISABLE_PLUGIN_AUTOLOAD set?): run pytest with "
    "-p patroni_mpp.testing.plugin, or unset PYTEST_DISABLE_PLUGIN_AUTOLOAD"
)
"""What a conformance class says when it is collected without this plugin."""

SERVER_FIXTURES = frozenset({"postgres_server", "fresh_postgres_server"})
"""The fixtures that start temporary servers: tests asking for them get the environment check."""

EXIT_JOIN_BUDGET = 1.0
"""Seconds, in all, that leftover non-daemon threads get to end before the summary names them."""

_LEFT_RUNNING = pytest.StashKey[list[threading.Thread]]()
_EXIT_STATUS = pytest.StashKey[int]()
_ACTIVE: list[pytest.Config] = []
"""Configurations of this process's running pytest sessions (more than one when nested, as pytester does)."""


def check_loaded(config: pytest.Config) -> None:
    """Stop the collection with :data:`NOT_LOADED` when this plugin is not registered with ``config``.

    :param config: the pytest configuration.
    """
    if not config.pluginmanager.is_registered(sys.modules[__name__]):
        pytest.fail(NOT_LOADED, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mpp_conformance`` marker that every conformance test carries.

    :param config: the pytest configuration.
    """
    config.addinivalue_line("markers", "mpp_conformance: a check of the patroni-mpp engine conformance suite")
    _ACTIVE.append(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check once, before the first test, what the selected tests' temporary servers need.

    :param config: the pytest configuration.
    :param items: the selected tests.
    :raises pytest.UsageError: with the fix, when the environment keeps servers from starting.
    """
    if not any(SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())) for item in items):
        return
    from .environment import PrerequisiteError
    from .postgres import PostgresUnavailable, check_environment

    try:
        check_environment()
    except PostgresUnavailable:
        return  # the fixtures skip, or fail when PostgreSQL is required, with the reason
    except PrerequisiteError as exc:
        raise pytest.UsageError(f"patroni_mpp: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, Any, Any]:
    """Note the non-daemon threads that a conformance test leaves running.

    :param item: the test.
    """
    if item.get_closest_marker("mpp_conformance") is None:
        return (yield)
    from .conformance_checks.threads import blocking_threads

    before = set(threading.enumerate())
    try:
        return (yield)
    finally:
        item.config.stash.setdefault(_LEFT_RUNNING, []).extend(blocking_threads(before))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Give the non-daemon threads that conformance tests left running a last short wait.

    :param session: the pytest session.
    :param exitstatus: the run's exit status.
    """
    stash = session.config.stash
    stash[_EXIT_STATUS] = int(exitstatus)
    left = [thread for thread in stash.get(_LEFT_RUNNING, []) if thread.is_alive()]
    if left:
        from .conformance_checks.threads import join_all

        left = join_all(left, EXIT_JOIN_BUDGET)
    stash[_LEFT_RUNNING] = left


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Name the non-daemon threads that conformance tests left running (the run ends without them).

    :param terminalreporter: pytest's terminal reporter.
    :param config: the pytest configuration.
    """
    left = config.stash.get(_LEFT_RUNNING, [])
    if left:
        terminalreporter.write_line(
            f"patroni_mpp: the engine left {len(left)} non-daemon threads running, named "
            f"{sorted({t.name for t in left})!r}; the interpreter would wait for them for ever, so the run "
            "ends without them. Start them with daemon=True and stop them in stop_handler().",
            red=True,
        )


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process without waiting when a conformance test left a non-daemon thread running.

    Only the outermost session of the process does: a nested one (pytester) leaves that to it.

    :param config: the pytest configuration.
    """
    outermost = len(_ACTIVE) == 1 and _ACTIVE[0] is config
    if config in _ACTIVE:
        _ACTIVE.remove(config)
    if outermost and any(thread.is_alive() for thread in config.stash.get(_LEFT_RUNNING, [])):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash.get(_EXIT_STATUS, 0) or pytest.ExitCode.TESTS_FAILED)


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
