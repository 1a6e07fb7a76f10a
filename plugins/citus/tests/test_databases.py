"""Several Citus databases in one formation (``citus.databases``), on the session's Citus server.

Each database has its own worker, connection and cache: reconciliation, switchovers, deadlines and
failures are checked in two and in three databases, in every one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.logs import records
from patroni_mpp.testing.polling import DEADLINE, wait_for
from patroni_mpp_citus.testing.formation import Formation, engine_threads, make_formation, node
from patroni_mpp_citus.testing.server import CitusTestServer

EXTRA = ["citus_app2", "citus_app3"]
"""Citus databases created next to ``citus`` (on the coordinator and on every worker server)."""


@pytest.fixture(scope="module")
def extra_databases(citus_server: CitusTestServer) -> list[str]:
    """The extra Citus databases, created once for the module."""
    for name in EXTRA:
        citus_server.add_database(name)
    return EXTRA


@pytest.fixture(params=[2, 3], ids=["two-databases", "three-databases"])
def databases(request: pytest.FixtureRequest, extra_databases: list[str]) -> list[str]:
    """``citus`` and one or two extra databases."""
    count: int = request.param
    return ["citus", *extra_databases[: count - 1]]


@pytest.fixture
def multi(citus: CitusTestServer, databases: list[str]) -> Iterator[Formation]:
    """A coordinator handler managing every database of ``databases``."""
    made = make_formation(citus, databases=databases)
    try:
        yield made
    finally:
        made.close()
        assert not engine_threads(), "a thread of the engine is still running"


def register_group(formation: Formation, databases: list[str]) -> tuple[Any, Any]:
    """Group 1: node 1 primary, node 2 secondary, registered in every database."""
    citus = formation.citus
    a, b = node(citus, 1, "n1", role="primary"), node(citus, 2, "n2")
    formation.set_group(1, a, b)
    expected = {(*citus.node_address(1), "primary"), (*citus.node_address(2), "secondary")}

    def registered() -> bool:
        # one HA cycle per poll: real Citus may refuse activating one node from several databases
        # at the same moment ("failure on connection marked as essential"); the next cycle adds it
        formation.sync()
        return formation.wait_idle() and all(formation.group_rows(1, d) == expected for d in databases)

    assert wait_for(registered, interval=0.2)
    return a, b


def coordinator_row(formation: Formation) -> set[tuple[str, int, str]]:
    return {(formation.citus.host, formation.citus.port, "primary")}


def test_each_database_has_its_own_worker_and_connection(multi: Formation, databases: list[str]) -> None:
    workers = multi.handler.workers
    assert list(workers) == databases
    assert len({id(w) for w in workers.values()}) == len(databases)
    register_group(multi, databases)
    for database in databases:
        assert multi.group_rows(0, database) == coordinator_row(multi)
    names = {t.name for t in engine_threads()}
    assert {f"citus-metadata:{d}" for d in databases} <= names
    # one connection per database, each in its own database
    with multi.citus.connect(application_name="citus-test-read") as conn:
        seen = conn.execute(
            "SELECT datname FROM pg_stat_activity WHERE application_name LIKE 'Patroni citus%%'"
        ).fetchall()
    assert sorted(str(row[0]) for row in seen) == sorted(databases)


def test_idle_reconciliation_runs_no_sql(multi: Formation, databases: list[str]) -> None:
    register_group(multi, databases)
    before = [w.store.statements for w in multi.handler.workers.values()]
    for _ in range(3):
        multi.sync()
    assert multi.wait_idle()
    assert [w.store.statements for w in multi.handler.workers.values()] == before


def test_planned_switchover_in_every_database(multi: Formation, databases: list[str]) -> None:
    """before_demote opens the -demoted transaction in each database; after_promote commits all."""
    citus = multi.citus
    register_group(multi, databases)
    for database in databases:
        citus.prepare_client_traffic(1, dbname=database)
    multi.event("before_demote", 1, "n1")
    writes = [citus.start_client_write(1, dbname=database) for database in databases]
    try:
        for write in writes:
            assert write.wait_until_waiting(), "a write to the paused group does not wait"
        for worker in multi.handler.workers.values():
            assert worker.state.in_flight is not None
        multi.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
        multi.event("before_promote", 1, "n2")
        multi.event("after_promote", 1, "n2")
        assert multi.wait_idle()
        (ha, pa), (hb, pb) = citus.node_address(1), citus.node_address(2)
        for write in writes:
            assert write.join(), "a paused write did not complete"
            # it went on against the new primary (here a server of its own, not a replica: real
            # Citus finds no shard there)
            assert write.error is None or f"{hb}:{pb}" in str(write.error), write.error
    finally:
        for write in writes:
            write.close()
    for database in databases:
        assert multi.group_rows(1, database) == {(hb, pb, "primary"), (ha, pa, "secondary")}, database


def test_deadline_rolls_back_every_database(multi: Formation, databases: list[str]) -> None:
    citus = multi.citus
    register_group(multi, databases)
    expected = {(*citus.node_address(1), "primary"), (*citus.node_address(2), "secondary")}
    multi.event("before_demote", 1, "n1", timeout=1)
    for database in databases:
        assert ("primary" in {r for _, _, r in multi.group_rows(1, database)}) is True
    assert wait_for(
        lambda: all(w.state.in_flight is None for w in multi.handler.workers.values()), timeout=DEADLINE
    )
    for database in databases:
        assert multi.group_rows(1, database) == expected, database
        assert citus.locked_groups(database) == []


def test_commit_failing_in_one_database_converges(
    multi: Formation, databases: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The commit succeeds in the first database and fails in the last: that one converges at once."""
    citus = multi.citus
    register_group(multi, databases)
    last = databases[-1]
    for database in databases:
        citus.prepare_client_traffic(1, dbname=database)
    multi.event("before_demote", 1, "n1")
    write = citus.start_client_write(1, dbname=last)
    try:
        assert write.wait_until_waiting()
        # the metadata connection of the last database dies with its transaction open
        with citus.connect(dbname=last, application_name="citus-test-kill") as conn:
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'Patroni citus%%'"
            ).fetchall()
        assert killed == [(True,)]
        # the pause ends in that database when its transaction dies: the client is not held
        assert write.join(), "the write of the database whose transaction died is still paused"
        multi.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
        multi.event("before_promote", 1, "n2")
        multi.event("after_promote", 1, "n2")
        # no further HA cycle: the failed commit is retried from a fresh read
        (ha, pa), (hb, pb) = citus.node_address(1), citus.node_address(2)
        for database in databases[:-1]:
            assert multi.wait_rows(1, {(hb, pb, "primary"), (ha, pa, "secondary")}, database)
        assert wait_for(lambda: (hb, pb, "primary") in multi.group_rows(1, last))
        assert multi.wait_idle()
    finally:
        write.close()
    failed = [r.getMessage() for r in records(caplog, "ERROR", "Exception when working with pg_dist_node")]
    # the killed session's failure is logged, and only for its database: recent psycopg names it
    # AdminShutdown, 3.1.11 (the lowest allowed) a connection problem
    killed_session = ("AdminShutdown", "terminat", "connection problem")
    lost = [m for m in failed if any(word in m for word in killed_session)]
    assert lost, failed
    assert all(m.endswith(f"[database {last}]") for m in lost), lost


