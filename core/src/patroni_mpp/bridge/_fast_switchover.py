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

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._call_sites import CallSite, CallSiteError, RoutedModule, RoutedPollingLoop, SiteKey, locate
from ._errors import BridgeError
from ._patching import replace
from ._switchover_waits import (
    POLL_INTERVAL,
    STOP_POLL_INTERVAL,
    WINDOWS,
    route_checkpoint_received,
    route_follow_new_leader,
    route_fork_server,
    route_short_interval,
    route_short_sleep,
    running_unless_exited,
    start_fork_server,
    wait_exited,
    wrap_demote,
    wrap_process_unhealthy_cluster,
    wrap_promote,
)

logger = logging.getLogger(__name__)


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


_CALL_ROUTES: dict[str, Callable[..., Any]] = {
    "checkpoint-received": route_checkpoint_received,
    "follow-new-leader": route_follow_new_leader,
    "startup-poll": route_short_sleep,
    "postmaster-start": route_fork_server,
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
                    intervals[key] = route_short_interval
                elif patch.name in _CALL_ROUTES:
                    routes[site.module][key] = _CALL_ROUTES[patch.name]
        start_fork_server()
        WINDOWS.set_while_open(host_postgresql, "STOP_POLLING_INTERVAL", STOP_POLL_INTERVAL)
        WINDOWS.set_while_open(PostmasterProcess, "wait", wait_exited)
        WINDOWS.set_while_open(PostmasterProcess, "is_running", running_unless_exited)
        for module, name, function in _ROUTED_NAMES:
            replace(importlib.import_module(module), name, _routed_module(function, routes[module]))
        replace(host_postgresql, "polling_loop", lambda real: RoutedPollingLoop(real, intervals))
        replace(host_ha.Ha, "demote", wrap_demote)
        replace(host_ha.Ha, "process_unhealthy_cluster", wrap_process_unhealthy_cluster)
        replace(host_postgresql.Postgresql, "promote", wrap_promote)
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
