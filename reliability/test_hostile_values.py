"""Hostile values (issue part 2): names with quotes, semicolons, backslashes, NUL, non-ASCII or 10,000
characters, as host, leader, database and slot names, against a real server.

Each time: the server's statement log shows only the engine's fixed statements (values travel as
parameters, never as SQL text), no table is created, dropped or altered, and an invalid value gives a
clear error (a config error, or a logged error naming the URL) instead of reaching the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from _support import APP, Formation, LogRecorder, formation_of, node
from patroni_mpp import EngineConfigError, get_mpp
from patroni_mpp.testing.host import Member, cluster
from patroni_mpp.testing.polling import wait_for
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
    r"|SELECT pg_catalog\.citus_remove_node\(\$1::text, \$2::int\))$",
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


def hostile_member(name: str, host: str, port: int, **data: Any) -> Member:
    return Member(name, {"conn_url": f"postgres://{host}:{port}/postgres", "state": "running", **data})


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_host_names(
    formation: Formation, statement_log: StatementLogView, record_logs: LogRecorder, kind: str
) -> None:
    value = HOSTILE[kind]
    before = catalog_snapshot(formation.citus)
    leader = hostile_member("w1", value, 5432, role="primary")
    replica = hostile_member("w2", value + "-replica", 5433, role="replica")
    formation.workers[1] = cluster(leader, replica)
    formation.sync()
    assert formation.wait_idle()
    assert formation.handler.worker.alive
    assert_only_fixed_sql(statement_log)
    assert catalog_snapshot(formation.citus) == before
    rows = formation.rows()
    expected_host = urlparse(f"postgres://{value}:5432/").hostname
    if "\x00" in value:
        # invalid as a host name: refused when the URL is parsed, one error per URL (not per
        # reconciliation), nothing of the group written, no statement attempted with it
        assert {r for r in rows if r[0] == 1} == set()
        formation.sync()
        assert formation.wait_idle()
        errors = record_logs.messages("patroni_mpp_citus", 40)
        assert len(errors) == 1, errors
        assert errors[0].startswith("Failed to parse connection url postgres://nul\\x00byte:5432/"), errors
        assert "NUL" in errors[0]
        assert "\x00" not in errors[0]
    else:
        assert (1, expected_host, 5432, "primary") in rows
        assert (1, f"{expected_host}-replica", 5433, "secondary") in rows
    # the coordinator's own row is there whatever happened to the hostile group
    assert (0, formation.citus.host, formation.citus.port, "primary") in rows


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_leader_names(formation: Formation, statement_log: StatementLogView, kind: str) -> None:
    value = HOSTILE[kind]
    before = catalog_snapshot(formation.citus)
    leader = node(1, value, role="primary")
    formation.set_group(1, leader, node(2))
    assert formation.converge()
    for event in ("before_demote", "before_promote", "after_promote"):
        formation.event(event, 1, value, timeout=30)
    formation.event("before_demote", 1, value + "x", timeout=30)  # not the leader: discarded
    assert formation.converge()
    assert formation.wait_idle()
    assert formation.handler.worker.alive
    assert_only_fixed_sql(statement_log)
    assert catalog_snapshot(formation.citus) == before


@pytest.mark.parametrize("kind", ["nul", "long"])
def test_invalid_database_names_are_config_errors(kind: str) -> None:
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": {"group": 0, "database": HOSTILE[kind]}})
    assert "citus.database: " in str(info.value)
    assert HOSTILE[kind][:20] not in str(info.value)


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
    try:
        handler.bootstrap()
        # bootstrap made the database (quoted as an identifier) and registered the coordinator in it
        after = catalog_snapshot(citus)
        assert after - before == {("database", value)}
        formation = Formation(citus, postgresql, handler)
        formation.set_group(1, node(1, role="primary"))
        formation.sync()
        assert formation.wait_idle()
        with psycopg.connect(autocommit=True, **{**citus.conninfo(), "dbname": value}) as conn:
            rows = set(conn.execute("SELECT groupid, nodeport FROM pg_catalog.pg_dist_node").fetchall())
        assert rows == {(0, citus.port), (1, 20001)}
        # only CREATE DATABASE and the engine's fixed statements ran
        created = [e.sql for e in statement_log.entries() if e.sql.startswith("CREATE DATABASE")]
        assert len(created) == 1
        assert_only_fixed_sql(statement_log)
    finally:
        assert handler.close(30)
        postgresql.close()
        with citus.server.connect() as conn:
            conn.execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                "WHERE datname = %s",
                (value,),
            )
            assert wait_for(
                lambda: (
                    not conn.execute(
                        "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE datname = %s", (value,)
                    ).fetchall()
                )
            )
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(value)))


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_slot_names(formation: Formation, statement_log: StatementLogView, kind: str) -> None:
    value = HOSTILE[kind]
    for plugin in ("pgoutput", "citus"):
        slot = {"name": value, "type": "logical", "database": "citus", "plugin": plugin}
        assert formation.handler.ignore_replication_slot(slot) is False
        shard = {**slot, "name": f"citus_shard_move_slot_1_2_3{value}"}
        assert formation.handler.ignore_replication_slot(shard) is False
    assert statement_log.entries(application_name=APP) == []
