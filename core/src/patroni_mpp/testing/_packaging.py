"""Installed-distribution metadata written by hand, for tests that need engine plugins on the fly.

A ``*.dist-info`` directory with ``METADATA`` and ``entry_points.txt`` is all that
:mod:`importlib.metadata` needs to see a distribution and its entry points; put beside the plugin's
module in a directory on ``sys.path`` it is "installed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .._sections import ENTRY_POINT_GROUP


def write_dist_info(
    directory: Path, dist: str, version: str, requires: Iterable[str], entry_points: Mapping[str, str]
) -> Path:
    """Write the ``*.dist-info`` directory of a distribution that declares engine entry points.

    :param directory: where the ``*.dist-info`` directory goes (it must not exist yet).
    :param dist: distribution name.
    :param version: distribution version.
    :param requires: ``Requires-Dist`` lines.
    :param entry_points: entry point name -> value (a module name), in the ``patroni.mpp`` group.
    :returns: the ``*.dist-info`` directory.
    """
    info = directory / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    eps = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{eps}")
    return info
