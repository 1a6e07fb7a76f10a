"""What a published project carries beside its code: licence, changelogs, hook pins, lower bounds.

These files live at the repository root and in each package directory; the tests read them from the
checkout the tests run in.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ["core", "plugins/null", "plugins/citus", "plugins/timescaledb-stub"]
"""Packages published from this repository, each with its changelog."""


def _pyproject(package: str) -> dict[str, object]:
    with (ROOT / package / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_licence_is_mit_by_the_authors() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} the patroni-mpp authors$", text, flags=re.MULTILINE)
    for package in PUBLISHED:
        project = _pyproject(package)["project"]
        assert isinstance(project, dict)
        assert project["license"] == "MIT", package


@pytest.mark.parametrize("package", PUBLISHED)
def test_changelog_has_the_current_version(package: str) -> None:
    project = _pyproject(package)["project"]
    assert isinstance(project, dict)
    text = (ROOT / package / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith(f"# Changelog of {project['name']}\n")
    assert re.search(rf"^## {re.escape(str(project['version']))} - ", text, flags=re.MULTILINE)


def _nox_pins() -> dict[str, str]:
    text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    return dict(re.findall(r'"(ruff|mypy)==([0-9.]+)"', text))


def test_pre_commit_runs_the_ci_versions() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    pins: dict[str, set[str]] = {}
    for repo in config["repos"]:
        for hook in repo["hooks"]:
            for dependency in hook.get("additional_dependencies", []):
                requirement = Requirement(dependency)
                for spec in requirement.specifier:
                    if spec.operator == "==":
                        pins.setdefault(requirement.name, set()).add(spec.version)
    nox = _nox_pins()
    assert set(nox) == {"ruff", "mypy"}
    assert {name: {version} for name, version in nox.items()} == {k: pins[k] for k in nox}


def _constraints() -> dict[str, str]:
    pins = {}
    for raw in (ROOT / "constraints-lowest.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _lower_bounds() -> dict[str, set[str]]:
    """Third-party requirement name -> the ``>=`` bounds the pyprojects give it (extras included)."""
    bounds: dict[str, set[str]] = {}
    for package in PUBLISHED:
        project = _pyproject(package)["project"]
        assert isinstance(project, dict)
        requirements = list(project.get("dependencies", []))
        for extra, listed in project.get("optional-dependencies", {}).items():
            if extra != "patroni":  # Patroni's lowest (4.0.0) is the e2e matrix's business
                requirements += listed
        for text in requirements:
            requirement = Requirement(text)
            if requirement.name.startswith("patroni-mpp"):
                continue
            for spec in requirement.specifier:
                if spec.operator == ">=":
                    bounds.setdefault(requirement.name.lower(), set()).add(spec.version)
    return bounds


def test_constraints_pin_every_lower_bound() -> None:
    constraints = _constraints()
    for name, versions in _lower_bounds().items():
        expected = min(versions, key=Version)
        pinned = constraints.get(name)
        assert pinned is not None, f"constraints-lowest.txt does not pin {name}"
        assert Version(pinned) == Version(expected), name
