"""``patroni-mpp new-engine``: name checks, the files it writes, a generated engine end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from patroni_mpp import core_version
from patroni_mpp._scaffold import FILES, core_range, engine_names, render
from patroni_mpp.cli import main
from patroni_mpp.testing.postgres import PostgresUnavailable, find_bindir

ROOT = Path(__file__).resolve().parents[3]
WHEELS_ENV = "PATRONI_MPP_WHEELS"
ENGINE = "demo_kit"
CONFORMANCE_TESTS = 54
"""Conformance checks the generated package runs (2 valid, 5 invalid samples)."""
OWN_TESTS = 14
"""The generated package's own tests (tests/test_engine.py: 2, and 12 groups for the strict integer)."""
GENERATED_TESTS = CONFORMANCE_TESTS + OWN_TESTS


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad", "invalid engine name 'Bad'"),
        ("my-engine", "invalid engine name 'my-engine'"),
        ("1engine", "invalid engine name '1engine'"),
        ("", "invalid engine name ''"),
        ("x" * 41, "longer than 40 characters"),
        ("etcd3", "a section of Patroni's own configuration"),
        ("postgresql", "a section of Patroni's own configuration"),
        ("citus", "taken by the published engine patroni-mpp-citus"),
        ("null", "taken by the published engine patroni-mpp-null"),
        ("lambda", "is a Python keyword"),
    ],
)
def test_unusable_names(name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-engine", name, "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("patroni-mpp new-engine: error: ")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_missing_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["new-engine"])
    assert info.value.code == 2
    assert "the following arguments are required: NAME" in capsys.readouterr().err


def test_refuses_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-engine", "acme", "--dir", str(tmp_path)]) == 2
    assert f"{tmp_path} is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_refuses_a_file_as_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert main(["new-engine", "acme", "--dir", str(target)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_default_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "patroni-mpp-my-engine").mkdir()  # empty: accepted
    assert main(["new-engine", "my_engine"]) == 0
    out = capsys.readouterr().out
    assert "Wrote engine package patroni-mpp-my-engine (section 'my_engine')" in out
    assert (tmp_path / "patroni-mpp-my-engine" / "src" / "patroni_mpp_my_engine" / "hooks.py").is_file()


def test_written_files(tmp_path: Path) -> None:
    assert main(["new-engine", "acme_db", "--dir", str(tmp_path / "pkg")]) == 0
    pkg = tmp_path / "pkg"
    written = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file())
    assert written == sorted(target.format(module="patroni_mpp_acme_db") for _, target in FILES)
    pyproject = tomllib.loads((pkg / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert project["name"] == "patroni-mpp-acme-db"
    assert project["entry-points"]["patroni.mpp"] == {"acme_db": "patroni_mpp_acme_db.hooks"}
    assert f"patroni-mpp{core_range(core_version())}" in project["dependencies"]
    assert pyproject["tool"]["pytest"]["ini_options"]["filterwarnings"] == ["error"]
    for path in pkg.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"\{\{\s*\w+\s*\}\}", text), path
            if path.suffix == ".py":
                compile(text, str(path), "exec")
    engine = (pkg / "src" / "patroni_mpp_acme_db" / "engine.py").read_text()
    assert "class AcmeDbHandler(AcmeDb, AbstractMPPHandler):" in engine
    assert "    group: StrictInteger = Field(" in engine  # no bool as an integer
    assert "            AcmeDbConfig.model_validate(config)\n" in engine  # validate_config asks the model
    readme = (pkg / "README.md").read_text()
    assert "PATRONI_ACME_DB_DATABASE" in readme


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", ">=0.1,<0.2"),
        ("0.3.2", ">=0.3,<0.4"),
        ("1.4.0", ">=1.4,<2"),
        ("2.0.0rc1", ">=2.0,<3"),
        ("0+unknown", ">=0.1,<0.2"),
        ("not a version", ">=0.1,<0.2"),
    ],
)
def test_core_range(version: str, expected: str) -> None:
    assert core_range(version) == expected


