"""Benchmark of the Citus engine's handler on a real PostgreSQL server with the Citus emulation.

Measured (targets in brackets):

- statements issued by one ``sync_meta_data`` in steady state [0];
- Python time of one steady-state ``sync_meta_data`` with 10, 100 and 500 worker groups of 3 members
  [under 5 ms at 500];
- time and statement count to converge ``pg_dist_node`` from empty to 100 and 500 groups of 3
  members;
- latency from ``handle_event(after_promote)`` to the change committed, p50 and p99 over 200 events
  [p99 under 50 ms].

It runs against the installed wheels (``nox -s bench``): the emulation comes from
``patroni_mpp_citus.testing.emulation`` and servers from ``patroni_mpp.testing.postgres``. Worker nodes are
addresses of the benchmarking range 198.18.0.0/15 that nothing ever connects to (the emulation does
not,
and the promotion watch is off). Usage: ``python bench/citus_engine.py [--events N]``.
Results replace this script's section of BENCHMARKS.md.
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
from _common import run_at, update_benchmarks
from patroni_mpp.testing.host import Cluster, LocalPostgresql, Member, cluster, member
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus.testing.server import CitusTestServer

NAME = Path(__file__).stem
TARGET_SYNC_MS = 5.0
TARGET_P99_MS = 50.0
DEADLINE = 600.0
QUIET = {"log_statement": "none", "log_min_duration_statement": -1}


def address(groupid: int, index: int) -> tuple[str, int]:
    """A never-contacted address for member ``index`` of group ``groupid``."""
    return f"198.18.{groupid // 200}.{(groupid % 200) + 1}", 6000 + index


def worker_group(groupid: int, leader: int = 0) -> Cluster:
    members: list[Member] = []
    for index in range(3):
        host, port = address(groupid, index)
        role = "primary" if index == leader else "replica"
        members.append(member(f"g{groupid}m{index}", host, port, role=role))
    return cluster(members[leader], *[m for i, m in enumerate(members) if i != leader])


def view(server: CitusTestServer, groups: int) -> Cluster:
    own = member("coordinator", server.host, server.port, role="primary")
    return cluster(own, workers={g: worker_group(g) for g in range(1, groups + 1)})


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
            dcs.workers[1] = worker_group(1, leader)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

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
    steady_statements = max(s["statements"] for s in syncs)
    lines = [
        "## Citus engine (`bench/citus_engine.py`)",
        "",
        f"Machine: {host}. Run at {when}.",
        "",
        "Method: one PostgreSQL server with the Citus SQL emulation "
        "(`patroni_mpp_citus.testing.emulation`, statement logging off), the installed wheels, and a "
        "coordinator `CitusHandler` with its real worker thread and its `citus` connection "
        "(`patroni_mpp.testing.host.LocalPostgresql`). Worker groups have 3 members (a primary and "
        "2 running replicas), so each group is 3 rows. Statements are counted on the handler's "
        f"metadata connection. Steady-state `sync_meta_data`: {args.runs} timed calls after 20 "
        "warm-up calls on a converged table (median, p90). Convergence: from an empty "
        "`pg_dist_node` until the worker is idle. Latency: "
        f"{args.events} `after_promote` events for one group, each moving its primary to the other "
        "member (one `BEGIN`, three `citus_update_node`, `COMMIT`), timed from the "
        "`handle_event` call (`submit_event`) to the worker's wake-up after `COMMIT`.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| statements per steady-state `sync_meta_data` | {steady_statements:g} | 0: "
        f"{met(steady_statements == 0)} |",
    ]
    for item in syncs:
        target = (
            f"< {TARGET_SYNC_MS:g} ms: {met(item['median_ms'] < TARGET_SYNC_MS)}" if item is sync_500 else ""
        )
        lines.append(
            f"| steady `sync_meta_data`, {item['groups']} groups | {item['median_ms']:.3f} ms "
            f"(p90 {item['p90_ms']:.3f}) | {target} |"
        )
    for item in converged:
        lines.append(
            f"| converge empty -> {item['groups']} groups ({item['rows']} rows) | "
            f"{item['seconds']:.2f} s, {item['statements']} statements | |"
        )
    lines.append(
        f"| `after_promote` -> committed, p50 / p99 (max) | {latency['p50_ms']:.2f} / "
        f"{latency['p99_ms']:.2f} ({latency['max_ms']:.2f}) ms, {latency['statements']:g} "
        f"statements per event | p99 < {TARGET_P99_MS:g} ms: "
        f"{met(latency['p99_ms'] < TARGET_P99_MS)} |"
    )
    update_benchmarks(NAME, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
