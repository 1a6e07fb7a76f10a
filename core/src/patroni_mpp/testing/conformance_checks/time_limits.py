"""Time limits on the handler methods that must not block, enforced without waiting out a hang.

Patroni calls ``sync_meta_data``, ``adjust_postgres_gucs`` and ``ignore_replication_slot`` on its
main thread (the HA loop, the configuration handler): while one of them runs, nothing else of
Patroni does. The kit runs each call on a daemon thread of its own and waits at most the limit; a
call still running then is abandoned (Python cannot stop it; a daemon thread does not keep the
process alive) and the check fails with the figures.

The limits are generous for a loaded 2-core CI machine; a conformance class raises them with its
``call_time_limit`` and ``import_time_limit`` attributes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .failure import fail

__all__ = ["DEFAULT_CALL_TIME_LIMIT", "DEFAULT_IMPORT_TIME_LIMIT", "CallThread", "call_within"]

DEFAULT_CALL_TIME_LIMIT = 1.0
"""Seconds one call of a method that must not block may take (``EngineConformance.call_time_limit``)."""

DEFAULT_IMPORT_TIME_LIMIT = 2.5
"""Seconds loading the engine in a new interpreter may take, once core is imported
(``EngineConformance.import_time_limit``)."""


class CallThread(threading.Thread):
    """The daemon thread one limited call runs on; threads it starts inherit ``daemon=False``.

    Patroni calls these methods from its main thread, so a thread the engine starts there without
    ``daemon=True`` is not a daemon and keeps Patroni from exiting. Python gives a new thread its
    creator's ``daemon`` flag: once started, this thread reports ``daemon`` False to the threads it
    creates, so that the kit sees such a thread as Patroni would get it (``threading`` reads the
    flag of the thread itself while starting it, before :meth:`run`, and there it is still True).
    """

    _as_main = False

    @property
    def daemon(self) -> bool:
        """True until started; then False, what a thread started from here inherits."""
        return False if self._as_main else bool(self._daemonic)  # type: ignore[attr-defined]

    @daemon.setter
    def daemon(self, value: bool) -> None:
        threading.Thread.daemon.fset(self, value)  # type: ignore[attr-defined]

    def run(self) -> None:
        """Run the call; from now on ``daemon`` reads False (the start-up already saw True)."""
        self._as_main = True
        super().run()


def call_within(what: str, func: Callable[[], Any], limit: float) -> Any:
    """Run ``func`` on a daemon thread and wait at most ``limit`` seconds for it.

    :param what: the call as the author reads it (``sync_meta_data(cluster)``).
    :param func: the call.
    :param limit: seconds it may take.
    :returns: what it returned.
    :raises AssertionError: when it was still running at the limit (it is abandoned) or returned
        after it, with both figures.
    :raises BaseException: what ``func`` raised, unchanged.
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(func())
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    thread = CallThread(target=run, name=f"conformance call {what}"[:80], daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    thread._as_main = False  # an abandoned call shows as the daemon it is
    if thread.is_alive():
        raise fail(
            f"{what} was still running after {elapsed:.2f} s, over the limit of {limit:g} s (the "
            "kit stopped waiting for it): Patroni calls it on its main thread, which waits for it; "
            "hand slow work to a thread of your own. A limit too tight for your machine: raise "
            "call_time_limit on the conformance class"
        )
    if failure:
        raise failure[0]
    if elapsed > limit:
        raise fail(f"{what} took {elapsed:.2f} s, over the limit of {limit:g} s (call_time_limit)")
    return outcome[0]
