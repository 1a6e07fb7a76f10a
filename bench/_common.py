"""Helpers shared by the benchmark scripts (not a benchmark: ``nox -s bench`` skips ``bench/_*.py``).

The scripts import it as ``_common``: run as ``python bench/NAME.py``, their directory is on
``sys.path``.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


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
