"""The ``patroni.mpp`` entry points of installed distributions, grouped by engine name and cached."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from packaging.utils import canonicalize_name

from ._errors import EngineConflictError, EngineSource
from ._sections import ENTRY_POINT_GROUP


def source_of(entry_point: metadata.EntryPoint) -> EngineSource:
    """The distribution (name, version) and value of an entry point.

    Reads the distribution's METADATA file: only on paths that need names (errors, listings, the
    first load of a plugin), never on the warm path of ``get_mpp``.
    """
    dist = entry_point.dist
    name = (dist.metadata["Name"] if dist is not None else None) or "<unknown distribution>"
    version = (dist.version if dist is not None else None) or "unknown"
    return EngineSource(name=name, version=version, value=entry_point.value)


def dist_key(entry_point: metadata.EntryPoint) -> str:
    """Identify the distribution of an entry point cheaply (its metadata directory, when known)."""
    # PathDistribution keeps its dist-info directory as ``_path``; reading it costs nothing, whereas
    # the distribution's name needs its METADATA file parsed.
    return str(getattr(entry_point.dist, "_path", "") or id(entry_point.dist))


@dataclass(frozen=True)
class EngineCandidate:
    """Every installed entry point claiming one engine name (normally exactly one).

    :ivar name: the engine (section) name.
    :ivar entry_points: the entry points claiming it, one per distribution.
    """

    name: str
    entry_points: tuple[metadata.EntryPoint, ...]

    @property
    def sources(self) -> list[EngineSource]:
        """The distributions behind the entry points."""
        return [source_of(ep) for ep in self.entry_points]

    def single(self) -> metadata.EntryPoint:
        """The one entry point for this name.

        :raises EngineConflictError: when two distributions claim the name.
        """
        if len(self.entry_points) > 1:
            raise EngineConflictError(self.name, self.sources)
        return self.entry_points[0]


def _group(entry_points: Iterable[metadata.EntryPoint]) -> dict[str, EngineCandidate]:
    """Group entry points by engine name, dropping repeats of one distribution (path listed twice)."""
    grouped: dict[str, list[metadata.EntryPoint]] = {}
    for ep in entry_points:
        grouped.setdefault(ep.name, []).append(ep)
    result = {}
    for name, eps in grouped.items():
        if len(eps) == 1:
            result[name] = EngineCandidate(name, (eps[0],))
            continue
        # Rare: only now are the distribution names worth reading from their METADATA files.
        unique: dict[tuple[str, str], metadata.EntryPoint] = {}
        for ep in eps:
            unique.setdefault((canonicalize_name(source_of(ep).name), ep.value), ep)
        result[name] = EngineCandidate(name, tuple(unique.values()))
    return result


_installed_lock = threading.Lock()
_installed_cache: tuple[tuple[str, ...], dict[str, EngineCandidate]] | None = None


def installed_engines(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> dict[str, EngineCandidate]:
    """The engines declared in the ``patroni.mpp`` group, by name; no plugin is imported.

    :param entry_points: the entry points to group instead of the installed ones (tests).
    :returns: engine name -> its candidate entry points. The scan of the installed distributions is
        cached until ``sys.path`` changes (or :func:`patroni_mpp.clear_caches`).
    """
    global _installed_cache  # noqa: PLW0603 - one process-wide cache of the metadata scan
    if entry_points is not None:
        return _group(entry_points)
    with _installed_lock:
        key = tuple(sys.path)
        if _installed_cache is None or _installed_cache[0] != key:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
            _installed_cache = (key, _group(eps))
        return _installed_cache[1]


def forget_installed_engines() -> None:
    """Drop the cached scan of the installed distributions."""
    global _installed_cache  # noqa: PLW0603
    with _installed_lock:
        _installed_cache = None
