"""Helpers of the reliability suite (plain functions and classes; fixtures live in conftest.py)."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from patroni_mpp.testing.host import Cluster, LocalPostgresql, Member, cluster, member
from patroni_mpp.testing.polling import DEADLINE, wait_for
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus._handler import ENGINE_THREAD_PREFIXES
from patroni_mpp_citus.testing.emulation import wait_metadata_synced
from patroni_mpp_citus.testing.server import CitusTestServer

logger = logging.getLogger(__name__)

APP = "Patroni citus"
"""``application_name`` of the handler's metadata connection."""


def engine_threads() -> list[threading.Thread]:
    """Threads of the Citus engine that are alive."""
    return [t for t in threading.enumerate() if t.name.startswith(ENGINE_THREAD_PREFIXES) and t.is_alive()]


def no_engine_threads() -> bool:
    """True when no engine thread is left (waits a little for threads that are ending)."""
    return wait_for(lambda: not engine_threads(), timeout=10)


class LogRecorder(logging.Handler):
    """Keeps every record, and the full text it would print (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Store the record and its rendering."""
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        if record.stack_info:
            text += "\n" + record.stack_info
        with self._lock2:
            self.records.append(record)
            self.texts.append(text)

    def all_text(self) -> str:
        """Every record's text, one after the other."""
        with self._lock2:
            return "\n".join(self.texts)

    def messages(self, logger_prefix: str = "", level: int = logging.DEBUG) -> list[str]:
        """Messages of records from loggers starting with ``logger_prefix`` at ``level`` or above."""
        with self._lock2:
            return [
                r.getMessage()
                for r in self.records
                if r.name.startswith(logger_prefix) and r.levelno >= level
            ]


def exception_text(exc: BaseException) -> str:
    """An exception as a traceback would show it: its chain of causes and contexts included."""
    return "".join(traceback.format_exception(exc))


def metadata_synced(citus: CitusTestServer, timeout: float = 15.0) -> bool:
    """Wait until Citus has synced its metadata to every metadata node (real or emulated daemon).

    After an effective ``citus_update_node`` real Citus marks the metadata unsynced until its
    maintenance daemon has synced every metadata node, and refuses ``citus_add_node`` /
    ``citus_remove_node`` meanwhile; a primary row renamed to an address nothing listens on is never
    synced.
    """
    with citus.connect(application_name="reliability-probe") as conn:
        return wait_metadata_synced(conn, timeout)


def unsynced_nodes(citus: CitusTestServer) -> list[tuple[int, str, int]]:
    """``(groupid, nodename, nodeport)`` of the primary metadata nodes Citus has not synced."""
    with citus.connect(application_name="reliability-probe") as conn:
        rows = conn.execute(
            "SELECT groupid, nodename, nodeport FROM pg_catalog.pg_dist_node "
            "WHERE hasmetadata AND NOT metadatasynced AND isactive AND noderole = 'primary' "
            "ORDER BY nodeid"
        ).fetchall()
    return [(int(g), str(n), int(p)) for g, n, p in rows]


def assert_metadata_settles(citus: CitusTestServer) -> None:
    """Fail when the test left metadata that Citus does not sync.

    Called at the teardown of the tests that register nodes: a primary row left at an address
    nothing listens on would keep Citus refusing every later ``citus_add_node`` /
    ``citus_remove_node`` (SQLSTATE 55000). Real Citus's maintenance daemon syncs; so does the
    emulated one, which models the same rule with its registry of reachable addresses.
    """
    assert metadata_synced(citus), (
        f"the test left metadata that Citus does not sync: unsynced nodes {unsynced_nodes(citus)}"
    )


