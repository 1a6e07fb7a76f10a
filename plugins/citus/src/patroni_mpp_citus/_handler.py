"""The Citus handler: the facade Patroni calls (events, reconciliation, bootstrap, GUCs, slots)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from patroni_mpp import AbstractMPPHandler, ClusterLike, PostgresqlLike

from ._bootstrap import bootstrap
from ._config import parse_switch
from ._events import parse_event
from ._gucs import adjust_gucs
from ._identity import Citus
from ._model import AFTER_PROMOTE, BEFORE_DEMOTE, COORDINATOR_GROUP, Row, Task
from ._promotion import libpq_version, watch_params
from ._slots import is_citus_slot
from ._store import CONNECTION_NAME, CONNECTION_OPTIONS, MetadataStore
from ._topology import UrlProblems, build_task
from ._worker import MetadataWorker

__all__ = ["PRIMARY_ROLES", "CitusHandler"]

logger = logging.getLogger(__name__)

PRIMARY_ROLES = frozenset({"primary", "master"})
"""Member roles of a running primary (``master`` is what Patroni before 4.0 writes)."""


class CitusHandler(Citus, AbstractMPPHandler):
    """Keeps ``pg_dist_node`` in line with the DCS view of every group (on the coordinator's leader).

    Built once per Patroni process, before ``postgresql.config`` exists: the constructor only
    registers
    the ``citus`` connection (opened lazily by the worker thread). The worker thread starts with the
    first
    :meth:`sync_meta_data` on a coordinator; events that arrive earlier are ignored. Call
    :meth:`close`
    to stop it (tests; Patroni lets the daemon thread end with the process).

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
        connection = postgresql.connection_pool.get(
            CONNECTION_NAME, {"dbname": config["database"], "options": CONNECTION_OPTIONS}
        )
        watch = watch_promotions and parse_switch(config.get("watch_promotions", True))
        self._worker = MetadataWorker(MetadataStore(connection), self._watch_params if watch else None)
        self._url_problems = UrlProblems()
        self._libpq = libpq_version() if watch else 0
        self._warned_libpq = False

    # -- for tests and tools
    # ---------------------------------------------------------------------------

    @property
    def worker(self) -> MetadataWorker:
        """The metadata worker (its state, its statement counter)."""
        return self._worker

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the worker thread and close the ``citus`` connection.

        An open transaction is rolled back first.

        :param timeout: seconds to wait for the thread.
        :returns: True when no thread of this handler is left running.
        """
        return self._worker.stop(timeout)

    def __enter__(self) -> CitusHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- events
    # ----------------------------------------------------------------------------------------------

    def submit_event(self, cluster: ClusterLike, event: Any) -> Task | None:
        """Validate an event and queue the task it asks for, without waiting.

        :param cluster: a fresh DCS view with ``workers``.
        :param event: the request body as parsed from JSON.
        :returns: the queued task, or None when the event was ignored, discarded or changes nothing.
        :raises CitusEventError: when the event is malformed (checked before anything else).
        """
        parsed = parse_event(event)
        if not self._worker.started:
            logger.debug("Ignoring %s: no reconciliation ran yet", parsed.describe())
            return None
        workers: Mapping[int, Any] = cluster.workers
        worker_cluster = workers.get(parsed.group)
        leader = getattr(worker_cluster, "leader", None)
        if leader is None or leader.name != parsed.leader or not leader.conn_url:
            logger.info("Discarding event %s: it does not match the DCS view", parsed.describe())
            return None
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
        if task is None or not self._worker.submit(task):
            return None
        return task

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """React to a worker's event; a ``before_demote`` returns once its pause is applied.

        The caller of a ``before_demote`` waits until the worker thread processed the task (or a
        task that
        replaced it), at most the event's ``timeout``.

        :param cluster: a fresh DCS view with ``workers``.
        :param event: the request body as parsed from JSON.
        :raises CitusEventError: when the event is malformed.
        """
        task = self.submit_event(cluster, event)
        if task is None or task.event != BEFORE_DEMOTE:
            return
        if not task.wait(task.timeout):
            logger.warning(
                "%s of group %s not applied within %s s; answering anyway",
                task.event,
                task.groupid,
                task.timeout,
            )

    # -- reconciliation
    # --------------------------------------------------------------------------------------

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Queue the desired state of every group that has a running primary.

        That is the coordinator group and each worker group whose leader runs as a primary; states
        equal to the table's are dropped without SQL. An unusable member URL is logged once, when it
        appears, not at every call.

        :param cluster: the HA cycle's view, with ``workers``.
        """
        if not self.is_coordinator():
            return
        self._worker.start()
        postgresql = self.postgresql
        tasks: list[Task] = []
        own = build_task(
            AFTER_PROMOTE,
            COORDINATOR_GROUP,
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
            if not url or data.get("role") not in PRIMARY_ROLES or data.get("state") != "running":
                continue
            task = build_task(
                AFTER_PROMOTE, groupid, worker_cluster, leader.name, url, problems=self._url_problems
            )
            if task is not None:
                tasks.append(task)
        self._url_problems.end_cycle()
        self._worker.submit_many(tasks)

    def on_demote(self) -> None:
        """Forget cache, queue and open transaction before this coordinator stops for a demotion."""
        self._worker.discard_all()

    def schedule_cache_rebuild(self) -> None:
        """Re-read ``pg_dist_node`` before the cache is used again."""
        self._worker.schedule_reload()

    # -- node preparation
    # ----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the Citus database and extension, store credentials, register the coordinator.

        :raises Exception: any failure (the host aborts the initialisation).
        """
        bootstrap(self.postgresql, self.database, self.is_coordinator())

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Set the server parameters Citus needs, in place.

        :param parameters: the (case-insensitive) GUC dict.
        """
        adjust_gucs(parameters, self.postgresql.connection_pool.conn_kwargs.get("host"))

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """True for a shard move/split slot of the Citus database while this node is a primary.

        :param slot: the slot's attributes; one without ``name`` is not kept (no exception).
        """
        return is_citus_slot(slot, self.database, self.postgresql.is_primary)

    # -- helpers
    # ---------------------------------------------------------------------------------------------

    def _watch_params(self, row: Row) -> dict[str, Any]:
        local = self.postgresql.connection_pool.conn_kwargs
        params = watch_params(local, row.host, row.port, self.database, self._libpq)
        if not self._warned_libpq and local.get("password") and "password" not in params:
            self._warned_libpq = True
            logger.warning(
                "libpq %s cannot refuse cleartext or md5 authentication (require_auth needs libpq 16): "
                "the promotion watch connects without the superuser's password",
                self._libpq or "(unknown version)",
            )
        return params
