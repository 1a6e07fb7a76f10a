"""Discovery through real packaging: wheels built, installed by pip into fresh venvs, found through
their entry points.

The wheels of core and null come from ``$PATRONI_MPP_WHEELS`` (nox builds them once per run) or are
built here from the source tree. The test plugins are written into a temporary directory as projects
and built with the hatchling backend. One wheelhouse (our wheels plus their dependencies, downloaded
once) feeds every venv, so the venvs install offline. Two venvs serve every scenario: ``core-only``
(``pip install patroni-mpp`` and nothing else) and ``zoo`` (core, null and every test plugin, good
and bad: discovery only imports what a configuration names, so they can share it). Each scenario
runs in a new interpreter, which is what shows which modules discovery imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from patroni_mpp.testing.engines import engine_source
from patroni_mpp.testing.wheelhouse import (
    COMPATIBLE,
    Venv,
    Wheelhouse,
)

ROOT = Path(__file__).resolve().parents[2]
VALID = {"group": 1, "database": "db"}

BROKEN_ON_IMPORT = "raise RuntimeError('tp_broken cannot start: missing licence file')\n"

UNDECLARED_HOOK = """\
from patroni_mpp import hookimpl


@hookimpl
def mpp_engine_factory(name):
    return None
"""

WRONG_ARGUMENT_NAMES = """\
from patroni_mpp import hookimpl


@hookimpl
def mpp_engine_class(section_name):
    return None
"""

TEST_PLUGINS: list[dict[str, str]] = [
    {"dist": "acme-engine", "version": "1.4", "entry_point": "acme", "module": "tp_acme",
     "source": engine_source("acme"), "dependencies": COMPATIBLE},
    {"dist": "broken-engine", "version": "0.3", "entry_point": "broken", "module": "tp_broken",
     "source": BROKEN_ON_IMPORT, "dependencies": COMPATIBLE},
    {"dist": "badhook-engine", "version": "0.1", "entry_point": "badhook", "module": "tp_badhook",
     "source": UNDECLARED_HOOK, "dependencies": COMPATIBLE},
    {"dist": "badargs-engine", "version": "0.1", "entry_point": "badargs", "module": "tp_badargs",
     "source": WRONG_ARGUMENT_NAMES, "dependencies": COMPATIBLE},
    {"dist": "oldcore-engine", "version": "0.0.9", "entry_point": "oldcore", "module": "tp_oldcore",
     "source": engine_source("oldcore"), "dependencies": '["patroni-mpp<0.1"]'},
    {"dist": "twin-a", "version": "1.0", "entry_point": "twin", "module": "tp_twin_a",
     "source": engine_source("twin"), "dependencies": COMPATIBLE},
    {"dist": "twin-b", "version": "2.0", "entry_point": "twin", "module": "tp_twin_b",
     "source": engine_source("twin"), "dependencies": COMPATIBLE},
]  # fmt: skip
"""Test plugins: one good third-party engine and the ways a plugin can be wrong."""


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """Build everything once per test session."""
    return Wheelhouse.build(tmp_path_factory.mktemp("packaging"), ROOT, TEST_PLUGINS)


@pytest.fixture(scope="session")
def core_only(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``pip install patroni-mpp`` and nothing else."""
    return wheelhouse.venv(tmp_path_factory.mktemp("venvs") / "core-only", ["patroni-mpp"])


@pytest.fixture(scope="session")
def zoo(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """Core, null and every test plugin; oldcore is forced in against its requirement."""
    good = [p["dist"] for p in TEST_PLUGINS if p["dist"] != "oldcore-engine"]
    return wheelhouse.venv(
        tmp_path_factory.mktemp("venvs") / "zoo", ["patroni-mpp", *good], no_deps=["oldcore-engine"]
    )


# -- pip install patroni-mpp alone -------------------------------------------------------------


def test_core_alone_pulls_in_null(core_only: Venv) -> None:
    dists = core_only.distributions()
    assert "patroni-mpp" in dists
    assert "patroni-mpp-null" in dists
    assert not any(name.endswith("-engine") for name in dists)


def test_core_alone_gives_null(core_only: Venv) -> None:
    result = core_only.probe({"scope": "demo", "postgresql": {"listen": "127.0.0.1:5432"}})
    assert result["ok"], result
    assert (result["cls"], result["module"], result["handler"]) == (
        "Null",
        "patroni_mpp_null",
        "NullHandler",
    )
    assert result["group"] is None
    assert result["warnings"] == []


@pytest.mark.parametrize(
    ("section", "wheel"),
    [("citus", "patroni-mpp-citus"), ("timescaledb", "patroni-mpp-timescaledb")],
)
def test_core_alone_names_missing_wheel(core_only: Venv, section: str, wheel: str) -> None:
    result = core_only.probe({section: {"group": 0, "database": "x"}})
    assert result["error_type"] == "EngineNotInstalledError"
    assert f"section '{section}'" in result["error"]
    assert f"pip install {wheel}" in result["error"]


def test_core_alone_lists_null(core_only: Venv) -> None:
    result = core_only.run("patroni-mpp", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["name"], r["distribution"], r["status"]) for r in rows] == [("null", "patroni-mpp-null", "ok")]


# -- the zoo: one good third-party engine beside broken ones -----------------------------------


