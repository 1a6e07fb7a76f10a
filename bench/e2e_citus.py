"""Citus under client load on real Citus: plain Patroni, the launcher, and its fast switchover, in one run.

Scenario (``patroni_mpp_citus.testing.cluster_measured.run_measured``): one etcd, a coordinator and two worker
groups of two members each on 127.0.0.1 (``loop_wait`` 2, ``ttl`` 20, ``retry_timeout`` 5). Three writer
threads insert rows of a distributed table through the coordinator (reading one back every ten writes; a
failed read-back is counted apart, not as a failed write, since reads are not held by a switchover), and one
read-only client reads, through the coordinator, a row on a shard of each worker group, in a loop (10 ms pause
between operations, 50 ms after a failure). Meanwhile worker group 1 is switched over ``--switchovers`` times
(``ctl switchover --group 1``, each in the other direction), then the leader of worker group 2 is killed
(``kill -9`` of Patroni and then of its postmaster) and, once ``pg_dist_node`` names the new leader, started
again. Before each event the group has a streaming replica (a quorum standby under synchronous replication);
after it 1.5 s pass. A thread polls ``pg_dist_node`` on the coordinator every 25 ms.

Each of the six runs builds a fresh formation: plain ``patroni`` (its built-in Citus support),
``patroni-mpp run`` (the ``citus`` engine wheel) and ``patroni-mpp run --fast-switchover`` (the same, with
``PATRONI_MPP_FAST_SWITCHOVER=1`` on every member), each under Patroni's default for a configuration with a
``citus`` section (``synchronous_mode: quorum``) and with ``synchronous_mode: false``; same configuration
otherwise. Per event: failed writes and reads (from the event to the next one), the longest gap between two
successful writes of one writer thread, the read-error window (from the reader's first failure to its first
success after the last one), the time from the switchover command (or the kill) until ``pg_dist_node`` names
the new leader as primary, until it first holds the old leader as a ``secondary`` row and since when it holds
that row for good (to the next event), and when the old leader streams again. At the end, every acknowledged
id is looked up.

Needs the citus extension in the PostgreSQL installation; elsewhere the section says why it was skipped.
Usage: ``python bench/e2e_citus.py [--switchovers N] [--writers N] [--modes quorum,off]
[--flavours plain,launcher,fast]``. The nodes run ``$PATRONI_MPP_E2E_PYTHON``, else this interpreter when the
``postgres`` user can run it with Patroni and the wheels, else a venv built under ``.bench/e2e_citus`` from
``/usr/bin/python3.11`` (Patroni and the core, null and citus wheels). Progress goes to stderr, node logs to
``.bench/e2e_citus/logs``, raw figures to ``.bench/e2e_citus/results.json``; the section replaces this
script's part of BENCHMARKS.md, and the safety figures its part of RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, node_venv, publish, run_at, update_benchmarks
from _e2e_citus_report import TITLE, benchmarks_section, reliability_section
from patroni_mpp.testing.environment import getenv
from patroni_mpp.testing.etcd import local_etcd
from patroni_mpp.testing.formation import Formation
from patroni_mpp.testing.patroni_node import NodeOptions
from patroni_mpp.testing.processes import LocalClusterError, check_interpreter, make_base_dir
from patroni_mpp_citus.testing.cluster import GROUPS, citus_unavailable_reason, stop_groups
from patroni_mpp_citus.testing.cluster_measured import run_measured
from patroni_mpp_citus.testing.patroni_logs import iter_patroni_problems

NAME = Path(__file__).stem
WORK = ROOT / ".bench" / NAME
RELIABILITY = ROOT / "RELIABILITY.md"
NODE_MODULES = ("patroni", "patroni_mpp", "patroni_mpp_citus", "psycopg")
FLAVOURS: dict[str, tuple[bool, dict[str, str]]] = {
    # name: (through the launcher, extra environment of every member)
    "plain": (False, {}),
    "launcher": (True, {}),
    "fast": (True, {"PATRONI_MPP_FAST_SWITCHOVER": "1"}),
}
MODES: dict[str, dict[str, Any]] = {
    "quorum": {},  # Patroni's default when a citus section is present
    "off": {"bootstrap": {"dcs": {"synchronous_mode": False}}},
}

log = logging.getLogger(NAME)


# --------------------------------------------------------------------------------------------- interpreter


def node_python() -> str:
    """The interpreter the nodes run (see the module docstring)."""
    explicit = getenv("PATRONI_MPP_E2E_PYTHON")
    if explicit:
        check_interpreter(explicit, NODE_MODULES)
        return explicit
    try:
        check_interpreter(sys.executable, NODE_MODULES)
        return sys.executable
    except LocalClusterError as exc:
        log.info("%s; building a venv under %s", exc, WORK)
    python = str(node_venv(WORK, ("core", "plugins/null", "plugins/citus")))
    check_interpreter(python, NODE_MODULES)
    return python


def version_of(python: str, distribution: str) -> str:
    return subprocess.run(
        [python, "-c", f"from importlib.metadata import version; print(version({distribution!r}))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


# --------------------------------------------------------------------------------------------- runs


def keep_logs(formation: Formation, label: str) -> collections.Counter[str]:
    """Copy the node logs under WORK/logs/LABEL; count Patroni's warning and error lines (digits as N)."""
    target = WORK / "logs" / label
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    problems: collections.Counter[str] = collections.Counter()
    for node in formation.nodes:
        if node.log_path.is_file():
            shutil.copy(node.log_path, target / f"{node.name}.log")
        for line in iter_patroni_problems(node.log_path):
            problems[f"{node.name}: {re.sub(r'[0-9]+', 'N', line)[:220]}"] += 1
    return problems


