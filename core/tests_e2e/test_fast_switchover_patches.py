"""The fast switchover patches inside this process, against the installed Patroni (no cluster)."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pytest
from patroni_mpp import bridge
from patroni_mpp.bridge import _fast_switchover as fast
from patroni_mpp.bridge import _switchover_waits as waits
from patroni_mpp.bridge._call_sites import (
    CallSite,
    CallSiteError,
    RoutedModule,
    RoutedPollingLoop,
    locate,
)
from patroni_mpp.bridge._fast_switchover import PATCHES as FAST_SWITCHOVER_PATCHES
from patroni_mpp.bridge._install import installed_version, uninstall
from patroni_mpp.bridge._patching import is_patched, original_of
from patroni_mpp.cli._run import FAST_SWITCHOVER_ENV, fast_switchover_requested


@pytest.fixture
def installed() -> Iterator[tuple[str, ...]]:
    version = bridge.install(ctl=False)
    yield bridge.install_fast_switchover(version)
    uninstall()


def test_every_patch_is_installed_and_undone(installed: tuple[str, ...]) -> None:
    import patroni.ha
    import patroni.postgresql
    import patroni.postgresql.postmaster
    from patroni.postgresql.postmaster import PostmasterProcess

    assert installed == tuple(patch.name for patch in FAST_SWITCHOVER_PATCHES)
    assert isinstance(patroni.ha.time, RoutedModule)
    assert isinstance(patroni.postgresql.time, RoutedModule)
    assert isinstance(patroni.postgresql.postmaster.multiprocessing, RoutedModule)
    assert isinstance(patroni.postgresql.polling_loop, RoutedPollingLoop)
    for patched in (patroni.ha.Ha.demote, patroni.ha.Ha.process_unhealthy_cluster):
        assert is_patched(patched)
    assert is_patched(patroni.postgresql.Postgresql.promote)
    # the routed calls are the ones the patches name, one key per call site
    sites = [site for patch in FAST_SWITCHOVER_PATCHES for site in patch.sites]
    routed = {
        **patroni.ha.time._routes,
        **patroni.postgresql.time._routes,
        **patroni.postgresql.postmaster.multiprocessing._routes,
        **patroni.postgresql.polling_loop._routes,
    }
    assert {key[0] for key in routed} == {
        "Ha.demote.<locals>.on_shutdown", "Ha.demote", "Postgresql.wait_for_startup",
        "Postgresql.wait_for_port_open", "Postgresql._wait_promote", "PostmasterProcess.start",
    }  # fmt: skip
    assert len(sites) == 9
    # outside a window nothing of the window is set
    assert patroni.postgresql.STOP_POLLING_INTERVAL == 1
    assert "wait" not in PostmasterProcess.__dict__
    assert bridge.install_fast_switchover(installed_version() or "") == installed  # idempotent
    uninstall()
    assert vars(patroni.ha)["time"] is time and vars(patroni.postgresql)["time"] is time
    assert vars(patroni.postgresql.postmaster)["multiprocessing"] is multiprocessing
    assert not is_patched(patroni.ha.Ha.demote)


def test_window_sets_and_restores_its_values(installed: tuple[str, ...]) -> None:
    import patroni.postgresql
    from patroni.postgresql.postmaster import PostmasterProcess

    windows = waits.WINDOWS
    assert [windows.active] == [False]
    with windows.opened("a test"):
        with windows.opened("a nested test"):
            assert patroni.postgresql.STOP_POLLING_INTERVAL == waits.STOP_POLL_INTERVAL
        assert [windows.active] == [True]
        assert PostmasterProcess.__dict__["wait"] is waits.wait_exited
    assert [windows.active] == [False]
    assert patroni.postgresql.STOP_POLLING_INTERVAL == 1
    assert "wait" not in PostmasterProcess.__dict__ and "is_running" not in PostmasterProcess.__dict__


def test_graceful_demote_opens_a_window_and_other_modes_do_not(installed: tuple[str, ...]) -> None:
    import patroni.ha

    seen: list[tuple[str, bool]] = []
    wrapped = waits.wrap_demote(lambda _self, mode: seen.append((mode, waits.WINDOWS.active)))
    for mode in ("graceful", "immediate", "immediate-nolock", "offline"):
        wrapped(object(), mode)
    assert seen == [("graceful", True), ("immediate", False), ("immediate-nolock", False), ("offline", False)]
    assert original_of(patroni.ha.Ha.demote) is not patroni.ha.Ha.demote


def test_promotion_window_only_after_a_switchover_request(installed: tuple[str, ...]) -> None:
    opened: list[bool] = []
    promote = waits.wrap_promote(lambda _self, *args: opened.append(waits.WINDOWS.active))
    unhealthy = waits.wrap_process_unhealthy_cluster(lambda _self: promote(object(), 10))

    class Ha:
        def __init__(self, failover: Any) -> None:
            self.cluster = type("Cluster", (), {"failover": failover})()

    unhealthy(Ha(failover=("leader", "candidate")))  # a planned switchover: the request is in the DCS
    unhealthy(Ha(failover=None))  # the leader died: a failover after a crash
    promote(object(), 10)  # a promotion no HA cycle asked for
    assert opened == [True, False, False]


def _module(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


SAMPLE = """
import time


