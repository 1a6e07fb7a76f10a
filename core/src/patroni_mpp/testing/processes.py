"""The processes the toolkit starts: the OS user they run as, the directories they own, stopping by pid.

PostgreSQL refuses to run as root, so when we are root every Patroni node runs as the servers' OS user
(:func:`~patroni_mpp.testing.environment.server_user`, ``postgres`` unless ``PATRONI_MPP_PG_USER``
says otherwise; ``Popen(user=...)``: the pid we hold is Patroni's own) in a directory that user owns.
Processes are stopped by their own pid, never by process group or name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patroni_mpp.testing.environment import getenv, give_to_server_user, server_user

TMP_ENV = "PATRONI_MPP_TMP"
"""Parent directory of :func:`make_base_dir`'s directories (default ``/tmp``)."""


class LocalClusterError(RuntimeError):
    """Something started by the toolkit did not come up, or the machine lacks a required part."""


def node_ids() -> tuple[int, int] | None:
    """``(uid, gid)`` of the servers' OS user when we are root, else None (children run as ourselves)."""
    entry = server_user()
    return None if entry is None else (entry.pw_uid, entry.pw_gid)


def popen_user_kwargs() -> dict[str, Any]:
    """``Popen`` arguments that run a child as the node user when we are root."""
    ids = node_ids()
    if ids is None:
        return {}
    return {"user": ids[0], "group": ids[1], "extra_groups": []}


def make_base_dir(prefix: str = "pmpp-") -> Path:
    """A fresh directory under ``$PATRONI_MPP_TMP`` (default ``/tmp``) that the node user owns."""
    parent = getenv(TMP_ENV, "/tmp")  # noqa: S108 - must be reachable by postgres
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    give_to_server_user(base)
    base.chmod(0o755)
    return base


def check_interpreter(python: str, modules: Sequence[str] = ("patroni", "patroni_mpp")) -> None:
    """Make sure the node user can run ``python`` and import ``modules`` (Patroni and patroni-mpp) with it.

    :raises LocalClusterError: with the reason, typically a venv whose interpreter lives under /root.
    """
    try:
        proc = subprocess.run(
            [python, "-c", f"import {', '.join(modules)}"],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            **popen_user_kwargs(),
        )
    except OSError as exc:
        proc_error = str(exc)
    else:
        if proc.returncode == 0:
            return
        proc_error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unknown error"
    entry = server_user()
    who = "this user" if entry is None else f"the '{entry.pw_name}' user"
    raise LocalClusterError(
        f"{who} cannot run {python} with {', '.join(modules)} ({proc_error}); build the venv from "
        "/usr/bin/python3 in a directory that user can read"
    )


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for process ``pid`` to exit; True when it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)
