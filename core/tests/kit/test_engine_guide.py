"""docs/engine-guide.md keeps up with the contract: hooks, handler methods, fixtures, overrides."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from patroni_mpp import AbstractMPP, AbstractMPPHandler
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
    ):
        assert hasattr(EngineConformance, name), name
        assert name in guide, name
    assert "Invalid(" in guide


def test_every_suite_test_is_public_and_documented() -> None:
    tests = [name for name in dir(EngineConformance) if name.startswith("test_")]
    assert len(tests) == 21
    for name in tests:
        assert inspect.getdoc(getattr(EngineConformance, name)), name
