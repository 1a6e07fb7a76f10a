"""Client traffic of the tests, on real Citus and the emulation alike: writes, reads, locked groups.

Real Citus: a distributed probe table (``public.patroni_mpp_probe``, 32 shards) whose keys are
chosen so that a write lands on a given group; an uncommitted ``citus_update_node`` of the group's
primary makes such a write wait. Emulated: the emulation's ``client_write``/``client_read``
functions and the group's advisory lock stand for the same.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from .emulation import LOCK_NAMESPACE, PROBE_TABLE, Connection, EmulationError, _scalar, is_emulated

__all__ = [
    "PROBE_CREATE_TIMEOUT",
    "client_read",
    "client_write",
    "locked_groups",
    "prepare_client_traffic",
]

PROBE_CREATE_TIMEOUT = 30.0
"""Seconds creating the probe table may wait for Citus to sync its metadata (real Citus only)."""


def _create_probe_table(conn: Connection) -> None:
    """Create the distributed probe table (real Citus), retrying while metadata is out of sync.

    Citus refuses the DDL (SQLSTATE 55000) while a metadata node is out of sync, which it is right
    after a committed ``citus_update_node``; its maintenance daemon syncs within moments.
    """
    table = f"public.{PROBE_TABLE}"
    create = sql.SQL("CREATE TABLE IF NOT EXISTS public.{} (id int PRIMARY KEY, payload text)").format(
        sql.Identifier(PROBE_TABLE)
    )
    # two statements, as a client would send them: in one transaction block Citus creates the
    # shards over many connections per worker, each a prepared transaction (more than the test
    # servers' max_prepared_transactions)
    conn.execute(create)
    deadline = time.monotonic() + PROBE_CREATE_TIMEOUT
    while True:
        try:
            conn.execute("SELECT create_distributed_table(%s, 'id', shard_count := 32)", (table,))
            return
        except psycopg.errors.ObjectNotInPrerequisiteState:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _probe_key(conn: Connection, groupid: int) -> int:
    """A distribution-column value of the probe table whose shard is placed on ``groupid``."""
    exists = _scalar(
        conn,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = to_regclass(%s))",
        (f"public.{PROBE_TABLE}",),
    )
    if not exists:
        _create_probe_table(conn)
    key = _scalar(
        conn,
        "SELECT i FROM generate_series(1, 100000) AS i "
        "WHERE (SELECT p.groupid FROM pg_catalog.pg_dist_placement p "
        "       WHERE p.shardid = get_shard_id_for_distribution_column(%s, i) LIMIT 1) = %s "
        "LIMIT 1",
        (f"public.{PROBE_TABLE}", groupid),
    )
    if key is None:
        raise EmulationError(
            f"no shard of {PROBE_TABLE} is placed on group {groupid}: the table was created (by the "
            "first client write) before the group had a primary; write to the groups once they are "
            "all registered, or reset"
        )
    return int(key)


def prepare_client_traffic(conn: Connection, groupid: int) -> None:
    """Prepare :func:`client_write` and :func:`client_read` of ``groupid`` ahead of a pause.

    Real Citus: creates the probe table (its shards are spread over the groups registered now, so
    call it once every group is) and finds the group's key. Creating a distributed table needs
    Citus's metadata locks and synced metadata, which a paused group or a just-committed
    ``citus_update_node`` withhold: prepare before the pause, and the writes during it measure only
    the pause. Emulated: nothing to prepare.
    """
    if not is_emulated(conn):
        _probe_key(conn, groupid)


def client_write(conn: Connection, groupid: int, payload: str | None = None) -> None:
    """Write one row that Citus routes to group ``groupid``; waits while the group is locked.

    Emulated: ``citus_emulation.client_write(groupid)`` takes the shared side of the group's
    advisory lock, so it waits while a ``citus_update_node`` of the group's primary row is
    uncommitted. Real Citus: inserts into the distributed probe table a key whose shard is placed
    on that group (the table is created on first use, with 32 shards on the primaries registered
    then, waiting up to :data:`PROBE_CREATE_TIMEOUT` s for Citus to sync its metadata); it waits
    for the shard metadata lock an uncommitted ``citus_update_node`` of the group's primary holds.

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
    """Read from group ``groupid``; returns a row count. It does not wait for a paused group.

    On Citus an uncommitted ``citus_update_node`` of a group's primary blocks writes to the group's
    shards, not reads; the emulated read takes no lock either.

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


_LOCKED_GROUPS_EMULATED = (
    "SELECT DISTINCT objid::bigint FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
    "AND granted AND mode = 'ExclusiveLock' AND classid::bigint = %s AND objsubid = 2 "
    "AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
    "ORDER BY 1"
)
# Citus's citus_update_node locks the metadata of every shard placed on the group in
# AccessExclusiveLock mode: advisory locks with field 4 = 8 (shards of a co-location group:
# classid = the shard's index in its table, objid = the co-location id) or 4 (other shards:
# classid/objid = the shard id's high/low 32 bits).
_LOCKED_GROUPS_REAL = """
SELECT DISTINCT p.groupid FROM pg_catalog.pg_locks l
JOIN LATERAL (
    SELECT s.shardid FROM (
        SELECT s.shardid,
               row_number() OVER (
                   PARTITION BY s.logicalrelid
                   ORDER BY CASE WHEN d.partmethod = 'h' THEN s.shardminvalue::bigint END, s.shardid
               ) - 1 AS shard_index
          FROM pg_catalog.pg_dist_shard s
          JOIN pg_catalog.pg_dist_partition d ON d.logicalrelid = s.logicalrelid
         WHERE l.objsubid = 8 AND d.colocationid = l.objid::bigint
    ) s WHERE s.shard_index = l.classid::bigint
    UNION ALL
    SELECT (l.classid::bigint << 32) | l.objid::bigint WHERE l.objsubid = 4
) shard ON true
JOIN pg_catalog.pg_dist_placement p ON p.shardid = shard.shardid
WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'AccessExclusiveLock'
  AND l.objsubid IN (4, 8)
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
ORDER BY 1
"""


def locked_groups(conn: Connection) -> list[int]:
    """Groups whose shards an uncommitted ``citus_update_node`` of their primary holds locked.

    Emulated: the groups whose advisory lock ``(LOCK_NAMESPACE, groupid)`` is held exclusively.
    Real Citus: the groups holding a placement of a shard whose metadata lock is held in
    AccessExclusiveLock mode, so only groups with shard placements show up (a client write to the
    group, :func:`client_write`, creates the probe table's shards first).
    """
    if is_emulated(conn):
        rows = conn.execute(_LOCKED_GROUPS_EMULATED, (LOCK_NAMESPACE,)).fetchall()
    else:
        rows = conn.execute(_LOCKED_GROUPS_REAL).fetchall()
    return [int(row[0]) for row in rows]
