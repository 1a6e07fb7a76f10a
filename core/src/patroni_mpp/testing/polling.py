"""Polling with a generous deadline, for tests that wait for something to happen (never to time it)."""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE = 30.0
"""Seconds a test waits for something that should happen much sooner."""


def wait_for(predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is truthy.

    :param predicate: what to check; called at least once.
    :param timeout: seconds to keep trying.
    :param interval: seconds between two calls.
    :returns: True when ``predicate`` became truthy, False when ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
