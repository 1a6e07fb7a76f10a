"""Test-only SQL emulation of the Citus node-metadata API, and helpers that also work on real Citus.

The citus extension is not installable everywhere the tests run. This subpackage ships
``citus_emulation.sql``: ``pg_catalog.pg_dist_node``, ``pg_catalog.pg_dist_authinfo``, the
``noderole`` enum and the functions ``citus_add_node``, ``citus_update_node``,
``citus_remove_node`` and ``citus_set_coordinator_host``, written from Citus 13.2's documented
behaviour (see README.md here).
It is installed into a real (test) PostgreSQL server with :func:`install_emulation`.

The helpers take a psycopg connection to the Citus database and work on both an emulated and a
real Citus server where that makes sense (:func:`client_write`, :func:`client_read`,
:func:`reset_metadata`, :func:`wait_metadata_synced`); the rest is emulation-only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

__all__ = [
    "LOCK_NAMESPACE",
    "PROBE_TABLE",
    "SQL_RESOURCE",
    "CallLogEntry",
    "EmulationError",
    "call_count",
    "call_log",
    "citus_available",
    "client_read",
    "client_write",
    "emulation_sql",
    "install_emulation",
    "is_emulated",
    "is_real_citus",
    "metadata_unsynced",
    "reset_metadata",
    "set_call_log",
    "wait_metadata_synced",
]

SQL_RESOURCE = "citus_emulation.sql"
"""Name of the SQL script inside this package."""

LOCK_NAMESPACE = 1129883733
"""First key of the advisory lock ``(LOCK_NAMESPACE, groupid)`` standing for a group's shards."""

PROBE_TABLE = "patroni_mpp_probe"
"""Distributed table (schema ``public``) used for client traffic on a real Citus server."""

Connection = psycopg.Connection[Any]


class EmulationError(RuntimeError):
    """The emulation cannot do what was asked (e.g. it is not installed on that server)."""


@dataclass(frozen=True)
class CallLogEntry:
    """One committed call of an emulated Citus function.

    :param seq: order of the call.
    :param fn: function name, e.g. ``citus_update_node``.
    :param args: the arguments as SQL literals, comma separated.
    :param backend_pid: pid of the backend that made the call.
    :param at: when (``clock_timestamp()``).
    """

    seq: int
    fn: str
    args: str
    backend_pid: int
    at: datetime


def emulation_sql() -> str:
    """The text of the emulation's SQL script."""
    return (
        resources.files(__package__ or "patroni_mpp_citus.testing")
        .joinpath(SQL_RESOURCE)
        .read_text(encoding="utf-8")
    )


def install_emulation(conn: Connection, *, placeholder_extension: bool = False) -> None:
    """Install (or refresh) the emulation in the connected database, in one transaction.

    Idempotent: existing rows are kept, functions are replaced. Needs a superuser.

    :param conn: a psycopg connection (auto-commit or not) to the target database.
    :param placeholder_extension: also register a placeholder ``pg_extension`` row ``citus``
        (version ``13.2-emulated``) so that ``CREATE EXTENSION IF NOT EXISTS citus`` is a no-op.
    :raises EmulationError: when the real citus extension is installed in that database.
    """
    if is_real_citus(conn):
        raise EmulationError("the citus extension is installed here; not installing the emulation")
    script = emulation_sql()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(script.encode())
        if placeholder_extension:
            cursor.execute("SELECT citus_emulation.register_placeholder_extension()")
    logger.debug("Citus emulation installed in database %s", conn.info.dbname)


def _scalar(conn: Connection, query: str | sql.Composable, params: Any = None) -> Any:
    with conn.cursor() as cursor:
        cursor.execute(query, params)  # type: ignore[arg-type]
        row = cursor.fetchone()
    return None if row is None else row[0]


def is_real_citus(conn: Connection) -> bool:
    """True when the real citus extension (not the emulation's placeholder) is installed."""
    return bool(
        _scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_extension "
            "WHERE extname = 'citus' AND extversion NOT LIKE '%-emulated')",
        )
    )


def is_emulated(conn: Connection) -> bool:
    """True when this emulation is installed in the connected database."""
    return bool(_scalar(conn, "SELECT to_regprocedure('citus_emulation.version()') IS NOT NULL"))


def citus_available(conn: Connection) -> bool:
    """True when the server could ``CREATE EXTENSION citus`` (per ``pg_available_extensions``)."""
    return bool(
        _scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'citus')",
        )
    )


def _require_emulation(conn: Connection) -> None:
    if not is_emulated(conn):
        raise EmulationError("the Citus emulation is not installed in this database")


def reset_metadata(conn: Connection) -> None:
    """Empty ``pg_dist_node`` and ``pg_dist_authinfo``.

    Emulated: also empties the call log and client writes, restarts the node and group id sequences
    and switches call logging back on. Real Citus (best effort): drops the probe table, removes the
    secondaries, then the workers, then the coordinator rows, and deletes all authinfo rows.

    :param conn: an **auto-commit** connection to the Citus database.
    """
    if is_emulated(conn):
        conn.execute("SELECT citus_emulation.reset()")
        return
    conn.execute(sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(PROBE_TABLE)))
    rows = conn.execute(
        "SELECT nodename, nodeport FROM pg_catalog.pg_dist_node "
        "ORDER BY groupid = 0, noderole = 'primary', nodeid"
    ).fetchall()
    for nodename, nodeport in rows:
        conn.execute("SELECT pg_catalog.citus_remove_node(%s, %s)", (nodename, nodeport))
    conn.execute("DELETE FROM pg_catalog.pg_dist_authinfo")


