"""The coordinator's handler on a real PostgreSQL server, through its real worker thread.

Scenarios of citus-engine.md 17.1 and 17.4, checked against ``pg_dist_node`` and against the
statements the
server logged for the handler's ``citus`` connection. Worker nodes are addresses of the test
server's
``node_address()`` (never contacted by the emulation).
"""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import ANY

import psycopg
import pytest
from patroni_mpp.testing.host import member
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus import AFTER_PROMOTE, BEFORE_DEMOTE, BEFORE_PROMOTE, Outcome
from patroni_mpp_citus.testing.handler_formation import APP, Formation, engine_threads, make_formation, node
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps
from patroni_mpp_citus.testing.statement_log import StatementLogView
from tests._helpers import handler_statements, records, register

Connection = psycopg.Connection[Any]


def in_flight(formation: Formation) -> str | None:
    state = formation.handler.worker.state
    with state.cond:
        return None if state.in_flight is None else state.in_flight.event


def two_node_group(formation: Formation, groupid: int = 1, first: int = 1) -> tuple[Any, Any]:
    """Register group ``groupid``: node ``first`` primary, node ``first+1`` secondary."""
    citus = formation.citus
    a = node(citus, first, f"n{first}", role="primary")
    b = node(citus, first + 1, f"n{first + 1}")
    formation.set_group(groupid, a, b)
    formation.sync()
    assert formation.wait_rows(
        groupid,
        {(*citus.node_address(first), "primary"), (*citus.node_address(first + 1), "secondary")},
    )
    assert formation.wait_idle()
    return a, b