class Node:
    def stop(self, seconds):
        def on_done(lsn):
            time.sleep(1)
            if self.ready(lsn):
                return lsn
        time.sleep(2)
        return on_done

    def ready(self, lsn):
        return True
"""


class FakeTime:
    """What a routed module sees as ``time``'s real module: records every real sleep."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def monotonic(self) -> float:
        return 42.0


def test_routed_time_answers_only_the_located_call(tmp_path: Path) -> None:
    sample = _module(tmp_path, "pmpp_sample_routed", SAMPLE)
    key = locate(CallSite("pmpp_sample_routed", "Node.stop.on_done", "time.sleep(1)", ("self.ready(lsn)",)))
    assert key[0] == "Node.stop.<locals>.on_done"
    real = FakeTime()
    routed: list[tuple[dict[str, Any], float]] = []
    vars(sample)["time"] = RoutedModule(
        real, "sleep", {key: lambda names, seconds: routed.append((dict(names), seconds))}
    )
    node = sample.Node()
    on_done = node.stop(5)  # its own time.sleep(2) is not routed
    assert on_done(7) == 7
    assert real.slept == [2]
    assert len(routed) == 1 and routed[0][1] == 1
    assert routed[0][0]["lsn"] == 7 and routed[0][0]["self"] is node  # the caller's variables, closure too
    assert vars(sample)["time"].monotonic() == 42.0  # everything else is the real module's


def test_routed_polling_loop_changes_only_the_interval_of_the_located_call(tmp_path: Path) -> None:
    sample = _module(
        tmp_path,
        "pmpp_sample_polling",
        """
        def polling_loop(timeout, interval=1):
            yield (timeout, interval)

        def routed(timeout):
            for got in polling_loop(timeout):
                return got

        def unrouted(timeout):
            for got in polling_loop(timeout):
                return got
        """,
    )
    key = locate(CallSite("pmpp_sample_polling", "routed", "polling_loop(timeout)"))
    vars(sample)["polling_loop"] = RoutedPollingLoop(vars(sample)["polling_loop"], {key: lambda: 0.05})
    assert sample.routed(3) == (3, 0.05)
    assert sample.unrouted(3) == (3, 1)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ("time.sleep(1)\n            if self.ready(lsn)", "calls time.sleep(1) 0 times"),
        ("if self.ready(lsn):", "no longer contains 'self.ready(lsn)'"),
        ("def on_done(lsn):", "0 definitions of 'on_done'"),
    ],
)
def test_locate_refuses_code_that_changed(changed: str, message: str) -> None:
    replacement = {
        "time.sleep(1)\n            if self.ready(lsn)": "time.sleep(3)\n            if self.ready(lsn)",
        "if self.ready(lsn):": "if lsn:",
        "def on_done(lsn):": "def on_finished(lsn):",
    }[changed]
    source = SAMPLE.replace(changed, replacement)
    if "on_finished" in source:
        source = source.replace("return on_done", "return on_finished")
    site = CallSite("sample", "Node.stop.on_done", "time.sleep(1)", ("self.ready(lsn)",))
    assert locate(site, SAMPLE)[1] > 0
    with pytest.raises(CallSiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        locate(site, source)


def test_a_patch_that_does_not_apply_is_refused_and_nothing_is_patched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import patroni.ha

    version = bridge.install(ctl=False)
    try:
        moved = fast.Patch(
            "follow-new-leader", "", "", "", (CallSite("patroni.ha", "Ha.demote", "time.sleep(7)"),)
        )
        monkeypatch.setattr(fast, "PATCHES", (*fast.PATCHES[:3], moved, *fast.PATCHES[4:]))
        with pytest.raises(bridge.FastSwitchoverError) as caught:
            bridge.install_fast_switchover(version)
        text = str(caught.value)
        assert "patch 'follow-new-leader' does not apply" in text
        assert "Ha.demote calls time.sleep(7) 0 times" in text
        assert "run without it" in text
        assert patroni.ha.time is time
        assert not is_patched(patroni.ha.Ha.demote)
    finally:
        uninstall()


def test_an_exited_postmaster_counts_as_stopped_in_a_window() -> None:
    child = subprocess.Popen(["true"])
    try:
        process = psutil.Process(child.pid)
        psutil.wait_procs([], timeout=0)
        deadline = time.monotonic() + 30
        while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.status() == psutil.STATUS_ZOMBIE  # exited, not reaped: we did not wait for it
        assert process.is_running()  # what Patroni sees outside a window
        assert not waits.running_unless_exited(process)
        waits.wait_exited(process, timeout=0)  # returns at once: no TimeoutExpired
    finally:
        child.wait()


def test_wait_exited_keeps_the_timeout_of_a_running_process() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(psutil.TimeoutExpired):
            waits.wait_exited(psutil.Process(child.pid), timeout=0.1)
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    ("args", "env", "expected", "left"),
    [
        (["--fast-switchover", "p.yml"], {}, True, ["p.yml"]),
        (["p.yml", "--fast-switchover"], {}, True, ["p.yml"]),
        (["p.yml"], {FAST_SWITCHOVER_ENV: "yes"}, True, ["p.yml"]),
        (["p.yml"], {FAST_SWITCHOVER_ENV: " On "}, True, ["p.yml"]),
        (["p.yml"], {FAST_SWITCHOVER_ENV: "0"}, False, ["p.yml"]),
        (["p.yml"], {FAST_SWITCHOVER_ENV: ""}, False, ["p.yml"]),
        (["p.yml"], {}, False, ["p.yml"]),
        (["--", "--fast-switchover"], {}, False, ["--", "--fast-switchover"]),
    ],
)
def test_fast_switchover_requested(
    args: list[str], env: dict[str, str], expected: bool, left: list[str]
) -> None:
    assert fast_switchover_requested(args, env) is expected
    assert args == left


