"""A formation: a coordinator handler on a Citus test server, and the DCS view it is shown.

Shared by the engine's tests and the reliability suite. The handler runs against the test server's
real ``pg_dist_node`` (real Citus or the emulation); the worker groups exist only as DCS views
whose members sit at addresses the server accepts (:meth:`CitusTestServer.node_address`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import psycopg
from patroni_mpp.testing.host import Cluster, LocalPostgresql, Member, cluster, member
from patroni_mpp.testing.polling import DEADLINE, wait_for

from .._handler import ENGINE_THREAD_PREFIXES, CitusHandler
from .._model import Task
from .server import CitusTestServer

APP = "Patroni citus"
"""``application_name`` of the handler's metadata connection."""

PROBE_APP = "citus-test-probe"
"""``application_name`` of the connections a formation reads the server with."""


def engine_threads() -> list[threading.Thread]:
    """Threads started by the engine that are still alive."""
    return [t for t in threading.enumerate() if t.name.startswith(ENGINE_THREAD_PREFIXES) and t.is_alive()]


def no_engine_threads() -> bool:
    """True when no engine thread is left (waits a little for threads that are ending)."""
    return wait_for(lambda: not engine_threads(), timeout=10)


def node(citus: CitusTestServer, index: int, name: str | None = None, **kwargs: Any) -> Member:
    """The DCS member ``node<index>`` (or ``name``) at an address of the test server Citus accepts."""
    host, port = citus.node_address(index)
    return member(name or f"node{index}", host, port, **kwargs)


def addr(citus: CitusTestServer, index: int) -> tuple[str, int]:
    """``(host, port)`` of node ``index``."""
    return citus.node_address(index)


def register(conn: psycopg.Connection[Any], host: str, port: int, groupid: int, role: str = "primary") -> int:
    """``citus_add_node`` as a test's own setup step; the new node id."""
    row = conn.execute(
        "SELECT pg_catalog.citus_add_node(%s, %s, %s, %s::pg_catalog.noderole, 'default')",
        (host, port, groupid, role),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _host_port(url: str | None) -> tuple[str, int] | None:
    try:
        parsed = urlparse(url or "")
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    return (host, port or 5432) if host and port != 0 else None


@dataclass
class Formation:
    """A coordinator handler on the Citus test server and the DCS view it is shown.

    :ivar citus: the test server (the coordinator's PostgreSQL).
    :ivar postgresql: the host PostgreSQL object handed to the handler.
    :ivar handler: the coordinator's handler (closed by :meth:`close`).
    :ivar workers: group id -> that group's DCS cluster.
    :ivar coordinator_members: other members of the coordinator group.
    :ivar lock: guards ``workers`` (views are taken from several threads).
    """

    citus: CitusTestServer
    postgresql: LocalPostgresql
    handler: CitusHandler
    workers: dict[int, Cluster] = field(default_factory=dict)
    coordinator_members: list[Member] = field(default_factory=list)
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
        return node(self.citus, index, name or f"n{index}", **kwargs)

    def view(self) -> Cluster:
        """The coordinator's DCS view (with ``workers``), a consistent snapshot."""
        with self.lock:
            return cluster(self.coordinator, *self.coordinator_members, workers=dict(self.workers))

    def set_group(self, groupid: int, leader: Member | None, *others: Member) -> None:
        """Replace the DCS view of worker group ``groupid``."""
        with self.lock:
            self.workers[groupid] = cluster(leader, *others)

    def sync(self) -> None:
        """One reconciliation (one HA cycle of the coordinator leader)."""
        self.handler.sync_meta_data(self.view())

    @staticmethod
    def _event(kind: str, groupid: Any, leader: Any, timeout: Any, cooldown: Any) -> dict[str, Any]:
        return {"type": kind, "group": groupid, "leader": leader, "timeout": timeout, "cooldown": cooldown}

    def event(self, kind: str, groupid: Any, leader: Any, timeout: Any = 30, cooldown: Any = 10) -> None:
        """Deliver an event as the REST API would (blocks for ``before_demote``)."""
        self.handler.handle_event(self.view(), self._event(kind, groupid, leader, timeout, cooldown))

    def submit(
        self, kind: str, groupid: int, leader: str, timeout: float = 30, cooldown: float = 10
    ) -> Task | None:
        """Queue an event's task without waiting for it."""
        return self.handler.submit_event(self.view(), self._event(kind, groupid, leader, timeout, cooldown))

    @contextmanager
    def event_in_thread(
        self, kind: str, groupid: int, leader: str, timeout: float = 30
    ) -> Iterator[threading.Thread]:
        """Deliver an event from a REST-like thread; the thread is joined when the block ends."""
        thread = threading.Thread(target=self.event, args=(kind, groupid, leader, timeout), name="test-rest")
        thread.start()
        try:
            yield thread
        finally:
            thread.join(DEADLINE)
            assert not thread.is_alive(), "the REST thread did not return"

    def rows(self, dbname: str = "citus") -> set[tuple[int, str, int, str]]:
        """Committed ``(groupid, nodename, nodeport, noderole)`` of every row (of ``dbname``)."""
        with self.citus.connect(dbname=dbname, application_name=PROBE_APP) as conn:
            return {
                (g, n, p, r)
                for g, n, p, r in conn.execute(
                    "SELECT groupid, nodename, nodeport, noderole::text FROM pg_catalog.pg_dist_node"
                ).fetchall()
            }

    def group_rows(self, groupid: int, dbname: str = "citus") -> set[tuple[str, int, str]]:
        """Committed ``(nodename, nodeport, noderole)`` of one group (in ``dbname``)."""
        return {(n, p, r) for g, n, p, r in self.rows(dbname) if g == groupid}

    def wait_rows(self, groupid: int, expected: set[tuple[str, int, str]], dbname: str = "citus") -> bool:
        """Wait until the committed rows of ``groupid`` (in ``dbname``) are ``expected``."""
        return wait_for(lambda: self.group_rows(groupid, dbname) == expected)

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
        """True when every database's worker has nothing queued and nothing in flight."""
        for worker in self.handler.workers.values():
            state = worker.state
            with state.cond:
                if state.queue or state.in_flight is not None:
                    return False
        return True

    def wait_idle(self, timeout: float = DEADLINE) -> bool:
        """Wait until every database's worker has nothing queued and nothing in flight."""
        return wait_for(self.idle, timeout)

    def converge(self, timeout: float = DEADLINE) -> bool:
        """Reconcile until ``pg_dist_node`` equals the DCS view (True), or give up."""

        def done() -> bool:
            self.sync()
            return self.wait_idle(5) and self.rows() == self.expected_rows()

        return wait_for(done, timeout, interval=0.2)

    def reload(self, section: Mapping[str, Any]) -> None:
        """Make the host hold ``section`` as its reloaded ``citus`` section (read at the next sync)."""
        reloaded = dict(section)

        def get(key: str, default: Any = None) -> Any:
            return reloaded if key == "citus" else default

        setattr(self.postgresql.config, "get", get)  # noqa: B010 - an instance attribute, as a host's

    def open_transactions(self) -> list[tuple[int, str]]:
        """``(pid, state)`` of the handler's sessions that have a transaction open."""
        with self.citus.connect(application_name=PROBE_APP) as conn:
            rows = conn.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s "
                "AND xact_start IS NOT NULL",
                (APP,),
            ).fetchall()
        return [(int(pid), str(state)) for pid, state in rows]

    def backend_pids(self) -> list[int]:
        """Pids of the handler's metadata connections."""
        with self.citus.connect(application_name=PROBE_APP) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def terminate_backends(self) -> int:
        """``pg_terminate_backend`` every metadata connection of the handler; how many there were."""
        pids = self.backend_pids()
        with self.citus.connect(application_name=PROBE_APP) as conn:
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


