"""What a metadata worker did, kept in memory for the status and the metrics (no SQL when read).

:class:`WorkerRecord` lives in the worker's :class:`~patroni_mpp_citus._queue.TaskQueue` and is
updated under its lock where things happen: a task picked, a task finished, an event task replaced
or refused, a transaction ended. Its metrics go to a :class:`~patroni_mpp_citus._metrics.CitusMetrics`
once :meth:`WorkerRecord.bind` connected it (a queue built on its own, as in unit tests, records
the status fields only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ._model import Outcome, Task

if TYPE_CHECKING:
    from ._metrics import CitusMetrics

__all__ = ["COMMITTED", "ROLLED_BACK", "ROLLED_BACK_AT_DEADLINE", "Reconciliation", "WorkerRecord"]

COMMITTED = "committed"
"""Transaction outcome: the event transaction was committed."""

ROLLED_BACK_AT_DEADLINE = "rolled_back_at_deadline"
"""Transaction outcome: the deadline passed first, the transaction was rolled back."""

ROLLED_BACK = "rolled_back"
"""Transaction outcome: rolled back before its deadline (a statement failed, the coordinator was
demoted)."""


@dataclass(frozen=True)
class Reconciliation:
    """The last reconciliation task the worker processed.

    :ivar at: when it finished (UTC).
    :ivar group: its group.
    :ivar outcome: what became of it.
    :ivar statements: statements it sent (reads and time bounds included).
    """

    at: datetime
    group: int
    outcome: Outcome
    statements: int


def _no_statements() -> int:
    return 0


class WorkerRecord:
    """The worker's recent history; every method is called with the queue's lock held.

    :ivar opened_at: ``time.monotonic()`` at which the open event transaction began (its first
        statement, the ``-demoted`` update of a switchover), None while none is open.
    :ivar last_reconciliation: the last reconciliation task processed, None before the first.
    """

    def __init__(self) -> None:
        self.opened_at: float | None = None
        self.last_reconciliation: Reconciliation | None = None
        self._metrics: CitusMetrics | None = None
        self._database = ""
        self._statements: Callable[[], int] = _no_statements
        self._statements_at_pick = 0

    def bind(self, metrics: CitusMetrics, database: str, statements: Callable[[], int]) -> None:
        """Count into ``metrics`` under the label ``database=database``.

        :param statements: the number of statements the worker's store sent so far.
        """
        self._metrics = metrics
        self._database = database
        self._statements = statements
        metrics.start_database(database)

    def event(self, task: Task, outcome: str) -> None:
        """Count an event task's outcome (tasks of reconciliation are not events)."""
        if self._metrics is not None and task.from_event:
            self._metrics.events.labels(self._database, task.event, outcome).inc()

    def picked(self) -> None:
        """A task was picked for processing: its statements are counted from now."""
        self._statements_at_pick = self._statements()

    def finished(self, task: Task, outcome: Outcome, held: Task | None) -> None:
        """Record what became of a processed task.

        :param held: the task whose transaction was open when processing started (None: none was).
        """
        now = time.monotonic()
        if task.from_event:
            self.event(task, outcome.value)
        else:
            statements = self._statements() - self._statements_at_pick
            self.last_reconciliation = Reconciliation(datetime.now(UTC), task.groupid, outcome, statements)
            if self._metrics is not None:
                self._metrics.reconciliation_statements.labels(self._database).inc(statements)
                if outcome is Outcome.FAILED:
                    self._metrics.reconciliation_errors.labels(self._database).inc()
        if held is None:
            if outcome is Outcome.OPENED:
                self.opened_at = now
        elif outcome is Outcome.APPLIED:
            self.transaction_ended(COMMITTED, now)
        elif outcome is Outcome.FAILED:
            self.transaction_ended(ROLLED_BACK_AT_DEADLINE if now >= held.deadline else ROLLED_BACK, now)

    def transaction_ended(self, outcome: str, now: float | None = None) -> None:
        """The open transaction ended with ``outcome``: count it and observe the client pause."""
        opened_at, self.opened_at = self.opened_at, None
        if self._metrics is None or opened_at is None:
            return
        self._metrics.transactions.labels(self._database, outcome).inc()
        ended = time.monotonic() if now is None else now
        self._metrics.client_pause.labels(self._database).observe(max(0.0, ended - opened_at))
