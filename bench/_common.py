"""Helpers shared by the benchmark scripts (not a benchmark: ``nox -s bench`` skips ``bench/_*.py``).

The scripts import it as ``_common``: run as ``python bench/NAME.py``, their directory is on
``sys.path``.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
BASE_PYTHON = "/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else "/usr/bin/python3"
"""The system interpreter: venvs of Patroni nodes must be runnable by the ``postgres`` user."""
PATRONI = "patroni[etcd3,psycopg3]>=4.0,<4.2"
_WHEEL_PREFIXES = {
    "core": "patroni_mpp-",
    "plugins/null": "patroni_mpp_null-",
    "plugins/citus": "patroni_mpp_citus-",
}


def pip(python: Path, *args: str) -> None:
    """Run pip of ``python``, quietly."""
    subprocess.run([str(python), "-m", "pip", "--quiet", "--disable-pip-version-check", *args], check=True)


def _wheels(python: Path, work: Path, packages: tuple[str, ...]) -> list[Path]:
    prefixes = tuple(_WHEEL_PREFIXES[p] for p in packages)
    given = os.environ.get("PATRONI_MPP_WHEELS")
    if given:
        found = [w for w in Path(given).glob("*.whl") if w.name.startswith(prefixes)]
        if len(found) == len(prefixes):
            return found
    out = work / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    pip(python, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
        *(str(ROOT / p) for p in packages))  # fmt: skip
    return sorted(out.glob("*.whl"))


def node_venv(work: Path, packages: tuple[str, ...] = ("core", "plugins/null")) -> Path:
    """A venv under ``work`` for Patroni nodes: Patroni and the wheels of ``packages``.

    Built from :data:`BASE_PYTHON`; the wheels come from ``$PATRONI_MPP_WHEELS`` when they are all
    there (nox's), else they are built from the checkout. Everything under ``work`` is made readable.

    :returns: the venv's interpreter.
    """
    python = work / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([BASE_PYTHON, "-m", "venv", str(work / "venv")], check=True)
        pip(python, "install", "--upgrade", "pip")
    pip(python, "install", PATRONI, "hatchling>=1.21")
    built = [str(w) for w in _wheels(python, work, packages)]
    pip(python, "install", *built)
    pip(python, "install", "--force-reinstall", "--no-deps", *built)  # same version, new files
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
    return python


def host(fallback_model: str) -> str:
    """CPU model, core count and OS: ``MODEL, N cores; SYSTEM RELEASE``.

    :param fallback_model: the model named when ``/proc/cpuinfo`` names none.
    """
    model = fallback_model
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores; {platform.system()} {platform.release()}"


def machine() -> str:
    """CPU model, core count, OS and this interpreter's Python version."""
    return (
        f"{host(platform.processor() or platform.machine())}; "
        f"Python {platform.python_version()} ({sys.implementation.name})"
    )


def run_at() -> str:
    """The current time in UTC, as the sections print it."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def median(values: list[float]) -> float:
    """Median of the values."""
    return statistics.median(values)


def p90(values: list[float]) -> float:
    """90th percentile of the values (the value itself when there is only one)."""
    return statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else values[0]


def update_benchmarks(name: str, section: str, path: Path = BENCHMARKS) -> None:
    """Replace the section of script ``name`` in BENCHMARKS.md (creating the file or section if needed).

    :param name: the script name without ``.py``; the section lies between the lines
        ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``.
    :param section: the new text of the section.
    :param path: the file to update.
    """
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{section.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def publish(name: str, section: str) -> None:
    """Print the section of script ``name``, then write it into BENCHMARKS.md.

    :param name: the script name without ``.py``.
    :param section: the text of the section.
    """
    print(section)
    update_benchmarks(name, section)
