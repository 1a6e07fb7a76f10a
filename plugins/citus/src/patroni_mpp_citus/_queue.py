"""The worker's shared state: cached table content, the task queue, the in-flight transaction.

All of it is guarded by one condition variable; REST threads (events), the HA loop (reconciliation) and the
worker thread meet here. Admission (:meth:`TaskQueue.submit`: which desired state of a group is queued) and
picking (:meth:`TaskQueue.pick`: which queued task runs next) are plain methods that take the current time as
an argument, so that they can be tested without a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from ._model import AFTER_PROMOTE, COORDINATOR_GROUP_ID, Group, Outcome, Task
from ._record import ROLLED_BACK, ROLLED_BACK_AT_DEADLINE, WorkerRecord

__all__ = ["TaskQueue"]

logger = logging.getLogger(__name__)


class TaskQueue:
    """Cache, queue and in-flight task of the metadata worker.

    :ivar cond: the condition variable guarding everything here; notified when work arrives.
    :ivar cache: group id -> a task whose group mirrors the last committed rows of that group.
    :ivar queue: group id -> the pending task of that group (at most one), oldest first.
    :ivar in_flight: the task whose transaction is open on the metadata connection, or None.
    :ivar reload: re-read ``pg_dist_node`` before the cache is used again.
    :ivar epoch: bumped by :meth:`discard_all`; a task processed across a bump must not touch the state.
    :ivar reset_connection: the metadata connection must be closed before it is used again.
    :ivar not_before: group id -> ``time.monotonic()`` before which its queued task is not picked (a
        retry waiting for Citus to sync its metadata).
    :ivar promoted: group id -> (key of the primary a promotion watch committed, until when): while
        the DCS may still name the old primary, reconciliation of that group must not undo the
        commit (see :meth:`guard_promotion`).
    """

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.cache: dict[int, Task] = {}
        self.queue: dict[int, Task] = {}
        self.in_flight: Task | None = None
        self.reload = True
        self.epoch = 0
        self.reset_connection = False
        self.not_before: dict[int, float] = {}
        self.promoted: dict[int, tuple[tuple[str, int], float]] = {}
        self.record = WorkerRecord()
        """What the worker did, for the status and the metrics (guarded by :attr:`cond` too)."""

    # -- admission ---------------------------------------------------------------------------------

    def submit(self, task: Task, now: float) -> bool:
        """Queue ``task`` if the admission rules let it in; notifies the worker when it does.

        :param task: the new desired state of its group.
        :param now: ``time.monotonic()``.
        :returns: True when the task was queued (it will be processed, or superseded).
        """
        with self.cond:
            admitted = self._admit(task, now)
            if admitted:
                self.cond.notify_all()
            else:
                self.record.event(task, "unchanged")
            return admitted

    def submit_many(self, tasks: Iterable[Task], now: float) -> int:
        """Submit several tasks under one lock acquisition; returns how many were queued."""
        count = 0
        with self.cond:
            for task in tasks:
                count += self._admit(task, now)
            if count:
                self.cond.notify_all()
        return count

    def _admit(self, task: Task, now: float) -> bool:
        groupid = task.group.groupid
        queued = self.queue.get(groupid)
        in_flight = self.in_flight
        own_transaction = in_flight is not None and in_flight.group.groupid == groupid
        if task.timeout is None:
            if queued is not None and queued.timeout is not None:
                return False  # a task from an event wins over reconciliation
            if (
                own_transaction
                and in_flight is not None
                and in_flight.timeout is not None
                and in_flight.deadline > now
            ):
                # The worker may have notified us before updating its member key: the DCS view that
                # produced this task can be stale for the life of the event's transaction.
                return False
            if self._undoes_promotion(task, now):
                return False
        elif task.event != AFTER_PROMOTE:
            self.promoted.pop(groupid, None)  # a new switchover of the group begins
        if queued is not None:
            if task.same_state(queued):
                return False
            self.queue[groupid] = task  # replaced in place: the queue position is kept
            self.not_before.pop(groupid, None)
            self.record.event(queued, Outcome.SUPERSEDED.value)
            task.supersede(queued)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("Overriding existing task: %r != %r", queued, task)
            return True
        if not self.reload and not own_transaction:
            cached = self.cache.get(groupid)
            if cached is not None and task.same_state(cached):
                return False
        self.queue[groupid] = task
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Adding the new task: %r", task)
        return True

    def guard_promotion(self, groupid: int, primary: tuple[str, int], until: float) -> None:
        """A promotion watch ended the pause of ``groupid`` before the DCS names its new primary.

        Until ``until`` (the transaction's deadline), or until the DCS view agrees, reconciliation
        tasks of the group that name another primary are refused: they come from a view older than
        the promotion and would move the primary row back.

        :param groupid: the group.
        :param primary: key of the promoted primary's row.
        :param until: ``time.monotonic()`` at which the guard ends.
        """
        with self.cond:
            self.promoted[groupid] = (primary, until)

    def _undoes_promotion(self, task: Task, now: float) -> bool:
        guard = self.promoted.get(task.group.groupid)
        if guard is None:
            return False
        primary, until = guard
        named = task.group.primary()
        if now >= until or (named is not None and named.key == primary):
            del self.promoted[task.group.groupid]  # the DCS caught up, or the bound passed
            return False
        logger.debug(
            "Not reconciling group %s from a view that names %s as its primary: %s was promoted",
            task.group.groupid,
            None if named is None else named.key,
            primary,
        )
        return True

    # -- the worker's side -------------------------------------------------------------------------

    def runnable(self, now: float = float("inf")) -> bool:
        """True when :meth:`pick` at ``now`` may return a task (call with the lock held)."""
        if self.in_flight is not None:
            return self.in_flight.group.groupid in self.queue
        return any(self.not_before.get(groupid, 0.0) <= now for groupid in self.queue)

    def next_start(self) -> float:
        """Earliest ``time.monotonic()`` at which a queued task may be picked (call with the lock)."""
        return min((self.not_before.get(groupid, 0.0) for groupid in self.queue), default=0.0)

    def retry(self, task: Task, not_before: float, epoch: int) -> bool:
        """Queue ``task`` again, to be picked at ``not_before`` at the earliest.

        Nothing is queued when the group has a task queued already (a newer desired state, which
        will do the work) or when :meth:`discard_all` ran since ``epoch``.

        :returns: True when the task was queued.
        """
        with self.cond:
            groupid = task.group.groupid
            if groupid in self.queue or epoch != self.epoch:
                return False
            self.queue[groupid] = task
            self.not_before[groupid] = not_before
            self.cond.notify_all()
            return True

    def pick(self, now: float = float("inf")) -> Task | None:
        """The next task to process, or None.

        While a transaction is open only its group's task may run. Otherwise the coordinator group
        goes first, then the oldest task; tasks that equal the cached state are dropped on the way
        (woken with :attr:`Outcome.SKIPPED`), and tasks retried later than ``now`` wait.

        :param now: ``time.monotonic()``; by default no retried task waits.
        """
        dropped: list[Task] = []
        try:
            with self.cond:
                if self.in_flight is not None:
                    return self.queue.get(self.in_flight.group.groupid)
                ready = [t for g, t in self.queue.items() if self.not_before.get(g, 0.0) <= now]
                ready.sort(key=lambda t: t.group.groupid != COORDINATOR_GROUP_ID)  # stable: oldest first
                for task in ready:
                    cached = self.cache.get(task.group.groupid)
                    if cached is not None and task.same_state(cached):
                        del self.queue[task.group.groupid]
                        self.not_before.pop(task.group.groupid, None)
                        dropped.append(task)
                        self.record.event(task, Outcome.SKIPPED.value)
                        continue
                    self.record.picked()
                    return task
                return None
        finally:
            for task in dropped:
                task.wakeup(Outcome.SKIPPED)

    def finish(self, task: Task, outcome: Outcome, epoch: int, result: Group | None = None) -> None:
        """Record what became of a processed task, take it off the queue and wake its waiters.

        :param task: the task :meth:`pick` returned.
        :param outcome: what processing did.
        :param epoch: :attr:`epoch` when processing started; after a :meth:`discard_all` in between,
            only the queue entry is touched.
        :param result: the state written (it replaces the task's group when the change was made).
        """
        with self.cond:
            groupid = task.group.groupid
            if result is not None and outcome in (Outcome.APPLIED, Outcome.OPENED):
                task.group = result
            if epoch == self.epoch:
                self.record.finished(task, outcome, self.in_flight)
                if outcome is Outcome.APPLIED:
                    self.cache[groupid] = task
                    self.in_flight = None
                elif outcome is Outcome.OPENED:
                    self.in_flight = task
                elif outcome is Outcome.FAILED:
                    self.in_flight = None
                    self.reload = True
            elif outcome is Outcome.OPENED:
                self.reset_connection = True  # the transaction belongs to a discarded state
            if self.queue.get(groupid) is task:
                del self.queue[groupid]
                self.not_before.pop(groupid, None)
        task.wakeup(outcome)

    def end_transaction(self, task: Task) -> None:
        """The worker rolled back ``task``'s transaction at its deadline: nothing is in flight now."""
        with self.cond:
            if self.in_flight is task:
                self.in_flight = None
                self.record.transaction_ended(ROLLED_BACK_AT_DEADLINE)

    def install_cache(self, groups: dict[int, Group], epoch: int) -> None:
        """Replace the cache by freshly read groups (unless :meth:`discard_all` ran meanwhile)."""
        with self.cond:
            if epoch == self.epoch:
                self.cache = {gid: Task(group, AFTER_PROMOTE) for gid, group in groups.items()}

    def discard_all(self) -> list[Task]:
        """Forget cache, queue and in-flight task (coordinator demotion); returns the dropped tasks.

        A reload is scheduled and the metadata connection is reset, so that a coordinator promoted again
        starts from the table, never from an empty cache or a stale transaction.
        """
        with self.cond:
            dropped = list(self.queue.values())
            for task in dropped:
                self.record.event(task, Outcome.DISCARDED.value)
            self.cache.clear()
            self.queue.clear()
            self.not_before.clear()
            self.promoted.clear()
            if self.in_flight is not None:
                self.reset_connection = True
                self.record.transaction_ended(ROLLED_BACK)
            self.in_flight = None
            self.reload = True
            self.epoch += 1
            self.cond.notify_all()
        return dropped
