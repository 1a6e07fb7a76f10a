"""Checks of a running handler against answers the engine's author expects.

The other handler checks only know what every engine must do (a bool, None, no exception); these
compare what this engine answers with what its author says it should, for sample slots and events
given on the conformance class (``slot_samples``, ``event_samples``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..._abstract import AbstractMPPHandler
from ..._protocols import ClusterLike
from .failure import fail

SlotSample = tuple[Mapping[str, Any], bool]
"""A slot dict and the answer ``ignore_replication_slot`` must give for it."""

EventSample = tuple[Any, type[BaseException] | None]
"""An event body and what ``handle_event`` must do with it: None (return None) or raise this."""


def check_slot_answers(handler: AbstractMPPHandler, samples: Sequence[SlotSample]) -> int:
    """Check that ``ignore_replication_slot`` gives the expected answer for each sample slot.

    :param handler: the handler.
    :param samples: ``(slot dict, expected bool)`` pairs.
    :returns: how many slots were checked.
    :raises AssertionError: naming the first slot answered otherwise (or a malformed entry).
    """
    for entry in samples:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], Mapping)):
            raise fail(f"slot_samples entry {entry!r} is not a (slot dict, expected bool) pair")
        slot, expected = entry
        if not isinstance(expected, bool):
            raise fail(f"slot_samples entry {entry!r}: the expected answer must be True or False")
        try:
            answer = handler.ignore_replication_slot(dict(slot))
        except Exception as exc:
            raise fail(
                f"ignore_replication_slot({dict(slot)!r}) raised {type(exc).__name__}: {exc}; "
                f"slot_samples expect {expected!r}"
            ) from exc
        if answer is not expected:
            meaning = (
                "the host would drop a slot the engine needs (True keeps it)"
                if expected
                else "the host would keep a slot nobody uses, and the WAL it holds back"
            )
            raise fail(
                f"ignore_replication_slot({dict(slot)!r}) answered {answer!r}, slot_samples expect "
                f"{expected!r}: {meaning}"
            )
    return len(samples)


def _expected_text(expected: type[BaseException] | None) -> str:
    return "return None" if expected is None else f"raise {expected.__name__}"


def check_event_answers(
    handler: AbstractMPPHandler, cluster: ClusterLike, samples: Sequence[EventSample]
) -> int:
    """Check that ``handle_event`` returns None or raises as expected for each sample event.

    :param handler: the handler.
    :param cluster: the DCS view to hand it.
    :param samples: ``(event, None or exception class)`` pairs.
    :returns: how many events were checked.
    :raises AssertionError: naming the first event handled otherwise (or a malformed entry).
    """
    for entry in samples:
        expected = entry[1] if isinstance(entry, tuple) and len(entry) == 2 else ()
        if not (expected is None or (isinstance(expected, type) and issubclass(expected, BaseException))):
            raise fail(f"event_samples entry {entry!r} is not an (event, None or exception class) pair")
        event = entry[0]
        call = f"handle_event(cluster, {event!r})"
        try:
            answer = handler.handle_event(cluster, copy.deepcopy(event))
        except Exception as exc:
            if expected is not None and isinstance(exc, expected):
                if not str(exc).strip():
                    raise fail(f"{call} raised {type(exc).__name__} without a message") from exc
                continue
            raise fail(
                f"{call} raised {type(exc).__name__}: {exc}; event_samples expect it to "
                f"{_expected_text(expected)} (the launcher answers a ValueError with HTTP 400; any "
                "other exception closes the worker's connection without an answer)"
            ) from exc
        if expected is not None:
            raise fail(
                f"{call} returned {answer!r}; event_samples expect it to raise {expected.__name__}: "
                "a malformed event the engine does not reject is answered 200 as if it were handled"
            )
        if answer is not None:
            raise fail(f"{call} returned {answer!r}; it must return None")
    return len(samples)
