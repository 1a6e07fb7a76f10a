"""Several Citus databases end to end: ``citus.databases`` through the launcher on real Citus.

A coordinator and two worker groups of two members, every member naming the Citus databases ``citus``
and ``citus_app2``. A client writes through the coordinator to a distributed table in each database
while worker group 1 switches over (``ctl switchover``) and the leader of worker group 2 is killed with
``kill -9``. No write (the clients only insert) may fail during the switchover, no acknowledged write
may be lost in either database, and afterwards ``pg_dist_node`` must name every worker group's DCS
leader in both databases, the coordinator itself, and the same nodes in both. Runs only where the
citus extension and the citus engine plugin are installed (fails instead of skipping under
``PATRONI_MPP_TEST_CITUS=real``).
"""

from __future__ import annotations

import time

import pytest
from patroni_mpp.testing.formation import CLUSTER_POLL_INTERVAL, Formation, leader_of, wait_leader
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus.testing.cluster import (
    build_groups,
    ctl_switchover,
    dcs_primaries,
    dist_primaries,
    query,
    start_groups,
    wait_metadata_matches,
)
from patroni_mpp_citus.testing.cluster_workload import Workload

DATABASES = ("citus", "citus_app2")
SETTLE = 2.0
"""Seconds of load before and after each event."""


Rows = set[tuple[int, str, int, str]]


def dist_nodes(coordinator: PatroniNode, dbname: str) -> Rows:
    """``pg_dist_node`` of ``dbname`` on the coordinator: group, name, port and role of every row."""
    rows = query(
        coordinator, "SELECT groupid, nodename, nodeport, noderole::text FROM pg_dist_node", dbname=dbname
    )
    return {(int(g), str(n), int(p), str(r)) for g, n, p, r in rows}


@pytest.mark.scenario
def test_two_databases_through_switchover_and_failover(
    citus_ready: None,
    formation: Formation,
    node_python: str,
    request: pytest.FixtureRequest,
) -> None:
    request.node.user_properties.append(("citus", "real"))  # counted by scripts/test
    options = NodeOptions(python=node_python)
    groups = build_groups(formation, options, databases=DATABASES)
    start_groups(groups)
    etcd = formation.etcd
    wait_metadata_matches(etcd, groups, dbnames=DATABASES)
    coordinator = leader_of(groups[0])
    assert coordinator is not None
    # inserts only: the pause holds writes, while a read of the group runs against the old primary
    # and may fail as it shuts down (Citus's behaviour, see the citus package README)
    workloads = {name: Workload(coordinator, dbname=name, read_back=False) for name in DATABASES}
    for workload in workloads.values():
        workload.prepare()
    for workload in workloads.values():
        workload.start()
    try:
        time.sleep(SETTLE)
        old = leader_of(groups[1])
        assert old is not None
        candidate = next(n for n in groups[1] if n is not old)
        switch_started = time.monotonic()
        ctl_switchover(
            coordinator.config_path, 1, old.name, candidate.name, python=node_python, launcher=True
        )
        wait_for(
            lambda: leader_of(groups[1]) is candidate,
            timeout=120,
            interval=CLUSTER_POLL_INTERVAL,
            what="new group 1 leader",
        )
        wait_metadata_matches(etcd, groups, dbnames=DATABASES)
        time.sleep(SETTLE)
        switch_ended = time.monotonic()
        victim = leader_of(groups[2])
        assert victim is not None
        victim.kill9()
        wait_leader([n for n in groups[2] if n is not victim], timeout=120)
        wait_metadata_matches(etcd, groups, dbnames=DATABASES)
        time.sleep(SETTLE)
    finally:
        for workload in workloads.values():
            workload.stop()
    for name, workload in workloads.items():
        failed = [t for log in workload.logs for t in log.failures(switch_started, switch_ended)]
        assert failed == [], f"{name}: writes failed during the switchover: {dict(workload.errors())}"
        assert workload.ok_ops > 0, name
        assert workload.missing_ids() == [], f"{name}: acknowledged writes lost"
    leaders = dcs_primaries(etcd, groups)
    for name in DATABASES:
        assert dist_primaries(coordinator, name) == leaders, name
        coordinator_rows = {(p, r) for g, _n, p, r in dist_nodes(coordinator, name) if g == 0}
        # the coordinator's leader is group 0's primary (its replica a secondary)
        assert {p for p, r in coordinator_rows if r == "primary"} == {coordinator.pg_port}, name
    # both databases end up naming the same nodes (secondaries included)
    wait_for(
        lambda: len({frozenset(dist_nodes(coordinator, name)) for name in DATABASES}) == 1,
        timeout=60,
        interval=CLUSTER_POLL_INTERVAL,
        what="the same pg_dist_node in both databases",
    )