@contextmanager
def broken_function(citus: CitusTestServer, name: str) -> Iterator[None]:
    """Make ``pg_catalog.<name>`` raise ``injected failure of <name>``; restored when the block ends.

    Works on the emulation (a PL/pgSQL function) and on real Citus (a C function of the extension):
    the function is replaced, with the same signature, by a PL/pgSQL body that raises, and the
    original definition (``pg_get_functiondef``) is executed again afterwards.
    """
    with citus.connect(application_name="reliability-fault") as conn:
        rows = conn.execute(
            "SELECT pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_arguments(p.oid), "
            "pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p "
            "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
            (name,),
        ).fetchall()
        assert len(rows) == 1, f"expected one pg_catalog.{name}, found {len(rows)}"
        original, arguments, result = (str(value) for value in rows[0])
        if citus.is_real:
            # a function of the extension is not distributed, but never let Citus propagate this
            conn.execute("SET citus.enable_ddl_propagation TO off")
        conn.execute(
            f"CREATE OR REPLACE FUNCTION pg_catalog.{name}({arguments}) RETURNS {result} "
            f"LANGUAGE plpgsql AS $fault$ BEGIN RAISE EXCEPTION 'injected failure of {name}'; END $fault$"
        )
        try:
            yield
        finally:
            conn.execute(original)
            restored = conn.execute(
                "SELECT pg_catalog.pg_get_functiondef(p.oid) FROM pg_catalog.pg_proc p "
                "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
                (name,),
            ).fetchall()
            assert [str(row[0]) for row in restored] == [original], f"{name} was not restored"


def reset_citus(citus: CitusTestServer) -> None:
    """Empty the node metadata for the next test, on real Citus as on the emulation.

    :meth:`CitusTestServer.reset` removes the rows with ``citus_remove_node``, which real Citus
    refuses while a metadata node is out of sync: wait for the sync first. When a test left a primary
    row at an address nothing listens on (the sync never comes), the rows are deleted directly, so
    that one broken test does not break every later one (the test itself fails at its teardown, see
    the ``citus`` fixture).
    """
    if citus.is_real and not metadata_synced(citus):
        logger.warning("metadata never synced (%s): deleting the node rows directly", unsynced_nodes(citus))
        with citus.connect(application_name="citus-test-reset") as conn:
            conn.execute("DELETE FROM pg_catalog.pg_dist_node")
    citus.reset()


