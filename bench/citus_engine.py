"""Benchmark of the Citus engine's handler on real Citus and on the Citus emulation.

Measured (targets in brackets):

- statements issued by one ``sync_meta_data`` in steady state [0];
- Python time of one steady-state ``sync_meta_data`` with 10, 100 and 500 worker groups of 3 members
  [under 5 ms at 500];
- time and statement count to converge ``pg_dist_node`` from empty to 100 and 500 groups of 3
  members;
- latency from ``handle_event(after_promote)`` to the change committed, p50 and p99 over 200 events
  [p99 under 50 ms].

It runs against the installed wheels (``nox -s bench``, ``nox -s bench-citus``), in two parts:

- on real Citus, where the PostgreSQL installation has the extension: a coordinator and three worker
  groups of three real servers each (Citus connects to the nodes it adds), for the steady-state
  statements and time, the convergence and the event latency;
- on the SQL emulation (``patroni_mpp_citus.testing.emulation``), for the scale figures (100 and 500
  groups: real Citus would need a server per node). There, worker nodes are addresses of the
  benchmarking range 198.18.0.0/15 that nothing connects to, registered reachable with the
  emulation (which connects to nothing; the promotion watch is off).

Usage: ``python bench/citus_engine.py [--events N] [--runs N]``. Results replace this script's
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import _common
import citus_databases
from _common import run_at, update_benchmarks
from patroni_mpp.testing.host import Cluster, LocalPostgresql, Member, cluster, member
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus.testing.emulation import register_reachable_node
from patroni_mpp_citus.testing.server import MODE_ENV, CitusTestServer, CitusUnavailableError, requested_mode

NAME = Path(__file__).stem
TARGET_SYNC_MS = 5.0
TARGET_P99_MS = 50.0
DEADLINE = 600.0
QUIET = {"log_statement": "none", "log_min_duration_statement": -1}
REAL_GROUPS = 3
"""Worker groups of the real-Citus part (three real servers each)."""


def address(server: CitusTestServer, groupid: int, index: int) -> tuple[str, int]:
    """Member ``index`` of group ``groupid``: a real server on real Citus, else a never-contacted one."""
    if server.is_real:
        return server.node_address(3 * (groupid - 1) + index + 1)
    return f"198.18.{groupid // 200}.{(groupid % 200) + 1}", 6000 + index


def worker_group(server: CitusTestServer, groupid: int, leader: int = 0) -> Cluster:
    members: list[Member] = []
    for index in range(3):
        host, port = address(server, groupid, index)
        role = "primary" if index == leader else "replica"
        members.append(member(f"g{groupid}m{index}", host, port, role=role))
    return cluster(members[leader], *[m for i, m in enumerate(members) if i != leader])


def view(server: CitusTestServer, groups: int) -> Cluster:
    """The coordinator's DCS view of ``groups`` worker groups.

    On the emulation their addresses are registered reachable first: like real Citus, it adds a
    primary only where it could connect.
    """
    if not server.is_real:
        with server.connect(application_name="bench-setup") as conn:
            for groupid in range(1, groups + 1):
                for index in range(3):
                    register_reachable_node(conn, *address(server, groupid, index))
    own = member("coordinator", server.host, server.port, role="primary")
    return cluster(own, workers={g: worker_group(server, g) for g in range(1, groups + 1)})


class Bench:
    def __init__(self, server: CitusTestServer) -> None:
        self.server = server
        self.postgresql = LocalPostgresql("coordinator", server.host, server.port, primary=True)
        self.handler = CitusHandler(
            self.postgresql, {"group": 0, "database": "citus"}, watch_promotions=False
        )

    @property
    def statements(self) -> int:
        return self.handler.worker.store.statements

    def idle(self) -> None:
        state = self.handler.worker.state
        deadline = time.monotonic() + DEADLINE
        while True:
            with state.cond:
                if not state.queue and state.in_flight is None:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not finish")
            time.sleep(0.001)

    def close(self) -> None:
        try:
            if not self.handler.close(30):
                raise RuntimeError("the worker thread did not stop")
        finally:
            self.postgresql.close()


def count_rows(server: CitusTestServer) -> int:
    with server.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_catalog.pg_dist_node").fetchone()
    assert row is not None
    return int(row[0])


def converge(server: CitusTestServer, groups: int) -> dict[str, Any]:
    """From an empty table to ``groups`` worker groups (+ the coordinator)."""
    server.reset()
    bench = Bench(server)
    try:
        dcs = view(server, groups)
        start = time.perf_counter()
        bench.handler.sync_meta_data(dcs)
        bench.idle()
        seconds = time.perf_counter() - start
        rows = count_rows(server)
        if rows != 1 + 3 * groups:
            raise RuntimeError(f"{rows} rows after converging to {groups} groups")
        return {"groups": groups, "seconds": seconds, "statements": bench.statements, "rows": rows}
    finally:
        bench.close()


def steady_sync(server: CitusTestServer, groups: int, runs: int) -> dict[str, Any]:
    """Python time and statements of one ``sync_meta_data`` when nothing changed."""
    server.reset()
    bench = Bench(server)
    try:
        dcs = view(server, groups)
        bench.handler.sync_meta_data(dcs)
        bench.idle()
        before = bench.statements
        for _ in range(20):  # warm-up
            bench.handler.sync_meta_data(dcs)
        times: list[float] = []
        gc.collect()
        for _ in range(runs):
            start = time.perf_counter()
            bench.handler.sync_meta_data(dcs)
            times.append((time.perf_counter() - start) * 1000)
        bench.idle()
        return {
            "groups": groups,
            "median_ms": statistics.median(times),
            "p90_ms": statistics.quantiles(times, n=10)[-1],
            "statements": (bench.statements - before) / (runs + 20),
        }
    finally:
        bench.close()


def event_latency(server: CitusTestServer, events: int) -> dict[str, Any]:
    """``handle_event(after_promote)`` to the change committed: the primary moves back and forth."""
    server.reset()
    bench = Bench(server)
    try:
        dcs = view(server, 3)
        bench.handler.sync_meta_data(dcs)
        bench.idle()
        latencies: list[float] = []
        before = bench.statements
        for n in range(events):
            leader = 1 if n % 2 == 0 else 0
            dcs.workers[1] = worker_group(server, 1, leader)
            event = {
                "type": "after_promote",
                "group": 1,
                "leader": f"g1m{leader}",
                "timeout": 30,
                "cooldown": 10,
            }
            start = time.perf_counter()
            task = bench.handler.submit_event(dcs, event)
            if task is None or not task.wait(30):
                raise RuntimeError("an after_promote event was not processed")
            latencies.append((time.perf_counter() - start) * 1000)
        per_event = (bench.statements - before) / events
        latencies.sort()
        return {
            "events": events,
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[max(0, round(0.99 * len(latencies)) - 1)],
            "max_ms": latencies[-1],
            "statements": per_event,
        }
    finally:
        bench.close()


def machine(server: CitusTestServer) -> str:
    version = subprocess.run(
        [str(server.server.bindir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{_common.machine()}; {version}"


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def real_citus(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """The real-Citus part, or None and the reason it did not run.

    :raises CitusUnavailableError: when ``PATRONI_MPP_TEST_CITUS=real`` and Citus is not installed.
    """
    requested = requested_mode()
    if requested == "emulated":
        return None, f"{MODE_ENV}=emulated"
    try:
        server = CitusTestServer.start(mode="real", settings=QUIET)
    except CitusUnavailableError as exc:
        if requested == "real":
            raise
        return None, str(exc)
    try:
        figures = {
            "sync": steady_sync(server, REAL_GROUPS, args.runs),
            "converge": converge(server, REAL_GROUPS),
            "latency": event_latency(server, args.events),
        }
        update_benchmarks(citus_databases.NAME, "\n".join(citus_databases.run(server)))
    finally:
        server.stop()
    return figures, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    real, why_not = real_citus(args)
    server = CitusTestServer.start(mode="emulated", settings=QUIET)
    try:
        host = machine(server)
        syncs = [steady_sync(server, groups, args.runs) for groups in (10, 100, 500)]
        converged = [converge(server, groups) for groups in (100, 500)]
        latency = event_latency(server, args.events)
    finally:
        server.stop()

    when = run_at()
    sync_500 = syncs[-1]
    steady = [s["statements"] for s in syncs] + ([real["sync"]["statements"]] if real else [])
    steady_statements = max(steady)
    lines = [
        "## Citus engine (`bench/citus_engine.py`)",
        "",
        f"Machine: {host}. Run at {when}.",
        "",
        "Method: the installed wheels and a coordinator `CitusHandler` with its real worker thread "
        "and its `citus` connection (`patroni_mpp.testing.host.LocalPostgresql`), statement logging "
        "off. **Real Citus** 13.2 (where installed): a coordinator server and "
        f"{REAL_GROUPS} worker groups of 3 real servers each. **Emulation** (scale): one server with "
        "the Citus SQL emulation (`patroni_mpp_citus.testing.emulation`) and never-contacted worker "
        "addresses. Worker groups have 3 members (a primary and 2 running replicas), so each group is "
        "3 rows. Statements are counted on the handler's metadata connection. Steady-state "
        f"`sync_meta_data`: {args.runs} timed calls after 20 warm-up calls on a converged table "
        "(median, p90). Convergence: from an empty `pg_dist_node` until the worker is idle. "
        f"Latency: {args.events} `after_promote` events for one group, each moving its primary to "
        "the other member (one `BEGIN`, three `citus_update_node`, `COMMIT`), timed from the "
        "`handle_event` call (`submit_event`) to the worker's wake-up after `COMMIT`.",
        "",
    ]
    if real is None:
        lines += [f"Real Citus: not measured ({why_not}).", ""]
    lines += [
        "| measure | value | target |",
        "|---|---|---|",
        f"| statements per steady-state `sync_meta_data` (both) | {steady_statements:g} | 0: "
        f"{met(steady_statements == 0)} |",
    ]

    def sync_row(label: str, item: dict[str, Any], target: str = "") -> str:
        return (
            f"| steady `sync_meta_data`, {label}, {item['groups']} groups | {item['median_ms']:.3f} ms "
            f"(p90 {item['p90_ms']:.3f}) | {target} |"
        )

    def converge_row(label: str, item: dict[str, Any]) -> str:
        return (
            f"| converge empty -> {item['groups']} groups ({item['rows']} rows), {label} | "
            f"{item['seconds']:.2f} s, {item['statements']} statements | |"
        )

    def latency_row(label: str, item: dict[str, Any]) -> str:
        return (
            f"| `after_promote` -> committed, {label}, p50 / p99 (max) | {item['p50_ms']:.2f} / "
            f"{item['p99_ms']:.2f} ({item['max_ms']:.2f}) ms, {item['statements']:g} statements per "
            f"event | p99 < {TARGET_P99_MS:g} ms: {met(item['p99_ms'] < TARGET_P99_MS)} |"
        )

    if real is not None:
        lines += [
            sync_row("real Citus", real["sync"]),
            converge_row("real Citus", real["converge"]),
            latency_row("real Citus", real["latency"]),
        ]
    for item in syncs:
        target = (
            f"< {TARGET_SYNC_MS:g} ms: {met(item['median_ms'] < TARGET_SYNC_MS)}" if item is sync_500 else ""
        )
        lines.append(sync_row("emulation", item, target))
    lines += [converge_row("emulation", item) for item in converged]
    lines.append(latency_row("emulation", latency))
    update_benchmarks(NAME, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
