"""Small real host objects for engine tests: a cluster view and a PostgreSQL object with real connections.

They satisfy the protocols of :mod:`patroni_mpp._protocols` the way Patroni's own objects do, so a test
can hand an engine a DCS view built in a few lines and a :class:`LocalPostgresql` that talks to a real
server (psycopg 3, installed with the ``testing`` extra).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlunsplit

logger = logging.getLogger(__name__)

LIBPQ_KEYWORD_ORDER = (
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding",
    "connect_timeout", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "sslmode", "sslcompression", "sslcert", "sslkey",
    "sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "gssencmode",
    "target_session_attrs",
)  # fmt: skip
"""libpq's connection keywords in its documented order, the order :meth:`LocalConfig.format_dsn` uses."""


@dataclass(frozen=True)
class Member:
    """A cluster member as read from the DCS (satisfies :class:`patroni_mpp.MemberLike`)."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def conn_url(self) -> str | None:
        """The member's ``conn_url``."""
        value = self.data.get("conn_url")
        return str(value) if value else None

    @property
    def api_url(self) -> str | None:
        """The member's REST API URL."""
        value = self.data.get("api_url")
        return str(value) if value else None

    @property
    def state(self) -> str:
        """The PostgreSQL state the member reports, ``unknown`` when absent."""
        return str(self.data.get("state", "unknown"))

    @property
    def is_running(self) -> bool:
        """True when the state is ``running``."""
        return self.state == "running"

    @property
    def tags(self) -> Mapping[str, Any]:
        """The member's tags."""
        tags = self.data.get("tags")
        return tags if isinstance(tags, Mapping) else {}

    @property
    def noloadbalance(self) -> bool:
        """True when tagged ``noloadbalance``."""
        return bool(self.tags.get("noloadbalance"))


def member(
    name: str,
    host: str,
    port: int,
    *,
    role: str = "replica",
    state: str = "running",
    tags: Mapping[str, Any] | None = None,
    dbname: str = "postgres",
) -> Member:
    """Build a member whose ``conn_url`` points at ``host:port``.

    :param name: the member name.
    :param host: PostgreSQL host (IPv6 addresses without brackets).
    :param port: PostgreSQL port.
    :param role: the ``role`` of the member data (``primary``, ``replica``, ...).
    :param state: the ``state`` of the member data (``running``, ``stopped``, ...).
    :param tags: optional tags.
    :param dbname: database of the URL.
    """
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    data: dict[str, Any] = {
        "conn_url": urlunsplit(("postgres", netloc, f"/{dbname}", "", "")),
        "api_url": f"http://{netloc.rsplit(':', 1)[0]}:8008/patroni",
        "role": role,
        "state": state,
    }
    if tags:
        data["tags"] = dict(tags)
    return Member(name, data)


@dataclass(frozen=True)
class Leader:
    """The holder of a cluster's leader lock (satisfies :class:`patroni_mpp.LeaderLike`)."""

    member: Member

    @property
    def name(self) -> str:
        """The leader's member name."""
        return self.member.name

    @property
    def conn_url(self) -> str | None:
        """The leader's ``conn_url``."""
        return self.member.conn_url

    @property
    def data(self) -> Mapping[str, Any]:
        """The leader's member data."""
        return self.member.data


@dataclass(frozen=True)
class Cluster:
    """One group's DCS view (satisfies :class:`patroni_mpp.ClusterLike`)."""

    leader: Leader | None = None
    members: list[Any] = field(default_factory=list)
    workers: dict[int, Any] = field(default_factory=dict)

    @property
    def leader_name(self) -> str | None:
        """The leader's name, or None."""
        return self.leader.name if self.leader else None

    def __len__(self) -> int:
        return int(bool(self.leader or self.members))


def cluster(leader: Member | None, *others: Member, workers: Mapping[int, Cluster] | None = None) -> Cluster:
    """Build a cluster whose leader is ``leader`` and whose members are the leader plus ``others``."""
    members = ([leader] if leader else []) + list(others)
    return Cluster(Leader(leader) if leader else None, members, dict(workers or {}))


class ConnectionError_(Exception):  # noqa: N801, N818 - mirrors the host's PostgresConnectionException
    """Raised by :class:`NamedConnection` when the connection broke, like the host's exception."""


