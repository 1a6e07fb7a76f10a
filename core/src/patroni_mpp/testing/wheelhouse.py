"""Engine plugins through real packaging: projects built into wheels, installed by pip into venvs.

A :class:`Wheelhouse` holds every wheel a venv needs (core, null, the plugins under test and their
dependencies, downloaded once), so that :meth:`Wheelhouse.venv` installs offline. A :class:`Venv`
runs programs in a clean environment; :meth:`Venv.probe` runs ``get_mpp`` and the handler in a new
interpreter, which shows what discovery imported. :func:`write_plugin` writes a one-module plugin
project from :data:`PYPROJECT`, :func:`build_wheels` builds projects with the hatchling backend, and
:func:`pack_wheel` packs a directory of modules into a wheel without any build backend.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PLUGIN_PREFIX = "tp_"
"""Prefix of the module names of test plugins: :data:`PROBE` reports those it imported."""

COMPATIBLE = '["patroni-mpp>=0.1,<0.2", "pydantic>=2"]'
"""The ``dependencies`` of a plugin project that fits this core (a :func:`write_plugin` field)."""

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "{version}"
requires-python = ">=3.11"
dependencies = {dependencies}

[project.entry-points."patroni.mpp"]
{entry_point} = "{module}"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]
"""
"""The ``pyproject.toml`` of a one-module plugin project (format with the :func:`write_plugin` fields)."""

PROBE = """\
import json, logging, sys

messages = []


class Collect(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())


logging.getLogger("patroni_mpp").addHandler(Collect())
import patroni_mpp


class Postgresql:
    name = "node1"
    database = "postgres"
    connection_string = "postgres://127.0.0.1:5432/postgres"


result = {"core_file": patroni_mpp.__file__}
try:
    engine = patroni_mpp.get_mpp(json.loads(sys.argv[1]))
    result.update(ok=True, cls=type(engine).__name__, module=type(engine).__module__,
                  type=engine.type, group=engine.group, coordinator=engine.is_coordinator())
    handler = engine.get_handler_impl(Postgresql())
    result["handler"] = type(handler).__name__
except Exception as exc:
    result.update(ok=False, error_type=type(exc).__name__, error=str(exc))
result["imported"] = sorted(m for m in sys.modules if m.startswith("tp_"))
result["warnings"] = messages
print(json.dumps(result))
"""
"""A script: ``get_mpp(<argv[1] as JSON>)`` and its handler; prints the outcome, imports and warnings."""


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without Python, patroni-mpp and venv variables, pip quiet, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PATRONI_", "VIRTUAL_ENV"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra or {})
    return env


def run(args: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a program (``subprocess.run`` arguments), capturing its output as text."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=600, **kwargs
    )
    return result


