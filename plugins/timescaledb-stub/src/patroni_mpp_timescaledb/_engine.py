"""The TimescaleDB engine: its descriptor and handler.

TimescaleDB's multi-node mode (an access node with data nodes) was deprecated in 2.13 and removed
in 2.14, so a TimescaleDB cluster is one ordinary Patroni cluster: there is no membership for the
engine to keep in step with the DCS. What it does is what every node of such a cluster needs:
preload the library, and create the extension once, when the cluster is created by initdb.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar

from patroni_mpp import GROUP_RE, AbstractMPP, AbstractMPPHandler, MPPError
from pydantic import ValidationError

from ._config import COORDINATOR_GROUP_ID, TimescaleDBConfig

if TYPE_CHECKING:
    from patroni_mpp import ClusterLike, NamedConnectionLike

logger = logging.getLogger(__name__)

PRELOAD_GUC = "shared_preload_libraries"
"""The server parameter that must name the TimescaleDB library."""


class TimescaleDBNotInstalledError(MPPError):
    """The PostgreSQL server has no timescaledb extension available; bootstrap cannot create it."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a database name) for use in a statement.

    :param name: the identifier.
    :returns: ``name`` in double quotes, with embedded double quotes doubled.
    """
    return '"' + name.replace('"', '""') + '"'


def split_libraries(value: Any) -> list[str]:
    """The entries of a ``shared_preload_libraries`` value, without surrounding blanks or empties.

    :param value: the GUC value (None, a string, or anything the host stored there).
    """
    if value is None:
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


class TimescaleDB(AbstractMPP):
    """Descriptor of the TimescaleDB engine: a single group, the coordinator, unless configured."""

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        """Tell whether a raw section value can configure the engine (the host may ask directly).

        :param config: the section value, of any type.
        :returns: True exactly when :class:`TimescaleDBConfig` accepts it, as discovery does.
        """
        if not isinstance(config, dict):
            return False
        try:
            TimescaleDBConfig.model_validate(config)
        except ValidationError:
            return False
        return True

    @property
    def group(self) -> int:
        """The group id of this cluster (0 unless configured)."""
        return int(self.config.get("group", COORDINATOR_GROUP_ID))

    @property
    def coordinator_group_id(self) -> int:
        """The coordinator group id, 0."""
        return COORDINATOR_GROUP_ID


class TimescaleDBHandler(TimescaleDB, AbstractMPPHandler):
    """Handler of the TimescaleDB engine: preloads the library and creates the extension.

    It starts no thread and keeps no connection open: bootstrap opens two named connections of the
    host's pool and closes them when done.

    :cvar extension: the extension (and preloaded library) name.
    """

    extension: ClassVar[str] = "timescaledb"

    bootstrapped: tuple[str, str | None, datetime.datetime] | None = None
    """How this process's ``bootstrap`` ended (outcome, error type, when); None when it did not run."""

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """Ignore worker notifications.

        Deliberately nothing: without multi-node (removed in TimescaleDB 2.14) there are no worker
        groups whose leader changes a coordinator would have to record.
        """

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Nothing to reconcile.

        Deliberately nothing: there is no engine metadata describing other nodes (no data-node
        catalogue since multi-node was removed), so the DCS view has nothing to be synced into.
        """

    def on_demote(self) -> None:
        """Nothing to finish before a graceful demotion: the engine has no work in flight."""

    def schedule_cache_rebuild(self) -> None:
        """Nothing to forget: the engine caches nothing."""

    def bootstrap(self) -> None:
        """Create the extension in the configured database of a cluster freshly made by initdb.

        Checks first that the server offers the extension, so that a missing package fails before
        anything is created; then creates the database when it does not exist, and the extension
        in it. An exception aborts the cluster's initialisation, as the host intends.

        :raises TimescaleDBNotInstalledError: when the server has no timescaledb extension.
        :raises Exception: the host connection's errors, unchanged (for instance when the library is
            not preloaded).
        """
        try:
            self._create_extension()
        except Exception as exc:
            self.bootstrapped = ("failed", type(exc).__name__, datetime.datetime.now(datetime.UTC))
            raise
        self.bootstrapped = ("created", None, datetime.datetime.now(datetime.UTC))

    def status(self) -> dict[str, Any]:
        """What the ``mpp_status`` hook reports: the database, and how this process's bootstrap went.

        From memory: a status must not query the server. ``bootstrap`` is None when this process did not
        bootstrap the cluster.
        """
        outcome = self.bootstrapped
        bootstrap = (
            None if outcome is None else {"outcome": outcome[0], "error": outcome[1], "at": outcome[2]}
        )
        return {"database": self.config["database"], "extension": self.extension, "bootstrap": bootstrap}

    def _create_extension(self) -> None:
        database = str(self.config["database"])
        pool = self.postgresql.connection_pool
        # Statements here may outlast the host's default statement_timeout of a few seconds.
        options = {"options": "-c statement_timeout=0"}
        maintenance = pool.get("timescaledb_bootstrap", {**options, "dbname": self.postgresql.database})
        target: NamedConnectionLike | None = None
        try:
            self._require_extension(maintenance)
            if not maintenance.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", database):
                logger.info("Creating database %s for TimescaleDB", database)
                maintenance.query(f"CREATE DATABASE {quote_ident(database)}")
            target = (
                maintenance
                if database == self.postgresql.database
                else pool.get("timescaledb_bootstrap_db", {**options, "dbname": database})
            )
            target.query(f"CREATE EXTENSION IF NOT EXISTS {quote_ident(self.extension)}")
            logger.info("Created extension %s in database %s", self.extension, database)
        finally:
            maintenance.close()
            if target is not None and target is not maintenance:
                target.close()

    def _require_extension(self, connection: NamedConnectionLike) -> None:
        rows = connection.query(
            "SELECT current_setting('server_version'), "
            "EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = %s)",
            self.extension,
        )
        version, available = rows[0]
        if not available:
            raise TimescaleDBNotInstalledError(
                f"the {self.extension} extension is not installed on this PostgreSQL server "
                f"(version {version}): install the TimescaleDB package built for this PostgreSQL "
                "major version on every node, then initialise the cluster again"
            )

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Add the library to ``shared_preload_libraries``, keeping the other entries in order.

        Leaves the value untouched when the library is already listed, so calling it again changes
        nothing. Other parameters (``max_worker_processes``, ``timescaledb.*``) are the operator's.

        :param parameters: the host's GUC dict, changed in place.
        """
        libraries = split_libraries(parameters.get(PRELOAD_GUC))
        if any(entry.strip('"') == self.extension for entry in libraries):
            return
        parameters[PRELOAD_GUC] = ",".join([*libraries, self.extension])

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Never ask to keep a slot: TimescaleDB creates no replication slots of its own.

        :param slot: the slot's attributes (unused).
        :returns: False.
        """
        return False
