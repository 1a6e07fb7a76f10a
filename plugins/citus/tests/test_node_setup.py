"""The handler's node preparation: bootstrap, adjust_postgres_gucs and ignore_replication_slot."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.host import LocalConfig, LocalPostgresql
from patroni_mpp_citus import CitusBootstrapError, CitusHandler
from patroni_mpp_citus.testing.server import CitusTestServer

SECRET = "s3cret pw'\\x"


def handler_for(postgresql: LocalPostgresql, group: int, database: str) -> CitusHandler:
    return CitusHandler(postgresql, {"group": group, "database": database})


@pytest.fixture
def database(citus: CitusTestServer) -> Iterator[str]:
    name = f"citus_boot_{uuid.uuid4().hex[:8]}"
    yield name
    citus.server.drop_database(name)


@pytest.fixture
def postgresql(citus: CitusTestServer) -> Iterator[LocalPostgresql]:
    made = LocalPostgresql("coordinator", citus.host, citus.port, password=SECRET, primary=True)
    yield made
    made.close()


def test_bootstrap_of_a_coordinator(
    citus: CitusTestServer,
    database: str,
    postgresql: LocalPostgresql,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = handler_for(postgresql, 0, database)
    handler.bootstrap()
    with psycopg.connect(autocommit=True, **citus.server.conninfo(database)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone() == (1,)
        rows = conn.execute("SELECT nodeid, rolename, authinfo FROM pg_catalog.pg_dist_authinfo").fetchall()
        assert rows == [(0, "postgres", "password=s3cret\\ pw\\'\\\\x")]
        nodes = conn.execute(
            "SELECT groupid, nodename, nodeport, noderole::text FROM pg_catalog.pg_dist_node"
        ).fetchall()
        assert nodes == [(0, citus.host, citus.port, "primary")]
    assert SECRET not in caplog.text and "s3cret" not in caplog.text
    assert not handler.worker.alive


def test_bootstrap_twice_ignores_the_existing_database(
    citus: CitusTestServer,
    database: str,
    postgresql: LocalPostgresql,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLSTATE 42P04 is logged at debug level and ignored; a worker registers no host."""
    handler = handler_for(postgresql, 2, database)
    handler.bootstrap()
    caplog.set_level(logging.DEBUG, logger="patroni_mpp_citus")
    handler.bootstrap()
    messages = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert len([m for m in messages if m.startswith("Exception when creating database")]) == 1
    with psycopg.connect(autocommit=True, **citus.server.conninfo(database)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_catalog.pg_dist_node").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_catalog.pg_dist_authinfo").fetchone() == (1,)


def test_bootstrap_in_the_maintenance_database_creates_none(citus: CitusTestServer) -> None:
    postgresql = LocalPostgresql("coordinator", citus.host, citus.port, database="citus", primary=True)
    try:
        handler = handler_for(postgresql, 1, "citus")
        handler.bootstrap()  # no CREATE DATABASE, no credentials (no password): only the extension
    finally:
        postgresql.close()


def test_other_create_database_errors_propagate(citus: CitusTestServer, database: str) -> None:
    role = f"nocreate_{uuid.uuid4().hex[:6]}"
    with citus.server.connect() as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    postgresql = LocalPostgresql("coordinator", citus.host, citus.port, user=role, primary=True)
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            handler_for(postgresql, 0, database).bootstrap()
    finally:
        postgresql.close()
        with citus.server.connect() as conn:
            conn.execute(f'DROP ROLE "{role}"')


class BrokenDsnConfig(LocalConfig):
    """Formats an ``authinfo`` that Citus refuses, so that the server quotes the failing row."""

    def format_dsn(self, params: dict[str, Any]) -> str:
        return super().format_dsn(params) + " host=elsewhere"


