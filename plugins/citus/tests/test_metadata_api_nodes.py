"""The Citus metadata API facts the engine relies on: the catalog, adding and removing nodes, authinfo.

Checked on the session's Citus test server: the SQL emulation, or real Citus when ``PATRONI_MPP_TEST_CITUS``
selects it. Real Citus is the reference: every test runs the same assertions on both, so the emulation must
behave like Citus 13.2 there (the facts, as measured on Citus 13.2.2, are listed in
``patroni_mpp_citus/testing/README.md``).
"""

from __future__ import annotations

import psycopg
import pytest
from patroni_mpp_citus.testing.emulation import Connection
from patroni_mpp_citus.testing.metadata_api import (
    Address,
    add_node,
    rows,
    scalar,
    synced_flags,
    unreachable_address,
)
from patroni_mpp_citus.testing.server import CitusTestServer

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