def run(python: str, flavour: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    label = f"{flavour}-{mode}"
    base = make_base_dir(f"pmpp-bench-citus-{label}-")
    started = time.monotonic()
    launcher, env = FLAVOURS[flavour]
    options = NodeOptions(
        python=python, launcher=launcher, env=dict(env), extra_config=MODES[mode], loop_wait=args.loop_wait,
        ttl=20, retry_timeout=5,
    )  # fmt: skip
    result: dict[str, Any] = {"error": "interrupted"}
    try:
        with local_etcd(base) as etcd:
            formation = Formation(base, etcd)
            try:
                result = run_measured(
                    formation, options, python, switchovers=args.switchovers, writers=args.writers,
                    settle=args.settle,
                )  # fmt: skip
            except Exception as exc:
                log.exception("%s failed", label)
                result = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                stopping = time.monotonic()
                stop_groups({g: [n for n in formation.nodes if n.name[1] == str(g)] for g in GROUPS})
                formation.stop_all()
                log.info("%s: formation stopped in %.1f s", label, time.monotonic() - stopping)
                result["patroni_problems"] = dict(keep_logs(formation, label).most_common(25))
    finally:
        cleaning = time.monotonic()
        shutil.rmtree(base, ignore_errors=True)
        log.info("%s: etcd stopped, %s removed; %.1f s", label, base, time.monotonic() - cleaning)
    result["wall_s"] = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--switchovers", type=int, default=5, help="planned switchovers per run (default 5)")
    parser.add_argument("--writers", type=int, default=3, help="writer threads (default 3)")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of load after each event")
    parser.add_argument("--loop-wait", type=int, default=2, help="Patroni loop_wait (default 2)")
    parser.add_argument("--modes", default="quorum,off", help="synchronous modes: quorum,off")
    parser.add_argument("--flavours", default="plain,launcher,fast", help="plain,launcher,fast")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    when = run_at()
    reason = citus_unavailable_reason(need_plugin=False)  # the nodes' interpreter is checked below
    if reason is not None:
        section = f"{TITLE}\n\nNot measured (run at {when}): {reason}. No figures exist yet.\n"
        publish(NAME, section)
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    python = node_python()
    if python != sys.executable and importlib.util.find_spec("psycopg") is None:
        # the clients run in this process: without psycopg here, run the script with the nodes' interpreter
        log.info("no psycopg in %s: running again with %s", sys.executable, python)
        env = {**os.environ, "PATRONI_MPP_E2E_PYTHON": python}
        return subprocess.run([python, __file__, *sys.argv[1:]], env=env, check=False).returncode
    versions = {
        "python": subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip(),
        "patroni": version_of(python, "patroni"),
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }  # fmt: skip
    modes = [m for m in args.modes.split(",") if m]
    flavours = [f for f in args.flavours.split(",") if f]
    order = []
    for index, mode in enumerate(modes):  # alternate the order of the flavours
        order += [(f, mode) for f in (flavours if index % 2 == 0 else flavours[::-1])]
    started = time.monotonic()
    measured: dict[str, dict[str, Any]] = {}
    for flavour, mode in order:
        log.info("run %s, synchronous mode %s ...", flavour, mode)
        measured[f"{flavour}-{mode}"] = run(python, flavour, mode, args)
        log.info("run %s/%s done in %.0f s", flavour, mode, measured[f"{flavour}-{mode}"]["wall_s"])
    wall = time.monotonic() - started
    results = {f"{f}-{m}": measured[f"{f}-{m}"] for m in modes for f in flavours}
    versions["citus"] = next((str(r["citus"]) for r in results.values() if r.get("citus")), "?")
    (WORK / "results.json").write_text(json.dumps(results, indent=2, default=str))
    publish(NAME, benchmarks_section(results, args, versions, wall))
    update_benchmarks(NAME, reliability_section(results, args), RELIABILITY)
    log.info("done in %.1f min; raw figures in %s", wall / 60, WORK / "results.json")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
