"""The Citus metadata API facts the engine relies on: ``citus_update_node``, its locks and client traffic.

Checked on the session's Citus test server: the SQL emulation, or real Citus when ``PATRONI_MPP_TEST_CITUS``
selects it. Real Citus is the reference: every test runs the same assertions on both, so the emulation must
behave like Citus 13.2 there (the facts, as measured on Citus 13.2.2, are listed in
``patroni_mpp_citus/testing/README.md``).
"""

from __future__ import annotations

import psycopg
import pytest
from patroni_mpp_citus.testing.emulation import Connection, metadata_unsynced, wait_metadata_synced
from patroni_mpp_citus.testing.metadata_api import (
    add_node,
    rows,
    secondary_of_group1,
    unreachable_address,
    update_node,
)
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps
from patroni_mpp_citus.testing.traffic import client_write

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
