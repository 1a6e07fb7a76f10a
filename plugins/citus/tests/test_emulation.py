"""The SQL emulation of Citus's node-metadata API: its internals, the statement log, and mode selection.

Tests that need the ``emulated_only`` fixture check emulation internals and skip on real Citus; the others
run on both modes.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_citus.testing.emulation import (
    Connection,
    EmulationError,
    call_count,
    call_log,
    emulation_sql,
    install_emulation,
    is_emulated,
    is_real_citus,
    metadata_unsynced,
    register_reachable_node,
    set_call_log,
    sync_metadata,
    wait_metadata_synced,
)
from patroni_mpp_citus.testing.metadata_api import (
    Address,
    add_node,
    rows,
    scalar,
    secondary_of_group1,
    update_node,
)
from patroni_mpp_citus.testing.server import (
    MAINTENANCE_APPLICATION_NAME,
    CitusTestServer,
    CitusUnavailableError,
    resolve_mode,
)
from patroni_mpp_citus.testing.statement_log import StatementLog, StatementLogView

# -- emulation internals --------------------------------------------------------------------------


def test_install_is_idempotent(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    """Emulation only: installing the emulation."""
    before = rows(citus_conn)
    install_emulation(citus_conn)
    assert rows(citus_conn) == before
    assert is_emulated(citus_conn) and not is_real_citus(citus_conn)
    assert "citus_update_node" in emulation_sql()


def test_maintenance_daemon_thread(
    citus: CitusTestServer,
    citus_conn: Connection,
    group1: int,
    statement_log: StatementLogView,
    emulated_only: None,
) -> None:
    """Emulation only: the thread standing for Citus's maintenance daemon."""
    daemon = citus.maintenance
    assert daemon is not None and daemon.running
    rounds = daemon.rounds
    assert wait_for(lambda: daemon.rounds > rounds + 2, timeout=5)
    # an uncommitted update holds pg_dist_node: a round skips it, as Citus's daemon does
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_of_group1(citus_conn), "10.9.9.9", 5432)
    with citus.connect(application_name="citus-test-other") as other:
        assert sync_metadata(other) == 0
    citus_conn.execute("COMMIT")
    assert citus.wait_metadata_synced(5)
    # its statements stay out of the statement log
    assert statement_log.statements(application_name=MAINTENANCE_APPLICATION_NAME) == []
    calls = [e for e in statement_log.entries() if "sync_metadata" in e.sql]
    assert [e.application_name for e in calls] == ["citus-test-other"]  # only this test's own call


def test_sync_metadata_needs_a_registered_address(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    """Emulation only: one round of the emulated daemon, run by hand.

    The daemon thread is held off meanwhile: it would sync the node first once it is back.
    """
    assert citus.maintenance is not None
    citus.maintenance.stop()
    try:
        citus.stop_node(1)
        update_node(citus_conn, secondary_of_group1(citus_conn), "10.9.9.9", 5432)
        assert not citus.wait_metadata_synced(0.2)
        assert sync_metadata(citus_conn) == 0
        citus.start_node(1)
        assert sync_metadata(citus_conn) == 1
        assert metadata_unsynced(citus_conn) is None
    finally:
        citus.maintenance.start()


def test_registered_address_is_reachable(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address, emulated_only: None
) -> None:
    """Emulation only: Citus connects for itself, the emulation knows the registered addresses."""
    with pytest.raises(psycopg.errors.ConnectionFailure):
        add_node(citus_conn, ("10.7.7.7", 6543), 1)
    citus.add_reachable_address("10.7.7.7", 6543)
    add_node(citus_conn, ("10.7.7.7", 6543), 1)


def test_call_log_and_counter(citus_conn: Connection, group1: int, emulated_only: None) -> None:
    """Emulation only: the call log has no Citus counterpart."""
    entries = call_log(citus_conn)
    assert [e.fn for e in entries] == [
        "citus_set_coordinator_host",
        "citus_add_node",
        "citus_add_node",
    ]
    assert entries[1].args == "'192.0.2.1', 5432, 1, 'primary', 'default'"
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, "x", 1)
    citus_conn.execute("ROLLBACK")
    assert len(call_log(citus_conn)) == 3  # the rolled-back call left no entry
    assert call_count(citus_conn) == 4  # but it was counted
    set_call_log(citus_conn, False)
    update_node(citus_conn, group1, "x", 1)
    assert len(call_log(citus_conn, "citus_update_node")) == 0
    assert call_count(citus_conn) == 5


def test_reset_reports_sessions_left_in_a_transaction(citus: CitusTestServer, emulated_only: None) -> None:
    """Emulation only: its reset TRUNCATEs, which waits for a reader; Citus's removals do not."""
    with citus.connect(autocommit=False, application_name="forgotten") as open_tx:
        open_tx.execute("SELECT count(*) FROM pg_catalog.pg_dist_node")
        with pytest.raises(RuntimeError, match="forgotten"):
            citus.reset(lock_timeout_ms=50)
        open_tx.rollback()
    citus.reset()


