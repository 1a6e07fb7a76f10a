"""Checks of the threads a handler starts: daemons, and gone once it is stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from .failure import fail


def new_threads(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Threads alive now that were not in ``before``.

    :param before: a snapshot of :func:`threading.enumerate`.
    """
    return [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]


def blocking_threads(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Non-daemon threads alive now that were not in ``before``: the interpreter waits for them at exit.

    :param before: a snapshot of :func:`threading.enumerate`.
    """
    return [thread for thread in new_threads(before) if not thread.daemon]


def join_all(threads: Collection[threading.Thread], budget: float) -> list[threading.Thread]:
    """Wait up to ``budget`` seconds in all (not per thread) for ``threads`` to end.

    :param threads: the threads to wait for.
    :param budget: seconds to wait at most, whatever the number of threads.
    :returns: the threads still alive afterwards.
    """
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in threads if thread.is_alive()]


def check_threads_are_daemons(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Check that every thread started since ``before`` is a daemon thread (it must not block exit).

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :returns: the new threads.
    """
    started = new_threads(before)
    blocking = [thread.name for thread in started if not thread.daemon]
    if blocking:
        raise fail(f"the handler started non-daemon threads {blocking!r}; they would keep Patroni "
                   "from exiting: start them with daemon=True")  # fmt: skip
    return started


def check_no_thread_left(before: Collection[threading.Thread], join_timeout: float) -> None:
    """Check that every thread started since ``before`` ends once the handler was stopped.

    The threads get ``join_timeout`` seconds in all to end (a guard against hanging, not a
    measurement); however many samples leave threads running, each check costs at most that.

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :param join_timeout: seconds to wait for all of them together.
    """
    left = [thread.name for thread in join_all(new_threads(before), join_timeout)]
    if left:
        raise fail(
            f"threads still running after the handler was stopped: {left!r}; give the suite a "
            f"stop_handler() that stops them (waited {join_timeout:g} s for them in all)"
        )
