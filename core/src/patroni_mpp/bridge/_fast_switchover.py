"""Fast planned switchover: bounded waits on conditions instead of Patroni's fixed sleeps and 1 s polls.

Opt-in (``patroni-mpp run --fast-switchover``). During a planned switchover Patroni sleeps and polls at fixed
intervals; most of the time clients wait is spent there. Each :class:`Patch` below replaces one such wait
with a wait on the condition the sleep stands for, never longer than the original. The patches act only
inside a *planned switchover window* of this process:

* on the old primary, for the whole ``Ha.demote('graceful')`` call (Patroni demotes gracefully only for a
  requested switchover or failover): the shutdown, the release of the leader key, and the restart as a
  replica of the new leader;
* on the new primary, for the ``Postgresql.promote`` started by an HA cycle that found the leader key free
  and a switchover or failover request in the DCS.

Outside a window (failover after a crash, restarts, bootstrap) every call goes to Patroni unchanged.
:func:`install_fast_switchover` first finds every replaced call in the installed Patroni's source and checks
its surroundings (:mod:`._call_sites`); if one has changed, nothing is patched and the launcher refuses the
mode with the patch's name and what changed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._call_sites import CallSite, CallSiteError, RoutedModule, RoutedPollingLoop, SiteKey, locate
from ._errors import BridgeError
from ._patching import replace

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
"""Seconds between two checks of a condition in a window (Patroni: 1 s, or a fixed sleep)."""

STOP_POLL_INTERVAL = 0.1
"""``STOP_POLLING_INTERVAL`` of ``patroni.postgresql`` in a window (Patroni: 1 s). Patroni counts the stop
timeout in steps of this interval, so it stays coarser than :data:`POLL_INTERVAL` to keep that count close to
wall time (each step also runs ``pg_controldata``)."""


class FastSwitchoverError(BridgeError):
    """A fast switchover patch does not apply to the installed Patroni; nothing was patched."""

    def __init__(self, version: str, patch: str, cause: str) -> None:
        self.patch = patch
        super().__init__(
            f"--fast-switchover cannot be used with Patroni {version}: patch {patch!r} does not apply "
            f"({cause}); run without it, and Patroni behaves as it does on its own"
        )


@dataclass(frozen=True)
class Patch:
    """One documented change of the fast switchover mode."""

    name: str
    """Short name, used in logs and errors."""
    replaces: str
    """What Patroni does there."""
    instead: str
    """What the mode does instead."""
    bound: str
    """The longest the new wait can take."""
    sites: tuple[CallSite, ...]
    """The calls it answers differently (each checked at install)."""


_HA = "patroni.ha"
_PG = "patroni.postgresql"
_POSTMASTER = "patroni.postgresql.postmaster"

PATCHES: tuple[Patch, ...] = (
    Patch(
        "stop-poll",
        "polls the stopping postmaster, and pg_controldata for the shutdown checkpoint, every 1 s "
        "(STOP_POLLING_INTERVAL)",
        f"polls every {STOP_POLL_INTERVAL} s",
        "Patroni's own: the stop timeout is still counted in polling steps",
        (
            CallSite(_PG, "Postgresql._do_stop", "time.sleep(STOP_POLLING_INTERVAL)", ("controldata()",)),
            CallSite(
                _PG,
                "Postgresql._wait_for_connection_close",
                "time.sleep(STOP_POLLING_INTERVAL)",
                ("SELECT 1",),
            ),
        ),
    ),
    Patch(
        "postmaster-exit",
        "waits for the stopped postmaster's pid to disappear, and counts the postmaster as running while it "
        "exists; Patroni starts the postmaster detached (as pg_ctl does), so after it exits that lasts until "
        "init reaps it (1.3 to 1.75 s measured on this project's CI machines)",
        f"checks every {POLL_INTERVAL} s, and an exited (zombie) postmaster counts as stopped",
        "Patroni's own stop timeout",
        (CallSite(_PG, "Postgresql._do_stop", "postmaster.wait(timeout=stop_timeout)", ("on_shutdown(",)),),
    ),
    Patch(
        "checkpoint-received",
        "sleeps 1 s after the shutdown checkpoint, to give replicas time to receive it, before it checks "
        "whether a failover candidate has",
        f"asks the failover candidates' REST APIs every {POLL_INTERVAL} s for their WAL position and goes on "
        "as soon as one that may be promoted has received the checkpoint; Patroni's own check follows",
        "the original 1 s",
        (
            CallSite(
                _HA,
                "Ha.demote.on_shutdown",
                "time.sleep(1)",
                ("self.is_failover_possible(cluster_lsn=checkpoint_location)",),
            ),
        ),
    ),
    Patch(
        "follow-new-leader",
        "sleeps 2 s after releasing the leader key, to give somebody time to take it, before it reads the "
        "DCS and follows the new leader",
        f"reads the DCS every {POLL_INTERVAL} s and goes on as soon as another member holds the leader key",
        "the original 2 s",
        (CallSite(_HA, "Ha.demote", "time.sleep(2)", ("mode_control['release']", "release_leader_key")),),
    ),
    Patch(
        "startup-poll",
        "polls a starting postmaster for open ports and for the end of startup every 1 s",
        f"polls every {POLL_INTERVAL} s",
        "Patroni's own start timeout",
        (
            CallSite(_PG, "Postgresql.wait_for_port_open", "polling_loop(timeout)", ("self.pg_isready()",)),
            CallSite(
                _PG, "Postgresql.wait_for_startup", "time.sleep(1)", ("self.check_startup_state_changed()",)
            ),
        ),
    ),
    Patch(
        "postmaster-start",
        "starts the postmaster through a helper process that it spawns as a fresh Python interpreter, so "
        "that the postmaster does not stay its child (0.72 s per start, measured idle on this project's CI "
        "machines)",
        "forks the helper from a fork server started with the launcher (before Patroni's threads, with "
        "Patroni's helper module imported); the helper, the postmaster's command line and environment, and "
        "its detaching are Patroni's own",
        "no wait",
        (
            CallSite(
                _POSTMASTER,
                "PostmasterProcess.start",
                "multiprocessing.get_context('spawn')",
                ("pg_ctl_start",),
            ),
        ),
    ),
    Patch(
        "promote-poll",
        "polls pg_controldata every 1 s for the end of the promotion; when it sees it, the promotion task "
        "ends and wakes the HA loop, whose member update sends after_promote",
        f"polls every {POLL_INTERVAL} s, so after_promote is sent as soon as the promotion has completed",
        "Patroni's own promotion wait (loop_wait)",
        (CallSite(_PG, "Postgresql._wait_promote", "polling_loop(wait_seconds)", ("'in production'",)),),
    ),
)
"""Every change the mode makes, in the order a switchover meets them."""


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

_statuses = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="patroni-mpp-fast")


def _has_checkpoint(ha: Any, lsn: int, deadline: float) -> bool:
    """True when a failover candidate that may be promoted has received WAL up to ``lsn``."""
    futures = [_statuses.submit(ha.fetch_node_status, member) for member in ha.get_failover_candidates(False)]
    try:
        for future in concurrent.futures.as_completed(futures, timeout=max(deadline - time.monotonic(), 0)):
            status = future.result()
            if not status.failover_limitation() and status.wal_position >= lsn:
                return True
    except concurrent.futures.TimeoutError:
        pass
    return False


def _running_unless_exited(process: Any) -> bool:
    """``PostmasterProcess.is_running`` in a window: an exited process (a zombie) does not run."""
    import psutil

    try:
        return bool(psutil.Process.is_running(process)) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_exited(process: Any, timeout: float | None = None) -> None:
    """``PostmasterProcess.wait`` in a window: the process counts as gone once it has exited (a zombie)."""
    import psutil

    started = time.monotonic()
    while _running_unless_exited(process):
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


def _route_checkpoint_received(frame_locals: Mapping[str, Any], seconds: float) -> None:
    if not WINDOWS.active:
        time.sleep(seconds)
        return
    ha, lsn = frame_locals["self"], frame_locals["checkpoint_location"]
    _bounded_wait(
        lambda deadline: _has_checkpoint(ha, lsn, deadline),
        seconds,
        "a candidate has the shutdown checkpoint",
    )


def _route_follow_new_leader(frame_locals: Mapping[str, Any], seconds: float) -> None:
    if not WINDOWS.active:
        time.sleep(seconds)
        return
    ha = frame_locals["self"]
    me = ha.state_handler.name

    def another_leader(_deadline: float) -> bool:
        leader = ha.dcs.get_cluster().leader
        return leader is not None and leader.name != me

    _bounded_wait(another_leader, seconds, "another member holds the leader key")


def _route_short_sleep(_frame_locals: Mapping[str, Any], seconds: float) -> None:
    time.sleep(min(POLL_INTERVAL, seconds) if WINDOWS.active else seconds)


_fork_server: Any = None


def _start_fork_server() -> None:
    """Start this process's fork server now, before Patroni starts its threads.

    It imports Patroni's start-up helper once, so that a start in a window forks a ready interpreter.
    """
    global _fork_server  # noqa: PLW0603 - one per process
    if _fork_server is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([_POSTMASTER])
        multiprocessing.forkserver.ensure_running()
        _fork_server = context


def _route_fork_server(_frame_locals: Mapping[str, Any], method: str | None = None) -> Any:
    if WINDOWS.active and method == "spawn" and _fork_server is not None:
        return _fork_server
    return multiprocessing.get_context(method)


def _route_short_interval() -> float | None:
    return POLL_INTERVAL if WINDOWS.active else None


def _wrap_demote(original: Callable[..., Any]) -> Callable[..., Any]:
    def demote(self: Any, mode: str) -> Any:
        if mode != "graceful":
            return original(self, mode)
        with WINDOWS.opened("demoting for a planned switchover"):
            return original(self, mode)

    return demote


def _wrap_process_unhealthy_cluster(original: Callable[..., Any]) -> Callable[..., Any]:
    # The HA loop's branch that takes a free leader key and promotes; it clears the switchover request from
    # the DCS before it starts the promotion, so the request is noted on entry.
    def process_unhealthy_cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = getattr(self, "cluster", None)
        WINDOWS.promotion_planned = bool(cluster is not None and cluster.failover)
        return original(self, *args, **kwargs)

    return process_unhealthy_cluster


def _wrap_promote(original: Callable[..., Any]) -> Callable[..., Any]:
    def promote(self: Any, *args: Any, **kwargs: Any) -> Any:
        planned, WINDOWS.promotion_planned = WINDOWS.promotion_planned, False
        if not planned:
            return original(self, *args, **kwargs)
        with WINDOWS.opened("promoting for a planned switchover"):
            return original(self, *args, **kwargs)

    return promote


_CALL_ROUTES: dict[str, Callable[..., Any]] = {
    "checkpoint-received": _route_checkpoint_received,
    "follow-new-leader": _route_follow_new_leader,
    "startup-poll": _route_short_sleep,
    "postmaster-start": _route_fork_server,
}

_ROUTED_NAMES = (
    # module, the module-level name its routed calls go through, the function called on it
    (_HA, "time", "sleep"),
    (_PG, "time", "sleep"),
    (_POSTMASTER, "multiprocessing", "get_context"),
)

_NEEDED = (
    ("planned switchover window", _HA, "Ha.demote"),
    ("planned switchover window", _HA, "Ha.process_unhealthy_cluster"),
    ("planned switchover window", _PG, "Postgresql.promote"),
    ("checkpoint-received", _HA, "Ha.fetch_node_status"),
    ("checkpoint-received", _HA, "Ha.get_failover_candidates"),
    ("checkpoint-received", _HA, "_MemberStatus.failover_limitation"),
    ("stop-poll", _PG, "STOP_POLLING_INTERVAL"),
    ("postmaster-exit", "patroni.postgresql.postmaster", "PostmasterProcess.wait"),
)
"""Names the patches use besides their call sites: (patch, module, attribute path)."""

_lock = threading.Lock()
_installed = False


def _has(module: str, path: str) -> bool:
    value: Any = importlib.import_module(module)
    for part in path.split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def _located(version: str) -> dict[str, dict[SiteKey, CallSite]]:
    """Every patch's call sites in the installed Patroni, or the error naming the first that moved."""
    located: dict[str, dict[SiteKey, CallSite]] = {}
    for patch in PATCHES:
        try:
            located[patch.name] = {locate(site): site for site in patch.sites}
        except CallSiteError as exc:
            raise FastSwitchoverError(version, patch.name, str(exc)) from exc
    return located


