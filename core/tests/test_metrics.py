"""The engine's part of ``GET /metrics``, read back with prometheus_client's own text parser."""

from __future__ import annotations

import logging
from importlib import metadata
from types import ModuleType
from typing import Any

import pytest
from patroni_mpp import get_mpp, load_engine
from patroni_mpp.bridge._metrics import render_metrics
from patroni_mpp.bridge._observe import Observed
from patroni_mpp.testing.host import ConnectionPool, LocalPostgresql
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

SECTION = "watch"
CONFIG = {SECTION: {"group": 1, "database": "db"}}
HOST = {"scope": "demo", "name": "node1"}


def parse(text: str) -> dict[str, Metric]:
    """Every family of an exposition text, by name (the parser raises on malformed text)."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def values(family: Metric) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(sample name, sorted labels) -> value`` of a family."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def _observed(section: str, config: dict[str, Any], postgresql: LocalPostgresql) -> Observed:
    handler = get_mpp(config).get_handler_impl(postgresql)
    return Observed(
        load_engine(section), handler, scope="demo", member="node1", secrets=frozenset({"Top-Secret"})
    )


def test_null_engine_has_the_info_and_up_metrics(postgresql: LocalPostgresql) -> None:
    families = parse(render_metrics(_observed("null", {}, postgresql)))
    assert sorted(families) == ["patroni_mpp_engine_info", "patroni_mpp_engine_metrics_up"]
    info = dict(HOST, engine="null", type="Null", distribution="patroni-mpp-null")
    info["version"] = metadata.version("patroni-mpp-null")
    assert values(families["patroni_mpp_engine_info"]) == {
        ("patroni_mpp_engine_info", tuple(sorted(info.items()))): 1
    }
    assert values(families["patroni_mpp_engine_metrics_up"]) == {
        ("patroni_mpp_engine_metrics_up", tuple(sorted(HOST.items()))): 1
    }


def test_engine_families_are_appended_with_host_labels(
    watch: ModuleType, postgresql: LocalPostgresql
) -> None:
    watch.EVENTS.labels(type="before_demote", outcome="committed").inc(3)
    watch.PAUSES.observe(0.5)
    watch.PAUSES.observe(4)
    families = parse(render_metrics(_observed(SECTION, CONFIG, postgresql)))
    events = families["patroni_mpp_watch_events"]
    assert events.type == "counter"
    labels = tuple(sorted({**HOST, "type": "before_demote", "outcome": "committed"}.items()))
    assert values(events)[("patroni_mpp_watch_events_total", labels)] == 3
    pauses = values(families["patroni_mpp_watch_pause_seconds"])
    host = tuple(sorted(HOST.items()))
    assert pauses[("patroni_mpp_watch_pause_seconds_count", host)] == 2
    assert pauses[("patroni_mpp_watch_pause_seconds_sum", host)] == 4.5
    assert (
        pauses[("patroni_mpp_watch_pause_seconds_bucket", tuple(sorted({**HOST, "le": "1.0"}.items())))] == 1
    )
    assert "other_thing" not in families  # no patroni_mpp_ prefix: dropped


def test_family_without_the_prefix_is_logged_once(
    watch: ModuleType, postgresql: LocalPostgresql, caplog: pytest.LogCaptureFixture
) -> None:
    observed = _observed(SECTION, CONFIG, postgresql)
    with caplog.at_level(logging.WARNING, logger="patroni_mpp.bridge"):
        render_metrics(observed)
        render_metrics(observed)
    dropped = [r.getMessage() for r in caplog.records if "other_thing" in r.getMessage()]
    assert len(dropped) <= 1  # once per process (an earlier test may have logged it already)


@pytest.mark.parametrize("mode", ["raise", "junk"])
def test_failing_metrics_hook_sets_up_to_zero(
    watch: ModuleType, postgresql: LocalPostgresql, mode: str
) -> None:
    watch.BEHAVIOUR["metrics"] = mode
    families = parse(render_metrics(_observed(SECTION, CONFIG, postgresql)))
    assert sorted(families) == ["patroni_mpp_engine_info", "patroni_mpp_engine_metrics_up"]
    assert list(values(families["patroni_mpp_engine_metrics_up"]).values()) == [0]


class CountingPool(ConnectionPool):
    """A connection pool that counts every named connection asked for."""

    def __init__(self, conn_kwargs: dict[str, Any]) -> None:
        super().__init__(conn_kwargs)
        self.asked = 0

    def get(self, name: str, kwargs_override: dict[str, Any] | None = None) -> Any:
        self.asked += 1
        return super().get(name, kwargs_override)


def test_reading_status_and_metrics_uses_no_connection(watch: ModuleType) -> None:
    from patroni_mpp.bridge._status import build_status

    postgresql = LocalPostgresql("node1", "127.0.0.1", 9)  # nothing listens: a query would fail
    pool = CountingPool(postgresql.connection_pool.conn_kwargs)
    postgresql._pool = pool
    observed = _observed(SECTION, CONFIG, postgresql)
    asked = pool.asked  # building the handler may register its connections
    for _ in range(3):
        render_metrics(observed)
        build_status(observed)
    assert pool.asked == asked


def test_secrets_are_masked_in_help_and_labels(watch: ModuleType, postgresql: LocalPostgresql) -> None:
    watch.EVENTS.labels(type="Top-Secret", outcome="x").inc()
    text = render_metrics(_observed(SECTION, CONFIG, postgresql))
    assert "Top-Secret" not in text
    assert 'type="******"' in text
