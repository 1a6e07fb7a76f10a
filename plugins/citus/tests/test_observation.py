"""The engine status and metrics after real events, on real PostgreSQL with real (or emulated) Citus.

The status is the ``mpp_status`` hook's answer, the metrics the ``mpp_metrics`` hook's families
written as exposition text and read back with prometheus_client's text parser. Reading either runs
no SQL: the server's statement log shows nothing more per HA cycle.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest
from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus import hooks
from patroni_mpp_citus.testing.formation import Formation, make_formation, node, register
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.server import CitusTestServer
from patroni_mpp_citus.testing.statement_log import StatementLogView
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class _Families:
    """The hook's families in the shape ``generate_latest`` writes."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def metrics(formation: Formation) -> Samples:
    """Every sample of the hook's families, through the exposition text and its parser."""
    families = hooks.mpp_metrics(formation.handler)
    assert families is not None
    text = generate_latest(_Families(families)).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("patroni_mpp_citus_"), family.name
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it is missing), ``database="citus"`` unless given."""
    wanted = frozenset({"database": "citus", **labels}.items())
    return samples.get((name, wanted), 0.0)


def status(formation: Formation, database: str = "citus") -> dict[str, Any]:
    """The hook's status of one database (JSON-able: it goes through ``json.dumps``)."""
    answer = hooks.mpp_status(formation.handler)
    assert answer is not None
    json.dumps(answer, default=str)
    part: dict[str, Any] = answer["databases"][database]
    return part


def two_node_group(formation: Formation) -> None:
    citus = formation.citus
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_rows(
        1, {(*citus.node_address(1), "primary"), (*citus.node_address(2), "secondary")}
    )
    assert formation.wait_idle()


def in_flight(formation: Formation) -> bool:
    state = formation.handler.worker.state
    with state.cond:
        return state.in_flight is not None


def test_identity_and_steady_state(formation: Formation) -> None:
    two_node_group(formation)
    answer = hooks.mpp_status(formation.handler)
    assert answer is not None
    assert {k: answer[k] for k in ("group", "role", "metadata")} == {
        "group": 0,
        "role": "coordinator",
        "metadata": "managed",
    }
    part = answer["databases"]["citus"]
    assert part["worker"] == "running"
    assert part["tasks"] == {}
    assert part["transaction"] is None
    assert part["differences"] == []
    assert part["reload_pending"] is False
    samples = metrics(formation)
    assert sample(samples, "patroni_mpp_citus_differing_rows") == 0
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="committed") == 0
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="rolled_back_at_deadline") == 0
    assert sample(samples, "patroni_mpp_citus_client_pause_seconds_count") == 0
    # an event that asks for the table's state changes nothing
    formation.event("after_promote", 1, "n1")
    samples = metrics(formation)
    assert sample(samples, "patroni_mpp_citus_events_total", type="after_promote", outcome="unchanged") == 1


def test_committed_switchover(formation: Formation) -> None:
    citus = formation.citus
    two_node_group(formation)
    formation.event("before_demote", 1, "n1")
    part = status(formation)
    transaction = part["transaction"]
    assert transaction["group"] == 1
    assert transaction["event"] == "before_demote"
    assert transaction["age"] >= 0
    assert isinstance(transaction["deadline"], datetime)
    formation.set_group(1, node(citus, 2, "n2", role="primary"), node(citus, 1, "n1", state="stopped"))
    formation.event("before_promote", 1, "n2")
    assert wait_for(lambda: status(formation)["transaction"]["event"] == "before_promote")
    formation.event("after_promote", 1, "n2")
    assert formation.wait_idle()
    assert status(formation)["transaction"] is None
    samples = metrics(formation)
    events = "patroni_mpp_citus_events_total"
    assert sample(samples, events, type="before_demote", outcome="opened") == 1
    assert sample(samples, events, type="before_promote", outcome="opened") == 1
    assert sample(samples, events, type="after_promote", outcome="applied") == 1
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="committed") == 1
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="rolled_back_at_deadline") == 0
    assert sample(samples, "patroni_mpp_citus_client_pause_seconds_count") == 1
    assert sample(samples, "patroni_mpp_citus_client_pause_seconds_bucket", le="+Inf") == 1
    # an event of a stranger is discarded
    formation.event("before_demote", 1, "someone-else")
    assert sample(metrics(formation), events, type="before_demote", outcome="discarded") == 1


