"""The engine base classes: derived identity and handler lookup (host contract 2.3 and 2.4)."""

from __future__ import annotations

from typing import Any

import pytest
from patroni_mpp import AbstractMPP, AbstractMPPHandler, HandlerNotFoundError, MPPError
from patroni_mpp.testing.engines import AbstractMinimalEngine, AbstractMinimalHandler
from patroni_mpp.testing.host import LocalPostgresql


class Shard(AbstractMinimalEngine):
    """A group-based descriptor: group from the config, coordinator group 0."""


class ShardHandler(Shard, AbstractMinimalHandler):
    """Found by convention: a direct subclass named after the descriptor."""


class Orphan(Shard):
    """A descriptor without any handler subclass."""


class Misnamed(Shard):
    """A descriptor whose handler does not follow the naming convention."""


class WorkerForMisnamed(Misnamed, AbstractMinimalHandler):
    """Not a candidate: its name does not start with ``Misnamed``."""


class Mixin:
    """A plain mixin."""


class MixedHandler(Mixin, Shard, AbstractMinimalHandler):
    """The pitfall of 2.4: a mixin listed first becomes the type."""


@pytest.fixture
def postgresql() -> LocalPostgresql:
    return LocalPostgresql("node1", "127.0.0.1", 5432)


def test_type_of_descriptor_is_its_class_name() -> None:
    assert Shard({"group": 1}).type == "Shard"


def test_type_of_handler_comes_from_descriptor(postgresql: LocalPostgresql) -> None:
    handler = ShardHandler(postgresql, {"group": 1})
    assert handler.type == "Shard"
    assert handler.k8s_group_label == "shard-group"


def test_mixin_listed_first_becomes_the_type(postgresql: LocalPostgresql) -> None:
    assert MixedHandler(postgresql, {"group": 1}).type == "Mixin"


def test_k8s_group_label_is_lowercased_type_plus_group() -> None:
    assert Shard({"group": 0}).k8s_group_label == "shard-group"


@pytest.mark.parametrize(
    ("config", "enabled", "coordinator", "worker"),
    [
        ({"group": 0}, True, True, False),
        ({"group": 3}, True, False, True),
        ({}, False, False, False),
    ],
)
def test_roles(config: dict[str, Any], enabled: bool, coordinator: bool, worker: bool) -> None:
    engine = Shard(config)
    assert engine.is_enabled() is enabled
    assert engine.is_coordinator() is coordinator
    assert engine.is_worker() is worker


def test_config_is_kept() -> None:
    config = {"group": 2, "database": "db"}
    assert Shard(config).config is config


def test_handler_found_by_convention(postgresql: LocalPostgresql) -> None:
    handler = Shard({"group": 1}).get_handler_impl(postgresql)
    assert type(handler) is ShardHandler
    assert handler.config == {"group": 1}
    assert handler.postgresql is postgresql
    assert handler.group == 1


def test_missing_handler_raises_patroni_message(postgresql: LocalPostgresql) -> None:
    with pytest.raises(HandlerNotFoundError, match=r"^Failed to initialize OrphanHandler object$"):
        Orphan({"group": 1}).get_handler_impl(postgresql)


def test_misnamed_handler_is_not_a_candidate(postgresql: LocalPostgresql) -> None:
    with pytest.raises(HandlerNotFoundError, match="MisnamedHandler"):
        Misnamed({"group": 1}).get_handler_impl(postgresql)


def test_handler_not_found_is_an_mpp_error() -> None:
    assert issubclass(HandlerNotFoundError, MPPError)


def test_attached_factory_wins_over_convention(postgresql: LocalPostgresql) -> None:
    engine = Orphan({"group": 1})
    built: list[Any] = []

    def factory(descriptor: AbstractMPP, pg: Any) -> AbstractMPPHandler:
        built.append((descriptor, pg))
        return ShardHandler(pg, descriptor.config)

    engine.attach_handler_factory(factory)
    handler = engine.get_handler_impl(postgresql)
    assert type(handler) is ShardHandler
    assert built == [(engine, postgresql)]


def test_factory_answering_none_falls_back_to_convention(postgresql: LocalPostgresql) -> None:
    engine = Shard({"group": 1})
    engine.attach_handler_factory(lambda descriptor, pg: None)
    assert type(engine.get_handler_impl(postgresql)) is ShardHandler


def test_factory_returning_a_non_handler_is_refused(postgresql: LocalPostgresql) -> None:
    engine = Shard({"group": 1})
    engine.attach_handler_factory(lambda descriptor, pg: Shard({}))  # type: ignore[arg-type,return-value]
    with pytest.raises(HandlerNotFoundError, match="not an AbstractMPPHandler"):
        engine.get_handler_impl(postgresql)


def test_abstract_classes_cannot_be_instantiated(postgresql: LocalPostgresql) -> None:
    with pytest.raises(TypeError):
        AbstractMPP({})  # type: ignore[abstract]
    with pytest.raises(TypeError):
        AbstractMPPHandler(postgresql, {})  # type: ignore[abstract]
