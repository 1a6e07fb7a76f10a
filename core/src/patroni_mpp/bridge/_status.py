"""The engine status document served on ``GET /mpp``: the engine's identity plus what ``mpp_status`` says.

The document is built from memory only (no SQL, no DCS read), made JSON-able whatever the plugin answered,
and masked: no password the process knows of leaves in it.
"""

from __future__ import annotations

import datetime
import enum
import logging
import math
from collections.abc import Mapping
from typing import Any

from ._observe import ObservationError, Observed

logger = logging.getLogger(__name__)

STATUS_HOOK = "mpp_status"
"""The hook asked for the engine's own part."""

MAX_DEPTH = 16
"""Nesting deeper than this in an engine's status is cut (``"..."``)."""

MAX_ITEMS = 1000
"""At most this many entries of one list or mapping are kept; the rest is summarised."""


def jsonable(value: Any, mask: Any = str, depth: int = 0) -> Any:
    """A JSON-able copy of ``value``, every string passed through ``mask``.

    Mappings keep their entries (keys become strings), lists, tuples and sets become lists, ``datetime``,
    ``date`` and ``time`` become their ISO 8601 text, enums their value, non-finite floats and anything else
    their ``str()``. Deep nesting and very long containers are cut (:data:`MAX_DEPTH`, :data:`MAX_ITEMS`).

    :param value: what the engine answered.
    :param mask: applied to every string, keys included (the caller's secret masking).
    :param depth: the current nesting (callers leave it at 0).
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, datetime.date | datetime.time):
        return mask(value.isoformat())
    if isinstance(value, enum.Enum):
        return jsonable(value.value, mask, depth)
    if depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {mask(str(k)): jsonable(v, mask, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["..."] = f"{len(items) - MAX_ITEMS} more entries"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        kept = [jsonable(v, mask, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            kept.append(f"... {len(seq) - MAX_ITEMS} more items")
        return kept
    return mask(str(value))


def build_status(observed: Observed) -> dict[str, Any]:
    """The ``GET /mpp`` document of one node.

    Keys: ``engine`` (section), ``type``, ``distribution``, ``version``, ``core_version``, ``group``,
    ``role`` (``coordinator``, ``worker``, ``disabled``), ``scope`` and ``member`` when known, then
    ``status`` (the engine's mapping, when its ``mpp_status`` answered one) or ``status_error`` (when the
    hook failed or answered something other than a mapping).

    :param observed: the node's engine.
    :returns: a JSON-able dict with every known secret masked.
    """
    document = observed.identity()
    if observed.scope is not None:
        document["scope"] = observed.scope
    if observed.member is not None:
        document["member"] = observed.member
    try:
        answer = observed.call(STATUS_HOOK)
    except ObservationError as exc:
        logger.warning("MPP engine %r could not give its status: %s", observed.plugin.name, exc)
        document["status_error"] = str(exc)
        answer = None
    if answer is not None:
        if isinstance(answer, Mapping):
            document["status"] = answer
        else:
            document["status_error"] = f"hook {STATUS_HOOK} answered {type(answer).__name__}, not a mapping"
    masked = jsonable(document, observed.mask)
    assert isinstance(masked, dict)
    return masked