def test_client_write_and_read_count(citus: CitusTestServer, emulated_only: None) -> None:
    """Emulation only: on Citus a read counts one key's rows (0 or 1), and needs a registered group."""
    assert citus.client_read(3) == 0
    citus.client_write(3, "a")
    citus.client_write(3, "b")
    assert citus.client_read(3) == 2


def test_reset_restarts_ids(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    """Emulation only: Citus never restarts its node ids."""
    citus.reset()
    assert rows(citus_conn) == []
    assert add_node(citus_conn, citus.node_address(5)) == 1
    assert rows(citus_conn)[0][1] == 1


def test_statement_log_sees_engine_sql(
    citus: CitusTestServer, statement_log: StatementLogView, group1: int
) -> None:
    with citus.connect(application_name="engine-under-test") as conn:
        conn.execute("BEGIN")
        update_node(conn, group1, "renamed", 5432)
        conn.execute("ROLLBACK")
    assert statement_log.statements(application_name="engine-under-test") == [
        "BEGIN",
        f"SELECT pg_catalog.citus_update_node('{group1}', 'renamed', '5432', true, 10000)",
        "ROLLBACK",
    ]
    mark = statement_log.mark()
    assert statement_log.statements(mark, application_name="engine-under-test") == []


def test_statement_log_parses_multiline_and_params(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        "2025-01-01 00:00:00.000 UTC [10] app=a db=citus: LOG:  statement: SELECT\n"
        "\t1\n"
        "2025-01-01 00:00:00.001 UTC [11] app=b db=citus: LOG:  execute <unnamed>: SELECT $1, $2,"
        " $10\n"
        "2025-01-01 00:00:00.001 UTC [11] app=b db=citus: DETAIL:  parameters: "
        "$1 = 'x''y', $2 = NULL,"
        " $10 = '3'\n"
        "2025-01-01 00:00:00.002 UTC [12] app=b db=other: ERROR:  boom\n"
        "2025-01-01 00:00:00.002 UTC [12] app=b db=other: STATEMENT:  SELECT boom\n"
    )
    parsed = StatementLog(log)
    assert parsed.statements() == ["SELECT 1", "SELECT 'x''y', NULL, '3'"]
    assert parsed.statements(application_name="a") == ["SELECT 1"]
    assert parsed.statements(database="other") == []
    assert parsed.entries(application_name="b")[0].params == {1: "'x''y'", 2: "NULL", 10: "'3'"}


def test_install_refused_on_real_citus(citus_conn: Connection, citus_mode: str) -> None:
    if citus_mode != "real":
        pytest.skip("needs real Citus")
    with pytest.raises(EmulationError):
        install_emulation(citus_conn)


def test_new_databases_inherit_the_emulation(citus_server: CitusTestServer, emulated_only: None) -> None:
    """Emulation only: where the emulation is installed."""
    # the engine's bootstrap creates its database and runs CREATE EXTENSION IF NOT EXISTS citus
    server: PostgresServer = citus_server.server
    server.drop_database("emu_bootstrap")
    server.execute("CREATE DATABASE emu_bootstrap")
    try:
        with server.connect("emu_bootstrap") as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
            assert is_emulated(conn) and not is_real_citus(conn)
            conn.execute("SELECT pg_catalog.citus_set_coordinator_host('10.1.0.1', 5432)")
            conn.execute("INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, current_user, 'password=x')")
            assert scalar(conn, "SELECT count(*) FROM pg_catalog.pg_dist_node") == 1
    finally:
        server.drop_database("emu_bootstrap")


def test_emulation_can_live_in_any_database(citus_server: CitusTestServer, emulated_only: None) -> None:
    """Emulation only: where the emulation is installed; the daemon serves every database."""
    server: PostgresServer = citus_server.server
    server.drop_database("emu_scratch")
    server.execute("CREATE DATABASE emu_scratch")
    try:
        with server.connect("emu_scratch") as conn:
            install_emulation(conn)
            install_emulation(conn)
            assert is_emulated(conn)
            with pytest.raises(psycopg.errors.ConnectionFailure):
                conn.execute("SELECT pg_catalog.citus_add_node('h', 1, 3)")
            register_reachable_node(conn, "h", 1)
            assert scalar(conn, "SELECT pg_catalog.citus_add_node('h', 1, 3)") == 1
            assert scalar(conn, "SELECT pg_catalog.citus_add_node('s', 1, 3, 'secondary')") == 2
            conn.execute("SELECT pg_catalog.citus_update_node(2, 's2', 1)")
            assert metadata_unsynced(conn) == "h:1"
            # the emulated maintenance daemon also serves the other databases (every 0.5 s)
            assert wait_metadata_synced(conn, 10)
    finally:
        server.drop_database("emu_scratch")


# -- mode selection --------------------------------------------------------------------------------


def test_resolve_mode() -> None:
    assert resolve_mode("auto", True) == "real"
    assert resolve_mode("auto", False) == "emulated"
    assert resolve_mode("emulated", True) == "emulated"
    assert resolve_mode("real", True) == "real"
    with pytest.raises(CitusUnavailableError, match="PATRONI_MPP_TEST_CITUS=real"):
        resolve_mode("real", False)
