"""Discovery rules of the run path, in process, with fake distributions (test_packaging.py repeats the
key ones with real wheels installed by pip)."""

from __future__ import annotations

import logging
from typing import Any

import patroni_mpp
import pytest
from patroni_mpp import (
    EngineConfigError,
    EngineConflictError,
    EngineLoadError,
    EngineNotInstalledError,
    FieldProblem,
    MultipleEnginesError,
    get_mpp,
    load_engine,
)
from patroni_mpp._discovery import EMPTY_SECTION
from patroni_mpp.testing.distributions import FakeDists
from patroni_mpp.testing.engines import engine_source
from patroni_mpp.testing.host import LocalPostgresql

VALID = {"group": 1, "database": "db"}

BROKEN_ON_IMPORT = "raise RuntimeError('plugin exploded at import')\n"

UNDECLARED_HOOK = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_factory(name):
    return None
"""

WRONG_ARGUMENT_NAMES = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(section):
    return None
"""

NOT_AN_ENGINE = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(name):
    return dict
"""

NO_HOOKS = "VALUE = 1\n"

RAISING_HOOK = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(name):
    raise LookupError('no engine today')
"""


def test_null_when_nothing_configured() -> None:
    engine = get_mpp({"scope": "demo", "postgresql": {}})
    assert type(engine).__name__ == "Null"
    assert engine.is_enabled() is False
    assert engine.group is None


def test_configured_engine_is_built(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    engine = get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    assert type(engine).__name__ == "Acme"
    assert engine.config == VALID
    assert engine.group == 1
    assert engine.is_worker()


def test_handler_through_convention(fake_dists: FakeDists, postgresql: LocalPostgresql) -> None:
    fake_dists.engine("acme")
    engine = get_mpp({"acme": {"group": 0, "database": "db"}}, entry_points=fake_dists.entry_points())
    handler = engine.get_handler_impl(postgresql)
    assert type(handler).__name__ == "AcmeHandler"
    assert handler.type == "Acme"
    assert handler.is_coordinator()
    gucs: dict[str, Any] = {}
    handler.adjust_postgres_gucs(gucs)
    assert gucs == {"engine_loaded": "acme"}


def test_handler_hook_wins(fake_dists: FakeDists, postgresql: LocalPostgresql) -> None:
    source = engine_source("acme") + (
        "\n\nclass SpecialHandler(AcmeHandler):\n    pass\n\n"
        "@hookimpl\ndef mpp_handler(engine, postgresql):\n"
        "    if isinstance(engine, Acme):\n"
        "        return SpecialHandler(postgresql, engine.config)\n"
    )
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    engine = get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    assert type(engine.get_handler_impl(postgresql)).__name__ == "SpecialHandler"


def test_only_configured_engines_are_imported(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.engine("other")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    assert fake_dists.imported() == [fake_dists.module("acme")]


def test_unconfigured_broken_plugin_changes_nothing(fake_dists: FakeDists) -> None:
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    fake_dists.add("badhook-engine", {"badhook": "badhook"}, {"badhook": UNDECLARED_HOOK})
    eps = fake_dists.entry_points()
    assert type(get_mpp({}, entry_points=eps)).__name__ == "Null"
    assert fake_dists.imported() == []


def test_configured_broken_plugin_is_named(fake_dists: FakeDists) -> None:
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT}, version="2.5")
    with pytest.raises(EngineLoadError) as info:
        get_mpp({"broken": {}}, entry_points=fake_dists.entry_points())
    message = str(info.value)
    assert "'broken'" in message
    assert "broken-engine 2.5" in message
    assert "RuntimeError: plugin exploded at import" in message
    assert f"patroni-mpp {patroni_mpp.__version__}" in message
    assert info.value.section == "broken"
    assert info.value.source.name == "broken-engine"


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (UNDECLARED_HOOK, "mpp_engine_factory"),
        (WRONG_ARGUMENT_NAMES, "section"),
    ],
    ids=["undeclared-hook", "wrong-argument-names"],
)
def test_hook_contract_broken(fake_dists: FakeDists, source: str, cause: str) -> None:
    fake_dists.add("bad-engine", {"bad": "bad"}, {"bad": source})
    with pytest.raises(EngineLoadError, match="hook contract broken") as info:
        get_mpp({"bad": {}}, entry_points=fake_dists.entry_points())
    assert cause in str(info.value)
    assert "bad-engine 1.0" in str(info.value)


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (NOT_AN_ENGINE, "not a subclass of patroni_mpp.AbstractMPP"),
        (NO_HOOKS, "returned None"),
        (RAISING_HOOK, "hook mpp_engine_class raised LookupError: no engine today"),
    ],
    ids=["not-an-engine", "no-hooks", "raising-hook"],
)
def test_engine_class_hook_misbehaves(fake_dists: FakeDists, source: str, cause: str) -> None:
    fake_dists.add("odd-engine", {"odd": "odd"}, {"odd": source})
    with pytest.raises(EngineLoadError, match=cause):
        get_mpp({"odd": {}}, entry_points=fake_dists.entry_points())


