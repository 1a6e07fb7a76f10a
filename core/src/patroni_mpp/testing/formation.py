"""A formation: Patroni clusters sharing one etcd and one base directory, and waiting for their leaders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import find_bindir
from patroni_mpp.testing.processes import LocalClusterError

logger = logging.getLogger(__name__)

CLUSTER_POLL_INTERVAL = 0.25
"""Seconds between two looks at the nodes' REST APIs while waiting for a cluster state."""


class Formation:
    """Patroni clusters sharing one etcd and one base directory; stops all it started."""

    def __init__(self, base_dir: Path, etcd: Etcd, *, pg_bin: Path | None = None) -> None:
        """Group nodes under ``base_dir`` using ``etcd``."""
        self.base_dir = base_dir
        self.etcd = etcd
        self.pg_bin = pg_bin or find_bindir()
        self.nodes: list[PatroniNode] = []

    def add(self, name: str, scope: str, options: NodeOptions | None = None) -> PatroniNode:
        """Prepare a node (not started)."""
        node = PatroniNode(name, scope, self.base_dir, self.etcd, options, pg_bin=self.pg_bin)
        self.nodes.append(node)
        return node

    def by_name(self, name: str) -> PatroniNode:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def stop_all(self) -> None:
        """Stop every node (replicas first, so the leader does not see a storm of failovers).

        Then delete the DCS keys of their clusters, so that a later formation with the same scope in the
        same etcd bootstraps afresh.
        """
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:
                logger.exception("Stopping node %s failed", node.name)
        for namespace, scope in sorted({(node.namespace, node.scope) for node in self.nodes}):
            try:
                self.etcd.delete_prefix(f"{namespace.rstrip('/')}/{scope}/")
            except (LocalClusterError, OSError):
                logger.exception("Deleting the DCS keys of %s failed", scope)


def cluster_view(nodes: Sequence[PatroniNode]) -> dict[str, Any] | None:
    """``GET /cluster`` from the first node that answers."""
    for node in nodes:
        try:
            code, body = node.api("cluster", timeout=2)
        except OSError:
            continue
        if code == 200 and isinstance(body, dict):
            return body
    return None


def leader_of(nodes: Sequence[PatroniNode]) -> PatroniNode | None:
    """The first of ``nodes`` that runs PostgreSQL as primary and holds its cluster's leader lock, or None."""
    for node in nodes:
        status = node.status()
        if not status or status.get("role") not in ("primary", "master"):
            continue
        if status.get("state") != "running":
            continue
        try:
            code, _ = node.api("leader", timeout=2)
        except OSError:
            continue
        if code == 200:
            return node
    return None


def check_running(nodes: Sequence[PatroniNode]) -> None:
    """Fail at once when a node's process has exited: its log's tail says why.

    :raises LocalClusterError: naming the node, with the tail of its log.
    """
    for node in nodes:
        if node.process is not None and node.process.poll() is not None:
            raise LocalClusterError(
                f"{node.name} exited with status {node.process.returncode}:\n{node.log_tail()}"
            )


def wait_leader(nodes: Sequence[PatroniNode], timeout: float = 180) -> PatroniNode:
    """Wait until one of ``nodes`` runs as leader; fails at once when one of them exits."""

    def probe() -> PatroniNode | None:
        check_running(nodes)
        return leader_of(nodes)

    return wait_for(
        probe, timeout, interval=CLUSTER_POLL_INTERVAL, what="a running leader", fatal=(LocalClusterError,)
    )


def wait_streaming(nodes: Sequence[PatroniNode], count: int, timeout: float = 180) -> dict[str, Any]:
    """Wait until the cluster shows a leader and ``count`` streaming replicas; returns ``GET /cluster``.

    Fails at once when one of ``nodes`` exits.
    """

    def probe() -> dict[str, Any] | None:
        check_running(nodes)
        view = cluster_view(nodes)
        if view is None:
            return None
        members = view.get("members", [])
        leaders = [m for m in members if m.get("role") in ("leader", "primary", "master")]
        streaming = [m for m in members if m.get("state") == "streaming"]
        return view if len(leaders) == 1 and len(streaming) >= count else None

    return wait_for(
        probe,
        timeout,
        interval=CLUSTER_POLL_INTERVAL,
        what=f"a leader and {count} streaming replicas",
        fatal=(LocalClusterError,),
    )
