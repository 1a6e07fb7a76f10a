"""Replacing attributes of Patroni's modules and classes, once, recognisably and reversibly.

Every replacement carries a marker attribute pointing at the object it replaced, so that installing the bridge
twice is a no-op, a test can tell a patched binding from the original, and :func:`restore_all` can undo the
lot (tests only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

logger = logging.getLogger(__name__)

MARKER = "__patroni_mpp_bridge__"
"""Attribute set on every replacement; its value is the replaced object."""

_lock = threading.RLock()
_applied: list[tuple[Any, str, Any, bool]] = []


def is_patched(value: Any) -> bool:
    """True when ``value`` is a replacement installed by the bridge."""
    return hasattr(value, MARKER)


def original_of(value: Any) -> Any:
    """The object a replacement replaced (``value`` itself when it is not a replacement)."""
    while is_patched(value):
        value = getattr(value, MARKER)
    return value


def replace(owner: Any, name: str, make: Callable[[Any], object], *, static: bool = False) -> bool:
    """Replace ``owner.name`` with ``make(original)`` unless the bridge replaced that attribute already.

    :param owner: a module or a class.
    :param name: the attribute to replace; it must exist.
    :param make: builds the replacement from the original (for a class's static method: the plain function);
        the replacement must accept attributes (the marker is set on it).
    :param static: wrap the replacement in :func:`staticmethod` (the attribute is a static method of a class).
    :returns: True when the attribute was replaced now, False when it already was.
    :raises AttributeError: when ``owner`` has no attribute ``name`` (an unsupported Patroni layout).
    """
    with _lock:
        if any(done_owner is owner and done_name == name for done_owner, done_name, *_ in _applied):
            return False
        if isinstance(owner, type):
            if name not in owner.__dict__:
                raise AttributeError(f"{owner.__qualname__} has no attribute {name!r} of its own")
            current = owner.__dict__[name]
        else:
            current = getattr(owner, name)
        # A module may have imported, by name, a function the bridge already replaced elsewhere.
        inner = original_of(current.__func__ if isinstance(current, staticmethod) else current)
        replacement = make(inner)
        setattr(replacement, MARKER, inner)
        setattr(owner, name, staticmethod(cast(Callable[..., Any], replacement)) if static else replacement)
        _applied.append((owner, name, current, static))
        logger.debug("patroni-mpp bridge replaced %s.%s", getattr(owner, "__name__", owner), name)
        return True


def restore_all() -> None:
    """Put every replaced attribute back, newest first (for tests of the bridge itself)."""
    with _lock:
        while _applied:
            owner, name, original, _static = _applied.pop()
            setattr(owner, name, original_of(original))
