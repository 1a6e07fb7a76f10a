"""How a conformance check fails: with an :class:`AssertionError` naming what is wrong."""

from __future__ import annotations


def fail(message: str) -> AssertionError:
    """Build the :class:`AssertionError` that a check raises.

    Checks write ``raise fail(...)``, which keeps mypy's flow analysis.

    :param message: what is wrong.
    """
    return AssertionError(message)