def test_an_unclear_environment_value_is_refused() -> None:
    with pytest.raises(ValueError, match="PATRONI_MPP_FAST_SWITCHOVER='sometimes' is neither yes"):
        fast_switchover_requested(["p.yml"], {FAST_SWITCHOVER_ENV: "sometimes"})


def test_launcher_refuses_an_unclear_environment_value(node_python: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [node_python, "-m", "patroni_mpp", "run", "--version"],
        capture_output=True, text=True, check=False, timeout=60,
        env={"PATH": "/usr/bin:/bin", FAST_SWITCHOVER_ENV: "sometimes"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "patroni-mpp run: error: PATRONI_MPP_FAST_SWITCHOVER='sometimes'" in result.stderr


def test_docs_list_every_patch() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "bridge.md").read_text()
    section = text.split("## Fast planned switchover", 1)[1].split("\n## ", 1)[0]
    listed = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert listed == [patch.name for patch in FAST_SWITCHOVER_PATCHES]


def test_postmaster_start_forks_from_the_fork_server_only_in_a_window(installed: tuple[str, ...]) -> None:
    from patroni.postgresql import postmaster

    routed = postmaster.multiprocessing
    assert routed.get_context("spawn").get_start_method() == "spawn"  # not a routed call site
    site = fast.PATCHES[[p.name for p in fast.PATCHES].index("postmaster-start")].sites[0]
    route = fast._CALL_ROUTES["postmaster-start"]
    assert route({}, "spawn").get_start_method() == "spawn"
    with waits.WINDOWS.opened("a test"):
        assert route({}, "spawn").get_start_method() == "forkserver"
        assert route({}, "fork").get_start_method() == "fork"  # only what Patroni asks as spawn
    assert locate(site)[0] == "PostmasterProcess.start"


def test_a_postmaster_started_in_a_window_is_detached(installed: tuple[str, ...], tmp_path: Path) -> None:
    from patroni.postgresql.postmaster import pg_ctl_start

    context = fast._CALL_ROUTES["postmaster-start"]
    with waits.WINDOWS.opened("a test"):
        ctx = context({}, "spawn")
    parent, child = ctx.Pipe(False)
    marker = tmp_path / "started"
    helper = ctx.Process(target=pg_ctl_start, args=(child, ["sh", "-c", f"echo $$ > {marker}; sleep 30"], {}))
    helper.start()
    pid = parent.recv()
    helper.join()
    try:
        assert isinstance(pid, int)
        process = psutil.Process(pid)
        assert process.ppid() != os.getpid()  # not our child: the helper exited, init adopted it
        assert os.getsid(pid) != os.getsid(0)  # a session of its own, as Patroni's helper makes it
    finally:
        os.kill(pid, signal.SIGKILL)