def test_config_model_must_be_pydantic(fake_dists: FakeDists) -> None:
    source = engine_source("acme").replace("return EngineConfig if", "return dict if")
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    with pytest.raises(EngineLoadError, match="not a pydantic BaseModel subclass"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_engine_refusing_its_validated_section(fake_dists: FakeDists) -> None:
    refusing = "\nAcme.validate_config = staticmethod(lambda config: config.get('group') == 0)\n"
    source = engine_source("acme") + refusing
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    with pytest.raises(EngineLoadError, match=r"validate_config\(\) rejects"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_invalid_section_names_section_and_keys(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    with pytest.raises(EngineConfigError) as info:
        get_mpp(
            {"acme": {"group": -1, "extra": 1, "password": "s3cret-value"}},
            entry_points=fake_dists.entry_points(),
        )
    error = info.value
    assert error.section == "acme"
    locations = sorted(p.location for p in error.problems)
    assert locations == ["database", "extra", "group", "password"]
    message = str(error)
    assert "acme.group: Input should be greater than or equal to 0" in message
    assert "acme.database: Field required" in message
    assert "s3cret-value" not in message
    assert all(isinstance(p, FieldProblem) for p in error.problems)


@pytest.mark.parametrize("value", [None, "text", 5, []])
def test_section_that_is_not_a_mapping(fake_dists: FakeDists, value: Any) -> None:
    fake_dists.engine("acme")
    with pytest.raises(EngineConfigError, match="invalid MPP configuration section 'acme'"):
        get_mpp({"acme": value}, entry_points=fake_dists.entry_points())


@pytest.mark.parametrize("value", [None, {}])
def test_empty_section_is_refused_not_read_as_mpp_off(fake_dists: FakeDists, value: Any) -> None:
    # The one policy for an empty section (docs/engine-guide.md, "An empty section"): validated as {}
    # by the model, whose field problems come with a note saying how to run without MPP.
    fake_dists.engine("acme")
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"acme": value}, entry_points=fake_dists.entry_points())
    problems = {(p.location, p.message) for p in info.value.problems}
    assert ("database", "Field required") in problems
    assert ("", EMPTY_SECTION) in problems
    assert "acme: the section is empty" in str(info.value)
    assert "remove the section to run without MPP" in str(info.value)


def test_empty_section_of_an_engine_with_defaults_runs_with_them(fake_dists: FakeDists) -> None:
    defaults = '"""The section\'s model."""\n\n    group: int = 0\n    database: str = "db"\n'
    source = engine_source("acme").replace('"""The section\'s model."""\n', defaults)
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    engine = get_mpp({"acme": None}, entry_points=fake_dists.entry_points())
    assert engine.config == {"group": 0, "database": "db"}
    assert engine.is_enabled()
    assert engine.is_coordinator()


@pytest.mark.parametrize("value", [None, {}])
def test_empty_section_that_would_build_a_disabled_engine(fake_dists: FakeDists, value: Any) -> None:
    source = engine_source("acme").replace("return EngineConfig if", "return None if")
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"acme": value}, entry_points=fake_dists.entry_points())
    assert [(p.location, p.message) for p in info.value.problems] == [("", EMPTY_SECTION)]


@pytest.mark.parametrize("value", [None, {}])
def test_empty_null_section_is_mpp_off(value: Any) -> None:
    engine = get_mpp({"null": value})
    assert type(engine).__name__ == "Null"
    assert engine.is_enabled() is False


