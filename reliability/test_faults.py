"""Faults on real PostgreSQL (issue part 3).

A planned switchover of worker group 1 (n1 -> n2: ``before_demote``, ``before_promote``,
``after_promote``) with a fault injected before, during or after the event transaction: the metadata
connection killed (``pg_terminate_backend``), the server restarted, metadata functions raising, the
server slower than the event timeout. The members are servers real Citus can reach
(``CitusTestServer.node_address``). Each time:

* the handler recovers without a restart (same handler object, its thread alive);
* no transaction of the handler stays open past its deadline (``pg_stat_activity``);
* ``pg_dist_node`` converges to the DCS view at the next reconciliation;
* nothing that was committed is lost (rows the handler wrote stay as the DCS view says).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from patroni_mpp.testing.logs import LogRecorder
from patroni_mpp.testing.polling import DEADLINE, wait_for
from patroni_mpp_citus.testing.faults import broken_function
from patroni_mpp_citus.testing.fixture_support import assert_metadata_settles, citus_test_server, reset_citus
from patroni_mpp_citus.testing.formation import Formation, formation_of, two_node_group
from patroni_mpp_citus.testing.server import CitusTestServer


@pytest.fixture(scope="module")
def fault_server() -> Iterator[CitusTestServer]:
    """A server of this module's own: these tests restart it and break its functions."""
    with citus_test_server() as server:
        yield server


@pytest.fixture
def formation(fault_server: CitusTestServer) -> Iterator[Formation]:
    reset_citus(fault_server)
    with formation_of(fault_server) as made:
        two_node_group(made, 1, 1)
        yield made
        assert made.handler.worker.alive, "the worker thread died"
    assert_metadata_settles(fault_server)


def demote(formation: Formation, timeout: float = 30) -> None:
    """n1 (the leader) announces its demotion."""
    formation.event("before_demote", 1, "n1", timeout=timeout)


def promote(formation: Formation, timeout: float = 30) -> None:
    """n2 is about to be promoted (the DCS leader is n2 already; n1 is stopped)."""
    formation.set_group(1, formation.node(2, role="replica"), formation.node(1, state="stopped"))
    formation.event("before_promote", 1, "n2", timeout=timeout)


def promoted(formation: Formation, timeout: float = 30) -> None:
    """n2 runs as a primary."""
    formation.set_group(1, formation.node(2, role="primary"), formation.node(1, state="stopped"))
    formation.event("after_promote", 1, "n2", timeout=timeout)


def rejoined(formation: Formation) -> None:
    """n1 is back as a running replica."""
    formation.set_group(1, formation.node(2, role="primary"), formation.node(1))


def settle(formation: Formation) -> None:
    """The final checks of every fault: convergence, no open transaction, the thread alive."""
    rejoined(formation)
    assert formation.converge(), (formation.rows(), formation.expected_rows())
    assert (1, *formation.address(2), "primary") in formation.rows()
    assert (1, *formation.address(1), "secondary") in formation.rows()
    assert wait_for(lambda: formation.open_transactions() == []), formation.open_transactions()
    assert formation.handler.worker.alive


def in_flight(formation: Formation) -> bool:
    state = formation.handler.worker.state
    with state.cond:
        return state.in_flight is not None


def test_connection_killed_before_the_event_transaction(formation: Formation) -> None:
    assert formation.terminate_backends() >= 1
    demote(formation)
    promote(formation)
    promoted(formation)
    settle(formation)


def test_connection_killed_during_the_event_transaction(formation: Formation) -> None:
    demote(formation)
    assert in_flight(formation)
    assert formation.open_transactions(), "before_demote should hold a transaction open"
    assert formation.terminate_backends() == 1
    promote(formation)
    promoted(formation)
    settle(formation)


def test_connection_killed_after_the_event_transaction(formation: Formation) -> None:
    demote(formation)
    promote(formation)
    promoted(formation)
    assert formation.wait_idle()
    assert formation.terminate_backends() == 1
    settle(formation)


def test_server_restarted_in_the_middle_of_a_switchover(formation: Formation) -> None:
    demote(formation)
    assert in_flight(formation)
    formation.citus.server.restart()
    promote(formation)
    promoted(formation)
    settle(formation)


