"""The coordinator's handler on a real PostgreSQL server: event deadlines, waking ``before_demote`` callers.

Behaviours of Patroni's own Citus handler tests, and those of the deliberate differences the package README
lists, checked against ``pg_dist_node`` and against the statements the server logged for the handler's
``citus`` connection, through the handler's real worker thread. Worker nodes are addresses of the test
server's ``node_address()`` (never contacted by the emulation).
"""

from __future__ import annotations

from unittest.mock import ANY

import pytest
from patroni_mpp.testing.logs import records
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus._model import BEFORE_DEMOTE, Outcome
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.formation import APP, Formation, in_flight, node, nodeid, two_node_group
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps
from patroni_mpp_citus.testing.statement_log import StatementLogView

# -- deadlines -------------------------------------------------------------------------------------


def test_deadline_rollback_lets_other_groups_go_on(
    formation: Formation,
    citus_conn: Connection,
    statement_log: StatementLogView,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A transaction past its deadline is rolled back, then the waiting group goes on."""
    citus = formation.citus
    two_node_group(formation)
    (ha, pa) = citus.node_address(1)
    p = nodeid(citus_conn, ha, pa)
    mark = statement_log.mark()
    formation.event("before_demote", 1, "n1", timeout=1)
    formation.set_group(2, node(citus, 3, "n3", role="primary"))
    task = formation.submit("after_promote", 2, "n3")
    assert task is not None
    assert task.wait(30) and task.outcome is Outcome.APPLIED
    rolled_back = records(caplog, "WARNING", "Rolling back transaction")
    assert len(rolled_back) == 1
    assert repr(rolled_back[0].args[0]).startswith("Task(before_demote, group=1")
    statements = handler_statements(statement_log, mark)
    assert statements[:3] == [("BEGIN",), ("update", p, f"{ha}-demoted", pa), ("ROLLBACK",)]
    assert statements[3] == ("add", *citus.node_address(3), 2, "primary")
    assert formation.group_rows(1) == {(ha, pa, "primary"), (*citus.node_address(2), "secondary")}


def test_rollback_at_the_deadline_with_nothing_else_queued(
    formation: Formation,
    statement_log: StatementLogView,
    caplog: pytest.LogCaptureFixture,
    client_ops: ClientOps,
) -> None:
    """Quirk 2: client traffic is never paused past the deadline, even in a quiet formation."""
    two_node_group(formation)
    formation.citus.prepare_client_traffic(1)
    mark = statement_log.mark()
    formation.event("before_demote", 1, "n1", timeout=1)
    write = client_ops.write(1)
    assert write.join(), "the paused group must be released at the deadline"
    assert write.error is None
    assert handler_statements(statement_log, mark)[-1] == ("ROLLBACK",)
    assert len(records(caplog, "WARNING", "Rolling back transaction")) == 1
    assert wait_for(lambda: in_flight(formation) is None)


def open_transactions(citus: CitusTestServer) -> list[tuple[int, str]]:
    """``(pid, state)`` of the handler's sessions that have a transaction open."""
    with citus.connect(application_name="citus-test-probe") as conn:
        rows = conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s AND xact_start IS NOT NULL",
            (APP,),
        ).fetchall()
    return [(int(pid), str(state)) for pid, state in rows]


