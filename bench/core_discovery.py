"""Benchmark of engine discovery: what ``get_mpp`` costs, what it imports, and how 50 extra
installed engine distributions change that.

Two venvs under ``.bench/core_discovery``: ``base`` holds core, null and one small engine
(``bench``, the minimal engine of ``patroni_mpp.testing.engines``: a pydantic config model and a
handler, like a real engine); ``plus50`` holds the same plus 50
more engine distributions (``extra00`` .. ``extra49``, each a real plugin). Measured in each:

- cold: a new interpreter runs ``import patroni_mpp; get_mpp(config)`` for a configuration with a
  ``bench`` section; the time from before the import to after ``get_mpp`` (inside the process) and
  the wall time of the whole process (interpreter start included);
- warm: ``get_mpp(config)`` called again in a process that already called it;
- imports: the modules that ``get_mpp`` imported, beyond those ``import patroni_mpp`` did;
- ``patroni-mpp list``: wall time of the command, which imports every engine.

Usage: ``python bench/core_discovery.py [--runs N]`` (``nox -s bench`` runs it). Wheels of core and
null come from ``$PATRONI_MPP_WHEELS`` or are built from the source tree. Results replace this
script's section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from _common import machine, median, p90, publish
from patroni_mpp.testing.engines import engine_source

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "core_discovery"
NAME = Path(__file__).stem
EXTRA_ENGINES = 50
TARGET_WARM_MS = 5.0
TARGET_ADDED_COLD_MS = 50.0
CONFIG = {
    "scope": "bench",
    "postgresql": {"listen": "127.0.0.1:5432"},
    "bench": {"group": 1, "database": "postgres"},
}

COLD = """\
import json, sys, time
t0 = time.perf_counter()
import patroni_mpp
t1 = time.perf_counter()
before = set(sys.modules)
engine = patroni_mpp.get_mpp(json.loads(sys.argv[1]))
t2 = time.perf_counter()
new = sorted(set(sys.modules) - before)
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "get_mpp_ms": (t2 - t1) * 1e3,
                  "total_ms": (t2 - t0) * 1e3, "engine": type(engine).__module__, "new": new}))
"""

WARM = """\
import json, sys, time
import patroni_mpp
config = json.loads(sys.argv[1])
patroni_mpp.get_mpp(config)
times = []
for _ in range(2000):
    t = time.perf_counter()
    patroni_mpp.get_mpp(config)
    times.append(time.perf_counter() - t)
