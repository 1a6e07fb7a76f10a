"""Hostile values (issue part 2): names with quotes, semicolons, backslashes, NUL, non-ASCII or 10,000
characters, as host, leader, database and slot names, against a real server.

Each time: the server's statement log shows only the engine's fixed statements (values travel as
parameters, never as SQL text), no table is created, dropped or altered, and an invalid value gives a
clear error (a config error, or a logged error naming the URL) instead of reaching the database.
What the statements did is checked in ``pg_dist_node`` (and in the engine's error log), not only in
the statement log.

Citus connects to a node added as a primary, so hostile host names are tried both as a replica's (a
secondary row, never contacted: stored verbatim) and as the leader's (refused with a connection
error: nothing listens there). The emulation models this with its registry of reachable addresses.
Real Citus also refuses host names longer than 256 bytes, whatever the role; the emulation stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from patroni_mpp import EngineConfigError, get_mpp
from patroni_mpp.testing.host import Member, cluster
from patroni_mpp.testing.logs import LogRecorder
from patroni_mpp.testing.postgres import drop_database
from patroni_mpp_citus._topology import MAX_HOST_BYTES
from patroni_mpp_citus.testing.emulation import register_reachable_node
from patroni_mpp_citus.testing.formation import APP, Formation, formation_of
from patroni_mpp_citus.testing.server import CitusTestServer
from patroni_mpp_citus.testing.statement_log import StatementLogView

HOSTILE = {
    "quote": "x'); DROP TABLE pg_catalog.pg_dist_node; --",
    "double-quote": 'db"; DROP DATABASE postgres; --',
    "semicolon": "a;b;c",
    "backslash": "back\\slash\\'",
    "nul": "nul\x00byte",
    "non-ascii": "ünïcødé-名前-🐘",
    "long": "h" * 10_000,
}
FIXED_SQL = re.compile(
    r"^(BEGIN|COMMIT|ROLLBACK"
    r"|SELECT pg_catalog\.set_config\('statement_timeout', \$1, true\), "
    r"pg_catalog\.set_config\('lock_timeout', '0', true\)"
    r"|SELECT groupid, nodename, nodeport, noderole::text, nodeid FROM pg_catalog\.pg_dist_node .*"
    r"|SELECT pg_catalog\.citus_add_node\(\$1::text, \$2::int, \$3::int, "
    r"\$4::pg_catalog\.noderole, 'default'\)"
    r"|SELECT pg_catalog\.citus_update_node\(\$1::int, \$2::text, \$3::int, true, \$4::int\)"
    r"|SELECT pg_catalog\.citus_remove_node\(\$1::text, \$2::int\)"
    # the engine asks whether Citus's metadata is in sync before adding or removing rows, and whose
    # row an added address is (fixed texts, the node id as a parameter)
    r"|SELECT nodename \|\| ':' \|\| nodeport FROM pg_catalog\.pg_dist_node "
    r"WHERE isactive AND noderole = 'primary' AND hasmetadata AND NOT metadatasynced "
    r"ORDER BY nodeid LIMIT 1"
    r"|SELECT groupid, noderole::text, nodecluster::text FROM pg_catalog\.pg_dist_node "
    r"WHERE nodeid = \$1::int)$",
    re.DOTALL,
)


def catalog_snapshot(citus: CitusTestServer, dbname: str | None = None) -> set[tuple[Any, ...]]:
    """Every relation of every schema, with its column count: a table altered shows up here."""
    params = citus.conninfo() if dbname is None else {**citus.conninfo(), "dbname": dbname}
    with psycopg.connect(autocommit=True, **params) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind, c.relnatts FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        ).fetchall()
        databases = conn.execute("SELECT datname FROM pg_catalog.pg_database").fetchall()
    return {tuple(r) for r in rows} | {("database", d[0]) for d in databases}


def assert_only_fixed_sql(log: StatementLogView, application_name: str = APP) -> None:
    for entry in log.entries(application_name=application_name):
        assert FIXED_SQL.match(entry.sql), f"unexpected statement: {entry.sql[:200]!r}"


@pytest.fixture
def formation(citus: CitusTestServer) -> Iterator[Formation]:
    with formation_of(citus) as made:
        yield made


def reconcile_safely(
    formation: Formation, statement_log: StatementLogView, before: set[tuple[Any, ...]]
) -> None:
    """One reconciliation: the worker survives, sends only fixed SQL, and no relation changed."""
    formation.sync()
    assert formation.wait_idle()
    assert formation.handler.worker.alive
    assert_only_fixed_sql(statement_log)
    assert catalog_snapshot(formation.citus) == before


def hostile_member(name: str, host: str, port: int, **data: Any) -> Member:
    return Member(name, {"conn_url": f"postgres://{host}:{port}/postgres", "state": "running", **data})


def engine_errors(record_logs: LogRecorder) -> list[str]:
    """Error records of the engine's loggers so far."""
    return record_logs.messages("patroni_mpp_citus", 40)


