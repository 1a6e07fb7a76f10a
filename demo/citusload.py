"""A Citus formation, a client workload through its coordinator, and a measured worker switchover/failover.

The scenario is measured from the client's side.

Used by the demo (``--citus``), the Citus end-to-end test and ``bench/e2e_citus.py``. Needs the ``citus``
extension in the PostgreSQL installation and the ``citus`` engine plugin (for the launcher) or Patroni's
built-in Citus support (plain ``patroni``); :func:`citus_unavailable_reason` says why it cannot run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import localcluster as lc

SCOPE = "citus"
DATABASE = "citus"
GROUPS = (0, 1, 2)
"""Coordinator group 0 and two worker groups."""
MEMBERS_PER_GROUP = 2


def citus_unavailable_reason(pg_bin: Path | None = None, *, need_plugin: bool = True) -> str | None:
    """Why the Citus scenario cannot run here, or None when it can."""
    try:
        bin_dir = pg_bin or lc.find_pg_bin()
    except lc.LocalClusterError as exc:
        return str(exc)
    if not lc.pg_has_extension("citus", bin_dir):
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


def build(formation: lc.Formation, options: lc.NodeOptions) -> dict[int, list[lc.PatroniNode]]:
    """Add the nodes of a coordinator and two worker groups (not started)."""
    groups: dict[int, list[lc.PatroniNode]] = {}
    for group in GROUPS:
        nodes = []
        for index in range(MEMBERS_PER_GROUP):
            extra = lc.merge(
                {"citus": {"group": group, "database": DATABASE}},
                options.extra_config,
            )
            node_options = lc.NodeOptions(
                launcher=options.launcher, python=options.python, extra_config=extra, env=options.env,
                ttl=options.ttl, loop_wait=options.loop_wait, retry_timeout=options.retry_timeout,
            )  # fmt: skip
            nodes.append(formation.add(node_name(group, index), SCOPE, node_options))
        groups[group] = nodes
    return groups


def start(groups: dict[int, list[lc.PatroniNode]], timeout: float = 300) -> None:
    """Start the coordinator first, then the workers; wait for every group's leader and replica."""
    for group in GROUPS:
        groups[group][0].start()
    for group in GROUPS:
        lc.wait_leader(groups[group][:1], timeout=timeout)
    for group in GROUPS:
        for node in groups[group][1:]:
            node.start()
    for group in GROUPS:
        lc.wait_streaming(groups[group], MEMBERS_PER_GROUP - 1, timeout=timeout)


def _connect(node: lc.PatroniNode) -> Any:
    import psycopg

    return psycopg.connect(node.dsn(DATABASE), autocommit=True)


