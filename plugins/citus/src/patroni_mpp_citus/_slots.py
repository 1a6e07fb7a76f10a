"""Replication slots Citus creates itself and the host must not drop."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SHARD_SLOT_RE", "is_citus_slot"]

SHARD_SLOT_RE = re.compile(r"^citus_shard_(move|split)_slot(_[1-9][0-9]*){2,3}$")
"""Names of the logical slots of shard moves and splits."""

_PLUGIN = {"move": "pgoutput", "split": "citus"}


def is_citus_slot(slot: Mapping[str, Any], database: str, is_primary: Callable[[], bool]) -> bool:
    """True when ``slot`` is a shard move/split slot of the Citus database on a primary.

    Never raises for an incomplete dict: a slot without a name (Patroni 4.1.5 does not pass it) is simply not
    kept. The primary check runs last, since it may query the server.

    :param slot: the slot's attributes (``name``, ``type``, ``database``, ``plugin``).
    :param database: the Citus database.
    :param is_primary: tells whether the local server is a primary.
    """
    name = slot.get("name")
    if slot.get("type") != "logical" or slot.get("database") != database or not isinstance(name, str):
        return False
    match = SHARD_SLOT_RE.match(name)
    if match is None or slot.get("plugin") != _PLUGIN[match.group(1)]:
        return False
    return bool(is_primary())