def test_third_party_engine_is_discovered_and_loaded(zoo: Venv) -> None:
    result = zoo.probe({"scope": "demo", "acme": {"group": 0, "database": "db"}})
    assert result["ok"], result
    assert (result["cls"], result["module"], result["type"]) == ("Acme", "tp_acme", "Acme")
    assert result["coordinator"] is True
    assert result["handler"] == "AcmeHandler"
    assert result["imported"] == ["tp_acme"]
    assert result["warnings"] == []


def test_unconfigured_broken_plugins_change_nothing(zoo: Venv) -> None:
    result = zoo.probe({"scope": "demo"})
    assert result["ok"], result
    assert result["cls"] == "Null"
    assert result["imported"] == []


def test_configured_broken_plugin_is_named(zoo: Venv) -> None:
    result = zoo.probe({"broken": {}})
    assert result["error_type"] == "EngineLoadError"
    assert result["error"].startswith("MPP engine 'broken' from broken-engine 0.3 (entry point tp_broken)")
    assert "RuntimeError: tp_broken cannot start: missing licence file" in result["error"]


@pytest.mark.parametrize(
    ("section", "dist", "cause"),
    [
        ("badhook", "badhook-engine 0.1", "mpp_engine_factory"),
        ("badargs", "badargs-engine 0.1", "section_name"),
    ],
)
def test_hook_contract_broken(zoo: Venv, section: str, dist: str, cause: str) -> None:
    result = zoo.probe({section: {}})
    assert result["error_type"] == "EngineLoadError"
    assert f"'{section}' from {dist}" in result["error"]
    assert "hook contract broken" in result["error"]
    assert cause in result["error"]


def test_incompatible_core_requirement(zoo: Venv) -> None:
    result = zoo.probe({"oldcore": VALID})
    assert result["error_type"] == "EngineLoadError"
    assert "'oldcore' from oldcore-engine 0.0.9" in result["error"]
    assert "it requires patroni-mpp<0.1, but patroni-mpp 0.1" in result["error"]
    assert result["imported"] == []


def test_two_distributions_claiming_one_name(zoo: Venv) -> None:
    result = zoo.probe({"twin": VALID})
    assert result["error_type"] == "EngineConflictError"
    assert "twin-a 1.0 (tp_twin_a) and twin-b 2.0 (tp_twin_b)" in result["error"]
    assert result["imported"] == []


def test_multiple_sections(zoo: Venv) -> None:
    result = zoo.probe({"acme": VALID, "twin": VALID})
    assert result["error_type"] == "MultipleEnginesError"
    assert "'acme', 'twin'" in result["error"]
    assert result["imported"] == []


def test_known_engine_not_installed(zoo: Venv) -> None:
    result = zoo.probe({"citus": {"group": 1, "database": "citus"}})
    assert result["error_type"] == "EngineNotInstalledError"
    assert "pip install patroni-mpp-citus" in result["error"]


def test_invalid_section(zoo: Venv) -> None:
    result = zoo.probe({"acme": {"group": "one"}})
    assert result["error_type"] == "EngineConfigError"
    assert "acme.group: Input should be a valid integer" in result["error"]
    assert "acme.database: Field required" in result["error"]


def test_unknown_section_warns(zoo: Venv) -> None:
    result = zoo.probe({"scope": "demo", "foo": {"x": 1}, "acme": VALID})
    assert result["ok"], result
    assert len(result["warnings"]) == 1
    assert "'foo'" in result["warnings"][0]


def test_list_every_engine(zoo: Venv) -> None:
    result = zoo.run("patroni-mpp", "list", "--json")
    assert result.returncode == 1
    rows = [(r["name"], r["distribution"], r["status"]) for r in json.loads(result.stdout)]
    assert rows == [
        ("acme", "acme-engine", "ok"),
        ("badargs", "badargs-engine", "error"),
        ("badhook", "badhook-engine", "error"),
        ("broken", "broken-engine", "error"),
        ("null", "patroni-mpp-null", "ok"),
        ("oldcore", "oldcore-engine", "error"),
        ("twin", "twin-a", "error"),
        ("twin", "twin-b", "error"),
    ]


def test_list_table(zoo: Venv) -> None:
    result = zoo.run("patroni-mpp", "list")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "MODULE", "STATUS"]
    assert len(lines) == 9
    broken = next(line for line in lines if line.startswith("broken"))
    assert broken.split()[:5] == ["broken", "broken-engine", "0.3", "tp_broken", "error:"]
    assert "missing licence file" in broken
    assert "Traceback" not in result.stderr


def test_check_with_environment(zoo: Venv, tmp_path: Path) -> None:
    config = tmp_path / "patroni.yml"
    config.write_text("scope: demo\nacme:\n  database: db\n")
    result = zoo.run("patroni-mpp", "check", config, env={"PATRONI_ACME_GROUP": "3"})
    assert result.returncode == 0, result.stderr
    assert "engine: acme from acme-engine 1.4 (module tp_acme)" in result.stdout
    assert "environment: PATRONI_ACME_GROUP sets acme.group" in result.stdout
    invalid = zoo.run("patroni-mpp", "check", config)
    assert invalid.returncode == 1
    assert "error: acme.group: Field required" in invalid.stderr


def test_schema(zoo: Venv) -> None:
    result = zoo.run("python", "-m", "patroni_mpp", "schema", "acme")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["required"] == ["group", "database"]
