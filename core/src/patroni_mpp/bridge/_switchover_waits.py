"""The planned switchover windows of the fast switchover mode, and the waits that replace Patroni's.

A *window* is open on the old primary for the whole ``Ha.demote('graceful')`` call, and on the new primary for
the promotion started by an HA cycle that found a switchover request in the DCS (see
:mod:`._fast_switchover`). Every route here answers a routed call with a bounded wait on a condition while a
window is open, and exactly as Patroni would outside one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

_POSTMASTER = "patroni.postgresql.postmaster"

POLL_INTERVAL = 0.05
"""Seconds between two checks of a condition in a window (Patroni: 1 s, or a fixed sleep)."""

STOP_POLL_INTERVAL = 0.1
"""``STOP_POLLING_INTERVAL`` of ``patroni.postgresql`` in a window (Patroni: 1 s). Patroni counts the stop
timeout in steps of this interval, so it stays coarser than :data:`POLL_INTERVAL` to keep that count close to
wall time (each step also runs ``pg_controldata``)."""


_ABSENT = object()


class _Windows:
    """Planned switchover windows open in this process (nested or concurrent ones count).

    While one is open, the attributes given to :meth:`set_while_open` hold their window values; the last
    window to close puts back what was there before (or removes what was not).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._settings: list[tuple[Any, str, Any]] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self.promotion_planned = False
        """Set by the HA loop before it may start a promotion: True while the DCS holds a request."""

    def set_while_open(self, owner: Any, name: str, value: Any) -> None:
        """Give ``owner.name`` the value ``value`` while a window is open."""
        with self._lock:
            self._settings.append((owner, name, value))

    @property
    def active(self) -> bool:
        """True while a window is open."""
        return self._open > 0

    @contextlib.contextmanager
    def opened(self, why: str) -> Iterator[None]:
        """Open a window for the duration of the block."""
        with self._lock:
            self._open += 1
            if self._open == 1:
                self._saved = [
                    (owner, name, owner.__dict__.get(name, _ABSENT)) for owner, name, _ in self._settings
                ]
                for owner, name, value in self._settings:
                    setattr(owner, name, value)
        logger.info("Fast switchover: %s, waits are bounded polls until it ends", why)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    for owner, name, saved in reversed(self._saved):
                        if saved is _ABSENT:
                            delattr(owner, name)
                        else:
                            setattr(owner, name, saved)

    def forget(self) -> None:
        """Drop every setting (after the bridge's uninstall; tests only)."""
        with self._lock:
            self._settings.clear()


WINDOWS = _Windows()
"""The process's windows (one Patroni daemon per process)."""


@functools.cache
def _status_requests() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that ask the candidates' REST APIs (made at the first planned switchover)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="patroni-mpp-fast")


def _has_checkpoint(ha: Any, lsn: int, deadline: float) -> bool:
    """True when a failover candidate that may be promoted has received WAL up to ``lsn``.

    Every candidate is asked once per round, and the round waits for every answer (or the
    deadline): a candidate that fails to answer does not cut the round short for the others.
    """
    pool = _status_requests()
    futures = [pool.submit(ha.fetch_node_status, member) for member in ha.get_failover_candidates(False)]
    try:
        for future in concurrent.futures.as_completed(futures, timeout=max(deadline - time.monotonic(), 0)):
            try:
                status = future.result()
            except Exception as exc:  # one candidate's failure; the others may still answer
                logger.debug("Fast switchover: asking a candidate for its WAL position failed: %r", exc)
                continue
            if not status.failover_limitation() and status.wal_position >= lsn:
                return True
    except concurrent.futures.TimeoutError:
        pass
    return False


def running_unless_exited(process: Any) -> bool:
    """``PostmasterProcess.is_running`` in a window: an exited process (a zombie) does not run."""
    import psutil

    try:
        return bool(psutil.Process.is_running(process)) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_exited(process: Any, timeout: float | None = None) -> None:
    """``PostmasterProcess.wait`` in a window: the process counts as gone once it has exited (a zombie)."""
    import psutil

    started = time.monotonic()
    while running_unless_exited(process):
        if timeout is not None and time.monotonic() - started >= timeout:
            raise psutil.TimeoutExpired(timeout, process.pid)
        time.sleep(POLL_INTERVAL)


