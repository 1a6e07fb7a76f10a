"""The end-to-end Citus scenario: a worker switchover and a worker failover under client load."""

from __future__ import annotations

import time
from typing import Any

from patroni_mpp.testing.formation import CLUSTER_POLL_INTERVAL, Formation, leader_of, wait_leader
from patroni_mpp.testing.patroni_node import NodeOptions
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.processes import LocalClusterError

from patroni_mpp_citus.testing.cluster import (
    build_groups,
    ctl_switchover,
    start_groups,
    wait_metadata_matches,
)
from patroni_mpp_citus.testing.cluster_workload import Workload


def run_scenario(
    formation: Formation, options: NodeOptions, ctl_python: str, *, settle: float = 3.0
) -> dict[str, Any]:
    """Bring the formation up, run the workload through a planned worker switchover and a worker failover.

    :returns: the client-side figures: failed ops, longest pause, metadata convergence times, lost writes.
    """
    groups = build_groups(formation, options)
    start_groups(groups)
    etcd = formation.etcd
    wait_metadata_matches(etcd, groups)
    coordinator = leader_of(groups[0])
    if coordinator is None:
        raise LocalClusterError("no coordinator leader")
    workload = Workload(coordinator)
    workload.prepare()
    workload.start()
    figures: dict[str, Any] = {}
    try:
        time.sleep(settle)
        old = leader_of(groups[1])
        assert old is not None
        candidate = next(n for n in groups[1] if n is not old)
        ctl_switchover(
            coordinator.config_path, 1, old.name, candidate.name, python=ctl_python, launcher=options.launcher
        )
        wait_for(
            lambda: leader_of(groups[1]) is candidate,
            timeout=180,
            interval=CLUSTER_POLL_INTERVAL,
            what="new group 1 leader",
        )
        figures["switchover_metadata_s"] = wait_metadata_matches(etcd, groups)
        time.sleep(settle)
        victim = leader_of(groups[2])
        assert victim is not None
        killed_at = time.monotonic()
        victim.kill9()
        survivors = [n for n in groups[2] if n is not victim]
        wait_leader(survivors, timeout=180)
        wait_metadata_matches(etcd, groups)
        figures["failover_metadata_s"] = time.monotonic() - killed_at
        time.sleep(settle)
    finally:
        workload.stop()
    figures.update(
        failed_ops=workload.failed_ops,
        ok_ops=workload.ok_ops,
        longest_pause_s=workload.longest_pause,
        lost_acknowledged_writes=workload.lost_writes(),
    )
    return figures
