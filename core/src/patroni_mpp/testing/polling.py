"""Polling with a generous deadline, for code that waits for something to happen (never to time it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

DEADLINE = 30.0
"""Seconds a test waits for something that should happen much sooner."""

_T = TypeVar("_T")


class WaitTimeout(TimeoutError):  # noqa: N818 - reads as what happened, like TimeoutError
    """What :func:`wait_for` waited for did not happen within its timeout."""


def wait_for(
    probe: Callable[[], _T | None],
    timeout: float = DEADLINE,
    *,
    interval: float = 0.02,
    what: str = "the condition",
    fatal: tuple[type[Exception], ...] = (),
) -> _T:
    """Call ``probe`` until it returns a truthy value, and return that value.

    A falsy value (None, False, an empty container) means "not yet", and so does an exception raised by
    ``probe`` (the last one is chained to the timeout), unless it is one of ``fatal``: that one ends the
    wait at once (what is waited for can no longer happen, e.g. the process exited).

    :param probe: what to check; called at least once.
    :param timeout: seconds to keep trying.
    :param interval: seconds between two calls.
    :param what: what is waited for, for the timeout's message.
    :param fatal: exception types raised through at once.
    :raises WaitTimeout: when ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except fatal:
            raise
        except Exception as exc:
            last_error = exc
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}") from last_error
        time.sleep(interval)