def group_rows(formation: Formation, groupid: int) -> set[tuple[int, str, int, str]]:
    """Committed rows of ``groupid``."""
    return {row for row in formation.rows() if row[0] == groupid}


def parse_refusal(value: str) -> str | None:
    """What the engine says of a host it refuses when the URL is parsed, or None for a usable one."""
    if "\x00" in value:
        return "NUL"
    if len(value.encode("utf-8")) > MAX_HOST_BYTES:  # Citus would truncate it, then not find the node
        return f"bytes long (Citus keeps at most {MAX_HOST_BYTES})"
    return None


def check_refused_when_parsed(formation: Formation, record_logs: LogRecorder, urls: int, reason: str) -> None:
    """Refused when the URL is parsed: one error per URL (not per reconciliation), no SQL with it."""
    formation.sync()
    assert formation.wait_idle()
    errors = engine_errors(record_logs)
    assert len(errors) == urls, errors
    for error in errors:
        assert error.startswith("Failed to parse connection url postgres://"), errors
        assert reason in error
        assert "\x00" not in error


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_host_names(
    formation: Formation, statement_log: StatementLogView, record_logs: LogRecorder, kind: str
) -> None:
    """The leader's and a replica's host names are hostile.

    ``citus_add_node`` of a primary connects to it (real Citus; the emulation checks its registry of
    reachable addresses instead) and nothing listens at these names, so Citus refuses the primary
    with a connection error: nothing of the group is written (the replica's row is added with its
    primary, in one transaction), the refusal is logged, and the statement that was refused carried
    the value as a parameter (the statement log shows only fixed SQL).
    """
    value = HOSTILE[kind]
    before = catalog_snapshot(formation.citus)
    leader = hostile_member("w1", value, 5432, role="primary")
    replica = hostile_member("w2", value + "-replica", 5433, role="replica")
    formation.workers[1] = cluster(leader, replica)
    reconcile_safely(formation, statement_log, before)
    rows = group_rows(formation, 1)
    expected_host = urlparse(f"postgres://{value}:5432/").hostname
    refusal = parse_refusal(value)
    if refusal is not None:
        # unusable as a host name: refused when the URL is parsed, nothing of the group written, no
        # statement attempted with it (the leader's URL is unusable: the replica is not looked at)
        assert rows == set()
        group_1_adds = [
            e
            for e in statement_log.entries(application_name=APP)
            if "citus_add_node" in e.sql and e.params.get(3) == "'1'"
        ]
        assert group_1_adds == []
        check_refused_when_parsed(formation, record_logs, 1, refusal)
    else:
        assert expected_host is not None
        assert rows == set()
        added = [e for e in statement_log.entries(application_name=APP) if "citus_add_node" in e.sql]
        assert added, "citus_add_node of the primary was not attempted"
        # the value travelled as the statement's parameter, verbatim
        literal = "'" + expected_host.replace("'", "''") + "'"
        assert any(literal in e.params.values() for e in added), [e.params for e in added][:2]
        errors = engine_errors(record_logs)
        # a connection failure naming the host (real Citus; the emulation gives the same text)
        refused = "connection to the remote node"
        assert any("citus_add_node" in m and refused in m for m in errors), errors
    # the coordinator's own row is there whatever happened to the hostile group
    assert (0, formation.citus.host, formation.citus.port, "primary") in formation.rows()


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_replica_host_names(
    formation: Formation, statement_log: StatementLogView, record_logs: LogRecorder, kind: str
) -> None:
    """Two replicas' host names are hostile, the leader is a server Citus reaches.

    Secondary rows are never contacted: the rows hold the value verbatim, on real Citus as on the
    emulation. A host the engine refuses when the URL is parsed (a NUL, or longer than the 255 bytes
    Citus keeps: Citus would refuse it, and with it the whole group, written in one transaction)
    leaves that replica out, and the primary is registered.
    """
    value = HOSTILE[kind]
    before = catalog_snapshot(formation.citus)
    leader = formation.node(1, "w1", role="primary")
    first = hostile_member("w2", value, 5432, role="replica")
    second = hostile_member("w3", value + "-replica", 5433, role="replica")
    formation.workers[1] = cluster(leader, first, second)
    reconcile_safely(formation, statement_log, before)
    rows = group_rows(formation, 1)
    primary = (1, *formation.address(1), "primary")
    expected_host = urlparse(f"postgres://{value}:5432/").hostname
    assert expected_host is not None
    refusal = parse_refusal(value)
    if refusal is not None:
        # both replica URLs refused when parsed (one error each); the primary is registered
        assert rows == {primary}
        check_refused_when_parsed(formation, record_logs, 2, refusal)
    else:
        assert rows == {
            primary,
            (1, expected_host, 5432, "secondary"),
            (1, f"{expected_host}-replica", 5433, "secondary"),
        }
        assert engine_errors(record_logs) == []
        assert formation.rows() == formation.expected_rows()


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_leader_names(
    formation: Formation, statement_log: StatementLogView, record_logs: LogRecorder, kind: str
) -> None:
    value = HOSTILE[kind]
    before = catalog_snapshot(formation.citus)
    leader = formation.node(1, value, role="primary")
    formation.set_group(1, leader, formation.node(2))
    assert formation.converge()
    mark = statement_log.mark()
    for event in ("before_demote", "before_promote", "after_promote"):
        formation.event(event, 1, value, timeout=30)
    formation.event("before_demote", 1, value + "x", timeout=30)  # not the leader: discarded
    assert formation.converge()
    assert formation.wait_idle()
    assert formation.handler.worker.alive
    assert_only_fixed_sql(statement_log)
    assert catalog_snapshot(formation.citus) == before
    # the matching events were processed (the pause renamed the primary row, after_promote committed
    # its return), and every statement succeeded: the table is the DCS view, no error was logged
    switchover = [e.sql for e in statement_log.entries(since=mark, application_name=APP)]
    assert any("citus_update_node" in sql for sql in switchover), switchover
    assert "COMMIT" in switchover, switchover
    assert engine_errors(record_logs) == []
    assert formation.rows() == formation.expected_rows()
    assert (1, *formation.address(1), "primary") in formation.rows()


