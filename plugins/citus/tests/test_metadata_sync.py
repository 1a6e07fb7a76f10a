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
import re
from typing import Any

import pytest
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus.testing.handler_formation import APP, Formation, node
from patroni_mpp_citus.testing.server import CitusTestServer
from tests._helpers import addr, records, register

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


def waiting_for_sync(formation: Formation) -> str | None:
    """The node the worker waits for Citus to sync (read afresh each time)."""
    return formation.handler.worker.waiting_for_sync


def metadata_backends(citus: CitusTestServer) -> list[int]:
    """Backend pids of the handler's metadata connection."""
    with citus.connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_catalog.pg_stat_activity WHERE application_name = %s", (APP,)
        ).fetchall()
    return [int(row[0]) for row in rows]


def test_additions_wait_while_a_metadata_node_is_unreachable(
    citus: CitusTestServer, formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    """Citus cannot sync to a node that is down: updates go on, additions wait for it, nothing is lost."""
    caplog.set_level(logging.DEBUG, logger="patroni_mpp_citus")
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.set_group(2, node(citus, 4, "n4", role="primary"))
    formation.sync()
    assert formation.wait_rows(1, {(*addr(citus, 1), "primary"), (*addr(citus, 2), "secondary")})
    assert formation.wait_rows(2, {(*addr(citus, 4), "primary")})
    assert formation.wait_idle()
    assert citus.wait_metadata_synced()
    backends = metadata_backends(citus)
    assert len(backends) == 1

    with citus.node_down(4):
        # a switchover of group 1 is only updates: it is applied although Citus cannot sync to n4
        switch_over(formation, 1, node(citus, 1, "n1"), node(citus, 2, "n2", role="primary"))
        assert formation.wait_rows(1, {(*addr(citus, 2), "primary"), (*addr(citus, 1), "secondary")})
        # a new group is an addition: it waits, rechecked with back-off, logged once
        formation.set_group(3, node(citus, 3, "n3", role="primary"))
        formation.sync()
        assert wait_for(lambda: len(records(caplog, "DEBUG", "Metadata of ")) >= 2), "retried"
        assert formation.group_rows(3) == set()
        assert waiting_for_sync(formation) is not None
        waits = records(caplog, "INFO", "Citus has not synced its metadata to ")
        assert len(waits) == 1
        # it names a node Citus has not synced (which one, of those that wait, is Citus's choice)
        assert re.search(r"metadata to \S+:\d+ yet", waits[0].getMessage())
        assert metadata_backends(citus) == backends, "the metadata connection is kept"

    assert errors(caplog) == [], "waiting for sync is no error"

    # n4 is back: Citus syncs at its next retry (about 5 s) and the waiting task goes through by
    # itself, with no reconciliation and no error (the engine's session caches no connection to n4
    # from before its restart)
    assert formation.wait_rows(3, {(*addr(citus, 3), "primary")})
    assert formation.wait_idle()
    assert waiting_for_sync(formation) is None
    assert len(records(caplog, "INFO", "Citus synced its metadata")) == 1
    assert len(records(caplog, "INFO", "Citus has not synced its metadata")) == 1
    assert metadata_backends(citus) == backends
    assert errors(caplog) == []


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
