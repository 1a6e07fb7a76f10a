"""The parts of Patroni's objects that engines may rely on, as structural types.

Patroni's own ``Cluster``, ``Member``, ``Leader`` and ``Postgresql`` objects satisfy these
protocols; the small real implementations in :mod:`patroni_mpp.testing.host` do too. An engine
should touch nothing of a host object beyond what is declared here, so that it keeps working across
the supported Patroni versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class MemberLike(Protocol):
    """A member of one Patroni cluster (one PostgreSQL node), as read from the DCS."""

    @property
    def name(self) -> str:
        """The member's name, its DCS key."""

    @property
    def data(self) -> Mapping[str, Any]:
        """The member key's JSON content (``conn_url``, ``api_url``, ``state``, ``role``, ...)."""

    @property
    def conn_url(self) -> str | None:
        """``postgres://host:port/db`` URL of the member's PostgreSQL, or None when unknown."""

    @property
    def api_url(self) -> str | None:
        """Base URL of the member's REST API, or None."""

    @property
    def state(self) -> str:
        """The member's PostgreSQL state (``running``, ``stopped``, ...; ``unknown`` if absent)."""

    @property
    def is_running(self) -> bool:
        """True when :attr:`state` is ``running``."""

    @property
    def tags(self) -> Mapping[str, Any]:
        """The member's tags (``{}`` when it has none)."""

    @property
    def noloadbalance(self) -> bool:
        """True when the member carries a truthy ``noloadbalance`` tag."""


@runtime_checkable
class LeaderLike(Protocol):
    """The holder of a cluster's leader lock."""

    @property
    def name(self) -> str:
        """The leader member's name."""

    @property
    def conn_url(self) -> str | None:
        """The leader member's ``conn_url``."""

    @property
    def data(self) -> Mapping[str, Any]:
        """The leader member's data dict (``role``, ``state``, ...)."""

    @property
    def member(self) -> MemberLike:
        """The leader's member object."""


@runtime_checkable
class ClusterLike(Protocol):
    """One Patroni cluster (one MPP group) as read from the DCS.

    On an MPP coordinator the cluster also carries :attr:`workers`, the clusters of every worker group.
    """

    @property
    def leader(self) -> LeaderLike | None:
        """The leader, or None when no member holds the lock."""

    @property
    def members(self) -> list[Any]:
        """Every member of the cluster, leader included (each a :class:`MemberLike`)."""

    @property
    def workers(self) -> Mapping[int, Any]:
        """Worker group id -> that group's cluster; on the coordinator only, ``{}`` elsewhere."""

    @property
    def leader_name(self) -> str | None:
        """Name of the leader, or None."""


@runtime_checkable
class NamedConnectionLike(Protocol):
    """A connection registered by name in the host's pool; it opens lazily at its first query."""

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement in auto-commit mode and return its rows (``[]`` when there are none).

        :raises Exception: the host's connection exception when the connection broke (the connection
            is then closed), or the server's error unchanged.
        """

    def close(self) -> None:
        """Close the connection; the next :meth:`query` opens a new one."""


@runtime_checkable
class ConnectionPoolLike(Protocol):
    """The host's pool of named connections to the local PostgreSQL."""

    def get(self, name: str, kwargs_override: dict[str, Any] | None = None) -> NamedConnectionLike:
        """Register (once per name) and return a named connection; overrides fixed at first call."""

    @property
    def conn_kwargs(self) -> dict[str, Any]:
        """A copy of the local superuser connection parameters (``{}`` until they are known)."""


@runtime_checkable
class PostgresConfigLike(Protocol):
    """The host's PostgreSQL configuration handler (not built yet when the handler is created)."""

    @property
    def superuser(self) -> dict[str, Any]:
        """Superuser authentication settings (``username``, ``password``, ``sslcert``, ...)."""

    def format_dsn(self, params: dict[str, Any]) -> str:
        """Format connection parameters as a libpq ``key=value`` string."""


@runtime_checkable
class PostgresqlLike(Protocol):
    """The host's object for the local PostgreSQL server."""

    @property
    def name(self) -> str:
        """The name of this member."""

    @property
    def database(self) -> str:
        """The maintenance database (``postgres`` by default)."""

    @property
    def connection_string(self) -> str:
        """``postgres://host:port/db`` URL of this server, as published in ``conn_url``."""

    @property
    def connection_pool(self) -> ConnectionPoolLike:
        """The pool of named local connections."""

    @property
    def config(self) -> PostgresConfigLike:
        """The configuration handler. Do not use it in a handler's constructor (see the guide)."""

    def is_primary(self) -> bool:
        """True while this server runs as a primary (not in recovery)."""
