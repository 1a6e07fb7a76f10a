"""The Citus metadata API facts the engine relies on: metadata sync, the maintenance daemon, nodes down.

Checked on the session's Citus test server: the SQL emulation, or real Citus when ``PATRONI_MPP_TEST_CITUS``
selects it. Real Citus is the reference: every test runs the same assertions on both, so the emulation must
behave like Citus 13.2 there (the facts, as measured on Citus 13.2.2, are listed in
``patroni_mpp_citus/testing/README.md``). The reset tests check that the test server's reset copes with what
tests leave behind.
"""

from __future__ import annotations

import psycopg
import pytest
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_citus.testing.emulation import (
    Connection,
    MetadataNotSyncedError,
    reset_metadata,
    unsynced_nodes,
)
from patroni_mpp_citus.testing.metadata_api import (
    add_node,
    remove_node,
    rows,
    secondary_of_group1,
    synced_flags,
    unreachable_address,
    update_node,
)
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOperation, ClientOps

# -- metadata sync, the maintenance daemon, nodes that are down -------------------------------------


def test_committed_update_unsyncs_workers_until_the_daemon_syncs(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    assert set(synced_flags(citus_conn).values()) == {True}
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_of_group1(citus_conn), *unreachable_address())
    # in the same transaction: every metadata worker is unsynced, the coordinator stays synced
    flags = synced_flags(citus_conn)
    coordinator_id = next(r[0] for r in rows(citus_conn) if r[1] == 0)
    assert flags == {coordinator_id: True, group1: False, group2: False}
    assert set(unsynced_nodes(citus_conn)) == {
        "{}:{}".format(*citus.node_address(1)),
        "{}:{}".format(*citus.node_address(3)),
    }
    citus_conn.execute("COMMIT")
    # every metadata worker is reachable: the maintenance daemon syncs them soon after commit
    assert citus.wait_metadata_synced(10)
    assert citus.unsynced_nodes() == []
    add_node(citus_conn, citus.node_address(4), 2, "secondary")


def test_primary_renamed_to_an_address_nothing_listens_on_never_syncs(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    host, port = citus.node_address(1)
    demoted = f"{host}-demoted:{port}"
    update_node(citus_conn, group1, f"{host}-demoted", port)
    # the other worker is synced, the renamed one is not
    assert wait_for(lambda: citus.unsynced_nodes() == [demoted], timeout=10)
    assert not citus.wait_metadata_synced(0.5)
    assert citus.unsynced_nodes() == [demoted]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match=f"{demoted} is a metadata node"):
        add_node(citus_conn, citus.node_address(4), 2, "secondary")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="but is out of sync"):
        remove_node(citus_conn, citus.node_address(2))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="but is out of sync"):
        citus_conn.execute(
            "SELECT pg_catalog.citus_set_coordinator_host(%s, %s)", citus.coordinator_address()
        )
    # renamed back to where it listens, it is synced again
    update_node(citus_conn, group1, host, port)
    assert citus.wait_metadata_synced(10)
    add_node(citus_conn, citus.node_address(4), 2, "secondary")
    remove_node(citus_conn, citus.node_address(2))


