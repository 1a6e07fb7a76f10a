"""The coordinator's handler on a real PostgreSQL server: reconciliation, and the rows it writes for groups.

Behaviours of Patroni's own Citus handler tests, and those of the deliberate differences the package README
lists, checked against ``pg_dist_node`` and against the statements the server logged for the handler's
``citus`` connection, through the handler's real worker thread. Worker nodes are addresses of the test
server's ``node_address()`` (never contacted by the emulation).
"""

from __future__ import annotations

from typing import Any

from patroni_mpp.testing.host import member
from patroni_mpp_citus._model import Outcome
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.formation import (
    Formation,
    in_flight,
    make_formation,
    node,
    nodeid,
    register,
    two_node_group,
)
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.server import CitusTestServer
from patroni_mpp_citus.testing.statement_log import StatementLogView

# -- reconciliation --------------------------------------------------------------------------------


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
    """The first reconciliation finds the table as desired: one read, no change."""
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
    """The coordinator's task runs before older worker tasks."""
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


# -- pausing an unregistered group, roles, hostnames -----------------------------------------------


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
