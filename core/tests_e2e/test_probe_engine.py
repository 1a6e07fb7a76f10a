"""An engine from a wheel built by the tests runs inside real Patroni nodes started by the launcher.

Formation: scope ``probe``, coordinator group 0 (``c1``, ``c2``) and worker group 1 (``w1``, whose group
comes from ``PATRONI_E2EPROBE_GROUP``). The REST API requires basic auth; ``ctl.authentication`` lets the
worker's notifications through. The probe handler records every call into ``<record_dir>/<member>.jsonl``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.formation import CLUSTER_POLL_INTERVAL, Formation, wait_leader, wait_streaming
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for

SCOPE = "probe"
MARKER = "probe42"
WORKER_LAG = 7654321  # a distinctive dynamic setting of group 1, to tell its config from group 0's


@pytest.fixture(scope="module")
def records(base_dir: Path) -> Path:
    directory = base_dir / "probe-records"
    directory.mkdir()
    directory.chmod(0o777)
    return directory


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    return {"username": "probe", "password": secrets.token_hex(8)}


@pytest.fixture(scope="module")
def probe_cluster(
    module_formation: Formation, node_python: str, probe_path: Path, records: Path,
    auth: dict[str, str],
) -> dict[str, PatroniNode]:  # fmt: skip
    def options(section: dict[str, Any], env: dict[str, str] | None = None,
                dcs: dict[str, Any] | None = None) -> NodeOptions:  # fmt: skip
        extra: dict[str, Any] = {
            "e2eprobe": {"record_dir": str(records), "marker": MARKER, **section},
            "restapi": {"authentication": auth},
            "ctl": {"authentication": auth},
            "bootstrap": {"dcs": {"synchronous_mode": False, **(dcs or {})}},
        }
        return NodeOptions(
            python=node_python, extra_config=extra,
            env={"PYTHONPATH": str(probe_path), **(env or {})},
        )  # fmt: skip

    c1 = module_formation.add("c1", SCOPE, options({"group": 0}))
    c2 = module_formation.add("c2", SCOPE, options({"group": 0}))
    w1 = module_formation.add(
        "w1", SCOPE,
        options({}, env={"PATRONI_E2EPROBE_GROUP": "1"}, dcs={"maximum_lag_on_failover": WORKER_LAG}),
    )  # fmt: skip
    c1.start()
    wait_leader([c1])
    c2.start()
    w1.start()
    wait_leader([w1])
    return {"c1": c1, "c2": c2, "w1": w1}


def _records(records: Path, member: str) -> list[dict[str, Any]]:
    path = records / f"{member}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _calls(records: Path, member: str, call: str) -> list[dict[str, Any]]:
    return [r for r in _records(records, member) if r["call"] == call]


def _show_marker(node: PatroniNode) -> str:
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        row = conn.execute("SHOW e2eprobe.marker").fetchone()
    assert row is not None
    return str(row[0])


def test_bootstrap_runs_once_per_group(probe_cluster: dict[str, PatroniNode], records: Path) -> None:
    wait_for(
        lambda: all(_calls(records, m, "handler_created") for m in ("c1", "c2", "w1")),
        timeout=120, interval=CLUSTER_POLL_INTERVAL, what="a handler on every member",
    )  # fmt: skip
    assert len(_calls(records, "c1", "bootstrap")) == 1
    assert _calls(records, "c2", "bootstrap") == []  # a replica is cloned, not bootstrapped
    assert [r["group"] for r in _calls(records, "w1", "bootstrap")] == [1]


def test_guc_from_adjust_postgres_gucs_on_every_member(
    probe_cluster: dict[str, PatroniNode], records: Path
) -> None:
    wait_streaming([probe_cluster["c1"], probe_cluster["c2"]], 1)
    for name, node in probe_cluster.items():
        assert _show_marker(node) == MARKER, name
        assert _calls(records, name, "adjust_postgres_gucs")


def test_coordinator_sees_worker_group_and_gets_events(
    probe_cluster: dict[str, PatroniNode], records: Path, etcd: Etcd
) -> None:
    keys = etcd.get_prefix(f"/service/{SCOPE}/")
    assert keys.get(f"/service/{SCOPE}/0/leader") == "c1"
    assert keys.get(f"/service/{SCOPE}/1/leader") == "w1"
    wait_for(
        lambda: any(r["workers"] == {"1": "w1"} for r in _calls(records, "c1", "sync_meta_data")),
        timeout=120, interval=CLUSTER_POLL_INTERVAL, what="sync_meta_data on c1 with worker group 1",
    )  # fmt: skip
    events = wait_for(
        lambda: _calls(records, "c1", "handle_event"),
        timeout=120,
        interval=CLUSTER_POLL_INTERVAL,
        what="an event from the worker",
    )
    event = events[0]["event"]
    assert event["type"] == "after_promote"
    assert event["group"] == 1
    assert event["leader"] == "w1"
    assert events[0]["workers"] == [1]
    # Only the coordinator leader reconciles; a worker leader is never given the formation.
    assert all(r["workers"] == {} for r in _calls(records, "w1", "sync_meta_data"))
    assert _calls(records, "c2", "sync_meta_data") == []


def test_mpp_endpoint_requires_authentication(
    probe_cluster: dict[str, PatroniNode], auth: dict[str, str]
) -> None:
    leader = probe_cluster["c1"]
    body = {"type": "noop", "group": 1, "leader": "w1", "timeout": 1, "cooldown": 1}
    for endpoint in ("mpp", "citus"):
        status, _ = leader.api(endpoint, method="POST", body=body)
        assert status == 401, endpoint
    import base64

    token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
    status, _ = leader.api("mpp", method="POST", body=body, headers={"Authorization": f"Basic {token}"})
    assert status == 200
    # An event the engine rejects with a ValueError is answered 400 with the engine's message, and the
    # endpoint keeps working.
    bad = {**body, "type": "invalid"}
    for endpoint in ("mpp", "citus"):
        status, answer = leader.api(
            endpoint, method="POST", body=bad, headers={"Authorization": f"Basic {token}"}
        )
        assert status == 400, endpoint
        assert "is not an event type" in str(answer)
    status, _ = leader.api("mpp", method="POST", body=body, headers={"Authorization": f"Basic {token}"})
    assert status == 200


def test_slot_dict_carries_its_name(
    probe_cluster: dict[str, PatroniNode], records: Path, ctl: Callable[..., Any], probe_path: Path
) -> None:
    leader = probe_cluster["c1"]
    env = {"PYTHONPATH": str(probe_path)}
    with psycopg.connect(leader.dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('probe_keep')")
    rebuilds = len(_calls(records, "c1", "schedule_cache_rebuild"))
    # Patroni re-reads the existing slots after maintenance mode ends (pause/resume default to the
    # engine section's group, here 0), which also calls schedule_cache_rebuild.
    for command in ("pause", "resume"):
        result = ctl(leader.config_path, command, "--wait", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    seen = wait_for(
        lambda: [
            r for r in _calls(records, "c1", "ignore_replication_slot")
            if r["slot"].get("name") == "probe_keep"
        ],
        timeout=120, interval=CLUSTER_POLL_INTERVAL, what="the slot check of probe_keep",
    )  # fmt: skip
    assert seen[0]["slot"]["type"] == "physical"
    assert len(_calls(records, "c1", "schedule_cache_rebuild")) > rebuilds
    wait_for(
        lambda: len(_calls(records, "c1", "sync_meta_data")) > len(seen) + 3,
        timeout=60,
        interval=CLUSTER_POLL_INTERVAL,
        what="more cycles",
    )
    with psycopg.connect(leader.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'probe_keep'"
        ).fetchone()
    assert row == (1,), "the engine asked to keep the slot"


def test_ctl_group_option_and_default(
    probe_cluster: dict[str, PatroniNode], ctl: Callable[..., Any], base_dir: Path,
    probe_path: Path,
) -> None:  # fmt: skip
    c1 = probe_cluster["c1"]
    env = {"PYTHONPATH": str(probe_path)}
    whole = ctl(c1.config_path, "list", "-f", "json", env=env)
    assert whole.returncode == 0, whole.stderr
    members = {(m["Group"], m["Member"]) for m in json.loads(whole.stdout)}
    assert members == {(0, "c1"), (0, "c2"), (1, "w1")}
    group1 = ctl(c1.config_path, "list", "--group", "1", "-f", "json", env=env)
    assert group1.returncode == 0, group1.stderr
    assert [m["Member"] for m in json.loads(group1.stdout)] == ["w1"]
    # show-config defaults --group to the configured engine section's group.
    worker_view = dict(c1.config, e2eprobe={**c1.config["e2eprobe"], "group": 1})
    worker_config = base_dir / "probe-ctl-group1.yml"
    worker_config.write_text(json.dumps(worker_view))
    shown = ctl(worker_config, "show-config", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"maximum_lag_on_failover: {WORKER_LAG}" in shown.stdout
    shown0 = ctl(c1.config_path, "show-config", env=env)
    assert shown0.returncode == 0, shown0.stderr
    assert str(WORKER_LAG) not in shown0.stdout
