"""The environment variables the project reads, all named ``PATRONI_MPP_*``; the old names are refused.

Every variable the test toolkit, the suites, the benchmarks and the demo read is read through
:func:`getenv`, which stops with a message naming the new variable when one of the old names of
:data:`RENAMED_VARIABLES` is still set (so that a forgotten setting is never silently ignored).
"""

from __future__ import annotations

import os

RENAMED_VARIABLES: dict[str, str] = {
    "PG_BIN": "PATRONI_MPP_PG_BINDIR",
    "ETCD_BIN": "PATRONI_MPP_ETCD_BIN",
    "PMPP_TMP": "PATRONI_MPP_TMP",
    "PMPP_E2E_PYTHON": "PATRONI_MPP_E2E_PYTHON",
    "PMPP_E2E_KEEP": "PATRONI_MPP_E2E_KEEP",
    "PMPP_BENCH_CYCLES": "PATRONI_MPP_BENCH_CYCLES",
}
"""Old name -> the ``PATRONI_MPP_*`` name that replaced it."""


class RenamedVariableError(RuntimeError):
    """An environment variable is set under a name the project no longer reads."""


def getenv(name: str, default: str | None = None) -> str | None:
    """The value of environment variable ``name`` (a ``PATRONI_MPP_*`` name), or ``default``.

    :raises RenamedVariableError: when an old name of ``name`` is set, naming the variable to set instead.
    """
    for old, new in RENAMED_VARIABLES.items():
        if new == name and old in os.environ:
            raise RenamedVariableError(f"the environment variable {old} is no longer read: set {new} instead")
    return os.environ.get(name, default)
