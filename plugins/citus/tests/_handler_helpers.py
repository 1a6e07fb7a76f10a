"""Helpers of the handler tests: registering a two-node group, reading a node id, the open transaction."""

from __future__ import annotations

from typing import Any

import psycopg
from tests._helpers import Formation, node

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