def test_names() -> None:
    names = engine_names("my_engine2", "0.1.0")
    assert (names.module, names.dist, names.cls, names.env) == (
        "patroni_mpp_my_engine2",
        "patroni-mpp-my-engine2",
        "MyEngine2",
        "PATRONI_MY_ENGINE2",
    )


def test_render_refuses_unknown_placeholders() -> None:
    assert render("a {{ x }} b {{y}}", {"x": "1", "y": "2"}) == "a 1 b 2"
    with pytest.raises(KeyError):
        render("{{ nope }}", {})


# -- a generated engine, built and tested in a fresh venv -------------------------------------


@dataclass(frozen=True)
class GeneratedEngine:
    """A generated engine package installed in a fresh venv holding only core, null and it."""

    source: Path
    python: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            cwd=cwd or self.source,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )


def _pip_wheel(wheels: Path, *projects: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--wheel-dir",
        str(wheels),
    ]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")  # hatchling is here: no build env to download
    subprocess.run([*command, *map(str, projects)], check=True, capture_output=True, text=True)


def _one(wheels: Path, prefix: str) -> Path:
    found = sorted(wheels.glob(f"{prefix}-*.whl"))
    assert len(found) == 1, f"expected one {prefix} wheel in {wheels}, found {found}"
    return found[0]


def _clean_env() -> dict[str, str]:
    drop = {
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PIP_REQUIRE_VIRTUALENV",
    }
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="session")
def generated_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeneratedEngine]:
    """Generate an engine, build its wheel, install it with core and null into a fresh venv."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this environment")
    base = tmp_path_factory.mktemp("new-engine")
    wheels = base / "wheels"
    wheels.mkdir()
    given = os.environ.get(WHEELS_ENV)
    if given:
        for prefix in ("patroni_mpp", "patroni_mpp_null"):
            source = _one(Path(given), prefix)
            (wheels / source.name).write_bytes(source.read_bytes())
    else:
        if not (ROOT / "core" / "pyproject.toml").is_file():
            pytest.skip(f"{WHEELS_ENV} is not set and the repository sources are not at {ROOT}")
        _pip_wheel(wheels, ROOT / "core", ROOT / "plugins" / "null")
    source = base / "engine"
    assert main(["new-engine", ENGINE, "--dir", str(source)]) == 0
    _pip_wheel(wheels, source)
    venv = base / "venv"
    env = _clean_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    core = _one(wheels, "patroni_mpp")
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--find-links",
            str(wheels),
            f"patroni-mpp[testing] @ {core.as_uri()}",
            str(_one(wheels, "patroni_mpp_null")),
            str(_one(wheels, "patroni_mpp_demo_kit")),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    yield GeneratedEngine(source, python, env)


def _postgres_installed() -> bool:
    try:
        find_bindir()
    except PostgresUnavailable:
        return False
    return True


def test_generated_tests_pass_in_fresh_venv(generated_engine: GeneratedEngine) -> None:
    result = generated_engine.run("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    if _postgres_installed():
        assert re.match(rf"^{GENERATED_TESTS} passed in ", summary), summary
    else:
        assert "passed" in summary and "failed" not in summary, summary


def test_generated_engine_is_found(generated_engine: GeneratedEngine, tmp_path: Path) -> None:
    code = (
        "import json, patroni_mpp\n"
        f"engine = patroni_mpp.get_mpp({{'{ENGINE}': {{'database': 'postgres', 'group': 0}}}})\n"
        "print(json.dumps([type(engine).__module__, engine.type, engine.is_coordinator()]))\n"
    )
    result = generated_engine.run("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["patroni_mpp_demo_kit.engine", "DemoKit", True]
    schema = generated_engine.run("-m", "patroni_mpp", "schema", ENGINE, cwd=tmp_path)
    assert schema.returncode == 0, schema.stderr
    assert set(json.loads(schema.stdout)["properties"]) == {"database", "group"}
    freeze = generated_engine.run("-m", "pip", "freeze", cwd=tmp_path)
    installed = {line.split(" @ ")[0].split("==")[0].lower() for line in freeze.stdout.splitlines()}
    assert {"patroni-mpp", "patroni-mpp-null", "patroni-mpp-demo-kit"} <= installed
    assert "patroni-mpp-citus" not in installed and "patroni-mpp-timescaledb" not in installed
