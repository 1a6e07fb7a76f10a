"""Statements of the Citus node-metadata API for the tests of its facts (real Citus and the emulation alike).

The Citus tests' conftest.py has the fixtures that register groups with them (``coordinator``,
``group1``, ``group2``).
"""

from __future__ import annotations

from patroni_mpp.testing.network import free_port

from .emulation import Connection

Address = tuple[str, int]


def scalar(conn: Connection, query: str, *params: object) -> object:
    """The first column of the first row of ``query``."""
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
    """``citus_add_node`` of ``address`` into group ``groupid``; the new node id."""
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
    """``citus_update_node`` of node ``nodeid`` to ``host:port`` (forced, with a 10 s lock timeout)."""
    conn.execute("SELECT pg_catalog.citus_update_node(%s, %s, %s, true, 10000)", (nodeid, host, port))


def remove_node(conn: Connection, address: Address) -> None:
    """``citus_remove_node`` of ``address``."""
    conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", address)


def synced_flags(conn: Connection) -> dict[int, bool]:
    """Nodeid -> metadatasynced of every metadata node (coordinator and primary workers)."""
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
    """Every ``pg_dist_node`` row as ``(nodeid, groupid, nodename, nodeport, noderole)``, by node id."""
    return [
        (int(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]))
        for r in conn.execute(
            "SELECT nodeid, groupid, nodename, nodeport, noderole::text "
            "FROM pg_catalog.pg_dist_node "
            "ORDER BY nodeid"
        ).fetchall()
    ]


def secondary_of_group1(conn: Connection) -> int:
    """The node id of group 1's secondary row."""
    return next(r[0] for r in rows(conn) if r[1] == 1 and r[4] == "secondary")
