"""The coordinator's handler on a real PostgreSQL server: failures, recovery, closing, cache rebuilds.

Behaviours of Patroni's own Citus handler tests, and those of the deliberate differences the package README
lists, checked against ``pg_dist_node`` and against the statements the server logged for the handler's
``citus`` connection, through the handler's real worker thread. Worker nodes are addresses of the test
server's ``node_address()`` (never contacted by the emulation).
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from patroni_mpp.testing.logs import records
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus._model import AFTER_PROMOTE
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.formation import (
    APP,
    Formation,
    engine_threads,
    make_formation,
    node,
    register,
    two_node_group,
)
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps
from patroni_mpp_citus.testing.statement_log import StatementLogView

# -- failures --------------------------------------------------------------------------------------


def test_processing_error_is_logged_and_recovered(
    formation: Formation, citus_conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing statement aborts the task; the next reconciliation re-reads and fixes."""
    citus = formation.citus
    formation.sync()
    assert formation.wait_idle()
    # behind the handler's back, group 2 gets a primary: the cached state is stale
    register(citus_conn, *citus.node_address(7), 2)
    formation.set_group(2, node(citus, 3, "n3", role="primary"))
    formation.sync()
    assert wait_for(lambda: records(caplog, "ERROR", "Exception when working with pg_dist_node: "))
    assert len(records(caplog, "ERROR", "Exception when working with pg_dist_node: ")) == 1
    assert formation.wait_idle()
    formation.sync()
    assert formation.wait_rows(2, {(*citus.node_address(3), "primary")})


def test_killed_metadata_connection_is_recovered(
    formation: Formation, citus_conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    citus = formation.citus
    two_node_group(formation)
    killed = citus_conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (APP,),
    ).fetchall()
    assert killed == [(True,)]
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"), node(citus, 3, "n3"))

    def converged() -> bool:
        formation.sync()  # one HA cycle per poll
        return formation.group_rows(1) == {
            (*citus.node_address(1), "primary"),
            (*citus.node_address(2), "secondary"),
            (*citus.node_address(3), "secondary"),
        }

    assert wait_for(converged, interval=0.2)
    assert records(caplog, "ERROR", "Exception when executing query")


def test_failed_reads_back_off_and_are_logged_once(
    citus: CitusTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that cannot be read: the worker retries with a back-off (Patroni retried in a loop)."""
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    database = "citus_missing_db"
    formation = make_formation(citus, database=database)
    try:
        formation.sync()
        worker = formation.handler.worker
        assert wait_for(lambda: worker.reload_failures >= 4)
        errors = records(caplog, "ERROR", "Exception when executing query")
        assert len(errors) == 1
        assert str(errors[0].args[0]).startswith("SELECT groupid, nodename, ")
        assert len(records(caplog, "WARNING", "Cannot read pg_dist_node")) == 1
        assert worker.state.reload
        with citus.server.connect() as conn:
            conn.execute(f'CREATE DATABASE "{database}"')  # emulated: from template1, with Citus
        if citus.is_real:
            citus.server.execute("CREATE EXTENSION IF NOT EXISTS citus", dbname=database)
        assert wait_for(lambda: worker.reload_failures == 0)
        assert len(records(caplog, "INFO", "pg_dist_node read again after")) == 1
        with psycopg.connect(autocommit=True, **citus.server.conninfo(database)) as conn:
            assert wait_for(
                lambda: conn.execute("SELECT count(*) FROM pg_catalog.pg_dist_node").fetchone() == (1,)
            )
        assert len(records(caplog, "ERROR", "Exception when executing query")) == 1
    finally:
        formation.close()
        citus.server.drop_database(database)
    assert not engine_threads()


def test_close_rolls_back_and_stops(citus: CitusTestServer, client_ops: ClientOps) -> None:
    formation = make_formation(citus)
    try:
        two_node_group(formation)
        citus.prepare_client_traffic(1)
        formation.event("before_demote", 1, "n1")
        write = client_ops.write(1)
        assert write.wait_until_waiting()
    finally:
        formation.close()
    assert not engine_threads()
    assert write.join() and write.error is None


def test_after_promote_task_is_cached_as_applied(formation: Formation) -> None:
    two_node_group(formation)
    cached = formation.handler.worker.state.cache[1]
    assert cached.event == AFTER_PROMOTE
    assert all(row.nodeid is not None for row in cached.group)
    assert cached.group.failover is False


def test_schedule_cache_rebuild_rereads_the_table_once(
    formation: Formation, statement_log: StatementLogView
) -> None:
    two_node_group(formation)
    mark = statement_log.mark()
    formation.handler.schedule_cache_rebuild()
    formation.sync()  # a pending reload admits every task; equal states are dropped after the read
    assert formation.wait_idle()
    formation.sync()
    assert handler_statements(statement_log, mark, loads=True) == [("load",)]
