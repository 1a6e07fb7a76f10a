"""Patroni's MPP lookup, answered by this project's entry-point discovery.

Patroni builds its engine descriptor through ``patroni.postgresql.mpp.get_mpp`` (the DCS factory looks the
name up in that module at call time) and ``patronictl`` through a binding of the same function imported into
``patroni.ctl``. Both are replaced by :func:`routed_get_mpp`, which delegates to :func:`patroni_mpp.get_mpp`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from .._abstract import AbstractMPP
from .._discovery import configured_section, get_mpp, iter_mpp_classes
from .._errors import MPPError
from .._section_scan import config_keys

logger = logging.getLogger(__name__)

HOST_ONLY_KEYS = frozenset({"patronictl"})
"""Keys Patroni itself adds to a configuration before building a DCS; never MPP sections."""


class _HostConfigView(Mapping[str, Any]):
    """The configuration as discovery should see it: without the keys Patroni adds for its own use.

    Works over a plain dict and over Patroni's ``Config`` object (which offers ``copy()``, ``in`` and
    ``[...]`` on the effective configuration) without copying the values.
    """

    def __init__(self, config: Any) -> None:
        self._config = config
        self._keys = [key for key in config_keys(config) if key not in HOST_ONLY_KEYS]

    def __getitem__(self, key: str) -> Any:
        if key in HOST_ONLY_KEYS:
            raise KeyError(key)
        return self._config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def host_view(config: Any) -> Mapping[str, Any]:
    """A read-only view of a Patroni configuration (dict or ``Config``) without Patroni's internal keys."""
    return _HostConfigView(config)


def routed_get_mpp(config: Any) -> AbstractMPP:
    """Replacement of Patroni's ``get_mpp``: the engine the configuration names, from the plugins.

    Unlike Patroni's lookup, a configured engine that is missing or has an invalid section raises (never a
    quiet fall-back to a non-MPP cluster).

    :param config: Patroni's configuration object or a plain dict.
    :returns: the engine descriptor (the Null engine when no MPP section is configured).
    :raises MPPError: see :func:`patroni_mpp.get_mpp`.
    """
    return get_mpp(host_view(config))


def routed_iter_mpp_classes(config: Any = None) -> Iterator[tuple[str, type[AbstractMPP]]]:
    """Replacement of Patroni's ``iter_mpp_classes``: ``(section, engine class)`` from the plugins.

    :param config: the configuration whose sections select the engines, or None for every installed engine.
    """
    yield from iter_mpp_classes(None if config is None else host_view(config))


def engine_section(config: Any) -> str | None:
    """The configured MPP section of ``config``, or None when there is none or it cannot be told.

    Problems (two engine sections, say) are left for :func:`routed_get_mpp` to report; here they only mean
    "no section to treat specially".
    """
    try:
        return configured_section(host_view(config))
    except (MPPError, TypeError) as exc:
        logger.debug("Cannot tell the MPP section of the configuration: %s", exc)
        return None