@pytest.mark.parametrize("kind", ["nul", "long"])
def test_invalid_database_names_are_config_errors(kind: str) -> None:
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": {"group": 0, "database": HOSTILE[kind]}})
    assert "citus.database: " in str(info.value)
    assert HOSTILE[kind][:20] not in str(info.value)


def node_database(citus: CitusTestServer, index: int, dbname: str) -> dict[str, Any] | None:
    """Make node ``index`` reachable from the Citus metadata in database ``dbname``.

    Real Citus connects to a worker in the database of the coordinator's session, so the worker gets
    a database of the same name with the extension; its conninfo is returned (to drop it). The
    emulation's registry of reachable addresses is per database: the node's address is registered
    in ``dbname`` too (emulation only; None is returned).
    """
    host, port = citus.node_address(index)
    if not citus.is_real:
        with psycopg.connect(autocommit=True, **{**citus.conninfo(), "dbname": dbname}) as conn:
            register_reachable_node(conn, host, port, index)
        return None
    params = {**citus.server.conninfo("postgres"), "host": host, "port": port}
    with psycopg.connect(autocommit=True, **params) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
    with psycopg.connect(autocommit=True, **{**params, "dbname": dbname}) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    return params


@pytest.mark.parametrize("kind", ["quote", "double-quote", "semicolon", "backslash", "non-ascii"])
def test_hostile_database_names_on_a_real_server(
    citus: CitusTestServer, statement_log: StatementLogView, kind: str
) -> None:
    value = HOSTILE[kind]
    engine = get_mpp({"citus": {"group": 0, "database": value}})
    assert engine.config["database"] == value
    before = catalog_snapshot(citus)
    from patroni_mpp.testing.host import LocalPostgresql
    from patroni_mpp_citus import CitusHandler

    postgresql = LocalPostgresql("coordinator", citus.host, citus.port, primary=True)
    handler = CitusHandler(postgresql, dict(engine.config), watch_promotions=False)
    worker = None
    try:
        handler.bootstrap()
        # bootstrap made the database (quoted as an identifier) and registered the coordinator in it
        after = catalog_snapshot(citus)
        assert after - before == {("database", value)}
        worker = node_database(citus, 1, value)
        formation = Formation(citus, postgresql, handler)
        formation.set_group(1, formation.node(1, role="primary"))
        formation.sync()
        assert formation.wait_idle()
        with psycopg.connect(autocommit=True, **{**citus.conninfo(), "dbname": value}) as conn:
            rows = set(conn.execute("SELECT groupid, nodeport FROM pg_catalog.pg_dist_node").fetchall())
        assert rows == {(0, citus.port), (1, formation.address(1)[1])}
        # only CREATE DATABASE and the engine's fixed statements ran
        created = [e.sql for e in statement_log.entries() if e.sql.startswith("CREATE DATABASE")]
        assert len(created) == 1
        assert_only_fixed_sql(statement_log)
    finally:
        assert handler.close(30)
        postgresql.close()
        drop_database(citus.server.conninfo("postgres"), value)
        if worker is not None:
            drop_database(worker, value)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_slot_names(formation: Formation, statement_log: StatementLogView, kind: str) -> None:
    value = HOSTILE[kind]
    for plugin in ("pgoutput", "citus"):
        slot = {"name": value, "type": "logical", "database": "citus", "plugin": plugin}
        assert formation.handler.ignore_replication_slot(slot) is False
        shard = {**slot, "name": f"citus_shard_move_slot_1_2_3{value}"}
        assert formation.handler.ignore_replication_slot(shard) is False
    assert statement_log.entries(application_name=APP) == []