print(json.dumps([t * 1e3 for t in times]))
"""


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def write_wheel(out: Path, dist: str, section: str, module: str) -> Path:
    """Write a one-module engine wheel (the format is simple enough to need no build backend)."""
    norm = dist.replace("-", "_")
    info = f"{norm}-1.0.dist-info"
    files = {
        f"{module}/__init__.py": engine_source(section, "Engine"),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n"
            "Requires-Dist: patroni-mpp<0.2,>=0.1\nRequires-Dist: pydantic>=2\n"
        ),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: core_discovery bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[patroni.mpp]\n{section} = {module}\n",
    }
    path = out / f"{norm}-1.0-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            data = text.encode()
            archive.writestr(name, data)
            record.append(f"{name},{_record_hash(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def core_wheels(out: Path) -> list[Path]:
    """The core and null wheels: from $PATRONI_MPP_WHEELS, or built from the source tree."""
    source = os.environ.get("PATRONI_MPP_WHEELS")
    if not source:
        source = str(out / "built")
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", source,
            ROOT / "core", ROOT / "plugins" / "null")  # fmt: skip
    wheels = []
    for prefix in ("patroni_mpp-", "patroni_mpp_null-"):
        found = sorted(Path(source).glob(f"{prefix}*.whl"))
        if len(found) != 1:
            raise SystemExit(f"expected one {prefix}*.whl in {source}, found {found}")
        wheels.append(found[0])
    return wheels


def make_venv(path: Path, wheels: list[Path], extra: list[Path]) -> Path:
    """A venv holding ``wheels`` (with their dependencies) and ``extra`` (without)."""
    if path.exists():
        shutil.rmtree(path)
    run(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    run(*pip, *wheels)
    if extra:
        run(*pip, "--no-deps", *extra)
    return python


def cold(python: Path) -> dict[str, object]:
    """One cold run: a new interpreter; wall time measured around the whole process."""
    start = time.perf_counter()
    result = run(python, "-I", "-c", COLD, json.dumps(CONFIG))
    wall = (time.perf_counter() - start) * 1e3
    data: dict[str, object] = json.loads(result.stdout)
    data["wall_ms"] = wall
    return data


def list_time(venv: Path) -> float:
    """Wall time of ``patroni-mpp list`` in milliseconds."""
    start = time.perf_counter()
    subprocess.run([str(venv / "bin" / "patroni-mpp"), "list"], capture_output=True, check=False, text=True)
    return (time.perf_counter() - start) * 1e3


def main() -> int:
    """Build the venvs, measure, print and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=21, help="cold runs per venv (default 21)")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    wheel_dir = WORK / "wheels"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    wheel_dir.mkdir()
    ours = core_wheels(WORK)
    engine = write_wheel(wheel_dir, "bench-engine", "bench", "bench_engine")
    extras = [
        write_wheel(wheel_dir, f"extra-engine-{i:02d}", f"extra{i:02d}", f"extra_engine_{i:02d}")
        for i in range(EXTRA_ENGINES)
    ]
    print("creating venvs ...", flush=True)
    venvs = {
        "base": make_venv(WORK / "base", [*ours, engine], []),
        "plus50": make_venv(WORK / "plus50", [*ours, engine], extras),
    }

    for python in venvs.values():  # warm the OS file cache and the .pyc files before measuring
        cold(python)
        cold(python)

    runs: dict[str, list[dict[str, object]]] = {name: [] for name in venvs}
    for _ in range(args.runs):  # interleaved, so that drift of the machine hits both alike
        for name, python in venvs.items():
            runs[name].append(cold(python))

    def col(name: str, key: str) -> list[float]:
        return [float(r[key]) for r in runs[name]]  # type: ignore[arg-type]

    warm = {
        name: json.loads(run(python, "-I", "-c", WARM, json.dumps(CONFIG)).stdout)
        for name, python in venvs.items()
    }
    lists = {name: [list_time(python.parent.parent) for _ in range(7)] for name, python in venvs.items()}

    imported = {name: [str(m) for m in runs[name][0]["new"]] for name in venvs}  # type: ignore[attr-defined]
    plugins = [m for m in imported["plus50"] if m.startswith(("bench_engine", "extra_engine", "null"))]
    plugins += [m for m in imported["plus50"] if m.startswith("patroni_mpp_")]
    engine_module = runs["base"][0]["engine"]

    added_get_mpp = median(col("plus50", "get_mpp_ms")) - median(col("base", "get_mpp_ms"))
    added_total = median(col("plus50", "total_ms")) - median(col("base", "total_ms"))
    added_wall = median(col("plus50", "wall_ms")) - median(col("base", "wall_ms"))
    warm_us = max(median(warm["base"]), median(warm["plus50"])) * 1e3
    warm_ok = warm_us < TARGET_WARM_MS * 1e3
    cold_ok = added_get_mpp < TARGET_ADDED_COLD_MS

    def cell(name: str, key: str) -> str:
        return f"{median(col(name, key)):.1f} (p90 {p90(col(name, key)):.1f})"

    rows = [
        f"| {name} | {median(col(name, 'import_ms')):.1f} | {median(col(name, 'get_mpp_ms')):.1f}"
        f" | {cell(name, 'total_ms')} | {cell(name, 'wall_ms')}"
        f" | {median(warm[name]) * 1e3:.1f} (p90 {p90(warm[name]) * 1e3:.1f})"
        f" | {median(lists[name]):.0f} |"
        for name in venvs
    ]
    lines = [
        f"## Engine discovery (`bench/{NAME}.py`)",
        "",
        f"Machine: {machine()}. Run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
        "",
        "Method: two venvs built from the wheels: `base` holds core, null and one small engine "
        "(`bench`, a pydantic config model and a handler, as a real engine has); `plus50` holds "
        f"the same plus {EXTRA_ENGINES} more engine distributions, each a real plugin. The "
        "configuration has a `bench` section. Cold: a new interpreter (`python -I`) runs "
        f"`import patroni_mpp; get_mpp(config)`, {args.runs} runs per venv, interleaved, after "
        "two unmeasured runs; "
        "*in process* is from before the import to after `get_mpp`, *process wall* includes "
        "interpreter start and exit. Warm: 2000 further `get_mpp(config)` calls in one process. "
        "`patroni-mpp list` (imports every engine): 7 runs. Medians, p90 in brackets.",
        "",
        "| venv | import patroni_mpp ms | get_mpp ms (cold) | in process ms | process wall ms "
        "| warm get_mpp µs | `patroni-mpp list` ms |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"- Added cold-start cost of {EXTRA_ENGINES} extra engines: **{added_get_mpp:.1f} ms** "
        f"(target < {TARGET_ADDED_COLD_MS:.0f} ms: {'met' if cold_ok else 'MISSED'}), the "
        "difference of the cold `get_mpp` medians, the only step that sees the installed engines "
        "(`import patroni_mpp` scans nothing). The noisier whole measures differ by "
        f"{added_total:.1f} ms (in process) and {added_wall:.1f} ms (process wall).",
        f"- Warm `get_mpp`: **{warm_us:.1f} µs** (target < {TARGET_WARM_MS:.0f} ms: "
        f"{'met' if warm_ok else 'MISSED'}).",
        f"- Engine built: `{engine_module}`. Plugin modules imported by `get_mpp` in plus50: "
        f"{', '.join(f'`{m}`' for m in plugins) or 'none'}; none of the {EXTRA_ENGINES} "
        "`extra_engine_*` modules, nor null (imported only when no MPP section is configured).",
        "- Every module `get_mpp` imported beyond `import patroni_mpp` (plus50): "
        f"{', '.join(f'`{m}`' for m in imported['plus50'])}.",
    ]
    publish(NAME, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
