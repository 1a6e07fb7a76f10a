"""``patronictl`` with engine plugins: the descriptor lookup, DCS creation per group and ``--group`` defaults.

Patroni's ``patronictl`` hard-codes the ``citus`` section when ``--group`` is given (and forces the database
``postgres``), and reads the default of ``--group`` for ``pause``, ``resume``, ``edit-config``,
``show-config`` and ``history`` from ``citus.group``. The replacements use the configured engine's section
instead, whatever its name; with no engine configured, ``--group`` still means a Citus group, as in Patroni.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .._abstract import AbstractMPP
from .._errors import MPPError
from ._lookup import engine_section, routed_get_mpp
from ._patching import replace

logger = logging.getLogger(__name__)

DEFAULT_GROUP_SECTION = "citus"
"""The section ``--group`` selects when the configuration names no engine (Patroni's behaviour)."""

DEFAULT_GROUP_DATABASE = "postgres"
"""Database of the ``citus`` section Patroni makes up for ``--group`` when no engine is configured."""


def _ctl() -> Any:
    import patroni.ctl

    return patroni.ctl


def ctl_get_mpp(config: Any) -> AbstractMPP:
    """Replacement of ``patroni.ctl.get_mpp``: the routed lookup, with errors as patronictl errors.

    :param config: the configuration patronictl loaded.
    :raises patroni.ctl.PatroniCtlException: when the configured engine cannot be built.
    """
    try:
        return routed_get_mpp(config)
    except MPPError as exc:
        raise _ctl().PatroniCtlException(str(exc)) from exc


def group_default() -> int | None:
    """Default of the ``--group`` options that default to the configured group: the engine's ``group``."""
    config = _ctl()._get_configuration()
    section = engine_section(config)
    value = config.get(section) if section is not None else None
    group = value.get("group") if isinstance(value, dict) else None
    return group if isinstance(group, int) and not isinstance(group, bool) else None


def _own_group_default(_original: Any) -> Any:
    """A function of its own for each option (the bridge marks every replacement it installs)."""

    def default() -> int | None:
        return group_default()

    return default


def set_group_defaults(ctl_group: Any) -> int:
    """Point every ``--group`` option with a computed default at :func:`group_default`.

    :param ctl_group: patronictl's click group.
    :returns: how many options were changed now (0 when they already were).
    """
    changed = 0
    for command in getattr(ctl_group, "commands", {}).values():
        for param in getattr(command, "params", []):
            if getattr(param, "name", None) == "group" and callable(param.default):
                changed += replace(param, "default", _own_group_default)
    return changed


def _group_section(config: dict[str, Any], group: int) -> tuple[str, dict[str, Any]]:
    """The section and its value that make a DCS for ``group``: the configured engine's, group replaced."""
    section = engine_section(config)
    if section is None:
        return DEFAULT_GROUP_SECTION, {"group": group, "database": DEFAULT_GROUP_DATABASE}
    value = config.get(section)
    return section, {**(value if isinstance(value, dict) else {}), "group": group}


_dcs_lock = threading.Lock()
_dcs_cache: dict[tuple[str, int | None], Any] = {}


def ctl_get_dcs(scope: str, group: int | None) -> Any:
    """Replacement of ``patroni.ctl.get_dcs(scope, group)``: one DCS object per cluster and group.

    With ``group`` given, the DCS is built from a copy of the configuration whose engine section has that
    group; without it, on an MPP cluster, the DCS reads the whole formation (the coordinator's view). The
    shared configuration gets ``scope``, ``patronictl`` and a default ``name`` as in Patroni, but its engine
    section is never rewritten.

    :param scope: the cluster name.
    :param group: the group to address, or None.
    :returns: Patroni's DCS object.
    :raises patroni.ctl.PatroniCtlException: when the DCS or the engine cannot be built.
    """
    ctl = _ctl()
    key = (scope, group)
    with _dcs_lock:
        if key in _dcs_cache:
            return _dcs_cache[key]
    context = ctl.click.get_current_context()
    config = ctl._get_configuration()
    config.update({"scope": scope, "patronictl": True})
    config.setdefault("name", scope)
    dcs_config = dict(config)
    if group is not None:
        section, value = _group_section(config, group)
        dcs_config[section] = value
    try:
        dcs = ctl._get_dcs(dcs_config)
    except (ctl.PatroniException, MPPError) as exc:
        raise ctl.PatroniCtlException(str(exc)) from exc
    if group is None and context.obj["__mpp"].is_enabled():
        dcs.is_mpp_coordinator = lambda: True
    context.obj["__mpp"] = dcs.mpp
    with _dcs_lock:
        _dcs_cache[key] = dcs
    return dcs


def clear_dcs_cache() -> None:
    """Forget the DCS objects built so far (tests that run several patronictl invocations in one process)."""
    with _dcs_lock:
        _dcs_cache.clear()
