"""A Citus formation, a client workload through its coordinator, and a measured worker switchover/failover.

The scenario is measured from the client's side.

Used by the demo (``--citus``), the Citus end-to-end test and ``bench/e2e_citus.py``. Needs the ``citus``
extension in the PostgreSQL installation and the ``citus`` engine plugin (for the launcher) or Patroni's
built-in Citus support (plain ``patroni``); :func:`citus_unavailable_reason` says why it cannot run.

Two scenarios: :func:`run_scenario` (one planned switchover of worker group 1, one ``kill -9`` of the leader
of worker group 2; the end-to-end test) and :func:`run_measured` (several switchovers in alternating
directions and a failover with the killed node restarted, every event measured separately from the
clients' records and a ``pg_dist_node`` watch; the benchmark).
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import localcluster as lc

logger = logging.getLogger(__name__)

SCOPE = "citus"
DATABASE = "citus"
GROUPS = (0, 1, 2)
"""Coordinator group 0 and two worker groups."""
MEMBERS_PER_GROUP = 2
SYNC_ROLES = ("sync_standby", "quorum_standby")
"""Roles ``GET /cluster`` gives a replica that the primary waits for."""
CLIENT_STATEMENT_TIMEOUT_MS = 30_000
"""Longest a client statement may wait (a blocked write counts as failed after this)."""


def citus_unavailable_reason(pg_bin: Path | None = None, *, need_plugin: bool = True) -> str | None:
    """Why the Citus scenario cannot run here, or None when it can."""
    try:
        bin_dir = pg_bin or lc.find_pg_bin()
    except lc.LocalClusterError as exc:
        return str(exc)
    if not lc.pg_has_extension("citus", bin_dir):
        return (
            f"the PostgreSQL server in {bin_dir} has no citus extension (no citus.control); "
            "install the Citus packages for this PostgreSQL major version"
        )
    if need_plugin:
        names = {ep.name for ep in metadata.entry_points(group="patroni.mpp")}
        if "citus" not in names:
            return "the citus engine plugin (patroni-mpp-citus) is not installed"
    return None


def node_name(group: int, index: int) -> str:
    """Member name: ``g<group><letter>``."""
    return f"g{group}{'abc'[index]}"


def build(
    formation: lc.Formation, options: lc.NodeOptions, *, databases: Sequence[str] | None = None
) -> dict[int, list[lc.PatroniNode]]:
    """Add the nodes of a coordinator and two worker groups (not started).

    ``databases``: several Citus databases (``citus.databases``) instead of ``citus.database: citus``.
    """
    groups: dict[int, list[lc.PatroniNode]] = {}
    named: dict[str, Any] = {"database": DATABASE} if databases is None else {"databases": list(databases)}
    for group in GROUPS:
        nodes = []
        for index in range(MEMBERS_PER_GROUP):
            extra = lc.merge(
                {"citus": {"group": group, **named}},
                options.extra_config,
            )
            node_options = lc.NodeOptions(
                launcher=options.launcher, python=options.python, extra_config=extra, env=options.env,
                ttl=options.ttl, loop_wait=options.loop_wait, retry_timeout=options.retry_timeout,
            )  # fmt: skip
            nodes.append(formation.add(node_name(group, index), SCOPE, node_options))
        groups[group] = nodes
    return groups


def start(groups: dict[int, list[lc.PatroniNode]], timeout: float = 300) -> None:
    """Start the coordinator first, then the workers; wait for every group's leader and replica."""
    for group in GROUPS:
        groups[group][0].start()
    for group in GROUPS:
        lc.wait_leader(groups[group][:1], timeout=timeout)
    for group in GROUPS:
        for node in groups[group][1:]:
            node.start()
    for group in GROUPS:
        lc.wait_streaming(groups[group], MEMBERS_PER_GROUP - 1, timeout=timeout)


