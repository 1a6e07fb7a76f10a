"""The engine status (the ``mpp_status`` hook's answer), built from what the workers hold in memory.

Nothing here runs SQL or touches the DCS: each database's part is read from its worker's
:class:`~patroni_mpp_citus._queue.TaskQueue` under its lock, and compared with the DCS view the
last reconciliation was given. No password is ever part of it: rows are addresses and roles.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ._model import Group, Task
from ._queue import TaskQueue
from ._worker import MetadataWorker

__all__ = ["database_status", "differing_row_counts", "differing_rows", "handler_status"]

_Rows = dict[tuple[str, int], tuple[str, int, str]]


def _rows(group: Group) -> _Rows:
    return {row.key: (row.nodename, row.port, row.role) for row in group}


def differing_rows(dcs_view: Mapping[int, Group], state: TaskQueue) -> list[dict[str, Any]] | None:
    """The rows where ``pg_dist_node`` (as last read or written) differs from the DCS view.

    Only groups of the view are compared (those whose primary ran when the view was taken). Call
    with the queue's lock held.

    :param dcs_view: group id -> the desired group of the last reconciliation.
    :param state: the worker's queue, whose cache mirrors the committed table.
    :returns: one entry per differing address (``group``, ``host``, ``port``, ``dcs`` and
        ``pg_dist_node``: the role in each, None where the row is missing), or None while the table's
        content is not known (before the first read, after a demotion).
    """
    if state.reload and not state.cache:
        return None
    differences: list[dict[str, Any]] = []
    for groupid, desired in sorted(dcs_view.items()):
        cached = state.cache.get(groupid)
        wanted = _rows(desired)
        found = _rows(cached.group) if cached is not None else {}
        for key in [*wanted, *(key for key in found if key not in wanted)]:
            want, have = wanted.get(key), found.get(key)
            if want == have:
                continue
            host, port, _ = want or have or ("", 0, "")
            differences.append(
                {
                    "group": groupid,
                    "host": host,
                    "port": port,
                    "dcs": None if want is None else want[2],
                    "pg_dist_node": None if have is None else have[2],
                }
            )
    return differences


def _task(task: Task) -> dict[str, Any]:
    return {
        "event": task.event if task.from_event else "reconciliation",
        "rows": [{"host": row.nodename, "port": row.port, "role": row.role} for row in task.group],
    }


def _wall(monotonic: float, now: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=monotonic - now)


def database_status(worker: MetadataWorker, dcs_view: Mapping[int, Group]) -> dict[str, Any]:
    """One database's part of the status.

    Keys: ``worker`` (``running``, ``stopped`` or ``not started``); ``tasks`` (group id -> the
    queued task: ``event`` and ``rows``); ``transaction`` (the one in flight: ``group``, ``event``,
    ``age`` in seconds, ``deadline`` as a UTC time; None when none is open); ``last_reconciliation``
    (``at``, ``group``, ``outcome``, ``statements``; None before the first one that had work);
    ``differences`` (see :func:`differing_rows`); ``reload_pending``, ``reload_failures`` and
    ``waiting_for_sync`` (the metadata node that additions and removals wait for).
    """
    state = worker.state
    now = time.monotonic()
    with state.cond:
        in_flight = state.in_flight
        record = state.record
        transaction = None
        if in_flight is not None:
            opened_at = now if record.opened_at is None else record.opened_at
            transaction = {
                "group": in_flight.groupid,
                "event": in_flight.event,
                "age": round(max(0.0, now - opened_at), 3),
                "deadline": _wall(in_flight.deadline, now),
            }
        last = record.last_reconciliation
        status: dict[str, Any] = {
            "worker": "running" if worker.alive else "stopped" if worker.started else "not started",
            "tasks": {str(groupid): _task(task) for groupid, task in state.queue.items()},
            "transaction": transaction,
            "last_reconciliation": None
            if last is None
            else {
                "at": last.at,
                "group": last.group,
                "outcome": last.outcome.value,
                "statements": last.statements,
            },
            "differences": differing_rows(dcs_view, state),
            "reload_pending": state.reload,
        }
    status["reload_failures"] = worker.reload_failures
    status["waiting_for_sync"] = worker.waiting_for_sync
    return status


def differing_row_counts(
    workers: Mapping[str, MetadataWorker], dcs_view: Mapping[int, Group]
) -> dict[str, int | None]:
    """Database -> how many rows differ from the DCS view (None: not known), for the gauge."""
    counts: dict[str, int | None] = {}
    for database, worker in workers.items():
        with worker.state.cond:
            rows = differing_rows(dcs_view, worker.state)
        counts[database] = None if rows is None else len(rows)
    return counts


def handler_status(
    group: int, coordinator: bool, workers: Mapping[str, MetadataWorker], dcs_view: Mapping[int, Group]
) -> dict[str, Any]:
    """The whole status of a handler.

    Keys: ``group``, ``role`` (``coordinator`` or ``worker``), ``metadata`` (``managed`` while this
    node's workers run: it is the coordinator's primary) and ``databases`` (database ->
    :func:`database_status`).
    """
    databases = {database: database_status(worker, dcs_view) for database, worker in workers.items()}
    running = any(part["worker"] == "running" for part in databases.values())
    return {
        "group": group,
        "role": "coordinator" if coordinator else "worker",
        "metadata": "managed" if running else "not managed",
        "databases": databases,
    }
