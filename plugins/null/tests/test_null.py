"""The Null engine, found through its real ``null`` entry point."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import patroni_mpp
import patroni_mpp_null
import pytest
from patroni_mpp import AbstractMPPHandler, EngineConfigError, get_mpp, load_engine
from patroni_mpp.testing.host import LocalPostgresql, cluster, member
from patroni_mpp_null import Null, NullConfig, NullHandler


@pytest.fixture
def postgresql() -> LocalPostgresql:
    return LocalPostgresql("node1", "127.0.0.1", 5432)


def test_entry_point_is_installed() -> None:
    (ep,) = metadata.entry_points(group="patroni.mpp", name="null")
    assert ep.value == "patroni_mpp_null"
    assert ep.dist is not None and ep.dist.metadata["Name"] == "patroni-mpp-null"


def test_empty_configuration_gives_null() -> None:
    engine = get_mpp({})
    assert type(engine) is Null
    assert engine.group is None
    assert engine.coordinator_group_id is None
    assert Null.validate_config({}) is True


def test_identity() -> None:
    engine = get_mpp({"scope": "demo"})
    assert engine.type == "Null"
    assert engine.k8s_group_label == "null-group"
    assert engine.is_enabled() is False
    assert engine.is_coordinator() is False
    assert engine.is_worker() is False


def test_handler_does_nothing(postgresql: LocalPostgresql) -> None:
    # Typed Any: the point is to observe at run time that every method answers None.
    handler: Any = get_mpp({}).get_handler_impl(postgresql)
    view = cluster(member("pg1", "127.0.0.1", 5432, role="primary"))
    parameters: dict[str, object] = {"max_connections": 100}
    assert handler.handle_event(view, {"type": "before_demote", "group": 1}) is None
    assert handler.sync_meta_data(view) is None
    assert handler.on_demote() is None
    assert handler.schedule_cache_rebuild() is None
    assert handler.bootstrap() is None
    assert handler.adjust_postgres_gucs({}) is None
    assert handler.adjust_postgres_gucs(parameters) is None
    assert parameters == {"max_connections": 100}
    assert handler.ignore_replication_slot({}) is False
    assert handler.ignore_replication_slot({"type": "logical", "database": "citus"}) is False
    assert handler.type == "Null"
    assert isinstance(handler, AbstractMPPHandler)
    assert type(handler) is NullHandler


def test_handler_by_convention_too(postgresql: LocalPostgresql) -> None:
    assert type(Null({}).get_handler_impl(postgresql)) is NullHandler


def test_null_section_takes_no_settings() -> None:
    assert get_mpp({"null": {}}).config == {}
    with pytest.raises(EngineConfigError, match=r"null\.group: Extra inputs are not permitted"):
        get_mpp({"null": {"group": 0}})


def test_hooks_answer_only_for_null() -> None:
    assert patroni_mpp_null.mpp_engine_class("citus") is None
    assert patroni_mpp_null.mpp_config_model("citus") is None
    assert patroni_mpp_null.mpp_handler(engine=object(), postgresql=None) is None  # type: ignore[arg-type]
    assert patroni_mpp_null.mpp_config_model("null") is NullConfig


def test_listed_as_ok() -> None:
    reports = {r.name: r for r in patroni_mpp.iter_engine_reports()}
    assert reports["null"].ok
    loaded = load_engine("null")
    assert loaded.engine_class is Null
    assert loaded.json_schema()["additionalProperties"] is False
