"""Broken engines the identity checks, the coordinator mark and the expected answers must catch.

Every engine here is :data:`~.kit_engines.GOOD_ENGINE` with one thing broken, by module code appended
to it (so that it does not depend on how the good engine spells its methods).
"""

from __future__ import annotations

from typing import Any

import pytest
from patroni_mpp import AbstractMPP, LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.conformance import Coordinator
from patroni_mpp.testing.host import LocalPostgresql, cluster, member

from .kit_engines import GOOD_ENGINE, VALID, EngineInstaller, handler_of


def build(engines: EngineInstaller, code: str, config: Any = VALID[0]) -> AbstractMPP:
    """The descriptor of GOOD_ENGINE with ``code`` appended, built from ``config``."""
    return engines.load(GOOD_ENGINE + "\n" + code + "\n").create(config)


# -- type and label against the section ------------------------------------------------------


def test_good_engine_fits_its_section(good: LoadedEngine) -> None:
    for config in VALID:
        checks.check_type_fits_section(good.create(config), good.name)


def test_type_citus_on_another_section(engines: EngineInstaller) -> None:
    loaded = engines.load(
        GOOD_ENGINE.replace("class Kit(AbstractMPP):", "class Citus(AbstractMPP):").replace(
            "class KitHandler(Kit,", "Kit = Citus\n\n\nclass KitHandler(Kit,"
        )
    )
    engine = loaded.create(VALID[1])
    assert engine.type == "Citus"
    message = (
        rf"type is 'Citus' but the engine serves the section '{loaded.name}': Patroni's workers post "
        r"their events to the coordinator's /citus endpoint"
    )
    with pytest.raises(AssertionError, match=message):
        checks.check_type_fits_section(engine, loaded.name)


def test_citus_section_with_another_type(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match=r"serves Patroni's 'citus' section but its type is 'Kit'"):
        checks.check_type_fits_section(good.create(VALID[0]), "citus")


def test_label_not_derived_from_type(engines: EngineInstaller) -> None:
    engine = build(engines, "Kit.k8s_group_label = property(lambda self: 'group')")
    with pytest.raises(AssertionError, match=r"k8s_group_label is 'group', not 'kit-group'"):
        checks.check_type_fits_section(engine, "kit")


# -- the coordinator mark --------------------------------------------------------------------


def test_coordinator_is_a_marked_dict() -> None:
    marked = Coordinator({"database": "app"})
    assert marked == {"database": "app"}
    assert repr(marked) == "Coordinator({'database': 'app'})"


def test_good_engine_marks(good: LoadedEngine) -> None:
    checks.check_coordinator_mark(good.create(Coordinator(VALID[0])), True)
    checks.check_coordinator_mark(good.create(VALID[1]), False)


def test_coordinator_group_one_with_sample_group_zero(engines: EngineInstaller) -> None:
    engine = build(engines, "Kit.coordinator_group_id = property(lambda self: 1)", Coordinator(VALID[0]))
    message = (
        r"the sample marked Coordinator\(\.\.\.\) is not the coordinator: is_coordinator\(\) is False, "
        r"group 0, coordinator_group_id 1\. Patroni would treat this cluster as a worker"
    )
    with pytest.raises(AssertionError, match=message):
        checks.check_coordinator_mark(engine, True)


def test_unmarked_sample_giving_the_coordinator(engines: EngineInstaller) -> None:
    engine = build(engines, "Kit.coordinator_group_id = property(lambda self: 2)", VALID[1])
    with pytest.raises(AssertionError, match=r"not marked Coordinator\(\.\.\.\) gives the coordinator"):
        checks.check_coordinator_mark(engine, False)


# -- what check_identity already checked, one broken engine each -------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("Kit.type = property(lambda self: '')", r"type '' must be the engine's class name"),
        ("Kit.type = property(lambda self: 'AbstractKit')", r"type 'AbstractKit' must be the engine's"),
        ("Kit.k8s_group_label = property(lambda self: 'kit group')", r"'kit group' is not a valid Kube"),
        ("Kit.is_enabled = lambda self: len(self.config)", r"is_enabled\(\) returned 2, not a bool"),
        (
            "Kit.is_coordinator = lambda self: self.is_enabled() and self.group == 2",
            r"is_coordinator\(\) is True but group 2 vs coordinator group 0 says otherwise",
        ),
        (
            "Kit.coordinator_group_id = property(lambda self: '0')",
            r"coordinator_group_id of an enabled engine must be an int .*got '0'",
        ),
    ],
)
def test_identity_broken(engines: EngineInstaller, code: str, message: str) -> None:
    engine = build(engines, code, VALID[1])
    with pytest.raises(AssertionError, match=message):
        checks.check_identity(engine)


