"""The launcher refuses to start Patroni when the engine cannot be used, before PostgreSQL is touched."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from patroni_mpp import KNOWN_ENGINE_WHEELS, NULL_ENGINE, installed_engines
from patroni_mpp.testing.formation import Formation
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode


def _assert_nothing_started(node: PatroniNode) -> None:
    assert not node.data_dir.exists(), "the launcher must stop before PostgreSQL is initialised"
    assert node.postmaster_pid() is None


def _missing_known_engine() -> str:
    installed = installed_engines()
    for name in sorted(KNOWN_ENGINE_WHEELS):
        if name != NULL_ENGINE and name not in installed:
            return name
    pytest.skip("every engine this project knows is installed; none can be missing")


def test_configured_engine_missing(formation: Formation, node_options: Callable[..., NodeOptions]) -> None:
    section = _missing_known_engine()
    node = formation.add("missing", "missing", node_options(extra_config={section: {"group": 0}}))
    result = node.run_command()
    assert result.returncode != 0
    assert f"section '{section}' is not installed" in result.stderr
    assert KNOWN_ENGINE_WHEELS[section] in result.stderr
    _assert_nothing_started(node)


def test_invalid_engine_section(
    formation: Formation, node_options: Callable[..., NodeOptions], probe_path: Path
) -> None:
    section = {"e2eprobe": {"group": -1, "record_dir": "/nonexistent", "marker": "NOT VALID"}}
    node = formation.add(
        "invalid", "invalid", node_options(extra_config=section, env={"PYTHONPATH": str(probe_path)})
    )
    result = node.run_command()
    assert result.returncode != 0
    assert "invalid MPP configuration section 'e2eprobe'" in result.stderr
    assert "e2eprobe.group:" in result.stderr
    assert "e2eprobe.marker:" in result.stderr
    _assert_nothing_started(node)


def test_invalid_group_from_environment(
    formation: Formation, node_options: Callable[..., NodeOptions], probe_path: Path
) -> None:
    """``PATRONI_E2EPROBE_GROUP`` that is not an integer is ignored, so the required group is missing."""
    node = formation.add(
        "badenv",
        "badenv",
        node_options(
            extra_config={"e2eprobe": {"record_dir": "/nonexistent"}},
            env={"PYTHONPATH": str(probe_path), "PATRONI_E2EPROBE_GROUP": "one"},
        ),
    )
    result = node.run_command()
    assert result.returncode != 0
    assert "e2eprobe.group: Field required" in result.stderr
    _assert_nothing_started(node)


def test_validate_config_reports_engine_model_errors(
    formation: Formation, node_options: Callable[..., NodeOptions], probe_path: Path
) -> None:
    env = {"PYTHONPATH": str(probe_path)}
    bad = formation.add(
        "vbad", "v", node_options(extra_config={"e2eprobe": {"group": "x", "record_dir": "/r"}}, env=env)
    )
    result = bad.run_command("--validate-config")
    assert result.returncode != 0
    assert "e2eprobe.group: Input should be a valid integer" in result.stderr
    good = formation.add(
        "vgood", "v", node_options(extra_config={"e2eprobe": {"group": 2, "record_dir": "/r"}}, env=env)
    )
    result = good.run_command("--validate-config")
    # Patroni itself rejects 127.0.0.1 as a connect address; the engine section must raise nothing.
    assert "e2eprobe" not in result.stderr + result.stdout
    _assert_nothing_started(good)


def test_unsupported_patroni_is_refused(
    formation: Formation, node_options: Callable[..., NodeOptions]
) -> None:
    fake = formation.base_dir / "old-patroni"
    dist_info = fake / "patroni-3.3.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: patroni\nVersion: 3.3.1\n")
    for path in (fake, dist_info, dist_info / "METADATA"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    node = formation.add("old", "old", node_options(env={"PYTHONPATH": str(fake)}))
    result = node.run_command()
    assert result.returncode != 0
    assert "Patroni 3.3.1 is not supported" in result.stderr
    assert ">=4.0,<4.2" in result.stderr
    _assert_nothing_started(node)


def test_python_dash_m_and_exit_codes(node_python: str) -> None:
    version = subprocess.run(
        [node_python, "-m", "patroni_mpp", "run", "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.split() == ["patroni-mpp", "run", metadata.version("patroni")]
    usage = subprocess.run(
        [node_python, "-m", "patroni_mpp", "ctl", "no-such-command"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert usage.returncode == 2  # click's usage error, as with patronictl
    assert "No such command" in usage.stderr