def set_call_log(conn: Connection, enabled: bool) -> None:
    """Switch the emulation's call log on or off (the call counter always counts).

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    conn.execute("UPDATE citus_emulation.config SET log_calls = %s", (enabled,))


def call_log(conn: Connection, fn: str | None = None) -> list[CallLogEntry]:
    """Committed calls of the emulated functions, oldest first (a rolled-back call leaves no entry).

    :param fn: only calls of this function.
    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    rows = conn.execute(
        "SELECT seq, fn, args, backend_pid, at FROM citus_emulation.call_log "
        "WHERE %(fn)s::text IS NULL OR fn = %(fn)s ORDER BY seq",
        {"fn": fn},
    ).fetchall()
    return [CallLogEntry(*row) for row in rows]


def call_count(conn: Connection) -> int:
    """Number of calls of emulated functions since install/reset, committed or not.

    :raises EmulationError: when the emulation is not installed.
    """
    _require_emulation(conn)
    value = _scalar(
        conn,
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM citus_emulation.call_counter",
    )
    return int(value)


def _probe_key(conn: Connection, groupid: int) -> int:
    """A distribution-column value of the probe table whose shard is placed on ``groupid``."""
    exists = _scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"public.{PROBE_TABLE}",))
    if not exists:
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS public.{} (id int PRIMARY KEY, payload text)").format(
                sql.Identifier(PROBE_TABLE)
            )
        )
        conn.execute(
            "SELECT create_distributed_table(%s, 'id', shard_count := 32)",
            (f"public.{PROBE_TABLE}",),
        )
    key = _scalar(
        conn,
        "SELECT i FROM generate_series(1, 100000) AS i "
        "WHERE (SELECT p.groupid FROM pg_catalog.pg_dist_placement p "
        "       WHERE p.shardid = get_shard_id_for_distribution_column(%s, i) LIMIT 1) = %s "
        "LIMIT 1",
        (f"public.{PROBE_TABLE}", groupid),
    )
    if key is None:
        raise EmulationError(f"no shard of {PROBE_TABLE} is placed on group {groupid}")
    return int(key)


def client_write(conn: Connection, groupid: int, payload: str | None = None) -> None:
    """Write one row that Citus routes to group ``groupid``; waits while the group is locked.

    Emulated: ``citus_emulation.client_write(groupid)`` takes the shared side of the group's
    advisory lock, so it waits while a ``citus_update_node`` of the group's primary row is
    uncommitted. Real Citus (best effort): inserts into the distributed probe table a key whose
    shard is placed on that group (the table is created on first use, with 32 shards).

    :param conn: a connection to the Citus database (auto-commit: the write commits at once).
    """
    if is_emulated(conn):
        conn.execute("SELECT citus_emulation.client_write(%s, %s)", (groupid, payload))
        return
    key = _probe_key(conn, groupid)
    conn.execute(
        sql.SQL(
            "INSERT INTO public.{} (id, payload) VALUES (%s, %s) "
            "ON CONFLICT (id) DO UPDATE SET payload = excluded.payload"
        ).format(sql.Identifier(PROBE_TABLE)),
        (key, payload),
    )


def client_read(conn: Connection, groupid: int) -> int:
    """Read from group ``groupid`` (waits while the group is locked); returns a row count.

    Emulated: the number of :func:`client_write` rows of that group. Real Citus: the number of probe
    table rows with the key :func:`client_write` uses for that group (0 or 1).
    """
    if is_emulated(conn):
        return int(_scalar(conn, "SELECT citus_emulation.client_read(%s)", (groupid,)))
    key = _probe_key(conn, groupid)
    return int(
        _scalar(
            conn,
            sql.SQL("SELECT count(*) FROM public.{} WHERE id = %s").format(sql.Identifier(PROBE_TABLE)),
            (key,),
        )
    )


def metadata_unsynced(conn: Connection) -> str | None:
    """``host:port`` of a metadata node that is out of sync as seen by ``conn``, else None.

    Emulated: set by an effective ``citus_update_node`` until the end of that transaction (visible
    to that transaction only). Real Citus: a row with ``hasmetadata`` and not ``metadatasynced``.
    """
    if is_emulated(conn):
        value = _scalar(conn, "SELECT citus_emulation.unsynced_node()")
    else:
        value = _scalar(
            conn,
            "SELECT min(nodename || ':' || nodeport) FROM pg_catalog.pg_dist_node "
            "WHERE hasmetadata AND NOT metadatasynced",
        )
    return None if value is None else str(value)


def wait_metadata_synced(conn: Connection, timeout: float = 30.0) -> bool:
    """Wait until no metadata node is out of sync; True when synced, False after ``timeout`` s.

    Emulated: the unsynced state ends with the transaction, so this returns True at once. Real
    Citus: the maintenance daemon syncs after commit; this polls ``pg_dist_node.metadatasynced``.
    """
    deadline = time.monotonic() + timeout
    while True:
        unsynced = _scalar(
            conn,
            "SELECT count(*) FROM pg_catalog.pg_dist_node "
            "WHERE hasmetadata AND NOT metadatasynced AND noderole = 'primary'",
        )
        if not unsynced:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
