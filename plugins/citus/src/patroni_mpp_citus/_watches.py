"""The promotion watches of one metadata worker: started after ``before_promote``, ended with it.

A worker that opened a ``before_promote`` transaction starts a :class:`~._promotion.PromotionWatch`
on the promoted node; when the node is out of recovery, the watch queues the ``after_promote`` that
commits the transaction (unless it ended already, or a queued task of the group will end it), and
guards the promotion against stale DCS views until the transaction's deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ._model import AFTER_PROMOTE, Row, Task
from ._promotion import PromotionWatch
from ._queue import TaskQueue

__all__ = ["PromotionWatches", "WatchParams"]

WatchParams = Callable[[Row], dict[str, Any]]
"""Builds the connection parameters of a node being promoted."""


class PromotionWatches:
    """The running watches of one worker; every method takes the queue's lock where it needs it.

    :param state: the worker's queue (its lock guards the watches too).
    :param params: connection parameters of a promoted node; None disables the watch.
    :param log: where the lines go (the worker's, naming its database).
    """

    def __init__(
        self, state: TaskQueue, params: WatchParams | None, log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        self._state = state
        self._params = params
        self._log = log
        self._watches: list[PromotionWatch] = []
        self._closed = False

    @property
    def enabled(self) -> bool:
        """True when a ``before_promote`` starts a watch."""
        return self._params is not None

    def start(self, task: Task) -> None:
        """Watch the promotion of ``task``'s primary (the task holds the open transaction)."""
        primary = task.group.primary()
        if self._params is None or primary is None:
            return
        try:
            params = self._params(primary)
        except Exception as exc:
            self._log.debug("Not watching the promotion of group %s: %s", task.groupid, exc)
            return
        watch = PromotionWatch(task, params, self._still_waiting, self._observed)
        with self._state.cond:
            if self._closed:
                return
            self._watches = [w for w in self._watches if w.alive]
            self._watches.append(watch)
        watch.start()

    def take(self, *, close: bool = False) -> list[PromotionWatch]:
        """Hand over the running watches for the caller to stop; ``close``: start no more."""
        with self._state.cond:
            watches, self._watches = self._watches, []
            self._closed = self._closed or close
        return watches

    def _still_waiting(self, task: Task) -> bool:
        with self._state.cond:
            return not self._closed and self._state.in_flight is task

    def _observed(self, task: Task) -> None:
        state = self._state
        with state.cond:
            if self._closed or state.in_flight is not task or task.groupid in state.queue:
                return  # the transaction ended already, or a queued task of the group will end it
            group = task.group.copy()
            group.failover = False
            state.submit(Task(group, AFTER_PROMOTE, task.timeout, task.cooldown), time.monotonic())
            primary = group.primary()
            if primary is not None:
                # committed before the new primary's member key says so: keep stale views out
                state.guard_promotion(task.groupid, primary.key, task.deadline)
