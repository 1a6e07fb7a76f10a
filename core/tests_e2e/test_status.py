"""Engine status (``GET /mpp``) and metrics (``GET /metrics``) on real Patroni nodes, through a switchover.

Formation ``status``: coordinator ``s0`` (group 0) and worker group 1 (``s1``, ``s2``) running the probe
engine, whose ``mpp_status`` and ``mpp_metrics`` report the events it handled; the REST API requires basic
auth for writes. A plain node ``n1`` (no engine section: the Null engine) shows what every engine reports.
While the worker group switches over, a thread reads both endpoints of every member again and again; every
answer must be complete, parseable and free of the passwords the nodes know.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from patroni_mpp.testing.formation import (
    CLUSTER_POLL_INTERVAL,
    Formation,
    leader_of,
    wait_leader,
    wait_streaming,
)
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for
from prometheus_client.parser import text_string_to_metric_families

SCOPE = "status"
SECTION = "e2eprobe"


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    return {"username": "status", "password": "Rest-" + secrets.token_hex(8)}


@pytest.fixture(scope="module")
def nodes(
    module_formation: Formation, node_python: str, probe_path: Path, base_dir: Path, auth: dict[str, str]
) -> dict[str, PatroniNode]:
    records = base_dir / "status-records"
    records.mkdir()
    records.chmod(0o777)

    def options(group: int) -> NodeOptions:
        extra: dict[str, Any] = {
            SECTION: {"group": group, "record_dir": str(records)},
            "restapi": {"authentication": auth},
            "ctl": {"authentication": auth},
            "bootstrap": {"dcs": {"synchronous_mode": False}},
        }
        return NodeOptions(python=node_python, extra_config=extra, env={"PYTHONPATH": str(probe_path)})

    made = {
        "s0": module_formation.add("s0", SCOPE, options(0)),
        "s1": module_formation.add("s1", SCOPE, options(1)),
        "s2": module_formation.add("s2", SCOPE, options(1)),
        "n1": module_formation.add("n1", "statusnull", NodeOptions(python=node_python)),
    }
    for name in ("s0", "s1", "n1"):
        made[name].start()
    wait_leader([made["s0"]])
    wait_leader([made["s1"]])
    made["s2"].start()
    wait_streaming([made["s1"], made["s2"]], 1)
    wait_leader([made["n1"]])
    return made


def _secrets(nodes: dict[str, PatroniNode], auth: dict[str, str]) -> list[str]:
    return [auth["password"], *(node.superuser_password for node in nodes.values())]


def _status(node: PatroniNode) -> dict[str, Any]:
    code, body = node.api("mpp")
    assert code == 200, body
    assert isinstance(body, dict)
    return body


def _metrics(node: PatroniNode) -> dict[str, Any]:
    """``GET /metrics`` parsed by prometheus_client's parser: family name -> family."""
    code, body = node.api("metrics")
    assert code == 200, body
    assert isinstance(body, str)
    return {family.name: family for family in text_string_to_metric_families(body)}


def _event_count(families: dict[str, Any], member: str, kind: str) -> float:
    family = families.get(f"patroni_mpp_{SECTION}_events")
    if family is None:
        return 0
    return sum(
        float(s.value)
        for s in family.samples
        if s.name.endswith("_total") and s.labels == {"type": kind, "scope": SCOPE, "name": member}
    )


def _installed_version(distribution: str, site: Path) -> str:
    """The version of ``distribution`` as installed in directory ``site``."""
    return next(iter(metadata.distributions(name=distribution, path=[str(site)]))).version


def test_every_engine_reports_its_identity(nodes: dict[str, PatroniNode], probe_path: Path) -> None:
    plain = _status(nodes["n1"])
    assert {k: plain[k] for k in ("engine", "type", "distribution", "role", "member", "scope")} == {
        "engine": "null", "type": "Null", "distribution": "patroni-mpp-null", "role": "disabled",
        "member": "n1", "scope": "statusnull",
    }  # fmt: skip
    assert plain["version"] and "status" not in plain
    info = _metrics(nodes["n1"])["patroni_mpp_engine_info"].samples
    assert [s.labels["engine"] for s in info] == ["null"]
    assert info[0].labels["name"] == "n1"
    probe = _status(nodes["s0"])
    assert (probe["engine"], probe["distribution"], probe["version"]) == (
        SECTION,
        "patroni-mpp-e2eprobe",
        _installed_version("patroni-mpp-e2eprobe", probe_path),
    )
    assert (probe["group"], probe["role"]) == (0, "coordinator")
    assert (_status(nodes["s1"])["group"], _status(nodes["s1"])["role"]) == (1, "worker")


