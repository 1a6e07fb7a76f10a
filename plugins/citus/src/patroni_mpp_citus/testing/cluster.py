"""A Citus formation on real Patroni nodes: a coordinator and two worker groups, and reading its metadata.

Built on the core toolkit's formation (:mod:`patroni_mpp.testing.formation`: etcd and Patroni nodes on
127.0.0.1). Used by the demo (``--citus``), the Citus end-to-end tests and ``bench/e2e_citus.py``. Needs the
``citus`` extension in the PostgreSQL installation and the ``citus`` engine plugin (for the launcher) or
Patroni's built-in Citus support (plain ``patroni``); :func:`citus_unavailable_reason` says why it cannot
run. The client workload is in :mod:`.cluster_workload`, the scenarios in :mod:`.cluster_scenario` and
:mod:`.cluster_measured`.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.formation import (
    CLUSTER_POLL_INTERVAL,
    Formation,
    cluster_view,
    leader_of,
    wait_leader,
    wait_streaming,
)
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode, merge
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresUnavailable, find_bindir, has_extension
from patroni_mpp.testing.processes import LocalClusterError

logger = logging.getLogger(__name__)

SCOPE = "citus"
DATABASE = "citus"
GROUPS = (0, 1, 2)
"""Coordinator group 0 and two worker groups."""
MEMBERS_PER_GROUP = 2
SYNC_ROLES = ("sync_standby", "quorum_standby")
"""Roles ``GET /cluster`` gives a replica that the primary waits for."""


def citus_unavailable_reason(pg_bin: Path | None = None, *, need_plugin: bool = True) -> str | None:
    """Why the Citus scenario cannot run here, or None when it can."""
    try:
        bin_dir = pg_bin or find_bindir()
    except PostgresUnavailable as exc:
        return str(exc)
    if not has_extension("citus", bin_dir):
        return (
            f"the PostgreSQL server in {bin_dir} has no citus extension (no citus.control); "
            "install the Citus packages for this PostgreSQL major version"
        )
    if need_plugin:
        names = {ep.name for ep in metadata.entry_points(group="patroni.mpp")}
        if "citus" not in names:
            return "the citus engine plugin (patroni-mpp-citus) is not installed"
    return None


def node_name(group: int, index: int) -> str:
    """Member name: ``g<group><letter>``."""
    return f"g{group}{'abc'[index]}"


def build_groups(
    formation: Formation, options: NodeOptions, *, databases: Sequence[str] | None = None
) -> dict[int, list[PatroniNode]]:
    """Add the nodes of a coordinator and two worker groups (not started).

    ``databases``: several Citus databases (``citus.databases``) instead of ``citus.database: citus``.
    """
    groups: dict[int, list[PatroniNode]] = {}
    named: dict[str, Any] = {"database": DATABASE} if databases is None else {"databases": list(databases)}
    for group in GROUPS:
        nodes = []
        for index in range(MEMBERS_PER_GROUP):
            extra = merge(
                {"citus": {"group": group, **named}},
                options.extra_config,
            )
            node_options = NodeOptions(
                launcher=options.launcher, python=options.python, extra_config=extra, env=options.env,
                ttl=options.ttl, loop_wait=options.loop_wait, retry_timeout=options.retry_timeout,
            )  # fmt: skip
            nodes.append(formation.add(node_name(group, index), SCOPE, node_options))
        groups[group] = nodes
    return groups


def start_groups(groups: dict[int, list[PatroniNode]], timeout: float = 300) -> None:
    """Start the coordinator first, then the workers; wait for every group's leader and replica."""
    for group in GROUPS:
        groups[group][0].start()
    for group in GROUPS:
        wait_leader(groups[group][:1], timeout=timeout)
    for group in GROUPS:
        for node in groups[group][1:]:
            node.start()
    for group in GROUPS:
        wait_streaming(groups[group], MEMBERS_PER_GROUP - 1, timeout=timeout)


def stop_groups(groups: dict[int, list[PatroniNode]]) -> None:
    """Stop every node, fast: all replicas at once, then the coordinator's leader, then the workers' leaders.

    Replicas first, so that no stop causes a failover; the coordinator before the worker leaders, so that a
    stopping worker leader's ``before_demote`` call to it fails at once instead of waiting for a coordinator
    that is itself busy. The nodes of one step stop in parallel threads.
    """
    leaders = {group: leader_of(nodes) for group, nodes in groups.items()}
    replicas = [n for group, nodes in groups.items() for n in nodes if n is not leaders[group]]
    coordinator = [leader for group, leader in leaders.items() if group == 0 and leader is not None]
    workers = [leader for group, leader in leaders.items() if group != 0 and leader is not None]

    def stop_one(node: PatroniNode) -> None:
        try:
            node.stop()
        except Exception:
            logger.exception("Stopping node %s failed", node.name)

    for step in (replicas, coordinator, workers):
        threads = [threading.Thread(target=stop_one, args=(node,), name=f"stop-{node.name}") for node in step]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def connect(node: PatroniNode, *, statement_timeout_ms: int | None = None, dbname: str = DATABASE) -> Any:
    """An auto-commit psycopg connection to ``node`` (database ``dbname``, optional statement timeout)."""
    import psycopg

    dsn = node.dsn(dbname)
    if statement_timeout_ms is not None:
        dsn += f" options='-c statement_timeout={statement_timeout_ms}'"
    return psycopg.connect(dsn, autocommit=True)


