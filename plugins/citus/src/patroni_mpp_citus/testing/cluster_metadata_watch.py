"""A watch of ``pg_dist_node`` on a formation's coordinator: each distinct state, when first seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from patroni_mpp.testing.patroni_node import PatroniNode

from patroni_mpp_citus.testing.cluster import connect
from patroni_mpp_citus.testing.cluster_workload import close_quietly

DistRow = tuple[int, str, int, str]
"""A ``pg_dist_node`` row as watched: group id, node name, node port, node role."""


class MetadataMonitor:
    """Polls ``pg_dist_node`` on the coordinator; keeps each distinct state and when it was first seen."""

    def __init__(self, coordinator: PatroniNode, interval: float = 0.025) -> None:
        """Watch ``coordinator`` every ``interval`` seconds once :meth:`start` is called."""
        self.coordinator = coordinator
        self.interval = interval
        self.history: list[tuple[float, frozenset[DistRow]]] = []
        self.poll_errors = 0
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = connect(self.coordinator, statement_timeout_ms=5000)
                rows = conn.execute(
                    "SELECT groupid, nodename, nodeport, noderole::text FROM pg_dist_node"
                ).fetchall()
                seen = time.monotonic()
                state = frozenset((int(g), str(n), int(p), str(r)) for g, n, p, r in rows)
                with self._condition:
                    if not self.history or self.history[-1][1] != state:
                        self.history.append((seen, state))
                        self._condition.notify_all()
            except Exception:
                self.poll_errors += 1
                close_quietly(conn)
                conn = None
            self._stop.wait(self.interval)
        close_quietly(conn)

    def start(self) -> None:
        """Start polling."""
        self._thread = threading.Thread(target=self._run, name="pg-dist-node-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def first_seen(self, predicate: Callable[[frozenset[DistRow]], bool], after: float) -> float | None:
        """The first time at or after ``after`` when the table satisfied ``predicate``, or None (not yet)."""
        with self._condition:
            history = list(self.history)
        for index, (seen, state) in enumerate(history):
            following = history[index + 1][0] if index + 1 < len(history) else float("inf")
            if following <= after or not predicate(state):
                continue
            return max(seen, after)
        return None

    def held_since(
        self, predicate: Callable[[frozenset[DistRow]], bool], start: float, end: float
    ) -> float | None:
        """Since when (not before ``start``) the table satisfied ``predicate`` without a break until ``end``.

        None when the state at ``end`` does not satisfy it.
        """
        with self._condition:
            history = [(seen, state) for seen, state in self.history if seen <= end]
        if not history or not predicate(history[-1][1]):
            return None
        index = len(history) - 1
        while index > 0 and history[index][0] > start and predicate(history[index - 1][1]):
            index -= 1
        return max(history[index][0], start)

    def wait_seen(
        self, predicate: Callable[[frozenset[DistRow]], bool], after: float, timeout: float
    ) -> float | None:
        """Wait until :meth:`first_seen` has an answer (returned) or ``timeout`` seconds passed (None)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.first_seen(predicate, after)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._condition:
                self._condition.wait(min(remaining, 0.5))


def primary_is(group: int, port: int) -> Callable[[frozenset[DistRow]], bool]:
    """Predicate: the primary row of ``group`` names ``port``."""
    return lambda rows: any(g == group and p == port and r == "primary" for g, _n, p, r in rows)


def secondary_is(group: int, port: int) -> Callable[[frozenset[DistRow]], bool]:
    """Predicate: ``group`` has a ``secondary`` row naming ``port``."""
    return lambda rows: any(g == group and p == port and r == "secondary" for g, _n, p, r in rows)