class Reader(threading.Thread):
    """Reads ``GET /mpp`` and ``GET /metrics`` of every member until stopped; keeps every answer."""

    def __init__(self, nodes: list[PatroniNode]) -> None:
        super().__init__(name="status-reader", daemon=True)
        self.nodes = nodes
        self.answers: list[tuple[str, str, int, Any]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for node in self.nodes:
                for path in ("mpp", "metrics"):
                    try:
                        code, body = node.api(path)
                    except OSError as exc:  # a node restarting its REST API: recorded, not a failure here
                        code, body = -1, str(exc)
                    self.answers.append((node.name, path, code, body))


@pytest.fixture
def reader(nodes: dict[str, PatroniNode]) -> Iterator[Reader]:
    thread = Reader([nodes["s0"], nodes["s1"], nodes["s2"]])
    thread.start()
    yield thread
    thread.stopping.set()
    thread.join(timeout=30)


def test_status_and_metrics_through_a_worker_switchover(
    nodes: dict[str, PatroniNode], reader: Reader, ctl: Callable[..., Any], probe_path: Path,
    auth: dict[str, str],
) -> None:  # fmt: skip
    s0, s1, s2 = nodes["s0"], nodes["s1"], nodes["s2"]
    before = _metrics(s0)
    demotes_before = _event_count(before, "s0", "before_demote")
    promotes_before = _status(s0)["status"]["events"].get("after_promote", 0)
    result = ctl(s0.config_path, "switchover", SCOPE, "--group", "1", "--leader", "s1", "--candidate", "s2",
                 "--force", env={"PYTHONPATH": str(probe_path)})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(
        lambda: leader_of([s1, s2]) is s2,
        timeout=120,
        interval=CLUSTER_POLL_INTERVAL,
        what="s2 to lead group 1",
    )
    # The coordinator handled the worker's events: its status and its metrics both say so.
    wait_for(
        lambda: _status(s0)["status"]["events"].get("after_promote", 0) > promotes_before, timeout=120,
        interval=CLUSTER_POLL_INTERVAL, what="the after_promote of s2 on the coordinator",
    )  # fmt: skip
    reader.stopping.set()
    reader.join(timeout=30)
    status = _status(s0)["status"]
    after = _metrics(s0)
    assert status["events"].get("before_demote", 0) >= 1
    assert _event_count(after, "s0", "before_demote") > demotes_before
    assert _event_count(after, "s0", "after_promote") >= status["events"]["after_promote"]
    # What the reader saw during the switchover: complete answers, no password.
    answered = [(name, path, body) for name, path, code, body in reader.answers if code == 200]
    assert {(name, path) for name, path, _ in answered} == {
        (n, p) for n in ("s0", "s1", "s2") for p in ("mpp", "metrics")
    }
    for name, path, body in answered:
        text = json.dumps(body) if path == "mpp" else body
        for secret in _secrets(nodes, auth):
            assert secret not in text, (name, path)
        if path == "mpp":
            assert body["engine"] == SECTION and body["member"] == name
        else:
            families = {f.name for f in text_string_to_metric_families(body)}
            assert {"patroni_primary", "patroni_mpp_engine_info", "patroni_mpp_engine_metrics_up"} <= families
    assert all(code in (200, -1) for _, _, code, _ in reader.answers)


def test_ctl_mpp_status_shows_every_member(
    nodes: dict[str, PatroniNode], ctl: Callable[..., Any], probe_path: Path, auth: dict[str, str]
) -> None:
    env = {"PYTHONPATH": str(probe_path)}
    shown = ctl(nodes["s0"].config_path, "mpp-status", "-f", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [(r["group"], r["member"]) for r in rows] == [(0, "s0"), (1, "s1"), (1, "s2")]
    assert all(r["engine"] == SECTION and "marker" in r["status"] for r in rows)
    pretty = ctl(nodes["s0"].config_path, "mpp-status", env=env)
    assert pretty.returncode == 0, pretty.stderr
    assert " E2eprobe cluster: status " in pretty.stdout
    for secret in _secrets(nodes, auth):
        assert secret not in shown.stdout + pretty.stdout
    one = ctl(nodes["s0"].config_path, "mpp-status", "--group", "1", "-f", "json", env=env)
    assert [r["member"] for r in json.loads(one.stdout)] == ["s1", "s2"]
    plain = ctl(nodes["n1"].config_path, "mpp-status", "-f", "yaml")
    assert plain.returncode == 0, plain.stderr
    [row] = yaml.safe_load(plain.stdout)
    assert (row["engine"], row["member"], row["group"]) == ("null", "n1", None)


def test_ctl_titles_name_the_engine(
    nodes: dict[str, PatroniNode], ctl: Callable[..., Any], probe_path: Path
) -> None:
    env = {"PYTHONPATH": str(probe_path)}
    listing = ctl(nodes["s0"].config_path, "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert " E2eprobe cluster: status " in listing.stdout
    assert "Citus" not in listing.stdout
    helped = ctl(nodes["s0"].config_path, "list", "--help", env=env)
    assert "E2eprobe group" in helped.stdout and "Citus" not in helped.stdout
    plain = ctl(nodes["n1"].config_path, "list")
    assert " Cluster: statusnull " in plain.stdout
