"""Citus end to end: a coordinator and two worker groups of two members through the launcher.

Runs only where the PostgreSQL installation ships the citus extension and the citus engine plugin is
installed; skipped with the reason elsewhere. A client writes through the coordinator during a planned
worker switchover and a worker failover; no acknowledged write may be lost and ``pg_dist_node`` must come
to name every worker group's DCS leader. The timings are measured by ``bench/e2e_citus.py``.

Meanwhile the coordinator's engine status (``GET /mpp``) and metrics (``GET /metrics``) are read again and
again: every answer must parse, carry the Citus engine's part and no superuser password; afterwards the
coordinator leader's counters show the switchover's committed transaction.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from patroni_mpp.testing.formation import Formation, leader_of
from patroni_mpp.testing.patroni_node import NodeOptions
from patroni_mpp_citus.testing import cluster as citus_cluster
from patroni_mpp_citus.testing.cluster_scenario import run_scenario
from prometheus_client.parser import text_string_to_metric_families

COORDINATORS = [citus_cluster.node_name(0, index) for index in range(citus_cluster.MEMBERS_PER_GROUP)]


class CoordinatorReader(threading.Thread):
    """Reads ``GET /mpp`` and ``GET /metrics`` of the coordinator group's members until stopped."""

    def __init__(self, formation: Formation) -> None:
        super().__init__(name="citus-status-reader", daemon=True)
        self.formation = formation
        self.answers: list[tuple[str, str, Any]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            for name in COORDINATORS:
                try:
                    node = self.formation.by_name(name)
                    answers = [(path, *node.api(path)) for path in ("mpp", "metrics")]
                except (KeyError, OSError):  # not built yet, or its REST API is not up
                    continue
                self.answers.extend((name, path, body) for path, code, body in answers if code == 200)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def _samples(text: str, family: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples ``<family>_total`` (or the family's own samples) without the scope/name labels."""
    found: dict[frozenset[tuple[str, str]], float] = {}
    for parsed in text_string_to_metric_families(text):
        if parsed.name != family:
            continue
        for sample in parsed.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {k: v for k, v in sample.labels.items() if k not in ("scope", "name")}
            found[frozenset({"sample": sample.name, **labels}.items())] = float(sample.value)
    return found


def _value(samples: dict[frozenset[tuple[str, str]], float], **labels: str) -> float:
    return samples.get(frozenset(labels.items()), 0.0)


def _check_observations(formation: Formation, reader: CoordinatorReader) -> None:
    secrets = [node.superuser_password for node in formation.nodes]
    assert reader.answers, "no status or metrics answer was read during the scenario"
    for name, path, body in reader.answers:
        assert not any(secret in str(body) for secret in secrets), (name, path)
        if path == "metrics":
            list(text_string_to_metric_families(body))
            continue
        assert body["engine"] == "citus" and body["group"] == 0, body
        assert "status_error" not in body, body
        assert set(body["status"]["databases"]) == {citus_cluster.DATABASE}, body
    leader = leader_of([formation.by_name(name) for name in COORDINATORS])
    assert leader is not None
    code, status = leader.api("mpp")
    assert code == 200, status
    part = status["status"]["databases"][citus_cluster.DATABASE]
    assert status["status"]["metadata"] == "managed"
    assert part["worker"] == "running"
    assert set(part["last_reconciliation"]) == {"at", "group", "outcome", "statements"}, part
    assert isinstance(part["differences"], list), part
    code, text = leader.api("metrics")
    assert code == 200, text
    database = citus_cluster.DATABASE
    events = _samples(text, "patroni_mpp_citus_events")
    sample = "patroni_mpp_citus_events_total"
    assert _value(events, sample=sample, database=database, type="before_demote", outcome="opened") >= 1, (
        events
    )
    assert _value(events, sample=sample, database=database, type="after_promote", outcome="applied") >= 1, (
        events
    )
    transactions = _samples(text, "patroni_mpp_citus_transactions")
    sample = "patroni_mpp_citus_transactions_total"
    assert _value(transactions, sample=sample, database=database, outcome="committed") >= 1, transactions
    pauses = _samples(text, "patroni_mpp_citus_client_pause_seconds")
    count = _value(pauses, sample="patroni_mpp_citus_client_pause_seconds_count", database=database)
    assert count >= 1, pauses
    assert _samples(text, "patroni_mpp_citus_differing_rows"), text
    assert _samples(text, "patroni_mpp_citus_reconciliation_statements"), text


@pytest.mark.scenario
def test_worker_switchover_and_failover_under_load(
    citus_ready: None,
    formation: Formation,
    node_python: str,
    request: pytest.FixtureRequest,
) -> None:
    # counted by scripts/test (record_property would warn under junit_family=xunit2)
    request.node.user_properties.append(("citus", "real"))
    reader = CoordinatorReader(formation)
    reader.start()
    try:
        figures = run_scenario(formation, NodeOptions(python=node_python), node_python)
    finally:
        reader.stop()
    assert figures["lost_acknowledged_writes"] == 0, figures
    assert figures["ok_ops"] > 0, figures
    _check_observations(formation, reader)
