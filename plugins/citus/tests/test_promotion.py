"""The promotion watch (issue 3, item 10): the pause ends when the promoted node leaves recovery.

Real servers: a worker primary and its streaming replica (``PostgresServer.create_replica``); the replica is
promoted by the test. The coordinator is the session's Citus test server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.host import member
from patroni_mpp.testing.logs import records
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import PostgresServer
from patroni_mpp_citus._model import BEFORE_PROMOTE, Outcome
from patroni_mpp_citus._promotion import REQUIRE_AUTH, watch_params
from patroni_mpp_citus.testing.formation import Formation, engine_threads, make_formation
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOps


@pytest.fixture
def worker_pair(citus: CitusTestServer) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A running primary with a ``citus`` database and its streaming replica."""
    settings: dict[str, Any] = {"shared_preload_libraries": "citus"} if citus.is_real else {}
    primary = PostgresServer(settings)
    replica: PostgresServer | None = None
    try:
        primary.start()
        with primary.connect() as conn:
            conn.execute('CREATE DATABASE "citus"')
        if citus.is_real:
            primary.execute("CREATE EXTENSION IF NOT EXISTS citus", dbname="citus")
        replica = primary.create_replica()
        for server in (primary, replica):
            citus.add_reachable_address(server.host, server.port)  # the emulation's registry
        yield primary, replica
    finally:
        if replica is not None:
            replica.cleanup()
        primary.cleanup()


@pytest.fixture
def formation(citus: CitusTestServer) -> Iterator[Formation]:
    made = make_formation(citus, watch_promotions=True)
    try:
        yield made
    finally:
        made.close()
        assert not engine_threads()


def in_flight(formation: Formation) -> str | None:
    state = formation.handler.worker.state
    with state.cond:
        return None if state.in_flight is None else state.in_flight.event


def register_pair(formation: Formation, primary: PostgresServer, replica: PostgresServer) -> None:
    formation.set_group(
        1,
        member("a", primary.host, primary.port, role="primary"),
        member("b", replica.host, replica.port),
    )
    formation.sync()
    assert formation.wait_rows(
        1, {(primary.host, primary.port, "primary"), (replica.host, replica.port, "secondary")}
    )
    assert formation.wait_idle()


def open_promotion(formation: Formation, primary: PostgresServer, replica: PostgresServer) -> None:
    """A switchover of the registered pair up to ``before_promote`` of the replica: the transaction open."""
    formation.set_group(
        1,
        member("b", replica.host, replica.port, role="replica"),
        member("a", primary.host, primary.port, state="stopped"),
    )
    formation.event("before_promote", 1, "b")
    assert wait_for(lambda: in_flight(formation) == BEFORE_PROMOTE)


