"""Secrets never leave through the engine status (``GET /mpp``) or the engine metrics (``GET /metrics``).

The probes are the secret suite's (:mod:`patroni_mpp.testing.secret_probes`): passwords in the DCS URL,
the REST API authentication, the superuser settings and a password-named key. The node runs the real
Citus handler of a formation whose superuser has a password. Two engines are observed on it: the
Citus engine as installed (its identity, and its status and metrics after a reconciliation and with an event's
transaction open), and a hostile plugin whose status, metrics and errors repeat every secret it
can reach. Neither the documents, the exposition text nor any log record may hold one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest
from patroni_mpp import EngineSource, LoadedEngine, hookimpl, hookspecs
from patroni_mpp.bridge._metrics import render_metrics
from patroni_mpp.bridge._observe import Observed, observe
from patroni_mpp.bridge._status import build_status
from patroni_mpp.testing.logs import LogRecorder
from patroni_mpp.testing.secret_probes import (
    EXTRA_PASSWORD,
    REST_PASSWORD,
    SUPERUSER_PASSWORD,
    URL_PASSWORD,
    assert_no_secret,
)
from patroni_mpp.testing.secret_probes import patroni_config as secret_patroni_config
from patroni_mpp_citus import Citus
from patroni_mpp_citus.testing.formation import Formation, formation_of, two_node_group
from patroni_mpp_citus.testing.server import CitusTestServer
from prometheus_client.metrics_core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families


class Hostile:
    """Hook implementations that put every secret they can reach into what they answer."""

    def __init__(self) -> None:
        self.fail = False

    def _leaks(self, handler: Any) -> dict[str, Any]:
        return {
            "config": handler.config,
            "conn_kwargs": handler.postgresql.connection_pool.conn_kwargs,
            "dsn": f"host=h password={EXTRA_PASSWORD} dbname=x",
            "url": f"postgres://admin:{URL_PASSWORD}@h:5432/db",
            "known": [REST_PASSWORD, SUPERUSER_PASSWORD, {EXTRA_PASSWORD: "as a key"}],
        }

    @hookimpl
    def mpp_engine_class(self, name: str) -> type[Citus]:
        return Citus

    @hookimpl
    def mpp_status(self, handler: Any) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError(f"status broke: {json.dumps(self._leaks(handler), default=str)}")
        return self._leaks(handler)

    @hookimpl
    def mpp_metrics(self, handler: Any) -> list[Any]:
        if self.fail:
            raise RuntimeError(f"metrics broke near {REST_PASSWORD} and {URL_PASSWORD}")
        family = CounterMetricFamily(
            "patroni_mpp_hostile_events",
            f"Events; the password is {SUPERUSER_PASSWORD}",
            labels=["secret", "url"],
        )
        family.add_metric([REST_PASSWORD, f"postgres://u:{URL_PASSWORD}@h/db"], 1)
        family.add_metric([EXTRA_PASSWORD, "x"], 2)
        return [family]


@pytest.fixture
def formation(citus: CitusTestServer) -> Iterator[Formation]:
    with formation_of(citus, password=SUPERUSER_PASSWORD) as made:
        yield made


@pytest.fixture
def node(formation: Formation) -> Observed:
    """The formation's node as the REST API sees it, with the secret suite's configuration."""
    section = {"group": 0, "database": formation.handler.config["database"]}
    config = secret_patroni_config(section)
    config["citus"]["superuser_password"] = EXTRA_PASSWORD  # a password-named key the engine rejects
    host = SimpleNamespace(mpp_handler=formation.handler, name="n1", scope="demo")
    observed = observe(SimpleNamespace(config=config, postgresql=host))
    assert observed.plugin.name == "citus"
    return observed


def _hostile(node: Observed, hooks: Hostile) -> Observed:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(hooks, name="hostile")
    source = EngineSource("patroni-mpp-hostile", "6.6.6", "hostile")
    return dataclasses.replace(node, plugin=LoadedEngine("citus", source, hooks, manager))  # type: ignore[arg-type]


def _texts(observed: Observed) -> list[str]:
    status = json.dumps(build_status(observed))
    metrics = render_metrics(observed)
    list(text_string_to_metric_families(metrics))  # still valid exposition text after masking
    return [status, metrics]


def test_citus_engine_status_and_metrics_hold_no_secret(node: Observed, record_logs: LogRecorder) -> None:
    status, metrics = _texts(node)
    assert json.loads(status)["distribution"] == "patroni-mpp-citus"
    assert "patroni_mpp_engine_info" in metrics
    assert_no_secret([status, metrics, record_logs.all_text()])


def test_citus_engine_status_after_events_holds_no_secret(
    formation: Formation, node: Observed, record_logs: LogRecorder
) -> None:
    two_node_group(formation)
    formation.event("before_demote", 1, "n1")  # the transaction stays open while the documents are read
    status, metrics = _texts(node)
    part = json.loads(status)["status"]["databases"][formation.handler.config["database"]]
    assert part["transaction"]["group"] == 1
    assert part["last_reconciliation"]["outcome"] == "applied"
    assert part["differences"] is not None
    assert "patroni_mpp_citus_events_total" in metrics
    assert "patroni_mpp_citus_client_pause_seconds_bucket" in metrics
    assert_no_secret([status, metrics, record_logs.all_text()])


@pytest.mark.parametrize("fail", [False, True], ids=["answers", "raises"])
def test_hostile_engine_cannot_leak(node: Observed, record_logs: LogRecorder, fail: bool) -> None:
    hooks = Hostile()
    hooks.fail = fail
    status, metrics = _texts(_hostile(node, hooks))
    document = json.loads(status)
    if fail:
        assert "status broke" in document["status_error"]
        assert "patroni_mpp_engine_metrics_up" in metrics
    else:
        assert document["status"]["url"] == "postgres://admin:******@h:5432/db"
        assert document["status"]["dsn"] == "host=h password=****** dbname=x"
        assert "patroni_mpp_hostile_events_total" in metrics
    assert_no_secret([status, metrics, record_logs.all_text()])