def test_a_missing_database_never_stops_the_others(
    citus: CitusTestServer, extra_databases: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    formation = make_formation(citus, databases=["citus", "citus_missing_db", extra_databases[0]])
    try:
        formation.set_group(1, node(citus, 1, "n1", role="primary"))
        expected = {(*citus.node_address(1), "primary")}

        def registered() -> bool:
            formation.sync()  # one HA cycle per poll (see register_group)
            return all(formation.group_rows(1, d) == expected for d in ("citus", extra_databases[0]))

        assert wait_for(registered, interval=0.2)
        missing = formation.handler.workers["citus_missing_db"]
        assert wait_for(lambda: missing.reload_failures >= 3)
        for _ in range(3):
            formation.sync()
        warnings = records(caplog, "WARNING", "Cannot read pg_dist_node")
        assert len(warnings) == 1
        assert warnings[0].getMessage().endswith("[database citus_missing_db]")
        failed_reads = [
            r
            for r in records(caplog, "ERROR", "Exception when executing query")
            if "citus_missing_db" in r.getMessage()
        ]
        assert len(failed_reads) == 1
    finally:
        formation.close()
    assert not engine_threads()


def test_a_member_lacking_a_database(citus: CitusTestServer, caplog: pytest.LogCaptureFixture) -> None:
    """The coordinator manages the databases of its own section; a node without one fails only there.

    Here the worker servers lack ``citus_only_here`` (their section did not name it, so their
    bootstrap did not create it). Real Citus cannot add them in that database: the error is logged
    once, while the other database is managed as usual.
    """
    if not citus.is_real:
        pytest.skip("the emulation never connects to the nodes it adds")
    name = "citus_only_here"
    citus.add_database(name, on_workers=False)
    formation = make_formation(citus, databases=["citus", name])
    try:
        formation.set_group(1, node(citus, 1, "n1", role="primary"))
        for _ in range(3):
            formation.sync()
            assert formation.wait_idle()
        assert formation.group_rows(1, "citus") == {(*citus.node_address(1), "primary")}
        assert formation.group_rows(1, name) == set()
        assert formation.group_rows(0, name) == coordinator_row(formation)
        errors = records(caplog, "ERROR", "Exception when working with pg_dist_node")
        assert len(errors) == 1 and errors[0].getMessage().endswith(f"[database {name}]")
    finally:
        formation.close()
        citus.drop_database(name)


def test_reload_adds_and_removes_databases(citus: CitusTestServer, extra_databases: list[str]) -> None:
    second = extra_databases[0]
    formation = make_formation(citus)
    try:
        formation.set_group(1, node(citus, 1, "n1", role="primary"))
        formation.sync()
        one = {(*citus.node_address(1), "primary")}
        assert formation.wait_rows(1, one, "citus")
        assert formation.group_rows(1, second) == set()
        formation.reload({"group": 0, "databases": ["citus", second]})
        formation.sync()
        assert list(formation.handler.managed_databases) == ["citus", second]
        assert formation.wait_rows(1, one, second)
        # citus is removed: its metadata is not touched any more, while the other follows the DCS
        formation.reload({"group": 0, "database": second})
        formation.sync()
        assert list(formation.handler.managed_databases) == [second]
        formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
        formation.sync()
        two = {*one, (*citus.node_address(2), "secondary")}
        assert formation.wait_rows(1, two, second)
        assert formation.wait_idle()
        assert formation.group_rows(1, "citus") == one
        # an invalid reloaded section keeps the databases
        formation.reload({"group": 0, "database": "a", "databases": ["b"]})
        formation.sync()
        assert list(formation.handler.managed_databases) == [second]
    finally:
        formation.close()
    assert not engine_threads()


def test_bootstrap_prepares_every_database(citus: CitusTestServer) -> None:
    names = ["citus_boot_a", "citus_boot_b"]
    formation = make_formation(citus, databases=names, password=None)
    try:
        formation.handler.bootstrap()
        for name in names:
            with psycopg.connect(autocommit=True, **citus.server.conninfo(name)) as conn:
                row = conn.execute(
                    "SELECT nodename, nodeport FROM pg_catalog.pg_dist_node WHERE groupid = 0"
                ).fetchone()
                assert row == (citus.host, citus.port), name
    finally:
        formation.close()
        for name in names:
            citus.drop_database(name)


def test_database_removed_and_added_again_before_its_worker_ended(
    citus: CitusTestServer, extra_databases: list[str]
) -> None:
    """The new worker shares the old one's named connection: it waits until the old one has ended."""
    second = extra_databases[0]
    names = ["citus", second]
    formation = make_formation(citus, databases=names)
    try:
        register_group(formation, names)
        old = formation.handler.workers[second]
        with citus.connect(dbname=second, autocommit=False, application_name="citus-test-lock") as blocker:
            # the old worker's next read of pg_dist_node waits for this lock
            blocker.execute("LOCK TABLE pg_catalog.pg_dist_node IN ACCESS EXCLUSIVE MODE")
            formation.handler.schedule_cache_rebuild()
            formation.set_group(1, node(citus, 1, "n1", role="primary"))
            formation.sync()
            # asked from database citus: in the locked database Citus itself waits for the lock
            with citus.connect(application_name="citus-test-read") as conn:
                row = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                    (second, f"Patroni citus:{second}"),
                ).fetchone()
            assert row is not None
            assert wait_for(lambda: citus.backend_waits_for_lock(int(row[0])))
            formation.reload({"group": 0, "databases": ["citus"]})
            formation.sync()
            formation.reload({"group": 0, "databases": names})
            formation.sync()
            new = formation.handler.workers[second]
            assert new is not old and new.started
            assert old.alive, "the old worker left its statement"
            # the new worker has not touched the connection it shares with the old one
            assert new.store.statements == 0
            with new.state.cond:
                assert new.state.queue
            blocker.rollback()
        assert wait_for(lambda: not old.alive)
        # the new worker took over: the secondary is gone from the table in that database too
        assert formation.wait_rows(1, {(*citus.node_address(1), "primary")}, second)
        assert formation.wait_idle()
        assert new.store.statements > 0

        def sessions() -> int:
            with citus.connect(application_name="citus-test-read") as conn:
                found = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                    (second, f"Patroni citus:{second}"),
                ).fetchone()
            return int(found[0]) if found is not None else -1

        # one metadata session in that database (the old one's backend may take a moment to exit)
        assert wait_for(lambda: sessions() == 1)
    finally:
        formation.close()
    assert not engine_threads()
