"""Clients of a Citus formation on Patroni nodes: writers and a reader through the coordinator, with records.

What each client saw (:class:`ClientLog`) is what the end-to-end tests and the benchmark measure from the
clients' side: failed operations, pauses, error windows, acknowledged writes lost.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from patroni_mpp.testing.patroni_node import PatroniNode
from patroni_mpp.testing.processes import LocalClusterError

from patroni_mpp_citus.testing.cluster import DATABASE, GROUPS, connect, query

CLIENT_STATEMENT_TIMEOUT_MS = 30_000
"""Longest a client statement may wait (a blocked write counts as failed after this)."""


def _error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


def close_quietly(conn: Any) -> None:
    """Close a client connection (or nothing, for None); a connection already broken stays quiet."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


@dataclass
class ClientLog:
    """What one client thread saw: when its operations succeeded and failed (``time.monotonic()``)."""

    name: str
    started: float = field(default_factory=time.monotonic)
    ok: list[float] = field(default_factory=list)
    """Completion times of the successful operations, in order."""
    failed: list[float] = field(default_factory=list)
    """Completion times of the failed operations, in order."""
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    """Error texts (exception type and first line) and how often each was seen."""

    def record_error(self, exc: BaseException) -> None:
        """Count a failed operation."""
        self.failed.append(time.monotonic())
        self.errors[_error_text(exc)] += 1

    def longest_gap(self, start: float | None = None, end: float | None = None) -> float:
        """Longest time between two successive successes (or start and first success) overlapping a span.

        The span is ``[start, end)``; the whole run when both are None.
        """
        marks = [self.started, *self.ok]
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        first = max(bisect.bisect_right(marks, lo) - 1, 0)
        best = 0.0
        for before, after in zip(marks[first:], marks[first + 1 :], strict=False):
            if before >= hi:
                break
            best = max(best, after - before)
        return best

    def failures(self, start: float, end: float) -> list[float]:
        """Times of the failed operations in ``[start, end)``."""
        return self.failed[bisect.bisect_left(self.failed, start) : bisect.bisect_left(self.failed, end)]

    def error_window(self, start: float, end: float) -> float:
        """Seconds from the first failure in ``[start, end)`` to the first success after the last one.

        0 when nothing failed in the span.
        """
        failures = self.failures(start, end)
        if not failures:
            return 0.0
        index = bisect.bisect_right(self.ok, failures[-1])
        recovered = self.ok[index] if index < len(self.ok) else failures[-1]
        return recovered - failures[0]


class _ReadBackError(Exception):
    """A writer's read-back failed (counted apart from the writes)."""


