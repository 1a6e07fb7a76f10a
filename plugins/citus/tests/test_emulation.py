"""The Citus metadata API facts the engine relies on (citus-engine.md §14), checked on the session's
Citus test server: the SQL emulation, or real Citus when ``PATRONI_MPP_TEST_CITUS`` selects it.
Tests that need the ``emulated_only`` fixture check emulation internals and skip on real Citus.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_citus.testing.emulation import (
    Connection,
    EmulationError,
    call_count,
    call_log,
    emulation_sql,
    install_emulation,
    is_emulated,
    is_real_citus,
    metadata_unsynced,
    set_call_log,
    wait_metadata_synced,
)
from patroni_mpp_citus.testing.server import (
    CitusTestServer,
    CitusUnavailableError,
    ClientOps,
    resolve_mode,
)
from patroni_mpp_citus.testing.statement_log import StatementLog, StatementLogView

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
    with pytest.raises(psycopg.Error, match="node 4242 not found"):
        update_node(citus_conn, 4242, "10.9.9.9", 5432)


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
    # the freed address can now be taken by another row
    secondary_id = next(r[0] for r in rows(citus_conn) if r[4] == "secondary")
    assert wait_metadata_synced(citus_conn)
    update_node(citus_conn, secondary_id, host, port)
    assert (secondary_id, 1, host, port, "secondary") in rows(citus_conn)


@pytest.mark.parametrize("finish", ["COMMIT", "ROLLBACK"])
def test_update_of_primary_blocks_client_writes_until_end(
    citus: CitusTestServer,
    citus_conn: Connection,
    group1: int,
    client_ops: ClientOps,
    finish: str,
) -> None:
    host, port = citus.node_address(1)
    citus.client_write(1, "before")  # creates the probe table on real Citus
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    write = client_ops.write(1, "during")
    read = client_ops.read(1)
    assert write.wait_until_waiting(), "client write was not blocked"
    assert read.wait_until_waiting(), "client read was not blocked"
    assert write.waiting() and not write.done
    citus_conn.execute(finish)
    assert write.join() and read.join()
    assert write.error is None and read.error is None
    assert citus.client_read(1) >= 1


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
    # after a committed update, once metadata is synced again, both work
    update_node(citus_conn, group1, f"{host}-demoted", port)
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


# -- emulation internals --------------------------------------------------------------------------


def test_install_is_idempotent(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    before = rows(citus_conn)
    install_emulation(citus_conn)
    assert rows(citus_conn) == before
    assert is_emulated(citus_conn) and not is_real_citus(citus_conn)
    assert "citus_update_node" in emulation_sql()


def test_update_of_primary_takes_group_lock(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    host, port = citus.node_address(1)
    citus_conn.execute("BEGIN")
    update_node(citus_conn, group1, f"{host}-demoted", port)
    assert citus.locked_groups() == [1]
    citus_conn.execute("COMMIT")
    assert citus.locked_groups() == []


def test_force_update_terminates_lock_holders_after_cooldown(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    host, port = citus.node_address(1)
    with citus.connect(autocommit=False) as holder:
        holder.execute("SELECT citus_emulation.client_write(1, 'long transaction')")
        citus_conn.execute(
            "SELECT pg_catalog.citus_update_node(%s, %s, %s, true, 50)",
            (group1, f"{host}-demoted", port),
        )
        # the update got the lock because the holder's backend was terminated
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
    assert citus.client_read(1) == 0  # its write was never committed


def test_update_without_force_respects_lock_timeout(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    host, port = citus.node_address(1)
    with citus.connect(autocommit=False) as holder:
        holder.execute("SELECT citus_emulation.client_write(1, 'long transaction')")
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
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
    # Citus marks every metadata worker unsynced on any effective citus_update_node
    secondary_id = next(r[0] for r in rows(citus_conn) if r[4] == "secondary")
    citus_conn.execute("BEGIN")
    update_node(citus_conn, secondary_id, "10.9.9.9", 5432)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        add_node(citus_conn, citus.node_address(3), 1, "secondary")
    citus_conn.execute("ROLLBACK")


def test_call_log_and_counter(citus_conn: Connection, group1: int, emulated_only: None) -> None:
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
    with citus.connect(autocommit=False, application_name="forgotten") as open_tx:
        open_tx.execute("SELECT count(*) FROM pg_catalog.pg_dist_node")
        with pytest.raises(RuntimeError, match="forgotten"):
            citus.reset(lock_timeout_ms=50)
        open_tx.rollback()
    citus.reset()


def test_client_write_and_read_count(citus: CitusTestServer, emulated_only: None) -> None:
    assert citus.client_read(3) == 0
    citus.client_write(3, "a")
    citus.client_write(3, "b")
    assert citus.client_read(3) == 2


def test_reset_restarts_ids(
    citus: CitusTestServer, citus_conn: Connection, group1: int, emulated_only: None
) -> None:
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
    server: PostgresServer = citus_server.server
    with server.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS emu_scratch")
        conn.execute("CREATE DATABASE emu_scratch")
    try:
        with server.connect("emu_scratch") as conn:
            install_emulation(conn)
            install_emulation(conn)
            assert is_emulated(conn)
            assert scalar(conn, "SELECT pg_catalog.citus_add_node('h', 1, 3)") == 1
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
