"""Soak (issue part 6): events and reconciliations from several threads against a real server for a
bounded time (``--soak-seconds`` / ``$PATRONI_MPP_SOAK_SECONDS``, 120 s in CI).

Worker groups switch their primary over and over (``before_demote``, ``before_promote``,
``after_promote``, the old primary rejoining), each from its own REST-like thread; one thread
reconciles as the HA loop does; one schedules cache rebuilds and kills the metadata connection now and
then. The members are servers real Citus can reach (``CitusTestServer.node_address``), started
before the clock runs. Checked: no thread leak, no unbounded memory growth (tracemalloc snapshots
after the warm-up and at the end), ``pg_dist_node`` equal to the DCS view at the end, and every
error the engine logged comes from a killed connection (the statements themselves succeeded).
"""

from __future__ import annotations

import functools
import gc
import logging
import random
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest
from patroni_mpp.testing.polling import DEADLINE
from patroni_mpp_citus.testing.handler_formation import Formation, formation_of
from patroni_mpp_citus.testing.server import CitusTestServer

GROUPS = 4
MEMORY_GROWTH_LIMIT = 4 * 1024 * 1024
"""Bytes that traced memory may grow between the end of the warm-up and the end of the soak."""

CONNECTION_LOST = (
    "AdminShutdown",
    "OperationalError",
    "terminating connection",
    "server closed the connection",
    "the connection is closed",
    "the connection is lost",
)
"""Texts of the errors a killed metadata connection causes (the chaos thread kills it)."""


class UnexpectedErrors(logging.Handler):
    """Counts the engine's error records; keeps those that no killed connection explains."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.unexpected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record; keep its message unless it is about a lost connection."""
        self.count += 1
        message = record.getMessage()
        if not any(text in message for text in CONNECTION_LOST):
            self.unexpected.append(message[:500])


def switchover_loop(
    formation: Formation, groupid: int, stop: threading.Event, counts: dict[str, int]
) -> None:
    """Switch group ``groupid``'s primary between its two nodes until ``stop`` is set."""
    a, b = 2 * groupid - 1, 2 * groupid
    rng = random.Random(groupid)
    while not stop.is_set():
        formation.set_group(groupid, formation.node(a, role="primary"), formation.node(b))
        formation.event("before_demote", groupid, f"n{a}", timeout=5)
        formation.set_group(groupid, formation.node(b, role="replica"), formation.node(a, state="stopped"))
        formation.event("before_promote", groupid, f"n{b}", timeout=5)
        formation.set_group(groupid, formation.node(b, role="primary"), formation.node(a, state="stopped"))
        formation.event("after_promote", groupid, f"n{b}", timeout=5)
        formation.set_group(groupid, formation.node(b, role="primary"), formation.node(a))
        counts["switchovers"] += 1
        a, b = b, a
        stop.wait(rng.uniform(0, 0.05))


def reconcile_loop(formation: Formation, stop: threading.Event, counts: dict[str, int]) -> None:
    while not stop.is_set():
        formation.sync()
        counts["syncs"] += 1
        stop.wait(0.02)


def chaos_loop(formation: Formation, stop: threading.Event, counts: dict[str, int]) -> None:
    rng = random.Random(0)
    while not stop.wait(rng.uniform(0.5, 2.0)):
        if rng.random() < 0.5:
            formation.handler.schedule_cache_rebuild()
            counts["rebuilds"] += 1
        else:
            formation.terminate_backends()
            counts["kills"] += 1


def guarded(target: Callable[[], None], failures: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)

    return run


@pytest.mark.soak
def test_soak(citus: CitusTestServer, soak_seconds: float) -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    counts = {"switchovers": 0, "syncs": 0, "rebuilds": 0, "kills": 0}
    failures: list[BaseException] = []
    stop = threading.Event()
    errors = UnexpectedErrors()
    engine_logger = logging.getLogger("patroni_mpp_citus")
    engine_logger.addHandler(errors)
    tracemalloc.start(10)
    try:
        with formation_of(citus) as formation:
            for groupid in range(1, GROUPS + 1):
                formation.set_group(
                    groupid, formation.node(2 * groupid - 1, role="primary"), formation.node(2 * groupid)
                )
            assert formation.converge()
            workers = [
                threading.Thread(
                    target=guarded(functools.partial(switchover_loop, formation, g, stop, counts), failures),
                    name=f"soak-group-{g}",
                )
                for g in range(1, GROUPS + 1)
            ]
            workers.append(
                threading.Thread(
                    target=guarded(lambda: reconcile_loop(formation, stop, counts), failures),
                    name="soak-sync",
                )
            )
            workers.append(
                threading.Thread(
                    target=guarded(lambda: chaos_loop(formation, stop, counts), failures), name="soak-chaos"
                )
            )
            start = time.monotonic()
            for thread in workers:
                thread.start()
            try:
                warm_up = start + max(soak_seconds * 0.25, 1.0)
                while time.monotonic() < warm_up and not failures:
                    time.sleep(0.2)
                gc.collect()
                baseline = tracemalloc.take_snapshot()
                baseline_size = tracemalloc.get_traced_memory()[0]
                while time.monotonic() < start + soak_seconds and not failures:
                    time.sleep(0.2)
            finally:
                stop.set()
                for thread in workers:
                    thread.join(DEADLINE * 2)
            assert not [t.name for t in workers if t.is_alive()], "a soak thread did not stop"
            assert not failures, failures
            gc.collect()
            final = tracemalloc.take_snapshot()
            final_size = tracemalloc.get_traced_memory()[0]
            growth = final_size - baseline_size
            top = "\n".join(str(s) for s in final.compare_to(baseline, "lineno")[:10])
            assert growth < MEMORY_GROWTH_LIMIT, f"traced memory grew by {growth} bytes:\n{top}"
            # the end state: the DCS view, exactly
            assert formation.converge(), formation.rows() ^ formation.expected_rows()
            assert formation.open_transactions() == []
            assert counts["switchovers"] >= GROUPS, counts
            assert counts["syncs"] > 0
            assert errors.unexpected == [], errors.unexpected
    finally:
        tracemalloc.stop()
        engine_logger.removeHandler(errors)
    leaked = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    assert leaked == [], f"threads left running: {leaked}"
    print(f"soak: {soak_seconds:g} s, {counts}, {errors.count} engine errors (killed connections)")