def make_formation(
    citus: CitusTestServer,
    *,
    group: int = 0,
    database: str | None = None,
    password: str | None = None,
    watch_promotions: bool = False,
    section: Mapping[str, Any] | None = None,
    databases: list[str] | None = None,
) -> Formation:
    """A coordinator (or worker, by ``group``) handler on the test server.

    The promotion watch is off by default: emulated nodes have addresses nothing listens on, and the
    tests drive every promotion themselves. ``database`` defaults to the server's; ``section`` adds
    keys to the ``citus`` section the handler is given; ``databases`` names several Citus databases
    instead of ``database``.
    """
    postgresql = LocalPostgresql("coordinator", citus.host, citus.port, primary=True, password=password)
    names: dict[str, Any] = (
        {"database": database or citus.dbname} if databases is None else {"databases": databases}
    )
    config = {"group": group, **names, **(section or {})}
    handler = CitusHandler(postgresql, config, watch_promotions=watch_promotions)
    return Formation(citus, postgresql, handler)


@contextmanager
def formation_of(citus: CitusTestServer, **kwargs: Any) -> Iterator[Formation]:
    """A formation (:func:`make_formation` arguments), closed when the block ends."""
    made = make_formation(citus, **kwargs)
    try:
        yield made
    finally:
        made.close()


def two_node_group(formation: Formation, groupid: int = 1, first: int = 1) -> tuple[Member, Member]:
    """Register group ``groupid`` (node ``first`` primary, ``first + 1`` secondary); wait for both rows."""
    citus = formation.citus
    a = formation.node(first, role="primary")
    b = formation.node(first + 1)
    formation.set_group(groupid, a, b)
    formation.sync()
    assert formation.wait_rows(
        groupid,
        {(*citus.node_address(first), "primary"), (*citus.node_address(first + 1), "secondary")},
    )
    assert formation.wait_idle()
    return a, b


def in_flight(formation: Formation) -> str | None:
    """The event of the coordinator's open transaction, if one is open."""
    state = formation.handler.worker.state
    with state.cond:
        return None if state.in_flight is None else state.in_flight.event


def nodeid(conn: psycopg.Connection[Any], host: str, port: int) -> int:
    """The ``pg_dist_node`` node id of ``host:port``."""
    row = conn.execute(
        "SELECT nodeid FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %s",
        (host, port),
    ).fetchone()
    assert row is not None
    return int(row[0])
