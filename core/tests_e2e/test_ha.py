"""A plain (Null engine) three-member cluster through the launcher: bootstrap, switchover, failover.

The tests of this module share one cluster and run in order: each leaves it with a leader and two streaming
replicas for the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.formation import (
    CLUSTER_POLL_INTERVAL,
    Formation,
    leader_of,
    wait_leader,
    wait_streaming,
)
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for

SCOPE = "ha"
NAMES = ("ha1", "ha2", "ha3")


@pytest.fixture(scope="module")
def cluster(module_formation: Formation, node_python: str) -> list[PatroniNode]:
    nodes = [module_formation.add(name, SCOPE, NodeOptions(python=node_python)) for name in NAMES]
    nodes[0].start()
    wait_leader(nodes[:1])
    for node in nodes[1:]:
        node.start()
    return nodes


def _query(node: PatroniNode, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def _replicas_see(nodes: list[PatroniNode], value: str) -> bool:
    return all(_query(node, "SELECT count(*) FROM e2e_ha WHERE v = %s", value)[0][0] == 1 for node in nodes)


def _write_and_check(leader: PatroniNode, others: list[PatroniNode], value: str) -> None:
    _query(leader, "CREATE TABLE IF NOT EXISTS e2e_ha (v text)")
    _query(leader, "INSERT INTO e2e_ha VALUES (%s)", value)
    wait_for(
        lambda: _replicas_see(others, value),
        timeout=60,
        interval=CLUSTER_POLL_INTERVAL,
        what=f"row {value} on replicas",
    )


def test_bootstrap_and_streaming_replicas(cluster: list[PatroniNode], etcd: Etcd) -> None:
    view = wait_streaming(cluster, 2)
    leader = leader_of(cluster)
    assert leader is not None
    assert {m["name"] for m in view["members"]} == set(NAMES)
    assert _query(leader, "SELECT pg_is_in_recovery()") == [(False,)]
    replicas = [n for n in cluster if n is not leader]
    for node in replicas:
        assert _query(node, "SELECT pg_is_in_recovery()") == [(True,)]
    streaming = _query(leader, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
    assert {row[0] for row in streaming} == {n.name for n in replicas}
    _write_and_check(leader, replicas, "bootstrap")
    keys = etcd.get_prefix(f"/service/{SCOPE}/")
    # Null engine: no group component in the key paths.
    assert f"/service/{SCOPE}/leader" in keys
    assert keys[f"/service/{SCOPE}/leader"] == leader.name


def test_planned_switchover_with_ctl(cluster: list[PatroniNode], ctl: Callable[..., Any]) -> None:
    wait_streaming(cluster, 2)
    old = leader_of(cluster)
    assert old is not None
    candidate = next(n for n in cluster if n is not old)
    result = ctl(old.config_path, "switchover", SCOPE, "--leader", old.name,
                 "--candidate", candidate.name, "--force")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    new = wait_for(
        lambda: (leader := leader_of(cluster)) is candidate and leader,
        timeout=120,
        interval=CLUSTER_POLL_INTERVAL,
        what=f"{candidate.name} to lead",
    )
    assert new is candidate
    wait_streaming(cluster, 2)
    assert _query(old, "SELECT pg_is_in_recovery()") == [(True,)]
    _write_and_check(new, [n for n in cluster if n is not new], "switchover")
    listing = ctl(old.config_path, "list", SCOPE)
    assert listing.returncode == 0, listing.stderr
    assert candidate.name in listing.stdout and "Leader" in listing.stdout


def test_failover_after_kill9_of_leader(cluster: list[PatroniNode]) -> None:
    wait_streaming(cluster, 2)
    old = leader_of(cluster)
    assert old is not None
    patroni_pid, postmaster_pid = old.kill9()
    assert patroni_pid is not None and postmaster_pid is not None
    survivors = [n for n in cluster if n is not old]
    new = wait_leader(survivors, timeout=180)
    assert new in survivors
    other = next(n for n in survivors if n is not new)
    _write_and_check(new, [other], "failover")
    # The old leader comes back as a replica of the new one.
    old.start()
    wait_streaming(cluster, 2, timeout=240)
    wait_for(
        lambda: _replicas_see([old], "failover"),
        timeout=120,
        interval=CLUSTER_POLL_INTERVAL,
        what="old leader catching up",
    )
    assert leader_of(cluster) is new
