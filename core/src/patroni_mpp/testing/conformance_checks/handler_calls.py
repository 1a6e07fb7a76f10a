"""Checks of the handler's methods the host calls: events, GUCs, replication slots, bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from ..._abstract import AbstractMPPHandler
from ..._protocols import ClusterLike
from .failure import fail
from .samples import CaseInsensitiveParameters, parameter_samples, sample_events, sample_slots
from .time_limits import DEFAULT_CALL_TIME_LIMIT, call_within

GUC_VALUE_TYPES = (str, int, float, bool)
"""The types a GUC value may have in the dict the host writes to ``postgresql.conf``."""


def check_handler_calls(
    handler: AbstractMPPHandler, cluster: ClusterLike, *, time_limit: float = DEFAULT_CALL_TIME_LIMIT
) -> None:
    """Call ``sync_meta_data``, ``handle_event``, ``schedule_cache_rebuild`` and ``on_demote``.

    Each must return None; ``sync_meta_data`` within ``time_limit`` (Patroni's HA loop waits for
    it). Exceptions raised by the engine propagate, except a ``ValueError`` rejecting the event
    type that the host never sends.

    :param handler: the handler.
    :param cluster: the DCS view to hand it.
    :param time_limit: seconds ``sync_meta_data`` may take.
    """

    def sync() -> Any:
        return call_within("sync_meta_data(cluster)", lambda: handler.sync_meta_data(cluster), time_limit)

    calls: list[tuple[str, Callable[[], Any]]] = [("sync_meta_data(cluster)", sync)]
    for event in sample_events(handler):
        calls.append(
            (f"handle_event(cluster, {event!r})", lambda e=event: handler.handle_event(cluster, e))  # type: ignore[misc]
        )
    calls += [
        ("sync_meta_data(cluster)", sync),
        ("schedule_cache_rebuild()", handler.schedule_cache_rebuild),
        ("on_demote()", handler.on_demote),
    ]
    for text, call in calls:
        try:
            answer = call()
        except ValueError:
            # Rejecting an event type the host does not send, with a ValueError, is allowed: the
            # host answers it as a bad request.
            if "unknown_event" not in text:
                raise
            continue
        if answer is not None:
            raise fail(f"{text} returned {answer!r}; it must return None")


def preload_entries(value: Any) -> list[str]:
    """The libraries of a ``shared_preload_libraries`` value, without blanks and double quotes.

    :param value: the GUC value (None or empty: no library).
    """
    if value is None:
        return []
    return [part.strip().strip('"') for part in str(value).split(",") if part.strip().strip('"')]


def _snapshot(parameters: Any) -> dict[str, Any]:
    if isinstance(parameters, CaseInsensitiveParameters):
        return parameters.lowered()
    return dict(parameters)


def check_adjust_postgres_gucs(
    handler: AbstractMPPHandler, *, time_limit: float = DEFAULT_CALL_TIME_LIMIT
) -> None:
    """Check that ``adjust_postgres_gucs`` is idempotent and keeps every preloaded library.

    Runs over plain dicts and case-insensitive mappings with several ``shared_preload_libraries``
    values: adjusting twice must equal adjusting once, no library present before may disappear, and
    every value must stay a GUC value (str, int, float or bool). Each call within ``time_limit``.

    :param handler: the handler.
    :param time_limit: seconds each call may take.
    """

    def adjust(text: str, parameters: Any) -> Any:
        what = f"adjust_postgres_gucs({text})"
        return call_within(what, lambda: handler.adjust_postgres_gucs(parameters), time_limit)

    for text, parameters in parameter_samples():
        before = preload_entries(parameters.get("shared_preload_libraries"))
        once = parameters.copy()
        answer = adjust(text, once)
        if answer is not None:
            raise fail(f"adjust_postgres_gucs({text}) returned {answer!r}; it changes the dict in place")
        for key, value in once.items():
            if not isinstance(value, GUC_VALUE_TYPES):
                raise fail(f"adjust_postgres_gucs set {key} to {value!r}, which is not a GUC value")
        twice = once.copy()
        adjust(text, twice)
        if _snapshot(twice) != _snapshot(once):
            raise fail(
                f"adjust_postgres_gucs is not idempotent ({text}): once gave {_snapshot(once)!r}, "
                f"twice gave {_snapshot(twice)!r}; the host computes the parameters again on "
                "every reload"
            )
        after = preload_entries(once.get("shared_preload_libraries"))
        dropped = [library for library in before if library not in after]
        if dropped:
            raise fail(
                f"adjust_postgres_gucs dropped {dropped!r} from shared_preload_libraries ({text}): "
                f"{parameters.get('shared_preload_libraries')!r} became "
                f"{once.get('shared_preload_libraries')!r}"
            )


def check_ignore_replication_slot(
    handler: AbstractMPPHandler, databases: Iterable[str], *, time_limit: float = DEFAULT_CALL_TIME_LIMIT
) -> None:
    """Check that ``ignore_replication_slot`` returns a bool for every sample slot and never raises.

    :param handler: the handler.
    :param databases: database names for the logical slot samples.
    :param time_limit: seconds each call may take (Patroni's HA loop waits for it).
    """
    for slot in sample_slots(databases):
        what = f"ignore_replication_slot({slot!r})"
        try:
            call = partial(handler.ignore_replication_slot, dict(slot))
            answer: object = call_within(what, call, time_limit)
        except AssertionError:
            raise
        except Exception as exc:
            raise fail(
                f"ignore_replication_slot({slot!r}) raised {type(exc).__name__}: {exc}; the host "
                "may pass any subset of the slot keys (the name is often missing)"
            ) from exc
        if not isinstance(answer, bool):
            raise fail(f"ignore_replication_slot({slot!r}) returned {answer!r}, not a bool")


ExpectedError = type[BaseException] | tuple[type[BaseException], ...]
"""An exception class, or a tuple of them, that a call is expected to raise."""


def check_bootstrap(
    handler: AbstractMPPHandler, expected_error: ExpectedError | None
) -> BaseException | None:
    """Run ``bootstrap()`` once, expecting None or the given error (with a message).

    :param handler: a handler built for a freshly initialised server.
    :param expected_error: the error bootstrap must raise on this server, or None for success.
    :returns: the expected error raised, if any.
    """
    if expected_error is None:
        answer = handler.bootstrap()
        if answer is not None:
            raise fail(f"bootstrap() returned {answer!r}; it must return None")
        return None
    try:
        handler.bootstrap()
    except expected_error as exc:
        if not str(exc).strip():
            raise fail(f"bootstrap() raised {type(exc).__name__} without a message") from exc
        return exc
    raise fail(f"bootstrap() was expected to raise {expected_error!r} on this server")