def install_fast_switchover(version: str) -> tuple[str, ...]:
    """Install every patch of :data:`PATCHES` into the imported Patroni, or none; idempotent.

    :param version: the Patroni version (from the bridge's :func:`~patroni_mpp.bridge.install`), for messages.
    :returns: the names of the patches in force.
    :raises FastSwitchoverError: a replaced call is missing or its code has changed; nothing was changed.
    """
    global _installed  # noqa: PLW0603 - one Patroni per process
    with _lock:
        if _installed:
            return tuple(patch.name for patch in PATCHES)
        import patroni.ha as host_ha
        import patroni.postgresql as host_postgresql

        located = _located(version)
        for needed_by, module, name in _NEEDED:
            if not _has(module, name):
                raise FastSwitchoverError(version, needed_by, f"{module}.{name} is missing")
        from patroni.postgresql.postmaster import PostmasterProcess

        for name in ("wait", "is_running"):
            if name in PostmasterProcess.__dict__:
                raise FastSwitchoverError(
                    version, "postmaster-exit", f"PostmasterProcess defines {name}() itself"
                )
        routes: dict[str, dict[SiteKey, Any]] = {module: {} for module, _name, _function in _ROUTED_NAMES}
        intervals: dict[SiteKey, Any] = {}
        for patch in PATCHES:
            for key, site in located[patch.name].items():
                if site.call.startswith("polling_loop("):
                    intervals[key] = _route_short_interval
                elif patch.name in _CALL_ROUTES:
                    routes[site.module][key] = _CALL_ROUTES[patch.name]
        _start_fork_server()
        WINDOWS.set_while_open(host_postgresql, "STOP_POLLING_INTERVAL", STOP_POLL_INTERVAL)
        WINDOWS.set_while_open(PostmasterProcess, "wait", _wait_exited)
        WINDOWS.set_while_open(PostmasterProcess, "is_running", _running_unless_exited)
        for module, name, function in _ROUTED_NAMES:
            replace(importlib.import_module(module), name, _routed_module(function, routes[module]))
        replace(host_postgresql, "polling_loop", lambda real: RoutedPollingLoop(real, intervals))
        replace(host_ha.Ha, "demote", _wrap_demote)
        replace(host_ha.Ha, "process_unhealthy_cluster", _wrap_process_unhealthy_cluster)
        replace(host_postgresql.Postgresql, "promote", _wrap_promote)
        _installed = True
        names = tuple(patch.name for patch in PATCHES)
        logger.info("Fast planned switchover is on (patches: %s)", ", ".join(names))
        return names


def _routed_module(function: str, routes: dict[SiteKey, Any]) -> Callable[[Any], RoutedModule]:
    def make(real: Any) -> RoutedModule:
        return RoutedModule(real, function, routes)

    return make


def forget_fast_switchover() -> None:
    """Forget the installation after the bridge's ``uninstall()`` restored Patroni (tests only)."""
    global _installed  # noqa: PLW0603
    with _lock:
        WINDOWS.forget()
        _installed = False
