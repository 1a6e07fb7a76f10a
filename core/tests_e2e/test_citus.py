"""Citus end to end: a coordinator and two worker groups of two members through the launcher.

Runs only where the PostgreSQL installation ships the citus extension and the citus engine plugin is
installed; skipped with the reason elsewhere. A client writes through the coordinator during a planned
worker switchover and a worker failover; no acknowledged write may be lost and ``pg_dist_node`` must come
to name every worker group's DCS leader. The timings are measured by ``bench/e2e_citus.py``.
"""

from __future__ import annotations

import pytest
from patroni_mpp.testing.formation import Formation
from patroni_mpp.testing.patroni_node import NodeOptions
from patroni_mpp_citus.testing.cluster_scenario import run_scenario


@pytest.mark.scenario
def test_worker_switchover_and_failover_under_load(
    citus_ready: None,
    formation: Formation,
    node_python: str,
    request: pytest.FixtureRequest,
) -> None:
    # counted by scripts/test (record_property would warn under junit_family=xunit2)
    request.node.user_properties.append(("citus", "real"))
    figures = run_scenario(formation, NodeOptions(python=node_python), node_python)
    assert figures["lost_acknowledged_writes"] == 0, figures
    assert figures["ok_ops"] > 0, figures