def stop(groups: dict[int, list[lc.PatroniNode]]) -> None:
    """Stop every node, fast: all replicas at once, then the coordinator's leader, then the workers' leaders.

    Replicas first, so that no stop causes a failover; the coordinator before the worker leaders, so that a
    stopping worker leader's ``before_demote`` call to it fails at once instead of waiting for a coordinator
    that is itself busy. The nodes of one step stop in parallel threads.
    """
    leaders = {group: lc.leader_of(nodes) for group, nodes in groups.items()}
    replicas = [n for group, nodes in groups.items() for n in nodes if n is not leaders[group]]
    coordinator = [leader for group, leader in leaders.items() if group == 0 and leader is not None]
    workers = [leader for group, leader in leaders.items() if group != 0 and leader is not None]

    def stop_one(node: lc.PatroniNode) -> None:
        try:
            node.stop()
        except Exception:
            logger.exception("Stopping node %s failed", node.name)

    for step in (replicas, coordinator, workers):
        threads = [threading.Thread(target=stop_one, args=(node,), name=f"stop-{node.name}") for node in step]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _connect(node: lc.PatroniNode, *, statement_timeout_ms: int | None = None, dbname: str = DATABASE) -> Any:
    import psycopg

    dsn = node.dsn(dbname)
    if statement_timeout_ms is not None:
        dsn += f" options='-c statement_timeout={statement_timeout_ms}'"
    return psycopg.connect(dsn, autocommit=True)


def query(node: lc.PatroniNode, sql: str, *params: Any, dbname: str = DATABASE) -> list[tuple[Any, ...]]:
    """Run one statement on ``node`` in the Citus database (or ``dbname``)."""
    with _connect(node, dbname=dbname) as conn:
        cur = conn.execute(sql, params or None)
        return list(cur.fetchall()) if cur.description else []


def dcs_primaries(etcd: lc.Etcd, groups: dict[int, list[lc.PatroniNode]]) -> dict[int, int]:
    """Worker group -> PostgreSQL port of the member holding that group's leader key."""
    keys = etcd.get_prefix(f"/service/{SCOPE}/")
    result: dict[int, int] = {}
    for group in GROUPS[1:]:
        leader = keys.get(f"/service/{SCOPE}/{group}/leader")
        for node in groups[group]:
            if node.name == leader:
                result[group] = node.pg_port
    return result


def dist_primaries(coordinator: lc.PatroniNode, dbname: str = DATABASE) -> dict[int, int]:
    """Worker group -> port of its primary row in ``pg_dist_node`` on the coordinator (in ``dbname``)."""
    rows = query(
        coordinator,
        "SELECT groupid, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0",
        dbname=dbname,
    )
    return {int(group): int(port) for group, port in rows}


