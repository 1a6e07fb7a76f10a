"""The measured Citus scenario of the benchmark: worker switchovers and a failover, each measured apart.

Several switchovers of worker group 1 in alternating directions and a failover of worker group 2 with the
killed node restarted, every event measured separately from the clients' records and a ``pg_dist_node``
watch (:mod:`.cluster_metadata_watch`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patroni_mpp.testing.formation import Formation, leader_of, wait_leader
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import WaitTimeout
from patroni_mpp.testing.processes import LocalClusterError

from patroni_mpp_citus.testing.cluster import (
    GROUPS,
    build_groups,
    ctl_switchover,
    query,
    start_groups,
    wait_group_ready,
    wait_metadata_matches,
)
from patroni_mpp_citus.testing.cluster_metadata_watch import MetadataMonitor, primary_is, secondary_is
from patroni_mpp_citus.testing.cluster_workload import ReadClient, Workload
from patroni_mpp_citus.testing.patroni_logs import first_log_time

logger = logging.getLogger(__name__)


@dataclass
class Event:
    """One measured event of :func:`run_measured` (times in seconds from ``started``)."""

    kind: str
    """``switchover`` or ``failover``."""
    group: int
    old: str
    new: str
    old_port: int
    started: float
    """``time.monotonic()`` when the switchover command was started or the leader was killed."""
    ctl_s: float | None = None
    """Run time of the switchover command."""
    demote_s: float | None = None
    """When the old leader logged ``switchover: demoting myself`` (its log's clock; switchover only)."""
    metadata_s: float | None = None
    """Until ``pg_dist_node`` named the new leader as the group's primary (None: not within the wait)."""
    secondary_first_s: float | None = None
    """Until ``pg_dist_node`` first held the old leader as a secondary (None: never in the event)."""
    secondary_s: float | None = None
    """Since when ``pg_dist_node`` held the old leader as a secondary without a break until the event's end
    (None: not at the end of the event)."""
    restarted_s: float | None = None
    """When the killed node was started again (failover only)."""
    rejoined_s: float | None = None
    """Until the old leader streamed again as a replica (a quorum standby under synchronous replication)."""
    failed_writes: int = 0
    failed_reads: int = 0
    write_pause_s: float = 0.0
    """Longest gap between two successful writes of one writer thread overlapping the event."""
    read_error_window_s: float = 0.0
    """From the reader's first failure in the event to its first success after the last one."""

    def as_dict(self) -> dict[str, Any]:
        """The event as plain data."""
        return {k: v for k, v in self.__dict__.items() if k != "started"}

    @property
    def wall(self) -> float:
        """``time.time()`` of :attr:`started`."""
        return time.time() - (time.monotonic() - self.started)


SECONDARY_WAIT = 45.0
"""Longest wait, after the old leader streams again, for its ``secondary`` row."""


def _measured_switchover(
    groups: dict[int, list[PatroniNode]], monitor: MetadataMonitor, config: Path, *, python: str,
    launcher: bool, sync: bool, settle: float, group: int = 1,
) -> Event:  # fmt: skip
    old = wait_group_ready(groups[group], sync=sync)
    new = next(n for n in groups[group] if n is not old)
    event = Event("switchover", group, old.name, new.name, old.pg_port, time.monotonic())
    ctl_switchover(config, group, old.name, new.name, python=python, launcher=launcher)
    event.ctl_s = time.monotonic() - event.started
    seen = monitor.wait_seen(primary_is(group, new.pg_port), event.started, 120)
    event.metadata_s = None if seen is None else seen - event.started
    wait_group_ready(groups[group], sync=sync)
    event.rejoined_s = time.monotonic() - event.started
    if monitor.wait_seen(secondary_is(group, old.pg_port), time.monotonic(), SECONDARY_WAIT) is None:
        logger.warning(
            "%s is no secondary row of group %d %.0f s after it streams", old.name, group, SECONDARY_WAIT
        )
    demoted = first_log_time(old.log_path, "switchover: demoting myself", after=event.wall - 1)
    event.demote_s = None if demoted is None else demoted - event.wall
    time.sleep(settle)
    return event


def _measured_failover(
    groups: dict[int, list[PatroniNode]], monitor: MetadataMonitor, *, sync: bool, settle: float,
    group: int = 2,
) -> Event:  # fmt: skip
    victim = wait_group_ready(groups[group], sync=sync)
    survivors = [n for n in groups[group] if n is not victim]
    event = Event("failover", group, victim.name, "", victim.pg_port, time.monotonic())
    patroni_pid, postmaster_pid = victim.kill9()
    logger.info("killed %s (Patroni pid %s, postmaster pid %s)", victim.name, patroni_pid, postmaster_pid)
    new = wait_leader(survivors, timeout=180)
    event.new = new.name
    seen = monitor.wait_seen(primary_is(group, new.pg_port), event.started, 120)
    event.metadata_s = None if seen is None else seen - event.started
    time.sleep(settle)
    event.restarted_s = time.monotonic() - event.started
    victim.start()
    wait_group_ready(groups[group], sync=sync, timeout=180)
    event.rejoined_s = time.monotonic() - event.started
    if monitor.wait_seen(secondary_is(group, victim.pg_port), time.monotonic(), SECONDARY_WAIT) is None:
        logger.warning(
            "%s is no secondary row of group %d %.0f s after it streams", victim.name, group, SECONDARY_WAIT
        )
    time.sleep(settle)
    return event


def _attribute(
    events: list[Event], workload: Workload, reader: ReadClient, monitor: MetadataMonitor, ended: float
) -> None:
    """Give each event the figures of its window, from its start to the next event's start.

    The clients' failures and pauses, and when the old leader's ``secondary`` row appeared first and for good.
    """
    for index, event in enumerate(events):
        end = events[index + 1].started if index + 1 < len(events) else ended
        event.failed_writes = sum(len(log.failures(event.started, end)) for log in workload.logs)
        event.failed_reads = len(reader.log.failures(event.started, end))
        event.write_pause_s = max(log.longest_gap(event.started, end) for log in workload.logs)
        event.read_error_window_s = reader.log.error_window(event.started, end)
        predicate = secondary_is(event.group, event.old_port)
        first = monitor.first_seen(predicate, event.started)
        event.secondary_first_s = None if first is None or first >= end else first - event.started
        held = monitor.held_since(predicate, event.started, end)
        event.secondary_s = None if held is None else held - event.started


def _sync_mode(node: PatroniNode) -> Any:
    code, body = node.api("config", timeout=3)
    return body.get("synchronous_mode", False) if code == 200 and isinstance(body, dict) else None


def run_measured(
    formation: Formation,
    options: NodeOptions,
    ctl_python: str,
    *,
    switchovers: int = 5,
    writers: int = 3,
    settle: float = 1.5,
) -> dict[str, Any]:
    """Bring the formation up and measure, under writers and a reader, worker switchovers and a failover.

    ``switchovers`` planned switchovers of worker group 1 (each in the other direction), then a ``kill -9`` of
    the leader of worker group 2 (Patroni and its postmaster) and, once ``pg_dist_node`` names the new leader,
    a restart of the killed node. Before each event the group must have a streaming replica (a synchronous or
    quorum standby when the group replicates synchronously); after it, ``settle`` seconds pass. The caller
    stops the formation (see :func:`stop`).

    :returns: ``events`` (the :class:`Event` figures as dicts), ``lost_acknowledged_writes``, the clients'
        totals and error texts, the synchronous mode each group ran with, the formation's start-up time.
    """
    t0 = time.monotonic()
    groups = build_groups(formation, options)
    start_groups(groups)
    wait_metadata_matches(formation.etcd, groups)
    coordinator = leader_of(groups[0])
    if coordinator is None:
        raise LocalClusterError("no coordinator leader")
    sync_modes = {group: _sync_mode(leader_of(groups[group]) or groups[group][0]) for group in GROUPS}
    sync = any(mode not in (False, "off", None) for mode in sync_modes.values())
    citus = str(query(coordinator, "SELECT citus_version()")[0][0]).split()
    startup_s = time.monotonic() - t0
    logger.info("formation up in %.1f s (synchronous_mode per group: %s)", startup_s, sync_modes)
    monitor = MetadataMonitor(coordinator)
    monitor.start()
    workload = Workload(coordinator, writers=writers)
    workload.prepare()
    reader = ReadClient(coordinator)
    reader.prepare()
    for group in GROUPS[1:]:
        leader = wait_group_ready(groups[group], sync=sync)
        for node in groups[group]:
            if node is not leader and monitor.wait_seen(secondary_is(group, node.pg_port), t0, 60) is None:
                logger.warning("%s is not registered as a secondary of group %d", node.name, group)
    workload.start()
    reader.start()
    events: list[Event] = []
    try:
        time.sleep(settle)
        for index in range(switchovers):
            event = _measured_switchover(
                groups, monitor, coordinator.config_path, python=ctl_python, launcher=options.launcher,
                sync=sync, settle=settle,
            )  # fmt: skip
            events.append(event)
            logger.info("switchover %d/%d: %s", index + 1, switchovers, _summary(event))
        event = _measured_failover(groups, monitor, sync=sync, settle=settle)
        events.append(event)
        logger.info("failover: %s", _summary(event))
    finally:
        ended = time.monotonic()
        workload.stop()
        reader.stop()
    _attribute(events, workload, reader, monitor, ended)
    first = events[0].started if events else ended
    consistent = True
    try:
        wait_metadata_matches(formation.etcd, groups, timeout=60)
    except (LocalClusterError, WaitTimeout):
        consistent = False
    monitor.stop()
    missing = workload.missing_ids()
    return {
        "events": [event.as_dict() for event in events],
        "lost_acknowledged_writes": len(missing),
        "lost_ids": [_lost_detail(coordinator, i, workload.acknowledged_at[i], events) for i in missing[:20]],
        "acknowledged_writes": len(workload.acknowledged),
        "ok_writes": workload.ok_ops,
        "failed_writes": workload.failed_ops,
        "ok_reads": len(reader.log.ok),
        "failed_reads": len(reader.log.failed),
        "wrong_reads": reader.wrong_results,
        "failed_before_events": sum(len(log.failures(0, first)) for log in [*workload.logs, reader.log]),
        "write_errors": dict(workload.errors().most_common(8)),
        "failed_read_backs": sum(workload.read_back_failures.values()),
        "read_errors": dict(reader.log.errors.most_common(8)),
        "metadata_consistent_at_end": consistent,
        "metadata_poll_errors": monitor.poll_errors,
        "sync_modes": {str(group): mode for group, mode in sync_modes.items()},
        "startup_s": startup_s,
        "citus": citus[1] if len(citus) > 1 else " ".join(citus),
        "pg_dist_node_history": [[round(seen - t0, 3), sorted(state)] for seen, state in monitor.history],
        "event_starts": [round(event.started - t0, 3) for event in events],
    }


def _lost_detail(coordinator: PatroniNode, ident: int, acked: float, events: list[Event]) -> dict[str, Any]:
    """Where a lost write lived and when it was acknowledged, relative to the event before it."""
    rows = query(
        coordinator,
        "SELECT groupid FROM pg_dist_placement "
        "WHERE shardid = get_shard_id_for_distribution_column('e2e_dist', %s::bigint)",
        ident,
    )
    before = [event for event in events if event.started <= acked]
    after = [event for event in events if event.started > acked]
    return {
        "id": ident,
        "group": int(rows[0][0]) if rows else None,
        "acknowledged_s_after_previous_event": round(acked - before[-1].started, 3) if before else None,
        "acknowledged_s_before_next_event": round(after[0].started - acked, 3) if after else None,
        "previous_event": f"{before[-1].kind} {before[-1].old}->{before[-1].new}" if before else None,
        "next_event": f"{after[0].kind} {after[0].old}->{after[0].new}" if after else None,
    }


def _summary(event: Event) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}s"

    return (
        f"{event.old} -> {event.new}: pg_dist_node primary after {seconds(event.metadata_s)}, "
        f"old leader streaming again after {seconds(event.rejoined_s)}"
    )
