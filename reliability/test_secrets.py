"""Secrets (issue part 5): passwords in the superuser settings and in connection URLs never appear in
a log record (any logger, DEBUG included, tracebacks included) or in an exception's text (its chain of
causes included), on every path that logs or fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from patroni_mpp import MPPError, get_mpp, iter_engine_reports
from patroni_mpp.testing.host import LocalPostgresql, Member, cluster
from patroni_mpp.testing.logs import LogRecorder, exception_text
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp.testing.secret_probes import (
    EXTRA_PASSWORD,
    SUPERUSER_PASSWORD,
    URL_PASSWORD,
    assert_no_secret,
    patroni_config,
)
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus.testing.faults import broken_function
from patroni_mpp_citus.testing.formation import Formation, formation_of, two_node_group
from patroni_mpp_citus.testing.server import CitusTestServer


@pytest.fixture
def errors() -> Iterator[list[str]]:
    """Exception texts collected by the test, checked for secrets at the end."""
    collected: list[str] = []
    yield collected
    assert_no_secret(collected)


@pytest.fixture(autouse=True)
def _logs_hold_no_secret(record_logs: LogRecorder) -> Iterator[None]:
    yield
    assert_no_secret([record_logs.all_text()])


# -- core: discovery, configuration errors, the CLI ------------------------------------------------

SECTIONS: list[Any] = [
    {"group": "one", "database": f"postgres://u:{URL_PASSWORD}@h/db", "password": EXTRA_PASSWORD},
    {"group": 0, "database": "x" * 64, "superuser_password": EXTRA_PASSWORD},
    f"postgres://u:{URL_PASSWORD}@h/db",
    [EXTRA_PASSWORD],
    {"group": {"password": EXTRA_PASSWORD}, "database": [URL_PASSWORD]},
]


@pytest.mark.parametrize("section", SECTIONS, ids=[f"section{i}" for i in range(len(SECTIONS))])
def test_configuration_errors(section: Any, errors: list[str]) -> None:
    with pytest.raises(MPPError) as info:
        get_mpp(patroni_config(section))
    errors.append(exception_text(info.value))


def test_other_discovery_errors(errors: list[str]) -> None:
    config = patroni_config({"group": 0, "database": "citus"})
    for extra in ({"timescaledb": {"password": EXTRA_PASSWORD}}, {"null": {"password": EXTRA_PASSWORD}}):
        with pytest.raises(MPPError) as info:
            get_mpp({**config, **extra})
        errors.append(exception_text(info.value))
    config.pop("citus")
    with pytest.raises(MPPError) as info:
        get_mpp({**config, "null": {"token": EXTRA_PASSWORD}})
    errors.append(exception_text(info.value))
    get_mpp({**config, f"unknown-{EXTRA_PASSWORD[:3]}": {"password": EXTRA_PASSWORD}})
    list(iter_engine_reports())


def test_cli_check(tmp_path: Path) -> None:
    import logging

    import yaml

    logging.getLogger("reliability").info("running patroni-mpp check")
    for index, section in enumerate([*SECTIONS, {"group": 1, "database": "citus"}]):
        path = tmp_path / f"patroni{index}.yml"
        path.write_text(yaml.safe_dump(patroni_config(section)))
        for args in (["check", str(path)], ["check", "--json", str(path)], ["check", "-v", str(path)]):
            result = subprocess.run(
                [sys.executable, "-m", "patroni_mpp", *args],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
                env={"PATRONI_CITUS_GROUP": "x", "PATH": "/usr/bin:/bin"},
            )
            assert result.returncode in (0, 1, 2), result.stderr
            assert "Traceback" not in result.stderr
            assert_no_secret([result.stdout, result.stderr])
            if "--json" in args and result.returncode != 2:
                json.loads(result.stdout or "{}")


# -- the Citus handler -------------------------------------------------------------------------------


def secret_member(name: str, port: int | str, host: str = "127.0.0.1", **data: Any) -> Member:
    """A member whose conn_url carries a password."""
    return Member(
        name,
        {
            "conn_url": f"postgres://admin:{URL_PASSWORD}@{host}:{port}/postgres",
            "state": "running",
            **data,
        },
    )


@pytest.fixture
def formation(citus: CitusTestServer) -> Iterator[Formation]:
    with formation_of(citus, password=SUPERUSER_PASSWORD) as made:
        yield made


def test_handler_paths(formation: Formation, errors: list[str], record_logs: LogRecorder) -> None:
    two_node_group(formation, 1, 1)
    # members whose URLs carry passwords: good (servers real Citus reaches), invalid port, no host,
    # unparsable
    s1_host, s1_port = formation.address(3)
    s2_host, s2_port = formation.address(4)
    formation.workers[2] = cluster(
        secret_member("s1", s1_port, s1_host, role="primary"),
        secret_member("s2", s2_port, s2_host),
        secret_member("s3", "99999"),
        Member("s4", {"conn_url": f"postgres://admin:{URL_PASSWORD}@/postgres", "state": "running"}),
        Member("s5", {"conn_url": f"postgres://admin:{URL_PASSWORD}@[::1/postgres", "state": "running"}),
    )
    formation.workers[3] = cluster(secret_member("s6", "70000", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    assert (2, s1_host, s1_port, "primary") in formation.rows()
    assert (2, s2_host, s2_port, "secondary") in formation.rows()
    # events: valid, discarded, invalid (with passwords in the payload)
    formation.event("before_demote", 2, "s1")
    formation.event("after_promote", 2, "s1")
    for bad in (
        {"type": "before_demote", "group": 2, "leader": "s1", "timeout": URL_PASSWORD, "cooldown": 1},
        {"type": URL_PASSWORD, "group": 2, "leader": "s1", "timeout": 1, "cooldown": 1},
        {"password": URL_PASSWORD},
    ):
        with pytest.raises(Exception) as info:
            formation.handler.handle_event(formation.view(), bad)
        errors.append(exception_text(info.value))
    # failures on the metadata connection: killed connection, a raising function
    formation.terminate_backends()
    formation.set_group(1, formation.node(2, role="primary"), formation.node(1))
    formation.sync()
    assert formation.wait_idle()
    with broken_function(formation.citus, "citus_update_node"):
        formation.event("before_demote", 1, "n2")
        assert formation.wait_idle()
    # the path was taken: the raising function's error reached the engine's log
    assert any(
        "injected failure of citus_update_node" in m for m in record_logs.messages("patroni_mpp_citus", 40)
    )
    assert formation.converge()
    assert (1, *formation.address(2), "primary") in formation.rows()


def test_bootstrap_paths(citus: CitusTestServer, errors: list[str]) -> None:
    postgresql = LocalPostgresql(
        "coordinator", citus.host, citus.port, primary=True, password=SUPERUSER_PASSWORD
    )
    handler = CitusHandler(postgresql, {"group": 0, "database": citus.dbname}, watch_promotions=False)
    try:
        handler.bootstrap()  # stores the superuser's password in pg_dist_authinfo
        with citus.connect() as conn:
            stored = conn.execute("SELECT authinfo FROM pg_catalog.pg_dist_authinfo").fetchall()
        assert any(SUPERUSER_PASSWORD in str(row[0]) for row in stored)
        with citus.connect() as conn:
            conn.execute("ALTER TABLE pg_catalog.pg_dist_authinfo RENAME TO pg_dist_authinfo_hidden")
            try:
                with pytest.raises(Exception) as info:
                    handler.bootstrap()
                errors.append(exception_text(info.value))
            finally:
                conn.execute("ALTER TABLE pg_catalog.pg_dist_authinfo_hidden RENAME TO pg_dist_authinfo")
    finally:
        assert handler.close(30)
        postgresql.close()


def test_promotion_watch_and_wrong_password(errors: list[str]) -> None:
    """A server that checks passwords; the handler has the wrong one, then watches a promotion."""
    server = PostgresServer(password="the-right-one")
    server.start()
    try:
        postgresql = LocalPostgresql(
            "coordinator", server.host, server.port, primary=True, password=SUPERUSER_PASSWORD
        )
        handler = CitusHandler(postgresql, {"group": 0, "database": "postgres"}, watch_promotions=True)
        try:
            view = cluster(
                Member("coordinator", {"conn_url": postgresql.connection_string, "role": "primary"}),
                workers={1: cluster(secret_member("w1", server.port, role="primary"))},
            )
            handler.sync_meta_data(view)
            assert wait_for(lambda: handler.worker.reload_failures >= 1)
            handler.handle_event(
                view, {"type": "before_promote", "group": 1, "leader": "w1", "timeout": 1, "cooldown": 1}
            )
        finally:
            assert handler.close(30)
            postgresql.close()
    finally:
        server.cleanup()
