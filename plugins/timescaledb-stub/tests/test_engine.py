"""The TimescaleDB engine's own behaviour, on real PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from typing import Any, ClassVar

import pytest
from patroni_mpp import EngineConfigError, get_mpp, load_engine
from patroni_mpp.testing.conformance_checks import CaseInsensitiveParameters
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_timescaledb import (
    TimescaleDB,
    TimescaleDBConfig,
    TimescaleDBHandler,
    TimescaleDBNotInstalledError,
)
from patroni_mpp_timescaledb.hooks import mpp_config_model, mpp_engine_class, mpp_status


@pytest.fixture
def host(fresh_postgres_server: PostgresServer) -> Iterator[LocalPostgresql]:
    """A host object for a fresh server without TimescaleDB preloaded."""
    postgresql = LocalPostgresql("ts-node", fresh_postgres_server.host, fresh_postgres_server.port)
    try:
        yield postgresql
    finally:
        postgresql.close()


def handler(config: dict[str, Any], postgresql: Any = None) -> TimescaleDBHandler:
    engine = get_mpp({"timescaledb": config})
    result = engine.get_handler_impl(postgresql or LocalPostgresql("n", "127.0.0.1", 1))
    assert type(result) is TimescaleDBHandler
    return result


def databases(server: PostgresServer) -> set[str]:
    return {row[0] for row in server.execute("SELECT datname FROM pg_catalog.pg_database")}


def test_entry_point() -> None:
    (ep,) = metadata.entry_points(group="patroni.mpp", name="timescaledb")
    assert ep.value == "patroni_mpp_timescaledb.hooks"
    assert load_engine("timescaledb").engine_class is TimescaleDB
    assert mpp_engine_class("citus") is None
    assert mpp_config_model("timescaledb") is TimescaleDBConfig


def test_descriptor_identity() -> None:
    engine = get_mpp({"scope": "demo", "timescaledb": {"database": "tsdb"}})
    assert type(engine) is TimescaleDB
    assert engine.config == {"database": "tsdb", "group": 0}
    assert (engine.type, engine.k8s_group_label) == ("TimescaleDB", "timescaledb-group")
    assert (engine.group, engine.coordinator_group_id) == (0, 0)
    assert engine.is_coordinator() and not engine.is_worker()
    worker = get_mpp({"timescaledb": {"database": "tsdb", "group": "2"}})
    assert worker.group == 2 and worker.is_worker()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "timescaledb.database: Field required"),
        ({"database": "tsdb", "group": -1}, "timescaledb.group: Input should be greater than"),
        ({"database": "tsdb", "workers": 2}, "timescaledb.workers: Extra inputs are not permitted"),
    ],
)
def test_config_errors(section: dict[str, Any], message: str) -> None:
    with pytest.raises(EngineConfigError, match=message):
        get_mpp({"timescaledb": section})


def test_validate_config_on_raw_values() -> None:
    assert TimescaleDB.validate_config({"database": "tsdb"})
    assert TimescaleDB.validate_config({"database": "tsdb", "group": 1})
    for value in (None, "tsdb", {}, {"database": ""}, {"database": "x", "group": True},
                  {"database": "x", "group": -1}):  # fmt: skip
        assert TimescaleDB.validate_config(value) is False


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "timescaledb"),
        ("", "timescaledb"),
        ("pg_stat_statements", "pg_stat_statements,timescaledb"),
        (" pg_stat_statements , auto_explain ", "pg_stat_statements,auto_explain,timescaledb"),
        ("timescaledb,pg_cron", "timescaledb,pg_cron"),
        (' "timescaledb" , pg_cron', ' "timescaledb" , pg_cron'),
    ],
)
def test_preload_library(before: str | None, after: str) -> None:
    parameters: dict[str, Any] = {"max_connections": 100}
    if before is not None:
        parameters["shared_preload_libraries"] = before
    handler({"database": "tsdb"}).adjust_postgres_gucs(parameters)
    assert parameters == {"max_connections": 100, "shared_preload_libraries": after}


def test_preload_library_with_host_spelling() -> None:
    parameters = CaseInsensitiveParameters({"Shared_Preload_Libraries": "pg_stat_statements"})
    handler({"database": "tsdb"}).adjust_postgres_gucs(parameters)  # type: ignore[arg-type]
    assert parameters.lowered() == {"shared_preload_libraries": "pg_stat_statements,timescaledb"}


def test_no_slots() -> None:
    ts = handler({"database": "tsdb"})
    assert ts.ignore_replication_slot({"type": "logical", "database": "tsdb"}) is False


def test_bootstrap_without_the_extension(
    fresh_postgres_server: PostgresServer, host: LocalPostgresql, available_extensions: set[str]
) -> None:
    if "timescaledb" in available_extensions:
        pytest.skip("this server has TimescaleDB installed")
    before = databases(fresh_postgres_server)
    ts = handler({"database": "tsdb"}, host)
    with pytest.raises(TimescaleDBNotInstalledError) as info:
        ts.bootstrap()
    assert ts.bootstrapped is not None
    assert mpp_status(ts) == {
        "database": "tsdb",
        "extension": "timescaledb",
        "bootstrap": {"outcome": "failed", "error": "TimescaleDBNotInstalledError", "at": ts.bootstrapped[2]},
    }
    message = str(info.value)
    assert message.startswith("the timescaledb extension is not installed on this PostgreSQL server")
    assert "(version 1" in message and "install the TimescaleDB package" in message
    assert databases(fresh_postgres_server) == before  # failed before creating anything


class ContribHandler(TimescaleDBHandler):
    """The same handler for a contrib extension every PostgreSQL build ships: exercises the path
    that creates the database and the extension where TimescaleDB itself is not installed."""

    extension: ClassVar[str] = "hstore"


@pytest.mark.parametrize("database", ["postgres", 'ts "data" 1'])
def test_bootstrap_creates_database_and_extension(
    fresh_postgres_server: PostgresServer,
    host: LocalPostgresql,
    available_extensions: set[str],
    database: str,
) -> None:
    if ContribHandler.extension not in available_extensions:
        pytest.skip("the server lacks the contrib extension hstore")
    ts = ContribHandler(host, TimescaleDBConfig(database=database).model_dump())
    assert mpp_status(ts) == {"database": database, "extension": "hstore", "bootstrap": None}
    ts.bootstrap()
    status = mpp_status(ts)
    assert status is not None
    assert status["bootstrap"]["outcome"] == "created"
    assert database in databases(fresh_postgres_server)
    query = "SELECT extname FROM pg_catalog.pg_extension WHERE extname = 'hstore'"
    assert fresh_postgres_server.execute(query, dbname=database) == [("hstore",)]
    ts.bootstrap()  # a repeated bootstrap finds both and changes nothing


def test_bootstrap_with_timescaledb(
    timescaledb_server: PostgresServer, available_extensions: set[str]
) -> None:
    if "timescaledb" not in available_extensions:
        pytest.skip("TimescaleDB is not installed on this server")
    host = LocalPostgresql("ts-node", timescaledb_server.host, timescaledb_server.port)
    try:
        handler({"database": "tsdb"}, host).bootstrap()
    finally:
        host.close()
    query = "SELECT extname FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'"
    assert timescaledb_server.execute(query, dbname="tsdb") == [("timescaledb",)]
