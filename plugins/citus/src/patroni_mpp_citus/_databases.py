"""The Citus databases of a handler: one metadata worker (thread, connection, cache) per database.

Each database named by ``citus.database`` / ``citus.databases`` has a :class:`MetadataWorker` of its
own: its own named connection, its own cache of ``pg_dist_node``, its own queue and transaction. A
failure in one (a dropped database, a missing extension, a killed connection) stays in its worker.
The set follows the configuration on reload: a database that appears gets a worker (started when
the others are), one that disappears has its worker stopped without waiting (an open transaction is
rolled back; nothing else is written there) and is left alone from then on.

A database removed and added again before its old worker has ended gets a new worker, which shares
the old one's named connection (the host's pool keeps one per name): the new worker's thread waits
until the old one has ended (rolled back and closed the connection) before it touches it, so that
the connection is never used by two threads; tasks queued meanwhile wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from ._worker import MetadataWorker

__all__ = ["DatabaseWorkers"]

logger = logging.getLogger(__name__)


class DatabaseWorkers:
    """The metadata workers of the configured Citus databases, in configuration order.

    :param make_worker: builds the (not yet started) worker of a database.
    :param databases: the databases at construction.
    """

    def __init__(self, make_worker: Callable[[str], MetadataWorker], databases: Iterable[str]) -> None:
        self._make_worker = make_worker
        self._lock = threading.Lock()
        self._workers = {database: make_worker(database) for database in databases}
        self._retired: list[tuple[str, MetadataWorker]] = []
        self._after: dict[str, MetadataWorker] = {}
        """Database -> the stopping worker its (not yet started) new worker must wait for."""
        self._started = False

    @property
    def names(self) -> tuple[str, ...]:
        """The databases managed now, in configuration order."""
        with self._lock:
            return tuple(self._workers)

    def items(self) -> list[tuple[str, MetadataWorker]]:
        """``(database, worker)`` of every database managed now."""
        with self._lock:
            return list(self._workers.items())

    def workers(self) -> list[MetadataWorker]:
        """The workers of the databases managed now."""
        with self._lock:
            return list(self._workers.values())

    def first(self) -> MetadataWorker:
        """The worker of the first database (the only one with ``citus.database``).

        :raises LookupError: when no database is managed (never, with a valid section).
        """
        with self._lock:
            for worker in self._workers.values():
                return worker
        raise LookupError("no Citus database is configured")

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran."""
        return self._started

    def start(self) -> None:
        """Start every worker (idempotent); workers added later start at once."""
        with self._lock:
            self._started = True
            workers = [(worker, self._after.pop(name, None)) for name, worker in self._workers.items()]
        for worker, after in workers:
            worker.start(after)

    def update(self, databases: Iterable[str]) -> tuple[list[str], list[str]]:
        """Follow a new configured set of databases.

        :param databases: the databases now configured, in order.
        :returns: the databases added and the databases removed.
        """
        wanted = list(dict.fromkeys(databases))
        with self._lock:
            current = self._workers
            added = [name for name in wanted if name not in current]
            removed = [name for name in current if name not in wanted]
            if not added and not removed and list(current) == wanted:
                return [], []
            fresh = {name: current[name] if name in current else self._make_worker(name) for name in wanted}
            stopping = [(name, current[name]) for name in removed]
            self._workers = fresh
            self._retired = [(n, w) for n, w in self._retired if w.alive] + stopping
            for name in added:
                # the newest stopping worker of that database, whose connection the new one shares
                older = [worker for n, worker in self._retired if n == name]
                if older:
                    self._after[name] = older[-1]
            for name in removed:
                self._after.pop(name, None)
            start = [(fresh[name], self._after.pop(name, None)) for name in added] if self._started else []
        for _, worker in stopping:
            worker.stop(0)  # signalled, not awaited: the HA cycle goes on
        for worker, after in start:
            worker.start(after)
        return added, removed

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop every worker, those of removed databases too.

        :returns: True when no worker thread is left running.
        """
        with self._lock:
            workers = [*self._workers.values(), *(worker for _, worker in self._retired)]
        stopped = [worker.stop(timeout) for worker in workers]
        with self._lock:
            self._retired = [(name, worker) for name, worker in self._retired if worker.alive]
        return all(stopped)