def test_pause_ends_when_the_promoted_node_leaves_recovery(
    formation: Formation,
    worker_pair: tuple[PostgresServer, PostgresServer],
    client_ops: ClientOps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    primary, replica = worker_pair
    register_pair(formation, primary, replica)
    formation.citus.prepare_client_traffic(1)
    formation.event("before_demote", 1, "a")
    primary.stop()
    open_promotion(formation, primary, replica)
    write = client_ops.write(1)
    assert write.wait_until_waiting(), "the group is paused until the promotion"
    assert in_flight(formation) == BEFORE_PROMOTE, "no commit while the node is in recovery"
    replica.promote()
    # no after_promote is sent: the watch alone ends the pause
    assert write.join(), "the pause must end once the promoted node is out of recovery"
    assert write.error is None
    assert formation.wait_idle()
    assert formation.group_rows(1) == {
        (replica.host, replica.port, "primary"),
        (primary.host, primary.port, "secondary"),
    }
    assert records(caplog, "INFO", f"{replica.host}:{replica.port} (group 1) is out of recovery")
    # the late after_promote of the worker changes nothing
    task = formation.submit("after_promote", 1, "b")
    assert task is None or (task.wait(30) and task.outcome in (Outcome.APPLIED, Outcome.SKIPPED))
    assert wait_for(lambda: [t.name for t in engine_threads()] == ["citus-metadata"])


def test_after_promote_first_still_commits(
    formation: Formation,
    worker_pair: tuple[PostgresServer, PostgresServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    primary, replica = worker_pair
    register_pair(formation, primary, replica)
    formation.event("before_demote", 1, "a")
    open_promotion(formation, primary, replica)
    formation.event("after_promote", 1, "b")  # the replica is never promoted: after_promote ends it
    assert formation.wait_idle()
    assert formation.group_rows(1) == {
        (replica.host, replica.port, "primary"),
        (primary.host, primary.port, "secondary"),
    }
    assert wait_for(lambda: [t.name for t in engine_threads()] == ["citus-metadata"])
    assert not records(caplog, "INFO", f"{replica.host}:{replica.port} (group 1) is out of recovery")


def test_stale_reconciliation_cannot_undo_an_early_commit(
    formation: Formation, worker_pair: tuple[PostgresServer, PostgresServer]
) -> None:
    """The watch commits before the new primary's member key says primary; a view from before the
    promotion (the old primary still leader and running) must not move the primary row back."""
    primary, replica = worker_pair
    register_pair(formation, primary, replica)
    formation.event("before_demote", 1, "a")
    open_promotion(formation, primary, replica)
    replica.promote()
    assert formation.wait_idle()
    promoted = {(replica.host, replica.port, "primary"), (primary.host, primary.port, "secondary")}
    assert formation.group_rows(1) == promoted

    leader_views = [
        # an HA cycle that read the DCS before the switchover: a is still the running primary
        (("a", primary), ("b", replica)),
        # the DCS catches up: reconciliation works for the group again, and from then on follows it
        (("b", replica), ("a", primary)),
    ]
    for (leader, leader_server), (other, other_server) in leader_views:
        formation.set_group(
            1,
            member(leader, leader_server.host, leader_server.port, role="primary"),
            member(other, other_server.host, other_server.port),
        )
        formation.sync()
        assert formation.wait_idle()
        assert formation.group_rows(1) == promoted
    assert not formation.handler.worker.state.promoted


def test_watch_is_switched_off_in_the_citus_section(citus: CitusTestServer) -> None:
    on = make_formation(citus, watch_promotions=True)
    off = make_formation(citus, watch_promotions=True, section={"watch_promotions": False})
    try:
        assert on.handler.worker.watches_promotions
        assert not off.handler.worker.watches_promotions
    finally:
        on.close()
        off.close()


def test_watch_never_offers_its_password_in_cleartext_or_md5() -> None:
    local = {"user": "postgres", "password": "pw", "sslmode": "prefer", "host": "/tmp", "port": 5432}
    params = watch_params(local, "10.0.0.9", 5433, "citus", libpq=180000)
    assert params["require_auth"] == REQUIRE_AUTH == "!password,!md5"
    assert (params["host"], params["port"], params["dbname"]) == ("10.0.0.9", 5433, "citus")
    assert params["password"] == "pw" and params["sslmode"] == "prefer"
    # a libpq without require_auth (before 16) gets no password at all
    old = watch_params({**local, "passfile": "/p"}, "10.0.0.9", 5433, "citus", libpq=150008)
    assert "password" not in old and "passfile" not in old and "require_auth" not in old
    # without a secret there is nothing to protect
    assert "require_auth" not in watch_params({"user": "postgres"}, "h", 1, "citus", libpq=180000)


def test_watch_logs_in_with_scram() -> None:
    server = PostgresServer(password="pw")
    try:
        server.start()
        params = watch_params({"user": "postgres", "password": "pw"}, server.host, server.port, "postgres")
        with psycopg.connect(**params) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.cleanup()


@pytest.mark.parametrize(
    ("method", "refusal"),
    [("password", "server requested a cleartext password"), ("md5", "server requested a hashed password")],
)
def test_watch_refuses_a_server_asking_for_the_password(method: str, refusal: str) -> None:
    """A server (or an impostor at the DCS address) that asks for cleartext or md5 gets nothing."""
    server = PostgresServer(password="pw")
    try:
        server.start()
        with server.connect() as conn:  # one session: the helper logs in with SCRAM until the reload
            if method == "md5":
                conn.execute("SET password_encryption = 'md5'")
                conn.execute("ALTER ROLE postgres PASSWORD 'pw'")
            hba = server.datadir / "pg_hba.conf"
            hba.write_text(f"host all all 127.0.0.1/32 {method}\n" + hba.read_text())
            conn.execute("SELECT pg_catalog.pg_reload_conf()")
        params = watch_params({"user": "postgres", "password": "pw"}, server.host, server.port, "postgres")
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(**params)
        assert refusal in str(refused.value)
        # without require_auth the same server would have been given the password
        plain = {k: v for k, v in params.items() if k != "require_auth"}
        with psycopg.connect(**plain) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.cleanup()
