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
