"""The metadata worker: one daemon thread that applies queued tasks to ``pg_dist_node``.

It differs from the reference worker (citus-engine.md 3.3, 16) in these ways:

* an open event transaction is rolled back at its deadline whether or not other tasks wait, and no
  statement of it runs past the deadline (each is bounded by the time left, see
  :mod:`patroni_mpp_citus._store`), so a statement blocked by a lock cannot keep it open;
* failed reads of ``pg_dist_node`` are retried with a bounded exponential back-off, logged once when
  the failures start and once when they end;
* rows are added and removed only while Citus has every metadata node in sync: otherwise the task
  writes its updates, and its full desired state is queued again with a bounded back-off (other
  groups' tasks and events go on meanwhile), logged once when the wait starts and once when it ends;
* after a committed switchover the rows deferred by the failover (the old primary as a secondary)
  are retried at once, not at the next reconciliation;
* every task's waiters are woken, whatever became of it (processed, superseded, dropped, discarded);
* pausing a group that has no registered primary opens no transaction;
* after ``before_promote`` the promoted node is watched, and the pause ends as soon as it is out of
  recovery (:mod:`patroni_mpp_citus._promotion`);
* it can be stopped (:meth:`MetadataWorker.stop`), rolling back what it holds open.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ._errors import MetadataDeadlineError, MetadataUnsyncedError
from ._logs import DatabaseLog, FailureLog
from ._model import AFTER_PROMOTE, BEFORE_PROMOTE, Group, Outcome, Row, Task
from ._promotion import PromotionWatch
from ._queue import TaskQueue
from ._store import MetadataStore

__all__ = [
    "RELOAD_BACKOFF_MAX",
    "RELOAD_BACKOFF_MIN",
    "SYNC_RETRY_MAX",
    "SYNC_RETRY_MIN",
    "MetadataWorker",
    "reload_backoff",
    "sync_retry_delay",
]

logger = logging.getLogger(__name__)

METADATA_THREAD_NAME = "citus-metadata"
"""Name of the daemon thread that applies every change to ``pg_dist_node``."""

RELOAD_BACKOFF_MIN = 0.1
"""Seconds before the first retry of a failed ``pg_dist_node`` read; doubled after each failure."""

RELOAD_BACKOFF_MAX = 5.0
"""Upper bound of the retry delay of ``pg_dist_node`` reads."""


def reload_backoff(failures: int) -> float:
    """Seconds to wait before reading ``pg_dist_node`` again after ``failures`` failed reads."""
    if failures <= 0:
        return 0.0
    exponent: int = min(failures - 1, 30)
    return min(RELOAD_BACKOFF_MIN * float(2**exponent), RELOAD_BACKOFF_MAX)


SYNC_RETRY_MIN = 0.05
"""Seconds before the first retry of a task whose additions or removals wait for metadata sync."""

SYNC_RETRY_MAX = 2.0
"""Upper bound of that retry delay (Citus's maintenance daemon retries a failed sync every 5 s)."""


def sync_retry_delay(attempts: int) -> float:
    """Seconds before retrying a task deferred for the ``attempts``-th time in a row (1, 2, ...)."""
    exponent: int = min(max(attempts, 1) - 1, 30)
    return min(SYNC_RETRY_MIN * float(2**exponent), SYNC_RETRY_MAX)


ERROR_PAUSE = 0.5
"""Seconds the loop rests after an unexpected exception (so that a bug cannot spin the CPU)."""


def _with_deferred_additions(written: Group, desired: Group) -> Group | None:
    """``written`` plus the rows of ``desired`` it lacks, or None when it lacks none."""
    missing = [row for row in desired if row.key not in written.rows]
    if not missing:
        return None
    merged = written.copy()
    for row in missing:
        merged.add(Row(row.host, row.port, row.role))
    return merged


class _Action(enum.Enum):
    STOP = 0
    ROLLBACK = 1
    PROCESS = 2


WatchParams = Callable[[Row], dict[str, Any]]
"""Builds the connection parameters of a node being promoted."""


class MetadataWorker:
    """Owns the worker thread; the handler submits tasks through it.

    :param store: the statements on the metadata connection (used by the worker thread only); its
        ``database``, when set, is named in the log lines and the thread's name.
    :param watch_params: connection parameters for watching a promoted node; None disables the
        watch.
    """

    def __init__(self, store: MetadataStore, watch_params: WatchParams | None = None) -> None:
        self.state = TaskQueue()
        self._store = store
        self._watch_params = watch_params
        self._log = DatabaseLog(logger, store.database)
        self._failures = FailureLog(self._log)
        name = METADATA_THREAD_NAME if store.database is None else f"{METADATA_THREAD_NAME}:{store.database}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._stopping = False
        self._reload_failures = 0
        self._reload_not_before = 0.0
        self._watches: list[PromotionWatch] = []
        # while Citus has not synced: (node it named, since, checks that found it unsynced, the
        # time every deferred task is retried at: one schedule, so that 3.5's order holds)
        self._unsynced: tuple[str, float, int, float] | None = None

    # -- control, from any thread
    # --------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran; events are accepted from then on (the ready gate)."""
        return self._started

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    @property
    def reload_failures(self) -> int:
        """Consecutive failed reads of ``pg_dist_node`` (0 once a read succeeds)."""
        return self._reload_failures

    @property
    def watches_promotions(self) -> bool:
        """True when a ``before_promote`` starts a promotion watch."""
        return self._watch_params is not None

    @property
    def waiting_for_sync(self) -> str | None:
        """The metadata node whose sync additions and removals wait for, or None."""
        unsynced = self._unsynced
        return None if unsynced is None else unsynced[0]

    @property
    def store(self) -> MetadataStore:
        """The statements on the metadata connection."""
        return self._store

    def start(self) -> None:
        """Start the thread (once; never again after :meth:`stop`)."""
        with self.state.cond:
            if self._started or self._stopping:
                return
            self._started = True
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread.

        Queued tasks are discarded (their waiters woken), an open transaction is rolled back and the
        metadata connection closed.

        :param timeout: seconds to wait for the thread.
        :returns: True when no thread is left running.
        """
        with self.state.cond:
            self._stopping = True
            dropped = list(self.state.queue.values())
            self.state.queue.clear()
            watches, self._watches = self._watches, []
            self.state.cond.notify_all()
        for task in dropped:
            task.wakeup(Outcome.DISCARDED)
        for watch in watches:
            watch.stop(timeout)
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def submit(self, task: Task) -> bool:
        """Queue ``task`` if the admission rules let it in."""
        return self.state.submit(task, time.monotonic())

    def submit_many(self, tasks: list[Task]) -> int:
        """Queue several tasks under one lock acquisition; returns how many were admitted."""
        return self.state.submit_many(tasks, time.monotonic())

    def schedule_reload(self) -> None:
        """Re-read ``pg_dist_node`` before the cache is used again."""
        with self.state.cond:
            self.state.reload = True

    def discard_all(self) -> None:
        """Forget everything (coordinator demotion) and wake the waiters of dropped tasks."""
        with self.state.cond:
            watches, self._watches = self._watches, []
        for task in self.state.discard_all():
            task.wakeup(Outcome.DISCARDED)
        for watch in watches:
            watch.stop(0)

    # -- the thread
    # ------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                action = self._wait_for_work()
                if action is _Action.STOP:
                    return
                try:
                    if action is _Action.ROLLBACK:
                        self._rollback_expired()
                    self._process_tasks()
                except Exception:
                    self._log.exception("Unexpected error in the citus metadata worker")
                    with self.state.cond:
                        if not self._stopping:
                            self.state.cond.wait(ERROR_PAUSE)
        finally:
            self._shutdown()

    def _wait_for_work(self) -> _Action:
        state = self.state
        with state.cond:
            while True:
                if self._stopping:
                    return _Action.STOP
                now = time.monotonic()
                timeout: float | None = None
                in_flight = state.in_flight
                if in_flight is not None:
                    if in_flight.deadline <= now:
                        return _Action.ROLLBACK
                    if in_flight.group.groupid in state.queue:
                        return _Action.PROCESS
                    timeout = in_flight.deadline - now
                elif state.queue:
                    start = state.next_start()
                    if state.reload:
                        start = max(start, self._reload_not_before)
                    if start <= now:
                        return _Action.PROCESS
                    timeout = start - now
                elif state.reset_connection:
                    return _Action.PROCESS
                state.cond.wait(timeout)

    def _process_tasks(self) -> None:
        state = self.state
        while True:
            with state.cond:
                if self._stopping:
                    return
                reset, state.reset_connection = state.reset_connection, False
                # read lazily, when there is work (a demoted coordinator is stopping)
                reload = state.reload and state.in_flight is None and bool(state.queue)
                epoch = state.epoch
            if reset:
                self._store.close()
            if reload and not self._load_cache(epoch):
                return
            task = state.pick(time.monotonic())
            if task is None:
                return
            # The transition works on a copy: other threads compare queued tasks meanwhile.
            result = task.group.copy()
            retry: Group | None = None
            try:
                outcome, retry = self._process(task, result)
            except MetadataDeadlineError as exc:
                # the store rolled back (or closed the connection): nothing is left open
                self._log.warning("Rolling back transaction of %r: its deadline passed (%s)", task, exc)
                outcome = Outcome.FAILED
            except MetadataUnsyncedError as exc:
                # a race with the sync check: nothing was written, the connection is kept
                self._sync_waits(exc.node, task.groupid)
                outcome = Outcome.FAILED
                retry = task.group if task.event == AFTER_PROMOTE else None
            except Exception as exc:
                level = self._failures.failed(task.groupid, str(exc))
                self._log.log(level, "Exception when working with pg_dist_node: %s", exc)
                self._store.close()
                outcome = Outcome.FAILED
                if task.event == AFTER_PROMOTE and task.timeout is not None:
                    # the commit of an event failed here (it may have succeeded in another Citus
                    # database): converge now, from a fresh read, not at the next HA cycle
                    retry = task.group
            if outcome is not Outcome.FAILED:
                self._failures.succeeded(task.groupid, f"Changing pg_dist_node for group {task.groupid}")
            state.finish(task, outcome, epoch, result)
            if retry is not None:
                self._retry(retry, task.cooldown, epoch)
            if outcome is Outcome.OPENED and task.event == BEFORE_PROMOTE:
                self._watch(task)

    def _current(self, groupid: int) -> tuple[Group, Task | None]:
        with self.state.cond:
            in_flight = self.state.in_flight
            if in_flight is not None:
                return in_flight.group, in_flight
            cached = self.state.cache.get(groupid)
        return (cached.group if cached is not None else Group(groupid)), None

    def _process(self, task: Task, result: Group) -> tuple[Outcome, Group | None]:
        """Apply ``task``; ``result`` (a copy of its group) becomes the state written.

        :returns: the outcome, and the state to retry, if any: the task's desired state when
            additions or removals waited for metadata sync; after the commit of a failover
            transaction, the state written plus the rows the failover left for later (additions
            only: a row parked for the old primary stays until reconciliation says otherwise).
        """
        current, in_flight = self._current(task.groupid)
        store = self._store
        if task.event == AFTER_PROMOTE:
            with store.until(None if in_flight is None else in_flight.deadline):
                unsynced = store.apply(
                    result,
                    current,
                    task.cooldown,
                    in_transaction=in_flight is not None,
                    unsynced=self._known_unsynced(),
                )
                if in_flight is not None:
                    store.commit()
            result.failover = False
            if unsynced is not None:
                self._sync_waits(unsynced, task.groupid)
                return Outcome.APPLIED, task.group
            if store.sync_checked:
                self._sync_done()
            if in_flight is not None:
                return Outcome.APPLIED, _with_deferred_additions(result, task.group)
            return Outcome.APPLIED, None
        if not current.is_registered():
            self._log.info(
                "Not pausing group %s for %s: it has no primary row in pg_dist_node",
                task.groupid,
                task.event,
            )
            return Outcome.SKIPPED, None
        now = time.monotonic()
        if task.timeout:
            task.deadline = now + task.timeout
        elif in_flight is not None:
            task.deadline = in_flight.deadline
        else:
            task.deadline = now
        with store.until(task.deadline):
            if in_flight is None:
                store.begin()
            store.apply(result, current, task.cooldown, in_transaction=True)
        return Outcome.OPENED, None

    def _sync_waits(self, node: str, groupid: int) -> None:
        """Additions or removals of ``groupid`` wait until Citus has synced ``node``."""
        now = time.monotonic()
        if self._unsynced is None:
            self._log.info(
                "Citus has not synced its metadata to %s yet: adding and removing nodes of group %s "
                "waits until it has (rechecked with back-off, at least every %.0f s)",
                node,
                groupid,
                SYNC_RETRY_MAX,
            )
            self._unsynced = (node, now, 1, now + sync_retry_delay(1))
            return
        _, since, checks, retry_at = self._unsynced
        if now >= retry_at:  # a new round of checks: the back-off grows once per round
            checks += 1
            retry_at = now + sync_retry_delay(checks)
        self._unsynced = (node, since, checks, retry_at)
        self._log.debug("Metadata of %s not synced yet (%.1f s, %d rounds)", node, now - since, checks)

    def _known_unsynced(self) -> str | None:
        """The node Citus had not synced at the last check, until the round's recheck time.

        Within a round every deferred task waits for the same recheck, so that at that time the
        queue's order (coordinator first, then the oldest) decides which goes first.
        """
        unsynced = self._unsynced
        if unsynced is None or time.monotonic() >= unsynced[3]:
            return None
        return unsynced[0]

    def _sync_done(self) -> None:
        if self._unsynced is not None:
            node, since, checks, _ = self._unsynced
            self._unsynced = None
            self._log.info(
                "Citus synced its metadata (to %s) after %.2f s and %d rounds of checks: adding and "
                "removing nodes again",
                node,
                time.monotonic() - since,
                checks,
            )

    def _retry(self, desired: Group, cooldown: int, epoch: int) -> None:
        """Queue ``desired`` again: at once, or with the others at the next check while unsynced."""
        retry_at = time.monotonic() if self._unsynced is None else self._unsynced[3]
        task = Task(desired.copy(), AFTER_PROMOTE, None, cooldown)
        if self.state.retry(task, retry_at, epoch):
            self._log.debug("Retrying group %s in %.2f s", desired.groupid, retry_at - time.monotonic())

    def _load_cache(self, epoch: int) -> bool:
        if time.monotonic() < self._reload_not_before:
            return False
        with self.state.cond:
            self.state.reload = False
        try:
            groups = self._store.load(log_errors=self._reload_failures == 0)
        except Exception as exc:
            self._reload_failures += 1
            self._reload_not_before = time.monotonic() + reload_backoff(self._reload_failures)
            with self.state.cond:
                self.state.reload = True
            if self._reload_failures == 1:
                self._log.warning(
                    "Cannot read pg_dist_node (%s); retrying with back-off (at least every "
                    "%.0f s); further failures are logged at debug level",
                    exc,
                    RELOAD_BACKOFF_MAX,
                )
            else:
                self._log.debug(
                    "Reading pg_dist_node failed again (%d failures): %s",
                    self._reload_failures,
                    exc,
                )
            return False
        if self._reload_failures:
            self._log.info("pg_dist_node read again after %d failed attempts", self._reload_failures)
            self._reload_failures = 0
            self._reload_not_before = 0.0
        self.state.install_cache(groups, epoch)
        return True

    def _rollback_expired(self) -> None:
        with self.state.cond:
            task = self.state.in_flight
            if task is None or task.deadline > time.monotonic():
                return
        self._log.warning("Rolling back transaction of %r: its deadline passed", task)
        try:
            self._store.rollback()
        except Exception:
            with self.state.cond:
                self.state.reload = True  # the connection was closed, which rolled back too
        with self.state.cond:
            if self.state.in_flight is task:
                self.state.in_flight = None

    # -- promotion watch
    # ---------------------------------------------------------------------------------

    def _watch(self, task: Task) -> None:
        primary = task.group.primary()
        if self._watch_params is None or primary is None:
            return
        try:
            params = self._watch_params(primary)
        except Exception as exc:
            self._log.debug("Not watching the promotion of group %s: %s", task.groupid, exc)
            return
        watch = PromotionWatch(task, params, self._still_waiting, self._promotion_observed)
        with self.state.cond:
            if self._stopping:
                return
            self._watches = [w for w in self._watches if w.alive]
            self._watches.append(watch)
        watch.start()

    def _still_waiting(self, task: Task) -> bool:
        with self.state.cond:
            return not self._stopping and self.state.in_flight is task

    def _promotion_observed(self, task: Task) -> None:
        state = self.state
        with state.cond:
            if self._stopping or state.in_flight is not task or task.groupid in state.queue:
                return  # the transaction ended already, or a queued task of the group will end it
            group = task.group.copy()
            group.failover = False
            state.submit(Task(group, AFTER_PROMOTE, task.timeout, task.cooldown), time.monotonic())
            primary = group.primary()
            if primary is not None:
                # committed before the new primary's member key says so: keep stale views out
                state.guard_promotion(task.groupid, primary.key, task.deadline)

    def _shutdown(self) -> None:
        with self.state.cond:
            in_flight, self.state.in_flight = self.state.in_flight, None
        if in_flight is not None:
            self._log.info("Rolling back transaction of %r: the worker stops", in_flight)
            try:
                self._store.rollback()
            except Exception as exc:
                self._log.debug("Rollback at stop failed: %s", exc)
        self._store.close()