def test_disabled_engine_claiming_the_coordinator(engines: EngineInstaller) -> None:
    loaded = engines.load(GOOD_ENGINE + "\nKit.is_coordinator = lambda self: True\n")
    with pytest.raises(AssertionError, match="a disabled engine must be neither coordinator nor worker"):
        checks.check_identity(loaded.engine_class({}))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "KitHandler.coordinator_group_id = property(lambda self: 5)",
            r"handler.coordinator_group_id is 5 but the descriptor's is 0",
        ),
        (
            "KitHandler.config = property(lambda self: dict(self._config, mode=1))",
            r"handler.config is \{.*'mode': 1\} but the descriptor's",
        ),
        (
            "KitHandler.is_enabled = lambda self: False",
            r"handler.is_enabled\(\) differs from the descriptor's",
        ),
        (
            "KitHandler.postgresql = property(lambda self: None)",
            "handler.postgresql is not the host object the handler was built for",
        ),
    ],
)
def test_handler_identity_broken(
    engines: EngineInstaller, offline: LocalPostgresql, code: str, message: str
) -> None:
    engine = build(engines, code, VALID[1])
    handler = engine.get_handler_impl(offline)
    with pytest.raises(AssertionError, match=message):
        checks.check_handler_identity(engine, handler, offline)


# -- expected slot and event answers ----------------------------------------------------------


def own_slot(name: str) -> dict[str, Any]:
    """A logical slot of the kit engine's own decoding plugin (named like the engine)."""
    return {"type": "logical", "plugin": name, "database": "app"}


def test_good_engine_gives_the_expected_answers(good: LoadedEngine, offline: LocalPostgresql) -> None:
    handler = handler_of(good, VALID[1], offline)
    assert checks.check_slot_answers(handler, [(own_slot(good.name), True), ({}, False)]) == 2
    view = cluster(member("node1", "127.0.0.1", 1, role="primary"))
    event = {"type": "after_promote", "group": 3, "leader": "w", "timeout": 30, "cooldown": 10}
    assert checks.check_event_answers(handler, view, [(event, None)]) == 1


def test_wrong_slot_answer(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    loaded = engines.load(GOOD_ENGINE + "\nKitHandler.ignore_replication_slot = lambda self, slot: False\n")
    handler = handler_of(loaded, VALID[1], offline)
    message = (
        r"ignore_replication_slot\(\{'type': 'logical', .*\}\) answered False, slot_samples expect "
        r"True: the host would drop a slot the engine needs"
    )
    with pytest.raises(AssertionError, match=message):
        checks.check_slot_answers(handler, [({}, False), (own_slot(loaded.name), True)])
    with pytest.raises(AssertionError, match=r"is not a .slot dict, expected bool. pair"):
        checks.check_slot_answers(handler, [(("not", "a dict"), True)])  # type: ignore[list-item]


def events_handled_by(engines: EngineInstaller, offline: LocalPostgresql, body: str) -> Any:
    """The worker handler of GOOD_ENGINE whose handle_event(cluster, event) runs ``body``."""
    code = f"\ndef _handle(self, cluster, event):\n    {body}\n\nKitHandler.handle_event = _handle\n"
    return handler_of(engines.load(GOOD_ENGINE + code), VALID[1], offline)


MALFORMED = {"type": "before_demote", "group": "x"}
VIEW = cluster(member("node1", "127.0.0.1", 1, role="primary"))


def test_malformed_event_not_rejected(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    handler = events_handled_by(engines, offline, "return None")
    view = VIEW
    message = r"returned None; event_samples expect it to raise ValueError: a malformed event .* 200"
    with pytest.raises(AssertionError, match=message):
        checks.check_event_answers(handler, view, [(MALFORMED, ValueError)])


def test_malformed_event_rejected_with_the_wrong_error(
    engines: EngineInstaller, offline: LocalPostgresql
) -> None:
    handler = events_handled_by(engines, offline, "int(event['timeout'])")
    message = r"raised KeyError: 'timeout'; event_samples expect it to raise ValueError \(the launcher"
    with pytest.raises(AssertionError, match=message):
        checks.check_event_answers(handler, VIEW, [(MALFORMED, ValueError)])


def test_good_event_rejected(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    handler = events_handled_by(engines, offline, "raise ValueError('no such group')")
    with pytest.raises(
        AssertionError, match="raised ValueError: no such group; event_samples expect it to return None"
    ):
        checks.check_event_answers(handler, VIEW, [({"type": "after_promote", "group": 1}, None)])
    assert checks.check_event_answers(handler, VIEW, [(MALFORMED, ValueError)]) == 1


def test_event_rejected_without_message(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    handler = events_handled_by(engines, offline, "raise ValueError()")
    with pytest.raises(AssertionError, match="raised ValueError without a message"):
        checks.check_event_answers(handler, VIEW, [(MALFORMED, ValueError)])
    with pytest.raises(AssertionError, match=r"is not an .event, None or exception class. pair"):
        checks.check_event_answers(handler, VIEW, [(MALFORMED, "ValueError")])  # type: ignore[list-item]
