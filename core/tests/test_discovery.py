"""Discovery rules, in process, with fake distributions (test_packaging.py repeats the key ones with
real wheels installed by pip)."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator, Mapping
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
    iter_engine_reports,
    iter_mpp_classes,
    load_engine,
)
from patroni_mpp._discovery import DEFAULT_HOOK_TIMEOUT, HOOK_TIMEOUT_ENV, plugin_call_timeout
from patroni_mpp._errors import redact, secrets_in
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


class ReadOnlyMapping(Mapping[str, Any]):
    """A Mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class HostConfig:
    """Shaped like Patroni's Config: ``in``, ``[...]`` and ``copy()``, but no Mapping."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def copy(self) -> dict[str, Any]:
        return dict(self._data)


@pytest.mark.parametrize("wrap", [dict, ReadOnlyMapping, HostConfig])
def test_config_containers(fake_dists: FakeDists, wrap: Any) -> None:
    fake_dists.engine("acme")
    engine = get_mpp(wrap({"scope": "s", "acme": VALID}), entry_points=fake_dists.entry_points())
    assert engine.group == 1


def test_config_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="must be a mapping"):
        get_mpp(["acme"])


def test_iter_mpp_classes_with_config(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    eps = fake_dists.entry_points()
    found = [(name, cls.__name__) for name, cls in iter_mpp_classes({"acme": VALID}, entry_points=eps)]
    assert found == [("acme", "Acme")]
    assert list(iter_mpp_classes({"scope": "x"}, entry_points=eps)) == []
    with pytest.raises(EngineLoadError):
        list(iter_mpp_classes({"broken": {}}, entry_points=eps))


def test_iter_mpp_classes_without_config_lists_all_usable(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    found = [name for name, _ in iter_mpp_classes(entry_points=fake_dists.entry_points())]
    assert found == ["acme", "null"]


def test_engine_reports(fake_dists: FakeDists, caplog: pytest.LogCaptureFixture) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        reports = {r.name: r for r in iter_engine_reports(fake_dists.entry_points())}
    assert sorted(reports) == ["acme", "broken", "null"]
    assert reports["acme"].ok and reports["acme"].engine is not None
    assert not reports["broken"].ok
    assert reports["broken"].error is not None
    assert "plugin exploded at import" in reports["broken"].error
    assert "\n" not in reports["broken"].error
    assert [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]


def test_engine_reports_quiet(fake_dists: FakeDists, caplog: pytest.LogCaptureFixture) -> None:
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        list(iter_engine_reports(fake_dists.entry_points(), quiet=True))
    assert caplog.records == []


def test_plugin_is_imported_once(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    eps = fake_dists.entry_points()
    first = load_engine("acme", eps)
    assert load_engine("acme", eps) is first
    patroni_mpp.clear_caches()
    assert load_engine("acme", eps) is not first


def test_installed_plugins_are_found_on_sys_path(installed_dists: FakeDists) -> None:
    installed_dists.engine("acme", version="3.0")
    engine = get_mpp({"acme": VALID})
    assert type(engine).__name__ == "Acme"
    loaded = load_engine("acme")
    assert (loaded.source.name, loaded.source.version) == ("acme-engine", "3.0")
    assert loaded.source.value == installed_dists.module("acme")


def test_section_keys_and_schema(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    loaded = load_engine("acme", fake_dists.entry_points())
    assert loaded.section_keys == ("group", "database")
    schema = loaded.json_schema()
    assert schema["required"] == ["group", "database"]
    assert schema["properties"]["group"]["minimum"] == 0


def test_explicit_null_section(fake_dists: FakeDists) -> None:
    eps = fake_dists.entry_points()
    assert type(get_mpp({"null": {}}, entry_points=eps)).__name__ == "Null"
    assert type(get_mpp({"null": None}, entry_points=eps)).__name__ == "Null"
    with pytest.raises(EngineConfigError, match=r"null\.group"):
        get_mpp({"null": {"group": 1}}, entry_points=eps)


def test_null_missing_says_which_wheel() -> None:
    with pytest.raises(EngineNotInstalledError, match="pip install patroni-mpp-null"):
        get_mpp({}, entry_points=[])


def test_one_distribution_seen_twice_is_no_conflict(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    eps = fake_dists.entry_points()
    engine = get_mpp({"acme": VALID}, entry_points=eps + eps)
    assert type(engine).__name__ == "Acme"


# -- plugins that fail in every way (reliability: plugin failures) ------------------------------

GATE = "import threading\nGATE = threading.Event()\n"
"""A module holding an event that a hanging plugin waits for; tests set it to release the thread."""

HANGING_HOOK = """
from patroni_mpp import hookimpl
from {gate} import GATE

@hookimpl
def mpp_engine_class(name):
    GATE.wait()
    return None
"""

HANGING_IMPORT = """
from {gate} import GATE

