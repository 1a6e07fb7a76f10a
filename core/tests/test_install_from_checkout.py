"""The README's way for a third party to install ``patroni-mpp[testing]`` before the packages are on PyPI.

Both documented paths, each in a fresh venv: straight from a checkout (``pip install ./plugins/null
'./core[testing]'``) and from wheels built with ``pip wheel`` (``pip install --find-links dist
'patroni-mpp[testing]'``). The engine guide's first block (the same install, then ``new-engine``, the
new package installed and tested) runs as written. The checkout is a copy of core and null (building in
place would leave build artefacts in the source tree); the other dependencies come from the package
index, as they would for the third party.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "engine-guide.md"
CLONE = "git clone <this repository> patroni-mpp && cd patroni-mpp"
NO_TESTS_COLLECTED = 5


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _checked(*args: str | Path, cwd: Path) -> str:
    result = _run(*args, cwd=cwd)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's core and null packages."""
    root = tmp_path_factory.mktemp("checkout")
    for package in ("core", "plugins/null"):
        ignore = shutil.ignore_patterns("tests", "tests_e2e", "__pycache__", "*.egg-info", "build", "dist")
        shutil.copytree(ROOT / package, root / package, ignore=ignore)
    return root


def _venv(path: Path) -> Path:
    """A fresh venv with the pip the README asks for."""
    _checked(sys.executable, "-m", "venv", path, cwd=path.parent)
    _checked(path / "bin" / "pip", "install", "--quiet", "--upgrade", "pip>=24", cwd=path.parent)
    return path / "bin"


def _assert_usable(bin_dir: Path, cwd: Path) -> None:
    listed = _checked(bin_dir / "patroni-mpp", "list", cwd=cwd)
    assert "null" in listed
    collected = _run(bin_dir / "python", "-m", "pytest", "--trace-config", "--co", "-q", cwd=cwd)
    assert collected.returncode == NO_TESTS_COLLECTED, collected.stderr  # an empty directory: no tests
    assert "patroni_mpp.testing.plugin" in collected.stdout
    _checked(bin_dir / "python", "-c", "import psycopg, patroni_mpp.testing.conformance", cwd=cwd)


def test_readme_documents_both_paths() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install --upgrade 'pip>=24'" in text
    assert "pip install ./plugins/null './core[testing]'" in text
    assert "pip wheel --no-deps --wheel-dir dist ./core ./plugins/null" in text
    assert "pip install --find-links dist 'patroni-mpp[testing]'" in text


def test_install_from_the_checkout(checkout: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "venv")
    _checked(bin_dir / "pip", "install", "--quiet", "./plugins/null", "./core[testing]", cwd=checkout)
    _assert_usable(bin_dir, tmp_path)


def test_install_from_built_wheels(checkout: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "venv")
    dist = tmp_path / "dist"
    wheel = ("wheel", "--quiet", "--no-deps", "--wheel-dir", dist)
    _checked(bin_dir / "pip", *wheel, "./core", "./plugins/null", cwd=checkout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _checked(
        bin_dir / "pip", "install", "--quiet", "--find-links", dist, "patroni-mpp[testing]", cwd=elsewhere
    )
    _assert_usable(bin_dir, elsewhere)


def _sh_blocks(path: Path, heading: str) -> list[list[str]]:
    """The ``sh`` code blocks under ``heading`` (up to the next heading of that level), as lines."""
    text = path.read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    section = text.split(f"\n{heading}\n", 1)[1].split(f"\n{level} ", 1)[0]
    return [block.split("```", 1)[0].strip("\n").splitlines() for block in section.split("```sh\n")[1:]]


def test_guide_installs_as_the_readme_does() -> None:
    (readme_checkout, readme_wheels) = _sh_blocks(README, "### Before the packages are on PyPI")
    guide_start, guide_wheels = _sh_blocks(GUIDE, "## 1. Start in one minute")
    assert readme_checkout[0] == CLONE
    assert guide_start[: len(readme_checkout)] == readme_checkout
    assert guide_wheels == readme_wheels


def test_the_guide_first_block_as_written(checkout: Path, tmp_path: Path) -> None:
    (block, _) = _sh_blocks(GUIDE, "## 1. Start in one minute")
    assert block[0] == CLONE
    clone = tmp_path / "patroni-mpp"
    shutil.copytree(checkout, clone)
    script = "\n".join(["set -ex", f"cd {clone}", *block[1:]])
    result = _run("bash", "-c", script, cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    package = tmp_path / "patroni-mpp-my-engine"
    assert (package / "pyproject.toml").is_file()
    assert re.search(r"^my_engine\b.*\bok\b", result.stdout, re.MULTILINE), result.stdout[-3000:]
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout[-3000:]
    assert " failed" not in result.stdout, result.stdout[-3000:]