@dataclass
class Workload:
    """Clients writing (and reading back) rows of a distributed table through the coordinator.

    ``writers`` threads insert rows with ids of their own (thread ``k`` of ``n`` uses ``k+1``, ``k+1+n``,
    ...); an insert that failed is never retried with the same id, since its outcome is unknown.
    """

    coordinator: PatroniNode
    writers: int = 1
    acknowledged: set[int] = field(default_factory=set)
    acknowledged_at: dict[int, float] = field(default_factory=dict)
    """Id -> ``time.monotonic()`` when its insert was acknowledged."""
    logs: list[ClientLog] = field(default_factory=list)
    dbname: str = DATABASE
    """The Citus database the clients write to."""
    read_back: bool = True
    """Read a row back after every tenth insert (a read is not held by a switchover's pause: Citus runs it
    against the old primary, so it fails while that one shuts down); False: inserts only."""
    read_back_failures: collections.Counter[str] = field(default_factory=collections.Counter)
    """Error texts of the failed read-backs, counted (not as failed writes)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def failed_ops(self) -> int:
        """Failed operations of every writer."""
        return sum(len(log.failed) for log in self.logs)

    @property
    def ok_ops(self) -> int:
        """Successful operations of every writer."""
        return sum(len(log.ok) for log in self.logs)

    @property
    def longest_pause(self) -> float:
        """Longest gap between two successful operations of one writer, over the whole run."""
        return max((log.longest_gap() for log in self.logs), default=0.0)

    def prepare(self) -> None:
        """Create the distributed table."""
        query(
            self.coordinator,
            "CREATE TABLE IF NOT EXISTS e2e_dist (id bigint PRIMARY KEY, v text)",
            dbname=self.dbname,
        )
        query(self.coordinator, "SELECT create_distributed_table('e2e_dist', 'id')", dbname=self.dbname)

    def _run(self, log: ClientLog, first_id: int) -> None:
        next_id = first_id
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = connect(
                        self.coordinator, statement_timeout_ms=CLIENT_STATEMENT_TIMEOUT_MS, dbname=self.dbname
                    )
                conn.execute("INSERT INTO e2e_dist VALUES (%s, 'x')", (next_id,))
                self.acknowledged.add(next_id)
                self.acknowledged_at[next_id] = time.monotonic()
                log.ok.append(time.monotonic())
                if self.read_back and (next_id // self.writers) % 10 == 0:
                    self._read_back(conn, max(next_id - 5, 1))
                next_id += self.writers
            except _ReadBackError:
                next_id += self.writers
                close_quietly(conn)
                conn = None
            except Exception as exc:
                log.record_error(exc)
                next_id += self.writers  # the outcome of a failed insert is unknown: never reuse its id
                close_quietly(conn)
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        close_quietly(conn)

    def _read_back(self, conn: Any, ident: int) -> None:
        """Read a row back; a failure counts in :attr:`read_back_failures`, not as a failed write.

        A read is not held by the pause of a switchover: it fails while the old primary shuts down, as the
        :class:`ReadClient`'s reads do (the read-error window). The connection is then opened again.
        """
        try:
            conn.execute("SELECT count(*) FROM e2e_dist WHERE id = %s", (ident,))
        except Exception as exc:
            self.read_back_failures[_error_text(exc)] += 1
            raise _ReadBackError from exc

    def start(self) -> None:
        """Start the client threads."""
        for index in range(self.writers):
            log = ClientLog(f"writer-{index}")
            self.logs.append(log)
            thread = threading.Thread(
                target=self._run, args=(log, index + 1), name=f"citus-client-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop the client threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_STATEMENT_TIMEOUT_MS / 1000 + 10)

    def lost_writes(self) -> int:
        """Acknowledged ids missing from the table."""
        return len(self.missing_ids())

    def missing_ids(self) -> list[int]:
        """The acknowledged ids missing from the table, in order."""
        present = {
            int(row[0]) for row in query(self.coordinator, "SELECT id FROM e2e_dist", dbname=self.dbname)
        }
        return sorted(self.acknowledged - present)

    def errors(self) -> collections.Counter[str]:
        """Error texts of every writer, counted."""
        total: collections.Counter[str] = collections.Counter()
        for log in self.logs:
            total.update(log.errors)
        return total


@dataclass
class ReadClient:
    """A read-only client: one ``SELECT`` through the coordinator of a row on every worker group, in a loop.

    :meth:`prepare` inserts rows with negative ids (never written by :class:`Workload`), one on a shard of
    each worker group; a read that returns fewer rows than it should is counted in :attr:`wrong_results`.
    """

    coordinator: PatroniNode
    keys: dict[int, int] = field(default_factory=dict)
    """Worker group -> id of the row read on it."""
    log: ClientLog = field(default_factory=lambda: ClientLog("reader"))
    wrong_results: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def prepare(self) -> None:
        """Find an id on a shard of each worker group and insert that row (after :meth:`Workload.prepare`)."""
        for candidate in range(-1, -1000, -1):
            rows = query(
                self.coordinator,
                "SELECT groupid FROM pg_dist_placement "
                "WHERE shardid = get_shard_id_for_distribution_column('e2e_dist', %s::bigint)",
                candidate,
            )
            group = int(rows[0][0])
            if group not in self.keys:
                self.keys[group] = candidate
                query(self.coordinator, "INSERT INTO e2e_dist VALUES (%s, 'read')", candidate)
            if len(self.keys) == len(GROUPS) - 1:
                return
        raise LocalClusterError(f"no id found on every worker group: {self.keys}")

    def _run(self) -> None:
        ids = sorted(self.keys.values())
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = connect(self.coordinator, statement_timeout_ms=CLIENT_STATEMENT_TIMEOUT_MS)
                rows = conn.execute("SELECT id FROM e2e_dist WHERE id = ANY(%s)", (ids,)).fetchall()
                if len(rows) != len(ids):
                    self.wrong_results += 1
                self.log.ok.append(time.monotonic())
            except Exception as exc:
                self.log.record_error(exc)
                close_quietly(conn)
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        close_quietly(conn)

    def start(self) -> None:
        """Start the reader thread."""
        self.log.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="citus-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CLIENT_STATEMENT_TIMEOUT_MS / 1000 + 10)
