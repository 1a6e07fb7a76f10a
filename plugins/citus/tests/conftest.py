"""Shared fixtures of the Citus engine tests: a real PostgreSQL server with real or emulated Citus.

Choose with ``PATRONI_MPP_TEST_CITUS=real|emulated|auto`` (default ``auto``: real Citus when the
PostgreSQL installation has the citus extension, else the SQL emulation). ``real`` without the
extension fails the session's Citus tests with a clear message.

Fixtures:

* ``citus_server`` (session): the started :class:`CitusTestServer` (database ``citus``).
* ``citus_mode`` (session): ``"real"`` or ``"emulated"``.
* ``citus`` (function): ``citus_server`` after emptying ``pg_dist_node``/``pg_dist_authinfo``.
* ``citus_conn`` (function): an auto-commit connection to ``citus`` (after the reset), closed after.
* ``statement_log`` (function): a :class:`StatementLog` view that only shows this test's statements.
* ``client_ops`` (function): start background client writes/reads; all are closed after the test.
* ``emulated_only`` (function): skips the test on real Citus.
* ``formation`` (function): a coordinator handler on the server (a
  :class:`~patroni_mpp_citus.testing.formation.Formation`), closed after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.fixture_support import citus_test_server
from patroni_mpp_citus.testing.formation import Formation, engine_threads, make_formation
from patroni_mpp_citus.testing.metadata_api import Address, add_node
from patroni_mpp_citus.testing.reporting import record_citus_mode
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps, Mode
from patroni_mpp_citus.testing.statement_log import StatementLogView


@pytest.fixture(scope="session")
def citus_server() -> Iterator[CitusTestServer]:
    """The session's Citus test server; stopped (by pid) at the end of the session."""
    with citus_test_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _citus_mode_property(request: pytest.FixtureRequest) -> None:
    """Tests on the Citus server say in the JUnit report whether it was real Citus."""
    record_citus_mode(request)


@pytest.fixture(scope="session")
def citus_mode(citus_server: CitusTestServer) -> Mode:
    """``"real"`` or ``"emulated"``."""
    return citus_server.mode


@pytest.fixture
def citus(citus_server: CitusTestServer) -> CitusTestServer:
    """The Citus test server with empty node metadata (reset before the test)."""
    citus_server.reset()
    return citus_server


@pytest.fixture
def citus_conn(citus: CitusTestServer) -> Iterator[Connection]:
    """An auto-commit superuser connection to database ``citus`` (metadata emptied first)."""
    with citus.connect(application_name="citus-test") as conn:
        yield conn


@pytest.fixture
def statement_log(citus: CitusTestServer) -> StatementLogView:
    """The statements the server logs from now on (filter by ``application_name=...``)."""
    return StatementLogView(citus.statement_log, citus.statement_log.mark())


@pytest.fixture
def client_ops(citus: CitusTestServer) -> Iterator[ClientOps]:
    """Background client writes/reads (``client_ops.write(g)`` / ``client_ops.read(g)``)."""
    ops = ClientOps(citus)
    try:
        yield ops
    finally:
        ops.close()


@pytest.fixture
def emulated_only(citus_mode: Mode) -> None:
    """Skip the test unless it runs against the emulation."""
    if citus_mode != "emulated":
        pytest.skip("tests an emulation-internal feature")


@pytest.fixture
def formation(citus: CitusTestServer) -> Iterator[Formation]:
    """A coordinator handler on the Citus test server; closed after the test, leaving no engine thread."""
    made = make_formation(citus)
    try:
        yield made
    finally:
        made.close()
        assert not engine_threads(), "a thread of the engine is still running"


# -- groups registered with the node-metadata API (the tests of its facts) ------------------------


@pytest.fixture
def coordinator(citus: CitusTestServer, citus_conn: Connection) -> Address:
    """The coordinator registered as group 0 (real Citus wants it before workers)."""
    host, port = citus.coordinator_address()
    citus_conn.execute("SELECT pg_catalog.citus_set_coordinator_host(%s, %s)", (host, port))
    return (host, port)


@pytest.fixture
def group1(citus: CitusTestServer, citus_conn: Connection, coordinator: Address) -> Iterator[int]:
    """Group 1: primary at node address 1, secondary at node address 2; yields the primary's id."""
    primary = add_node(citus_conn, citus.node_address(1), 1)
    add_node(citus_conn, citus.node_address(2), 1, "secondary")
    yield primary


@pytest.fixture
def group2(citus: CitusTestServer, citus_conn: Connection, group1: int) -> int:
    """Group 2 besides group 1: its primary at node address 3 (a second metadata worker); its id."""
    return add_node(citus_conn, citus.node_address(3), 2)
