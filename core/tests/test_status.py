"""The engine status of ``GET /mpp``: identity for every engine, the ``mpp_status`` answer made JSON-able."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

from patroni_mpp import AbstractMPPHandler, get_mpp, load_engine
from patroni_mpp.bridge._observe import Observed, observe
from patroni_mpp.bridge._status import MAX_DEPTH, MAX_ITEMS, build_status, jsonable
from patroni_mpp.testing.distributions import FakeDists
from patroni_mpp.testing.host import LocalPostgresql

SECTION = "watch"
CONFIG = {SECTION: {"group": 1, "database": "db"}}


def _observed(section: str, config: dict[str, Any], postgresql: LocalPostgresql) -> Observed:
    handler = get_mpp(config).get_handler_impl(postgresql)
    return Observed(load_engine(section), handler, scope="demo", member=postgresql.name)


def test_null_engine_reports_its_identity(postgresql: LocalPostgresql) -> None:
    document = build_status(_observed("null", {}, postgresql))
    assert document == {
        "engine": "null",
        "type": "Null",
        "distribution": "patroni-mpp-null",
        "version": metadata.version("patroni-mpp-null"),
        "core_version": metadata.version("patroni-mpp"),
        "group": None,
        "role": "disabled",
        "scope": "demo",
        "member": "node1",
    }


def test_engine_without_the_hook_reports_its_identity(
    installed_dists: FakeDists, postgresql: LocalPostgresql
) -> None:
    installed_dists.engine("plain", version="3.1")
    document = build_status(_observed("plain", {"plain": {"group": 0, "database": "db"}}, postgresql))
    assert document["engine"] == "plain"
    assert document["distribution"] == "plain-engine"
    assert document["version"] == "3.1"
    assert document["role"] == "coordinator"
    assert document["group"] == 0
    assert "status" not in document
    assert "status_error" not in document


def test_engine_status_is_made_json_able(watch: ModuleType, postgresql: LocalPostgresql) -> None:
    document = build_status(_observed(SECTION, CONFIG, postgresql))
    assert document["role"] == "worker"
    assert document["status"] == {
        "group": 1,
        "queue": {"1": ["before_demote"], "2": []},
        "when": "2026-01-02T03:04:05+00:00",
        "colour": "green",
        "tags": ["b"],
        "ratio": "nan",
        "other": "opaque-object",
    }
    assert json.loads(json.dumps(document, allow_nan=False)) == document


def test_failing_status_hook_gives_a_masked_error(watch: ModuleType) -> None:
    watch.BEHAVIOUR["status"] = "raise"
    postgresql = LocalPostgresql("node1", "127.0.0.1", 5432, password="Pg-Secret-Pass")
    handler = get_mpp(CONFIG).get_handler_impl(postgresql)
    observed = observe(_Daemon(CONFIG, _Host(handler, "node1", "demo")))
    document = build_status(observed)
    assert document["engine"] == SECTION
    assert "status" not in document
    assert document["status_error"] == "hook mpp_status raised RuntimeError: status failed for ******"


def test_status_that_is_no_mapping_is_an_error(watch: ModuleType, postgresql: LocalPostgresql) -> None:
    watch.BEHAVIOUR["status"] = "list"
    document = build_status(_observed(SECTION, CONFIG, postgresql))
    assert document["status_error"] == "hook mpp_status answered list, not a mapping"


def test_jsonable_cuts_deep_and_long_values() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    cut = jsonable(deep)
    for _ in range(MAX_DEPTH):
        cut = cut[0]
    assert cut == "..."
    long = jsonable(list(range(MAX_ITEMS + 3)))
    assert long[-1] == "... 3 more items"
    assert len(long) == MAX_ITEMS + 1
    assert jsonable({"t": datetime.time(1, 2)}, str.upper) == {"T": "01:02:00"}


@dataclass
class _Host:
    mpp_handler: AbstractMPPHandler
    name: str
    scope: str


@dataclass
class _Daemon:
    """The two attributes of Patroni's daemon object that the observation endpoints read."""

    config: dict[str, Any]
    postgresql: _Host


def test_observe_reads_the_daemon(watch: ModuleType, postgresql: LocalPostgresql) -> None:
    handler = get_mpp(CONFIG).get_handler_impl(postgresql)
    config = {**CONFIG, "restapi": {"authentication": {"username": "u", "password": "Rest-Pass-77"}}}
    observed = observe(_Daemon(config, _Host(handler, "node1", "demo")))
    assert observed.plugin.name == SECTION
    assert observed.handler is handler
    assert (observed.scope, observed.member) == ("demo", "node1")
    assert "Rest-Pass-77" in observed.secrets
    assert observed.mask("x Rest-Pass-77 y") == "x ****** y"


def test_observe_without_a_section_is_the_null_engine(postgresql: LocalPostgresql) -> None:
    handler = get_mpp({}).get_handler_impl(postgresql)
    observed = observe(_Daemon({"scope": "demo"}, _Host(handler, "node1", "demo")))
    assert observed.plugin.name == "null"
