"""The installed core's version, and the ``patroni-mpp`` requirements that plugins declare on it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

CORE_DISTRIBUTION = "patroni-mpp"
"""The distribution name of core, as plugins name it in their requirements."""

UNKNOWN_VERSION = "0+unknown"
"""The version reported for a package run from a source tree (no installed distribution)."""


def installed_version(distribution: str) -> str:
    """Version of the installed ``distribution``, :data:`UNKNOWN_VERSION` when it is not installed.

    For an engine's ``__version__``: a package imported from a source tree has no distribution.
    """
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


@functools.cache
def core_version() -> str:
    """Version of the installed ``patroni-mpp`` (:data:`UNKNOWN_VERSION` when run from a source tree).

    Cached; :func:`patroni_mpp.clear_caches` forgets it.
    """
    return installed_version(CORE_DISTRIBUTION)


def core_requirements(dist: metadata.Distribution | None) -> Iterator[Requirement]:
    """Yield the ``patroni-mpp`` requirements a distribution declares outside any extra, in order.

    Unparsable requirement lines are skipped.

    :param dist: the distribution (None: it declares nothing).
    :returns: an iterator of the requirements.
    """
    for line in (dist.requires or []) if dist is not None else []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        yield requirement


def core_mismatch(dist: metadata.Distribution | None) -> str | None:
    """Why the distribution's ``patroni-mpp`` requirement excludes this core, or None if it does not.

    :param dist: the plugin's distribution (None, or core from a source tree: nothing to compare).
    """
    if dist is None:
        return None
    version = core_version()
    if version == UNKNOWN_VERSION:
        return None
    for requirement in core_requirements(dist):
        if not requirement.specifier.contains(version, prereleases=True):
            return f"it requires {requirement}, but patroni-mpp {version} is installed"
    return None