def test_statements_of_an_event_transaction_are_bounded_by_its_deadline(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """Each statement inside the transaction gets the time left (ms) as its statement_timeout."""
    two_node_group(formation)
    ha, pa = formation.citus.node_address(1)
    p = nodeid(citus_conn, ha, pa)
    mark = statement_log.mark()
    formation.event("before_demote", 1, "n1", timeout=30)
    formation.event("after_promote", 1, "n1", timeout=30)
    assert formation.wait_idle()
    statements = handler_statements(statement_log, mark, bounds=True)
    assert [s[0] for s in statements] == ["BEGIN", "bound", "update", "bound", "update", "COMMIT"]
    assert statements[2] == ("update", p, f"{ha}-demoted", pa)
    assert all(0 < s[1] <= 30000 for s in statements if s[0] == "bound")
    # reconciliation outside a transaction is not bounded by a deadline
    mark = statement_log.mark()
    formation.set_group(1, node(formation.citus, 1, "n1", role="primary"))
    formation.sync()
    assert formation.wait_rows(1, {(ha, pa, "primary")})
    assert [s[0] for s in handler_statements(statement_log, mark, bounds=True)] == ["remove"]


def test_statement_blocked_past_the_deadline_is_cancelled(
    formation: Formation,
    statement_log: StatementLogView,
    caplog: pytest.LogCaptureFixture,
    client_ops: ClientOps,
) -> None:
    """A citus_update_node waiting for a lock held elsewhere does not keep the transaction open."""
    two_node_group(formation)
    formation.citus.prepare_client_traffic(1)
    ha, pa = formation.citus.node_address(1)
    mark = statement_log.mark()
    with formation.citus.connect(autocommit=False, application_name="citus-test-blocker") as blocker:
        blocker.execute("LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE")
        formation.event("before_demote", 1, "n1", timeout=1)  # answered at its timeout
        assert wait_for(lambda: records(caplog, "WARNING", "Rolling back transaction"))
        assert wait_for(lambda: in_flight(formation) is None)
        # the lock is still held, yet the handler has nothing open and traffic goes on
        assert open_transactions(formation.citus) == []
        write = client_ops.write(1)
        assert write.join(), "client traffic must not be paused past the deadline"
        assert write.error is None
        blocker.rollback()
    assert "deadline passed" in records(caplog, "WARNING", "Rolling back transaction")[0].getMessage()
    assert not records(caplog, "ERROR", "")
    assert handler_statements(statement_log, mark)[:2] == [("BEGIN",), ("update", ANY, f"{ha}-demoted", pa)]
    # the handler goes on: the table is re-read and the group can be paused again
    formation.event("before_demote", 1, "n1")
    assert in_flight(formation) == BEFORE_DEMOTE
    formation.event("after_promote", 1, "n1")
    assert formation.wait_idle()
    assert formation.group_rows(1) == {(ha, pa, "primary"), (*formation.citus.node_address(2), "secondary")}


# -- before_demote callers are always released -----------------------------------------------------


def test_replaced_before_demote_caller_is_woken(formation: Formation) -> None:
    """Quirk 1: the caller of a replaced before_demote returns once its replacement is processed."""
    citus = formation.citus
    two_node_group(formation, 2, 5)
    two_node_group(formation, 1, 1)
    formation.citus.prepare_client_traffic(1, 2)
    formation.event("before_demote", 2, "n5")  # holds the worker: group 1 waits in the queue
    with formation.event_in_thread("before_demote", 1, "n1") as caller:
        assert wait_for(lambda: 1 in formation.handler.worker.state.queue)
        first = formation.handler.worker.state.queue[1]
        formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
        replacement = formation.submit("before_promote", 1, "n2")
        assert replacement is not None
        assert caller.is_alive(), "the first caller waits for the replacement"
        formation.event("after_promote", 2, "n5")
    assert first.outcome is Outcome.SUPERSEDED
    assert replacement.outcome is Outcome.OPENED
    formation.event("after_promote", 1, "n2")
    assert formation.wait_idle()


def test_before_demote_caller_waits_at_most_the_timeout(
    formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """Quirk 1: a caller whose task cannot run returns after the event's timeout."""
    two_node_group(formation, 2, 5)
    two_node_group(formation, 1, 1)
    formation.event("before_demote", 2, "n5", timeout=60)
    with formation.event_in_thread("before_demote", 1, "n1", timeout=1):
        pass  # joined: it must return although group 2's transaction is still open
    assert records(caplog, "WARNING", "before_demote of group 1 not applied within")
    assert in_flight(formation) == BEFORE_DEMOTE
    formation.event("after_promote", 2, "n5")
    assert formation.wait_idle()


def test_on_demote_releases_waiters_and_the_open_transaction(
    formation: Formation, client_ops: ClientOps
) -> None:
    two_node_group(formation, 2, 5)
    two_node_group(formation, 1, 1)
    formation.citus.prepare_client_traffic(1, 2)
    formation.event("before_demote", 2, "n5")
    write = client_ops.write(2)
    assert write.wait_until_waiting()
    with formation.event_in_thread("before_demote", 1, "n1") as caller:
        assert wait_for(lambda: 1 in formation.handler.worker.state.queue)
        task = formation.handler.worker.state.queue[1]
        formation.handler.on_demote()
    assert not caller.is_alive()
    assert task.outcome is Outcome.DISCARDED
    assert write.join(), "the discarded transaction must be rolled back"
    state = formation.handler.worker.state
    assert state.cache == {} and state.queue == {} and state.in_flight is None and state.reload


def test_on_demote_of_a_fresh_handler(formation: Formation) -> None:
    """``on_demote`` on a handler that never reconciled does not fail."""
    formation.handler.on_demote()
    assert not formation.handler.worker.alive
