"""How the top-level keys of a configuration divide up: Patroni's, MPP sections, and unknown keys."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._entry_points import EngineCandidate
from ._sections import KNOWN_ENGINE_WHEELS, NULL_ENGINE, PATRONI_SECTIONS

logger = logging.getLogger(__name__)


def _raw_keys(config: Any) -> list[Any]:
    if isinstance(config, Mapping):
        return list(config)
    copy = getattr(config, "copy", None)
    if callable(copy):
        copied = copy()
        if isinstance(copied, Mapping):
            return list(copied)
    raise TypeError(f"configuration must be a mapping, not {type(config).__name__}")


def config_keys(config: Any) -> list[str]:
    """Top-level keys of a configuration: a Mapping, or a host object offering ``copy()`` to a dict.

    :param config: a dict, any Mapping, or Patroni's ``Config`` object.
    :raises TypeError: for anything else.
    """
    return [str(key) for key in _raw_keys(config)]


@dataclass(frozen=True)
class SectionScan:
    """How the top-level keys of a configuration divide up.

    :ivar engines: MPP sections, in configuration order: keys claimed by an installed engine, keys
        naming an engine this project publishes (installed or not), and an explicit ``null``.
    :ivar unknown: keys that neither Patroni nor any engine claims (a key that is not a string, such
        as YAML's bare ``null:``, is shown by its ``repr`` and a note).
    """

    engines: list[str]
    unknown: list[str]


def scan_sections(config: Any, engines: Mapping[str, EngineCandidate]) -> SectionScan:
    """Divide the top-level keys of ``config`` into MPP sections and unknown keys (logs nothing).

    :param config: the whole configuration (see :func:`config_keys`).
    :param engines: the installed engines by name.
    """
    sections: list[str] = []
    unknown: list[str] = []
    for key in _raw_keys(config):
        if not isinstance(key, str):
            unknown.append(f"{key!r} (not a string)")
        elif key in PATRONI_SECTIONS:
            continue  # Patroni's, even when a (broken) plugin claims the name
        elif key in engines or key in KNOWN_ENGINE_WHEELS:
            sections.append(key)
        else:
            unknown.append(key)
    return SectionScan(sections, unknown)


SUGGESTION_CUTOFF = 0.75
"""How close (difflib's ratio) a key must be to an installed engine's section to be suggested."""


def nearest_section(key: str, engines: Iterable[str]) -> str | None:
    """The installed engine section nearest to a key that nothing claims, if one is near.

    :param key: the unknown top-level key (or the section part of a ``PATRONI_*`` variable).
    :param engines: the installed engines' names (``null`` is never suggested).
    :returns: for example ``citus`` for ``citsu``; None when no name is near enough.
    """
    names = sorted(name for name in engines if name != NULL_ENGINE)
    near = difflib.get_close_matches(key.lower(), names, n=1, cutoff=SUGGESTION_CUTOFF)
    return near[0] if near else None


def unknown_section_warning(key: str, engines: Iterable[str]) -> str:
    """The warning about a top-level key that neither Patroni nor an installed engine claims.

    :param key: the key (as listed in :attr:`SectionScan.unknown`).
    :param engines: the installed engines' names, for the "did you mean" part.
    """
    text = f"section '{key}' is neither a Patroni setting nor claimed by an installed MPP engine"
    near = nearest_section(key, engines)
    return f"{text}; did you mean '{near}'? It is ignored" if near else f"{text}; it is ignored"


def engine_sections(config: Any, engines: Mapping[str, EngineCandidate]) -> list[str]:
    """The configuration's MPP sections (see :class:`SectionScan`).

    Also logs a warning for each top-level key that neither Patroni nor an installed engine claims.
    """
    scan = scan_sections(config, engines)
    claimed = PATRONI_SECTIONS & engines.keys()  # empty unless a plugin is broken
    for name in sorted(claimed & set(config_keys(config)) if claimed else ()):
        sources = ", ".join(str(source) for source in engines[name].sources)
        logger.warning(
            "MPP engine plugin %s claims %r, a Patroni configuration section; it is ignored",
            sources,
            name,
        )
    for key in scan.unknown:
        logger.warning("Configuration %s", unknown_section_warning(key, engines))
    return scan.engines
