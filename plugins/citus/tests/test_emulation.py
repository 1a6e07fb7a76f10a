"""The Citus metadata API facts the engine relies on (citus-engine.md §14), checked on the session's
Citus test server: the SQL emulation, or real Citus when ``PATRONI_MPP_TEST_CITUS`` selects it.

Real Citus is the reference: every test without the ``emulated_only`` fixture runs the same
assertions on both, so the emulation must behave like Citus 13.2 there. Tests that need the
``emulated_only`` fixture check emulation internals and skip on real Citus.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from patroni_mpp.testing.network import free_port
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_citus.testing.emulation import (
    Connection,
    EmulationError,
    MetadataNotSyncedError,
    call_count,
    call_log,
    emulation_sql,
    install_emulation,
    is_emulated,
    is_real_citus,
    metadata_unsynced,
    register_reachable_node,
    reset_metadata,
    set_call_log,
    sync_metadata,
    unsynced_nodes,
    wait_metadata_synced,
)
from patroni_mpp_citus.testing.server import (
    MAINTENANCE_APPLICATION_NAME,
    CitusTestServer,
    CitusUnavailableError,
    ClientOperation,
    ClientOps,
    resolve_mode,
)
from patroni_mpp_citus.testing.statement_log import StatementLog, StatementLogView
from patroni_mpp_citus.testing.traffic import client_write

Address = tuple[str, int]


def scalar(conn: Connection, query: str, *params: object) -> object:
    row = conn.execute(query, params or None).fetchone()
    assert row is not None
    return row[0]


def add_node(
    conn: Connection,
    address: Address,
    groupid: int = -1,
    role: str = "primary",
    cluster: str = "default",
) -> int:
    value = scalar(
        conn,
        "SELECT pg_catalog.citus_add_node(%s, %s, %s, %s, %s)",
        address[0],
        address[1],
        groupid,
        role,
        cluster,
    )
    assert isinstance(value, int)
    return value


def update_node(conn: Connection, nodeid: int, host: str, port: int) -> None:
    conn.execute("SELECT pg_catalog.citus_update_node(%s, %s, %s, true, 10000)", (nodeid, host, port))


def remove_node(conn: Connection, address: Address) -> None:
    conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", address)


def synced_flags(conn: Connection) -> dict[int, bool]:
    """nodeid -> metadatasynced of every metadata node (coordinator and primary workers)."""
    return {
        int(nodeid): bool(synced)
        for nodeid, synced in conn.execute(
            "SELECT nodeid, metadatasynced FROM pg_catalog.pg_dist_node WHERE hasmetadata"
        ).fetchall()
    }


def unreachable_address() -> Address:
    """An address nothing listens on, on both modes (a free local port; unregistered when emulated)."""
    return ("127.0.0.1", free_port())


def rows(conn: Connection) -> list[tuple[int, int, str, int, str]]:
    return [
        (int(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]))
        for r in conn.execute(
            "SELECT nodeid, groupid, nodename, nodeport, noderole::text "
            "FROM pg_catalog.pg_dist_node "
            "ORDER BY nodeid"
        ).fetchall()
    ]


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


def secondary_of_group1(conn: Connection) -> int:
    return next(r[0] for r in rows(conn) if r[1] == 1 and r[4] == "secondary")


# -- catalog shape --------------------------------------------------------------------------------


def test_pg_dist_node_columns(citus_conn: Connection) -> None:
    columns = dict(
        citus_conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'pg_catalog.pg_dist_node'::regclass AND attnum > 0 "
            "AND NOT attisdropped"
        ).fetchall()
    )
    expected = {
        "nodeid": "integer",
        "groupid": "integer",
        "nodename": "text",
        "nodeport": "integer",
        "noderack": "text",
        "hasmetadata": "boolean",
        "isactive": "boolean",
        "noderole": "noderole",
        "nodecluster": "name",
        "metadatasynced": "boolean",
        "shouldhaveshards": "boolean",
        "nodeisclone": "boolean",
        "nodeprimarynodeid": "integer",
    }
    assert columns == expected


def test_noderole_enum(citus_conn: Connection) -> None:
    labels = scalar(citus_conn, "SELECT enum_range(NULL::pg_catalog.noderole)::text[]")
    assert labels == ["primary", "secondary", "unavailable"]


def test_pg_dist_authinfo_columns(citus_conn: Connection) -> None:
    columns = citus_conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'pg_catalog.pg_dist_authinfo'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"
    ).fetchall()
    assert columns == [("nodeid", "integer"), ("rolename", "name"), ("authinfo", "text")]


# -- citus_set_coordinator_host -------------------------------------------------------------------


def test_set_coordinator_host_inserts_then_updates(citus_conn: Connection) -> None:
    citus_conn.execute("SELECT pg_catalog.citus_set_coordinator_host('10.1.0.1', 6432)")
    [(nodeid, groupid, name, port, role)] = rows(citus_conn)
    assert (groupid, name, port, role) == (0, "10.1.0.1", 6432, "primary")
    flags = citus_conn.execute(
        "SELECT hasmetadata, shouldhaveshards, isactive FROM pg_catalog.pg_dist_node"
    ).fetchone()
    assert flags == (True, False, True)
    citus_conn.execute("SELECT pg_catalog.citus_set_coordinator_host('10.1.0.2', 5433, 'primary', 'default')")
    assert rows(citus_conn) == [(nodeid, 0, "10.1.0.2", 5433, "primary")]


def test_set_coordinator_host_default_port(citus: CitusTestServer, citus_conn: Connection) -> None:
    citus_conn.execute("SELECT pg_catalog.citus_set_coordinator_host('10.1.0.1')")
    [(_, _, _, port, _)] = rows(citus_conn)
    assert port == citus.port


# -- citus_add_node -------------------------------------------------------------------------------


def test_add_node_returns_existing_nodeid(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    first = add_node(citus_conn, citus.node_address(1), 1)
    assert add_node(citus_conn, citus.node_address(1), 1) == first
    # only host:port identifies a node: other arguments do not matter
    assert add_node(citus_conn, citus.node_address(1), 7, "secondary") == first
    assert len(rows(citus_conn)) == 2


def test_add_node_returns_existing_nodeid_of_any_cluster(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    other = add_node(citus_conn, citus.node_address(2), 1, "secondary", "other")
    # host:port is looked up across every group and node cluster, before any other check
    assert add_node(citus_conn, citus.node_address(2)) == other
    assert add_node(citus_conn, citus.node_address(2), 5, "primary", "default") == other
    assert add_node(citus_conn, citus.node_address(2), 0, "secondary", "third") == other
    assert [r for r in rows(citus_conn) if r[0] == other] == [(other, 1, *citus.node_address(2), "secondary")]


def test_add_primary_connects_to_the_node(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    before = rows(citus_conn)
    host, port = citus.node_address(1)
    for address in (unreachable_address(), (f"{host}-demoted", port)):
        with pytest.raises(psycopg.errors.ConnectionFailure, match="connection to the remote node"):
            add_node(citus_conn, address, 1)
        assert rows(citus_conn) == before
    # a secondary is only recorded: nothing connects to it
    secondary = add_node(citus_conn, unreachable_address(), 1, "secondary")
    flags = citus_conn.execute(
        "SELECT hasmetadata, metadatasynced, isactive FROM pg_catalog.pg_dist_node WHERE nodeid = %s",
        (secondary,),
    ).fetchone()
    assert flags == (False, False, True)
    # a reachable primary gets the metadata at once
    primary = add_node(citus_conn, (host, port), 1)
    assert synced_flags(citus_conn)[primary] is True


def test_add_node_allocates_group_ids(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    add_node(citus_conn, citus.node_address(1))
    add_node(citus_conn, citus.node_address(2))
    groups = [groupid for _, groupid, _, _, _ in rows(citus_conn)]
    assert groups[0] == 0
    assert len(set(groups)) == 3
    assert all(groupid > 0 for groupid in groups[1:])


def test_add_node_second_primary_in_group_refused(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    add_node(citus_conn, citus.node_address(1), 1)
    with pytest.raises(psycopg.Error, match="group 1 already has a primary node"):
        add_node(citus_conn, citus.node_address(2), 1)
    # a secondary in the same group is fine
    add_node(citus_conn, citus.node_address(2), 1, "secondary")


def test_primaries_only_in_default_cluster(
    citus: CitusTestServer, citus_conn: Connection, coordinator: Address
) -> None:
    with pytest.raises(psycopg.Error, match="primaries must be added to the default cluster"):
        add_node(citus_conn, citus.node_address(1), 1, "primary", "other")
    add_node(citus_conn, citus.node_address(1), 1, "secondary", "other")


def test_add_node_is_strict(citus_conn: Connection) -> None:
    assert scalar(citus_conn, "SELECT pg_catalog.citus_add_node(NULL, 5432)") is None
    assert rows(citus_conn) == []


def test_add_worker_refused_when_coordinator_is_localhost(
    citus: CitusTestServer, citus_conn: Connection
) -> None:
    citus_conn.execute("SELECT pg_catalog.citus_set_coordinator_host('localhost', 5432)")
    with pytest.raises(psycopg.Error, match="coordinator hostname is set to localhost"):
        add_node(citus_conn, citus.node_address(1), 1)


def test_node_functions_need_superuser(citus: CitusTestServer, citus_conn: Connection) -> None:
    citus_conn.execute("DROP ROLE IF EXISTS citus_test_plain")
    citus_conn.execute("CREATE ROLE citus_test_plain LOGIN")
    try:
        with citus.connect(user="citus_test_plain") as plain, pytest.raises(psycopg.Error):
            plain.execute("SELECT pg_catalog.citus_add_node('10.9.9.9', 5432, 5)")
    finally:
        citus_conn.execute("DROP ROLE citus_test_plain")


# -- citus_update_node ----------------------------------------------------------------------------


def test_update_to_another_nodes_address_refused(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    host, port = citus.node_address(2)
    with pytest.raises(
        psycopg.Error, match="there is already another node with the specified hostname and port"
    ):
        update_node(citus_conn, group1, host, port)


def test_unique_host_port_constraint(citus: CitusTestServer, citus_conn: Connection, group1: int) -> None:
    host, port = citus.node_address(2)
    with pytest.raises(psycopg.errors.UniqueViolation):
        citus_conn.execute(
            "UPDATE pg_catalog.pg_dist_node SET nodename = %s, nodeport = %s WHERE nodeid = %s",
            (host, port, group1),
        )


def test_update_unknown_node_refused(citus_conn: Connection, group1: int) -> None:
    unknown = max(r[0] for r in rows(citus_conn)) + 1000  # ids are not reset on real Citus
    with pytest.raises(psycopg.errors.NoDataFound, match=f"node {unknown} not found"):
        update_node(citus_conn, unknown, "10.9.9.9", 5432)


def test_update_to_same_address_is_noop(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    before = rows(citus_conn)
    host, port = citus.node_address(1)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, host, port)
    # no shard lock: a client write to the group goes through while the transaction is open
    write = client_ops.write(1)
    assert write.join(), "client write blocked by a no-op citus_update_node"
    assert write.error is None
    # and metadata stays in sync: a node can still be added in this transaction
    add_node(citus_conn, citus.node_address(3), 1, "secondary")
    citus_conn.execute("ROLLBACK")
    assert rows(citus_conn) == before


def test_update_moves_address_and_keeps_nodeid(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    host, port = citus.node_address(1)
    update_node(citus_conn, group1, f"{host}-demoted", port)
    assert (group1, 1, f"{host}-demoted", port, "primary") in rows(citus_conn)
    # the freed address can now be taken by another row (citus_update_node needs no sync)
    secondary_id = secondary_of_group1(citus_conn)
    update_node(citus_conn, secondary_id, host, port)
    assert (secondary_id, 1, host, port, "secondary") in rows(citus_conn)
    # left so on purpose: the next test's reset must cope with a primary nothing listens on


@pytest.mark.parametrize("finish", ["COMMIT", "ROLLBACK"])
def test_update_of_primary_blocks_client_writes_until_end(
    citus: CitusTestServer,
    citus_conn: Connection,
    group1: int,
    client_ops: ClientOps,
    finish: str,
) -> None:
    citus.client_write(1, "before")  # creates the probe table on real Citus
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, *citus.node_alias(1))
    write = client_ops.write(1, "during")
    assert write.wait_until_waiting(), "client write was not blocked"
    # reads of the group's shards are not blocked
    read = client_ops.read(1)
    assert read.join(), "client read was blocked"
    assert read.error is None and read.result == 1
    assert citus.client_read(1) == 1
    assert write.waiting() and not write.done
    citus_conn.execute(finish)
    assert write.join()
    assert write.error is None
    assert citus.client_read(1) >= 1


def test_client_traffic_fails_once_the_primary_is_renamed_to_an_address_nothing_listens_on(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    host, port = citus.node_address(1)
    citus.client_write(1, "before")
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    write = client_ops.write(1, "during")
    assert write.wait_until_waiting()
    citus_conn.execute("COMMIT")
    # the waiting write goes on to the row's new address, where nothing listens
    assert write.join()
    assert isinstance(write.error, psycopg.errors.ConnectionFailure)
    assert f"{host}-demoted:{port}" in str(write.error)
    with pytest.raises(psycopg.errors.ConnectionFailure, match="connection to the remote node"):
        citus.client_read(1)
    # and so do they while the node is down
    update_node(citus_conn, group1, host, port)
    assert citus.client_read(1) == 1
    with citus.node_down(1), pytest.raises(psycopg.errors.ConnectionFailure):
        citus.client_write(1, "down")


def test_first_client_write_right_after_a_committed_update(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    # real Citus refuses to create the probe table until it has synced: the helper waits for it
    update_node(citus_conn, secondary_of_group1(citus_conn), *unreachable_address())
    citus.client_write(1, "first")
    assert citus.client_read(1) == 1


def test_update_of_primary_does_not_block_other_groups(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    add_node(citus_conn, citus.node_address(3), 2)
    host, port = citus.node_address(1)
    citus.client_write(2, "setup")
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    other = client_ops.write(2, "other group")
    assert other.join(), "a write to another group was blocked"
    assert other.error is None
    citus_conn.execute("ROLLBACK")


def test_update_of_secondary_does_not_block(
    citus: CitusTestServer, citus_conn: Connection, group1: int, client_ops: ClientOps
) -> None:
    citus.client_write(1, "setup")
    secondary_id = next(r[0] for r in rows(citus_conn) if r[4] == "secondary")
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_id, "10.9.9.9", 5432)
    write = client_ops.write(1, "during")
    assert write.join(), "update of a secondary row blocked client writes"
    assert write.error is None
    citus_conn.execute("ROLLBACK")


@pytest.mark.parametrize("operation", ["add", "remove"])
def test_add_remove_refused_after_primary_update_in_same_transaction(
    citus: CitusTestServer, citus_conn: Connection, group1: int, operation: str
) -> None:
    host, port = citus.node_address(1)
    secondary = citus.node_address(2)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    assert metadata_unsynced(citus_conn) is not None
    with pytest.raises(psycopg.Error, match="is a metadata node, but is out of sync"):
        if operation == "add":
            add_node(citus_conn, citus.node_address(3), 1, "secondary")
        else:
            citus_conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", secondary)
    citus_conn.execute("ROLLBACK")
    # after a committed update to an address the node listens on, once synced again, both work
    update_node(citus_conn, group1, *citus.node_alias(1))
    assert wait_metadata_synced(citus_conn)
    if operation == "add":
        add_node(citus_conn, citus.node_address(3), 1, "secondary")
    else:
        citus_conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", secondary)


def test_add_existing_node_allowed_while_unsynced(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    host, port = citus.node_address(1)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    # returning an existing node's id happens before any sync check
    existing = add_node(citus_conn, citus.node_address(2), 1, "secondary")
    assert existing in [r[0] for r in rows(citus_conn)]
    citus_conn.execute("ROLLBACK")


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


# -- citus_remove_node ----------------------------------------------------------------------------


def test_remove_node(citus: CitusTestServer, citus_conn: Connection, group1: int) -> None:
    host, port = citus.node_address(2)
    citus_conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", (host, port))
    assert [r[2:4] for r in rows(citus_conn) if r[1] == 1] == [citus.node_address(1)]


def test_remove_unknown_node_refused(citus_conn: Connection, coordinator: Address) -> None:
    with pytest.raises(psycopg.Error, match=r'node at "10\.9\.9\.9:5432" does not exist'):
        citus_conn.execute("SELECT pg_catalog.citus_remove_node('10.9.9.9', 5432)")


# -- pg_dist_authinfo ------------------------------------------------------------------------------


def test_authinfo_unique_per_role_and_node(citus_conn: Connection) -> None:
    insert = "INSERT INTO pg_catalog.pg_dist_authinfo VALUES (%s, current_user, %s)"
    citus_conn.execute(insert, (0, "password=secret"))
    citus_conn.execute(insert, (1, "password=other"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        citus_conn.execute(insert, (0, "sslcert=/x.crt sslkey=/x.key"))


@pytest.mark.parametrize(
    ("authinfo", "valid"),
    [
        ("password=secret", True),
        ("password=se\\ cr\\'et sslcert=/a/b.crt sslkey=/a/b.key", True),
        ("password='quoted value'", True),
        ("", True),
        ("user=postgres", False),
        ("password=x host=elsewhere", False),
        ("password", False),
    ],
)
def test_authinfo_keys_checked(citus_conn: Connection, authinfo: str, valid: bool) -> None:
    insert = "INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, current_user, %s)"
    if valid:
        citus_conn.execute(insert, (authinfo,))
    else:
        with pytest.raises(psycopg.errors.CheckViolation):
            citus_conn.execute(insert, (authinfo,))


def test_create_extension_if_not_exists_is_noop(citus_conn: Connection) -> None:
    citus_conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    assert scalar(citus_conn, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'") == 1


# -- the locks of citus_update_node ----------------------------------------------------------------


def test_update_of_primary_locks_its_group(
    citus: CitusTestServer, citus_conn: Connection, group2: int, group1: int
) -> None:
    citus.client_write(1, "setup")  # real Citus: shards of the probe table on groups 1 and 2
    citus.client_write(2, "setup")
    host, port = citus.node_address(1)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    assert citus.locked_groups() == [1]
    citus_conn.execute("ROLLBACK")
    assert citus.locked_groups() == []


def test_force_update_terminates_lock_holders_after_cooldown(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    citus.client_write(1, "setup")
    with citus.connect(autocommit=False) as holder:
        client_write(holder, 1, "long transaction")
        citus_conn.execute(
            "SELECT pg_catalog.citus_update_node(%s, %s, %s, true, 50)",
            (group1, *citus.node_alias(1)),
        )
        # the update got the lock because the holder's backend was terminated
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
    assert citus.client_read(1) == 1  # only the setup row: the holder's write was never committed


def test_update_without_force_respects_lock_timeout(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    host, port = citus.node_address(1)
    citus.client_write(1, "setup")
    with citus.connect(autocommit=False) as holder:
        client_write(holder, 1, "long transaction")
        citus_conn.execute("SET lock_timeout = 50")
        try:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                citus_conn.execute(
                    "SELECT pg_catalog.citus_update_node(%s, %s, %s, false)",
                    (group1, f"{host}-demoted", port),
                )
        finally:
            citus_conn.execute("RESET lock_timeout")
        holder.rollback()


def test_update_of_secondary_also_unsyncs_metadata(
    citus: CitusTestServer, citus_conn: Connection, group1: int
) -> None:
    # Citus marks every metadata worker unsynced on any effective citus_update_node
    secondary_id = secondary_of_group1(citus_conn)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_id, "10.9.9.9", 5432)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        add_node(citus_conn, citus.node_address(3), 1, "secondary")
    citus_conn.execute("ROLLBACK")


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
    with server.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS emu_bootstrap")
        conn.execute("CREATE DATABASE emu_bootstrap")
    try:
        with server.connect("emu_bootstrap") as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
            assert is_emulated(conn) and not is_real_citus(conn)
            conn.execute("SELECT pg_catalog.citus_set_coordinator_host('10.1.0.1', 5432)")
            conn.execute("INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, current_user, 'password=x')")
            assert scalar(conn, "SELECT count(*) FROM pg_catalog.pg_dist_node") == 1
    finally:
        with server.connect() as conn:
            conn.execute("DROP DATABASE emu_bootstrap")


def test_emulation_can_live_in_any_database(citus_server: CitusTestServer, emulated_only: None) -> None:
    """Emulation only: where the emulation is installed; the daemon serves every database."""
    server: PostgresServer = citus_server.server
    with server.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS emu_scratch")
        conn.execute("CREATE DATABASE emu_scratch")
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
        with server.connect() as conn:
            conn.execute("DROP DATABASE emu_scratch")


# -- mode selection --------------------------------------------------------------------------------


def test_resolve_mode() -> None:
    assert resolve_mode("auto", True) == "real"
    assert resolve_mode("auto", False) == "emulated"
    assert resolve_mode("emulated", True) == "emulated"
    assert resolve_mode("real", True) == "real"
    with pytest.raises(CitusUnavailableError, match="PATRONI_MPP_TEST_CITUS=real"):
        resolve_mode("real", False)