def query(node: PatroniNode, sql: str, *params: Any, dbname: str = DATABASE) -> list[tuple[Any, ...]]:
    """Run one statement on ``node`` in the Citus database (or ``dbname``)."""
    with connect(node, dbname=dbname) as conn:
        cur = conn.execute(sql, params or None)
        return list(cur.fetchall()) if cur.description else []


def dcs_primaries(etcd: Etcd, groups: dict[int, list[PatroniNode]]) -> dict[int, int]:
    """Worker group -> PostgreSQL port of the member holding that group's leader key."""
    keys = etcd.get_prefix(f"/service/{SCOPE}/")
    result: dict[int, int] = {}
    for group in GROUPS[1:]:
        leader = keys.get(f"/service/{SCOPE}/{group}/leader")
        for node in groups[group]:
            if node.name == leader:
                result[group] = node.pg_port
    return result


def dist_primaries(coordinator: PatroniNode, dbname: str = DATABASE) -> dict[int, int]:
    """Worker group -> port of its primary row in ``pg_dist_node`` on the coordinator (in ``dbname``)."""
    rows = query(
        coordinator,
        "SELECT groupid, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0",
        dbname=dbname,
    )
    return {int(group): int(port) for group, port in rows}


def wait_metadata_matches(
    etcd: Etcd,
    groups: dict[int, list[PatroniNode]],
    timeout: float = 180,
    *,
    dbnames: Sequence[str] = (DATABASE,),
) -> float:
    """Wait until ``pg_dist_node`` names the DCS leader of every worker group; returns the seconds waited.

    ``dbnames``: the Citus databases whose ``pg_dist_node`` must all match.
    """
    started = time.monotonic()

    def matches() -> bool:
        coordinator = leader_of(groups[0])
        if coordinator is None:
            return False
        want = dcs_primaries(etcd, groups)
        return len(want) == len(GROUPS) - 1 and all(dist_primaries(coordinator, d) == want for d in dbnames)

    wait_for(matches, timeout, interval=CLUSTER_POLL_INTERVAL, what="pg_dist_node to match the DCS leaders")
    return time.monotonic() - started


def wait_group_ready(nodes: list[PatroniNode], *, sync: bool, timeout: float = 120) -> PatroniNode:
    """Wait until the group of ``nodes`` has a leader and every other member streams; returns the leader.

    With ``sync``, every other member must also be a synchronous or quorum standby.
    """
    names = {node.name for node in nodes}

    def ready() -> PatroniNode | None:
        view = cluster_view(nodes)
        if view is None:
            return None
        members = [m for m in view.get("members", []) if m.get("name") in names]
        others = [m for m in members if m.get("role") not in ("leader", "primary", "master")]
        if len(members) != len(nodes) or len(others) != len(nodes) - 1:
            return None
        if any(m.get("state") != "streaming" or (sync and m.get("role") not in SYNC_ROLES) for m in others):
            return None
        return leader_of(nodes)

    return wait_for(ready, timeout, interval=CLUSTER_POLL_INTERVAL, what="a leader and streaming replicas")


def ctl_command(python: str, *, launcher: bool) -> list[str]:
    """``patroni-mpp ctl`` or plain ``patronictl`` run by ``python``."""
    if launcher:
        return [python, "-m", "patroni_mpp", "ctl"]
    return [python, "-c", "import sys; from patroni.ctl import ctl; sys.exit(ctl())"]


def ctl_switchover(
    config: Path,
    group: int,
    leader: str,
    candidate: str,
    *,
    python: str,
    launcher: bool,
    timeout: float = 180.0,
) -> None:
    """``ctl switchover --group GROUP --leader LEADER --candidate CANDIDATE --force`` through ``config``.

    :raises LocalClusterError: when the command fails.
    """
    switched = subprocess.run(
        [*ctl_command(python, launcher=launcher), "-c", str(config), "switchover", SCOPE,
         "--group", str(group), "--leader", leader, "--candidate", candidate, "--force"],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    if switched.returncode != 0:
        raise LocalClusterError(f"switchover failed: {switched.stdout}{switched.stderr}")
