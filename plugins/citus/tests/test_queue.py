"""Admission rules, picking, task building and waiting of the task queue — no thread, no DB.

The queue takes the current time as an argument, so these tests drive it with explicit times.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

import pytest
from patroni_mpp.testing.host import Cluster, cluster, member
from patroni_mpp_citus._cache_reload import RELOAD_BACKOFF_MAX, reload_backoff
from patroni_mpp_citus._model import (
    AFTER_PROMOTE,
    BEFORE_DEMOTE,
    BEFORE_PROMOTE,
    DEMOTED,
    PRIMARY,
    SECONDARY,
    Group,
    Outcome,
    Row,
    Task,
)
from patroni_mpp_citus._queue import TaskQueue
from patroni_mpp_citus._topology import address_of, build_task, redact_url

NOW = 1000.0


def group_one() -> Cluster:
    return cluster(
        member("leader", "127.0.0.1", 5435, role="primary"),
        member("other", "127.0.0.1", 5436, tags={"clonefrom": True}),
    )


def task(event: str, timeout: float | None = None, view: Cluster | None = None, groupid: int = 1) -> Task:
    view = view or group_one()
    assert view.leader is not None and view.leader.conn_url is not None
    made = build_task(event, groupid, view, view.leader.name, view.leader.conn_url, timeout=timeout)
    assert made is not None
    return made


def test_admission_sequence(caplog: pytest.LogCaptureFixture) -> None:
    """The admission rules, one task after the other (which is queued, replaced or refused)."""
    caplog.set_level(logging.DEBUG, logger="patroni_mpp_citus")
    queue = TaskQueue()
    assert queue.reload

    first = task(BEFORE_DEMOTE, 30)
    assert queue.submit(first, NOW)
    assert [r.getMessage().startswith("Adding the new task:") for r in caplog.records] == [True]

    caplog.clear()
    second = task(BEFORE_PROMOTE, 30)
    assert queue.submit(second, NOW)
    assert [r.getMessage().startswith("Overriding existing task:") for r in caplog.records] == [True]
    assert queue.queue == {1: second}

    third = task(AFTER_PROMOTE, 30)
    assert queue.submit(third, NOW), "an event's after_promote replaces the queued event task"
    assert not queue.submit(task(AFTER_PROMOTE), NOW), "a reconciliation task never replaces one"
    assert not queue.submit(task(AFTER_PROMOTE, 30), NOW), "an identical task is refused"

    del queue.queue[1]
    third.deadline = NOW + 10
    queue.in_flight = third
    assert not queue.submit(task(AFTER_PROMOTE), NOW), "refused inside the event's deadline"
    third.deadline = NOW - 1
    assert queue.submit(task(AFTER_PROMOTE), NOW), "admitted once the deadline passed"


def test_reconciliation_task_equal_to_the_table_is_refused() -> None:
    """The intended rule: nothing queued or in flight, no reload pending, desired == cache."""
    queue = TaskQueue()
    queue.reload = False
    cached = task(AFTER_PROMOTE)
    queue.cache[1] = cached
    assert not queue.submit(task(AFTER_PROMOTE), NOW)
    assert queue.queue == {}
    queue.reload = True
    assert queue.submit(task(AFTER_PROMOTE), NOW), "a pending reload admits it"
    queue.queue.clear()
    queue.reload = False
    changed = cluster(member("leader", "127.0.0.1", 5435, role="primary"))
    assert queue.submit(task(AFTER_PROMOTE, view=changed), NOW), "a different state is admitted"
    queue.queue.clear()
    in_flight = task(BEFORE_DEMOTE, 30)
    in_flight.deadline = NOW - 1
    queue.in_flight = in_flight
    assert queue.submit(task(AFTER_PROMOTE), NOW), "a transaction of the group is open: admitted"


def test_replacement_wakes_the_replaced_waiter_with_the_replacement() -> None:
    queue = TaskQueue()
    first = task(BEFORE_DEMOTE, 30)
    assert queue.submit(first, NOW)
    second = task(BEFORE_PROMOTE, 30)
    assert queue.submit(second, NOW)
    assert not first.done
    picked = queue.pick()
    assert picked is second
    queue.finish(second, Outcome.OPENED, queue.epoch)
    assert first.wait(0) and first.outcome is Outcome.SUPERSEDED
    assert second.outcome is Outcome.OPENED
    assert queue.in_flight is second


def test_coordinator_first_then_oldest_and_equal_states_dropped() -> None:
    queue = TaskQueue()
    queue.reload = False
    tasks = {g: task(AFTER_PROMOTE, groupid=g) for g in (3, 2, 0)}
    for t in tasks.values():
        assert queue.submit(t, NOW)
    assert queue.pick() is tasks[0]
    queue.finish(tasks[0], Outcome.APPLIED, queue.epoch)
    # group 3's state becomes the cached one meanwhile: dropped at pick, its waiter woken
    queue.cache[3] = task(AFTER_PROMOTE, groupid=3)
    assert queue.pick() is tasks[2]
    assert tasks[3].done and tasks[3].outcome is Outcome.SKIPPED
    assert 3 not in queue.queue


def test_only_the_open_transaction_group_may_run() -> None:
    queue = TaskQueue()
    open_task = task(BEFORE_DEMOTE, 30, groupid=5)
    queue.in_flight = open_task
    other = task(AFTER_PROMOTE, 30, groupid=0)
    assert queue.submit(other, NOW)
    assert queue.pick() is None
    assert not queue.runnable()
    same = task(AFTER_PROMOTE, 30, groupid=5)
    assert queue.submit(same, NOW)
    assert queue.pick() is same


def test_discard_all_wakes_nothing_itself_but_returns_the_dropped() -> None:
    queue = TaskQueue()
    queued = task(BEFORE_DEMOTE, 30)
    queue.submit(queued, NOW)
    queue.in_flight = task(BEFORE_DEMOTE, 30, groupid=2)
    queue.reload = False
    dropped = queue.discard_all()
    assert dropped == [queued]
    after: TaskQueue = queue  # a fresh name: mypy forgets the values assigned above
    assert after.in_flight is None and after.queue == {} and after.cache == {}
    assert after.reload and after.reset_connection


def test_task_from_the_dcs_view() -> None:
    """Leader -> primary (demoted for before_demote); running, balanceable members ->
    secondaries."""
    view = cluster(
        member("leader", "10.0.0.5", 5433, role="primary"),
        member("r1", "10.0.0.6", 5432),
        member("stopped", "10.0.0.7", 5432, state="stopped"),
        member("nolb", "10.0.0.8", 5432, tags={"noloadbalance": True}),
        member("twin", "10.0.0.5", 5433),  # the leader's address: absorbed
        member("ipv6", "fd00::1", 5432),
    )
    made = build_task(BEFORE_DEMOTE, 4, view, "leader", "postgres://10.0.0.5:5433/postgres", timeout=30)
    assert made is not None
    assert [(r.host, r.port, r.role) for r in made.group] == [
        ("10.0.0.5", 5433, DEMOTED),
        ("10.0.0.6", 5432, SECONDARY),
        ("fd00::1", 5432, SECONDARY),
    ]
    assert (made.timeout, made.cooldown, made.groupid) == (30, 10000, 4)
    made = build_task(AFTER_PROMOTE, 4, view, "leader", "postgres://10.0.0.5/postgres")
    assert made is not None and made.group.primary() == Row("10.0.0.5", 5432, PRIMARY)


def test_unusable_urls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="patroni_mpp_citus")
    view = cluster(member("leader", "10.0.0.5", 5433, role="primary"))
    url = "postgres://replicator:rep-pass@10.0.0.5:99999/postgres"
    assert build_task(AFTER_PROMOTE, 1, view, "leader", url) is None
    errors = [r for r in caplog.records if r.getMessage().startswith("Failed to parse connection url")]
    assert len(errors) == 1
    assert "rep-pass" not in errors[0].getMessage()
    assert build_task(AFTER_PROMOTE, 1, view, "leader", "postgres:///postgres") is None
    assert address_of("postgres://Host.Example:6432/db") == ("host.example", 6432)
    assert address_of("postgres://[FD00::1]/db") == ("fd00::1", 5432)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgres://u:secret@h:1/d", "postgres://u:******@h:1/d"),
        ("postgres://u@h/d", "postgres://u@h/d"),
        ("postgres://h/d", "postgres://h/d"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_group_and_task_equality() -> None:
    a = Group(1, [Row("H1", 5432, PRIMARY, 7), Row("h2", 5432, SECONDARY)])
    b = Group(1, [Row("h1", 5432, PRIMARY), Row("H2", 5432, SECONDARY, 9)])
    assert a.equals(b) and not a.equals(b, check_nodeid=True)
    assert not a.equals(Group(2, list(b)))
    assert Task(a, AFTER_PROMOTE).same_state(Task(b, AFTER_PROMOTE))
    assert not Task(a, AFTER_PROMOTE).same_state(Task(b, BEFORE_PROMOTE))
    assert repr(Task(a, BEFORE_DEMOTE, 30)).startswith("Task(before_demote, group=1")


def test_wait_is_released_by_wakeup() -> None:
    """``wait`` returns when the worker wakes the task, and says so."""
    made = task(BEFORE_DEMOTE, 30)
    assert not made.wait(0)
    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(made.wait(30)))
    waiter.start()
    made.wakeup(Outcome.OPENED)
    waiter.join(30)
    assert result == [True] and made.outcome is Outcome.OPENED


def test_reload_backoff_is_bounded_and_grows() -> None:
    delays = [reload_backoff(n) for n in range(0, 12)]
    assert delays[0] == 0
    assert delays[1:5] == [0.1, 0.2, 0.4, 0.8]
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) == RELOAD_BACKOFF_MAX
    assert reload_backoff(10**6) == RELOAD_BACKOFF_MAX


def test_no_password_of_a_member_url_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="patroni_mpp_citus")
    view = cluster(
        member("leader", "127.0.0.1", 5435, role="primary"),
        member("other", "127.0.0.1", 5436),
    )
    leader_url = "postgres://replicator:rep-pass@127.0.0.1:5435/postgres"
    made = build_task(AFTER_PROMOTE, 1, view, "leader", leader_url)
    assert made is not None
    queue = TaskQueue()
    assert queue.submit(made, NOW)
    assert caplog.records and "rep-pass" not in caplog.text
