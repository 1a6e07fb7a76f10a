"""Benchmark of the launcher against plain Patroni on the same configuration, measured in one run.

Two figures, each as a ratio launcher / plain:

- start to running leader: a single-member cluster (a fresh data directory and scope each time) is started
  by ``python -m patroni_mpp run CONFIG`` or ``python -m patroni CONFIG``; the clock runs from ``Popen`` to
  the first moment the REST API answers ``GET /leader`` with 200 while ``GET /patroni`` reports a running
  primary (polled every 20 ms). Launcher and plain rounds alternate.
- HA loop duration: the time of ``Ha.run_cycle`` on a running leader (``loop_wait`` 1), measured inside the
  Patroni process by a ``sitecustomize`` module put on ``PYTHONPATH`` for both flavours alike (only in these
  runs, not in the start-up runs), over a number of cycles after a warm-up.

The venv is built under ``.bench/e2e_launcher`` from ``/usr/bin/python3`` (the ``postgres`` user must be
able to run it) with Patroni and the core and null wheels (``$PATRONI_MPP_WHEELS`` or built from the tree).
Usage: ``python bench/e2e_launcher.py [--rounds N] [--cycles N]``. Results replace this script's section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, host, median, node_venv, p90, publish, run_at
from patroni_mpp.testing.etcd import local_etcd
from patroni_mpp.testing.formation import Formation, wait_leader
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.postgres import find_bindir
from patroni_mpp.testing.processes import LocalClusterError, check_interpreter, make_base_dir

NAME = Path(__file__).stem
WORK = ROOT / ".bench" / NAME

SITECUSTOMIZE = """
import os, time
out = os.environ.get("PATRONI_MPP_BENCH_CYCLES")
if out:
    import patroni.postgresql  # Patroni's own import order: postgresql before ha
    import patroni.ha
    _run_cycle = patroni.ha.Ha.run_cycle
    def run_cycle(self):
        started = time.perf_counter()
        try:
            return _run_cycle(self)
        finally:
            with open(out, "a") as f:
                f.write("%.9f\\n" % (time.perf_counter() - started))
    patroni.ha.Ha.run_cycle = run_cycle
"""


def make_venv() -> Path:
    python = node_venv(WORK)
    site = WORK / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    subprocess.run(["chmod", "-R", "a+rX", str(WORK)], check=True)
    check_interpreter(str(python))
    return python


DCS_LINE = "Selected new etcd server"


def to_dcs(node: PatroniNode, popen_wall: float) -> float:
    """Seconds from ``Popen`` to Patroni's log line of its first etcd contact (local-time timestamps)."""
    for line in node.log_path.read_text(errors="replace").splitlines():
        if DCS_LINE in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp() - popen_wall
    raise LocalClusterError(f"no '{DCS_LINE}' line in the log of {node.name}")


def start_to_leader(formation: Formation, python: Path, launcher: bool, index: int) -> tuple[float, float]:
    node = formation.add(f"s{index}{'l' if launcher else 'p'}", f"start{index}{'l' if launcher else 'p'}",
                         NodeOptions(python=str(python), launcher=launcher))  # fmt: skip
    node.write_config()
    started = time.perf_counter()
    popen_wall = time.time()
    node.start()

    def ready() -> bool:
        if node.process is not None and node.process.poll() is not None:
            raise LocalClusterError(f"{node.name} exited:\n{node.log_tail()}")
        status = node.status()
        if not status or status.get("state") != "running" or status.get("role") not in ("primary", "master"):
            return False
        return node.api("leader", timeout=1)[0] == 200

    wait_for(ready, timeout=180, what=f"{node.name} to lead", interval=0.02)
    elapsed = time.perf_counter() - started
    node.stop()
    return elapsed, to_dcs(node, popen_wall)