def test_credential_errors_never_show_the_password(
    citus: CitusTestServer,
    database: str,
    postgresql: LocalPostgresql,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    postgresql._config = BrokenDsnConfig(postgresql.config.superuser)
    with pytest.raises(CitusBootstrapError) as info:
        handler_for(postgresql, 0, database).bootstrap()
    shown = "".join(traceback.format_exception(info.value)) + caplog.text
    assert "pg_dist_authinfo" in str(info.value)
    assert "s3cret" not in shown


def test_adjust_postgres_gucs() -> None:
    """The server parameters Citus needs are set (the table of the README, "What the engine does")."""
    postgresql = LocalPostgresql("n", "/tmp", 5432)
    handler = handler_for(postgresql, 1, "citus")
    parameters: dict[str, Any] = {
        "max_connections": 101,
        "max_prepared_transactions": 0,
        "shared_preload_libraries": "foo , citus, bar ",
    }
    handler.adjust_postgres_gucs(parameters)
    expected = {
        "max_connections": 101,
        "max_prepared_transactions": 202,
        "shared_preload_libraries": "citus,foo,bar",
        "wal_level": "logical",
        "citus.local_hostname": "/tmp",
    }
    assert parameters == expected
    handler.adjust_postgres_gucs(parameters)
    assert parameters == expected, "idempotent"
    other: dict[str, Any] = {"max_connections": "50", "max_prepared_transactions": 7}
    handler.adjust_postgres_gucs(other)
    assert other["shared_preload_libraries"] == "citus"
    assert other["max_prepared_transactions"] == 7
    string_zero: dict[str, Any] = {"max_connections": "50", "max_prepared_transactions": "0"}
    handler.adjust_postgres_gucs(string_zero)
    assert string_zero["max_prepared_transactions"] == 100


def test_local_hostname_defaults_to_localhost() -> None:
    postgresql = LocalPostgresql("n", "127.0.0.1", 5432)
    postgresql._pool._conn_kwargs.pop("host")
    parameters: dict[str, Any] = {"max_connections": 100, "max_prepared_transactions": 0}
    handler_for(postgresql, 1, "citus").adjust_postgres_gucs(parameters)
    assert parameters["citus.local_hostname"] == "localhost"


@pytest.mark.parametrize(
    ("name", "kind", "database", "plugin", "kept"),
    [
        ("foo", "physical", "bar", "wal2json", False),
        ("foo", "logical", "bar", "wal2json", False),
        ("foo", "logical", "bar", "pgoutput", False),
        ("foo", "logical", "citus", "pgoutput", False),
        ("citus_shard_move_slot_1_2_3", "logical", "citus", "pgoutput", True),
        ("citus_shard_move_slot_1_2_3", "logical", "citus", "citus", False),
        ("citus_shard_split_slot_1_2_3", "logical", "citus", "pgoutput", False),
        ("citus_shard_split_slot_1_2_3", "logical", "citus", "citus", True),
        ("citus_shard_move_slot_1_2", "logical", "citus", "pgoutput", True),
        ("citus_shard_move_slot_1", "logical", "citus", "pgoutput", False),
        ("citus_shard_move_slot_0_2", "logical", "citus", "pgoutput", False),
    ],
)
def test_ignore_replication_slot(name: str, kind: str, database: str, plugin: str, kept: bool) -> None:
    """Only the shard move and split slots of the Citus database are kept, Postgres being a primary."""
    handler = handler_for(LocalPostgresql("n", "127.0.0.1", 5432, primary=True), 1, "citus")
    slot = {"name": name, "type": kind, "database": database, "plugin": plugin}
    assert handler.ignore_replication_slot(slot) is kept


def test_slot_without_name_or_on_a_replica() -> None:
    """Quirk 4: Patroni 4.1.5 passes no name; the slot is simply not kept."""
    primary = handler_for(LocalPostgresql("n", "127.0.0.1", 5432, primary=True), 1, "citus")
    assert (
        primary.ignore_replication_slot({"type": "logical", "database": "citus", "plugin": "pgoutput"})
        is False
    )
    assert primary.ignore_replication_slot({}) is False
    assert primary.ignore_replication_slot({"name": None, "type": "logical", "database": "citus"}) is False
    replica = handler_for(LocalPostgresql("n", "127.0.0.1", 5432, primary=False), 1, "citus")
    slot = {
        "name": "citus_shard_move_slot_1_2_3",
        "type": "logical",
        "database": "citus",
        "plugin": "pgoutput",
    }
    assert replica.ignore_replication_slot(slot) is False
