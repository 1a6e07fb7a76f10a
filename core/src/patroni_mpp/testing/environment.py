"""What the test toolkit needs from its environment: variables named ``PATRONI_MPP_*``, reachable directories.

Every variable the test toolkit, the suites, the benchmarks and the demo read is read through
:func:`getenv`, which stops with a message naming the new variable when one of the old names of
:data:`RENAMED_VARIABLES` is still set (so that a forgotten setting is never silently ignored).
A prerequisite that is missing raises :class:`PrerequisiteError`, whose message says the fix.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

RENAMED_VARIABLES: dict[str, str] = {
    "PG_BIN": "PATRONI_MPP_PG_BINDIR",
    "ETCD_BIN": "PATRONI_MPP_ETCD_BIN",
    "PMPP_TMP": "PATRONI_MPP_TMP",
    "PMPP_E2E_PYTHON": "PATRONI_MPP_E2E_PYTHON",
    "PMPP_E2E_KEEP": "PATRONI_MPP_E2E_KEEP",
    "PMPP_BENCH_CYCLES": "PATRONI_MPP_BENCH_CYCLES",
}
"""Old name -> the ``PATRONI_MPP_*`` name that replaced it."""

SERVER_USER_ENV = "PATRONI_MPP_PG_USER"
"""OS user the test servers run as when we are root (default ``postgres``)."""


class PrerequisiteError(RuntimeError):
    """Something the toolkit needs from its environment is missing or wrong; the message says the fix."""


class RenamedVariableError(PrerequisiteError):
    """An environment variable is set under a name the project no longer reads."""


def getenv(name: str, default: str | None = None) -> str | None:
    """The value of environment variable ``name`` (a ``PATRONI_MPP_*`` name), or ``default``.

    :raises RenamedVariableError: when an old name of ``name`` is set, naming the variable to set instead.
    """
    for old, new in RENAMED_VARIABLES.items():
        if new == name and old in os.environ:
            raise RenamedVariableError(f"the environment variable {old} is no longer read: set {new} instead")
    return os.environ.get(name, default)


def _has_acl(directory: Path) -> bool:
    try:
        return "system.posix_acl_access" in os.listxattr(directory)
    except (AttributeError, OSError):  # no xattr support: the mode bits are all there is
        return False


def unsearchable_directory(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first directory on the way to ``path`` (itself included) that a user may not enter.

    Reads the mode bits as the kernel does (owner, else group, else others); a directory with an
    access control list is taken as enterable, since its list may grant what the bits deny.

    :param path: an existing directory.
    :param uid: the user's id (0 enters everything).
    :param gids: the user's primary and supplementary group ids.
    :returns: the directory, or None when the user can reach ``path``.
    """
    if uid == 0:
        return None
    resolved = Path(os.path.realpath(path))
    for directory in [*reversed(resolved.parents), resolved]:
        info = directory.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit and not _has_acl(directory):
            return directory
    return None


def check_enterable(directory: Path, fix: str) -> None:
    """Check, when we are root, that the server user (:func:`server_user`) can enter ``directory``.

    :param directory: where the servers' directories go.
    :param fix: how to choose another directory, for the message.
    :raises PrerequisiteError: naming the directory on the way that it cannot enter, and the fix.
    """
    entry = server_user()
    if entry is None:
        return
    gids = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
    blocked = unsearchable_directory(directory, entry.pw_uid, gids)
    if blocked is not None:
        info = blocked.stat()
        way = f" on the way to {directory}" if blocked != Path(os.path.realpath(directory)) else ""
        raise PrerequisiteError(
            f"the {entry.pw_name!r} OS user, which runs the test servers as we are root, cannot enter "
            f"{blocked} (mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}){way}: run "
            f"chmod o+x {blocked}, or {fix}"
        )


def server_user() -> pwd.struct_passwd | None:
    """The OS user test servers run as: ``$PATRONI_MPP_PG_USER`` when we are root, else None (ourselves).

    :raises PrerequisiteError: when that user does not exist.
    """
    if os.geteuid() != 0:
        return None
    name = getenv(SERVER_USER_ENV, "postgres") or "postgres"
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PrerequisiteError(
            f"no OS user {name!r}: as root the test servers run as {SERVER_USER_ENV} (default postgres); "
            "create that user or set the variable"
        ) from None


def server_user_kwargs() -> dict[str, Any]:
    """``subprocess`` arguments that run a command as :func:`server_user` (none when not root).

    As ``runuser`` would: its groups, and ``HOME``, ``USER`` and ``LOGNAME`` of its own (libpq in the
    server reads ``~/.postgresql``, which must not be root's).
    """
    entry = server_user()
    if entry is None:
        return {}
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    env = {**os.environ, "HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups, "env": env}


def give_to_server_user(path: Path) -> None:
    """Make :func:`server_user` the owner of ``path`` (nothing when not root)."""
    entry = server_user()
    if entry is not None:
        os.chown(path, entry.pw_uid, entry.pw_gid)