def nodeid(conn: Connection, host: str, port: int) -> int:
    row = conn.execute(
        "SELECT nodeid FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %s",
        (host, port),
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- reconciliation
# ----------------------------------------------------------------------------------


def test_reconciliation_registers_every_group(formation: Formation, statement_log: StatementLogView) -> None:
    citus = formation.citus
    formation.coordinator_members.append(node(citus, 9, "coordinator-replica"))
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.set_group(2, node(citus, 3, "n3", role="master"))  # Patroni < 4 writes "master"
    formation.set_group(3, node(citus, 4, "n4", role="replica"))  # no running primary: skipped
    formation.sync()
    assert formation.wait_idle()
    assert formation.rows() == {
        (0, citus.host, citus.port, "primary"),
        (0, *citus.node_address(9), "secondary"),
        (1, *citus.node_address(1), "primary"),
        (1, *citus.node_address(2), "secondary"),
        (2, *citus.node_address(3), "primary"),
    }
    # group 0 first, then the workers; several rows of one group in one transaction
    assert handler_statements(statement_log) == [
        ("BEGIN",),
        ("add", citus.host, citus.port, 0, "primary"),
        ("add", *citus.node_address(9), 0, "secondary"),
        ("COMMIT",),
        ("BEGIN",),
        ("add", *citus.node_address(1), 1, "primary"),
        ("add", *citus.node_address(2), 1, "secondary"),
        ("COMMIT",),
        ("add", *citus.node_address(3), 2, "primary"),
    ]


def test_steady_state_issues_no_statement(formation: Formation, statement_log: StatementLogView) -> None:
    two_node_group(formation)
    mark = statement_log.mark()
    statements = formation.handler.worker.store.statements
    for _ in range(5):
        formation.sync()
    assert not formation.handler.worker.state.queue
    assert formation.handler.worker.store.statements == statements
    assert handler_statements(statement_log, mark, loads=True) == []


def test_only_the_coordinator_reconciles(citus: CitusTestServer, statement_log: StatementLogView) -> None:
    worker = make_formation(citus, group=1)
    try:
        worker.set_group(2, node(citus, 1, "n1", role="primary"))
        worker.sync()
        worker.event("before_demote", 2, "n1")  # ignored: no reconciliation runs on a worker
        assert not worker.handler.worker.alive
        assert worker.handler.worker.store.statements == 0
    finally:
        worker.close()
    assert handler_statements(statement_log, loads=True) == []


def test_events_before_the_first_reconciliation_are_ignored(formation: Formation) -> None:
    formation.set_group(1, node(formation.citus, 1, "n1", role="primary"))
    assert formation.submit("after_promote", 1, "n1") is None
    assert not formation.handler.worker.state.queue
    assert not formation.handler.worker.alive


def test_state_equal_to_the_table_is_dropped_at_pick(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """17.1.5: the first reconciliation finds the table as desired: one read, no change."""
    citus = formation.citus
    register(citus_conn, citus.host, citus.port, 0)
    register(citus_conn, *citus.node_address(9), 0, "secondary")
    formation.coordinator_members.append(node(citus, 9, "coordinator-replica"))
    formation.sync()
    assert formation.wait_idle()
    assert handler_statements(statement_log, loads=True) == [("load",)]
    cached = formation.handler.worker.state.cache[0]
    ids = citus_conn.execute("SELECT nodeid FROM pg_catalog.pg_dist_node WHERE groupid = 0").fetchall()
    assert {row.nodeid for row in cached.group} == {nodeid for (nodeid,) in ids}
    assert len(ids) == 2


def test_coordinator_group_goes_first(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """3.5: the coordinator's task runs before older worker tasks."""
    citus = formation.citus
    two_node_group(formation, 3, 5)
    p = nodeid(citus_conn, *citus.node_address(5))
    formation.event("before_demote", 3, "n5")  # holds the worker busy
    formation.set_group(2, node(citus, 3, "n3", role="primary"))
    formation.set_group(1, node(citus, 1, "n1", role="primary"))
    mark = statement_log.mark()
    assert formation.submit("after_promote", 2, "n3") is not None
    assert formation.submit("after_promote", 1, "n1") is not None
    formation.coordinator_members.append(node(citus, 9, "coordinator-replica"))
    formation.sync()  # queues group 0 (groups 1-3 are refused: event tasks are queued or in flight)
    assert list(formation.handler.worker.state.queue) == [2, 1, 0]
    formation.event("after_promote", 3, "n5")
    assert formation.wait_idle()
    assert handler_statements(statement_log, mark) == [
        ("update", p, *citus.node_address(5)),
        ("COMMIT",),
        ("add", *citus.node_address(9), 0, "secondary"),
        ("add", *citus.node_address(3), 2, "primary"),
        ("add", *citus.node_address(1), 1, "primary"),
    ]


# -- events: the switchover life cycle
# ------------------------------------------------------------------


def test_planned_switchover(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """5.4: BEGIN, A-demoted, A parked in B's row, B as primary, COMMIT; A removed, re-added."""
    citus = formation.citus
    two_node_group(formation)
    (ha, pa), (hb, pb) = citus.node_address(1), citus.node_address(2)
    p, s = nodeid(citus_conn, ha, pa), nodeid(citus_conn, hb, pb)
    mark = statement_log.mark()
    formation.event("before_demote", 1, "n1")
    assert in_flight(formation) == BEFORE_DEMOTE
    formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
    formation.event("before_promote", 1, "n2")
    assert wait_for(lambda: in_flight(formation) == BEFORE_PROMOTE)
    formation.event("after_promote", 1, "n2")
    assert formation.wait_idle()
    assert handler_statements(statement_log, mark) == [
        ("BEGIN",),
        ("update", p, f"{ha}-demoted", pa),
        ("update", s, ha, pa),
        ("update", p, hb, pb),
        ("COMMIT",),
    ]
    assert formation.group_rows(1) == {(hb, pb, "primary"), (ha, pa, "secondary")}
    # later reconciliations: the stopped old primary is removed, then added back once it runs
    formation.sync()
    assert formation.wait_rows(1, {(hb, pb, "primary")})
    formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1"))
    formation.sync()
    assert formation.wait_rows(1, {(hb, pb, "primary"), (ha, pa, "secondary")})
    assert handler_statements(statement_log, mark)[5:] == [
        ("remove", ha, pa),
        ("add", ha, pa, 1, "secondary"),
    ]


def test_leader_restart(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """5.4: demoted update, then the rename back on after_promote, then COMMIT."""
    two_node_group(formation)
    ha, pa = formation.citus.node_address(1)
    p = nodeid(citus_conn, ha, pa)
    mark = statement_log.mark()
    formation.event("before_demote", 1, "n1")
    formation.event("after_promote", 1, "n1")
    assert formation.wait_idle()
    assert handler_statements(statement_log, mark) == [
        ("BEGIN",),
        ("update", p, f"{ha}-demoted", pa),
        ("update", p, ha, pa),
        ("COMMIT",),
    ]


def test_before_demote_blocks_its_caller_until_the_pause_is_applied(
    formation: Formation, client_ops: ClientOps
) -> None:
    two_node_group(formation)
    formation.citus.prepare_client_traffic(1)
    formation.event("before_demote", 1, "n1")
    # handle_event returned: the rename is applied and its locks are held
    assert formation.citus.locked_groups() == [1]
    write = client_ops.write(1, "during the pause")
    assert write.wait_until_waiting(), "a client write to the paused group must wait"
    formation.event("after_promote", 1, "n1")
    assert write.join(), "the client write must go on after COMMIT"
    assert write.error is None
    assert formation.citus.client_read(1) == 1


def test_open_then_commit(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """17.1.6: a before_promote opens the transaction; an identical after_promote only commits."""
    citus = formation.citus
    two_node_group(formation)
    (hb, pb), (hc, pc) = citus.node_address(2), citus.node_address(3)
    s = nodeid(citus_conn, hb, pb)
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 3, "n3"))
    mark = statement_log.mark()
    task = formation.submit("before_promote", 1, "n1")
    assert task is not None
    assert task.wait(30) and task.outcome is Outcome.OPENED
    assert handler_statements(statement_log, mark) == [("BEGIN",), ("update", s, hc, pc)]
    mark = statement_log.mark()
    formation.event("after_promote", 1, "n1")
    assert formation.wait_idle()
    assert handler_statements(statement_log, mark) == [("COMMIT",)]
    assert formation.group_rows(1) == {(*citus.node_address(1), "primary"), (hc, pc, "secondary")}


def test_failover_of_a_replica_and_later_registrations(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """6.1/6.2: unplanned failover to the registered replica, then deferred additions."""
    citus = formation.citus
    two_node_group(formation)
    (ha, pa), (hb, pb), (hc, pc) = (citus.node_address(i) for i in (1, 2, 3))
    p, s = nodeid(citus_conn, ha, pa), nodeid(citus_conn, hb, pb)
    mark = statement_log.mark()
    # n2 took over without events (n1 crashed); a new replica n3 is running too
    formation.set_group(
        1,
        node(citus, 2, "n2", role="primary"),
        node(citus, 1, "n1", state="crashed"),
        node(citus, 3, "n3"),
    )
    formation.sync()
    assert formation.wait_idle()
    # n3 takes n2's old row, the primary row points to n2: one transaction
    assert handler_statements(statement_log, mark) == [
        ("BEGIN",),
        ("update", s, hc, pc),
        ("update", p, hb, pb),
        ("COMMIT",),
    ]
    assert formation.group_rows(1) == {(hb, pb, "primary"), (hc, pc, "secondary")}
    # n1 comes back as a replica: added by the next reconciliation
    formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1"), node(citus, 3, "n3"))
    formation.sync()
    assert formation.wait_rows(1, {(hb, pb, "primary"), (hc, pc, "secondary"), (ha, pa, "secondary")})


def test_unplanned_failover_parks_the_old_primary_then_removes_it(
    formation: Formation, statement_log: StatementLogView
) -> None:
    citus = formation.citus
    two_node_group(formation)
    (ha, pa), (hb, pb) = citus.node_address(1), citus.node_address(2)
    formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
    formation.sync()
    assert formation.wait_idle()
    # the failover transaction cannot remove rows: the old primary is parked in n2's former row
    assert formation.group_rows(1) == {(hb, pb, "primary"), (ha, pa, "secondary")}
    formation.sync()
    assert formation.wait_rows(1, {(hb, pb, "primary")})


def test_sync_is_refused_while_an_event_transaction_is_open(formation: Formation) -> None:
    """4.3 rule 1: the worker's member key may still be stale in the DCS."""
    citus = formation.citus
    two_node_group(formation)
    formation.event("before_demote", 1, "n1")
    formation.sync()  # the DCS still shows n1 as a running primary
    assert 1 not in formation.handler.worker.state.queue
    assert in_flight(formation) == BEFORE_DEMOTE
    formation.event("after_promote", 1, "n1")
    assert formation.wait_idle()
    assert formation.group_rows(1) == {
        (*citus.node_address(1), "primary"),
        (*citus.node_address(2), "secondary"),
    }


def test_other_groups_wait_for_the_open_transaction(
    formation: Formation, statement_log: StatementLogView, client_ops: ClientOps
) -> None:
    citus = formation.citus
    two_node_group(formation)
    citus.prepare_client_traffic(1)
    formation.event("before_demote", 1, "n1")
    formation.set_group(2, node(citus, 3, "n3", role="primary"))
    mark = statement_log.mark()
    task = formation.submit("after_promote", 2, "n3")
    assert task is not None
    write = client_ops.write(1)
    assert write.wait_until_waiting()
    assert not task.done, "group 2 must wait while group 1's transaction is open"
    formation.event("after_promote", 1, "n1")
    assert task.wait(30) and task.outcome is Outcome.APPLIED
    assert write.join() and write.error is None
    # the add waits until Citus has synced the metadata the commit changed
    assert formation.wait_rows(2, {(*citus.node_address(3), "primary")})
    statements = handler_statements(statement_log, mark)
    assert statements.index(("COMMIT",)) < statements.index(("add", *citus.node_address(3), 2, "primary"))


# -- deadlines
# -----------------------------------------------------------------------------------------


def test_deadline_rollback_lets_other_groups_go_on(
    formation: Formation,
    citus_conn: Connection,
    statement_log: StatementLogView,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """17.1.1: a transaction past its deadline is rolled back, then the waiting group goes on."""
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


# -- before_demote callers are always released
# -----------------------------------------------------------


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
    """17.1.8."""
    formation.handler.on_demote()
    assert not formation.handler.worker.alive


# -- pausing an unregistered group, roles, hostnames
# ---------------------------------------------------


def test_no_transaction_for_a_group_that_is_not_registered(
    formation: Formation, statement_log: StatementLogView
) -> None:
    """Quirk 7: nothing to pause; no BEGIN, no secondaries registered without a primary."""
    citus = formation.citus
    formation.sync()
    assert formation.wait_idle()
    formation.set_group(4, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    mark = statement_log.mark()
    task = formation.submit("before_demote", 4, "n1")
    assert task is not None
    assert task.wait(30) and task.outcome is Outcome.SKIPPED
    assert handler_statements(statement_log, mark) == []
    assert in_flight(formation) is None
    assert formation.group_rows(4) == set()


def test_secondary_with_a_wrong_role_is_corrected(formation: Formation, citus_conn: Connection) -> None:
    """Quirk 8: an ``unavailable`` row of a running replica becomes ``secondary`` again."""
    citus = formation.citus
    register(citus_conn, *citus.node_address(1), 1)
    register(citus_conn, *citus.node_address(2), 1, "unavailable")
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_rows(
        1, {(*citus.node_address(1), "primary"), (*citus.node_address(2), "secondary")}
    )


def test_old_primary_is_registered_without_a_cache_reload(
    formation: Formation, statement_log: StatementLogView
) -> None:
    """Quirk 9: switching to an unregistered node; the old primary is added once it is a replica."""
    citus = formation.citus
    formation.set_group(1, node(citus, 1, "n1", role="primary"))
    formation.sync()
    assert formation.wait_rows(1, {(*citus.node_address(1), "primary")})
    formation.set_group(1, node(citus, 3, "n3", role="primary"), node(citus, 1, "n1"))
    formation.sync()
    assert formation.wait_rows(1, {(*citus.node_address(3), "primary")})
    assert formation.wait_idle()
    formation.sync()  # no reload in between
    assert formation.wait_rows(
        1, {(*citus.node_address(3), "primary"), (*citus.node_address(1), "secondary")}
    )
    assert ("load",) not in handler_statements(statement_log, loads=True)[1:]


def test_hostnames_compare_whatever_their_case(
    formation: Formation,
    citus_conn: Connection,
    statement_log: StatementLogView,
    emulated_only: None,
) -> None:
    """Quirk 6: rows registered with upper-case names are the members' (lower-cased) hosts."""
    formation.citus.add_reachable_address("Worker-A.Example", 5432)  # a primary Citus must reach
    register(citus_conn, "Worker-A.Example", 5432, 1)
    register(citus_conn, "WORKER-B.example", 5432, 1, "secondary")
    formation.set_group(
        1,
        formation_member("a", "worker-a.example", role="primary"),
        formation_member("b", "Worker-B.Example"),
    )
    formation.sync()
    assert formation.wait_idle()
    citus = formation.citus
    assert handler_statements(statement_log) == [("add", citus.host, citus.port, 0, "primary")]


def formation_member(name: str, host: str, **kwargs: Any) -> Any:
    return member(name, host, 5432, **kwargs)


# -- failures
# ------------------------------------------------------------------------------------------


def test_processing_error_is_logged_and_recovered(
    formation: Formation, citus_conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """17.1.7: a failing statement aborts the task; the next reconciliation re-reads and fixes."""
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
    """17.1.9 and quirk 3: a database that cannot be read; the worker retries with a back-off."""
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
        with citus.server.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
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
