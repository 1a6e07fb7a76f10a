"""The coordinator's handler on a real PostgreSQL server: the events of a switchover, failovers.

Behaviours of Patroni's own Citus handler tests, and those of the deliberate differences the package README
lists, checked against ``pg_dist_node`` and against the statements the server logged for the handler's
``citus`` connection, through the handler's real worker thread. Worker nodes are addresses of the test
server's ``node_address()`` (never contacted by the emulation).
"""

from __future__ import annotations

from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus._model import BEFORE_DEMOTE, BEFORE_PROMOTE, Outcome
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.formation import Formation, in_flight, node, nodeid, two_node_group
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.server import ClientOps
from patroni_mpp_citus.testing.statement_log import StatementLogView

# -- events: the switchover life cycle -------------------------------------------------------------


def test_planned_switchover(
    formation: Formation, citus_conn: Connection, statement_log: StatementLogView
) -> None:
    """Planned switchover: BEGIN, A-demoted, A parked in B's row, B primary, COMMIT; A removed, re-added."""
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
    """A worker leader restart: demoted update, then the rename back on after_promote, then COMMIT."""
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
    """A before_promote opens the transaction; an identical after_promote only commits."""
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
    """Unplanned failover to the registered replica, then deferred additions."""
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
    """No reconciliation of a group in its event transaction: the worker's member key may still be stale."""
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