def ha_cycles(formation: Formation, python: Path, launcher: bool, cycles: int, warmup: int) -> list[float]:
    tag = "l" if launcher else "p"
    record = formation.base_dir / f"cycles-{tag}.txt"
    record.touch()
    record.chmod(0o666)
    node = formation.add(f"ha{tag}", f"ha{tag}", NodeOptions(
        python=str(python), launcher=launcher,
        env={"PYTHONPATH": str(WORK / "site"), "PATRONI_MPP_BENCH_CYCLES": str(record)},
    ))  # fmt: skip
    node.start()
    wait_leader([node])

    def enough() -> bool:
        return len(record.read_text().split()) >= warmup + cycles

    wait_for(enough, timeout=60 + 3 * (warmup + cycles), what="HA cycles", interval=0.5)
    node.stop()
    values = [float(v) for v in record.read_text().split()]
    return values[warmup : warmup + cycles]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20, help="start-up rounds per flavour (default 20)")
    parser.add_argument("--cycles", type=int, default=40, help="HA cycles measured per flavour (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="HA cycles skipped first (default 5)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    python = make_venv()
    patroni_version = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('patroni'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    py_version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                                capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    base = make_base_dir("pmpp-bench-")
    starts: dict[bool, list[float]] = {True: [], False: []}
    dcs: dict[bool, list[float]] = {True: [], False: []}
    cycles: dict[bool, list[float]] = {}
    try:
        with local_etcd(base) as etcd:
            formation = Formation(base, etcd)
            try:
                for index in range(args.rounds + 1):
                    order = (True, False) if index % 2 == 0 else (False, True)
                    for launcher in order:
                        elapsed, first_dcs = start_to_leader(formation, python, launcher, index)
                        if index > 0:  # the first round of each flavour warms caches, unmeasured
                            starts[launcher].append(elapsed)
                            dcs[launcher].append(first_dcs)
                        print(
                            f"start {'launcher' if launcher else 'plain'} #{index}: {elapsed:.3f}s "
                            f"(first DCS contact {first_dcs:.3f}s)",
                            flush=True,
                        )
                for launcher in (False, True):
                    cycles[launcher] = ha_cycles(formation, python, launcher, args.cycles, args.warmup)
                    print(f"HA cycles {'launcher' if launcher else 'plain'}: median "
                          f"{statistics.median(cycles[launcher]) * 1000:.2f} ms", flush=True)  # fmt: skip
            finally:
                formation.stop_all()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    start_ratio = median(starts[True]) / median(starts[False])
    dcs_ratio = median(dcs[True]) / median(dcs[False])
    extra_ms = (median(dcs[True]) - median(dcs[False])) * 1000
    mean_ratio = statistics.fmean(starts[True]) / statistics.fmean(starts[False])
    cycle_ratio = median(cycles[True]) / median(cycles[False])

    def verdict(ratio: float) -> str:
        return "met" if ratio <= 1.05 else "NOT met"

    def cell(values: list[float], scale: float, unit: str) -> str:
        return f"{median(values) * scale:.3f} {unit} (p90 {p90(values) * scale:.3f}, n={len(values)})"

    lines = [
        "## Launcher vs plain Patroni (`bench/e2e_launcher.py`)",
        "",
        f"Machine: {host(platform.machine())}; Python {py_version}; Patroni {patroni_version}; "
        f"PostgreSQL {find_bindir().parent.name}. Run at {run_at()}.",
        "",
        "Method: one etcd and single-member clusters on 127.0.0.1 with the same generated configuration "
        "(Null engine, `loop_wait` 1, `ttl` 20); nodes run as the `postgres` user from a venv built from "
        "`/usr/bin/python3`. *Start to leader*: from `Popen` of `python -m patroni_mpp run CONFIG` or "
        "`python -m patroni CONFIG` (fresh data directory, initdb included) until `GET /leader` is 200 and "
        "`GET /patroni` shows a running primary, polled every 20 ms; "
        f"{args.rounds} rounds per flavour after one unmeasured round each, alternating the order. "
        "*HA loop*: duration of `Ha.run_cycle` inside the Patroni process (a `sitecustomize` wrapper, "
        f"present in both flavours) on a running leader, {args.cycles} cycles after {args.warmup} "
        "warm-up cycles. *First DCS contact*: from `Popen` to Patroni's log line of its first etcd contact "
        "(everything before the daemon's work: interpreter, imports, configuration, precheck). "
        "Medians; ratio = launcher / plain (target <= 1.05).",
        "",
        "| measure | launcher | plain `patroni` | ratio |",
        "|---|---|---|---|",
        f"| start to running leader | {cell(starts[True], 1, 's')} | {cell(starts[False], 1, 's')} "
        f"| **{start_ratio:.3f}** ({verdict(start_ratio)}) |",
        f"| start to first DCS contact (fixed start-up cost) | {cell(dcs[True], 1, 's')} "
        f"| {cell(dcs[False], 1, 's')} | {dcs_ratio:.3f} (+{extra_ms:.0f} ms) |",
        f"| HA loop duration | {cell(cycles[True], 1000, 'ms')} | {cell(cycles[False], 1000, 'ms')} "
        f"| **{cycle_ratio:.3f}** ({verdict(cycle_ratio)}) |",
        "",
        f"Mean start to leader ratio: {mean_ratio:.3f}. Start to leader is quantised by the HA loop "
        "(`loop_wait` 1 s: the leader appears on a cycle after initdb), so single runs differ by up to a "
        "second; the fixed start-up cost of the launcher is the difference of the first-DCS-contact row.",
    ]
    publish(NAME, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