def query(node: lc.PatroniNode, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on ``node`` in the Citus database."""
    with _connect(node) as conn:
        cur = conn.execute(sql, params or None)
        return list(cur.fetchall()) if cur.description else []


def dcs_primaries(etcd: lc.Etcd, groups: dict[int, list[lc.PatroniNode]]) -> dict[int, int]:
    """Worker group -> PostgreSQL port of the member holding that group's leader key."""
    keys = etcd.get_prefix(f"/service/{SCOPE}/")
    result: dict[int, int] = {}
    for group in GROUPS[1:]:
        leader = keys.get(f"/service/{SCOPE}/{group}/leader")
        for node in groups[group]:
            if node.name == leader:
                result[group] = node.pg_port
    return result


def dist_primaries(coordinator: lc.PatroniNode) -> dict[int, int]:
    """Worker group -> port of its primary row in ``pg_dist_node`` on the coordinator."""
    rows = query(
        coordinator,
        "SELECT groupid, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0",
    )
    return {int(group): int(port) for group, port in rows}


def wait_metadata_matches(
    etcd: lc.Etcd, groups: dict[int, list[lc.PatroniNode]], timeout: float = 180
) -> float:
    """Wait until ``pg_dist_node`` names the DCS leader of every worker group; returns the seconds waited."""
    started = time.monotonic()

    def matches() -> bool:
        coordinator = lc.leader_of(groups[0])
        if coordinator is None:
            return False
        want = dcs_primaries(etcd, groups)
        return len(want) == len(GROUPS) - 1 and dist_primaries(coordinator) == want

    lc.wait_for(matches, timeout=timeout, what="pg_dist_node to match the DCS leaders")
    return time.monotonic() - started


@dataclass
class Workload:
    """A client writing (and reading back) rows of a distributed table through the coordinator."""

    coordinator: lc.PatroniNode
    acknowledged: set[int] = field(default_factory=set)
    failed_ops: int = 0
    ok_ops: int = 0
    longest_pause: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def prepare(self) -> None:
        """Create the distributed table."""
        query(self.coordinator, "CREATE TABLE IF NOT EXISTS e2e_dist (id bigint PRIMARY KEY, v text)")
        query(self.coordinator, "SELECT create_distributed_table('e2e_dist', 'id')")

    def _run(self) -> None:
        next_id = 1
        last_ok = time.monotonic()
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = _connect(self.coordinator)
                conn.execute("INSERT INTO e2e_dist VALUES (%s, 'x')", (next_id,))
                self.acknowledged.add(next_id)
                if next_id % 10 == 0:
                    conn.execute("SELECT count(*) FROM e2e_dist WHERE id = %s", (next_id - 5,))
                next_id += 1
                self.ok_ops += 1
                now = time.monotonic()
                self.longest_pause = max(self.longest_pause, now - last_ok)
                last_ok = now
            except Exception:
                self.failed_ops += 1
                next_id += 1  # the outcome of a failed insert is unknown: never reuse its id
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        if conn is not None:
            conn.close()

    def start(self) -> None:
        """Start the client thread."""
        self._thread = threading.Thread(target=self._run, name="citus-client", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the client thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def lost_writes(self) -> int:
        """Acknowledged ids missing from the table."""
        present = {int(row[0]) for row in query(self.coordinator, "SELECT id FROM e2e_dist")}
        return len(self.acknowledged - present)


def ctl_command(python: str, *, launcher: bool) -> list[str]:
    """``patroni-mpp ctl`` or plain ``patronictl`` run by ``python``."""
    if launcher:
        return [python, "-m", "patroni_mpp", "ctl"]
    return [python, "-c", "import sys; from patroni.ctl import ctl; sys.exit(ctl())"]


def run_scenario(
    formation: lc.Formation, options: lc.NodeOptions, ctl_python: str, *, settle: float = 3.0
) -> dict[str, Any]:
    """Bring the formation up, run the workload through a planned worker switchover and a worker failover.

    :returns: the client-side figures: failed ops, longest pause, metadata convergence times, lost writes.
    """
    import subprocess

    groups = build(formation, options)
    start(groups)
    etcd = formation.etcd
    wait_metadata_matches(etcd, groups)
    coordinator = lc.leader_of(groups[0])
    if coordinator is None:
        raise lc.LocalClusterError("no coordinator leader")
    workload = Workload(coordinator)
    workload.prepare()
    workload.start()
    figures: dict[str, Any] = {}
    try:
        time.sleep(settle)
        old = lc.leader_of(groups[1])
        assert old is not None
        candidate = next(n for n in groups[1] if n is not old)
        command = ctl_command(ctl_python, launcher=options.launcher)
        switched = subprocess.run(
            [*command, "-c", str(coordinator.config_path), "switchover", SCOPE, "--group", "1",
             "--leader", old.name, "--candidate", candidate.name, "--force"],
            capture_output=True, text=True, check=False, timeout=180,
        )  # fmt: skip
        if switched.returncode != 0:
            raise lc.LocalClusterError(f"switchover failed: {switched.stdout}{switched.stderr}")
        lc.wait_for(lambda: lc.leader_of(groups[1]) is candidate, timeout=180, what="new group 1 leader")
        figures["switchover_metadata_s"] = wait_metadata_matches(etcd, groups)
        time.sleep(settle)
        victim = lc.leader_of(groups[2])
        assert victim is not None
        killed_at = time.monotonic()
        victim.kill9()
        survivors = [n for n in groups[2] if n is not victim]
        lc.wait_leader(survivors, timeout=180)
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