def _bounded_wait(condition: Callable[[float], bool], seconds: float, what: str) -> None:
    """Check ``condition(deadline)`` every :data:`POLL_INTERVAL` until it holds or ``seconds`` have passed."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        try:
            if condition(deadline):
                waited = time.monotonic() - started
                logger.info("Fast switchover: %s after %.3f s (Patroni waits %g s)", what, waited, seconds)
                return
        except Exception as exc:  # a failed check is a check that did not succeed
            logger.debug("Fast switchover: checking that %s failed: %r", what, exc)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.info(
                "Fast switchover: no sign that %s within %g s; going on as Patroni does", what, seconds
            )
            return
        time.sleep(min(POLL_INTERVAL, remaining))


def route_checkpoint_received(frame_locals: Mapping[str, Any], seconds: float) -> None:
    """``checkpoint-received``: in a window, wait (at most ``seconds``) for the checkpoint on a candidate."""
    if not WINDOWS.active:
        time.sleep(seconds)
        return
    ha, lsn = frame_locals["self"], frame_locals["checkpoint_location"]
    _bounded_wait(
        lambda deadline: _has_checkpoint(ha, lsn, deadline),
        seconds,
        "a candidate has the shutdown checkpoint",
    )


def route_follow_new_leader(frame_locals: Mapping[str, Any], seconds: float) -> None:
    """``follow-new-leader``: in a window, wait (at most ``seconds``) for another member to lead."""
    if not WINDOWS.active:
        time.sleep(seconds)
        return
    ha = frame_locals["self"]
    me = ha.state_handler.name

    def another_leader(_deadline: float) -> bool:
        leader = ha.dcs.get_cluster().leader
        return leader is not None and leader.name != me

    _bounded_wait(another_leader, seconds, "another member holds the leader key")


def route_short_sleep(_frame_locals: Mapping[str, Any], seconds: float) -> None:
    """``startup-poll``: in a window, sleep :data:`POLL_INTERVAL` instead of ``seconds``."""
    time.sleep(min(POLL_INTERVAL, seconds) if WINDOWS.active else seconds)


_fork_server: Any = None


def start_fork_server() -> None:
    """Start this process's fork server now, before Patroni starts its threads.

    It imports Patroni's start-up helper once, so that a start in a window forks a ready interpreter.
    """
    global _fork_server  # noqa: PLW0603 - one per process
    if _fork_server is None:
        import multiprocessing.forkserver  # only the fast mode starts one

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([_POSTMASTER])
        multiprocessing.forkserver.ensure_running()
        _fork_server = context


def route_fork_server(_frame_locals: Mapping[str, Any], method: str | None = None) -> Any:
    """``postmaster-start``: in a window, the fork server's context where Patroni asks for ``spawn``."""
    if WINDOWS.active and method == "spawn" and _fork_server is not None:
        return _fork_server
    return multiprocessing.get_context(method)


def route_short_interval() -> float | None:
    """``startup-poll``, ``promote-poll``: in a window, poll every :data:`POLL_INTERVAL`."""
    return POLL_INTERVAL if WINDOWS.active else None


def wrap_demote(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Ha.demote`` that opens a window around a graceful demotion."""

    def demote(self: Any, mode: str) -> Any:
        if mode != "graceful":
            return original(self, mode)
        with WINDOWS.opened("demoting for a planned switchover"):
            return original(self, mode)

    return demote


def wrap_process_unhealthy_cluster(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Ha.process_unhealthy_cluster`` that notes whether the DCS holds a switchover request."""

    # The HA loop's branch that takes a free leader key and promotes; it clears the switchover request from
    # the DCS before it starts the promotion, so the request is noted on entry.
    def process_unhealthy_cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = getattr(self, "cluster", None)
        WINDOWS.promotion_planned = bool(cluster is not None and cluster.failover)
        return original(self, *args, **kwargs)

    return process_unhealthy_cluster


def wrap_promote(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Postgresql.promote`` that opens a window when the promotion follows a switchover request."""

    def promote(self: Any, *args: Any, **kwargs: Any) -> Any:
        planned, WINDOWS.promotion_planned = WINDOWS.promotion_planned, False
        if not planned:
            return original(self, *args, **kwargs)
        with WINDOWS.opened("promoting for a planned switchover"):
            return original(self, *args, **kwargs)

    return promote