def test_rollback_at_the_deadline(formation: Formation, caplog: pytest.LogCaptureFixture) -> None:
    two_node_group(formation)
    formation.event("before_demote", 1, "n1", timeout=1)
    assert wait_for(lambda: not in_flight(formation))
    assert status(formation)["transaction"] is None
    samples = metrics(formation)
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="rolled_back_at_deadline") == 1
    assert sample(samples, "patroni_mpp_citus_transactions_total", outcome="committed") == 0
    assert sample(samples, "patroni_mpp_citus_client_pause_seconds_count") == 1
    assert sample(samples, "patroni_mpp_citus_client_pause_seconds_sum") > 0


def test_reconciliation_with_statements(formation: Formation, statement_log: StatementLogView) -> None:
    citus = formation.citus
    two_node_group(formation)
    before = sample(metrics(formation), "patroni_mpp_citus_reconciliation_statements_total")
    mark = statement_log.mark()
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"), node(citus, 3, "n3"))
    formation.sync()
    assert formation.wait_rows(
        1, {(*citus.node_address(i), "primary" if i == 1 else "secondary") for i in (1, 2, 3)}
    )
    assert formation.wait_idle()
    assert ("add", *citus.node_address(3), 1, "secondary") in handler_statements(statement_log, mark)
    sent = len(handler_statements(statement_log, mark, loads=True, bounds=True))
    last = status(formation)["last_reconciliation"]
    assert {k: last[k] for k in ("group", "outcome", "statements")} == {
        "group": 1,
        "outcome": "applied",
        "statements": sent,
    }
    assert isinstance(last["at"], datetime)
    samples = metrics(formation)
    assert sample(samples, "patroni_mpp_citus_reconciliation_statements_total") == before + sent
    assert sample(samples, "patroni_mpp_citus_reconciliation_errors_total") == 0


def test_failed_reconciliation_is_counted(
    formation: Formation, citus: CitusTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    formation.sync()
    assert formation.wait_idle()
    # behind the handler's back, group 2 gets a primary: the cached state is stale, the add fails
    with citus.connect() as conn:
        register(conn, *citus.node_address(7), 2)
    formation.set_group(2, node(citus, 3, "n3", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    assert status(formation)["last_reconciliation"]["outcome"] == "failed"
    assert sample(metrics(formation), "patroni_mpp_citus_reconciliation_errors_total") == 1


def test_row_differing_from_the_dcs_view(
    formation: Formation, citus: CitusTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The DCS names, as a secondary of group 1, an address Citus holds as group 2's primary."""
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    with citus.connect() as conn:
        register(conn, *citus.node_address(2), 2)
    formation.set_group(1, node(citus, 1, "n1", role="primary"), node(citus, 2, "n2"))
    formation.sync()
    assert formation.wait_rows(1, {(*citus.node_address(1), "primary")})
    assert formation.wait_idle()
    host, port = citus.node_address(2)
    assert status(formation)["differences"] == [
        {"group": 1, "host": host, "port": port, "dcs": "secondary", "pg_dist_node": None}
    ]
    assert sample(metrics(formation), "patroni_mpp_citus_differing_rows") == 1


def test_reading_runs_no_sql(formation: Formation, statement_log: StatementLogView) -> None:
    two_node_group(formation)
    formation.event("before_demote", 1, "n1")  # a transaction in flight: the status has most to say
    mark = statement_log.mark()
    statements = formation.handler.worker.store.statements
    for _ in range(5):
        formation.sync()
        status(formation)
        metrics(formation)
    assert formation.handler.worker.store.statements == statements
    assert handler_statements(statement_log, mark, loads=True, bounds=True) == []


def test_status_per_database(citus: CitusTestServer) -> None:
    """Before the first reconciliation (so no connection to the second database, which need not exist)."""
    made = make_formation(citus, databases=["citus", "citus_status"])
    try:
        answer = hooks.mpp_status(made.handler)
        assert answer is not None
        assert list(answer["databases"]) == ["citus", "citus_status"]
        assert answer["metadata"] == "not managed"
        assert all(part["worker"] == "not started" for part in answer["databases"].values())
        assert all(part["differences"] is None for part in answer["databases"].values())
        samples = metrics(made)
        for database in ("citus", "citus_status"):
            assert (
                "patroni_mpp_citus_reconciliation_errors_total",
                frozenset({"database": database}.items()),
            ) in samples
    finally:
        made.close()
