"""Citus under client load, through the launcher and with plain Patroni: what a client sees.

Scenario (``demo/citusload.py``): one etcd, a coordinator and two worker groups of two members each on
127.0.0.1; a client inserts rows of a distributed table through the coordinator (reading one back every
ten writes) while worker group 1 is switched over with ``ctl switchover --group 1`` and the leader of worker
group 2 is killed (``kill -9`` of Patroni and its postmaster). Recorded: failed client operations, the
longest gap between two successful operations, the time until ``pg_dist_node`` names the DCS leader of
every worker group (after the switchover command returned; after the kill), and acknowledged writes missing
at the end. Run once with ``patroni-mpp run`` (the ``citus`` engine plugin) and once with plain ``patroni``
(its built-in Citus support), same configuration.

Needs the citus extension in the PostgreSQL installation; elsewhere the section says why it was skipped.
Usage: ``python bench/e2e_citus.py`` with an interpreter that has Patroni, the wheels and psycopg, runnable
by the ``postgres`` user (``$PMPP_E2E_PYTHON`` overrides the interpreter used for the nodes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))

import citusload  # noqa: E402
import localcluster as lc  # noqa: E402
from _common import publish, run_at  # noqa: E402

NAME = Path(__file__).stem


def run(python: str, launcher: bool) -> dict[str, Any]:
    base = lc.make_base_dir("pmpp-bench-citus-")
    with lc.local_etcd(base) as etcd:
        formation = lc.Formation(base, etcd)
        try:
            return citusload.run_scenario(formation, lc.NodeOptions(python=python, launcher=launcher), python)
        finally:
            formation.stop_all()


def main() -> int:
    title = "## Citus under client load: launcher vs plain Patroni (`bench/e2e_citus.py`)"
    when = run_at()
    reason = citusload.citus_unavailable_reason()
    if reason is not None:
        section = f"{title}\n\nNot measured (run at {when}): {reason}. No figures exist yet.\n"
        publish(NAME, section)
        return 0
    python = os.environ.get("PMPP_E2E_PYTHON", sys.executable)
    lc.check_interpreter(python)
    results = {"launcher": run(python, True), "plain patroni": run(python, False)}
    lines = [
        title,
        "",
        f"Run at {when}; PostgreSQL {lc.find_pg_bin().parent.name}. Method: see the script's docstring.",
        "",
        "| run | failed ops | ok ops | longest pause s | switchover→pg_dist_node s "
        "| kill→pg_dist_node s | lost acknowledged writes |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, figures in results.items():
        lines.append(
            f"| {label} | {figures['failed_ops']} | {figures['ok_ops']} | {figures['longest_pause_s']:.2f} "
            f"| {figures['switchover_metadata_s']:.2f} | {figures['failover_metadata_s']:.2f} "
            f"| {figures['lost_acknowledged_writes']} |"
        )
    publish(NAME, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
