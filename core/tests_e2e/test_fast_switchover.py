"""``patroni-mpp run --fast-switchover`` end to end: safe on a plain cluster and on real Citus.

The plain (Null engine) cluster has three members, synchronous replication off (Patroni's default), and runs
with the mode switched on through ``PATRONI_MPP_FAST_SWITCHOVER``: a planned switchover under a writer loses
no acknowledged write and the old primary rejoins without ``pg_rewind``; a switchover to a lagging replica
and one to a member tagged ``nofailover`` are refused as Patroni refuses them; a ``kill -9`` failover opens
no fast switchover window. The Citus formation (coordinator and two worker groups of two, quorum
replication as Patroni sets up for Citus) runs planned worker switchovers and a ``kill -9`` failover under
writers and a reader, as ``bench/e2e_citus.py`` measures them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.formation import (
    CLUSTER_POLL_INTERVAL,
    Formation,
    leader_of,
    wait_leader,
    wait_streaming,
)
from patroni_mpp.testing.network import HOST
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus.testing.cluster import node_name
from patroni_mpp_citus.testing.cluster_measured import run_measured

SCOPE = "fast"
FAST_ENV = {"PATRONI_MPP_FAST_SWITCHOVER": "1"}
WINDOW_LOG = "Fast switchover:"
"""What every log line of a fast switchover window starts with (after Patroni's level)."""
REWIND_LOG = "pg_rewind"


def _log_since(node: PatroniNode, offset: int) -> str:
    return node.log_path.read_text(errors="replace")[offset:]


def _log_size(node: PatroniNode) -> int:
    try:
        return node.log_path.stat().st_size
    except OSError:
        return 0


class Writer:
    """One client inserting numbered rows into whichever member is the primary, reconnecting on errors."""

    def __init__(self, nodes: list[PatroniNode]) -> None:
        hosts = ",".join(HOST for _ in nodes)
        ports = ",".join(str(node.pg_port) for node in nodes)
        self.dsn = (
            f"host={hosts} port={ports} user=postgres dbname=postgres connect_timeout=2 "
            "target_session_attrs=read-write"
        )
        self.acknowledged: list[int] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fast-writer", daemon=True)

    def __enter__(self) -> Writer:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS fast_rows (id bigint PRIMARY KEY)")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        next_id = int(time.time() * 1000) * 1000
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                conn.execute("INSERT INTO fast_rows VALUES (%s)", (next_id,))
                self.acknowledged.append(next_id)
            except psycopg.Error:
                self.failures += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            next_id += 1
            time.sleep(0.005)
        if conn is not None:
            conn.close()

    def missing(self, node: PatroniNode) -> list[int]:
        """Acknowledged ids that ``node`` does not have."""
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            present = {row[0] for row in conn.execute("SELECT id FROM fast_rows")}
        return [ident for ident in self.acknowledged if ident not in present]


@pytest.fixture(scope="module")
def plain(module_formation: Formation, node_python: str) -> list[PatroniNode]:
    """Three members, the third tagged ``nofailover``, all with the fast switchover on."""
    options = NodeOptions(python=node_python, env=dict(FAST_ENV))
    tagged = NodeOptions(python=node_python, env=dict(FAST_ENV), extra_config={"tags": {"nofailover": True}})
    nodes = [
        module_formation.add("fast1", SCOPE, options),
        module_formation.add("fast2", SCOPE, options),
        module_formation.add("fast3", SCOPE, tagged),
    ]
    nodes[0].start()
    wait_leader(nodes[:1])
    for node in nodes[1:]:
        node.start()
    wait_streaming(nodes, 2)
    return nodes


@pytest.fixture
def ctl_switchover(
    ctl: Callable[..., Any],
) -> Callable[[PatroniNode, PatroniNode], Any]:
    def switchover(leader: PatroniNode, candidate: PatroniNode) -> Any:
        return ctl(leader.config_path, "switchover", SCOPE, "--leader", leader.name,
                   "--candidate", candidate.name, "--force")  # fmt: skip

    return switchover


def _leader(nodes: list[PatroniNode]) -> PatroniNode:
    leader = leader_of(nodes)
    assert leader is not None
    return leader


def test_planned_switchover_loses_nothing_and_needs_no_rewind(
    plain: list[PatroniNode], ctl_switchover: Callable[..., Any]
) -> None:
    wait_streaming(plain, 2)
    old = _leader(plain)
    candidate = next(n for n in plain if n is not old and n.name != "fast3")
    offsets = {node.name: _log_size(node) for node in plain}
    with Writer(plain) as writer:
        time.sleep(1)
        result = ctl_switchover(old, candidate)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for(
            lambda: leader_of(plain) is candidate,
            timeout=60,
            interval=CLUSTER_POLL_INTERVAL,
            what=f"{candidate.name} to lead",
        )
        wait_streaming(plain, 2, timeout=120)
        time.sleep(1)
    assert writer.acknowledged, "the writer never got a write through"
    assert writer.missing(candidate) == []
    old_log, new_log = _log_since(old, offsets[old.name]), _log_since(candidate, offsets[candidate.name])
    assert f"{WINDOW_LOG} demoting for a planned switchover" in old_log
    assert f"{WINDOW_LOG} another member holds the leader key after" in old_log
    assert f"{WINDOW_LOG} promoting for a planned switchover" in new_log
    assert REWIND_LOG not in old_log
    with psycopg.connect(old.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def _walreceiver_pid(node: PatroniNode) -> int:
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_wal_receiver").fetchone()
    assert row is not None, f"{node.name} has no WAL receiver"
    return int(row[0])


@pytest.fixture
def lagging(plain: list[PatroniNode]) -> Iterator[PatroniNode]:
    """The replica that may be promoted, with its WAL receiver stopped and the primary 32 MB ahead."""
    wait_streaming(plain, 2)
    leader = _leader(plain)
    replica = next(n for n in plain if n is not leader and n.name != "fast3")
    pid = _walreceiver_pid(replica)
    os.kill(pid, signal.SIGSTOP)
    try:
        with psycopg.connect(leader.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS fast_bulk AS SELECT repeat('x', 1000) AS v LIMIT 0")
            conn.execute("INSERT INTO fast_bulk SELECT repeat('x', 1000) FROM generate_series(1, 30000)")
        time.sleep(3)  # two HA cycles, so that the leader's optime in the DCS shows the lag
        yield replica
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_streaming(plain, 2, timeout=120)


def _refused_like_patroni(
    plain: list[PatroniNode], leader: PatroniNode, result: Any, offsets: dict[str, int]
) -> None:
    time.sleep(4)  # the leader's HA cycles act on (and clean up) the request
    assert leader_of(plain) is leader
    for node in plain:
        assert WINDOW_LOG not in _log_since(node, offsets[node.name]), node.name
    with psycopg.connect(leader.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)


def test_switchover_to_a_lagging_replica_is_refused(
    plain: list[PatroniNode], lagging: PatroniNode, ctl_switchover: Callable[..., Any]
) -> None:
    leader = _leader(plain)
    offsets = {node.name: _log_size(node) for node in plain}
    result = ctl_switchover(leader, lagging)
    _refused_like_patroni(plain, leader, result, offsets)
    log = _log_since(leader, offsets[leader.name])
    assert "exceeds maximum replication lag" in log or result.returncode != 0, log + result.stdout


def test_switchover_to_a_nofailover_member_is_refused(
    plain: list[PatroniNode], ctl_switchover: Callable[..., Any]
) -> None:
    wait_streaming(plain, 2)
    leader = _leader(plain)
    tagged = next(n for n in plain if n.name == "fast3")
    offsets = {node.name: _log_size(node) for node in plain}
    result = ctl_switchover(leader, tagged)
    assert result.returncode != 0, result.stdout
    _refused_like_patroni(plain, leader, result, offsets)


def test_kill9_failover_opens_no_window(plain: list[PatroniNode]) -> None:
    wait_streaming(plain, 2)
    old = _leader(plain)
    survivors = [n for n in plain if n is not old]
    offsets = {node.name: _log_size(node) for node in survivors}
    old.kill9()
    new = wait_leader(survivors, timeout=120)
    assert new.name != "fast3"
    for node in survivors:
        assert WINDOW_LOG not in _log_since(node, offsets[node.name]), node.name
    old.start()
    wait_streaming(plain, 2, timeout=180)
    assert leader_of(plain) is new


@pytest.mark.scenario
def test_citus_switchovers_and_failover_with_fast_switchover(
    citus_ready: None, formation: Formation, node_python: str, request: pytest.FixtureRequest
) -> None:
    request.node.user_properties.append(("citus", "real"))
    options = NodeOptions(python=node_python, env=dict(FAST_ENV))
    result = run_measured(formation, options, node_python, switchovers=2, writers=2)
    switchovers = [e for e in result["events"] if e["kind"] == "switchover"]
    failover = next(e for e in result["events"] if e["kind"] == "failover")
    assert result["lost_acknowledged_writes"] == 0, result["lost_ids"]
    assert result["metadata_consistent_at_end"], result["pg_dist_node_history"][-3:]
    assert len(switchovers) == 2
    for event in switchovers:
        assert event["failed_writes"] == 0, (event, result["write_errors"])
        assert event["metadata_s"] is not None, event
        log = formation.by_name(event["old"]).log_path.read_text(errors="replace")
        assert f"{WINDOW_LOG} another member holds the leader key after" in log
    # Group 1 switched over twice, without pg_rewind; group 2 only failed over: no window opened there.
    for index in range(2):
        switched = formation.by_name(node_name(1, index)).log_path.read_text(errors="replace")
        assert REWIND_LOG not in switched
        failed_over = formation.by_name(node_name(2, index)).log_path.read_text(errors="replace")
        assert WINDOW_LOG not in failed_over
    assert failover["metadata_s"] is not None, failover
    assert failover["new"] not in ("", failover["old"]), failover
