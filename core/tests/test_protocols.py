"""The host protocols, satisfied by the small real host objects of patroni_mpp.testing.host."""

from __future__ import annotations

from patroni_mpp import (
    ClusterLike,
    ConnectionPoolLike,
    LeaderLike,
    MemberLike,
    NamedConnectionLike,
    PostgresConfigLike,
    PostgresqlLike,
)
from patroni_mpp.testing import host


def test_member_leader_cluster() -> None:
    leader = host.member("pg1", "127.0.0.1", 5432, role="primary", tags={"noloadbalance": True})
    replica = host.member("pg2", "::1", 5433, state="stopped")
    worker = host.cluster(host.member("w1", "127.0.0.2", 5432, role="primary"))
    cluster = host.cluster(leader, replica, workers={1: worker})
    assert isinstance(leader, MemberLike)
    assert isinstance(cluster.leader, LeaderLike)
    assert isinstance(cluster, ClusterLike)
    assert isinstance(cluster.workers[1], ClusterLike)
    assert cluster.leader_name == "pg1"
    assert leader.conn_url == "postgres://127.0.0.1:5432/postgres"
    assert replica.conn_url == "postgres://[::1]:5433/postgres"
    assert leader.noloadbalance and not replica.noloadbalance
    assert leader.is_running and not replica.is_running
    assert [m.name for m in cluster.members] == ["pg1", "pg2"]


def test_empty_cluster() -> None:
    cluster = host.cluster(None)
    assert cluster.leader is None
    assert cluster.leader_name is None
    assert not cluster
    assert cluster.workers == {}


def test_postgresql_objects() -> None:
    postgresql = host.LocalPostgresql("node1", "127.0.0.1", 5432, password="pw", primary=True)
    assert isinstance(postgresql, PostgresqlLike)
    assert isinstance(postgresql.connection_pool, ConnectionPoolLike)
    assert isinstance(postgresql.config, PostgresConfigLike)
    connection = postgresql.connection_pool.get("citus", {"dbname": "citus"})
    assert isinstance(connection, NamedConnectionLike)
    assert postgresql.connection_pool.get("citus") is connection
    assert connection.params["dbname"] == "citus"
    assert connection.params["application_name"] == "Patroni citus"
    assert postgresql.connection_string == "postgres://127.0.0.1:5432/postgres"
    assert postgresql.connection_pool.conn_kwargs["password"] == "pw"
    assert postgresql.is_primary() is True
    postgresql.close()
