"""Which Patroni versions the bridge supports, and the check of the installed one."""

from __future__ import annotations

from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .._core_version import core_version
from ._errors import PatroniNotInstalledError, UnsupportedPatroniError

SUPPORTED_PATRONI_RANGE = ">=4.0,<4.2"
"""Patroni releases whose MPP lookup the bridge knows how to route: what the e2e matrix passes on.

The matrix (``noxfile.py``, ``E2E_PATRONI``) is the oldest and newest 4.0.x and the newest 4.1.x: 4.0.0,
4.0.11 and 4.1.5.
"""

SUPPORTED_PATRONI = SpecifierSet(SUPPORTED_PATRONI_RANGE)
""":data:`SUPPORTED_PATRONI_RANGE` as a specifier set."""


def installed_patroni_version() -> str:
    """Version of the Patroni importable here.

    :raises PatroniNotInstalledError: when Patroni is not installed.
    """
    try:
        return metadata.version("patroni")
    except metadata.PackageNotFoundError:
        pass
    try:
        from patroni.version import __version__
    except ImportError:
        raise PatroniNotInstalledError() from None
    return str(__version__)


def check_patroni_version(version: str | None = None) -> str:
    """Refuse a Patroni outside :data:`SUPPORTED_PATRONI`.

    :param version: the version to check; the installed Patroni's by default.
    :returns: the checked version.
    :raises PatroniNotInstalledError: when no version is given and Patroni is not installed.
    :raises UnsupportedPatroniError: when the version is outside the supported range (or unparseable).
    """
    checked = installed_patroni_version() if version is None else version
    try:
        parsed = Version(checked)
    except InvalidVersion:
        raise UnsupportedPatroniError(checked, SUPPORTED_PATRONI_RANGE, core_version()) from None
    if not SUPPORTED_PATRONI.contains(parsed, prereleases=True):
        raise UnsupportedPatroniError(checked, SUPPORTED_PATRONI_RANGE, core_version())
    return checked
