"""Each check of the conformance kit passes a good engine and catches the defect it is meant for: the
good engine, packaging and hooks."""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

import pytest
from patroni_mpp import LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import LocalPostgresql, cluster, member

from .kit_engines import GOOD_ENGINE, INVALID, VALID, EngineInstaller, broken

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
