"""Checks of the threads a handler starts: daemons, and gone once it is stopped."""

from __future__ import annotations

import threading
from collections.abc import Collection

from .failure import fail


def new_threads(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Threads alive now that were not in ``before``.

    :param before: a snapshot of :func:`threading.enumerate`.
    """
    return [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]


def check_threads_are_daemons(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Check that every thread started since ``before`` is a daemon thread (it must not block exit).

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :returns: the new threads.
    """
    started = new_threads(before)
    blocking = [thread.name for thread in started if not thread.daemon]
    if blocking:
        raise fail(f"the handler started non-daemon threads {blocking!r}; they would keep Patroni "
                   "from exiting")  # fmt: skip
    return started


def check_no_thread_left(before: Collection[threading.Thread], join_timeout: float) -> None:
    """Check that every thread started since ``before`` ends once the handler was stopped.

    Each thread is joined for up to ``join_timeout`` seconds (a guard against hanging, not a
    measurement).

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :param join_timeout: seconds to wait for each thread.
    """
    for thread in new_threads(before):
        thread.join(join_timeout)
    left = [thread.name for thread in new_threads(before)]
    if left:
        raise fail(
            f"threads still running after the handler was stopped: {left!r}; give the suite a "
            "stop_handler() that stops them"
        )