class NamedConnection:
    """A lazily opened auto-commit connection, as the host's named connections behave."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        """Keep the parameters; nothing is opened yet."""
        self.name = name
        self._params = params
        self._connection: Any = None
        self._lock = threading.Lock()

    @property
    def params(self) -> dict[str, Any]:
        """The parameters the connection opens with (a copy)."""
        return dict(self._params)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement (auto-commit) and return its rows, ``[]`` when it returns none.

        :raises ConnectionError_: when the connection broke (it is then closed).
        """
        import psycopg

        with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = psycopg.connect(autocommit=True, **self._params)
                with self._connection.cursor() as cursor:
                    cursor.execute(sql, params or None)
                    return list(cursor.fetchall()) if cursor.rowcount > 0 and cursor.description else []
            except psycopg.Error as exc:
                # As Patroni's named connection: a server error with its own SQLSTATE class (a
                # refusal, a cancelled statement) keeps the connection and is raised as it is; a
                # broken connection or an unclassified error closes it.
                usable = self._connection is not None and not self._connection.closed
                if usable and type(exc) not in (psycopg.DatabaseError, psycopg.OperationalError):
                    raise
                self._close_locked()
                raise ConnectionError_(f"connection problem: {type(exc).__name__}") from exc

    def _close_locked(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        """Close the connection; the next query opens a new one."""
        with self._lock:
            self._close_locked()


class ConnectionPool:
    """Named connections to one server, registered once per name (satisfies ``ConnectionPoolLike``)."""

    def __init__(self, conn_kwargs: dict[str, Any]) -> None:
        """:param conn_kwargs: the local superuser connection parameters."""
        self._conn_kwargs = dict(conn_kwargs)
        self._connections: dict[str, NamedConnection] = {}
        self._lock = threading.Lock()

    @property
    def conn_kwargs(self) -> dict[str, Any]:
        """A copy of the local superuser connection parameters."""
        return dict(self._conn_kwargs)

    def get(self, name: str, kwargs_override: dict[str, Any] | None = None) -> NamedConnection:
        """Register ``name`` on first use (overrides fixed then) and return its connection."""
        with self._lock:
            if name not in self._connections:
                params = {**self._conn_kwargs, **(kwargs_override or {})}
                params["application_name"] = f"Patroni {name}"
                self._connections[name] = NamedConnection(name, params)
            return self._connections[name]

    def close(self) -> None:
        """Close every named connection."""
        with self._lock:
            for connection in self._connections.values():
                connection.close()


def _escape_dsn_value(value: Any) -> str:
    return "".join("\\" + ch if ch in "'\\ " else ch for ch in str(value))


@dataclass
class LocalConfig:
    """The configuration-handler surface engines use (satisfies ``PostgresConfigLike``)."""

    superuser: dict[str, Any] = field(default_factory=dict)

    def format_dsn(self, params: dict[str, Any]) -> str:
        r"""``key=value`` pairs in libpq order, None skipped, ``'``, ``\\`` and spaces escaped."""
        return " ".join(
            f"{key}={_escape_dsn_value(params[key])}"
            for key in LIBPQ_KEYWORD_ORDER
            if params.get(key) is not None
        )


class LocalPostgresql:
    """A host PostgreSQL object for one real server (satisfies :class:`patroni_mpp.PostgresqlLike`).

    :param name: this member's name.
    :param host: address the server listens on (``127.0.0.1`` in tests).
    :param port: its port.
    :param user: superuser name.
    :param password: superuser password, or None.
    :param database: the maintenance database.
    :param primary: what :meth:`is_primary` answers; None asks the server.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        user: str = "postgres",
        password: str | None = None,
        database: str = "postgres",
        primary: bool | None = None,
    ) -> None:
        self._name = name
        self._database = database
        self._host = host
        self._port = port
        conn_kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "dbname": database,
            "connect_timeout": 3,
            "options": "-c statement_timeout=2000",
            "fallback_application_name": "Patroni",
        }
        superuser: dict[str, Any] = {"username": user}
        if password is not None:
            conn_kwargs["password"] = password
            superuser["password"] = password
        self._pool = ConnectionPool(conn_kwargs)
        self._config = LocalConfig(superuser)
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
    def connection_string(self) -> str:
        """``postgres://host:port/database``, as Patroni publishes it."""
        netloc = f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"
        return f"postgres://{netloc}/{self._database}"

    @property
    def connection_pool(self) -> ConnectionPool:
        """The pool of named connections."""
        return self._pool

    @property
    def config(self) -> LocalConfig:
        """The configuration-handler surface."""
        return self._config

    def is_primary(self) -> bool:
        """The fixed answer given at construction, or ``not pg_is_in_recovery()`` from the server."""
        if self.primary is not None:
            return self.primary
        rows = self._pool.get("is_primary").query("SELECT pg_catalog.pg_is_in_recovery()")
        return not rows[0][0]

    def close(self) -> None:
        """Close every connection this object opened."""
        self._pool.close()
