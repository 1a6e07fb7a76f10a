"""Each check of the conformance kit passes a good engine and catches the defect it is meant for."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from patroni_mpp import AbstractMPPHandler, LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import LocalPostgresql, cluster, member

from .kit_engines import GOOD_ENGINE, INVALID, VALID, EngineInstaller, broken


@pytest.fixture
def offline() -> LocalPostgresql:
    """A host object never connected to (the kit engines do not use it)."""
    return LocalPostgresql("node1", "127.0.0.1", 1)


@pytest.fixture
def good(engines: EngineInstaller) -> LoadedEngine:
    return engines.load()


def handler_of(loaded: LoadedEngine, config: Any, postgresql: LocalPostgresql) -> Any:
    return loaded.create(config).get_handler_impl(postgresql)


@pytest.fixture
def worker_handler(good: LoadedEngine, offline: LocalPostgresql) -> AbstractMPPHandler:
    return handler_of(good, VALID[1], offline)  # type: ignore[no-any-return]


# -- the good engine passes everything -------------------------------------------------------


def test_good_engine_passes_every_check(good: LoadedEngine, offline: LocalPostgresql, tmp_path: Path) -> None:
    ep = checks.installed_entry_point(good.name, f"{good.name}-engine")
    assert str(checks.check_core_requirement(ep)) == "patroni-mpp<1,>=0.1"
    assert checks.check_loads_in_fresh_interpreter(good.name, tmp_path).endswith(".Kit")
    assert sorted(checks.check_hook_module(good.module)) == ["mpp_config_model", "mpp_engine_class"]
    checks.check_factories(good, offline)
    checks.check_json_schema(good)
    checks.check_validate_config_total(good.engine_class)
    matched = checks.check_group_re(good.engine_class.group_re)
    assert matched == [
        "0",
        "1",
        "2",
        "10",
        "99",
        "12345",
        "1\n",
    ]  # `$` matches before a final newline
    for sample in INVALID:
        checks.check_invalid_config(good, sample)
    view = cluster(member("node1", "127.0.0.1", 1, role="primary"))
    for config in VALID:
        engine = checks.check_valid_config(good, config)
        checks.check_identity(engine)
        before = set(threading.enumerate())
        handler = checks.check_handler_identity(engine, engine.get_handler_impl(offline), offline)
        checks.check_handler_calls(handler, view)
        checks.check_adjust_postgres_gucs(handler)
        checks.check_ignore_replication_slot(handler, ["app", "postgres"])
        assert checks.check_bootstrap(handler, None) is None
        started = checks.check_threads_are_daemons(before)
        assert len(started) == (1 if engine.is_coordinator() else 0)
        handler.stop()  # type: ignore[attr-defined]
        checks.check_no_thread_left(before, 30)


# -- packaging ------------------------------------------------------------------------------


def test_missing_entry_point() -> None:
    with pytest.raises(AssertionError, match=r"no installed distribution declares .*'nosuch'"):
        checks.installed_entry_point("nosuch")


def test_wrong_distribution(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match="expected patroni-mpp-other"):
        checks.installed_entry_point(good.name, "patroni-mpp-other")


def test_entry_point_naming_an_object(engines: EngineInstaller) -> None:
    name = engines.install(entry_point_value="somewhere:hooks")
    with pytest.raises(AssertionError, match="names an object"):
        checks.installed_entry_point(name)


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        ((), "does not depend on patroni-mpp"),
        (("patroni-mpp>=0.1",), "has no upper bound"),
        (("patroni-mpp>=7,<8",), "excludes the installed patroni-mpp"),
        (("patroni-mpp<1 ; extra == 'docs'",), "does not depend on patroni-mpp"),
    ],
)
def test_core_requirement(engines: EngineInstaller, requires: tuple[str, ...], message: str) -> None:
    name = engines.install(requires=requires)
    (ep,) = metadata.entry_points(group="patroni.mpp", name=name)
    if "excludes" in message:
        try:
            metadata.version("patroni-mpp")
        except metadata.PackageNotFoundError:
            pytest.skip("core runs from a source tree: no version to compare")
    with pytest.raises(AssertionError, match=message):
        checks.check_core_requirement(ep)


def test_engine_that_imports_another_engine(engines: EngineInstaller, tmp_path: Path) -> None:
    name = engines.install(broken(("import re\n", "import re\nimport patroni_mpp_null\n")))
    with pytest.raises(AssertionError, match=r"also imported other engines: null \(module"):
        checks.check_loads_in_fresh_interpreter(name, tmp_path)


def test_engine_that_fails_to_import_alone(engines: EngineInstaller, tmp_path: Path) -> None:
    name = engines.install(broken(("import re\n", "import re\nimport kit_only_in_session\n")))
    with pytest.raises(AssertionError, match="No module named 'kit_only_in_session'"):
        checks.check_loads_in_fresh_interpreter(name, tmp_path)


# -- hooks ----------------------------------------------------------------------------------


def test_undeclared_hook(engines: EngineInstaller) -> None:
    extra = "\n@hookimpl(optionalhook=True)\ndef mpp_extra_hook(name):\n    return None\n"
    loaded = engines.load(GOOD_ENGINE + extra)
    with pytest.raises(AssertionError, match=r"implements 'mpp_extra_hook', which .* does not declare"):
        checks.check_hook_module(loaded.module)


def test_hook_without_marker(engines: EngineInstaller) -> None:
    extra = "\ndef mpp_handler(engine, postgresql):\n    return None\n"
    loaded = engines.load(GOOD_ENGINE + extra)
    with pytest.raises(AssertionError, match="mpp_handler is named like a hook but is not decorated"):
        checks.check_hook_module(loaded.module)


def test_hook_with_unknown_argument(engines: EngineInstaller) -> None:
    loaded = engines.load()
    module = type(loaded.module)("kit_bad_args")
    exec(  # noqa: S102 - a module written for this test
        "from patroni_mpp import hookimpl\n"
        "@hookimpl\ndef mpp_engine_class(name, flavour):\n    return None\n",
        module.__dict__,
    )
    with pytest.raises(AssertionError, match="pluggy refuses kit_bad_args"):
        checks.check_hook_module(module)


def test_hooks_answering_for_other_sections(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    loaded = engines.load(broken(("return Kit if name == NAME else None", "return Kit")))
    with pytest.raises(AssertionError, match="mpp_engine_class\\('conformance_no_such_engine'\\)"):
        checks.check_factories(loaded, offline)


def test_handler_hook_answering_for_other_engines(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    extra = (
        "\n@hookimpl\ndef mpp_handler(engine, postgresql):\n"
        "    return KitHandler(postgresql, {'database': 'x', 'group': 1})\n"
    )
    loaded = engines.load(GOOD_ENGINE + extra)
    with pytest.raises(AssertionError, match=r"mpp_handler built .* for an engine of another plugin"):
        checks.check_factories(loaded, offline)


def test_missing_config_model(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    loaded = engines.load(broken(("return KitConfig if name == NAME else None", "return None")))
    with pytest.raises(AssertionError, match="the kit requires a pydantic model"):
        checks.check_factories(loaded, offline)


# -- configuration --------------------------------------------------------------------------


def test_valid_sample_rejected(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match=r"valid sample .* was rejected"):
        checks.check_valid_config(good, {"database": "app", "colour": "blue"})


def test_strict_model_refuses_numbers_as_strings(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('extra="forbid"', 'extra="forbid", strict=True')))
    with pytest.raises(AssertionError, match=r"PATRONI_KIT.*_\* environment variables"):
        checks.check_valid_config(loaded, {"database": "app", "group": 1})


def test_engine_class_refusing_its_model(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('isinstance(config.get("database"), str)', "False")))
    with pytest.raises(AssertionError, match="validates but builds no engine"):
        checks.check_valid_config(loaded, {"database": "app"})


def test_invalid_sample_accepted(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match=r"invalid sample .* was accepted"):
        checks.check_invalid_config(good, {"database": "fine"})


def test_invalid_sample_without_field(engines: EngineInstaller) -> None:
    validator = (
        "    @model_validator(mode='after')\n"
        "    def _check(self):\n"
        "        if self.database == 'bad':\n"
        "            raise ValueError('bad section')\n"
        "        return self\n"
    )
    source = broken(
        ("ConfigDict, Field", "ConfigDict, Field, model_validator"),
        (
            "    group: int = Field(default=0, ge=0)\n",
            "    group: int = Field(default=0, ge=0)\n" + validator,
        ),
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match="no problem names a key"):
        checks.check_invalid_config(loaded, {"database": "bad"})
    error = checks.check_invalid_config(loaded, checks.Invalid({"database": "bad"}, ""))
    assert "bad section" in str(error)
    with pytest.raises(AssertionError, match="expected a problem at 'database'"):
        checks.check_invalid_config(loaded, checks.Invalid({"database": "bad"}, "database"))


def test_non_mapping_invalid_sample(good: LoadedEngine) -> None:
    error = checks.check_invalid_config(good, "text")
    assert error.problems[0].location == ""


def test_validate_config_raising(engines: EngineInstaller) -> None:
    loaded = engines.load(
        broken(
            (
                'return isinstance(config, dict) and isinstance(config.get("database"), str)',
                'return isinstance(config["database"], str)',
            )
        )
    )
    with pytest.raises(AssertionError, match=r"None: raised TypeError"):
        checks.check_validate_config_total(loaded.engine_class)


def test_validate_config_answering_non_bool(engines: EngineInstaller) -> None:
    loaded = engines.load(
        broken(
            (
                'return isinstance(config, dict) and isinstance(config.get("database"), str)',
                'return config and config.get("database")',
            )
        )
    )
    with pytest.raises(AssertionError, match=r"returned .*, not a bool"):
        checks.check_validate_config_total(loaded.engine_class)


# -- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "culprit"),
    [(r"^\d*$", "''"), (r"^\w+$", "'a'"), (r"^[0-9]", "'1.0'"), (r"^(0|[1-9][0-9]*)$", None)],
)
def test_group_re_matrix(pattern: str, culprit: str | None) -> None:
    if culprit is None:
        checks.check_group_re(re.compile(pattern))
    else:
        with pytest.raises(AssertionError, match=re.escape(culprit)):
            checks.check_group_re(re.compile(pattern))


def test_group_that_is_not_an_int(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('return self.config["group"]', 'return str(self.config["group"])')))
    engine = loaded.create({"database": "app", "group": 1})
    with pytest.raises(AssertionError, match="group of an enabled engine must be an int"):
        checks.check_identity(engine)


def test_group_re_missing_own_group(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((r'r"^(0|[1-9][0-9]*)$"', r'r"^[0-9]$"')))
    with pytest.raises(AssertionError, match="does not match '12'"):
        checks.check_identity(loaded.create({"database": "app", "group": 12}))


def test_coordinator_and_worker_contradicting(engines: EngineInstaller) -> None:
    extra = "\nKit.is_worker = lambda self: True\n"
    loaded = engines.load(GOOD_ENGINE + extra)
    with pytest.raises(AssertionError, match="exactly one of coordinator and worker"):
        checks.check_identity(loaded.create({"database": "app"}))


def test_mixin_first_gives_wrong_type(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "class KitHandler(Kit, AbstractMPPHandler):",
            "class Loud:\n    pass\n\n\nclass KitHandler(Loud, Kit, AbstractMPPHandler):",
        ),
    )
    loaded = engines.load(source)
    engine = loaded.create({"database": "app", "group": 1})
    handler = engine.get_handler_impl(offline)
    with pytest.raises(AssertionError, match=r"handler.type is 'Loud' but the descriptor's is 'Kit'"):
        checks.check_handler_identity(engine, handler, offline)


def test_handler_not_a_handler(good: LoadedEngine, offline: LocalPostgresql) -> None:
    engine = good.create({"database": "app"})
    with pytest.raises(AssertionError, match="is not an AbstractMPPHandler"):
        checks.check_handler_identity(engine, object(), offline)


# -- handler methods ------------------------------------------------------------------------


def test_method_returning_a_value(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "    def on_demote(self):\n        return None",
            "    def on_demote(self):\n        return True",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    view = cluster(member("node1", "127.0.0.1", 1, role="primary"))
    with pytest.raises(AssertionError, match=r"on_demote\(\) returned True"):
        checks.check_handler_calls(handler, view)


def test_gucs_not_idempotent(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "        if NAME not in libraries:\n            libraries.append(NAME)",
            "        libraries.append(NAME)",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not idempotent"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_dropping_libraries(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'parameters["shared_preload_libraries"] = ",".join(libraries)',
            'parameters["shared_preload_libraries"] = NAME',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"dropped \['pg_stat_statements'\]"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_case_sensitive_lookup(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    # An engine that walks the keys itself misses the host's mixed-case spelling.
    source = broken(
        (
            'value = parameters.get("shared_preload_libraries") or ""',
            'value = dict(parameters).get("shared_preload_libraries") or ""',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="mixed-case keys"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_with_non_guc_value(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'parameters["shared_preload_libraries"] = ",".join(libraries)',
            'parameters["shared_preload_libraries"] = libraries',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not a GUC value"):
        checks.check_adjust_postgres_gucs(handler)


def test_slot_with_missing_keys(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'return slot.get("plugin") == NAME',
            'return slot["type"] == "logical" and slot["name"].startswith(NAME)',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"ignore_replication_slot\(\{\}\) raised KeyError"):
        checks.check_ignore_replication_slot(handler, ["app"])


def test_slot_answer_not_bool(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(('return slot.get("plugin") == NAME', "return slot.get('plugin')"))
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not a bool"):
        checks.check_ignore_replication_slot(handler, ["app"])


def test_bootstrap_expectations(worker_handler: AbstractMPPHandler) -> None:
    with pytest.raises(AssertionError, match="was expected to raise"):
        checks.check_bootstrap(worker_handler, RuntimeError)


def test_bootstrap_error_without_message(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "    def bootstrap(self):\n        return None",
            "    def bootstrap(self):\n        raise RuntimeError()",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="without a message"):
        checks.check_bootstrap(handler, RuntimeError)
    with pytest.raises(RuntimeError):
        checks.check_bootstrap(handler, None)


# -- threads --------------------------------------------------------------------------------


@pytest.fixture
def parked() -> Iterator[threading.Event]:
    """An event that releases the threads a test parks on it, set at teardown whatever happened."""
    event = threading.Event()
    yield event
    event.set()


def test_thread_left_running(good: LoadedEngine, offline: LocalPostgresql) -> None:
    before = set(threading.enumerate())
    handler = handler_of(good, VALID[0], offline)
    try:
        with pytest.raises(AssertionError, match=r"threads still running .*-worker"):
            checks.check_no_thread_left(before, 0.01)
    finally:
        handler.stop()
    checks.check_no_thread_left(before, 30)


def test_non_daemon_thread(parked: threading.Event) -> None:
    before = set(threading.enumerate())
    thread = threading.Thread(target=parked.wait, name="kit-blocking", daemon=False)
    thread.start()
    with pytest.raises(AssertionError, match="non-daemon threads \\['kit-blocking'\\]"):
        checks.check_threads_are_daemons(before)
    parked.set()
    thread.join()


def test_case_insensitive_parameters() -> None:
    params = checks.CaseInsensitiveParameters({"Max_Connections": 100})
    assert params["max_connections"] == 100
    params["MAX_CONNECTIONS"] = 200
    assert list(params) == ["MAX_CONNECTIONS"]
    assert len(params) == 1
    copy = params.copy()
    del params["max_connections"]
    assert "max_connections" not in params
    assert copy.lowered() == {"max_connections": 200}
    assert "200" in repr(copy)


def test_preload_entries() -> None:
    assert checks.preload_entries(None) == []
    assert checks.preload_entries(' a, "b" ,,c ') == ["a", "b", "c"]
