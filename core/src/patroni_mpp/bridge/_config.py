"""Configuration handling: every engine section gets what Patroni gives its ``citus`` section.

Patroni 4.x treats one section name specially (host contract, section 9): only ``citus`` survives a type
pre-filter, sets the ``quorum`` default of ``bootstrap.dcs.synchronous_mode``, is copied into the
``postgresql`` section, has ``PATRONI_CITUS_GROUP`` parsed as an integer, is emitted by the configuration
generator and is checked by ``--validate-config``. The replacements here do the same for the configured
engine's section, whatever its name, with the engine's own config model as the judge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from copy import deepcopy
from typing import Any

from .._discovery import configured_section, load_engine
from .._entry_points import installed_engines
from .._environment import env_var_name, section_env_prefix
from .._errors import EngineConfigError, MPPError
from .._sections import NULL_ENGINE
from ._lookup import engine_section

logger = logging.getLogger(__name__)

CITUS = "citus"
"""The one section Patroni itself knows."""

QUORUM = "quorum"
"""Default ``synchronous_mode`` written to ``bootstrap.dcs`` when an engine section is configured."""


def _validated(section: str, value: Any) -> Any:
    """The section as the engine's model normalises it, or ``value`` unchanged when it is not valid.

    An invalid section is kept as it is, never dropped: building the engine from it then fails with the
    engine's own message instead of quietly producing a cluster without MPP.
    """
    try:
        return load_engine(section).validate(value)
    except MPPError as exc:
        logger.debug("MPP section %r kept unvalidated: %s", section, exc)
        return deepcopy(value)


def wrap_effective_configuration(original: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """Build the replacement of ``Config._build_effective_configuration``.

    The engine section is taken out of the local configuration before Patroni merges it (so its ``citus``
    pre-filter never drops it), then put back validated, with the ``quorum`` default and the copy in the
    ``postgresql`` section that Patroni gives ``citus``.
    """

    def build_effective_configuration(
        self: Any, dynamic_configuration: dict[str, Any], local_configuration: dict[str, Any]
    ) -> dict[str, Any]:
        section = engine_section(local_configuration)
        if section is None:
            return original(self, dynamic_configuration, local_configuration)
        value = _validated(section, local_configuration[section])
        local = {key: item for key, item in local_configuration.items() if key != section}
        config = original(self, dynamic_configuration, local)
        config[section] = value
        bootstrap = config.setdefault("bootstrap", {})
        if isinstance(bootstrap, dict):
            dcs = bootstrap.setdefault("dcs", {})
            if isinstance(dcs, dict):
                dcs.setdefault("synchronous_mode", QUORUM)
        postgresql = config.get("postgresql")
        if isinstance(postgresql, dict):
            postgresql[section] = deepcopy(value)
        return config

    return build_effective_configuration


def _parse_group(value: str) -> int | None:
    from patroni.utils import parse_int

    parsed = parse_int(value)
    return parsed if isinstance(parsed, int) else None


def _engine_keys(name: str) -> tuple[str, ...]:
    """The keys of engine ``name``'s config model (none when it has no model or cannot be loaded)."""
    try:
        keys = load_engine(name).section_keys
    except MPPError as exc:
        logger.debug("Not reading PATRONI_%s_* keys: %s", name.upper(), exc)
        return ()
    return keys or ()


def _take_section_keys(ret: dict[str, Any], name: str) -> None:
    """Move every ``PATRONI_<SECTION>_<KEY>`` of engine ``name``'s model keys into its section.

    Keys Patroni read itself (``group``, ``database``) are left as they are; the variables taken are
    removed from the environment, as Patroni removes those it reads. Values stay strings (an empty one
    too): the engine's model converts them, or reports them naming the key.
    """
    prefix = section_env_prefix(name)
    if not any(variable.startswith(prefix) for variable in os.environ):
        return  # nothing to take: and an engine that is not configured is never imported for it
    for key in _engine_keys(name):
        variable = env_var_name(name, key)
        if variable not in os.environ:
            continue
        value = os.environ.pop(variable)
        section = ret.get(name)
        if not isinstance(section, dict):
            section = ret[name] = {}
        section.setdefault(key, value)