def checked(args: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a program in :func:`clean_env`; fail the test, with its output, when it fails."""
    result = run(args, env=clean_env(), **kwargs)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def pip(*args: str | Path) -> list[str | Path]:
    """The command line of this interpreter's pip with ``args``."""
    return [sys.executable, "-m", "pip", *args]


def build_wheels(projects: list[Path], out: Path) -> None:
    """Build wheels with the hatchling backend (from this venv when it has it, else isolated)."""
    isolation = [] if importlib.util.find_spec("hatchling") else ["--use-pep517"]
    no_isolation = ["--no-build-isolation"] if not isolation else []
    checked(pip("wheel", "--no-deps", *no_isolation, *isolation, "--wheel-dir", out, *projects))


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def pack_wheel(
    source: Path,
    out_dir: Path,
    *,
    name: str,
    version: str,
    requires: Sequence[str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> Path:
    """Pack the ``*.py`` files under ``source`` into a pure-Python wheel in ``out_dir``, offline.

    For a test plugin whose sources are checked in as a package directory: no build backend, no
    index.

    :param entry_points: group -> entry-point name -> object reference, e.g.
        ``{"patroni.mpp": {"probe": "patroni_mpp_probe"}}``.
    :returns: the wheel's path, ``<name>-<version>-py3-none-any.whl`` (``-`` in ``name`` as ``_``).
    """
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    files = {path.relative_to(source).as_posix(): path.read_bytes() for path in sorted(source.rglob("*.py"))}
    requirements = "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requirements}"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: patroni-mpp-testing\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{key} = {target}\n" for key, target in named.items())
        for group, named in entry_points.items()
    ).encode()
    record = [_record_line(path, data) for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@dataclass
class Venv:
    """A venv made by :meth:`Wheelhouse.venv`."""

    path: Path

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a program of the venv (``python``, ``patroni-mpp``, ...)."""
        return run([self.path / "bin" / str(args[0]), *args[1:]], env=clean_env(env), cwd=self.path)

    def probe(self, config: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """``get_mpp(config)`` and its handler in a new interpreter: the outcome and the imports.

        A traceback on its stderr fails the test: a plugin's failure must come back as an error.

        :param env: variables to add to the clean environment.
        """
        result = self.run("python", "-I", "-c", PROBE, json.dumps(config), env=env)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
        assert data["core_file"].startswith(str(self.path)), "core must be installed, not editable"
        assert "Traceback" not in result.stderr, result.stderr
        return data

    def distributions(self) -> dict[str, str]:
        """Installed distribution name -> version."""
        code = (
            "import json, importlib.metadata as m; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
        )
        return dict(json.loads(self.run("python", "-I", "-c", code).stdout))


@dataclass
class Wheelhouse:
    """Every wheel the venvs need: ours, the test plugins' and our dependencies."""

    path: Path

    @classmethod
    def build(
        cls,
        base: Path,
        source_root: Path,
        plugins: Iterable[dict[str, str]],
        packages: Sequence[str] = ("core", "plugins/null"),
    ) -> Wheelhouse:
        """Make ``base/wheelhouse`` for offline venvs: our wheels, the test plugins', our dependencies.

        Our ``packages`` come from :func:`copy_our_wheels`; the ``plugins`` (:func:`write_plugin`
        fields) are built, and the dependencies of our wheels downloaded.

        :param base: an empty scratch directory.
        :param source_root: the checkout holding our packages.
        """
        house = base / "wheelhouse"
        house.mkdir()
        copy_our_wheels(house, base, source_root, packages)
        build_wheels([write_plugin(base / "projects", plugin) for plugin in plugins], house)
        ours = [str(p) for p in sorted(house.glob("patroni_mpp*.whl"))]
        checked(pip("download", "--dest", house, "--find-links", house, *ours))
        return cls(house)

    def venv(self, path: Path, requirements: Sequence[str], no_deps: Sequence[str] = ()) -> Venv:
        """Make a venv; install ``requirements``, then ``no_deps`` without their dependencies."""
        checked([sys.executable, "-m", "venv", "--without-pip", path])
        venv = Venv(path)
        base: list[str | Path] = [
            "--python",
            venv.python,
            "install",
            "--no-index",
            "--find-links",
            self.path,
        ]
        checked(pip(*base, *requirements))
        if no_deps:
            checked(pip(*base, "--no-deps", *no_deps))
        return venv


WHEEL_NAMES = {
    "core": "patroni_mpp",
    "plugins/null": "patroni_mpp_null",
    "plugins/citus": "patroni_mpp_citus",
    "plugins/timescaledb-stub": "patroni_mpp_timescaledb",
}
"""Our packages (directories of the checkout) and the names their wheel files start with."""


def copy_our_wheels(
    out: Path, scratch: Path, source_root: Path, packages: Sequence[str] = ("core", "plugins/null")
) -> None:
    """Put the wheels of our ``packages`` into ``out``: from ``$PATRONI_MPP_WHEELS``, else built.

    :param out: the wheelhouse directory.
    :param scratch: a directory for copies of the projects (building in place would leave build
        artefacts in the source tree).
    :param source_root: the checkout holding the packages.
    :param packages: keys of :data:`WHEEL_NAMES`.
    """
    prebuilt = os.environ.get("PATRONI_MPP_WHEELS")
    if prebuilt:
        for package in packages:
            pattern = f"{WHEEL_NAMES[package]}-*.whl"
            found = sorted(Path(prebuilt).glob(pattern))
            assert len(found) == 1, f"expected one {pattern} in {prebuilt}, found {found}"
            shutil.copy(found[0], out)
        return
    projects = []
    for package in packages:
        copy = scratch / package.replace("/", "-")
        shutil.copytree(source_root / package, copy, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        projects.append(copy)
    build_wheels(projects, out)


def write_plugin(root: Path, plugin: dict[str, str]) -> Path:
    """Write a one-module plugin project under ``root``; its directory.

    :param plugin: the :data:`PYPROJECT` fields (``dist``, ``version``, ``entry_point``, ``module``,
        ``dependencies``) and ``source``, the module's source.
    """
    project = root / plugin["dist"]
    package = project / "src" / plugin["module"]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(plugin["source"]))
    (project / "pyproject.toml").write_text(PYPROJECT.format(**plugin))
    return project