@dataclass
class Formation:
    """A coordinator handler on a real server and the DCS view it is shown.

    :ivar citus: the test server (the coordinator's PostgreSQL).
    :ivar postgresql: the host PostgreSQL object.
    :ivar handler: the handler (closed by :meth:`close`).
    :ivar workers: group id -> its DCS cluster.
    """

    citus: CitusTestServer
    postgresql: LocalPostgresql
    handler: CitusHandler
    workers: dict[int, Cluster] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def coordinator(self) -> Member:
        """The coordinator leader's member."""
        return member("coordinator", self.citus.host, self.citus.port, role="primary")

    def address(self, index: int) -> tuple[str, int]:
        """``(host, port)`` of node number ``index`` (1, 2, ...): a server real Citus can reach.

        Real Citus connects to a primary when it is added (and syncs metadata to it after an
        update), so every member that may become a primary must listen there; the emulation never
        connects (see :meth:`CitusTestServer.node_address`).
        """
        return self.citus.node_address(index)

    def node(self, index: int, name: str | None = None, **kwargs: Any) -> Member:
        """The DCS member ``n<index>`` (or ``name``) at :meth:`address` ``index``."""
        host, port = self.address(index)
        return member(name or f"n{index}", host, port, **kwargs)

    def view(self) -> Cluster:
        """The coordinator's DCS view (with ``workers``), a consistent snapshot."""
        with self.lock:
            return cluster(self.coordinator, workers=dict(self.workers))

    def set_group(self, groupid: int, leader: Member | None, *others: Member) -> None:
        """Replace the DCS view of worker group ``groupid``."""
        with self.lock:
            self.workers[groupid] = cluster(leader, *others)

    def sync(self) -> None:
        """One reconciliation."""
        self.handler.sync_meta_data(self.view())

    def event(self, kind: str, groupid: Any, leader: Any, timeout: Any = 30, cooldown: Any = 10) -> None:
        """Deliver an event as the REST API would (blocks for ``before_demote``)."""
        self.handler.handle_event(
            self.view(),
            {"type": kind, "group": groupid, "leader": leader, "timeout": timeout, "cooldown": cooldown},
        )

    def rows(self) -> set[tuple[int, str, int, str]]:
        """Committed ``(groupid, nodename, nodeport, noderole)`` of every row."""
        with self.citus.connect(application_name="reliability-read") as conn:
            return {
                (g, n, p, r)
                for g, n, p, r in conn.execute(
                    "SELECT groupid, nodename, nodeport, noderole::text FROM pg_catalog.pg_dist_node"
                ).fetchall()
            }

    def expected_rows(self) -> set[tuple[int, str, int, str]]:
        """The rows the DCS view asks for: every group's running primary and running replicas."""
        expected = {(0, self.citus.host, self.citus.port, "primary")}
        with self.lock:
            groups = dict(self.workers)
        for groupid, group in groups.items():
            leader = group.leader
            if leader is None or leader.data.get("role") not in ("primary", "master"):
                continue
            if leader.data.get("state") != "running":
                continue
            primary = _host_port(leader.conn_url)
            if primary is None:
                continue
            expected.add((groupid, *primary, "primary"))
            for other in group.members:
                if other.name == leader.name or not other.is_running or other.noloadbalance:
                    continue
                secondary = _host_port(other.conn_url)
                if secondary is not None and secondary != primary:
                    expected.add((groupid, *secondary, "secondary"))
        return expected

    def idle(self) -> bool:
        """True when the worker has nothing queued and nothing in flight."""
        state = self.handler.worker.state
        with state.cond:
            return not state.queue and state.in_flight is None

    def wait_idle(self, timeout: float = DEADLINE) -> bool:
        """Wait until the worker has nothing queued and nothing in flight."""
        return wait_for(self.idle, timeout)

    def converge(self, timeout: float = DEADLINE) -> bool:
        """Reconcile until ``pg_dist_node`` equals the DCS view (True), or give up."""

        def done() -> bool:
            self.sync()
            return self.wait_idle(5) and self.rows() == self.expected_rows()

        return wait_for(done, timeout, interval=0.2)

    def open_transactions(self) -> list[tuple[int, str]]:
        """``(pid, state)`` of the handler's sessions that have a transaction open."""
        with self.citus.connect(application_name="reliability-probe") as conn:
            rows = conn.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s "
                "AND xact_start IS NOT NULL",
                (APP,),
            ).fetchall()
        return [(int(pid), str(state)) for pid, state in rows]

    def backend_pids(self) -> list[int]:
        """Pids of the handler's metadata connections."""
        with self.citus.connect(application_name="reliability-probe") as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def terminate_backends(self) -> int:
        """``pg_terminate_backend`` every metadata connection of the handler; how many there were."""
        pids = self.backend_pids()
        with self.citus.connect(application_name="reliability-probe") as conn:
            for pid in pids:
                # ::int: with the citus extension a small int parameter is ambiguous between
                # pg_terminate_backend(int, bigint) and Citus's pg_terminate_backend(bigint, bigint)
                conn.execute("SELECT pg_catalog.pg_terminate_backend(%s::int)", (pid,))
        return len(pids)

    def close(self) -> None:
        """Stop the handler's thread and close every connection."""
        try:
            assert self.handler.close(DEADLINE), "the worker thread did not stop"
        finally:
            self.postgresql.close()


def _host_port(url: str | None) -> tuple[str, int] | None:
    from urllib.parse import urlparse

    try:
        parsed = urlparse(url or "")
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    return (host, port or 5432) if host and port != 0 else None


def make_formation(citus: CitusTestServer, *, password: str | None = None, group: int = 0) -> Formation:
    """A coordinator handler (promotion watch off: the tests drive every promotion themselves)."""
    postgresql = LocalPostgresql("coordinator", citus.host, citus.port, primary=True, password=password)
    handler = CitusHandler(postgresql, {"group": group, "database": citus.dbname}, watch_promotions=False)
    return Formation(citus, postgresql, handler)


@contextmanager
def formation_of(citus: CitusTestServer, **kwargs: Any) -> Iterator[Formation]:
    """A formation, closed (thread stopped, connections closed) when the block ends."""
    made = make_formation(citus, **kwargs)
    try:
        yield made
    finally:
        made.close()


def one_group(formation: Formation, groupid: int = 1, first: int = 1) -> tuple[Member, Member]:
    """Register group ``groupid``: node ``first`` primary, node ``first + 1`` secondary."""
    a = formation.node(first, role="primary")
    b = formation.node(first + 1)
    formation.set_group(groupid, a, b)
    assert formation.converge(), f"group {groupid} was not registered: {formation.rows()}"
    return a, b
