"""The metadata worker: one daemon thread that applies queued tasks to ``pg_dist_node``.

It differs from the worker of Patroni's built-in Citus support in these ways (the package README lists every
deliberate difference of the engine):

* an open event transaction is rolled back at its deadline whether or not other tasks wait, and no
  statement of it runs past the deadline (each is bounded by the time left, see
  :mod:`patroni_mpp_citus._store`), so a statement blocked by a lock cannot keep it open;
* failed reads of ``pg_dist_node`` are retried with a bounded exponential back-off, logged once when
  the failures start and once when they end (:mod:`patroni_mpp_citus._cache_reload`);
* rows are added and removed only while Citus has every metadata node in sync: otherwise the task
  writes its updates, and its full desired state is queued again with a bounded back-off, other
  groups' tasks and events going on meanwhile (:mod:`patroni_mpp_citus._sync_wait`);
* after a committed switchover the rows deferred by the failover (the old primary as a secondary)
  are retried at once, not at the next reconciliation;
* every task's waiters are woken, whatever became of it (processed, superseded, dropped, discarded);
* pausing a group that has no registered primary opens no transaction;
* after ``before_promote`` the promoted node is watched, and the pause ends as soon as it is out of
  recovery (:mod:`patroni_mpp_citus._watches`);
* it can be stopped (:meth:`MetadataWorker.stop`), rolling back what it holds open.
"""

from __future__ import annotations

import enum
import logging
import threading
import time

from ._cache_reload import ReloadBackoff
from ._errors import MetadataDeadlineError, MetadataUnsyncedError
from ._logs import DatabaseLog, FailureLog
from ._model import AFTER_PROMOTE, BEFORE_PROMOTE, Group, Outcome, Task
from ._queue import TaskQueue
from ._store import MetadataStore
from ._sync_wait import SyncWait
from ._transition import with_deferred_additions
from ._watches import PromotionWatches, WatchParams

__all__ = ["METADATA_THREAD_NAME", "MetadataWorker"]

logger = logging.getLogger(__name__)

METADATA_THREAD_NAME = "citus-metadata"
"""Name of the daemon thread that applies every change to ``pg_dist_node``."""

ERROR_PAUSE = 0.5
"""Seconds the loop rests after an unexpected exception (so that a bug cannot spin the CPU)."""

PREDECESSOR_POLL = 0.1
"""Seconds between two checks, while a worker waits for its predecessor's thread to end."""


class _Action(enum.Enum):
    STOP = 0
    ROLLBACK = 1
    PROCESS = 2


class MetadataWorker:
    """Owns the worker thread; the handler submits tasks through it.

    :param store: the statements on the metadata connection (used by the worker thread only); its
        ``database``, when set, is named in the log lines and the thread's name.
    :param watch_params: connection parameters for watching a promoted node; None disables the watch.
    """

    def __init__(self, store: MetadataStore, watch_params: WatchParams | None = None) -> None:
        self.state = TaskQueue()
        self._store = store
        self._log = DatabaseLog(logger, store.database)
        self._failures = FailureLog(self._log)
        name = METADATA_THREAD_NAME if store.database is None else f"{METADATA_THREAD_NAME}:{store.database}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._stopping = False
        self._predecessor: MetadataWorker | None = None
        self._reloads = ReloadBackoff(self._log)
        self._sync = SyncWait(self._log)
        self._promotions = PromotionWatches(self.state, watch_params, self._log)

    # -- control, from any thread ------------------------------------------------------------------

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
        return self._reloads.failures

    @property
    def watches_promotions(self) -> bool:
        """True when a ``before_promote`` starts a promotion watch."""
        return self._promotions.enabled

    @property
    def waiting_for_sync(self) -> str | None:
        """The metadata node whose sync additions and removals wait for, or None."""
        return self._sync.node

    @property
    def store(self) -> MetadataStore:
        """The statements on the metadata connection."""
        return self._store

    def start(self, after: MetadataWorker | None = None) -> None:
        """Start the thread (once; never again after :meth:`stop`).

        :param after: a stopping worker of the same database, whose named connection this one
            shares (the host's pool has one per name): the thread touches nothing until that
            worker's thread has ended (it rolls back and closes the connection first). Tasks
            submitted meanwhile wait in the queue.
        """
        with self.state.cond:
            if self._started or self._stopping:
                return
            self._started = True
            self._predecessor = after if after is not None and after is not self else None
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
            watches = self._promotions.take(close=True)
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
        watches = self._promotions.take()
        for task in self.state.discard_all():
            task.wakeup(Outcome.DISCARDED)
        for watch in watches:
            watch.stop(0)

    # -- the thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        if not self._predecessor_ended():
            return  # stopped before it touched anything: nothing to roll back or close
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

    def _predecessor_ended(self) -> bool:
        """Wait until the predecessor's thread ended; False when this worker was stopped meanwhile.

        It waits even when stopped, so that a worker waiting for another stays alive as long as that
        one: a worker added later, which waits for this one, waits for both.
        """
        predecessor, self._predecessor = self._predecessor, None
        if predecessor is not None and predecessor.alive:
            self._log.debug("Waiting for the stopping worker of this database to end")
            while predecessor.alive:
                predecessor.join(PREDECESSOR_POLL)
        with self.state.cond:
            return not self._stopping

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` s for the thread to end (returns at once when it never started)."""
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout)

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
                        start = max(start, self._reloads.not_before)
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
                self._sync.waits(exc.node, task.groupid)
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
                self._promotions.start(task)

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
                    unsynced=self._sync.known_unsynced(),
                )
                if in_flight is not None:
                    store.commit()
            result.failover = False
            if unsynced is not None:
                self._sync.waits(unsynced, task.groupid)
                return Outcome.APPLIED, task.group
            if store.sync_checked:
                self._sync.done()
            if in_flight is not None:
                return Outcome.APPLIED, with_deferred_additions(result, task.group)
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

    def _retry(self, desired: Group, cooldown: int, epoch: int) -> None:
        """Queue ``desired`` again: at once, or with the others at the next check while unsynced."""
        retry_at = self._sync.retry_at()
        task = Task(desired.copy(), AFTER_PROMOTE, None, cooldown)
        if self.state.retry(task, retry_at, epoch):
            self._log.debug("Retrying group %s in %.2f s", desired.groupid, retry_at - time.monotonic())

    def _load_cache(self, epoch: int) -> bool:
        reloads = self._reloads
        if not reloads.due():
            return False
        with self.state.cond:
            self.state.reload = False
        try:
            groups = self._store.load(log_errors=reloads.log_errors)
        except Exception as exc:
            reloads.failed(exc)
            with self.state.cond:
                self.state.reload = True
            return False
        reloads.succeeded()
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
        self.state.end_transaction(task)

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
