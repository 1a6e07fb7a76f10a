"""``patroni-mpp check``: engine choice, environment overrides, problems and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from patroni_mpp.cli import main
from patroni_mpp.cli._check import check_config
from patroni_mpp.testing.distributions import FakeDists

BROKEN = "raise RuntimeError('broken at import')\n"


@pytest.fixture(autouse=True)
def _no_patroni_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PATRONI_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "patroni.yml"
    path.write_text(text)
    return str(path)


def test_valid_engine_section(
    installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed_dists.engine("acme", version="2.0")
    path = write(tmp_path, "scope: demo\nacme:\n  group: 0\n  database: db\n")
    assert main(["check", path]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"configuration: {path}",
        f"engine: acme from acme-engine 2.0 (module {installed_dists.module('acme')})",
        "result: valid",
    ]
    assert captured.err == ""


def test_every_problem_is_reported(
    installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed_dists.engine("acme")
    path = write(tmp_path, "acme:\n  group: -3\n  colour: blue\n")
    assert main(["check", path]) == 1
    captured = capsys.readouterr()
    assert "result: invalid (3 problems)" in captured.out
    errors = sorted(captured.err.splitlines())
    assert errors == [
        "error: acme.colour: Extra inputs are not permitted",
        "error: acme.database: Field required",
        "error: acme.group: Input should be greater than or equal to 0",
    ]


def test_environment_overrides_apply(
    installed_dists: FakeDists,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_GROUP", "4")
    path = write(tmp_path, "acme:\n  group: nonsense\n  database: db\n")
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "environment: PATRONI_ACME_GROUP sets acme.group" in out
    assert "result: valid" in out


def test_environment_alone_configures_the_engine(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_GROUP", "1")
    monkeypatch.setenv("PATRONI_ACME_DATABASE", "db")
    report = check_config({"scope": "demo"})
    assert report.section == "acme"
    assert report.valid
    assert report.environment == {
        "group": "PATRONI_ACME_GROUP",
        "database": "PATRONI_ACME_DATABASE",
    }


def test_unrelated_environment_variable_does_not_configure(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_HOSTS", "x")
    report = check_config({"scope": "demo"})
    assert report.section is None
    assert report.engine is not None and report.engine.name == "null"


def test_environment_names_known_engine_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRONI_CITUS_GROUP", "1")
    report = check_config({"scope": "demo"})
    assert not report.valid
    assert report.errors == [
        "MPP engine for section 'citus' is not installed: install the wheel that provides it: "
        "pip install patroni-mpp-citus"
    ]


def test_no_mpp_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "scope: demo\nfoo: 1\n")
    assert main(["check", path]) == 0
    captured = capsys.readouterr()
    assert "engine: null from patroni-mpp-null" in captured.out
    assert "(MPP is not configured)" in captured.out
    assert captured.err == (
        "warning: section 'foo' is neither a Patroni setting nor claimed by an installed MPP "
        "engine; it is ignored\n"
    )


def test_missing_known_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "citus:\n  group: 0\n  database: citus\n")
    assert main(["check", path]) == 1
    assert "pip install patroni-mpp-citus" in capsys.readouterr().err


def test_broken_engine(
    installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN}, version="0.3")
    path = write(tmp_path, "broken: {}\n")
    assert main(["check", path]) == 1
    err = capsys.readouterr().err
    assert "'broken' from broken-engine 0.3" in err
    assert "RuntimeError: broken at import" in err


def test_two_sections(installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("acme")
    path = write(tmp_path, "acme: {group: 0, database: d}\ncitus: {group: 0}\n")
    assert main(["check", path]) == 1
    assert "only one MPP engine section may be configured, found 2: 'acme', 'citus'" in (
        capsys.readouterr().err
    )


def test_json_report(installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("acme")
    path = write(tmp_path, "acme: {group: x, database: d}\nbar: {}\n")
    assert main(["check", "--json", path]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["section"] == "acme"
    assert report["engine"]["distribution"] == "acme-engine"
    assert report["problems"] == [
        {
            "location": "acme.group",
            "message": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]
    assert len(report["warnings"]) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "is not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping, not list"),
    ],
)
def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    assert main(["check", write(tmp_path, text)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_empty_file_is_valid(tmp_path: Path) -> None:
    assert main(["check", write(tmp_path, "")]) == 0


PATRONI_OWN_VARIABLES = {
    "PATRONI_NAME": "node1",
    "PATRONI_SCOPE": "demo",
    "PATRONI_NAMESPACE": "/service",
    "PATRONI_RESTAPI_LISTEN": "127.0.0.1:8008",
    "PATRONI_RESTAPI_CONNECT_ADDRESS": "127.0.0.1:8008",
    "PATRONI_POSTGRESQL_DATA_DIR": "/var/lib/postgresql/data",
    "PATRONI_POSTGRESQL_LISTEN": "127.0.0.1:5432",
    "PATRONI_ETCD3_HOSTS": "127.0.0.1:2379",
    "PATRONI_SUPERUSER_USERNAME": "postgres",
    "PATRONI_REPLICATION_PASSWORD": "secret",
    "PATRONI_ADMIN_PASSWORD": "secret",  # a user named admin
    "PATRONI_ACME_PASSWORD": "secret",  # a user named like the section
    "PATRONI_ACMA_PASSWORD": "secret",  # ... or one edit away from it
    "PATRONI_ACME_OPTIONS": "createdb",
    "PATRONI_LOG_LEVEL": "INFO",
    "PATRONI_MPP_HOOK_TIMEOUT": "5",
}


def test_patroni_own_variables_give_no_warning(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    installed_dists.engine("my_engine")
    for name, value in PATRONI_OWN_VARIABLES.items():
        monkeypatch.setenv(name, value)
    report = check_config({"scope": "demo", "acme": {"group": 1, "database": "db"}})
    assert report.valid
    assert report.warnings == []


def test_unknown_key_of_the_engine_section(
    installed_dists: FakeDists,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_DATABSE", "db")
    monkeypatch.setenv("PATRONI_ACME_HOSTS", "x")
    path = write(tmp_path, "acme:\n  group: 0\n  database: db\n")
    assert main(["check", path]) == 0  # a warning, not a problem
    assert capsys.readouterr().err.splitlines() == [
        "warning: environment variable PATRONI_ACME_DATABSE names no key of the acme section; "
        "did you mean PATRONI_ACME_DATABASE? It is ignored",
        "warning: environment variable PATRONI_ACME_HOSTS names no key of the acme section; it is ignored",
    ]


def test_unknown_key_alone_does_not_configure_but_is_named(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_GRUOP", "1")
    report = check_config({"scope": "demo"})
    assert report.section is None
    assert report.warnings == [
        "environment variable PATRONI_ACME_GRUOP names no key of the acme section; "
        "did you mean PATRONI_ACME_GROUP? It is ignored"
    ]


def test_variable_of_a_longer_section_is_not_a_key_of_a_shorter_one(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("my")
    installed_dists.engine("my_engine")
    monkeypatch.setenv("PATRONI_MY_ENGINE_GROUP", "1")
    monkeypatch.setenv("PATRONI_MY_ENGINE_DATABASE", "db")
    report = check_config({"scope": "demo"})
    assert report.section == "my_engine"
    assert report.valid
    assert report.warnings == []


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("PATRONI_ACEM_GROUP", "PATRONI_ACME_GROUP"),  # two letters swapped
        ("PATRONI_ACM_GROUP", "PATRONI_ACME_GROUP"),  # one left out
        ("PATRONI_ACMEE_DATABASE", "PATRONI_ACME_DATABASE"),  # one too many
        ("PATRONI_MY_ENGNIE_GROUP", "PATRONI_MY_ENGINE_GROUP"),  # a section with an underscore
    ],
)
def test_misspelled_section_in_a_variable(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    installed_dists.engine("acme")
    installed_dists.engine("my_engine")
    monkeypatch.setenv(variable, "1")
    report = check_config({"scope": "demo"})
    section = "my_engine" if "MY_" in meant else "acme"
    assert report.warnings == [
        f"environment variable {variable} names no installed MPP engine's section; "
        f"did you mean {section} ({meant})? It is ignored"
    ]


def test_variable_two_edits_away_is_not_considered(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_AXMX_GROUP", "1")
    assert check_config({"scope": "demo"}).warnings == []


def test_misspelled_section_in_the_file(
    installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed_dists.engine("acme")
    path = write(tmp_path, "scope: demo\naecm:\n  group: 0\n  database: db\n")
    assert main(["check", path]) == 0  # MPP is not configured: what the file says
    assert capsys.readouterr().err == (
        "warning: section 'aecm' is neither a Patroni setting nor claimed by an installed MPP "
        "engine; did you mean 'acme'? It is ignored\n"
    )


@pytest.mark.parametrize("text", ["acme:\n", "acme: {}\n"])
def test_empty_section_is_invalid(
    installed_dists: FakeDists, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    installed_dists.engine("acme")
    assert main(["check", write(tmp_path, text)]) == 1
    err = capsys.readouterr().err
    assert "error: acme.database: Field required" in err
    assert "error: acme: the section is empty, and an empty section does not turn MPP off" in err


def test_bare_section_filled_by_the_environment(
    installed_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dists.engine("acme")
    monkeypatch.setenv("PATRONI_ACME_GROUP", "1")
    monkeypatch.setenv("PATRONI_ACME_DATABASE", "db")
    report = check_config({"acme": None})
    assert report.valid, report.problems