def wait_metadata_matches(
    etcd: lc.Etcd,
    groups: dict[int, list[lc.PatroniNode]],
    timeout: float = 180,
    *,
    dbnames: Sequence[str] = (DATABASE,),
) -> float:
    """Wait until ``pg_dist_node`` names the DCS leader of every worker group; returns the seconds waited.

    ``dbnames``: the Citus databases whose ``pg_dist_node`` must all match.
    """
    started = time.monotonic()

    def matches() -> bool:
        coordinator = lc.leader_of(groups[0])
        if coordinator is None:
            return False
        want = dcs_primaries(etcd, groups)
        return len(want) == len(GROUPS) - 1 and all(dist_primaries(coordinator, d) == want for d in dbnames)

    lc.wait_for(matches, timeout=timeout, what="pg_dist_node to match the DCS leaders")
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------- clients


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

    coordinator: lc.PatroniNode
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
                    conn = _connect(
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

    coordinator: lc.PatroniNode
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
        raise lc.LocalClusterError(f"no id found on every worker group: {self.keys}")

    def _run(self) -> None:
        ids = sorted(self.keys.values())
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = _connect(self.coordinator, statement_timeout_ms=CLIENT_STATEMENT_TIMEOUT_MS)
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


# --------------------------------------------------------------------------------------------- metadata watch

DistRow = tuple[int, str, int, str]
"""A ``pg_dist_node`` row as watched: group id, node name, node port, node role."""


class MetadataMonitor:
    """Polls ``pg_dist_node`` on the coordinator; keeps each distinct state and when it was first seen."""

    def __init__(self, coordinator: lc.PatroniNode, interval: float = 0.025) -> None:
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
                    conn = _connect(self.coordinator, statement_timeout_ms=5000)
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


# --------------------------------------------------------------------------------------------- scenarios


def ctl_command(python: str, *, launcher: bool) -> list[str]:
    """``patroni-mpp ctl`` or plain ``patronictl`` run by ``python``."""
    if launcher:
        return [python, "-m", "patroni_mpp", "ctl"]
    return [python, "-c", "import sys; from patroni.ctl import ctl; sys.exit(ctl())"]


def ctl_switchover(
    config: Path,
    group: int,
    leader: str,
    candidate: str,
    *,
    python: str,
    launcher: bool,
    timeout: float = 180.0,
) -> None:
    """``ctl switchover --group GROUP --leader LEADER --candidate CANDIDATE --force`` through ``config``.

    :raises LocalClusterError: when the command fails.
    """
    switched = subprocess.run(
        [*ctl_command(python, launcher=launcher), "-c", str(config), "switchover", SCOPE,
         "--group", str(group), "--leader", leader, "--candidate", candidate, "--force"],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    if switched.returncode != 0:
        raise lc.LocalClusterError(f"switchover failed: {switched.stdout}{switched.stderr}")


def run_scenario(
    formation: lc.Formation, options: lc.NodeOptions, ctl_python: str, *, settle: float = 3.0
) -> dict[str, Any]:
    """Bring the formation up, run the workload through a planned worker switchover and a worker failover.

    :returns: the client-side figures: failed ops, longest pause, metadata convergence times, lost writes.
    """
    groups = build(formation, options)
    start(groups)
    etcd = formation.etcd
    wait_metadata_matches(etcd, groups)
    coordinator = lc.leader_of(groups[0])
    if coordinator is None:
        raise lc.LocalClusterError("no coordinator leader")
    workload = Workload(coordinator)
    workload.prepare()
    workload.start()
    figures: dict[str, Any] = {}
    try:
        time.sleep(settle)
        old = lc.leader_of(groups[1])
        assert old is not None
        candidate = next(n for n in groups[1] if n is not old)
        ctl_switchover(
            coordinator.config_path, 1, old.name, candidate.name, python=ctl_python, launcher=options.launcher
        )
        lc.wait_for(lambda: lc.leader_of(groups[1]) is candidate, timeout=180, what="new group 1 leader")
        figures["switchover_metadata_s"] = wait_metadata_matches(etcd, groups)
        time.sleep(settle)
        victim = lc.leader_of(groups[2])
        assert victim is not None
        killed_at = time.monotonic()
        victim.kill9()
        survivors = [n for n in groups[2] if n is not victim]
        lc.wait_leader(survivors, timeout=180)
        wait_metadata_matches(etcd, groups)
        figures["failover_metadata_s"] = time.monotonic() - killed_at
        time.sleep(settle)
    finally:
        workload.stop()
    figures.update(
        failed_ops=workload.failed_ops,
        ok_ops=workload.ok_ops,
        longest_pause_s=workload.longest_pause,
        lost_acknowledged_writes=workload.lost_writes(),
    )
    return figures


def wait_group_ready(nodes: list[lc.PatroniNode], *, sync: bool, timeout: float = 120) -> lc.PatroniNode:
    """Wait until the group of ``nodes`` has a leader and every other member streams; returns the leader.

    With ``sync``, every other member must also be a synchronous or quorum standby.
    """
    names = {node.name for node in nodes}

    def ready() -> lc.PatroniNode | None:
        view = lc.cluster_view(nodes)
        if view is None:
            return None
        members = [m for m in view.get("members", []) if m.get("name") in names]
        others = [m for m in members if m.get("role") not in ("leader", "primary", "master")]
        if len(members) != len(nodes) or len(others) != len(nodes) - 1:
            return None
        if any(m.get("state") != "streaming" or (sync and m.get("role") not in SYNC_ROLES) for m in others):
            return None
        return lc.leader_of(nodes)

    return lc.wait_for(ready, timeout=timeout, what="a leader and streaming replicas")


@dataclass
class Event:
    """One measured event of :func:`run_measured` (times in seconds from ``started``)."""

    kind: str
    """``switchover`` or ``failover``."""
    group: int
    old: str
    new: str
    old_port: int
    started: float
    """``time.monotonic()`` when the switchover command was started or the leader was killed."""
    ctl_s: float | None = None
    """Run time of the switchover command."""
    demote_s: float | None = None
    """When the old leader logged ``switchover: demoting myself`` (its log's clock; switchover only)."""
    metadata_s: float | None = None
    """Until ``pg_dist_node`` named the new leader as the group's primary (None: not within the wait)."""
    secondary_first_s: float | None = None
    """Until ``pg_dist_node`` first held the old leader as a secondary (None: never in the event)."""
    secondary_s: float | None = None
    """Since when ``pg_dist_node`` held the old leader as a secondary without a break until the event's end
    (None: not at the end of the event)."""
    restarted_s: float | None = None
    """When the killed node was started again (failover only)."""
    rejoined_s: float | None = None
    """Until the old leader streamed again as a replica (a quorum standby under synchronous replication)."""
    failed_writes: int = 0
    failed_reads: int = 0
    write_pause_s: float = 0.0
    """Longest gap between two successful writes of one writer thread overlapping the event."""
    read_error_window_s: float = 0.0
    """From the reader's first failure in the event to its first success after the last one."""

    def as_dict(self) -> dict[str, Any]:
        """The event as plain data."""
        return {k: v for k, v in self.__dict__.items() if k != "started"}

    @property
    def wall(self) -> float:
        """``time.time()`` of :attr:`started`."""
        return time.time() - (time.monotonic() - self.started)


SECONDARY_WAIT = 45.0
"""Longest wait, after the old leader streams again, for its ``secondary`` row."""


def _measured_switchover(
    groups: dict[int, list[lc.PatroniNode]], monitor: MetadataMonitor, config: Path, *, python: str,
    launcher: bool, sync: bool, settle: float, group: int = 1,
) -> Event:  # fmt: skip
    old = wait_group_ready(groups[group], sync=sync)
    new = next(n for n in groups[group] if n is not old)
    event = Event("switchover", group, old.name, new.name, old.pg_port, time.monotonic())
    ctl_switchover(config, group, old.name, new.name, python=python, launcher=launcher)
    event.ctl_s = time.monotonic() - event.started
    seen = monitor.wait_seen(primary_is(group, new.pg_port), event.started, 120)
    event.metadata_s = None if seen is None else seen - event.started
    wait_group_ready(groups[group], sync=sync)
    event.rejoined_s = time.monotonic() - event.started
    if monitor.wait_seen(secondary_is(group, old.pg_port), time.monotonic(), SECONDARY_WAIT) is None:
        logger.warning(
            "%s is no secondary row of group %d %.0f s after it streams", old.name, group, SECONDARY_WAIT
        )
    demoted = first_log_time(old.log_path, "switchover: demoting myself", after=event.wall - 1)
    event.demote_s = None if demoted is None else demoted - event.wall
    time.sleep(settle)
    return event


def first_log_time(log_path: Path, text: str, *, after: float) -> float | None:
    """``time.time()`` of the first Patroni log line at or after ``after`` that contains ``text``, or None.

    Patroni stamps its lines with the local time to the millisecond (``2026-01-01 00:00:00,123``).
    """
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if len(line) < 24 or line[19] != "," or text not in line:
            continue
        try:
            stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
        except ValueError:
            continue
        if stamp >= after:
            return stamp
    return None


def _measured_failover(
    groups: dict[int, list[lc.PatroniNode]], monitor: MetadataMonitor, *, sync: bool, settle: float,
    group: int = 2,
) -> Event:  # fmt: skip
    victim = wait_group_ready(groups[group], sync=sync)
    survivors = [n for n in groups[group] if n is not victim]
    event = Event("failover", group, victim.name, "", victim.pg_port, time.monotonic())
    patroni_pid, postmaster_pid = victim.kill9()
    logger.info("killed %s (Patroni pid %s, postmaster pid %s)", victim.name, patroni_pid, postmaster_pid)
    new = lc.wait_leader(survivors, timeout=180)
    event.new = new.name
    seen = monitor.wait_seen(primary_is(group, new.pg_port), event.started, 120)
    event.metadata_s = None if seen is None else seen - event.started
    time.sleep(settle)
    event.restarted_s = time.monotonic() - event.started
    victim.start()
    wait_group_ready(groups[group], sync=sync, timeout=180)
    event.rejoined_s = time.monotonic() - event.started
    if monitor.wait_seen(secondary_is(group, victim.pg_port), time.monotonic(), SECONDARY_WAIT) is None:
        logger.warning(
            "%s is no secondary row of group %d %.0f s after it streams", victim.name, group, SECONDARY_WAIT
        )
    time.sleep(settle)
    return event


def _attribute(
    events: list[Event], workload: Workload, reader: ReadClient, monitor: MetadataMonitor, ended: float
) -> None:
    """Give each event the figures of its window, from its start to the next event's start.

    The clients' failures and pauses, and when the old leader's ``secondary`` row appeared first and for good.
    """
    for index, event in enumerate(events):
        end = events[index + 1].started if index + 1 < len(events) else ended
        event.failed_writes = sum(len(log.failures(event.started, end)) for log in workload.logs)
        event.failed_reads = len(reader.log.failures(event.started, end))
        event.write_pause_s = max(log.longest_gap(event.started, end) for log in workload.logs)
        event.read_error_window_s = reader.log.error_window(event.started, end)
        predicate = secondary_is(event.group, event.old_port)
        first = monitor.first_seen(predicate, event.started)
        event.secondary_first_s = None if first is None or first >= end else first - event.started
        held = monitor.held_since(predicate, event.started, end)
        event.secondary_s = None if held is None else held - event.started


def _sync_mode(node: lc.PatroniNode) -> Any:
    code, body = node.api("config", timeout=3)
    return body.get("synchronous_mode", False) if code == 200 and isinstance(body, dict) else None


def run_measured(
    formation: lc.Formation,
    options: lc.NodeOptions,
    ctl_python: str,
    *,
    switchovers: int = 5,
    writers: int = 3,
    settle: float = 1.5,
) -> dict[str, Any]:
    """Bring the formation up and measure, under writers and a reader, worker switchovers and a failover.

    ``switchovers`` planned switchovers of worker group 1 (each in the other direction), then a ``kill -9`` of
    the leader of worker group 2 (Patroni and its postmaster) and, once ``pg_dist_node`` names the new leader,
    a restart of the killed node. Before each event the group must have a streaming replica (a synchronous or
    quorum standby when the group replicates synchronously); after it, ``settle`` seconds pass. The caller
    stops the formation (see :func:`stop`).

    :returns: ``events`` (the :class:`Event` figures as dicts), ``lost_acknowledged_writes``, the clients'
        totals and error texts, the synchronous mode each group ran with, the formation's start-up time.
    """
    t0 = time.monotonic()
    groups = build(formation, options)
    start(groups)
    wait_metadata_matches(formation.etcd, groups)
    coordinator = lc.leader_of(groups[0])
    if coordinator is None:
        raise lc.LocalClusterError("no coordinator leader")
    sync_modes = {group: _sync_mode(lc.leader_of(groups[group]) or groups[group][0]) for group in GROUPS}
    sync = any(mode not in (False, "off", None) for mode in sync_modes.values())
    citus = str(query(coordinator, "SELECT citus_version()")[0][0]).split()
    startup_s = time.monotonic() - t0
    logger.info("formation up in %.1f s (synchronous_mode per group: %s)", startup_s, sync_modes)
    monitor = MetadataMonitor(coordinator)
    monitor.start()
    workload = Workload(coordinator, writers=writers)
    workload.prepare()
    reader = ReadClient(coordinator)
    reader.prepare()
    for group in GROUPS[1:]:
        leader = wait_group_ready(groups[group], sync=sync)
        for node in groups[group]:
            if node is not leader and monitor.wait_seen(secondary_is(group, node.pg_port), t0, 60) is None:
                logger.warning("%s is not registered as a secondary of group %d", node.name, group)
    workload.start()
    reader.start()
    events: list[Event] = []
    try:
        time.sleep(settle)
        for index in range(switchovers):
            event = _measured_switchover(
                groups, monitor, coordinator.config_path, python=ctl_python, launcher=options.launcher,
                sync=sync, settle=settle,
            )  # fmt: skip
            events.append(event)
            logger.info("switchover %d/%d: %s", index + 1, switchovers, _summary(event))
        event = _measured_failover(groups, monitor, sync=sync, settle=settle)
        events.append(event)
        logger.info("failover: %s", _summary(event))
    finally:
        ended = time.monotonic()
        workload.stop()
        reader.stop()
    _attribute(events, workload, reader, monitor, ended)
    first = events[0].started if events else ended
    consistent = True
    try:
        wait_metadata_matches(formation.etcd, groups, timeout=60)
    except lc.LocalClusterError:
        consistent = False
    monitor.stop()
    missing = workload.missing_ids()
    return {
        "events": [event.as_dict() for event in events],
        "lost_acknowledged_writes": len(missing),
        "lost_ids": [_lost_detail(coordinator, i, workload.acknowledged_at[i], events) for i in missing[:20]],
        "acknowledged_writes": len(workload.acknowledged),
        "ok_writes": workload.ok_ops,
        "failed_writes": workload.failed_ops,
        "ok_reads": len(reader.log.ok),
        "failed_reads": len(reader.log.failed),
        "wrong_reads": reader.wrong_results,
        "failed_before_events": sum(len(log.failures(0, first)) for log in [*workload.logs, reader.log]),
        "write_errors": dict(workload.errors().most_common(8)),
        "failed_read_backs": sum(workload.read_back_failures.values()),
        "read_errors": dict(reader.log.errors.most_common(8)),
        "metadata_consistent_at_end": consistent,
        "metadata_poll_errors": monitor.poll_errors,
        "sync_modes": {str(group): mode for group, mode in sync_modes.items()},
        "startup_s": startup_s,
        "citus": citus[1] if len(citus) > 1 else " ".join(citus),
        "pg_dist_node_history": [[round(seen - t0, 3), sorted(state)] for seen, state in monitor.history],
        "event_starts": [round(event.started - t0, 3) for event in events],
    }


def _lost_detail(
    coordinator: lc.PatroniNode, ident: int, acked: float, events: list[Event]
) -> dict[str, Any]:
    """Where a lost write lived and when it was acknowledged, relative to the event before it."""
    rows = query(
        coordinator,
        "SELECT groupid FROM pg_dist_placement "
        "WHERE shardid = get_shard_id_for_distribution_column('e2e_dist', %s::bigint)",
        ident,
    )
    before = [event for event in events if event.started <= acked]
    after = [event for event in events if event.started > acked]
    return {
        "id": ident,
        "group": int(rows[0][0]) if rows else None,
        "acknowledged_s_after_previous_event": round(acked - before[-1].started, 3) if before else None,
        "acknowledged_s_before_next_event": round(after[0].started - acked, 3) if after else None,
        "previous_event": f"{before[-1].kind} {before[-1].old}->{before[-1].new}" if before else None,
        "next_event": f"{after[0].kind} {after[0].old}->{after[0].new}" if after else None,
    }


def _summary(event: Event) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}s"

    return (
        f"{event.old} -> {event.new}: pg_dist_node primary after {seconds(event.metadata_s)}, "
        f"old leader streaming again after {seconds(event.rejoined_s)}"
    )


def iter_patroni_problems(log_path: Path) -> Iterable[str]:
    """Patroni's own WARNING/ERROR/CRITICAL lines of a node log (not PostgreSQL's), without timestamps."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        # Patroni: "2026-01-01 00:00:00,123 WARNING: ..."; PostgreSQL: "2026-01-01 00:00:00.123 UTC [...]"
        if len(line) > 24 and line[19] == "," and line[24:].startswith(("WARNING:", "ERROR:", "CRITICAL:")):
            yield line[24:]