GATE.wait()
"""

EXITING_IMPORT = "import sys\nsys.exit(3)\n"


@pytest.fixture
def release_gates(fake_dists: FakeDists) -> Iterator[list[str]]:
    """Names of gate modules; every gate is opened and its hung threads joined after the test."""
    gates: list[str] = []
    yield gates
    for name in gates:
        module = importlib.import_module(name)
        module.GATE.set()
    for thread in threading.enumerate():
        if thread.name.startswith("patroni-mpp "):
            thread.join(30)
            assert not thread.is_alive(), f"{thread.name} still runs"


def _hanging(fake_dists: FakeDists, gates: list[str], source: str, dist: str) -> None:
    gate = fake_dists.module(f"{dist}_gate")
    gates.append(gate)
    fake_dists.add(
        f"{dist}-engine",
        {dist: dist},
        {f"{dist}_gate": GATE, dist: source.format(gate=gate)},
        version="0.7",
    )


@pytest.mark.parametrize(
    ("source", "what"),
    [(HANGING_HOOK, "hook mpp_engine_class"), (HANGING_IMPORT, "import of")],
    ids=["hook", "import"],
)
def test_hanging_plugin_is_abandoned_with_a_clear_error(
    fake_dists: FakeDists,
    release_gates: list[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    what: str,
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0.3")
    _hanging(fake_dists, release_gates, source, "hang")
    eps = fake_dists.entry_points()
    with pytest.raises(EngineLoadError) as info:
        get_mpp({"hang": {}}, entry_points=eps)
    message = str(info.value)
    assert "'hang' from hang-engine 0.7" in message
    assert what in message
    assert "did not return within 0.3 s" in message
    assert HOOK_TIMEOUT_ENV in message
    # a second attempt fails at once instead of starting another stuck thread
    with pytest.raises(EngineLoadError, match="still running since an earlier attempt"):
        get_mpp({"hang": {}}, entry_points=eps)
    stuck = [t for t in threading.enumerate() if t.name.startswith("patroni-mpp ")]
    assert len(stuck) == 1
    # an engine that is not configured stays untouched
    assert type(get_mpp({"scope": "x"}, entry_points=eps)).__name__ == "Null"


def test_hanging_plugin_is_listed_as_unusable(
    fake_dists: FakeDists, release_gates: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0.3")
    _hanging(fake_dists, release_gates, HANGING_HOOK, "hang")
    reports = {r.name: r for r in iter_engine_reports(fake_dists.entry_points(), quiet=True)}
    assert reports["null"].ok
    assert reports["hang"].error is not None
    assert "did not return within" in reports["hang"].error


def test_timeout_zero_calls_on_the_calling_thread(
    fake_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0")
    source = engine_source("acme") + ("\nimport threading\nIMPORTED_ON = threading.current_thread().name\n")
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    module = importlib.import_module(fake_dists.module("acme"))
    assert threading.current_thread().name == module.IMPORTED_ON


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_unusable_timeout_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, value)
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        assert plugin_call_timeout() == DEFAULT_HOOK_TIMEOUT
    assert HOOK_TIMEOUT_ENV in caplog.text


def test_plugin_calling_sys_exit_at_import(fake_dists: FakeDists) -> None:
    fake_dists.add("exit-engine", {"bye": "bye"}, {"bye": EXITING_IMPORT}, version="0.2")
    with pytest.raises(EngineLoadError, match=r"exit-engine 0\.2.*import failed: SystemExit: 3"):
        get_mpp({"bye": {}}, entry_points=fake_dists.entry_points())


RAISING_HANDLER_HOOK = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_handler(engine, postgresql):
    raise RuntimeError("handler cannot start")
"""

RAISING_CONVENTION_HANDLER = (
    "class {cls}Handler({cls}, AbstractMinimalHandler):\n"
    "    def __init__(self, postgresql, config):\n"
    "        raise OSError('no socket for the handler')\n"
)


@pytest.mark.parametrize(
    ("convention", "cause"),
    [
        (False, "RuntimeError: handler cannot start"),
        (True, "OSError: no socket for the handler"),
    ],
    ids=["hook", "convention"],
)
def test_handler_construction_failure_names_the_plugin(
    fake_dists: FakeDists, postgresql: LocalPostgresql, convention: bool, cause: str
) -> None:
    source = engine_source("acme")
    if convention:
        source = source.replace(
            "class AcmeHandler(Acme, AbstractMinimalHandler):\n",
            RAISING_CONVENTION_HANDLER.format(cls="Acme"),
        )
    else:
        source += RAISING_HANDLER_HOOK
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="4.2")
    engine = get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    with pytest.raises(EngineLoadError) as info:
        engine.get_handler_impl(postgresql)
    message = str(info.value)
    assert "'acme' from acme-engine 4.2" in message
    assert f"building the handler raised {cause}" in message


