"""The Citus handler: the facade Patroni calls (events, reconciliation, bootstrap, GUCs, slots)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from patroni_mpp import AbstractMPPHandler, ClusterLike, PostgresqlLike

from ._bootstrap import bootstrap
from ._config import CitusConfig, parse_switch
from ._databases import DatabaseWorkers
from ._events import parse_event
from ._gucs import adjust_gucs
from ._identity import SECTION, Citus
from ._metrics import CitusMetrics
from ._model import AFTER_PROMOTE, BEFORE_DEMOTE, COORDINATOR_GROUP_ID, Group, Row, Task
from ._promotion import PROMOTION_THREAD_PREFIX, libpq_version, watch_params
from ._slots import is_citus_slot
from ._status import differing_row_counts, handler_status
from ._store import CONNECTION_NAME, CONNECTION_OPTIONS, MetadataStore
from ._topology import UrlProblems, build_task
from ._worker import METADATA_THREAD_NAME, MetadataWorker

__all__ = ["ENGINE_THREAD_PREFIXES", "PRIMARY_MEMBER_ROLES", "CitusHandler"]


def _clone(task: Task) -> Task:
    """The same desired state as a task of its own (each database's worker changes its task)."""
    return Task(task.group.copy(), task.event, task.timeout, task.cooldown)


logger = logging.getLogger(__name__)

PRIMARY_MEMBER_ROLES = frozenset({"primary", "master"})
"""Member roles (in the DCS) of a running primary (``master`` is what Patroni before 4.0 writes)."""

ENGINE_THREAD_PREFIXES = (METADATA_THREAD_NAME, PROMOTION_THREAD_PREFIX)
"""Name prefixes of every thread the engine starts (tests check that none is left running)."""


class CitusHandler(Citus, AbstractMPPHandler):
    """Keeps ``pg_dist_node`` in line with the DCS view of every group (on the coordinator's leader).

    Built once per Patroni process, before ``postgresql.config`` exists: the constructor only registers the
    ``citus`` connection (opened lazily by the worker thread). The worker thread starts with the first
    :meth:`sync_meta_data` on a coordinator; events that arrive earlier are ignored. Call :meth:`close` to
    stop it (tests; Patroni lets the daemon thread end with the process).

    Every Citus database of the section (``database``, or each of ``databases``) gets a metadata
    worker of its own (see :mod:`patroni_mpp_citus._databases`): events and reconciliations are
    queued to all of them, and they run in parallel. The set of databases follows the section as
    the host holds it after a reload (``postgresql.config.get("citus")``), read at each
    :meth:`sync_meta_data`.

    :param postgresql: the host's PostgreSQL object.
    :param config: the validated ``citus`` section; its ``watch_promotions`` (default true) switches
        the promotion watch.
    :param watch_promotions: False switches the promotion watch off whatever the section says (tests
        whose nodes are fake addresses).
    """

    def __init__(
        self, postgresql: PostgresqlLike, config: dict[str, Any], *, watch_promotions: bool = True
    ) -> None:
        super().__init__(postgresql, config)
        self._watch = watch_promotions and parse_switch(config.get("watch_promotions", True))
        self._first_database = self.database
        self._seen_section: Any = None
        self._warned_section: str | None = None
        self._url_problems = UrlProblems()
        self._libpq = libpq_version() if self._watch else 0
        self._warned_libpq = False
        self.dcs_view: dict[int, Group] = {}
        """Group id -> its desired state in the last reconciliation's DCS view (groups whose primary ran)."""
        self.metrics = CitusMetrics(lambda: differing_row_counts(self.workers, self.dcs_view))
        """The engine's metric families (the ``mpp_metrics`` hook collects them)."""
        self._databases = DatabaseWorkers(self._new_worker, self.databases)

    def _new_worker(self, database: str) -> MetadataWorker:
        # The first database keeps the connection name Patroni gives it; the others are told apart.
        name = CONNECTION_NAME if database == self._first_database else f"{CONNECTION_NAME}:{database}"
        connection = self.postgresql.connection_pool.get(
            name, {"dbname": database, "options": CONNECTION_OPTIONS}
        )
        label = None if len(self.databases) == 1 and database == self._first_database else database
        watch = None
        if self._watch:

            def watch(row: Row) -> dict[str, Any]:
                return self._watch_params(row, database)

        store = MetadataStore(connection, label)
        worker = MetadataWorker(store, watch)
        worker.state.record.bind(self.metrics, database, lambda: store.statements)
        return worker

    # -- for tests and tools -----------------------------------------------------------------------

    @property
    def worker(self) -> MetadataWorker:
        """The metadata worker of the first Citus database (its state, its statement counter)."""
        return self._databases.first()

    @property
    def workers(self) -> dict[str, MetadataWorker]:
        """Database -> its metadata worker, for every Citus database managed now."""
        return dict(self._databases.items())

    @property
    def managed_databases(self) -> tuple[str, ...]:
        """The Citus databases managed now (the section's, as last reloaded)."""
        return self._databases.names

    def status(self) -> dict[str, Any]:
        """What the engine does on this node, from memory (no SQL): the ``mpp_status`` answer.

        See :func:`patroni_mpp_citus._status.handler_status` for its keys.
        """
        return handler_status(self.group, self.is_coordinator(), self.workers, self.dcs_view)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop every worker thread and close the ``citus`` connections.

        Open transactions are rolled back first.

        :param timeout: seconds to wait for each thread.
        :returns: True when no thread of this handler is left running.
        """
        return self._databases.stop(timeout)

    def __enter__(self) -> CitusHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- events ------------------------------------------------------------------------------------

    def submit_event(self, cluster: ClusterLike, event: Any) -> Task | None:
        """Validate an event and queue the task it asks for, without waiting.

        :param cluster: a fresh DCS view with ``workers``.
        :param event: the request body as parsed from JSON.
        :returns: the task queued for the first Citus database, or None when the event was ignored,
            discarded or changes nothing there (see :meth:`submit_event_all` for every database).
        :raises CitusEventError: when the event is malformed (checked before anything else).
        """
        tasks = self.submit_event_all(cluster, event)
        first = self._databases.names[:1]
        return tasks.get(first[0]) if first else None

    def submit_event_all(self, cluster: ClusterLike, event: Any) -> dict[str, Task]:
        """Validate an event and queue its task in every Citus database, without waiting.

        :param cluster: a fresh DCS view with ``workers``.
        :param event: the request body as parsed from JSON.
        :returns: database -> the task queued there (databases where it changes nothing are left
            out; empty when the event was ignored or discarded).
        :raises CitusEventError: when the event is malformed (checked before anything else).
        """
        parsed = parse_event(event)
        if not self._databases.started:
            logger.debug("Ignoring %s: no reconciliation ran yet", parsed.describe())
            self._count_event(parsed.type, "ignored")
            return {}
        workers: Mapping[int, Any] = cluster.workers
        worker_cluster = workers.get(parsed.group)
        leader = getattr(worker_cluster, "leader", None)
        if leader is None or leader.name != parsed.leader or not leader.conn_url:
            logger.info("Discarding event %s: it does not match the DCS view", parsed.describe())
            self._count_event(parsed.type, "discarded")
            return {}
        task = build_task(
            parsed.type,
            parsed.group,
            worker_cluster,
            leader.name,
            leader.conn_url,
            timeout=float(parsed.timeout),
            cooldown=parsed.cooldown_ms,
            problems=self._url_problems,
        )
        if task is None:
            self._count_event(parsed.type, "discarded")
            return {}
        queued: dict[str, Task] = {}
        for index, (database, worker) in enumerate(self._databases.items()):
            mine = task if index == 0 else _clone(task)
            if worker.submit(mine):
                queued[database] = mine
        return queued

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """React to a worker's event; a ``before_demote`` returns once its pause is applied.

        The caller of a ``before_demote`` waits until the worker thread processed the task (or a task that
        replaced it), at most the event's ``timeout``.

        :param cluster: a fresh DCS view with ``workers``.
        :param event: the request body as parsed from JSON.
        :raises CitusEventError: when the event is malformed.
        """
        tasks = self.submit_event_all(cluster, event)
        pauses = [task for task in tasks.values() if task.event == BEFORE_DEMOTE]
        if not pauses:
            return
        # the databases' workers run in parallel: one deadline for all of them
        timeout = pauses[0].timeout or 0.0
        deadline = time.monotonic() + timeout
        late = [task for task in pauses if not task.wait(max(0.0, deadline - time.monotonic()))]
        if late:
            logger.warning(
                "%s of group %s not applied within %s s in %d of %d Citus databases; answering anyway",
                pauses[0].event,
                pauses[0].groupid,
                timeout,
                len(late),
                len(pauses),
            )

    # -- reconciliation ----------------------------------------------------------------------------

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Queue the desired state of every group that has a running primary.

        That is the coordinator group and each worker group whose leader runs as a primary; states
        equal to the table's are dropped without SQL. An unusable member URL is logged once, when it
        appears, not at every call.

        :param cluster: the HA cycle's view, with ``workers``.
        """
        if not self.is_coordinator():
            return
        self._follow_reloaded_section()
        self._databases.start()
        postgresql = self.postgresql
        tasks: list[Task] = []
        own = build_task(
            AFTER_PROMOTE,
            COORDINATOR_GROUP_ID,
            cluster,
            postgresql.name,
            postgresql.connection_string,
            problems=self._url_problems,
        )
        if own is not None:
            tasks.append(own)
        for groupid, worker_cluster in cluster.workers.items():
            leader = worker_cluster.leader
            if leader is None:
                continue
            url = leader.conn_url
            data = leader.data
            if not url or data.get("role") not in PRIMARY_MEMBER_ROLES or data.get("state") != "running":
                continue
            task = build_task(
                AFTER_PROMOTE, groupid, worker_cluster, leader.name, url, problems=self._url_problems
            )
            if task is not None:
                tasks.append(task)
        self._url_problems.end_cycle()
        self.dcs_view = {task.groupid: task.group.copy() for task in tasks}
        for index, worker in enumerate(self._databases.workers()):
            worker.submit_many(tasks if index == 0 else [_clone(task) for task in tasks])

    def on_demote(self) -> None:
        """Forget caches, queues and open transactions before this coordinator stops for a demotion."""
        for worker in self._databases.workers():
            worker.discard_all()

    def schedule_cache_rebuild(self) -> None:
        """Re-read ``pg_dist_node`` (in every Citus database) before the cache is used again."""
        for worker in self._databases.workers():
            worker.schedule_reload()

    def _follow_reloaded_section(self) -> None:
        """Take up a changed set of Citus databases from the section the host holds after a reload.

        Patroni keeps a copy of the section in its ``postgresql`` section, which a reload replaces;
        the handler itself is never rebuilt. Only ``database``/``databases`` are taken up; an
        invalid section, or one that changes ``group``, keeps the current databases (logged once).
        """
        getter = getattr(getattr(self.postgresql, "config", None), "get", None)
        if not callable(getter):
            return
        try:
            section = getter(SECTION)
        except Exception as exc:
            logger.debug("Cannot read the reloaded citus section: %s", exc)
            return
        if section is None or section == self._seen_section:
            return
        self._seen_section = section
        try:
            config = CitusConfig.model_validate(section)
        except Exception as exc:
            self._warn_section(f"it is invalid ({str(exc).splitlines()[0]})")
            return
        if config.group != self.group:
            self._warn_section(f"it changes group from {self.group} to {config.group}, which needs a restart")
            return
        self._warned_section = None
        added, removed = self._databases.update(config.names)
        if added or removed:
            logger.info(
                "Citus databases reloaded: now %s (added: %s; removed, left alone from now on: %s)",
                ", ".join(config.names),
                ", ".join(added) or "none",
                ", ".join(removed) or "none",
            )

    def _warn_section(self, why: str) -> None:
        if self._warned_section != why:
            self._warned_section = why
            logger.warning(
                "Keeping the Citus databases %s: the reloaded citus section is not taken up: %s",
                ", ".join(self._databases.names),
                why,
            )

    # -- node preparation --------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the Citus database and extension, store credentials, register the coordinator.

        :raises Exception: any failure (the host aborts the initialisation).
        """
        bootstrap(self.postgresql, self.databases, self.is_coordinator())

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Set the server parameters Citus needs, in place.

        :param parameters: the (case-insensitive) GUC dict.
        """
        adjust_gucs(parameters, self.postgresql.connection_pool.conn_kwargs.get("host"))

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """True for a shard move/split slot of a Citus database while this node is a primary.

        :param slot: the slot's attributes; one without ``name`` is not kept (no exception).
        """
        database = slot.get("database")
        if not isinstance(database, str) or database not in self._databases.names:
            return False
        return is_citus_slot(slot, database, self.postgresql.is_primary)

    # -- helpers -----------------------------------------------------------------------------------

    def _count_event(self, event: str, outcome: str) -> None:
        """Count an event that reached no worker (in every database: none of them got it)."""
        for database in self._databases.names:
            self.metrics.events.labels(database, event, outcome).inc()

    def _watch_params(self, row: Row, database: str) -> dict[str, Any]:
        local = self.postgresql.connection_pool.conn_kwargs
        params = watch_params(local, row.host, row.port, database, self._libpq)
        if not self._warned_libpq and local.get("password") and "password" not in params:
            self._warned_libpq = True
            logger.warning(
                "libpq %s cannot refuse cleartext or md5 authentication (require_auth needs libpq 16): "
                "the promotion watch connects without the superuser's password",
                self._libpq or "(unknown version)",
            )
        return params
