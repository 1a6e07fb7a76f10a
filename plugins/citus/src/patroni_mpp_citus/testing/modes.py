"""Which Citus a test server runs: real (the extension) or the SQL emulation.

Environment variable ``PATRONI_MPP_TEST_CITUS`` = ``real``, ``emulated`` or ``auto`` (default: real
when ``citus`` is in ``pg_available_extensions``); :func:`resolve_mode` decides.
"""

from __future__ import annotations

import os
from typing import Literal

__all__ = ["MODE_ENV", "CitusUnavailableError", "Mode", "requested_mode", "resolve_mode"]

Mode = Literal["real", "emulated"]
MODE_ENV = "PATRONI_MPP_TEST_CITUS"
"""Environment variable choosing ``real``, ``emulated`` or ``auto`` (default)."""


class CitusUnavailableError(RuntimeError):
    """``PATRONI_MPP_TEST_CITUS=real`` was asked for, but the server lacks the citus extension."""


def requested_mode() -> str:
    """The value of ``PATRONI_MPP_TEST_CITUS`` (``auto`` when unset).

    :raises ValueError: for any other value than ``real``, ``emulated`` or ``auto``.
    """
    value = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if value not in ("real", "emulated", "auto"):
        raise ValueError(f"{MODE_ENV} must be real, emulated or auto, not {value!r}")
    return value


def resolve_mode(requested: str, available: bool) -> Mode:
    """Decide between real and emulated Citus.

    :param requested: ``real``, ``emulated`` or ``auto``.
    :param available: whether the server has the citus extension.
    :raises CitusUnavailableError: when ``real`` is requested but not available.
    """
    if requested == "emulated":
        return "emulated"
    if requested == "real" and not available:
        raise CitusUnavailableError(
            f"{MODE_ENV}=real but the citus extension is not in pg_available_extensions of "
            "this PostgreSQL installation; install Citus or use emulated/auto"
        )
    return "real" if available else "emulated"
