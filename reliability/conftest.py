"""Fixtures of the reliability suite: a real PostgreSQL server with (real or emulated) Citus.

The server comes from :mod:`patroni_mpp_citus.testing.server` (the same helper the Citus engine's
own tests use): ``log_statement = 'all'``, so every statement the handler sends can be read back.

Fixtures:

* ``citus_server`` (session): the started server, stopped (by pid) at the end of the session.
* ``citus`` (function): the server with empty node metadata (on real Citus: once its metadata is
  synced, see :func:`~patroni_mpp_citus.testing.fixture_support.reset_citus`); at its teardown,
  real Citus must be able to sync what the test left
  (:func:`~patroni_mpp_citus.testing.fixture_support.assert_metadata_settles`).
* ``statement_log`` (function): the statements logged from now on.
* ``record_logs`` (function): every log record (all loggers, DEBUG and up) of the test.
* ``soak_seconds``: duration of the soak (``--soak-seconds`` or ``$PATRONI_MPP_SOAK_SECONDS``, 120).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from patroni_mpp.testing.logs import LogRecorder
from patroni_mpp_citus.testing.fixture_support import assert_metadata_settles, citus_test_server, reset_citus
from patroni_mpp_citus.testing.formation import no_engine_threads
from patroni_mpp_citus.testing.reporting import record_citus_mode
from patroni_mpp_citus.testing.server import CitusTestServer
from patroni_mpp_citus.testing.statement_log import StatementLogView

# CI runs the property tests with a fixed seed, so that a submission's result does not depend on
# which inputs one run happened to draw; local runs keep exploring new inputs.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

SOAK_ENV = "PATRONI_MPP_SOAK_SECONDS"
DEFAULT_SOAK_SECONDS = 120.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--soak-seconds``: how long the soak test runs."""
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=None,
        help=f"duration of the soak test (default: ${SOAK_ENV} or {DEFAULT_SOAK_SECONDS:g})",
    )


@pytest.fixture(scope="session")
def soak_seconds(request: pytest.FixtureRequest) -> float:
    """Seconds the soak test runs."""
    option = request.config.getoption("--soak-seconds")
    if option is not None:
        return float(option)
    return float(os.environ.get(SOAK_ENV, DEFAULT_SOAK_SECONDS))


@pytest.fixture(autouse=True)
def _citus_mode_property(request: pytest.FixtureRequest) -> None:
    """Tests on the Citus server say in the JUnit report whether it was real Citus."""
    record_citus_mode(request)


@pytest.fixture(scope="session")
def citus_server() -> Iterator[CitusTestServer]:
    """The session's Citus test server."""
    with citus_test_server() as server:
        yield server


@pytest.fixture
def citus(citus_server: CitusTestServer) -> Iterator[CitusTestServer]:
    """The server with empty ``pg_dist_node`` / ``pg_dist_authinfo``."""
    reset_citus(citus_server)
    yield citus_server
    assert_metadata_settles(citus_server)


@pytest.fixture
def statement_log(citus: CitusTestServer) -> StatementLogView:
    """Statements logged since the test started."""
    return StatementLogView(citus.statement_log, citus.statement_log.mark())


@pytest.fixture
def record_logs() -> Iterator[LogRecorder]:
    """Every log record of the test, of every logger, from DEBUG up."""
    recorder = LogRecorder()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(old_level)


@pytest.fixture(autouse=True, scope="module")
def _no_thread_left() -> Iterator[None]:
    """Every test module stops the engine threads it started (module fixtures included)."""
    yield
    assert no_engine_threads(), "a thread of the engine is still running after the test"