def test_engine_class_with_bad_group_re(fake_dists: FakeDists) -> None:
    source = engine_source("acme") + "\nAcme.group_re = '^[0-9]+$'\n"
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    with pytest.raises(EngineLoadError, match="group_re as a compiled regular expression"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_engine_whose_group_raises(fake_dists: FakeDists) -> None:
    source = engine_source("acme") + "\nAcme.group = property(lambda self: {}['grp'])\n"
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="1.1")
    with pytest.raises(EngineLoadError, match=r"acme-engine 1\.1.*Acme raised KeyError"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_config_model_whose_validator_crashes(fake_dists: FakeDists) -> None:
    source = engine_source("acme").replace(
        "class EngineConfig(MinimalConfig):",
        "from pydantic import field_validator\n\nclass EngineConfig(MinimalConfig):\n"
        "    @field_validator('database')\n"
        "    @classmethod\n"
        "    def _boom(cls, value):\n"
        "        raise TypeError('validator bug')\n",
    )
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="1.3")
    with pytest.raises(EngineLoadError, match=r"acme-engine 1\.3.*TypeError: validator bug"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_plugin_claiming_a_patroni_section_is_ignored(
    fake_dists: FakeDists, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dists.add("greedy-engine", {"postgresql": "greedy"}, {"greedy": engine_source("postgresql")})
    eps = fake_dists.entry_points()
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp({"scope": "x", "postgresql": {"listen": "*:5432"}}, entry_points=eps)
    assert type(engine).__name__ == "Null"
    assert fake_dists.imported() == []
    assert "greedy-engine 1.0 claims 'postgresql', a Patroni configuration section" in caplog.text
    with pytest.raises(EngineLoadError, match="one of Patroni's own configuration sections"):
        load_engine("postgresql", eps)
    reports = {r.name: r for r in iter_engine_reports(eps, quiet=True)}
    assert not reports["postgresql"].ok
    assert fake_dists.imported() == []


def test_plugin_claiming_null_does_not_replace_the_fallback(
    fake_dists: FakeDists, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dists.add("impostor", {"null": "impostor"}, {"impostor": BROKEN_ON_IMPORT}, version="6.6")
    eps = fake_dists.entry_points()
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp({"scope": "x"}, entry_points=eps)
    assert type(engine).__name__ == "Null"
    assert type(engine).__module__ == "patroni_mpp_null"
    assert fake_dists.imported() == []
    assert "also claimed by impostor 6.6" in caplog.text


def test_plugin_claiming_a_taken_name_is_an_error_when_configured(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme", version="1.0")
    fake_dists.add("acme-clone", {"acme": "clone"}, {"clone": engine_source("acme")}, version="9.9")
    eps = fake_dists.entry_points()
    with pytest.raises(EngineConflictError) as info:
        get_mpp({"acme": VALID}, entry_points=eps)
    assert "acme-engine 1.0" in str(info.value)
    assert "acme-clone 9.9" in str(info.value)
    assert type(get_mpp({}, entry_points=eps)).__name__ == "Null"
    assert fake_dists.imported() == []


# -- secrets never reach error texts ------------------------------------------------------------

LEAKY_ENGINE = """
from patroni_mpp import hookimpl
from patroni_mpp.testing.engines import AbstractMinimalEngine


class Leaky(AbstractMinimalEngine):
    validate_config = staticmethod(lambda config: True)

    def __init__(self, config):
        super().__init__(config)
        raise ValueError(f"cannot use {config!r}")


@hookimpl
def mpp_engine_class(name):
    return Leaky
"""


def test_plugin_error_texts_are_masked(fake_dists: FakeDists) -> None:
    fake_dists.add("leaky-engine", {"leaky": "leaky"}, {"leaky": LEAKY_ENGINE})
    config = {
        "postgresql": {"authentication": {"superuser": {"username": "pg", "password": "Su-Pass-1"}}},
        "leaky": {
            "url": "postgres://app:Url-Pass-2@db.example:5432/app",
            "api_token": "Tok-3",
            "dsn": "host=x password='Dsn Pass 4'",
        },
    }
    with pytest.raises(EngineLoadError) as info:
        get_mpp(config, entry_points=fake_dists.entry_points())
    message = str(info.value)
    for secret in ("Url-Pass-2", "Tok-3", "Dsn Pass 4", "Dsn"):
        assert secret not in message
    assert "******" in message
    assert info.value.__cause__ is None
    assert "leaky-engine 1.0" in message


def test_config_errors_never_echo_values(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    with pytest.raises(EngineConfigError) as info:
        get_mpp(
            {"acme": {"group": "postgres://u:Pw-Value-9@h/db", "database": ["Pw-Value-9"]}},
            entry_points=fake_dists.entry_points(),
        )
    assert "Pw-Value-9" not in str(info.value)


def test_secrets_in_and_redact() -> None:
    config = {
        "a": [{"Password": "pw-1"}, "postgresql://u:pw-2@h:5/d", {"x": "host=h password=pw-3 user=u"}],
        "superuser": {"password": 12345, "username": "postgres"},
        "rest": {"auth": {"client_secret": "pw-4", "token_url": "https://h/t"}},
    }
    secrets = secrets_in(config)
    assert {"pw-1", "pw-2", "pw-3", "12345", "pw-4"} <= secrets
    assert "postgres" not in secrets
    text = "pw-1 postgres://v:x@h pw-2 password='q 1' pw-4 abc"
    assert redact(text, secrets | {"abc"}) == (
        "****** postgres://v:******@h ****** password=****** ****** abc"
    )