def test_engine_without_model_accepts_any_mapping(fake_dists: FakeDists) -> None:
    source = engine_source("acme").replace("return EngineConfig if", "return None if")
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    eps = fake_dists.entry_points()
    assert get_mpp({"acme": {"group": 2, "x": 1}}, entry_points=eps).config == {"group": 2, "x": 1}
    assert load_engine("acme", eps).section_keys is None
    assert load_engine("acme", eps).json_schema() == {"title": "acme", "type": "object"}
    with pytest.raises(EngineConfigError, match="must be a mapping, not str"):
        get_mpp({"acme": "x"}, entry_points=eps)


def test_two_sections_are_an_error(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.engine("other")
    with pytest.raises(MultipleEnginesError) as info:
        get_mpp({"acme": VALID, "other": VALID}, entry_points=fake_dists.entry_points())
    assert info.value.sections == ["acme", "other"]
    assert "'acme', 'other'" in str(info.value)
    assert fake_dists.imported() == []


def test_known_engine_and_installed_engine_sections_conflict(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    with pytest.raises(MultipleEnginesError):
        get_mpp({"acme": VALID, "citus": {}}, entry_points=fake_dists.entry_points())


def test_two_distributions_claiming_one_name(fake_dists: FakeDists) -> None:
    fake_dists.add("twin-a", {"twin": "twin_a"}, {"twin_a": engine_source("twin")}, version="1.1")
    fake_dists.add("twin-b", {"twin": "twin_b"}, {"twin_b": engine_source("twin")}, version="2.2")
    eps = fake_dists.entry_points()
    with pytest.raises(EngineConflictError) as info:
        get_mpp({"twin": VALID}, entry_points=eps)
    message = str(info.value)
    assert "twin-a 1.1" in message
    assert "twin-b 2.2" in message
    assert fake_dists.imported() == []
    assert type(get_mpp({}, entry_points=eps)).__name__ == "Null"


@pytest.mark.parametrize(
    ("section", "wheel"),
    [("citus", "patroni-mpp-citus"), ("timescaledb", "patroni-mpp-timescaledb")],
)
def test_known_engine_not_installed(fake_dists: FakeDists, section: str, wheel: str) -> None:
    with pytest.raises(EngineNotInstalledError, match=f"pip install {wheel}") as info:
        get_mpp({section: {"group": 0}}, entry_points=fake_dists.entry_points())
    assert info.value.section == section
    assert info.value.wheel == wheel


def test_unknown_name_is_not_installed(fake_dists: FakeDists) -> None:
    with pytest.raises(EngineNotInstalledError, match="no installed distribution declares it"):
        load_engine("nosuch", fake_dists.entry_points())


def test_unknown_section_warns(fake_dists: FakeDists, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp({"scope": "x", "etcd3": {}, "foo": {}}, entry_points=fake_dists.entry_points())
    assert type(engine).__name__ == "Null"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "'foo'" in messages[0]


def test_misspelled_section_warns_with_the_nearest_engine(
    fake_dists: FakeDists, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dists.engine("acme")
    fake_dists.engine("my_engine")
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp(
            {"scope": "x", "my_engnie": VALID, "zzz": {}}, entry_points=fake_dists.entry_points()
        )
    assert type(engine).__name__ == "Null"
    assert [r.getMessage() for r in caplog.records] == [
        "Configuration section 'my_engnie' is neither a Patroni setting nor claimed by an installed MPP "
        "engine; did you mean 'my_engine'? It is ignored",
        "Configuration section 'zzz' is neither a Patroni setting nor claimed by an installed MPP engine; "
        "it is ignored",
    ]


def test_incompatible_core_requirement_is_not_imported(fake_dists: FakeDists) -> None:
    fake_dists.add(
        "oldcore-engine",
        {"old": "old"},
        {"old": engine_source("old")},
        requires=("patroni-mpp<0.1",),
    )
    with pytest.raises(EngineLoadError, match=r"requires patroni-mpp<0\.1") as info:
        get_mpp({"old": VALID}, entry_points=fake_dists.entry_points())
    assert "oldcore-engine 1.0" in str(info.value)
    assert fake_dists.imported() == []


def test_requirement_with_inactive_marker_is_ignored(fake_dists: FakeDists) -> None:
    fake_dists.add(
        "acme-engine",
        {"acme": "acme"},
        {"acme": engine_source("acme")},
        requires=('patroni-mpp<0.1; extra == "legacy"', "patroni-mpp>=0.1"),
    )
    assert type(get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())).__name__ == "Acme"