def wrap_environment_configuration(original: Callable[[], dict[str, Any]]) -> Callable[[], Any]:
    """Build the replacement of ``Config._build_environment_configuration`` (a static method).

    Patroni reads only ``PATRONI_<SECTION>_GROUP`` and ``PATRONI_<SECTION>_DATABASE`` of an engine
    section (parsing the group as an integer for ``citus`` alone). Here, for every installed engine:
    ``PATRONI_<SECTION>_GROUP`` is parsed as an integer, an unparseable value ignored the same way,
    and every other key of the engine's config model is taken from ``PATRONI_<SECTION>_<KEY>`` (for
    example ``PATRONI_CITUS_DATABASES``), as ``patroni-mpp check`` reads them.
    """

    def build_environment_configuration() -> dict[str, Any]:
        ret = original()
        for name in installed_engines():
            if name == NULL_ENGINE:
                continue
            _take_section_keys(ret, name)
            if name == CITUS or name not in ret:
                continue
            section = ret[name]
            if not isinstance(section, dict) or not isinstance(section.get("group"), str):
                continue
            group = _parse_group(section["group"])
            if group is None:
                logger.warning("Ignoring PATRONI_%s_GROUP: not an integer", name.upper())
                del section["group"]
            else:
                section["group"] = group
        return ret

    return build_environment_configuration


def wrap_format_config_section(original: Callable[..., Iterator[str]]) -> Callable[..., Iterator[str]]:
    """Build the replacement of the config generator's ``_format_config_section``.

    The generator writes a fixed list of sections, ``citus`` among them; installed engines' sections are
    written right after where ``citus`` goes.
    """

    def format_config_section(self: Any, section_name: str) -> Iterator[str]:
        yield from original(self, section_name)
        if section_name != CITUS:
            return
        config = getattr(self, "config", {})
        for name in sorted(installed_engines()):
            if name not in (CITUS, NULL_ENGINE) and isinstance(config, Mapping) and name in config:
                yield from original(self, name)

    return format_config_section


def engine_config_errors(config: Any) -> tuple[str | None, list[str]]:
    """Check the engine section of a local configuration with the engine's config model.

    :param config: the local configuration (a dict).
    :returns: the engine section (None when there is none) and one line per problem, each naming the key.
    """
    if not isinstance(config, Mapping):
        return None, []
    try:
        section = configured_section(config)
    except MPPError as exc:
        return None, [str(exc)]
    if section is None:
        return None, []
    try:
        load_engine(section).validate(config[section])
    except EngineConfigError as exc:
        return section, [
            f"{section}.{p.location}: {p.message}" if p.location else f"{section}: {p.message}"
            for p in exc.problems
        ]
    except MPPError as exc:
        return section, [str(exc)]
    return section, []


class EngineAwareSchema:
    """Replacement of Patroni's ``validator.schema`` used by ``patroni --validate-config``.

    Patroni's schema checks everything but the engine section (whose only built-in rules are for ``citus``);
    the engine's config model checks that section, and its problems are reported like Patroni's own.
    """

    def __init__(self, patroni_schema: Callable[[Any], list[str]]) -> None:
        """Wrap Patroni's schema.

        :param patroni_schema: the ``patroni.validator.schema`` object.
        """
        self.patroni_schema = patroni_schema

    def __call__(self, data: Any) -> list[str]:
        """Validate a local configuration.

        :param data: the configuration as loaded from the file and the environment.
        :returns: every problem found, Patroni's first.
        """
        section, engine_errors = engine_config_errors(data)
        host_part = data
        if section is not None and isinstance(data, Mapping):
            host_part = {key: value for key, value in data.items() if key != section}
        return list(self.patroni_schema(host_part)) + engine_errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self.patroni_schema, name)
