"""docs/engine-guide.md keeps up with the contract: hooks, handler methods, fixtures, overrides."""

from __future__ import annotations

import inspect
from importlib import resources
from pathlib import Path

import pytest
from patroni_mpp import AbstractMPP, AbstractMPPHandler
from patroni_mpp._discovery import EMPTY_SECTION
from patroni_mpp.testing import plugin
from patroni_mpp.testing.conformance import EngineConformance
from patroni_mpp.testing.conformance_checks import declared_hooks

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "engine-guide.md"


@pytest.fixture(scope="module")
def guide() -> str:
    if not GUIDE.is_file():
        pytest.skip(f"the guide is not beside these tests ({GUIDE})")
    return GUIDE.read_text()


def test_every_hook_is_described(guide: str) -> None:
    for hook in declared_hooks():
        assert f"`{hook}(" in guide, hook


def test_every_abstract_member_is_described(guide: str) -> None:
    members = AbstractMPP.__abstractmethods__ | AbstractMPPHandler.__abstractmethods__
    for name in sorted(members | {"group_re"}):
        assert f"`{name}" in guide, name


def test_every_plugin_fixture_is_described(guide: str) -> None:
    fixtures = [
        name
        for name, obj in vars(plugin).items()
        # pytest 8.4 marks fixture definitions with _fixture_function_marker, older 8.x with
        # _pytestfixturefunction (the lowest-bounds run uses pytest 8.0)
        if any(
            getattr(obj, marker, None) is not None
            for marker in ("_fixture_function_marker", "_pytestfixturefunction")
        )
    ]
    assert {"postgres_server", "mpp_postgresql", "mpp_cluster"} <= set(fixtures), fixtures
    for name in fixtures:
        assert f"`{name}`" in guide, name


def test_every_override_point_is_described(guide: str) -> None:
    for name in (
        "engine_name",
        "valid_configs",
        "invalid_configs",
        "distribution",
        "group_strings",
        "thread_join_timeout",
        "stop_handler",
        "make_handler",
        "expected_bootstrap_error",
        "unknown_keys",
        "slot_samples",
        "event_samples",
    ):
        assert hasattr(EngineConformance, name), name
        assert name in guide, name
    assert "Invalid(" in guide
    assert "Coordinator(" in guide


def test_every_suite_test_is_public_and_documented() -> None:
    tests = [name for name in dir(EngineConformance) if name.startswith("test_")]
    assert len(tests) == 29
    for name in tests:
        assert inspect.getdoc(getattr(EngineConformance, name)), name


def test_the_empty_section_policy_is_written_once_as_discovery_applies_it(guide: str) -> None:
    assert guide.count("\n#### An empty section\n") == 1
    assert EMPTY_SECTION in guide.replace("\n    ", " ")  # the sample error, as discovery words it
    assert "an empty section means disabled" not in guide.lower()


def test_integers_are_recommended_strict(guide: str) -> None:
    assert "lax) mode for them" not in guide
    assert "StrictInt" in guide
    scaffold = (resources.files("patroni_mpp._scaffold") / "engine.py.tmpl").read_text(encoding="utf-8")
    for line in (
        "StrictInteger = Annotated[int, Strict(), BeforeValidator(_decimal_string_to_int)]",
        '_DECIMAL = re.compile(r"\\s*[-+]?[0-9]+\\s*")',
    ):
        assert line in guide, line
        assert line in scaffold, line


def test_the_handler_constructor_example(guide: str) -> None:
    assert "def __init__(self, postgresql: PostgresqlLike, config: dict[str, Any]) -> None:" in guide
    assert "`postgresql.config` does not exist" in guide
    assert "slot's `name` exists only under `patroni-mpp run`" in guide
