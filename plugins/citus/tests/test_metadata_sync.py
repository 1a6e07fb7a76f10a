"""Adding and removing nodes while Citus syncs its metadata, and addresses that belong to someone else.

After an effective ``citus_update_node`` commits, Citus refuses ``citus_add_node`` and
``citus_remove_node`` (SQLSTATE 55000) until its maintenance daemon has synced every metadata node.
The worker must neither fail nor lose the task: it waits (with a back-off, other work going on) and
applies it once Citus is in sync, logging the wait once.

``citus_add_node`` returns the id of an address registered anywhere; a row of another group, role
or node cluster must never become the engine's.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from patroni_mpp_citus.testing.server import CitusTestServer
from tests._helpers import Formation, addr, node, records, register

ERRORS = ("Exception when executing query", "Exception when working with pg_dist_node")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Error messages of the engine's query wrapper and worker."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(ERRORS)]


def switch_over(formation: Formation, groupid: int, old: Any, new: Any, *others: Any) -> None:
    """A planned switchover of ``groupid`` from member ``old`` to ``new``, as Patroni's events do it."""
    formation.event("before_demote", groupid, old.name)
    formation.set_group(groupid, new, old, *others)
    formation.event("before_promote", groupid, new.name)
    formation.event("after_promote", groupid, new.name)


def test_rows_deferred_by_a_switchover_follow_without_another_reconciliation(
    citus: CitusTestServer, formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """The old primary's secondary row (an add) is written once Citus synced, not at the next HA loop."""
    caplog.set_level(logging.DEBUG, logger="patroni_mpp_citus")
    n1 = node(citus, 1, "n1", role="primary")
    # n2 takes no reads: it has no row, so the switchover leaves no row free to park n1 in
    n2 = node(citus, 2, "n2", tags={"noloadbalance": True})
    formation.set_group(1, n1, n2)
    formation.sync()
    assert formation.wait_rows(1, {(*addr(citus, 1), "primary")})
    assert formation.wait_idle()

    switch_over(
        formation,
        1,
        node(citus, 1, "n1"),
        node(citus, 2, "n2", role="primary", tags={"noloadbalance": True}),
    )
    # no sync_meta_data from here on: the worker itself must finish the job
    assert formation.wait_rows(1, {(*addr(citus, 2), "primary"), (*addr(citus, 1), "secondary")})
    assert formation.wait_idle()
    assert errors(caplog) == []


def test_a_group_added_right_after_a_switchover_is_not_lost(
    citus: CitusTestServer, formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """A reconciliation that adds a group while metadata is unsynced waits; it is applied, not dropped."""
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_rows(1, {(*addr(citus, 1), "primary"), (*addr(citus, 2), "secondary")})
    assert formation.wait_idle()

    switch_over(formation, 1, node(citus, 1, "n1"), node(citus, 2, "n2", role="primary"))
    formation.set_group(3, node(citus, 3, "n3", role="primary"))
    formation.sync()  # queued while the switchover commits: its add meets unsynced metadata
    assert formation.wait_rows(3, {(*addr(citus, 3), "primary")}), "the new group must be registered"
    assert formation.group_rows(1) == {(*addr(citus, 2), "primary"), (*addr(citus, 1), "secondary")}
    assert formation.wait_idle()
    assert errors(caplog) == []
    # each wait that happened is logged once when it starts and once when it ends
    started = records(caplog, "INFO", "Citus has not synced its metadata")
    ended = records(caplog, "INFO", "Citus synced its metadata")
    assert len(started) == len(ended) <= 1


def test_address_of_another_group_is_never_adopted(
    citus: CitusTestServer, formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """The DCS names, as a secondary of group 1, the address Citus holds as group 2's primary."""
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    with citus.connect() as conn:
        theirs = register(conn, *addr(citus, 2), 2)
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_rows(1, {(*addr(citus, 1), "primary")})
    assert formation.wait_idle()
    assert formation.group_rows(2) == {(*addr(citus, 2), "primary")}

    host, port = addr(citus, 2)
    conflicts = records(caplog, "WARNING", f"Not registering {host}:{port} as secondary of group 1")
    assert len(conflicts) == 1
    assert f"node {theirs}, primary of group 2" in conflicts[0].getMessage()

    # the next reconciliations try again but say it once, and never touch group 2's row
    for _ in range(2):
        formation.sync()
        assert formation.wait_idle()
    formation.set_group(1, node(citus, 1, "n1", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    assert formation.group_rows(2) == {(*addr(citus, 2), "primary")}
    assert formation.group_rows(1) == {(*addr(citus, 1), "primary")}
    assert len(records(caplog, "WARNING", f"Not registering {host}:{port}")) == 1
    assert errors(caplog) == []


def test_secondary_of_another_node_cluster_is_never_adopted(
    citus: CitusTestServer, formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """A secondary registered for ``citus.cluster_name = 'analytics'`` stays out of the engine's reach."""
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    formation.set_group(1, node(citus, 1, "n1", role="primary"))
    formation.sync()
    assert formation.wait_rows(1, {(*addr(citus, 1), "primary")})
    assert formation.wait_idle()
    host, port = addr(citus, 2)
    with citus.connect() as conn:
        conn.execute("SELECT pg_catalog.citus_add_node(%s, %s, 1, 'secondary', 'analytics')", (host, port))

    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_idle()
    assert len(records(caplog, "WARNING", f"Not registering {host}:{port} as secondary of group 1")) == 1
    with citus.connect() as conn:
        rows = conn.execute(
            "SELECT groupid, noderole::text, nodecluster::text FROM pg_catalog.pg_dist_node "
            "WHERE nodename = %s AND nodeport = %s",
            (host, port),
        ).fetchall()
    assert rows == [(1, "secondary", "analytics")]
    # a later change of the group does not remove or update the other cluster's row
    formation.set_group(1, node(citus, 1, "n1", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    assert (host, port, "secondary") in formation.group_rows(1)
    assert errors(caplog) == []
