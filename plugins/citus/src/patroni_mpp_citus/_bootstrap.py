"""Preparing a cluster freshly created by initdb (not by a custom bootstrap), in every Citus database."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from patroni_mpp import PostgresqlLike

from ._errors import CitusBootstrapError
from ._topology import DEFAULT_PORT, redact_url

__all__ = ["BOOTSTRAP_OPTIONS", "DUPLICATE_DATABASE", "bootstrap"]

logger = logging.getLogger(__name__)

BOOTSTRAP_OPTIONS = "-c synchronous_commit=local -c statement_timeout=0"
"""Server options of the bootstrap connections (no synchronous replica exists yet)."""

DUPLICATE_DATABASE = "42P04"
"""SQLSTATE of ``CREATE DATABASE`` for a database that exists."""

AUTH_KEYS = ("password", "sslcert", "sslkey")
"""The only keys Citus accepts in ``pg_dist_authinfo.authinfo``."""

STORE_AUTHINFO = (
    "INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) "
    "VALUES (0, pg_catalog.current_user(), %s) "
    "ON CONFLICT (rolename, nodeid) DO UPDATE SET authinfo = excluded.authinfo"
)
SET_COORDINATOR = "SELECT pg_catalog.citus_set_coordinator_host(%s, %s, 'primary', 'default')"


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    if state is None:
        state = getattr(getattr(exc, "diag", None), "sqlstate", None)
    return state if isinstance(state, str) else None


def _connect(params: dict[str, Any], dbname: str) -> Any:
    import psycopg

    return psycopg.connect(autocommit=True, **{**params, "dbname": dbname})


def bootstrap(postgresql: PostgresqlLike, databases: str | Sequence[str], coordinator: bool) -> None:
    """Prepare the Citus databases of a cluster freshly created by initdb.

    In each database, in order: create it and the extension, store the superuser's credentials for
    node-to-node connections and, on the coordinator, register its own address. A failure in one database does
    not keep the others from being prepared; the failures are raised together afterwards.

    :param postgresql: the host's PostgreSQL object (its ``config`` exists at this point).
    :param databases: the Citus database, or several.
    :param coordinator: whether this node is the coordinator.
    :raises Exception: any failure (with several databases, a :class:`CitusBootstrapError` naming
        each database that failed); the host then aborts the cluster initialisation.
    """
    names = [databases] if isinstance(databases, str) else list(databases)
    failures: list[tuple[str, Exception]] = []
    for database in names:
        try:
            _bootstrap_database(postgresql, database, coordinator)
        except Exception as exc:
            if len(names) == 1:
                raise
            logger.error("Preparing Citus database %s failed: %s", database, exc)
            failures.append((database, exc))
    if failures:
        raise CitusBootstrapError(
            "preparing the Citus databases failed: "
            + "; ".join(f"{database}: {exc}" for database, exc in failures)
        ) from failures[0][1]


def _bootstrap_database(postgresql: PostgresqlLike, database: str, coordinator: bool) -> None:
    from psycopg import sql

    params = dict(postgresql.connection_pool.conn_kwargs)
    params["options"] = BOOTSTRAP_OPTIONS
    if database != postgresql.database:
        with _connect(params, postgresql.database) as conn:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except Exception as exc:
                if _sqlstate(exc) != DUPLICATE_DATABASE:
                    raise
                logger.debug("Exception when creating database %s: %s", database, exc)
    with _connect(params, database) as conn:
        logger.debug("Creating the citus extension in %s", database)
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        _store_credentials(conn, postgresql)
        if coordinator:
            url = postgresql.connection_string
            parsed = urlparse(url)
            if not parsed.hostname:
                raise CitusBootstrapError(f"no host in the connection string {redact_url(url)}")
            port = parsed.port or DEFAULT_PORT
            logger.debug("Registering the coordinator as %s:%s in %s", parsed.hostname, port, database)
            conn.execute(SET_COORDINATOR, (parsed.hostname, port))


def _store_credentials(conn: Any, postgresql: PostgresqlLike) -> None:
    superuser = postgresql.config.superuser
    auth = {key: superuser[key] for key in AUTH_KEYS if superuser.get(key)}
    if not auth:
        return
    dsn = postgresql.config.format_dsn(auth)
    logger.debug("Storing the superuser's %s in pg_dist_authinfo", ", ".join(auth))
    try:
        conn.execute(STORE_AUTHINFO, (dsn,))
    except Exception as exc:
        # The server's message may quote the failing row, credentials included.
        secrets = [dsn, *(str(value) for value in auth.values())]
        message = str(exc)
        for secret in secrets:
            if secret:
                message = message.replace(secret, "******")
        state = _sqlstate(exc)
        raise CitusBootstrapError(
            f"storing the superuser's credentials in pg_dist_authinfo failed"
            f"{f' (SQLSTATE {state})' if state else ''}: {message}"
        ) from None
