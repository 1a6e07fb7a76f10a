"""The demo: a local etcd and a three-member Patroni cluster started through ``patroni-mpp run``.

Run by ``scripts/demo`` with the interpreter of the demo venv (Patroni, patroni-mpp, the null and demo
engines installed from wheels). The cluster uses the ``demo`` engine, loaded from its installed plugin
wheel; with ``--citus`` (where the PostgreSQL server has the citus extension) a coordinator and two worker
groups use the ``citus`` engine instead, and ``pg_dist_node`` is shown. Everything listens on 127.0.0.1
only and everything started is stopped, by pid, on Ctrl-C or after ``--duration`` seconds. Once the
cluster is up, and every 30 seconds while it runs, the demo shows each member's engine status
(``patroni-mpp ctl mpp-status``, from ``GET /mpp``) and the engine's lines of the leader's ``GET /metrics``.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.formation import Formation, leader_of, wait_leader, wait_streaming
from patroni_mpp.testing.network import HOST
from patroni_mpp.testing.patroni_node import NodeOptions, PatroniNode
from patroni_mpp.testing.polling import WaitTimeout
from patroni_mpp.testing.postgres import PostgresUnavailable
from patroni_mpp.testing.processes import LocalClusterError, check_interpreter, make_base_dir

DEMO_SCOPE = "demo"
MEMBERS = 3


class Demo:
    """State of one demo run, so that everything started can be stopped."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.base = make_base_dir("patroni-mpp-demo-")
        self.etcd: Etcd | None = None
        self.formation: Formation | None = None
        self.stop_event = threading.Event()

    def say(self, message: str) -> None:
        """Print a progress line with the time since the demo started."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def ctl(self, config: Path, *args: str) -> str:
        """Output of ``patroni-mpp ctl -c CONFIG ARGS...``."""
        result = subprocess.run(
            [sys.executable, "-m", "patroni_mpp", "ctl", "-c", str(config), *args],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        return result.stdout + (result.stderr if result.returncode else "")

    def start_etcd(self) -> Etcd:
        """Start the demo's etcd."""
        self.say("starting etcd on 127.0.0.1 ...")
        self.etcd = Etcd(self.base)
        self.etcd.start()
        self.say(f"etcd is up at {self.etcd.url} (pid {self.etcd.pid})")
        return self.etcd

    def run_demo_engine(self) -> list[PatroniNode]:
        """Bring up three members with the ``demo`` engine and show them."""
        etcd = self.start_etcd()
        self.formation = Formation(self.base, etcd)
        status_dir = self.base / "engine-status"
        status_dir.mkdir()
        status_dir.chmod(0o777)
        options = NodeOptions(
            python=sys.executable,
            extra_config={"demo": {"group": 0, "status_dir": str(status_dir), "marker": "hello"}},
        )
        nodes = [self.formation.add(f"demo{i}", DEMO_SCOPE, options) for i in range(1, MEMBERS + 1)]
        self.say(f"starting {nodes[0].name} through 'patroni-mpp run' (initdb + bootstrap) ...")
        nodes[0].start()
        wait_leader(nodes[:1], timeout=180)
        self.say(f"{nodes[0].name} is the leader (postgres on 127.0.0.1:{nodes[0].pg_port})")
        for node in nodes[1:]:
            self.say(f"starting {node.name} (basebackup from the leader) ...")
            node.start()
        wait_streaming(nodes, MEMBERS - 1, timeout=240)
        self.say(f"{MEMBERS - 1} replicas are streaming")
        print(self.ctl(nodes[0].config_path, "list"), flush=True)
        self.show_engine(nodes, status_dir)
        self.show_status_and_metrics(nodes)
        return nodes

    def show_engine(self, nodes: list[PatroniNode], status_dir: Path) -> None:
        """Show, per member, the marker GUC and the calls the engine counted."""
        print("The 'demo' engine (plugin wheel patroni-mpp-demo) inside each Patroni:", flush=True)
        for node in nodes:
            marker = self.show_guc(node, "patroni_mpp_demo.marker")
            try:
                state: dict[str, Any] = json.loads((status_dir / f"{node.name}.json").read_text())
            except (OSError, ValueError):
                state = {}
            calls = ", ".join(f"{k}={v}" for k, v in sorted(state.get("calls", {}).items()))
            print(f"  {node.name}: SHOW patroni_mpp_demo.marker = {marker!r}; calls: {calls}", flush=True)

    def show_status_and_metrics(self, nodes: list[PatroniNode]) -> None:
        """Show every member's engine status and the engine's lines of the leader's metrics.

        The status is ``patroni-mpp ctl mpp-status`` (``GET /mpp`` of every member); the metrics are the
        ``patroni_mpp_`` samples of ``GET /metrics``.
        """
        print(self.ctl(nodes[0].config_path, "mpp-status"), flush=True)
        leader = leader_of(nodes) or nodes[0]
        try:
            code, body = leader.api("metrics")
        except OSError as exc:
            print(f"GET /metrics of {leader.name}: {exc}", flush=True)
            return
        lines = [
            line for line in str(body).splitlines() if "patroni_mpp_" in line and not line.startswith("#")
        ]
        print(f"GET {leader.api_url}/metrics (HTTP {code}), the engine's lines:", flush=True)
        for line in lines:
            print(f"  {line}", flush=True)

    def show_guc(self, node: PatroniNode, guc: str) -> str:
        """``SHOW guc`` on a member, through psql."""
        result = subprocess.run(
            [str(node.pg_bin / "psql"), "-h", HOST, "-p", str(node.pg_port), "-U", "postgres",
             "-d", "postgres", "-Atc", f"SHOW {guc}"],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        return result.stdout.strip() if result.returncode == 0 else f"<{result.stderr.strip()}>"

    def run_citus(self) -> list[PatroniNode]:
        """Bring up a Citus coordinator and two worker groups and show ``pg_dist_node``."""
        from patroni_mpp_citus.testing.cluster import (
            build_groups,
            citus_unavailable_reason,
            query,
            start_groups,
            wait_metadata_matches,
        )

        reason = citus_unavailable_reason()
        if reason is not None:
            raise LocalClusterError(f"--citus is not possible here: {reason}")
        etcd = self.start_etcd()
        self.formation = Formation(self.base, etcd)
        groups = build_groups(self.formation, NodeOptions(python=sys.executable))
        self.say("starting the coordinator (group 0) and workers (groups 1, 2) ...")
        start_groups(groups)
        self.say("every group has a leader and a streaming replica; waiting for pg_dist_node ...")
        wait_metadata_matches(etcd, groups)
        coordinator = leader_of(groups[0])
        assert coordinator is not None
        print(self.ctl(coordinator.config_path, "list"), flush=True)
        rows = query(
            coordinator, "SELECT nodeid, groupid, nodename, nodeport, noderole FROM pg_dist_node ORDER BY 1"
        )
        print("pg_dist_node on the coordinator:", flush=True)
        for row in rows:
            print("  " + " | ".join(str(v) for v in row), flush=True)
        nodes = [n for members in groups.values() for n in members]
        self.show_status_and_metrics([coordinator, *(n for n in nodes if n is not coordinator)])
        return nodes

    def wait(self, nodes: list[PatroniNode]) -> None:
        """Keep running until Ctrl-C or the end of ``--duration``, listing the cluster now and then."""
        if self.args.duration:
            self.say(f"running for {self.args.duration:g}s (Ctrl-C stops earlier) ...")
        else:
            self.say("running; press Ctrl-C to stop everything")
        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        while not self.stop_event.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self.stop_event.wait(30 if remaining is None else min(30, remaining))
            if not self.stop_event.is_set() and (deadline is None or time.monotonic() < deadline):
                print(self.ctl(nodes[0].config_path, "list"), flush=True)
                self.show_status_and_metrics(nodes)

    def stop(self) -> None:
        """Stop everything the demo started, by pid."""
        self.say("stopping every process the demo started ...")
        if self.formation is not None:
            self.formation.stop_all()
        if self.etcd is not None:
            self.etcd.stop()
        self.say(f"stopped; logs are in {self.base}")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    parser.add_argument(
        "--citus",
        action="store_true",
        help="a Citus coordinator and two worker groups (needs the citus extension)",
    )
    args = parser.parse_args(argv)
    demo = Demo(args)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        demo.stop_event.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        check_interpreter(sys.executable)
        nodes = demo.run_citus() if args.citus else demo.run_demo_engine()
        demo.wait(nodes)
    except KeyboardInterrupt:
        demo.stop_event.set()
        print(flush=True)
    except (LocalClusterError, PostgresUnavailable, WaitTimeout) as exc:
        print(f"demo: error: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
