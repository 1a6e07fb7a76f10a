"""Several Citus databases: client write pause of a planned switchover with 1, 2 and 4 databases.

Part of ``bench/citus_engine.py`` (its ``main`` calls :func:`run`); its own section of BENCHMARKS.md
(``<!-- bench:citus_databases:... -->``). On real Citus: a coordinator server and one worker group
of two real servers, every database created on all three. For each count of databases, one
coordinator handler manages them all; per switchover, one client per database, connected
beforehand, sends a write as soon as ``before_demote`` returned, then ``before_promote`` and
``after_promote`` are delivered; the pause is the time from the ``before_demote`` call until the last
of the writes returned (the new primary is a server of its own here, so the write may fail with a
missing shard: it is the return that counts). The engine's part is reported as well: until
``before_demote`` returned, and until every database's commit went through. Also the Python time and
statements of one idle ``sync_meta_data`` with 4 databases.

Alone: ``python bench/citus_databases.py [--runs N]`` (real Citus) replaces only this section.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import threading
import time
from typing import Any

from _common import update_benchmarks
from patroni_mpp.testing.host import Cluster, LocalPostgresql, cluster, member
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus.testing.server import CitusTestServer, ClientOperation
from patroni_mpp_citus.testing.traffic import client_write

NAME = "citus_databases"
COUNTS = (1, 2, 4)
EXTRA = ("bench_db2", "bench_db3", "bench_db4")
TARGET_RATIO = 1.1


def _view(server: CitusTestServer, leader: int) -> Cluster:
    nodes = [server.node_address(1), server.node_address(2)]
    members = [
        member(f"w{i}", host, port, role="primary" if i == leader else "replica")
        for i, (host, port) in enumerate(nodes)
    ]
    workers = {1: cluster(members[leader], members[1 - leader])}
    return cluster(member("coordinator", server.host, server.port, role="primary"), workers=workers)


def _idle(handler: CitusHandler) -> None:
    deadline = time.monotonic() + 120
    for worker in handler.workers.values():
        while True:
            with worker.state.cond:
                if not worker.state.queue and worker.state.in_flight is None:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("a worker did not finish")
            time.sleep(0.002)


def _converge(handler: CitusHandler, dcs: Cluster, server: CitusTestServer, names: list[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        handler.sync_meta_data(dcs)
        _idle(handler)
        if all(server.wait_metadata_synced(30) for _ in (0,)) and all(
            _primary(server, name) is not None for name in names
        ):
            return
        time.sleep(0.2)
    raise RuntimeError("the databases did not converge")


def _primary(server: CitusTestServer, name: str) -> Any:
    with server.connect(dbname=name, application_name="bench-read") as conn:
        return conn.execute(
            "SELECT nodeport FROM pg_catalog.pg_dist_node WHERE groupid = 1 AND noderole = 'primary'"
        ).fetchone()


def _switchover(
    handler: CitusHandler, server: CitusTestServer, names: list[str], leader: int
) -> tuple[float, float, float]:
    """One planned switchover from ``leader``.

    :returns: seconds from the ``before_demote`` call until it returned (every database paused),
        until every database committed, and until the last client write returned.
    """
    dcs = _view(server, leader)
    old, new = f"w{leader}", f"w{1 - leader}"
    event = {"group": 1, "timeout": 30, "cooldown": 10}
    go = threading.Event()

    def write(conn: Any) -> None:
        go.wait(60)
        client_write(conn, 1)

    # clients connected beforehand, as a client that writes during a switchover is
    writes = [ClientOperation(server, write, name).start() for name in names]
    try:
        start = time.perf_counter()
        handler.handle_event(dcs, {**event, "type": "before_demote", "leader": old})
        opened = time.perf_counter()
        go.set()
        after = _view(server, 1 - leader)
        handler.handle_event(after, {**event, "type": "before_promote", "leader": new})
        commits = handler.submit_event_all(after, {**event, "type": "after_promote", "leader": new})
        for task in commits.values():
            task.wait(60)
        committed = time.perf_counter()
        for op in writes:
            if not op.join(60):
                raise RuntimeError("a client write did not return")
        return opened - start, committed - start, time.perf_counter() - start
    finally:
        go.set()
        for op in writes:
            op.close()


def _pauses(server: CitusTestServer, names: list[str], runs: int) -> dict[str, Any]:
    server.reset()
    postgresql = LocalPostgresql("coordinator", server.host, server.port, primary=True)
    section: dict[str, Any] = {"group": 0, "databases": names}
    handler = CitusHandler(postgresql, section, watch_promotions=False)
    try:
        _converge(handler, _view(server, 0), server, names)
        for name in names:
            server.prepare_client_traffic(1, dbname=name)
        opened: list[float] = []
        committed: list[float] = []
        pauses: list[float] = []
        leader = 0
        for _ in range(runs):
            times = _switchover(handler, server, names, leader)
            opened.append(times[0] * 1000)
            committed.append(times[1] * 1000)
            pauses.append(times[2] * 1000)
            leader = 1 - leader
            _idle(handler)
            _converge(handler, _view(server, leader), server, names)
        return {
            "databases": len(names),
            "median_ms": statistics.median(pauses),
            "max_ms": max(pauses),
            "opened_ms": statistics.median(opened),
            "committed_ms": statistics.median(committed),
        }
    finally:
        handler.close(30)
        postgresql.close()


def _idle_sync(server: CitusTestServer, names: list[str], runs: int) -> dict[str, Any]:
    server.reset()
    postgresql = LocalPostgresql("coordinator", server.host, server.port, primary=True)
    handler = CitusHandler(postgresql, {"group": 0, "databases": names}, watch_promotions=False)
    try:
        dcs = _view(server, 0)
        _converge(handler, dcs, server, names)
        before = sum(w.store.statements for w in handler.workers.values())
        gc.collect()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            handler.sync_meta_data(dcs)
            times.append((time.perf_counter() - start) * 1000)
        _idle(handler)
        after = sum(w.store.statements for w in handler.workers.values())
        return {"median_ms": statistics.median(times), "statements": (after - before) / runs}
    finally:
        handler.close(30)
        postgresql.close()


def _load() -> str:
    """The 1-minute load average and the CPU count (the benchmark shares the machine)."""
    try:
        one = os.getloadavg()[0]
    except OSError:
        return "load unknown"
    return f"load average {one:.2f} on {os.cpu_count()} CPUs"


def run(server: CitusTestServer, runs: int = 5) -> list[str]:
    """Measure on ``server`` (it gains the extra databases) and return the section's lines."""
    for name in EXTRA:
        server.add_database(name)
    all_names = ["citus", *EXTRA]
    load_before = _load()
    pauses = [_pauses(server, all_names[:count], runs) for count in COUNTS]
    idle = _idle_sync(server, all_names, 200)
    one, four = pauses[0]["median_ms"], pauses[-1]["median_ms"]
    ratio = four / one if one else float("inf")
    engine_ratio = pauses[-1]["committed_ms"] / pauses[0]["committed_ms"] if pauses[0]["committed_ms"] else 0
    lines = [
        "## Citus engine, several Citus databases "
        "(`bench/citus_databases.py`, run by `bench/citus_engine.py`)",
        "",
        f"Mode: {server.mode} Citus; {load_before} at the start, {_load()} at the end (other runs "
        "share the machine). Method: a coordinator server and one worker group of two real "
        "servers, every database on all three; one handler manages all the databases. Per "
        "switchover one client per database, connected beforehand, sends a write as soon as "
        "`before_demote` returned; then `before_promote` and `after_promote` are delivered. The "
        "*client pause* runs from the `before_demote` call until the last write returned; *paused* "
        "until `before_demote` returned (every database's transaction open), *committed* until "
        "every database's `after_promote` commit went through. Idle `sync_meta_data`: 200 calls on "
        "converged tables.",
        f"Each figure: median (max) of {runs} switchovers, alternating the primary. The databases' "
        "transactions run in parallel (one worker thread and connection per database).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
    ]
    for item in pauses:
        lines.append(
            f"| client write pause, planned switchover, {item['databases']} database(s) | "
            f"{item['median_ms']:.1f} ms (max {item['max_ms']:.1f}); paused {item['opened_ms']:.1f} ms, "
            f"committed {item['committed_ms']:.1f} ms | |"
        )
    lines += [
        f"| pause with 4 databases / pause with 1 | {ratio:.2f} (engine, until committed: "
        f"{engine_ratio:.2f}) | <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else '**missed**'} |",
        f"| idle `sync_meta_data`, 4 databases | {idle['median_ms']:.3f} ms | |",
        f"| statements per idle HA loop, 4 databases | {idle['statements']:g} | 0: "
        f"{'met' if idle['statements'] == 0 else '**missed**'} |",
    ]
    return lines


def main() -> int:
    """Run this part alone on real Citus and replace its section of BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = CitusTestServer.start(
        mode="real", settings={"log_statement": "none", "log_min_duration_statement": -1}
    )
    try:
        update_benchmarks(NAME, "\n".join(run(server, args.runs)))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