def test_deadline_without_follow_up_ends_the_transaction(formation: Formation) -> None:
    demote(formation, timeout=1)
    assert formation.open_transactions()
    # nothing else happens in the formation: the pause must still end at its deadline
    assert wait_for(lambda: formation.open_transactions() == []), "transaction open past its deadline"
    promote(formation)
    promoted(formation)
    settle(formation)


@pytest.mark.parametrize("function", ["citus_update_node", "citus_add_node"])
def test_metadata_function_raising(formation: Formation, record_logs: LogRecorder, function: str) -> None:
    with broken_function(formation.citus, function):
        demote(formation)  # citus_update_node fails: the caller is answered, nothing stays open
        promote(formation)
        promoted(formation)
        rejoined(formation)
        formation.sync()
        assert formation.wait_idle()
        assert wait_for(lambda: formation.open_transactions() == [])
        assert formation.handler.worker.alive
    errors = record_logs.messages("patroni_mpp_citus", 40)
    assert any(f"injected failure of {function}" in m for m in errors) or function == "citus_add_node", errors
    settle(formation)


def test_metadata_table_unreadable(formation: Formation, record_logs: LogRecorder) -> None:
    with formation.citus.connect(application_name="reliability-fault") as conn:
        conn.execute("ALTER TABLE pg_catalog.pg_dist_node RENAME TO pg_dist_node_hidden")
        try:
            formation.handler.schedule_cache_rebuild()
            rejoined(formation)
            formation.sync()
            assert wait_for(lambda: formation.handler.worker.reload_failures >= 2)
            assert formation.handler.worker.alive
        finally:
            conn.execute("ALTER TABLE pg_catalog.pg_dist_node_hidden RENAME TO pg_dist_node")
    settle(formation)
    assert any("Cannot read pg_dist_node" in m for m in record_logs.messages("patroni_mpp_citus", 30))


def run_in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="reliability-rest", daemon=True)
    thread.start()
    return thread


def test_server_slower_than_the_event_timeout(formation: Formation) -> None:
    """citus_update_node blocks (a lock held elsewhere) longer than the event's timeout.

    The engine bounds each statement of an event transaction by the time left before its deadline,
    so the blocked statement is cancelled and the transaction rolled back at the deadline.
    """
    blocker = formation.citus.connect(autocommit=False, application_name="reliability-blocker")
    try:
        blocker.execute("LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE")
        started = time.monotonic()
        rest = run_in_thread(lambda: demote(formation, timeout=1))
        # the REST thread is answered at the event's timeout, whatever the server does
        rest.join(DEADLINE)
        assert not rest.is_alive(), "before_demote did not return"
        # once the deadline passed, the handler's transaction must end although its statement waits
        assert wait_for(lambda: time.monotonic() > started + 1)
        assert wait_for(lambda: formation.open_transactions() == [], timeout=15), (
            "the handler's transaction stays open past its deadline while its statement waits: "
            f"{formation.open_transactions()}"
        )
    finally:
        blocker.rollback()
        blocker.close()
    promote(formation)
    promoted(formation)
    settle(formation)


def test_transaction_ends_when_the_client_dies(formation: Formation) -> None:
    """The event's caller never comes back (no before_promote): only the deadline ends the pause."""
    demote(formation, timeout=2)
    assert wait_for(lambda: not in_flight(formation))
    assert wait_for(lambda: formation.open_transactions() == [])
    # the committed state is intact: n1 is still the registered primary
    assert (1, *formation.address(1), "primary") in formation.rows()
    settle(formation)


def test_killed_connection_reopens_for_reconciliation(fault_server: CitusTestServer) -> None:
    """A metadata connection killed while idle costs at most one failed statement."""
    reset_citus(fault_server)
    with formation_of(fault_server) as made:
        two_node_group(made, 1, 1)
        for index in range(3, 6):
            assert made.terminate_backends() == 1
            made.set_group(index - 1, made.node(index, role="primary"))
            assert made.converge()
        with psycopg.connect(autocommit=True, **fault_server.conninfo()) as conn:
            count = conn.execute("SELECT count(*) FROM pg_catalog.pg_dist_node").fetchone()
        assert count is not None and count[0] == 1 + 2 + 3
        assert made.rows() == made.expected_rows()
    assert_metadata_settles(fault_server)
