"""Checks of how a handler takes malformed events: a ``ValueError`` or nothing, never a crash."""

from __future__ import annotations

from functools import partial

from ..._abstract import AbstractMPPHandler
from ..._protocols import ClusterLike
from .failure import fail
from .samples import malformed_events
from .time_limits import DEFAULT_CALL_TIME_LIMIT, call_within

__all__ = ["check_malformed_events"]


def check_malformed_events(
    handler: AbstractMPPHandler, cluster: ClusterLike, time_limit: float = DEFAULT_CALL_TIME_LIMIT
) -> int:
    """Send ``handle_event`` the malformed bodies of :func:`~.samples.malformed_events`.

    Each may be rejected with a :class:`ValueError` (the launcher answers it with HTTP 400) or
    ignored (return None), within ``time_limit``; any other exception or answer fails the check.

    :param handler: the handler.
    :param cluster: the DCS view to hand it.
    :param time_limit: seconds each call may take.
    :returns: how many events it rejected with a ``ValueError``.
    """
    rejected = 0
    for description, event in malformed_events(handler):
        what = f"handle_event(cluster, {event!r})"
        try:
            answer = call_within(what, partial(handler.handle_event, cluster, event), time_limit)
        except ValueError:
            rejected += 1
            continue
        except AssertionError:
            raise
        except Exception as exc:
            raise fail(
                f"{what} raised {type(exc).__name__}: {exc} for a malformed event ({description}). "
                "The host hands handle_event the request body unvalidated, exactly as parsed from "
                "JSON: reject a malformed event with ValueError (the launcher answers 400 with its "
                "message) or ignore it; any other exception makes Patroni log a traceback and close "
                "the worker's connection without an answer"
            ) from exc
        if answer is not None:
            raise fail(f"{what} returned {answer!r} for a malformed event ({description}); return None")
    return rejected
