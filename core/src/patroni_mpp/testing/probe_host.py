"""A host PostgreSQL object in the state Patroni's is in when it builds an engine's handler.

Patroni builds the MPP handler inside the constructor of its PostgreSQL object, before the
configuration handler (``postgresql.config``) exists; the first ``adjust_postgres_gucs`` call comes
while that configuration handler is being built, before the local connection parameters are known
(``connection_pool.conn_kwargs`` is ``{}``), and PostgreSQL may not run at all. :class:`ProbePostgresql`
is that object: ``config`` raises :class:`NotBuiltYet` until :meth:`ProbePostgresql.resolve`, its
address is a free port of 127.0.0.1 on which nothing listens, and every statement sent through its
named connections is recorded (and fails, as with a server that is down).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .host import LocalConfig, NamedConnection
from .network import HOST, free_port

__all__ = ["NotBuiltYet", "ProbeConnectionPool", "ProbePostgresql", "Statement"]

NOT_BUILT_YET = (
    "postgresql.config does not exist yet: Patroni builds the MPP handler inside its PostgreSQL "
    "object's constructor, before the configuration handler, and calls adjust_postgres_gucs the "
    "first time while building that handler; read postgresql.config later (in bootstrap, "
    "sync_meta_data or your own thread), never in the constructor or adjust_postgres_gucs"
)


class NotBuiltYet(AttributeError):  # noqa: N818 - reads as what happened
    """``postgresql.config`` was read before the host built it (an :class:`AttributeError`, as in Patroni)."""


@dataclass(frozen=True)
class Statement:
    """One statement an engine sent through the probe host's connections.

    :ivar connection: the named connection's name.
    :ivar sql: the statement.
    :ivar thread: the thread that sent it.
    """

    connection: str
    sql: str
    thread: threading.Thread


class _ProbeConnection:
    """A named connection of the probe host: records each statement, then fails to connect."""

    def __init__(self, pool: ProbeConnectionPool, name: str, overrides: dict[str, Any]) -> None:
        self.name = name
        self._pool = pool
        self._overrides = overrides

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Record the statement and try the probe address, where nothing listens.

        :raises patroni_mpp.testing.host.ConnectionError_: always (the server is down).
        """
        self._pool.record(Statement(self.name, sql, threading.current_thread()))
        # the probe address last: an override naming another host is not followed
        connect = {**self._pool.conn_kwargs, **self._overrides, **self._pool.address}
        return NamedConnection(self.name, connect).query(sql, *params)

    def close(self) -> None:
        """Nothing is ever open."""


class ProbeConnectionPool:
    """The probe host's pool: registers named connections and records what they are asked to run."""

    def __init__(self, host: str, port: int) -> None:
        self.address: dict[str, Any] = {"host": host, "port": port, "connect_timeout": 1}
        """Where the probe's connections go: an address nothing listens on."""
        self._conn_kwargs: dict[str, Any] = {}
        self._connections: dict[str, _ProbeConnection] = {}
        self._lock = threading.Lock()
        self.statements: list[Statement] = []
        """Every statement sent, in order."""
        self.registered: list[str] = []
        """Names of the connections registered, in order (registering does not connect)."""

    @property
    def conn_kwargs(self) -> dict[str, Any]:
        """A copy of the local connection parameters: ``{}`` until the host resolved them."""
        return dict(self._conn_kwargs)

    def resolve(self, user: str, database: str) -> None:
        """Fill ``conn_kwargs``, as Patroni does once the configuration handler is built."""
        self._conn_kwargs = {**self.address, "user": user, "dbname": database}

    def get(self, name: str, kwargs_override: dict[str, Any] | None = None) -> _ProbeConnection:
        """Register ``name`` on first use and return its connection (nothing is opened)."""
        with self._lock:
            if name not in self._connections:
                self._connections[name] = _ProbeConnection(self, name, dict(kwargs_override or {}))
                self.registered.append(name)
            return self._connections[name]

    def record(self, statement: Statement) -> None:
        """Add one statement to :attr:`statements`."""
        with self._lock:
            self.statements.append(statement)


class ProbePostgresql:
    """The host PostgreSQL object as Patroni's is while it builds the handler (see the module).

    ``is_primary()`` answers ``primary`` without I/O: Patroni answers it from the state it read at
    the start of the HA cycle, which is when ``ignore_replication_slot`` runs.

    :param name: this member's name.
    :param database: the maintenance database.
    :param primary: what :meth:`is_primary` answers.
    """

    def __init__(
        self, name: str = "conformance-probe", *, database: str = "postgres", primary: bool = True
    ) -> None:
        self._name = name
        self._database = database
        self._port = free_port()
        self._pool = ProbeConnectionPool(HOST, self._port)
        self._config: LocalConfig | None = None
        self.primary = primary

    @property
    def name(self) -> str:
        """The name of this member."""
        return self._name

    @property
    def database(self) -> str:
        """The maintenance database."""
        return self._database

    @property
    def port(self) -> int:
        """The free port of 127.0.0.1 the probe's address names."""
        return self._port

    @property
    def connection_string(self) -> str:
        """``postgres://127.0.0.1:<free port>/<database>``: nothing listens there."""
        return f"postgres://{HOST}:{self._port}/{self._database}"

    @property
    def connection_pool(self) -> ProbeConnectionPool:
        """The recording pool."""
        return self._pool

    @property
    def config(self) -> LocalConfig:
        """The configuration handler, once :meth:`resolve` built it.

        :raises NotBuiltYet: before.
        """
        if self._config is None:
            raise NotBuiltYet(NOT_BUILT_YET)
        return self._config

    @property
    def statements(self) -> list[Statement]:
        """Every statement the engine sent through this host's connections."""
        return list(self._pool.statements)

    def resolve(self, user: str = "postgres") -> None:
        """Build the configuration handler and the local connection parameters, as Patroni does next."""
        self._config = LocalConfig({"username": user})
        self._pool.resolve(user, self._database)

    def describe(self) -> str:
        """The host's state in words, for messages."""
        if self._config is None:
            known = "postgresql.config does not exist yet, connection_pool.conn_kwargs is {}"
        else:
            known = "postgresql.config and connection_pool.conn_kwargs exist"
        return f"{known} and nothing listens at {self.connection_string}"

    def is_primary(self) -> bool:
        """The fixed answer given at construction (no I/O)."""
        return self.primary