def test_primary_renamed_to_an_alias_syncs(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    alias = citus.node_alias(1)
    assert alias != citus.node_address(1)
    update_node(citus_conn, group1, *alias)
    assert citus.wait_metadata_synced(10)
    assert (group1, 1, *alias, "primary") in rows(citus_conn)


def test_node_changes_fail_while_a_metadata_node_is_down(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    down = "{}:{}".format(*citus.node_address(3))
    citus.stop_node(3)
    assert citus.node_is_down(3)
    # propagating a node change connects to every metadata worker
    with pytest.raises(psycopg.Error, match=down):
        add_node(citus_conn, citus.node_address(4), 1, "secondary")
    with pytest.raises(psycopg.Error, match=down):
        remove_node(citus_conn, citus.node_address(2))
    with pytest.raises(psycopg.Error, match=down):
        citus_conn.execute(
            "SELECT pg_catalog.citus_set_coordinator_host(%s, %s)", citus.coordinator_address()
        )
    # an address already registered needs no connection
    assert add_node(citus_conn, citus.node_address(2), 1, "secondary") == secondary_of_group1(citus_conn)
    # citus_update_node does not propagate: it works, and metadata is not synced to the down node
    update_node(citus_conn, secondary_of_group1(citus_conn), *unreachable_address())
    assert wait_for(lambda: citus.unsynced_nodes() == [down], timeout=10)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match=f"{down} is a metadata node"):
        add_node(citus_conn, citus.node_address(4), 1, "secondary")
    # a node that is down can itself be removed; here it comes back and is synced at the next retry
    citus.start_node(3)
    assert not citus.node_is_down(3)
    assert citus.wait_metadata_synced(30)
    add_node(citus_conn, citus.node_address(4), 1, "secondary")


def test_removing_the_unsynced_node_itself_is_allowed(
    citus: CitusTestServer, citus_conn: Connection, group2: int
) -> None:
    host, port = citus.node_address(3)
    update_node(citus_conn, group2, f"{host}-demoted", port)
    assert wait_for(lambda: citus.unsynced_nodes() == [f"{host}-demoted:{port}"], timeout=10)
    remove_node(citus_conn, (f"{host}-demoted", port))
    assert citus.unsynced_nodes() == []


def test_a_node_that_is_down_can_be_removed(
    citus: CitusTestServer, citus_conn: Connection, group2: int
) -> None:
    citus.stop_node(3)
    remove_node(citus_conn, citus.node_address(3))
    # with the down node gone, node changes no longer need it
    add_node(citus_conn, citus.node_address(4), 1, "secondary")


def test_add_waiting_for_an_uncommitted_update_is_refused_after_commit(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_of_group1(citus_conn), *unreachable_address())
    # the update holds pg_dist_node: a concurrent add waits for it
    add = ClientOperation(citus, lambda conn: add_node(conn, citus.node_address(4), 1, "secondary")).start()
    client_ops.started.append(add)
    assert add.wait_until_waiting()
    citus_conn.execute("COMMIT")
    # then sees the committed, not yet synced state: the daemon cannot sync while the add holds the lock
    assert add.join()
    assert isinstance(add.error, psycopg.errors.ObjectNotInPrerequisiteState)
    assert citus.wait_metadata_synced(30)
    add_node(citus_conn, citus.node_address(4), 1, "secondary")


def test_node_down_context_manager(citus: CitusTestServer, citus_conn: Connection, group2: int) -> None:
    with citus.node_down(3):
        assert citus.node_is_down(3)
        with pytest.raises(psycopg.Error):
            add_node(citus_conn, citus.node_address(4), 1, "secondary")
    assert not citus.node_is_down(3)
    assert citus.wait_metadata_synced(30)
    add_node(citus_conn, citus.node_address(4), 1, "secondary")


def test_reset_after_a_test_left_metadata_unsynced_and_a_node_down(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    host, port = citus.node_address(1)
    citus.client_write(1, "placed on group 1")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    update_node(citus_conn, secondary_of_group1(citus_conn), host, port)
    citus.stop_node(3)
    citus.reset()
    assert rows(citus_conn) == []
    assert not citus.node_is_down(3)
    # the nodes are usable again (from a new session: on real Citus, this test's session still
    # holds a cached connection to node 3 from before it was restarted, and would fail once on it)
    with citus.connect() as conn:
        conn.execute("SELECT pg_catalog.citus_set_coordinator_host(%s, %s)", citus.coordinator_address())
        add_node(conn, citus.node_address(1), 1)
        add_node(conn, citus.node_address(3), 2)
    assert citus.unsynced_nodes() == []


def test_reset_after_primaries_were_moved_to_made_up_addresses(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    citus.client_write(1, "placed on group 1")
    citus.client_write(2, "placed on group 2")
    # two unsynced primaries nothing answers at, holding shards: removing either needs the other
    update_node(citus_conn, group1, "10.9.9.9", 5432)
    update_node(citus_conn, group2, "10.9.9.8", 5432)
    citus.reset()
    assert rows(citus_conn) == []


def test_reset_metadata_names_the_nodes_that_do_not_sync(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int, citus_mode: str
) -> None:
    if citus_mode != "real":
        pytest.skip("the emulation's reset empties the tables without waiting for a sync")
    update_node(citus_conn, group1, "10.9.9.9", 5432)
    update_node(citus_conn, group2, "10.9.9.8", 5432)
    # reset_metadata alone knows no servers to move them to: it waits, then names them
    with pytest.raises(
        MetadataNotSyncedError, match=r"10\.9\.9\.9:5432, 10\.9\.9\.8:5432 still out"
    ) as raised:
        reset_metadata(citus_conn, sync_timeout=0.5)
    assert raised.value.nodes == ["10.9.9.9:5432", "10.9.9.8:5432"]
    citus.reset()
    assert rows(citus_conn) == []


def test_reset_after_a_registered_server_was_stopped(
    citus: CitusTestServer, citus_conn: Connection, group1: int, citus_mode: str
) -> None:
    settings = {"shared_preload_libraries": "citus"} if citus_mode == "real" else {}
    with PostgresServer(settings) as other:
        if citus_mode == "real":
            other.execute('CREATE DATABASE "citus"')
            other.execute("CREATE EXTENSION citus", dbname="citus")
        citus.add_reachable_address(other.host, other.port)
        add_node(citus_conn, (other.host, other.port), 3)
        assert citus.wait_metadata_synced(10)
        citus.client_write(3, "placed on the other server")
    # the server is gone; its row is still a metadata node, holding shards of the probe table
    citus.reset()
    assert rows(citus_conn) == []


def test_close_cancels_a_waiting_client_operation(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    citus.client_write(1, "setup")
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, *citus.node_alias(1))
    write = client_ops.write(1, "cancelled")
    assert write.wait_until_waiting()
    write.close()
    assert write.done
    assert isinstance(write.error, psycopg.errors.QueryCanceled)
    citus_conn.execute("ROLLBACK")
